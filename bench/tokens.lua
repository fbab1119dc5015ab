-- wrk: GET the URL once with each bearer token of the file TOKENS (one per line), in order, so
-- that every request presents a token the server has not seen. When they run out it stops and
-- leaves the file TOKENS.done, for the caller to end wrk (SIGINT: wrk then prints its report).
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do tokens[#tokens + 1] = line end
local next_token = 0
request = function()
  next_token = next_token + 1
  if next_token == #tokens + 1 then
    io.open(os.getenv("TOKENS") .. ".done", "w"):close()
    wrk.thread:stop()
  end
  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. tokens[math.min(next_token, #tokens)] })
end
