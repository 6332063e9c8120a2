"""lib.py - fixtures and HTTP helpers of the chatkitd acceptance suite.

The suite runs the real server binary against a real PostgreSQL cluster over
real HTTP (libcurl through pycurl: HTTP/1.1, h2c with prior knowledge, and
HTTP/2 over TLS with ALPN).  This module holds everything the tests share:

- PgCluster: a throwaway cluster managed by scripts/pg-local.sh, plus psql.
- Server: one chatkitd process (its own port, environment and log file).
- Env: what every test receives: the shared cluster and server, unique user
  ids, extra servers/clusters that are stopped after the test.
- Client: protocol requests for one user over one HTTP version; every JSON
  response and every SSE event is validated against tests/schemas/.
- request(): one HTTP exchange through libcurl (status, headers, body).

Only the Python standard library, python3-pycurl and python3-jsonschema are
used (run with /usr/bin/python3).
"""

import base64
import io
import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid

import jsonschema
import pycurl

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCHEMA_DIR = os.path.join(ROOT, "tests", "schemas")
PG_LOCAL = os.path.join(ROOT, "scripts", "pg-local.sh")

# Multiplier for every timeout (the server may run under valgrind).
VALGRIND = bool(os.environ.get("CHATKITD_VALGRIND"))
SLOW = 20 if VALGRIND else 1

# Under valgrind every server runs as VALGRIND_CMD + [binary]; a memory error
# or a definite leak makes it exit with VALGRIND_STATUS (see Server.verdict).
VALGRIND_STATUS = 42
VALGRIND_CMD = ["valgrind", "-q", "--error-exitcode=%d" % VALGRIND_STATUS, "--leak-check=full",
                "--errors-for-leak-kinds=definite",
                "--suppressions=" + os.path.join(ROOT, "tests", "valgrind.supp")]

# A binary built with -fsanitize=address,undefined (make test-asan) must turn
# every finding into a failure: abort on the first ASan/UBSan report, check
# leaks at exit.  Set for this process so that every child (servers, and
# `chatkitd migrate|ingest` run by tests) inherits them; a caller's own
# settings win.  Harmless for a binary built without sanitizers.
os.environ.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1:halt_on_error=1")
os.environ.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
# The suite's PostgreSQL clusters are throwaway: no fsync (scripts/pg-local.sh
# is durable by default, for `make run`).
os.environ.setdefault("PG_LOCAL_FSYNC", "off")

# What ASan, LeakSanitizer and UBSan print when they find something
# ("==123==ERROR: AddressSanitizer: ...", "src/x.c:10:5: runtime error: ...").
SANITIZER_REPORT = re.compile(rb"==\d+==ERROR: (?:AddressSanitizer|LeakSanitizer)|:\d+:\d+: runtime error: "
                              rb"|SUMMARY: UndefinedBehaviorSanitizer")

# The HTTP versions every protocol test runs over (see run.py).
PROTOCOLS = ("1.1", "h2c")

# Environment variables of the caller that must not leak into a server under
# test (they would switch on a model, JWT auth, another database, ...).
_SCRUB_PREFIXES = ("CHATKITD_", "OPENAI_")
_SCRUB_NAMES = ("DATABASE_URL", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD", "PGSERVICE")

# How the development identity is sent (gate.c: X-User-Id when no JWT key).
USER_HEADER = "X-User-Id"


class TestFailure(AssertionError):
    """An expectation of a test that did not hold."""


def check(cond, message):
    """Raises TestFailure(message) unless `cond` is true."""
    if not cond:
        raise TestFailure(message)


def wait_until(predicate, timeout, what, interval=0.05, give_up=None):
    """Polls predicate() until it returns a true value (returned) or
    `timeout` seconds (times SLOW) pass (TestFailure naming `what`).
    Exceptions from predicate count as "not yet".  `give_up`, if given, is
    called first each round; a non-empty string from it fails at once."""
    deadline = time.monotonic() + timeout * SLOW
    last = None
    while True:
        reason = give_up() if give_up else None
        if reason:
            raise TestFailure("gave up waiting for %s: %s" % (what, reason))
        try:
            value = predicate()
            if value:
                return value
            last = value
        except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
            last = exc
        if time.monotonic() > deadline:
            raise TestFailure("timed out after %ss waiting for %s (last: %r)" % (timeout * SLOW, what, last))
        time.sleep(interval)


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- schemas ---------------------------------------------------------------

_validators = {}


def validator(name):
    """The Draft7Validator of tests/schemas/<name>.json (cached)."""
    if name not in _validators:
        path = os.path.join(SCHEMA_DIR, name + ".json")
        with open(path, encoding="utf-8") as f:
            _validators[name] = jsonschema.Draft7Validator(json.load(f))
    return _validators[name]


def validate(name, value):
    """Raises TestFailure listing the schema errors of `value` against
    schema `name` (e.g. "resp.threads.list", "event.thread.created")."""
    if not os.path.exists(os.path.join(SCHEMA_DIR, name + ".json")):
        raise TestFailure("no schema %s for %s" % (name, _short(value)))
    errors = sorted(validator(name).iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        lines = ["%s at /%s: %s" % (name, "/".join(map(str, e.absolute_path)), e.message[:300]) for e in errors[:5]]
        raise TestFailure("schema violation: " + "; ".join(lines) + " in " + _short(value))


def assert_no_nulls(value, where="$"):
    """docs/protocol.md "JSON serialization": null-valued fields are omitted, recursively."""
    if isinstance(value, dict):
        for k, v in value.items():
            check(v is not None, "null field %s.%s (spec 1.8: nulls are omitted)" % (where, k))
            assert_no_nulls(v, where + "." + k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            assert_no_nulls(v, "%s[%d]" % (where, i))


def assert_error_body(resp, status=None):
    """The response is a 4xx/5xx JSON error {"error":{"code":str,"message":str}}
    (with the given status when `status` is set); returns the error object."""
    if status is not None:
        check(resp.status == status, "expected HTTP %s, got %s: %s" % (status, resp.status, resp.text()[:300]))
    check(400 <= resp.status <= 599, "expected an HTTP error, got %s: %s" % (resp.status, resp.text()[:300]))
    check(resp.content_type().startswith("application/json"),
          "error content-type %r (want application/json), body %r" % (resp.content_type(), resp.body[:200]))
    try:
        body = json.loads(resp.body)
    except ValueError:
        raise TestFailure("error body is not JSON: %r" % resp.body[:200])
    err = body.get("error") if isinstance(body, dict) else None
    check(isinstance(err, dict), "error body lacks an 'error' object: %r" % body)
    check(isinstance(err.get("code"), str) and err["code"], "error.code must be a non-empty string: %r" % body)
    check(isinstance(err.get("message"), str), "error.message must be a string: %r" % body)
    rid = err.get("request_id")
    check(isinstance(rid, str) and re.fullmatch(r"[A-Za-z0-9._-]{1,128}", rid),
          "error.request_id must be the request id: %r" % body)
    header = resp.headers.get("x-request-id")
    check(header == rid, "error.request_id %r differs from the X-Request-Id header %r" % (rid, header))
    return err


def _short(value, n=400):
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= n else text[:n] + "..."


# --- HTTP ------------------------------------------------------------------

class Response:
    """One HTTP exchange: status, headers (lower-case name -> last value),
    body bytes, the HTTP version libcurl negotiated and, for streams, the
    parsed SSE events."""

    def __init__(self, status, headers, body, http_version, events=None, aborted=False, curl_error=None):
        self.status = status
        self.headers = headers
        self.body = body
        self.http_version = http_version
        self.events = events
        self.aborted = aborted
        self.curl_error = curl_error

    def text(self):
        return self.body.decode("utf-8", "replace")

    def content_type(self):
        return self.headers.get("content-type", "")

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            raise TestFailure("body is not JSON (HTTP %s): %r" % (self.status, self.body[:300]))

    def __repr__(self):
        return "<HTTP %s %s %r>" % (self.status, self.content_type(), self.body[:200])


class SSEParser:
    """Incremental parser of the exact framing of docs/protocol.md "SSE framing": every event is
    b"data: " + one line of compact JSON + b"\\n\\n".  Anything else is
    recorded in `errors`."""

    def __init__(self):
        self.buf = b""
        self.events = []
        self.errors = []

    def feed(self, data):
        self.buf += data
        while True:
            end = self.buf.find(b"\n\n")
            if end < 0:
                return
            frame, self.buf = self.buf[:end], self.buf[end + 2:]
            self._frame(frame)

    def _frame(self, frame):
        if not frame.startswith(b"data: ") or b"\n" in frame or b"\r" in frame:
            if not frame.startswith(b":"):  # comment lines are heartbeats, tolerated and skipped
                self.errors.append("bad SSE frame %r" % frame[:200])
            return
        line = frame[len(b"data: "):].decode("utf-8", "replace")
        try:
            event = json.loads(line)
        except ValueError:
            self.errors.append("SSE data is not JSON: %r" % line[:200])
            return
        compact = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        if compact != line:
            self.errors.append("SSE data is not compact JSON: %r" % line[:200])
        self.events.append(event)

    def finish(self):
        if self.buf:
            self.errors.append("stream ended inside a frame: %r" % self.buf[:200])


_HTTP_VERSIONS = {
    "1.1": pycurl.CURL_HTTP_VERSION_1_1,
    "h2c": pycurl.CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE,
    "h2-tls": pycurl.CURL_HTTP_VERSION_2TLS,
    "1.1-tls": pycurl.CURL_HTTP_VERSION_1_1,
}


def request(method, url, body=None, headers=None, http="1.1", timeout=15, cafile=None, max_events=None):
    """Performs one HTTP request with libcurl and returns a Response.

    `body` (bytes or str) is sent as is; `headers` is a dict.  `http` is one
    of "1.1", "h2c" (HTTP/2 prior knowledge on cleartext), "h2-tls" (HTTP/2
    via ALPN; give `cafile`) or "1.1-tls".  With `max_events` the body is
    parsed as SSE and the transfer is aborted (client disconnect) once that
    many events arrived.  A transfer error after the status line (e.g. the
    server answered 413 and closed while we were still sending) still returns
    the Response, with `curl_error` set; an error before it raises TestFailure.
    """
    c = pycurl.Curl()
    out = io.BytesIO()
    head = {}
    sse = SSEParser() if max_events is not None else None
    state = {"aborted": False}

    def on_header(line):
        line = line.decode("iso-8859-1").rstrip("\r\n")
        if line.startswith("HTTP/"):
            head.clear()
        elif ":" in line:
            k, v = line.split(":", 1)
            head[k.strip().lower()] = v.strip()

    def on_write(data):
        out.write(data)
        if sse is not None:
            sse.feed(data)
            if len(sse.events) >= max_events:
                state["aborted"] = True
                return -1
        return None

    c.setopt(pycurl.URL, url)
    c.setopt(pycurl.HTTP_VERSION, _HTTP_VERSIONS[http])
    c.setopt(pycurl.HEADERFUNCTION, on_header)
    c.setopt(pycurl.WRITEFUNCTION, on_write)
    c.setopt(pycurl.TIMEOUT_MS, int(timeout * 1000 * SLOW))
    c.setopt(pycurl.CONNECTTIMEOUT_MS, int(5000 * SLOW))
    c.setopt(pycurl.NOSIGNAL, 1)
    if cafile:
        c.setopt(pycurl.CAINFO, cafile)
    hdrs = {"Expect": ""}
    hdrs.update(headers or {})
    c.setopt(pycurl.HTTPHEADER, ["%s: %s" % (k, v) if v != "" else "%s:" % k for k, v in hdrs.items()])
    if body is not None:
        if isinstance(body, str):
            body = body.encode("utf-8")
        c.setopt(pycurl.POST, 1)
        c.setopt(pycurl.POSTFIELDSIZE_LARGE, len(body))
        c.setopt(pycurl.READDATA, io.BytesIO(body))
    if method not in ("GET", "POST") or (method == "GET" and body is not None):
        c.setopt(pycurl.CUSTOMREQUEST, method)
    elif method == "GET":
        c.setopt(pycurl.HTTPGET, 1)
    err = None
    try:
        c.perform()
    except pycurl.error as exc:
        err = exc
    status = c.getinfo(pycurl.RESPONSE_CODE)
    version = c.getinfo(pycurl.INFO_HTTP_VERSION)
    c.close()
    if err is not None and not state["aborted"] and status == 0:
        raise TestFailure("%s %s over %s failed: %s" % (method, url, http, err))
    if http in ("h2c", "h2-tls") and status > 0:
        check(version == pycurl.CURL_HTTP_VERSION_2_0,
              "%s %s: asked for %s but libcurl negotiated HTTP version code %s" % (method, url, http, version))
    events = None
    if sse is not None and head.get("content-type", "").startswith("text/event-stream"):
        if not state["aborted"]:
            sse.finish()
        check(not sse.errors, "SSE framing errors: %s" % "; ".join(sse.errors[:3]))
        events = sse.events
    return Response(status, dict(head), out.getvalue(), version,
                    events=events, aborted=state["aborted"], curl_error=None if state["aborted"] else err)


def multipart(fields, boundary=None):
    """Encodes `fields` (name -> (filename, content_type, bytes) or str) as
    multipart/form-data; returns (body bytes, content-type header value)."""
    boundary = boundary or "ckb" + uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        if isinstance(value, tuple):
            filename, ctype, data = value
            parts.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                          "Content-Type: %s\r\n\r\n" % (boundary, name, filename, ctype)).encode() + data + b"\r\n")
        else:
            parts.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
                          % (boundary, name, value)).encode())
    body = b"".join(parts) + ("--%s--\r\n" % boundary).encode()
    return body, "multipart/form-data; boundary=" + boundary


# --- PostgreSQL --------------------------------------------------------------

class PgCluster:
    """A throwaway PostgreSQL cluster (scripts/pg-local.sh) in `directory`
    (which must be reachable by the postgres user when running as root)."""

    def __init__(self, directory, port=None):
        self.dir = directory
        self.port = port or (20000 + int.from_bytes(os.urandom(2), "big") % 20000)
        self.conninfo = None

    def start(self):
        """Starts (initdb on first use) and returns the libpq conninfo."""
        out = subprocess.run([PG_LOCAL, "start", self.dir, str(self.port)], capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError("pg-local.sh start failed: %s" % out.stderr.strip())
        self.conninfo = out.stdout.strip().splitlines()[-1]
        return self.conninfo

    def stop(self):
        subprocess.run([PG_LOCAL, "stop", self.dir], capture_output=True, timeout=60)

    def restart(self):
        out = subprocess.run([PG_LOCAL, "restart", self.dir], capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError("pg-local.sh restart failed: %s" % out.stderr.strip())

    def psql(self, sql):
        """Runs `sql` in database chatkitd (ON_ERROR_STOP) and returns the
        unaligned, tuples-only output."""
        cmd = ["psql", "-h", self.dir, "-p", str(self.port), "-U", "postgres", "-d", "chatkitd",
               "-X", "-qAt", "-v", "ON_ERROR_STOP=1", "-f", "-"]
        if os.getuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        out = subprocess.run(cmd, input=sql, capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise TestFailure("psql failed: %s\nSQL: %s" % (out.stderr.strip(), sql[:500]))
        return out.stdout.strip()


def sql_literal(value):
    """A PostgreSQL string literal for `value` (dicts/lists become JSON text)."""
    if not isinstance(value, str):
        value = json.dumps(value)
    return "'" + value.replace("'", "''") + "'"


# --- the server --------------------------------------------------------------

class Server:
    """One chatkitd process listening on 127.0.0.1:<port>; output goes to
    `log_path`.  `tls` = (cert, key) serves HTTPS."""

    def __init__(self, binary, log_path, database_url=None, extra_env=None, tls=None, args=None):
        self.binary = binary
        self.args = list(args or [])  # command-line arguments; "{port}" in one becomes the port (below)
        self.log_path = log_path
        self.port = free_port()
        scheme = "https" if tls else "http"
        host = "localhost" if tls else "127.0.0.1"
        self.url = "%s://%s:%d" % (scheme, host, self.port)
        self.args = [a.replace("{port}", str(self.port)) for a in self.args]
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(_SCRUB_PREFIXES) and k not in _SCRUB_NAMES}
        env["CHATKITD_LISTEN"] = "127.0.0.1:%d" % self.port
        env.setdefault("CHATKITD_LOG_LEVEL", "debug")
        # Streams still open at SIGTERM are ended at once (the default grace
        # of 10 s is more than stop() waits); tests of the grace set their own.
        env["CHATKITD_SHUTDOWN_GRACE_SECONDS"] = "0"
        env["CHATKITD_LOG_FORMAT"] = "text"  # readable logs; tests of the JSON format set "json" or ""
        if database_url:
            env["DATABASE_URL"] = database_url
        if tls:
            env["CHATKITD_TLS_CERT"], env["CHATKITD_TLS_KEY"] = tls
        env.update(extra_env or {})
        self.env = env
        self.proc = None
        self.terminated = False  # stop() sent SIGTERM
        self.killed = False      # ... and had to SIGKILL

    def start(self):
        cmd = (VALGRIND_CMD + [self.binary] if VALGRIND else [self.binary]) + self.args
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def exited(self):
        """None while running, else a description of how the process ended."""
        if self.alive():
            return None
        return "%s exited with status %s" % (self.binary, self.proc.returncode if self.proc else "never started")

    def wait_listening(self, timeout=20, cafile=None):
        """Waits until GET /healthz answers at all (any status)."""
        http = "1.1-tls" if self.url.startswith("https") else "1.1"

        def up():
            return request("GET", self.url + "/healthz", http=http, timeout=2, cafile=cafile).status > 0
        try:
            wait_until(up, timeout, "the server to listen on %s" % self.url, give_up=self.exited)
        except TestFailure as exc:
            raise TestFailure("%s; log tail:\n%s" % (exc, self.log_tail()))

    def wait_ready(self, timeout=30, cafile=None):
        """Waits until GET /readyz answers 200."""
        http = "1.1-tls" if self.url.startswith("https") else "1.1"

        def ready():
            return request("GET", self.url + "/readyz", http=http, timeout=2, cafile=cafile).status == 200
        try:
            wait_until(ready, timeout, "%s/readyz to answer 200" % self.url, give_up=self.exited)
        except TestFailure as exc:
            raise TestFailure("%s; log tail:\n%s" % (exc, self.log_tail()))

    def stop(self):
        """SIGTERM, then SIGKILL after 10 s (times SLOW); returns the exit
        status (None if it was never started).  Idempotent."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.terminated = True
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10 * SLOW)
            except subprocess.TimeoutExpired:
                self.killed = True
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def verdict(self):
        """After stop(): None if the process ended cleanly, else why not.
        Not clean: a sanitizer report in the log, valgrind's error status
        (memory error or definite leak), death by a signal (e.g. SIGABRT
        from abort_on_error, SIGSEGV), a SIGTERM that did not end it within
        the timeout, or a non-zero status after our SIGTERM.  A server that
        exited by itself with another non-zero status (a refused
        configuration) is the test's business."""
        if self.proc is None:
            return None
        status = self.proc.returncode
        try:
            with open(self.log_path, "rb") as f:
                log = f.read()
        except OSError:
            log = b""
        found = SANITIZER_REPORT.search(log)
        excerpt = None
        if found:
            why = "sanitizer report %r" % found.group(0).decode("utf-8", "replace")
            start = log.rfind(b"\n", 0, found.start()) + 1
            excerpt = b"\n".join(log[start:].splitlines()[:60])
        elif VALGRIND and status == VALGRIND_STATUS:
            why = "valgrind found errors (exit status %d)" % status
            excerpt = b"\n".join(re.findall(rb"(?m)^==\d+==.*$", log)[-80:])
        elif self.killed:
            why = "did not stop within %ss of SIGTERM" % (10 * SLOW)
        elif status is not None and status < 0:
            why = "killed by signal %d" % -status
        elif self.terminated and status != 0:
            why = "exit status %s after SIGTERM" % status
        else:
            return None
        if excerpt is not None:
            return "%s: %s; log %s:\n%s" % (self.binary, why, self.log_path, excerpt.decode("utf-8", "replace"))
        return "%s: %s; log %s, tail:\n%s" % (self.binary, why, self.log_path, self.log_tail(40))

    def stop_checked(self):
        """stop(), then verdict(): None or the description of a problem."""
        self.stop()
        return self.verdict()

    def log_tail(self, lines=15):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read()[-8000:].decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(data.splitlines()[-lines:])


# --- what a test receives ------------------------------------------------------

class Env:
    """The fixtures of one test.

    env.server      base URL of the shared server (shared cluster, retrieval-only)
    env.pg          the shared PgCluster (psql, restart, ...)
    env.http        the HTTP version of this run of a protocol test
    env.new_user()  a user id no other test uses
    env.client(http=None, user=None)  a Client for a fresh (or given) user
    env.start_server(extra_env, database_url=..., tls=...)  a private server, stopped after the test
    env.new_pg()    a private cluster, stopped after the test
    """

    def __init__(self, suite, test_name, http="1.1"):
        self.suite = suite
        self.test_name = test_name
        self.http = http
        self.pg = suite.pg
        self.server = suite.server.url
        self.main_server = suite.server
        self._cleanups = []
        self._users = 0

    def new_user(self):
        self._users += 1
        slug = re.sub(r"[^a-z0-9]+", "-", self.test_name.lower()).strip("-")[:40]
        return "u-%s-%d-%s" % (slug, self._users, uuid.uuid4().hex[:8])

    def client(self, http=None, user=None, base=None, cafile=None):
        return Client(base or self.server, user or self.new_user(), http or self.http, cafile=cafile)

    def start_server(self, extra_env=None, database_url="shared", tls=None, wait="ready", args=None):
        """Starts a private chatkitd (database_url "shared" = the shared
        cluster, None = none) with the command-line arguments `args`
        ("{port}" in one stands for the server's port).
        wait: "ready" (/readyz 200), "listening" or None.  Returns the
        Server; it is stopped after the test."""
        if database_url == "shared":
            database_url = self.pg.conninfo
        n = len(self._cleanups)
        log = os.path.join(self.suite.tmp, "server-%s-%d.log" % (re.sub(r"\W+", "_", self.test_name), n))
        srv = Server(self.suite.binary, log, database_url=database_url, extra_env=extra_env, tls=tls, args=args)
        srv.start()
        self._cleanups.append(srv.stop_checked)
        cafile = tls[0] if tls else None
        if wait == "ready":
            srv.wait_ready(cafile=cafile)
        elif wait == "listening":
            srv.wait_listening(cafile=cafile)
        return srv

    def tls_server(self, extra_env=None):
        """A private server with HTTPS on its port (self-signed certificate
        for localhost/127.0.0.1, made once per suite); returns
        (server, cafile)."""
        cert, key = os.path.join(self.suite.tmp, "cert.pem"), os.path.join(self.suite.tmp, "key.pem")
        if not os.path.exists(cert):
            out = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                                  "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "2",
                                  "-keyout", key, "-out", cert], capture_output=True, text=True)
            check(out.returncode == 0, "openssl req: %s" % out.stderr)
            os.chmod(key, 0o644)
        return self.start_server(extra_env, tls=(cert, key)), cert

    def new_pg(self):
        """A private, started PgCluster (stopped after the test)."""
        d = os.path.join(self.suite.tmp, "pg-%s-%d" % (re.sub(r"\W+", "_", self.test_name), len(self._cleanups)))
        pg = PgCluster(d)
        self._cleanups.append(pg.stop)
        pg.start()
        return pg

    def tmp_path(self, name):
        return os.path.join(self.suite.tmp, "%s-%s" % (re.sub(r"\W+", "_", self.test_name), name))

    def cleanup(self):
        """Stops what the test started (best effort); returns the problems
        found on the way (a private server that crashed, leaked or did not
        stop: see Server.verdict), a list of strings."""
        problems = []
        while self._cleanups:
            try:
                problem = self._cleanups.pop()()
            except Exception:  # noqa: BLE001 - cleanup is best effort
                continue
            if isinstance(problem, str):
                problems.append(problem)
        return problems

    # Direct inserts (to control timestamps exactly: ties, ordering).

    def insert_thread(self, user, thread_id=None, created_at=None, title=None):
        """Inserts a thread row for `user`; returns its id."""
        thread_id = thread_id or "thr_t" + uuid.uuid4().hex[:16]
        created_at = created_at or ts(0)
        self.pg.psql("INSERT INTO chatkit.threads (id, user_id, created_at, title) VALUES (%s, %s, %s, %s);"
                     % (sql_literal(thread_id), sql_literal(user), sql_literal(created_at),
                        sql_literal(title) if title is not None else "NULL"))
        return thread_id

    def insert_threads(self, user, stamps, prefix=None):
        """Inserts one thread per created_at string in `stamps` (one SQL
        statement); returns their ids in the same order."""
        prefix = prefix or "thr_b" + uuid.uuid4().hex[:8] + "_"
        ids = ["%s%03d" % (prefix, i) for i in range(len(stamps))]
        rows = ["(%s, %s, %s)" % (sql_literal(i), sql_literal(user), sql_literal(t)) for i, t in zip(ids, stamps)]
        self.pg.psql("INSERT INTO chatkit.threads (id, user_id, created_at) VALUES\n" + ",\n".join(rows) + ";")
        return ids

    def insert_items(self, user, thread_id, items):
        """Inserts wire items (dicts with id, created_at, type, ...) into
        `thread_id`; thread_id is filled in."""
        rows = []
        for item in items:
            item = dict(item)
            item["thread_id"] = thread_id
            rows.append("(%s, %s, %s, %s, %s, %s::jsonb)" % (
                sql_literal(thread_id), sql_literal(item["id"]), sql_literal(user),
                sql_literal(item["created_at"]), sql_literal(item["type"]), sql_literal(item)))
        if rows:
            self.pg.psql("INSERT INTO chatkit.items (thread_id, id, user_id, created_at, type, data) VALUES\n"
                         + ",\n".join(rows) + ";")


def ts(offset_us):
    """A UTC timestamp "2030-01-01T00:00:00.000000Z" plus `offset_us`
    microseconds, in the server's wire format."""
    base = 1893456000  # 2030-01-01T00:00:00Z
    sec, us = divmod(offset_us, 1000000)
    t = time.gmtime(base + sec)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + ".%06dZ" % us


def ts_past(offset_us):
    """Like ts() but in 2020, i.e. before anything the server stamps "now";
    for items that must precede the items a streamed turn adds."""
    return ts(offset_us - 315619200 * 1000000)


def user_item(item_id, created_at, text="hi"):
    """A user_message wire item (thread_id filled in by insert_items)."""
    return {"id": item_id, "thread_id": "", "created_at": created_at, "type": "user_message",
            "content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}}


def assistant_item(item_id, created_at, text="hello"):
    return {"id": item_id, "thread_id": "", "created_at": created_at, "type": "assistant_message",
            "content": [{"annotations": [], "text": text, "type": "output_text"}]}


def widget_item(item_id, created_at):
    return {"id": item_id, "thread_id": "", "created_at": created_at, "type": "widget",
            "widget": {"type": "Card", "children": [{"id": "t", "type": "Text", "value": "hi"}]}}


def hidden_item(item_id, created_at):
    return {"id": item_id, "thread_id": "", "created_at": created_at, "type": "sdk_hidden_context",
            "content": "The user cancelled the stream. Stop responding to the prior request."}


class Client:
    """Protocol requests as one user over one HTTP version."""

    def __init__(self, base, user, http, cafile=None):
        self.base = base
        self.user = user
        self.http = http
        self.cafile = cafile

    def headers(self, extra=None):
        h = {USER_HEADER: self.user}
        h.update(extra or {})
        return h

    def raw(self, method, path, body=None, headers=None, auth=True, **kw):
        """Any request to `path`; returns the Response unvalidated."""
        h = self.headers(headers) if auth else dict(headers or {})
        return request(method, self.base + path, body=body, headers=h, http=self.http, cafile=self.cafile, **kw)

    def post_chatkit(self, body, headers=None, **kw):
        """POST /chatkit with `body` (a dict is JSON-encoded)."""
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        return self.raw("POST", "/chatkit", body=body, headers=h, **kw)

    def call(self, rtype, params, expect=200):
        """A non-streaming request.  With expect=200 the body is validated
        against resp.<rtype> (and for nulls) and returned as a dict; with a
        4xx/5xx `expect` the JSON error object is checked and returned."""
        resp = self.post_chatkit({"type": rtype, "params": params})
        if expect != 200:
            return assert_error_body(resp, expect)
        check(resp.status == 200, "%s %s: HTTP %s %s" % (rtype, _short(params, 200), resp.status, resp.text()[:400]))
        check(resp.content_type().startswith("application/json"),
              "%s: content-type %r (want application/json)" % (rtype, resp.content_type()))
        body = resp.json()
        validate("resp." + rtype, body)
        assert_no_nulls(body)
        return body

    def stream(self, rtype, params, max_events=None, expect=200):
        """A streaming request; returns the Response whose `events` are
        validated (event.<type> schema, no nulls).  With `max_events` the
        client disconnects after that many events."""
        resp = self.post_chatkit({"type": rtype, "params": params}, max_events=max_events or 10 ** 9, timeout=60)
        if expect != 200:
            assert_error_body(resp, expect)
            return resp
        check(resp.status == 200, "%s: HTTP %s %s" % (rtype, resp.status, resp.text()[:400]))
        check(resp.content_type().startswith("text/event-stream"),
              "%s: content-type %r (want text/event-stream)" % (rtype, resp.content_type()))
        check(resp.aborted or resp.curl_error is None, "%s: stream did not end cleanly: %s" % (rtype, resp.curl_error))
        for ev in resp.events:
            check(isinstance(ev, dict) and isinstance(ev.get("type"), str), "event without type: %r" % ev)
            validate("event." + ev["type"], ev)
            assert_no_nulls(ev)
        return resp

    def create_thread(self, text="Hello"):
        """threads.create with one text message; returns (thread_id, events)."""
        resp = self.stream("threads.create", {"input": user_input(text)})
        check(resp.events and resp.events[0]["type"] == "thread.created",
              "threads.create: first event is not thread.created: %r" % resp.events[:1])
        return resp.events[0]["thread"]["id"], resp.events


# A 1x1 PNG image.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def user_input(text, attachments=None):
    """A UserMessageInput with one input_text part."""
    return {"content": [{"type": "input_text", "text": text}], "attachments": attachments or [],
            "inference_options": {}}
