-- bench/turns/turns.lua - wrk script: every request is one streamed turn
-- (TURNS_OP), as the owner of its thread:
--   threads.create                 a new thread each time;
--   threads.add_user_message       to a random thread of bench/reads/load.sql;
--   threads.retry_after_item       of message "-48" (a user message) of a random
--                                  thread of load.sql (what follows it is deleted);
--   threads.custom_action          an action without a sender item, to a random
--                                  thread of load.sql;
--   threads.add_client_tool_output to thread 2000000 + TURNS_BASE + n (the n-th
--                                  request of this run), each prepared by
--                                  bench/turns/run.sh with a pending client tool
--                                  call as its newest item (usable once).
-- The server ends the SSE response when the turn is done, so a request's
-- latency is the whole turn.
local op = os.getenv("TURNS_OP") or "threads.create"
local base = tonumber(os.getenv("TURNS_BASE") or "0")
local sent = 0

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

local input = '{"content":[{"type":"input_text","text":"bench:tokens=3,interval_ms=0,first_ms=0 hello"}],'
  .. '"attachments":[],"inference_options":{}}'

function request()
  local k = math.random(0, 999)
  local thread = tostring(1000000 + k)
  local user = tostring(1000 + k % 100)
  local body
  if op == "threads.create" then
    body = '{"type":"threads.create","params":{"input":' .. input .. '}}'
  elseif op == "threads.retry_after_item" then
    body = '{"type":"threads.retry_after_item","params":{"thread_id":"' .. thread .. '","item_id":"' .. thread .. '-48"}}'
  elseif op == "threads.custom_action" then
    body = '{"type":"threads.custom_action","params":{"thread_id":"' .. thread .. '","action":{"type":"bench.action","payload":{}}}}'
  elseif op == "threads.add_client_tool_output" then
    local n = base + sent
    sent = sent + 1
    user = tostring(1000 + n % 100)
    body = '{"type":"threads.add_client_tool_output","params":{"thread_id":"' .. (2000000 + n) .. '","result":{"ok":true}}}'
  else
    body = '{"type":"threads.add_user_message","params":{"thread_id":"' .. thread .. '","input":' .. input .. '}}'
  end
  return wrk.format("POST", "/chatkit", {["Content-Type"] = "application/json", ["X-User-Id"] = user}, body)
end

function done(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_ms=%.2f p99_ms=%.2f non2xx=%d errors=%d requests=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests))
end
