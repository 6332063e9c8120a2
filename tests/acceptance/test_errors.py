"""test_errors.py - every kind of bad input gets a 4xx with a JSON error body
{"error":{"code":...,"message":...}} before anything else happens (docs/protocol.md
"Request envelope", "JSON answers and errors"), over HTTP/1.1 and h2c, and the server keeps
serving afterwards."""

import json

from lib import assert_error_body, check, ts


def _bad(c, body, status=400, **kw):
    resp = c.post_chatkit(body, **kw)
    return assert_error_body(resp, status)


def test_malformed_json(env, http):
    c = env.client(http)
    for body in (b'{"type":"threads.list",', b"not json", b"", b'{"type":"threads.list","params":{}} trailing',
                 b'{"type":"threads.list","params":{},}'):
        _bad(c, body)


def test_body_must_be_an_object(env, http):
    c = env.client(http)
    for body in (b"[]", b"null", b"42", b'"threads.list"'):
        _bad(c, body)


def test_unknown_and_missing_type(env, http):
    c = env.client(http)
    _bad(c, {"type": "threads.explode", "params": {}})
    _bad(c, {"params": {}})
    _bad(c, {"type": 12, "params": {}})
    _bad(c, {"type": None, "params": {}})


def test_params_required_and_typed(env, http):
    c = env.client(http)
    _bad(c, {"type": "threads.list"})
    _bad(c, {"type": "threads.list", "params": []})
    _bad(c, {"type": "threads.list", "params": None})
    _bad(c, {"type": "threads.get_by_id", "params": {}})
    _bad(c, {"type": "threads.get_by_id", "params": {"thread_id": 123}})
    _bad(c, {"type": "threads.list", "params": {"order": "sideways"}})
    _bad(c, {"type": "threads.list", "params": {"limit": "many"}})
    _bad(c, {"type": "threads.list", "params": {"after": 5}})
    _bad(c, {"type": "threads.list", "params": {}, "metadata": []})
    _bad(c, {"type": "attachments.create", "params": {"name": "a.txt", "mime_type": "text/plain"}})
    _bad(c, {"type": "attachments.create", "params": {"name": "a.txt", "size": "10", "mime_type": "text/plain"}})
    _bad(c, {"type": "threads.create", "params": {"input": {"content": [{"type": "input_image", "url": "x"}],
                                                            "attachments": [], "inference_options": {}}}})
    _bad(c, {"type": "threads.create", "params": {"input": {"content": [{"type": "input_text", "text": "x"}]}}})


def test_unknown_keys_are_ignored(env, http):
    c = env.client(http)
    env.insert_threads(c.user, [ts(0)])
    resp = c.post_chatkit({"type": "threads.list", "params": {"bogus": 1}, "metadata": {"a": 1}, "extra": True})
    check(resp.status == 200, "unknown keys must be ignored (spec 1.2): %r" % resp)
    check(len(resp.json()["data"]) == 1, "list result %r" % resp.body[:200])


def test_unknown_ids_are_404(env, http):
    c = env.client(http)
    for rtype, params in (("threads.get_by_id", {"thread_id": "thr_0000"}),
                          ("threads.update", {"thread_id": "thr_0000", "title": "t"}),
                          ("threads.delete", {"thread_id": "thr_0000"}),
                          ("items.list", {"thread_id": "thr_0000"}),
                          ("attachments.delete", {"attachment_id": "atc_0000"})):
        err = c.call(rtype, params, expect=404)
        check("thr_0000" in err["message"] or "atc_0000" in err["message"] or err["code"] == "not_found",
              "%s: error should name the id or say not_found: %r" % (rtype, err))


def test_oversized_body_is_413(env, http):
    c = env.client(http)
    body = json.dumps({"type": "threads.update", "params": {"thread_id": "thr_x", "title": "x" * (8 << 20)}})
    resp = c.post_chatkit(body, timeout=30)
    assert_error_body(resp, 413)
    check(c.call("threads.list", {})["data"] == [], "server must keep serving after a 413")


def test_invalid_utf8_is_400(env, http):
    c = env.client(http)
    tid = env.insert_thread(c.user)
    _bad(c, b'{"type":"threads.update","params":{"thread_id":"' + tid.encode() + b'","title":"a\xff\xfeb"}}')
    _bad(c, b'{"type":"threads.update","params":{"thread_id":"' + tid.encode() + b'","title":"\xc3"}}')
    check("title" not in c.call("threads.get_by_id", {"thread_id": tid}), "invalid title was stored")


def test_nul_is_400(env, http):
    c = env.client(http)
    tid = env.insert_thread(c.user)
    _bad(c, b'{"type":"threads.update","params":{"thread_id":"' + tid.encode() + b'","title":"a\x00b"}}')
    _bad(c, '{"type":"threads.update","params":{"thread_id":"%s","title":"a\\u0000b"}}' % tid)
    check("title" not in c.call("threads.get_by_id", {"thread_id": tid}), "title with NUL was stored")


def test_deeply_nested_json_is_400(env, http):
    c = env.client(http)
    _bad(c, '{"type":"threads.list","params":{},"metadata":' + '{"a":' * 5000 + "1" + "}" * 5001)


def test_wrong_method_and_path(env, http):
    c = env.client(http)
    resp = c.raw("GET", "/chatkit")
    check(resp.status in (404, 405), "GET /chatkit must be 404/405, got %s" % resp.status)
    resp = c.raw("POST", "/no/such/path", body=b"{}")
    check(resp.status == 404, "unknown path must be 404, got %s" % resp.status)
