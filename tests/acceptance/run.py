#!/usr/bin/python3
"""run.py - the chatkitd acceptance test runner (no pytest).

    /usr/bin/python3 tests/acceptance/run.py --binary build/chatkitd [-k SUBSTR] [--keep]

Starts ONE throwaway PostgreSQL cluster (scripts/pg-local.sh, under /tmp so
the postgres user can reach it) and one chatkitd on a free port against it,
waits for /readyz, then runs every `def test_*(env)` of every
tests/acceptance/test_*.py module, in file and definition order.  A test
whose signature also takes `http` runs once per HTTP version ("1.1", "h2c"),
named test_x[1.1] / test_x[h2c].  Prints one line per test and ends with
"N passed, N failed"; exits 1 if anything failed.  Everything started is
stopped at exit, also on Ctrl-C.  --keep keeps the temporary directory
(server logs, cluster) and prints where it is.
"""

import argparse
import importlib.util
import inspect
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import lib  # noqa: E402  (needs the path above)


class Suite:
    """What lives for the whole run: the shared cluster and server."""

    def __init__(self, binary, tmp):
        self.binary = binary
        self.tmp = tmp
        self.pg = lib.PgCluster(os.path.join(tmp, "pg"))
        self.server = None
        self.restarts = 0

    def start(self):
        self.pg.start()
        self.start_server()

    def start_server(self):
        log = os.path.join(self.tmp, "server-main-%d.log" % self.restarts)
        self.restarts += 1
        # Tests walk pages one request at a time (a 45-item walk with limit 1
        # is ~90 requests for one user), so the shared server's per-user
        # limits are raised; the limits themselves are tested on private
        # servers (test_security*).
        limits = {"CHATKITD_RATE_REQUESTS_PER_MIN": "1000000", "CHATKITD_RATE_TURNS_PER_MIN": "1000000"}
        self.server = lib.Server(self.binary, log, database_url=self.pg.conninfo, extra_env=limits).start()
        self.server.wait_ready(timeout=30)

    def stop(self):
        """Stops the shared server and cluster; returns None or why the
        server did not end cleanly (Server.verdict)."""
        problem = self.server.stop_checked() if self.server is not None else None
        self.pg.stop()
        return problem


def discover(pattern):
    """Yields (name, function, http) for every selected test."""
    for fname in sorted(os.listdir(HERE)):
        if not (fname.startswith("test_") and fname.endswith(".py")):
            continue
        spec = importlib.util.spec_from_file_location(fname[:-3], os.path.join(HERE, fname))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        funcs = [f for n, f in vars(module).items() if n.startswith("test_") and inspect.isfunction(f)
                 and f.__module__ == module.__name__]
        funcs.sort(key=lambda f: f.__code__.co_firstlineno)
        for f in funcs:
            base = "%s.%s" % (fname[:-3], f.__name__)
            variants = [(base + "[%s]" % h, h) for h in lib.PROTOCOLS] \
                if "http" in inspect.signature(f).parameters else [(base, None)]
            for name, http in variants:
                if pattern is None or pattern in name:
                    yield name, f, http


def run_one(suite, name, func, http):
    """Runs one test and stops what it started; returns None on success or
    a failure description (the test's own, then any private server that
    crashed, leaked or reported a sanitizer/valgrind error)."""
    env = lib.Env(suite, name, http or "1.1")
    problem = call_test(env, func, http)
    problems = ([problem] if problem else []) + env.cleanup()
    return "\n".join(problems) or None


def call_test(env, func, http):
    """Calls the test function; returns None or a failure description."""
    try:
        if http is None:
            func(env)
        else:
            func(env, http)
        return None
    except lib.TestFailure as exc:
        return str(exc)
    except AssertionError as exc:
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        return "assertion failed at %s:%d: %s %s" % (os.path.basename(tb.filename), tb.lineno, tb.line, exc)
    except Exception:  # noqa: BLE001 - a crashing test is a failed test
        return traceback.format_exc(limit=6)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", required=True)
    ap.add_argument("-k", dest="pattern", help="only tests whose name contains this")
    ap.add_argument("--keep", action="store_true", help="keep logs and the cluster directory")
    args = ap.parse_args()
    binary = os.path.abspath(args.binary)
    if not os.access(binary, os.X_OK):
        print("no executable %s (run make first)" % binary)
        return 2

    tests = list(discover(args.pattern))
    tmp = tempfile.mkdtemp(prefix="chatkitd-acceptance-", dir="/tmp")
    os.chmod(tmp, 0o755)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    suite = Suite(binary, tmp)
    passed = failed = 0
    t0 = time.monotonic()
    try:
        try:
            suite.start()
        except Exception as exc:  # noqa: BLE001
            print("cannot start the test environment: %s" % exc)
            print("0 passed, %d failed" % len(tests))
            return 1
        for name, func, http in tests:
            start = time.monotonic()
            problem = run_one(suite, name, func, http)
            if not suite.server.alive():
                death = "the shared server died (exit %s); %s" % (
                    suite.server.proc.returncode, suite.server.stop_checked() or suite.server.log_tail())
                problem = death if problem is None else problem + "\n" + death
                suite.start_server()
            took = time.monotonic() - start
            if problem is None:
                passed += 1
                print("ok   %-70s %6.2fs" % (name, took), flush=True)
            else:
                failed += 1
                print("FAIL %-70s %6.2fs\n     %s" % (name, took, problem.replace("\n", "\n     ")), flush=True)
    except KeyboardInterrupt:
        print("interrupted")
        failed += 1
    finally:
        problem = suite.stop()
        if problem is not None:
            failed += 1
            print("FAIL %-70s\n     %s" % ("shared server at exit", problem.replace("\n", "\n     ")), flush=True)
        if args.keep:
            print("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("(%.1fs)" % (time.monotonic() - t0))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
