-- bench/reads/reads.lua - wrk script: every request reads a random thread
-- (items.list) or a random user's threads (threads.list, READS_OP) with the
-- owner's identity (X-User-Id), as bench/reads/load.sql laid the data out.
local op = os.getenv("READS_OP") or "items.list"

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

function request()
  local k = math.random(0, 999)
  local body
  local user
  if op == "items.list" then
    user = tostring(1000 + k % 100)
    body = '{"type":"items.list","params":{"thread_id":"' .. (1000000 + k) .. '"}}'
  else
    user = tostring(1000 + k % 100)
    body = '{"type":"threads.list","params":{}}'
  end
  return wrk.format("POST", "/chatkit", {["Content-Type"] = "application/json", ["X-User-Id"] = user}, body)
end

function done(summary, latency, requests)
  io.write(string.format("RESULT rps=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f non2xx=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
