"""test_server.py - the server's life outside the protocol: /healthz,
/readyz, the HTML page at /, degraded start-up (no database, database down
and coming up later), recovery after a PostgreSQL restart, and HTTP/2 over
TLS negotiated with ALPN."""

import subprocess

import pycurl

from lib import TestFailure, assert_error_body, check, request, wait_until


def test_health_and_ready(env, http):
    for path in ("/healthz", "/readyz"):
        resp = request("GET", env.server + path, http=http)
        check(resp.status == 200, "GET %s: %r" % (path, resp))


def test_index_is_html(env, http):
    resp = request("GET", env.server + "/", http=http)
    check(resp.status == 200, "GET /: %r" % resp)
    check(resp.content_type().startswith("text/html"), "GET / content-type %r" % resp.content_type())
    check(b"<html" in resp.body.lower(), "GET / is not an HTML document: %r" % resp.body[:200])


def test_h2c_really_is_http2(env):
    resp = request("GET", env.server + "/healthz", http="h2c")
    check(resp.http_version == pycurl.CURL_HTTP_VERSION_2_0, "h2c negotiated version code %s" % resp.http_version)
    resp = request("GET", env.server + "/healthz", http="1.1")
    check(resp.http_version == pycurl.CURL_HTTP_VERSION_1_1, "HTTP/1.1 negotiated version code %s" % resp.http_version)


def _assert_degraded(env, srv):
    for http in ("1.1", "h2c"):
        check(request("GET", srv.url + "/healthz", http=http).status == 200, "degraded /healthz must be 200")
        check(request("GET", srv.url + "/").status == 200, "degraded / must be 200")
        resp = request("GET", srv.url + "/readyz", http=http)
        check(resp.status == 503, "degraded /readyz must be 503, got %r" % resp)
        c = env.client(http, base=srv.url)
        err = assert_error_body(c.post_chatkit({"type": "threads.list", "params": {}}), 503)
        check(err["code"], "503 error code")


def test_degraded_without_database(env):
    srv = env.start_server(database_url=None, wait="listening")
    _assert_degraded(env, srv)
    check(srv.alive(), "server without a database must keep running")


def test_database_down_at_start_then_up(env):
    pg = env.new_pg()
    pg.stop()
    srv = env.start_server(database_url=pg.conninfo, wait="listening")
    _assert_degraded(env, srv)
    pg.start()
    srv.wait_ready(timeout=30)
    c = env.client("1.1", base=srv.url)
    check(c.call("threads.list", {}) == {"data": [], "has_more": False}, "empty list once ready")
    n = pg.psql("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'chatkit';")
    check(int(n) >= 4, "migrations did not run after the database came up: %s tables" % n)


def test_recovers_after_postgres_restart(env):
    c = env.client("1.1")
    tid = env.insert_thread(c.user, title="before")
    check(c.call("threads.get_by_id", {"thread_id": tid})["title"] == "before", "before restart")
    env.pg.restart()
    wait_until(lambda: c.post_chatkit({"type": "threads.get_by_id", "params": {"thread_id": tid}}).status == 200,
               10, "requests to succeed after the PostgreSQL restart")
    for http in ("1.1", "h2c"):
        for _ in range(5):
            got = env.client(http, user=c.user).call("threads.get_by_id", {"thread_id": tid})
            check(got["title"] == "before", "after restart: %r" % got)
    check(request("GET", env.server + "/readyz").status == 200, "/readyz after recovery")


def test_tls_alpn_h2(env):
    srv, cert = env.tls_server()
    resp = request("GET", srv.url + "/healthz", http="h2-tls", cafile=cert)
    check(resp.status == 200 and resp.http_version == pycurl.CURL_HTTP_VERSION_2_0,
          "TLS must negotiate h2 via ALPN: %r version %s" % (resp, resp.http_version))
    resp = request("GET", srv.url + "/healthz", http="1.1-tls", cafile=cert)
    check(resp.status == 200 and resp.http_version == pycurl.CURL_HTTP_VERSION_1_1, "TLS HTTP/1.1: %r" % resp)
    for http in ("h2-tls", "1.1-tls"):
        c = env.client(http, base=srv.url, cafile=cert)
        check(c.call("threads.list", {}) == {"data": [], "has_more": False}, "threads.list over " + http)
    try:
        status = request("GET", srv.url.replace("https:", "http:") + "/healthz", http="1.1", timeout=5).status
    except TestFailure:
        status = 0  # the TLS listener dropping a plaintext client is the expected outcome
    check(status != 200, "plain HTTP on the TLS port must not be served")


def test_bad_variable_refuses_to_start(env):
    """A malformed value stops start-up, and the log names the variable and
    the form it accepts (src/base/env.c); --help lists the same variables."""
    cases = [
        ({"CHATKITD_HEARTBEAT_MS": "0"}, "CHATKITD_HEARTBEAT_MS", "an integer from 1 to"),
        ({"CHATKITD_MAX_BODY": "lots"}, "CHATKITD_MAX_BODY", "a size in bytes"),
        ({"CHATKITD_ALLOW_MODEL_OVERRIDE": "maybe"}, "CHATKITD_ALLOW_MODEL_OVERRIDE", "true/false"),
        ({"CHATKITD_LOG_LEVEL": "loud"}, "CHATKITD_LOG_LEVEL", "one of debug|info|warn|error"),
        ({"CHATKITD_AUDIT_RETENTION_DAYS": "forever"}, "CHATKITD_AUDIT_RETENTION_DAYS", "an integer from 1 to 36500"),
    ]
    for cfg, name, form in cases:
        srv = env.start_server(cfg, wait=None)
        try:
            srv.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            raise AssertionError("server started with %r" % cfg)
        check(srv.proc.returncode == 2, "%r: exit status %s, want 2" % (cfg, srv.proc.returncode))
        log = srv.log_tail(10)
        lines = [line for line in log.splitlines() if name in line]
        check(len(lines) == 1 and form in lines[0],
              "%r: one line must name %s and '%s':\n%s" % (cfg, name, form, log))
    out = subprocess.run([env.suite.binary, "--help"], capture_output=True, text=True, timeout=15).stdout
    for name in ("CHATKITD_HEARTBEAT_MS", "CHATKITD_MAX_BODY", "DATABASE_URL", "OPENAI_BASE_URL", "CHATKITD_CORS_ORIGINS"):
        check(name in out, "--help does not list %s" % name)
