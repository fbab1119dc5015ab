-- wrk: refresh token rotation as clients do it: each response's new refresh token is what the
-- next request spends. Starts from the refresh tokens of the file TOKENS (one per line, at
-- least as many as connections).
local pool = {}
for line in io.lines(os.getenv("TOKENS")) do pool[#pool + 1] = line end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  local token = table.remove(pool)
  if token == nil then wrk.thread:stop() return wrk.format() end
  return wrk.format(nil, nil, nil, '{"refresh_token":"' .. token .. '"}')
end
response = function(status, headers, body)
  local token = body:match('"refresh_token":"([^"]+)"')
  if token then pool[#pool + 1] = token end
end
