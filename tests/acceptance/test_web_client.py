"""test_web_client.py - the browser client: GET /chat, /chat/assets/...,
/widget.js over HTTP (headers, Content-Security-Policy, identity mode), and
the browser scenarios of tests/browser/web_client.cjs in Debian's headless
Chromium against a real server (its own PostgreSQL with a small ingested
corpus, the fake model fake_openai.py) plus a page on a second origin that
embeds /widget.js.  Screenshots go to <build dir>/browser-artifacts/."""

import functools
import http.server
import json
import os
import struct
import subprocess
import sys
import threading
import time
import zlib

from lib import SLOW, check, request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from test_agent_model import Fake  # noqa: E402  (same fake-model fixture)
from test_security import SECRET, claims, hs_token  # noqa: E402  (same JWT helpers)

PAGING_USER = "dev-pagingtest01"   # the development user whose 35 threads page in the list
JWT_USER = "jwt-web-user"


def _csp(resp):
    return {d.strip().split(" ", 1)[0]: d.strip() for d in resp.headers.get("content-security-policy", "").split(";") if d.strip()}


def test_web_client_routes(env):
    page = request("GET", env.server + "/chat")
    check(page.status == 200 and page.content_type().startswith("text/html"), "GET /chat: %s %s" % (page.status, page.content_type()))
    html = page.text()
    check('data-auth="dev"' in html and "@AUTH@" not in html, "identity mode not filled in")
    check('aria-label="Message"' in html, "no composer")
    csp = _csp(page)
    for directive in ("default-src 'self'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'self'"):
        check(directive in csp.values(), "CSP lacks %s: %r" % (directive, csp))
    check("unsafe-inline" not in page.headers.get("content-security-policy", ""), "CSP allows inline code")
    check("<script>" not in html and " on" + "click=" not in html, "inline script in the page")
    check(page.headers.get("x-content-type-options") == "nosniff", "nosniff missing")
    embed = request("GET", env.server + "/chat?embed=1")
    check(_csp(embed).get("frame-ancestors") == "frame-ancestors *", "the embed page must be frameable: %r" % _csp(embed))
    for name, ctype in (("chat.js", "text/javascript"), ("chat.css", "text/css"), ("marked.esm.js", "text/javascript"),
                        ("purify.min.js", "text/javascript"), ("icon.svg", "image/svg+xml")):
        r = request("GET", env.server + "/chat/assets/" + name)
        check(r.status == 200 and r.content_type().startswith(ctype) and len(r.body) > 100, "%s: %s %s" % (name, r.status, r.content_type()))
        check(b"sourceMappingURL" not in r.body[-200:], "%s points at a source map that is not served" % name)
    widget = request("GET", env.server + "/widget.js")
    check(widget.status == 200 and widget.content_type().startswith("text/javascript"), "widget.js: %s" % widget.status)
    check(b"chatkitd:request" in widget.body, "widget.js body")
    missing = request("GET", env.server + "/chat/assets/nope.js")
    check(missing.status == 404 and missing.json()["error"]["code"] == "not_found", "unknown asset: %s" % missing.status)
    post = request("POST", env.server + "/chat", body="x")
    check(post.status == 405 and "GET" in post.headers.get("allow", ""), "POST /chat: %s" % post.status)


def test_web_client_jwt_mode(env):
    srv = env.start_server({"CHATKITD_JWT_SECRET": "s" * 32})
    page = request("GET", srv.url + "/chat")
    check(page.status == 200 and 'data-auth="jwt"' in page.text(), "JWT mode not announced to the page")


def _png(width, height):
    """A small RGB gradient PNG (the upload fixture)."""
    rows = b"".join(b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 180)) for x in range(width))
                    for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'self'; script-src 'self' {chat}; frame-src {chat}; style-src 'self'">
<meta name="description" content="Plans and limits for teams">
<title>Pricing for teams</title>
<script src="/host.js"></script>
<script src="{chat}/widget.js" async></script>
</head><body>
<h1>Pricing</h1><h2>Plans and limits</h2>
<p id="pick">The Pro plan includes SSO and audit logs.</p>
<p><a href="#top">A link on the host page</a></p>
</body></html>
"""

HOST_JS = 'window.chatkitdUserInfo = { name: "Ada Lovelace", role: "admin" };\n'

JWT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'self'; script-src 'self' {chat}; frame-src {chat}">
<title>Members area</title>
<script src="/jwt-setup.js"></script>
<script src="{chat}/widget.js" async></script>
</head><body><h1>Members area</h1></body></html>
"""

# the host page's token source: a promise, as a real page would fetch it from its backend
JWT_JS = 'window.chatkitdGetToken = () => new Promise((resolve) => setTimeout(() => resolve("{token}"), 10));\n'


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass


def _host_site(env, directory, chat_url, jwt_url, token):
    """A static site on another port (another origin) embedding the widget:
    host.html (development-mode server), jwt.html (JWT server + token)."""
    os.makedirs(directory, exist_ok=True)
    files = {"host.html": HOST_PAGE.format(chat=chat_url), "host.js": HOST_JS,
             "jwt.html": JWT_PAGE.format(chat=jwt_url), "jwt-setup.js": JWT_JS.replace("{token}", token)}
    for name, text in files.items():
        with open(os.path.join(directory, name), "w") as f:
            f.write(text)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=directory))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop():
        server.shutdown()
        server.server_close()
    env._cleanups.append(stop)
    return "http://127.0.0.1:%d" % server.server_address[1]


def test_web_client_browser(env):
    artifacts = os.path.join(os.path.dirname(os.path.abspath(env.suite.binary)), "browser-artifacts")
    os.makedirs(artifacts, exist_ok=True)
    with open(os.path.join(artifacts, "fixture.png"), "wb") as f:
        f.write(_png(96, 64))
    # a private cluster with a one-page corpus, so answers can cite a source
    pg = env.new_pg()
    corpus = env.tmp_path("corpus")
    os.makedirs(corpus, exist_ok=True)
    with open(os.path.join(corpus, "zebra.md"), "w") as f:
        f.write("# Zebra tuning\n\nThe zebra buffer is configured with ZEBRA_STRIPES=42 in the stable release.\n")
    for cmd in (["migrate"], ["ingest", corpus]):
        out = subprocess.run([env.suite.binary] + cmd, env=dict(os.environ, DATABASE_URL=pg.conninfo), capture_output=True,
                             text=True, timeout=60 * SLOW)
        check(out.returncode == 0, "chatkitd %s: %s" % (cmd[0], out.stderr[-800:]))
    fake = Fake(env)
    srv = env.start_server({"OPENAI_BASE_URL": fake.url + "/v1", "OPENAI_API_KEY": "sk-fake", "CHATKITD_MODEL": "fake-model",
                            "CHATKITD_UPSTREAM_RETRIES": "0", "CHATKITD_WORKERS": "2",
                            "CHATKITD_RATE_TURNS_PER_MIN": "100000", "CHATKITD_RATE_REQUESTS_PER_MIN": "100000"},
                           database_url=pg.conninfo)
    # the same database and model behind JWT auth, for the widget's token handshake
    # (with two assistants, so the page shows its assistant picker)
    assistants = env.tmp_path("assistants.json")
    with open(assistants, "w") as f:
        json.dump({"assistants": [
            {"id": "tax", "name": "Ledger", "description": "Taxes", "instructions": "You are Ledger.", "tools": []},
            {"id": "docs", "name": "Librarian", "description": "Docs", "instructions": "You are Librarian.",
             "default": True}]}, f)
    jwt_srv = env.start_server({"OPENAI_BASE_URL": fake.url + "/v1", "OPENAI_API_KEY": "sk-fake",
                                "CHATKITD_MODEL": "fake-model", "CHATKITD_UPSTREAM_RETRIES": "0", "CHATKITD_WORKERS": "1",
                                "CHATKITD_JWT_SECRET": SECRET, "CHATKITD_ASSISTANTS": assistants}, database_url=pg.conninfo)
    token = hs_token(claims(JWT_USER, iss=None, aud=None, exp=int(time.time()) + 3600))
    host = _host_site(env, env.tmp_path("host"), srv.url, jwt_srv.url, token)
    pg.psql("INSERT INTO chatkit.threads (id, user_id, created_at, title) SELECT 'thr_page' || lpad(g::text, 3, '0'), "
            "'%s', now() - g * interval '1 hour', 'Archived topic ' || g FROM generate_series(1, 35) g;" % PAGING_USER)
    node_env = dict(os.environ, CHATKITD_URL=srv.url, FAKE_URL=fake.url, HOST_URL=host, ARTIFACTS=artifacts, SLOW=str(SLOW),
                    JWT_URL=jwt_srv.url, JWT_TOKEN=token, PAGING_USER=PAGING_USER)
    log_path = os.path.join(artifacts, "browser.log")
    with open(log_path, "w") as log:
        try:
            proc = subprocess.Popen(["node", os.path.join(ROOT, "tests", "browser", "web_client.cjs")], env=node_env,
                                    stdout=log, stderr=subprocess.STDOUT)
        except FileNotFoundError:
            check(False, "node is not installed (make deps-test installs it)")
        try:
            code = proc.wait(timeout=600 * SLOW)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = "timeout"
    with open(log_path) as f:
        report = f.read().strip()
    print(report)
    check(code == 0, "browser scenarios failed (%s):\n%s" % (code, report[-6000:]))
    with open(os.path.join(artifacts, "results.json")) as f:
        results = json.load(f)
    # what the page did is in the database
    fb = results["feedback"]
    kind = pg.psql("SELECT kind FROM chatkit.feedback WHERE item_id = '%s'" % fb["item"]).strip()
    check(kind == "positive", "feedback row: %r" % kind)
    gone = pg.psql("SELECT count(*) FROM chatkit.threads WHERE id = '%s'" % results["threads"]["deleted"]).strip()
    check(gone == "0", "deleted thread still stored")
    title = pg.psql("SELECT title FROM chatkit.threads WHERE id = '%s'" % results["threads"]["renamed"]).strip()
    check(title == "Renamed in the browser", "renamed title stored as %r" % title)
    owner = pg.psql("SELECT user_id FROM chatkit.threads WHERE id = '%s'" % results["jwt"]["thread"]).strip()
    check(owner == JWT_USER, "the widget's thread belongs to %r, not to the token's subject" % owner)
