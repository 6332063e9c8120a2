"""test_shutdown.py - SIGTERM while streamed turns are running: the server
stops the turns (an error event with allow_retry ends each stream cleanly),
closes the connections and exits 0 within its drain time, without leaks
(the runner checks every server's exit: sanitizer reports, valgrind status).
Found by make test-asan: before, the workers gave up after the drain time
and left the turns and their connections behind."""

import re
import threading
import time

from lib import SLOW, check, user_input, wait_until
from test_agent_model import Fake, model_server


def test_sigterm_with_streams_in_flight(env):
    fake = Fake(env)
    fake.script([{"chunks": ["word "] * 60, "delay_ms": 250}] * 2)
    srv = model_server(env, fake, CHATKITD_SHUTDOWN_GRACE_SECONDS=1)
    results, users = {}, []

    def stream(http):
        c = env.client(http, base=srv.url)
        users.append(c.user)
        results[http] = c.post_chatkit({"type": "threads.create", "params": {"input": user_input("long answer")}},
                                       max_events=10 ** 9, timeout=60)

    threads = [threading.Thread(target=stream, args=(h,)) for h in ("1.1", "h2c")]
    for t in threads:
        t.start()
    wait_until(lambda: len(fake.chat_requests()) == 2, 10, "both turns to reach the model")
    time.sleep(0.5)
    started = time.monotonic()
    status = srv.stop()
    took = time.monotonic() - started
    for t in threads:
        t.join(30 * SLOW)
    check(status == 0, "exit status %s after SIGTERM" % status)
    check(took < 8 * SLOW, "the server took %.1f s to stop (grace 1 s, then at most 2 s)" % took)
    for http, resp in sorted(results.items()):
        check(resp.status == 200 and resp.curl_error is None, "%s: stream did not end cleanly: %r %s"
              % (http, resp, resp.curl_error))
        last = resp.events[-1] if resp.events else None
        check(last is not None and last["type"] == "error" and last["allow_retry"] is True,
              "%s: last event %r (want an error with allow_retry)" % (http, last))
    check(len(results) == 2, "streams: %r" % results)
    # the log names each stopped turn's user by its keyed hash, never the raw id
    with open(srv.log_path, encoding="utf-8", errors="replace") as f:
        log = f.read()
    stopped = re.findall(r"ending the turn for the shutdown.* user=([0-9a-f]{16})\b", log)
    check(len(set(stopped)) == 2, "one line per stopped turn with the hashed user: %r" % stopped)
    check(not any(u in log for u in users), "the log names a raw user id")
