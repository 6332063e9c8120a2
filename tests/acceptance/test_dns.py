"""test_dns.py - DATABASE_URL naming its host by name (src/store/resolve.c):
the admin thread resolves it and the worker stores connect through the
published addresses (hostaddr), so a `postgresql://...@localhost:PORT/...`
URL gets the server ready and serving.  The test clusters listen only on a
unix socket, so a small TCP relay on 127.0.0.1 stands in for a TCP listener."""

import os
import re
import socket
import threading

from lib import check, wait_until


class _Relay:
    """Accepts TCP connections on 127.0.0.1:<port> and pipes each to the
    cluster's unix socket; counts the connections it relayed."""

    def __init__(self, unix_path):
        self.unix_path = unix_path
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                upstream.connect(self.unix_path)
            except OSError:
                client.close()
                continue
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.sock.close()


def test_database_url_with_host_name(env):
    relay = _Relay(os.path.join(env.pg.dir, ".s.PGSQL.%d" % env.pg.port))
    try:
        url = "postgresql://postgres@localhost:%d/chatkitd" % relay.port
        srv = env.start_server({"CHATKITD_WORKERS": "2"}, database_url=url)
        c = env.client(base=srv.url)

        def connections_up():
            with open(srv.log_path, encoding="utf-8", errors="replace") as f:
                return len(re.findall(r"store: connection \d+ up", f.read()))
        # /readyz answers for the worker that took it; a worker that started
        # before the admin thread resolved the name connects on its next
        # reconnect tick, so wait until both workers' 2 connections are up.
        wait_until(lambda: connections_up() >= 4, 15, "both workers' store connections")
        page = c.call("threads.list", {"limit": 5, "order": "desc"})
        check(page["data"] == [], "a new user has no threads: %r" % page)
        with open(srv.log_path, encoding="utf-8", errors="replace") as f:
            log = f.read()
        check(re.search(r"database host localhost resolved to [0-9a-f.:,]+", log),
              "the admin thread logs the resolution; log tail:\n%s" % srv.log_tail())
        check(len(re.findall(r"resolved to", log)) == 1, "the resolution is logged once, not every pass")
        # migrations (admin) + at least one worker connection went through the relay
        wait_until(lambda: relay.accepted >= 2, 5, "connections through the TCP relay")
    finally:
        relay.close()
