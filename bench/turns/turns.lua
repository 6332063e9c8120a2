-- bench/turns/turns.lua - wrk script: every request is one streamed turn
-- (TURNS_OP): threads.create (a new thread each time) or
-- threads.add_user_message to a random thread of bench/reads/load.sql, with
-- its owner's identity.  The server ends the SSE response when the turn is
-- done, so a request's latency is the whole turn.
local op = os.getenv("TURNS_OP") or "threads.create"

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

local input = '{"content":[{"type":"input_text","text":"bench:tokens=3,interval_ms=0,first_ms=0 hello"}],'
  .. '"attachments":[],"inference_options":{}}'

function request()
  local k = math.random(0, 999)
  local user = tostring(1000 + k % 100)
  local body
  if op == "threads.create" then
    body = '{"type":"threads.create","params":{"input":' .. input .. '}}'
  else
    body = '{"type":"threads.add_user_message","params":{"thread_id":"' .. (1000000 + k) .. '","input":' .. input .. '}}'
  end
  return wrk.format("POST", "/chatkit", {["Content-Type"] = "application/json", ["X-User-Id"] = user}, body)
end

function done(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_ms=%.2f p99_ms=%.2f non2xx=%d errors=%d requests=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests))
end
