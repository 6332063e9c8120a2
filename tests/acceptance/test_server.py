"""test_server.py - the server's life outside the protocol: /healthz,
/readyz, the HTML page at /, degraded start-up (no database, database down
and coming up later), recovery after a PostgreSQL restart, and HTTP/2 over
TLS negotiated with ALPN."""

import os
import re
import subprocess

import pycurl

from lib import TestFailure, assert_error_body, check, free_port, request, wait_until


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


def test_flags_configure_a_real_server(env):
    """Every setting is also a flag (src/base/env.c): a server configured
    by flags alone (address, database, workers, log format) serves and
    is ready, both spellings (--name VALUE, --name=VALUE) work."""
    srv = env.start_server({"CHATKITD_LISTEN": "", "CHATKITD_LOG_FORMAT": ""}, database_url=None, wait=None,
                           args=["--listen", "127.0.0.1:{port}", "--database-url=" + env.pg.conninfo, "--workers", "1",
                                 "--log-format=text", "serve"])
    srv.wait_ready()
    log = srv.log_tail(200)
    check("127.0.0.1:%d" % srv.port in log and "with 1 worker(s)" in log,
          "the start-up line must show the flags' address and workers:\n%s" % log)


def test_flag_beats_its_variable(env):
    """A flag wins over its variable: the server listens where the flag
    says, and a malformed variable overridden by a good flag is not read."""
    elsewhere = free_port()
    srv = env.start_server({"CHATKITD_LISTEN": "127.0.0.1:%d" % elsewhere, "CHATKITD_WORKERS": "lots"}, wait=None,
                           args=["--workers=2", "--listen", "127.0.0.1:{port}"])
    srv.wait_ready()
    check("with 2 worker(s)" in srv.log_tail(200), "--workers=2 must win over CHATKITD_WORKERS=lots")
    try:
        status = request("GET", "http://127.0.0.1:%d/healthz" % elsewhere, timeout=2).status
    except TestFailure:
        status = 0  # connection refused: nothing listens there
    check(status == 0, "nothing may listen on the variable's address (got %s)" % status)


def test_bad_flags_refuse_to_start(env):
    """An unknown flag, a flag without its value, or a bad value given by a
    flag: one line naming the flag, exit status 2, nothing served."""
    cases = [
        (["--lsiten", "127.0.0.1:1"], "chatkitd: unknown flag --lsiten (see chatkitd --help)"),
        (["serve", "--wokers=2"], "chatkitd: unknown flag --wokers=2 (see chatkitd --help)"),
        (["--listen"], "chatkitd: flag --listen needs a value (see chatkitd --help)"),
        (["--database-url", "--workers", "2"], "chatkitd: flag --database-url needs a value (see chatkitd --help)"),
        (["--workers=0"], 'chatkitd: --workers="0": expected an integer from 1 to 256 (see chatkitd --help)'),
        (["migrate", "--lsiten=x"], "chatkitd: unknown flag --lsiten=x (see chatkitd --help)"),
    ]
    for args, line in cases:
        out = subprocess.run([env.suite.binary] + args, capture_output=True, text=True, timeout=30,
                             stdin=subprocess.DEVNULL)
        check(out.returncode == 2, "%r: exit status %s, want 2" % (args, out.returncode))
        check(out.stderr == line + "\n" and out.stdout == "",
              "%r: want the one line %r, got stdout %r stderr %r" % (args, line, out.stdout, out.stderr))


def test_help_lists_flags_and_version_still_works(env):
    """--help is generated from the table: each setting with its flag and
    its variable; --version answers before any setting is read."""
    out = subprocess.run([env.suite.binary, "--help"], capture_output=True, text=True, timeout=15)
    check(out.returncode == 0, "--help: exit status %s" % out.returncode)
    for flag, name in (("--listen ADDR", "CHATKITD_LISTEN"), ("--database-url CONNINFO", "DATABASE_URL"),
                       ("--workers N", "CHATKITD_WORKERS"), ("--openai-base-url URL", "OPENAI_BASE_URL"),
                       ("--allow-model-override[=BOOL]", "CHATKITD_ALLOW_MODEL_OVERRIDE")):
        check(re.search(r"^ +%s +%s$" % (re.escape(flag), name), out.stdout, re.M),
              "--help must list %s with %s" % (flag, name))
    out = subprocess.run([env.suite.binary, "--workers", "lots", "--version"], capture_output=True, text=True,
                         timeout=15)
    check(out.returncode == 0 and out.stdout.startswith("chatkitd "), "--version: %r" % (out.stdout + out.stderr))


def test_subcommands_take_flags(env):
    """The settings flags work with every command, before or after it, and
    the commands keep their own arguments: migrate, audit and stats reach
    the database named by --database-url alone."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CHATKITD_", "OPENAI_")) and k != "DATABASE_URL"}
    url = env.pg.conninfo
    runs = [
        ["--database-url", url, "migrate"],
        ["migrate", "--database-url=" + url],
        ["audit", "--since", "1h", "--database-url", url, "--json", "--log-format=text"],
        ["--database-url=" + url, "stats", "--since", "24h", "--json"],
    ]
    for args in runs:
        out = subprocess.run([env.suite.binary] + args, env=clean, capture_output=True, text=True, timeout=120,
                             stdin=subprocess.DEVNULL)
        check(out.returncode == 0, "%r: exit status %s: %s" % (args, out.returncode, out.stderr[-500:]))
    out = subprocess.run([env.suite.binary, "audit", "--since", "1h", "--json"], env=clean, capture_output=True,
                         text=True, timeout=60, stdin=subprocess.DEVNULL)
    check(out.returncode == 2 and "DATABASE_URL" in out.stderr, "without the flag audit has no database: %r" % out.stderr)
    out = subprocess.run([env.suite.binary, "audit", "--frob", "--database-url", url], env=clean, capture_output=True,
                         text=True, timeout=60, stdin=subprocess.DEVNULL)
    check(out.returncode == 2 and "--frob" in out.stderr, "audit's own parser still refuses its unknown options")
