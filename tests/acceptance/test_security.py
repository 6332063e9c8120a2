"""test_security.py - the attack suite: the trust boundary of src/http/gate.c.

Every test starts its own server with the configuration it attacks (JWT
secret or RSA public key, small rate limits, CORS origins) on the shared
cluster:
- hostile bearer tokens (alg none, HS/RS algorithm confusion, expired, not
  yet valid, wrong issuer/audience, tampered, missing/ill-typed exp, ...) are
  all 401 with WWW-Authenticate: Bearer and a short code, never a reason;
- a valid token works, and X-User-Id is ignored once JWT is on;
- with JWT identities, user B gets 404 on every operation on user A's data
  and A's data is unchanged afterwards;
- oversized and malformed bodies and headers get clean 4xx answers;
- rate limits answer 429 + Retry-After and recover after the wait;
- CORS preflights are answered for listed origins only;
- 1,000 idle or slow connections do not starve /healthz.
"""

import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import time
import urllib.parse

from lib import (Client, PNG, TestFailure, assert_error_body, assistant_item, check, multipart, request, ts, user_input,
                 user_item, wait_until, widget_item)

SECRET = "acceptance-secret-0123456789abcdef-0123456789"
ISSUER = "https://idp.example"
AUDIENCE = "chatkitd-tests"
SHORT_CODES = ("missing_token", "invalid_token", "token_expired", "invalid_request")


# --- tokens ------------------------------------------------------------------

def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(sub, **over):
    now = int(time.time())
    c = {"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def hs_token(payload, key=SECRET, header=None, digest=hashlib.sha256, raw_payload=None):
    """A compact JWS signed with HMAC (`key` str or bytes)."""
    header = header or {"alg": "HS256", "typ": "JWT"}
    body = raw_payload if raw_payload is not None else json.dumps(payload)
    signing = b64u(json.dumps(header)) + "." + b64u(body)
    key = key.encode() if isinstance(key, str) else key
    return signing + "." + b64u(hmac.new(key, signing.encode(), digest).digest())


def rs_token(payload, private_pem_path):
    """An RS256 token signed with `openssl dgst`."""
    signing = b64u(json.dumps({"alg": "RS256", "typ": "JWT"})) + "." + b64u(json.dumps(payload))
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", private_pem_path], input=signing.encode(),
                         capture_output=True, check=True).stdout
    return signing + "." + b64u(sig)


class JwtClient(Client):
    """A Client that proves its identity with a bearer token (and, to show it
    is ignored, claims to be somebody else in X-User-Id)."""

    def __init__(self, base, user, http, token=None):
        super().__init__(base, user, http)
        self.token = token or hs_token(claims(user))

    def headers(self, extra=None):
        h = {"Authorization": "Bearer " + self.token, "X-User-Id": "somebody-else"}
        h.update(extra or {})
        return h


def jwt_server(env, **extra):
    cfg = {"CHATKITD_JWT_SECRET": SECRET, "CHATKITD_JWT_ISSUER": ISSUER, "CHATKITD_JWT_AUDIENCE": AUDIENCE}
    cfg.update({k: str(v) for k, v in extra.items()})
    return env.start_server(cfg)


def assert_401(resp, what):
    err = assert_error_body(resp, 401)
    check(resp.headers.get("www-authenticate", "").startswith("Bearer"),
          "%s: 401 without WWW-Authenticate: Bearer (%r)" % (what, resp.headers))
    check(err["code"] == "unauthorized" and err["message"] in SHORT_CODES,
          "%s: the 401 must carry only a short code: %r" % (what, err))


def list_threads(base, http, headers):
    return request("POST", base + "/chatkit", body=json.dumps({"type": "threads.list", "params": {}}),
                   headers=dict({"Content-Type": "application/json"}, **headers), http=http)


# --- authentication ------------------------------------------------------------

def test_hostile_tokens_are_401(env, http):
    srv = jwt_server(env)
    user = env.new_user()
    now = int(time.time())
    good = claims(user)
    payload_evil = b64u(json.dumps(claims("mallory")))
    valid = hs_token(good)
    head, _, sig = valid.split(".")
    hostile = {
        "alg none, no signature": b64u('{"alg":"none","typ":"JWT"}') + "." + b64u(json.dumps(good)) + ".",
        "alg none, with signature": hs_token(good, header={"alg": "none", "typ": "JWT"}),
        "alg None": hs_token(good, header={"alg": "None"}),
        "no alg": hs_token(good, header={"typ": "JWT"}),
        "expired": hs_token(claims(user, exp=now - 3600)),
        "not yet valid": hs_token(claims(user, nbf=now + 3600)),
        "wrong issuer": hs_token(claims(user, iss="https://evil.example")),
        "no issuer": hs_token(claims(user, iss=None)),
        "wrong audience": hs_token(claims(user, aud="someone-else")),
        "audience array without ours": hs_token(claims(user, aud=["a", "b"])),
        "tampered payload": head + "." + payload_evil + "." + sig,
        "missing exp": hs_token(claims(user, exp=None)),
        "exp as string": hs_token(claims(user, exp=str(now + 600))),
        "exp as float": hs_token(claims(user, exp=now + 600.5)),
        "missing sub": hs_token(claims(None)),
        "empty sub": hs_token(claims("")),
        "sub with control char": hs_token(claims("a\nb")),
        "sub too long": hs_token(claims("u" * 256)),
        "wrong secret": hs_token(good, key="another-secret-another-secret-another-1"),
        "crit header": hs_token(good, header={"alg": "HS256", "crit": ["exp"]}),
        "payload not an object": hs_token(None, raw_payload="[1,2,3]"),
        "garbage": "not-a-token",
        "two parts": head + "." + payload_evil,
        "padding": valid + "==",
        "over 8 KiB": hs_token(claims(user, pad="x" * 9000)),
    }
    for what, token in hostile.items():
        assert_401(list_threads(srv.url, http, {"Authorization": "Bearer " + token}), what)
    assert_401(list_threads(srv.url, http, {}), "no Authorization header")
    assert_401(list_threads(srv.url, http, {"Authorization": "Basic dXNlcjpwdw=="}), "Basic scheme")
    assert_401(list_threads(srv.url, http, {"X-User-Id": user}), "X-User-Id alone in JWT mode")
    try:
        assert_401(list_threads(srv.url, http, {"Authorization": "Bearer " + "A" * 100000}), "100 KB token")
    except TestFailure:
        if http == "1.1":
            raise  # over h2 the server may refuse the header block itself (stream/connection reset)
    resp = list_threads(srv.url, http, {"Authorization": "Bearer " + valid})
    check(resp.status == 200 and resp.json() == {"data": [], "has_more": False}, "valid token: %r" % resp)
    resp = list_threads(srv.url, http, {"Authorization": "bearer  " + hs_token(claims(user, aud=["x", AUDIENCE]))})
    check(resp.status == 200, "scheme is case-insensitive and aud may be an array: %r" % resp)
    ok = list_threads(srv.url, http, {"Authorization": "Bearer " + hs_token(claims(user, exp=now - 10))})
    check(ok.status == 200, "exp 10 s ago is within the default 30 s leeway: %r" % ok)
    check(srv.alive(), "server died")


def test_algorithm_confusion_is_401(env):
    tmp = env.tmp_path("rsa")
    os.makedirs(tmp, exist_ok=True)
    priv, pub = os.path.join(tmp, "priv.pem"), os.path.join(tmp, "pub.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", priv],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", priv, "-pubout", "-out", pub], check=True, capture_output=True)
    srv = env.start_server({"CHATKITD_JWT_PUBLIC_KEY": pub, "CHATKITD_JWT_ALGORITHMS": "RS256"})
    user = env.new_user()
    with open(pub, "rb") as f:
        pub_bytes = f.read()
    good = claims(user)
    resp = list_threads(srv.url, "1.1", {"Authorization": "Bearer " + rs_token(good, priv)})
    check(resp.status == 200, "valid RS256 token: %r" % resp)
    confused = hs_token(good, key=pub_bytes)
    assert_401(list_threads(srv.url, "1.1", {"Authorization": "Bearer " + confused}), "HS256 signed with the RSA public key")
    assert_401(list_threads(srv.url, "1.1", {"Authorization": "Bearer " + hs_token(good, key=SECRET)}), "HS256 token")
    none = b64u('{"alg":"none"}') + "." + b64u(json.dumps(good)) + "."
    assert_401(list_threads(srv.url, "1.1", {"Authorization": "Bearer " + none}), "alg none on an RSA server")


def test_bad_auth_configuration_refuses_to_start(env):
    cases = [
        {"CHATKITD_JWT_SECRET": "short"},
        {"CHATKITD_JWT_SECRET": SECRET, "CHATKITD_JWT_ALGORITHMS": "RS256"},
        {"CHATKITD_JWT_SECRET": SECRET, "CHATKITD_JWT_ALGORITHMS": "none"},
        {"CHATKITD_JWT_PUBLIC_KEY": "/nonexistent.pem"},
        {"CHATKITD_JWT_ISSUER": ISSUER},
        {"CHATKITD_CORS_ORIGINS": "example.com/path"},
        {"CHATKITD_RATE_TURNS_PER_MIN": "lots"},
    ]
    for cfg in cases:
        srv = env.start_server(cfg, wait=None)
        try:
            srv.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            raise AssertionError("server started with a bad configuration %r" % cfg)
        check(srv.proc.returncode != 0, "bad configuration %r: exit status 0" % cfg)


def test_development_mode_warns_loudly(env):
    srv = env.start_server({})
    with open(srv.log_path, encoding="utf-8", errors="replace") as f:
        log = f.read()
    check("AUTHENTICATION IS OFF" in log and "ANY USER" in log, "no loud development-mode warning in the log")


# --- tenant isolation with JWT identities ------------------------------------------

def _seed(env, a):
    tid = env.insert_thread(a.user, created_at=ts(0), title="A's secret")
    env.insert_items(a.user, tid, [user_item("msg_sa", ts(1), "private"), assistant_item("msg_sb", ts(2)),
                                   widget_item("w_sc", ts(3))])
    body, ctype = multipart({"file": ("a.png", "image/png", PNG)})
    resp = a.raw("POST", "/attachments/upload", body=body, headers={"Content-Type": ctype})
    check(resp.status == 200, "direct upload for A: %r" % resp)
    pending = a.call("attachments.create", {"name": "b.png", "size": len(PNG), "mime_type": "image/png"})
    return tid, resp.json(), pending


def _snapshot(a, tid):
    return (a.call("threads.get_by_id", {"thread_id": tid}), a.call("items.list", {"thread_id": tid, "limit": 100}),
            a.call("threads.list", {}))


def test_cross_tenant_with_jwt(env, http):
    srv = jwt_server(env)
    a = JwtClient(srv.url, env.new_user(), http)
    b = JwtClient(srv.url, env.new_user(), http)
    tid, att, pending = _seed(env, a)
    before = _snapshot(a, tid)
    b.call("threads.get_by_id", {"thread_id": tid}, expect=404)
    b.call("items.list", {"thread_id": tid}, expect=404)
    b.call("threads.update", {"thread_id": tid, "title": "pwned"}, expect=404)
    b.call("threads.delete", {"thread_id": tid}, expect=404)
    b.call("items.feedback", {"thread_id": tid, "item_ids": ["msg_sb"], "kind": "negative"}, expect=404)
    b.call("attachments.delete", {"attachment_id": att["id"]}, expect=404)
    b.call("attachments.delete", {"attachment_id": pending["id"]}, expect=404)
    check(b.call("threads.list", {}) == {"data": [], "has_more": False}, "B sees A's threads")
    b.stream("threads.retry_after_item", {"thread_id": tid, "item_id": "msg_sa"}, expect=404)
    b.stream("threads.add_client_tool_output", {"thread_id": tid, "result": {"x": 1}}, expect=404)
    b.stream("threads.add_structured_input", {"thread_id": tid, "item_id": "si_x", "input": {"status": "answered"}},
             expect=404)
    b.stream("threads.custom_action", {"thread_id": tid, "item_id": "w_sc", "action": {"type": "x"}}, expect=404)
    b.call("threads.sync_custom_action", {"thread_id": tid, "item_id": "w_sc", "action": {"type": "x"}}, expect=404)
    b.stream("threads.add_user_message", {"thread_id": tid, "input": user_input("hi")}, expect=404)
    b.stream("threads.create", {"input": user_input("steal", [att["id"]])}, expect=404)
    # Download: A's bytes are not served to B.
    theirs = b.raw("GET", "/attachments/" + att["id"])
    check(theirs.status in (403, 404) and PNG not in theirs.body, "B downloaded A's attachment: %r" % theirs)
    # Upload: B's own signed upload URL, pointed at A's pending attachment.
    mine = b.call("attachments.create", {"name": "m.png", "size": len(PNG), "mime_type": "image/png"})
    d = mine["upload_descriptor"]
    parts = urllib.parse.urlsplit(d["url"])
    forged = urllib.parse.urlunsplit(parts._replace(path=parts.path.replace(mine["id"], pending["id"])))
    resp = request(d["method"], forged, body=b"B's bytes", headers=dict(d["headers"], **{"Content-Type": "image/png"}),
                   http=http)
    check(resp.status in (401, 403, 404), "B uploaded into A's attachment: %r" % resp)
    check(_snapshot(a, tid) == before, "A's data changed after B's attempts")
    check(env.pg.psql("SELECT count(*) FROM chatkit.feedback WHERE thread_id = '%s';" % tid) == "0",
          "B's feedback on A's item was stored")
    owner = env.pg.psql("SELECT user_id FROM chatkit.attachments WHERE id IN ('%s', '%s') ORDER BY id;"
                        % (att["id"], pending["id"]))
    check(owner.splitlines() == [a.user, a.user], "A's attachments changed owner: %r" % owner)
    # The identity is the token's sub, whatever X-User-Id says.
    check(env.pg.psql("SELECT count(*) FROM chatkit.threads WHERE user_id = 'somebody-else';") == "0",
          "X-User-Id was honoured in JWT mode")


# --- hostile bodies and headers --------------------------------------------------

def test_oversized_and_malformed(env, http):
    srv = jwt_server(env)
    c = JwtClient(srv.url, env.new_user(), http)
    big = json.dumps({"type": "threads.list", "params": {"pad": "x" * (3 * 1024 * 1024)}})
    resp = c.post_chatkit(big)
    check(resp.status == 413 or resp.curl_error is not None, "3 MiB body: %r" % resp)
    if resp.status:
        assert_error_body(resp, 413)
    # Unauthenticated garbage is refused as unauthenticated first.
    assert_401(request("POST", srv.url + "/chatkit", body="{not json", headers={"Content-Type": "application/json"},
                       http=http), "malformed body without a token")
    for body in ("{not json", "[]", '{"type":"threads.list"', "\x00\x01\x02", '{"type":' * 5000):
        assert_error_body(c.post_chatkit(body), 400)
    resp = c.raw("POST", "/chatkit", body="{}", headers={"X-Filler": "y" * 60000})
    check(resp.status in (400, 413, 431) or resp.status >= 400, "60 KB header: %r" % resp)
    resp = request("GET", srv.url + "/healthz", http=http)
    check(resp.status == 200 and srv.alive(), "server unhealthy after hostile input: %r" % resp)


# --- rate limits -----------------------------------------------------------------

def test_rate_limit_and_recovery(env, http):
    srv = jwt_server(env, CHATKITD_RATE_REQUESTS_PER_MIN=60, CHATKITD_RATE_TURNS_PER_MIN=2)
    c = JwtClient(srv.url, env.new_user(), http)
    # The bucket holds 60 tokens and refills one per second, so the first 429
    # comes after the burst of 60 plus whatever refilled while it was sent
    # (slow under valgrind), never before.
    started, admitted = time.monotonic(), 0
    while True:
        resp = c.post_chatkit({"type": "threads.list", "params": {}})
        if resp.status != 200 or admitted > 1000:
            break
        admitted += 1
    refill = time.monotonic() - started + 1
    check(60 <= admitted <= 60 + refill, "429 after %d requests in %.1f s at 60/min" % (admitted, refill - 1))
    err = assert_error_body(resp, 429)
    check(err["code"] == "rate_limited", "429 code: %r" % err)
    retry = resp.headers.get("retry-after", "")
    check(retry.isdigit() and 1 <= int(retry) <= 2, "Retry-After must be 1-2 s at 60/min: %r" % retry)
    other = JwtClient(srv.url, env.new_user(), http)
    check(other.post_chatkit({"type": "threads.list", "params": {}}).status == 200, "another user was limited too")
    time.sleep(int(retry) + 0.1)
    check(c.post_chatkit({"type": "threads.list", "params": {}}).status == 200, "no recovery after Retry-After")
    # Turns: 2 per minute for a fresh user.
    t = JwtClient(srv.url, env.new_user(), http)
    t.create_thread("one")
    t.create_thread("two")
    resp = t.post_chatkit({"type": "threads.create", "params": {"input": user_input("three")}})
    assert_error_body(resp, 429)
    check(int(resp.headers.get("retry-after", "0")) >= 20, "turn Retry-After at 2/min: %r" % resp.headers)
    check(t.post_chatkit({"type": "threads.list", "params": {}}).status == 200, "a refused turn blocked plain requests")


def test_stream_slots_are_released(env, http):
    """With one open stream allowed per user, finished, failed and abandoned
    turns must all give their slot back (ck_http_gate_turn_end)."""
    srv = jwt_server(env, CHATKITD_MAX_STREAMS_PER_USER=1, CHATKITD_RATE_TURNS_PER_MIN=1000,
                     CHATKITD_RATE_REQUESTS_PER_MIN=1000)
    c = JwtClient(srv.url, env.new_user(), http)
    for i in range(4):
        c.create_thread("turn %d" % i)
    c.stream("threads.add_user_message", {"thread_id": "thr_nosuch", "input": user_input("x")}, expect=404)
    c.stream("threads.create", {"input": user_input("bye")}, max_events=1)
    wait_until(lambda: c.post_chatkit({"type": "threads.create", "params": {"input": user_input("again")}},
                                      max_events=10 ** 9, timeout=30).status == 200,
               10, "the slot of an abandoned stream to be released")


# --- CORS --------------------------------------------------------------------------

def test_cors(env, http):
    origin = "https://app.example.com"
    srv = jwt_server(env, CHATKITD_CORS_ORIGINS=origin + ",http://localhost:5173")
    pre = {"Origin": origin, "Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "content-type, authorization, x-chatkit-custom"}
    resp = request("OPTIONS", srv.url + "/chatkit", headers=pre, http=http)
    check(resp.status == 204, "allowed preflight: %r" % resp)
    check(resp.headers.get("access-control-allow-origin") == origin, "preflight ACAO: %r" % resp.headers)
    check("POST" in resp.headers.get("access-control-allow-methods", ""), "preflight methods: %r" % resp.headers)
    check(resp.headers.get("access-control-allow-headers") == "content-type, authorization, x-chatkit-custom",
          "preflight headers: %r" % resp.headers)
    check(resp.headers.get("access-control-max-age", "").isdigit(), "preflight max-age: %r" % resp.headers)
    evil = dict(pre, Origin="https://evil.example")
    resp = request("OPTIONS", srv.url + "/chatkit", headers=evil, http=http)
    assert_error_body(resp, 403)
    check("access-control-allow-origin" not in resp.headers, "refused preflight carries ACAO: %r" % resp.headers)
    # Real requests: the 401 of an allowed origin is readable by the page.
    resp = list_threads(srv.url, http, {"Origin": origin})
    assert_401(resp, "no token, allowed origin")
    check(resp.headers.get("access-control-allow-origin") == origin and "Origin" in resp.headers.get("vary", ""),
          "401 without CORS headers: %r" % resp.headers)
    c = JwtClient(srv.url, env.new_user(), http)
    resp = c.post_chatkit({"type": "threads.list", "params": {}}, headers={"Origin": "https://evil.example"})
    check(resp.status == 200 and "access-control-allow-origin" not in resp.headers,
          "foreign origin got ACAO: %r" % resp.headers)


# --- connection flood ----------------------------------------------------------------

def _healthz_latencies(url, n):
    out = []
    for _ in range(n):
        t0 = time.monotonic()
        resp = request("GET", url + "/healthz", timeout=10)
        out.append(time.monotonic() - t0)
        check(resp.status == 200, "/healthz during the flood: %r" % resp)
    return sorted(out)


def test_connection_flood_does_not_starve_healthz(env):
    srv = env.start_server({})
    host, port = "127.0.0.1", srv.port
    base = _healthz_latencies(srv.url, 50)
    socks = []
    try:
        for i in range(1000):
            s = socket.create_connection((host, port), timeout=5)
            if i % 2:  # slowloris: an unfinished request line
                s.sendall(b"POST /chatkit HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n")
            socks.append(s)
        during = _healthz_latencies(srv.url, 100)
        for s in socks[1::2]:  # the slow ones keep dribbling
            try:
                s.sendall(b"X-A: b\r\n")
            except OSError:
                pass
        during += _healthz_latencies(srv.url, 100)
        during.sort()
    finally:
        for s in socks:
            s.close()
    p50, p99, worst = during[len(during) // 2], during[int(len(during) * 0.99)], during[-1]
    print("    /healthz with 1000 idle/slow connections: p50 %.1f ms, p99 %.1f ms, max %.1f ms "
          "(before: p50 %.1f ms)" % (p50 * 1e3, p99 * 1e3, worst * 1e3, base[len(base) // 2] * 1e3))
    check(p99 < 0.5, "/healthz p99 %.0f ms under a connection flood" % (p99 * 1e3))
    check(srv.alive(), "server died under the flood")
