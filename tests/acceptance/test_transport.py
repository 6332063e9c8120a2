"""test_transport.py - HTTP behaviour under the protocol: many requests
multiplexed on one HTTP/2 connection, keep-alive on HTTP/1.1, concurrent
streams, large responses, raw UTF-8 in responses (docs/protocol.md "SSE framing"), and a
not-implemented request type answered as a JSON error."""

import io
import json

import pycurl

from lib import SLOW, assert_error_body, check, user_input, validate, ts, user_item, USER_HEADER


_VERSIONS = {"1.1": pycurl.CURL_HTTP_VERSION_1_1, "h2c": pycurl.CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE,
             "h2-tls": pycurl.CURL_HTTP_VERSION_2TLS}


def _parallel(bodies_by_user, base, http, cafile=None):
    """POSTs every (user, body) to /chatkit at once through one CurlMulti;
    returns [(status, body bytes, connections opened)] in order.  Over
    "h2-tls" the transfers wait for and share one multiplexed connection.
    Over "h2c" and "1.1" every transfer gets its own connection: libcurl
    7.88.1 (Debian bookworm) fails any reuse of a prior-knowledge h2c
    connection with "Error in the HTTP2 framing layer" (curl issue #10634,
    fixed in 8.0), so h2c multiplexing cannot be tested with it."""
    multi = pycurl.CurlMulti()
    multi.setopt(pycurl.M_PIPELINING, pycurl.PIPE_MULTIPLEX)
    handles = []
    for user, body in bodies_by_user:
        c, out = pycurl.Curl(), io.BytesIO()
        c.setopt(pycurl.URL, base + "/chatkit")
        c.setopt(pycurl.HTTP_VERSION, _VERSIONS[http])
        if http == "h2-tls":
            c.setopt(pycurl.PIPEWAIT, 1)
            c.setopt(pycurl.CAINFO, cafile)
        else:
            c.setopt(pycurl.FRESH_CONNECT, 1)
            c.setopt(pycurl.FORBID_REUSE, 1)
        c.setopt(pycurl.POSTFIELDS, json.dumps(body))
        c.setopt(pycurl.HTTPHEADER, ["Content-Type: application/json", "%s: %s" % (USER_HEADER, user)])
        c.setopt(pycurl.WRITEDATA, out)
        c.setopt(pycurl.TIMEOUT_MS, 30000 * SLOW)
        multi.add_handle(c)
        handles.append((c, out))
    while True:
        ret, running = multi.perform()
        if ret != pycurl.E_CALL_MULTI_PERFORM and running == 0:
            break
        multi.select(1.0)
    _, _, failed = multi.info_read()
    check(not failed, "transfers failed: %r" % [(f[1], f[2]) for f in failed])
    results = []
    for c, out in handles:
        results.append((c.getinfo(pycurl.RESPONSE_CODE), out.getvalue(), c.getinfo(pycurl.NUM_CONNECTS)))
        multi.remove_handle(c)
        c.close()
    multi.close()
    return results


def test_h2_multiplexes_many_requests_on_one_connection(env):
    srv, cafile = env.tls_server()
    c = env.client("h2-tls", base=srv.url, cafile=cafile)
    env.insert_threads(c.user, [ts(i) for i in range(3)])
    results = _parallel([(c.user, {"type": "threads.list", "params": {"limit": 2}})] * 40, srv.url, "h2-tls", cafile)
    for status, body, _ in results:
        check(status == 200, "multiplexed request: HTTP %s %r" % (status, body[:200]))
        page = json.loads(body)
        validate("resp.threads.list", page)
        check(len(page["data"]) == 2 and page["has_more"] is True, "page %r" % page)
    connections = sum(n for _, _, n in results)
    check(connections == 1, "40 requests should share one HTTP/2 connection, used %d" % connections)


def test_concurrent_streams(env, http):
    users = [env.new_user() for _ in range(8)]
    bodies = [(u, {"type": "threads.create", "params": {"input": user_input("parallel %d" % i)}})
              for i, u in enumerate(users)]
    for (status, body, _), user in zip(_parallel(bodies, env.server, http), users):
        check(status == 200, "concurrent stream: HTTP %s %r" % (status, body[:200]))
        frames = body.decode().split("\n\n")
        check(frames[-1] == "", "stream must end with a blank line")
        events = [json.loads(f[len("data: "):]) for f in frames[:-1]]
        for e in events:
            validate("event." + e["type"], e)
        check([e["type"] for e in events[:3]] == ["thread.created", "thread.item.done", "stream_options"],
              "event order %r" % [e["type"] for e in events[:3]])
        tid = events[0]["thread"]["id"]
        got = env.client(http, user=user).call("threads.get_by_id", {"thread_id": tid})
        check(got["id"] == tid, "thread of a concurrent stream not stored")


def test_h1_keep_alive(env):
    c = env.client("1.1")
    curl = pycurl.Curl()
    connects = 0
    for _ in range(20):
        out = io.BytesIO()
        curl.setopt(pycurl.URL, env.server + "/chatkit")
        curl.setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_1_1)
        curl.setopt(pycurl.POSTFIELDS, '{"type":"threads.list","params":{}}')
        curl.setopt(pycurl.HTTPHEADER, ["Content-Type: application/json", "%s: %s" % (USER_HEADER, c.user)])
        curl.setopt(pycurl.WRITEDATA, out)
        curl.perform()
        check(curl.getinfo(pycurl.RESPONSE_CODE) == 200, "keep-alive request: %r" % out.getvalue()[:200])
        connects += curl.getinfo(pycurl.NUM_CONNECTS)
    curl.close()
    check(connects == 1, "20 sequential HTTP/1.1 requests should reuse one connection, used %d" % connects)


def test_large_response(env, http):
    c = env.client(http)
    tid = env.insert_thread(c.user)
    big = "ä" * 10000 + "\n\"quoted\" \\ / \u2028 end"
    env.insert_items(c.user, tid, [user_item("msg_%03d" % i, ts(i), big) for i in range(100)])
    resp = c.post_chatkit({"type": "items.list", "params": {"thread_id": tid, "limit": 100}})
    check(resp.status == 200 and len(resp.body) > 2000000, "a ~2 MB page: HTTP %s, %d bytes" % (resp.status, len(resp.body)))
    page = resp.json()
    check(len(page["data"]) == 100 and all(i["content"][0]["text"] == big for i in page["data"]),
          "large page content damaged")


def test_non_ascii_is_raw_utf8(env, http):
    c = env.client(http)
    tid = env.insert_thread(c.user)
    resp = c.post_chatkit({"type": "threads.update", "params": {"thread_id": tid, "title": "Zürich ☃"}})
    check(resp.status == 200, "rename: %r" % resp)
    check("Zürich ☃".encode() in resp.body, "non-ASCII must be written raw, not \\u-escaped: %r" % resp.body[:120])


def test_transcribe_without_model_is_json_error(env, http):
    c = env.client(http)
    resp = c.post_chatkit({"type": "input.transcribe", "params": {"audio_base64": "AAAA", "mime_type": "audio/webm"}})
    err = assert_error_body(resp)
    check(resp.status in (501, 503), "input.transcribe without a model: want 501/503, got %s %r" % (resp.status, err))
    c.call("input.transcribe", {"mime_type": "audio/webm"}, expect=400)
