"""test_security_jwks.py - JWT keys from a JWK set (CHATKITD_JWT_JWKS).

Private servers on the shared cluster, RSA keys made with `openssl genpkey`,
tokens signed with `openssl dgst` and carrying a `kid`:
- a JWKS file with two RSA keys: a token for each kid is accepted, an
  unknown kid, a kid-less token (two keys), a token signed by a key outside
  the set and the HS256 confusion token (JWKS key PEM as secret) are 401;
- a JWKS URL served by a tiny http.server of the test: rotation to a new
  set is picked up early when a token names the new kid (long refresh
  period), and by the periodic refresh (short period) when a key is
  removed; a failing refresh keeps the old keys;
- JWKS together with a single key, an unreachable URL and a set with no
  usable key refuse to start.
"""

import hashlib
import hmac
import http.server
import json
import os
import subprocess
import threading
import time

from lib import check, free_port, wait_until
from test_security import assert_401, b64u, claims, list_threads


# --- keys, sets and tokens ------------------------------------------------------

def rsa_key(env, name):
    """(private PEM path, public PEM bytes, JWK members) of a new RSA key."""
    priv, pub = env.tmp_path(name + ".pem"), env.tmp_path(name + ".pub.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", priv],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", priv, "-pubout", "-out", pub], check=True, capture_output=True)
    modulus = subprocess.run(["openssl", "rsa", "-in", priv, "-noout", "-modulus"], check=True, capture_output=True,
                             text=True).stdout.strip().split("=", 1)[1]
    with open(pub, "rb") as f:
        pub_pem = f.read()
    return priv, pub_pem, {"kty": "RSA", "n": b64u(bytes.fromhex(modulus)), "e": "AQAB"}


def jwks(*keys):
    """A JWKS document: keys are (kid, jwk members) pairs."""
    return json.dumps({"keys": [dict(members, kid=kid, use="sig") for kid, members in keys]})


def rs_token(payload, priv, kid):
    header = {"alg": "RS256", "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    signing = b64u(json.dumps(header)) + "." + b64u(json.dumps(payload))
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", priv], input=signing.encode(),
                         capture_output=True, check=True).stdout
    return signing + "." + b64u(sig)


def status(srv, token):
    return list_threads(srv.url, "1.1", {"Authorization": "Bearer " + token}).status


class JwksServer:
    """A tiny HTTP server answering GET /jwks.json with `self.doc` (503 when
    None), counting the fetches."""

    def __init__(self, doc):
        self.doc = doc
        self.fetches = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                outer.fetches += 1
                body = (outer.doc or "").encode()
                self.send_response(200 if outer.doc is not None else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = "http://127.0.0.1:%d/jwks.json" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# --- tests ------------------------------------------------------------------------

def test_jwks_file_selects_by_kid(env):
    priv1, pub1, jwk1 = rsa_key(env, "k1")
    priv2, _, jwk2 = rsa_key(env, "k2")
    priv3, _, _ = rsa_key(env, "k3")
    path = env.tmp_path("jwks.json")
    with open(path, "w") as f:
        f.write(jwks(("k1", jwk1), ("k2", jwk2)))
    srv = env.start_server({"CHATKITD_JWT_JWKS": path})
    user = env.new_user()
    good = claims(user, iss=None, aud=None)
    check(status(srv, rs_token(good, priv1, "k1")) == 200, "token with kid k1 refused")
    check(status(srv, rs_token(good, priv2, "k2")) == 200, "token with kid k2 refused")
    for what, token in {
        "unknown kid": rs_token(good, priv1, "k9"),
        "key 2 under kid k1": rs_token(good, priv2, "k1"),
        "a key outside the set": rs_token(good, priv3, "k1"),
        "no kid with two keys": rs_token(good, priv1, None),
        "HS256 signed with the JWKS key's PEM": _confused(good, pub1, "k1"),
    }.items():
        assert_401(list_threads(srv.url, "1.1", {"Authorization": "Bearer " + token}), what)
    with open(srv.log_path, encoding="utf-8", errors="replace") as f:
        log = f.read()
    check('JWKS key kid "k1"' in log and "2 usable key(s)" in log, "start-up log does not list the keys")
    check(srv.alive(), "server died")


def _confused(payload, pub_pem, kid):
    signing = b64u(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid})) + "." + b64u(json.dumps(payload))
    return signing + "." + b64u(hmac.new(pub_pem, signing.encode(), hashlib.sha256).digest())


def test_jwks_url_rotation(env):
    priv1, _, jwk1 = rsa_key(env, "k1")
    priv2, _, jwk2 = rsa_key(env, "k2")
    web = JwksServer(jwks(("k1", jwk1)))
    try:
        user = env.new_user()
        good = claims(user, iss=None, aud=None)
        # Long period: a new kid is fetched early because a token names it.
        srv = env.start_server({"CHATKITD_JWT_JWKS": web.url, "CHATKITD_JWT_JWKS_REFRESH_S": "3600"})
        check(web.fetches == 1, "start-up fetched %d times" % web.fetches)
        check(status(srv, rs_token(good, priv1, "k1")) == 200, "k1 refused")
        web.doc = jwks(("k1", jwk1), ("k2", jwk2))
        new = rs_token(good, priv2, "k2")
        wait_until(lambda: status(srv, new) == 200, 10, "the new kid k2 to be accepted (early refresh)")
        check(web.fetches == 2, "expected one early refresh, saw %d fetches" % (web.fetches - 1))
        # Short period: a removed key stops working, a failing refresh keeps the set.
        srv2 = env.start_server({"CHATKITD_JWT_JWKS": web.url, "CHATKITD_JWT_JWKS_REFRESH_S": "1"})
        check(status(srv2, rs_token(good, priv1, "k1")) == 200, "k1 refused by the second server")
        web.doc = jwks(("k2", jwk2))
        old = rs_token(good, priv1, "k1")
        wait_until(lambda: status(srv2, old) == 401, 10, "the removed kid k1 to be refused (periodic refresh)")
        web.doc = None
        seen = web.fetches
        wait_until(lambda: web.fetches >= seen + 2, 10, "two failing refreshes")
        check(status(srv2, new) == 200, "a failed refresh dropped the keys")
        with open(srv2.log_path, encoding="utf-8", errors="replace") as f:
            check("JWKS refresh failed, keeping the current keys" in f.read(), "no warning for a failed refresh")
        check(srv.alive() and srv2.alive(), "server died")
    finally:
        web.close()


def test_jwks_bad_configuration_refuses_to_start(env):
    _, _, jwk1 = rsa_key(env, "k1")
    empty = env.tmp_path("oct.json")
    with open(empty, "w") as f:
        f.write(json.dumps({"keys": [{"kty": "oct", "k": b64u(os.urandom(32))}]}))
    good = env.tmp_path("good.json")
    with open(good, "w") as f:
        f.write(jwks(("k1", jwk1)))
    cases = [
        ({"CHATKITD_JWT_JWKS": good, "CHATKITD_JWT_SECRET": "acceptance-secret-0123456789abcdef-0123456789"},
         "cannot be combined"),
        ({"CHATKITD_JWT_JWKS": "http://127.0.0.1:%d/jwks.json" % free_port()}, "CHATKITD_JWT_JWKS"),
        ({"CHATKITD_JWT_JWKS": empty}, "no usable"),
        ({"CHATKITD_JWT_JWKS": good, "CHATKITD_JWT_ALGORITHMS": "HS256"}, "does not fit"),
        ({"CHATKITD_JWT_JWKS_REFRESH_S": "60"}, "no JWT key"),
    ]
    for cfg, message in cases:
        srv = env.start_server(cfg, wait=None)
        started = time.monotonic()
        try:
            srv.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise AssertionError("server started with a bad configuration %r" % cfg)
        check(srv.proc.returncode != 0, "bad configuration %r: exit status 0" % cfg)
        with open(srv.log_path, encoding="utf-8", errors="replace") as f:
            log = f.read()
        check(message in log, "bad configuration %r: no %r in the log:\n%s" % (cfg, message, log[-2000:]))
        check(time.monotonic() - started < 30, "refusing took too long")
