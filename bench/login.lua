-- wrk: POST a login as fast as the server allows, as BENCH_LOGIN (default bench@example.com).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"' .. (os.getenv("BENCH_LOGIN") or "bench@example.com") .. '","password":"bench password 1"}'
