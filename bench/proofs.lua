-- wrk: GET the URL with the DPoP-bound token TOKEN and, on each request, the next DPoP proof of
-- the file PROOFS (one per line, each with its own jti: a proof is accepted once), so that every
-- request costs the server a proof verification. When they run out it stops and leaves the file
-- PROOFS.done, for the caller to end wrk (SIGINT: wrk then prints its report).
local proofs = {}
for line in io.lines(os.getenv("PROOFS")) do proofs[#proofs + 1] = line end
local authorization = "DPoP " .. os.getenv("TOKEN")
local next_proof = 0
request = function()
  next_proof = next_proof + 1
  if next_proof == #proofs + 1 then
    io.open(os.getenv("PROOFS") .. ".done", "w"):close()
    wrk.thread:stop()
  end
  return wrk.format("GET", nil, { ["Authorization"] = authorization, ["DPoP"] = proofs[math.min(next_proof, #proofs)] })
end
