"""test_upgrade.py - a database created with the SQL layout before
sql/schema/ + sql/functions/ (the files of commit c46afa9, kept in
fixtures/sql_c46afa9/ and applied the way that commit's runner applied them)
is upgraded in place by the current binary: every row survives, the reads
answer exactly what they answered before, the functions the server no longer
defines are dropped, the dispatchers keep their row-security attributes, and
a restart with unchanged function files does not re-apply them, while a
changed checksum re-applies them all."""

import json
import os

from lib import assistant_item, check, hidden_item, sql_literal, ts, user_item

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "fixtures", "sql_c46afa9")

# Functions of the old layout that no file of sql/functions/ defines.
REMOVED = ("op", "op_items_list", "op_threads_list", "op_threads_get_by_id", "op_history", "items_page")

# Every row of the user tables, as one digest per table.
FINGERPRINT = """
SELECT string_agg(t || ':' || h, ' ' ORDER BY t) FROM (
  SELECT 'threads' AS t, md5(coalesce(string_agg(x::text, '|' ORDER BY x.id), '')) AS h FROM chatkit.threads x
  UNION ALL SELECT 'items', md5(coalesce(string_agg(x::text, '|' ORDER BY x.thread_id, x.id), '')) FROM chatkit.items x
  UNION ALL SELECT 'attachments', md5(coalesce(string_agg(x::text, '|' ORDER BY x.id), '')) FROM chatkit.attachments x
  UNION ALL SELECT 'feedback', md5(coalesce(string_agg(x::text, '|' ORDER BY x.thread_id, x.item_id), '')) FROM chatkit.feedback x
  UNION ALL SELECT 'documents', md5(coalesce(string_agg(x.source || x.sha256, '|' ORDER BY x.id), '')) FROM chatkit.documents x
  UNION ALL SELECT 'chunks', md5(coalesce(string_agg(x::text, '|' ORDER BY x.id), '')) FROM chatkit.chunks x
) s;
"""


def _apply_old_layout(pg):
    """What the runner of c46afa9 did: each file in its own transaction with
    its row in chatkit.schema_migrations."""
    pg.psql("CREATE SCHEMA IF NOT EXISTS chatkit;"
            "CREATE TABLE IF NOT EXISTS chatkit.schema_migrations ("
            " version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());")
    for name in sorted(os.listdir(FIXTURE)):
        with open(os.path.join(FIXTURE, name)) as f:
            sql = f.read()
        pg.psql("BEGIN;\n%s\nINSERT INTO chatkit.schema_migrations (version, name) VALUES (%d, %s);\nCOMMIT;"
                % (sql, int(name[:3]), sql_literal(name)))


def _op(pg, op, user, params):
    """One op through the dispatcher of the database (old or new), as JSON."""
    out = pg.psql("SELECT chatkit.op_text(%s, %s, %s::jsonb);" % (sql_literal(op), sql_literal(user),
                                                                  sql_literal(params)))
    return json.loads(out)


def _fill(pg, a, b):
    """Threads, items (hidden ones too), an attachment bound to a message,
    feedback, a title and a corpus document, written by the old functions."""
    for user, tid in ((a, "thr_up_a"), (b, "thr_up_b")):
        first = dict(user_item("m0_" + tid, ts(1), "first"), thread_id=tid)
        _op(pg, "turn.create", user, {"thread": {"id": tid, "created_at": ts(0)}, "item": first, "attachment_ids": []})
    items = [assistant_item("m1", ts(2), 'an "answer"'), hidden_item("m2", ts(3)), assistant_item("m3", ts(4))]
    for it in items:
        _op(pg, "item.add", a, {"thread_id": "thr_up_a", "item": dict(it, thread_id="thr_up_a")})
    pg.psql("SELECT * FROM chatkit.op_bytes('attachments.create_direct', %s, %s::jsonb, '\\x68656c6c6f');"
            % (sql_literal(a), sql_literal({"id": "atc_up", "name": "a.txt", "mime_type": "text/plain",
                                            "type": "file"})))
    msg = dict(user_item("m4", ts(5), "with a file"), thread_id="thr_up_a")
    _op(pg, "turn.add_message", a, {"thread_id": "thr_up_a", "item": msg, "attachment_ids": ["atc_up"]})
    _op(pg, "items.feedback", a, {"thread_id": "thr_up_a", "item_ids": ["m1"], "kind": "positive"})
    _op(pg, "threads.update", a, {"thread_id": "thr_up_a", "title": "Before the upgrade"})
    pg.psql("SELECT chatkit.corpus_put_document('docs/up.md', 'abc', 'Up', '[{\"title\":\"Up\",\"text\":\"zebras upgrade\"}]');")


def _reads(pg, a, b):
    """The answers of the read ops for both users, through the old layout's
    dispatcher."""
    return {
        "threads.list a": _op(pg, "threads.list", a, {}),
        "threads.list b": _op(pg, "threads.list", b, {"order": "asc"}),
        "get_by_id": _op(pg, "threads.get_by_id", a, {"thread_id": "thr_up_a"}),
        "items.list desc": _op(pg, "items.list", a, {"thread_id": "thr_up_a", "limit": 2}),
        "items.list asc": _op(pg, "items.list", a, {"thread_id": "thr_up_a", "order": "asc", "after": "m1"}),
        "history": _op(pg, "history", a, {"thread_id": "thr_up_a"}),
        "attachments.load": _op(pg, "attachments.load", a, {"attachment_ids": ["atc_up"]}),
        "search": _op(pg, "search", a, {"query": "zebras"}),
    }


def _reads_now(env, srv, pg, a, b):
    """The same answers from the upgraded database: the hot reads are no ops
    of the dispatcher any more (the server answers them in C), so they come
    over HTTP; history is what context.load answers (the same window)."""
    ca, cb = env.client("1.1", user=a, base=srv.url), env.client("1.1", user=b, base=srv.url)
    return {
        "threads.list a": ca.call("threads.list", {}),
        "threads.list b": cb.call("threads.list", {"order": "asc"}),
        "get_by_id": ca.call("threads.get_by_id", {"thread_id": "thr_up_a"}),
        "items.list desc": ca.call("items.list", {"thread_id": "thr_up_a", "limit": 2}),
        "items.list asc": ca.call("items.list", {"thread_id": "thr_up_a", "order": "asc", "after": "m1"}),
        "history": {"items": _op(pg, "context.load", a, {"thread_id": "thr_up_a", "limit": 10})["items"]},
        "attachments.load": _op(pg, "attachments.load", a, {"attachment_ids": ["atc_up"]}),
        "search": _op(pg, "search", a, {"query": "zebras"}),
    }


def test_old_layout(env):
    pg = env.new_pg()
    _apply_old_layout(pg)
    a, b = env.new_user(), env.new_user()
    _fill(pg, a, b)
    before_rows = pg.psql(FINGERPRINT)
    before = _reads(pg, a, b)
    check(pg.psql("SELECT count(*) FROM pg_proc WHERE proname = 'op' AND pronamespace = 'chatkit'::regnamespace") == "1",
          "the fixture did not create the old dispatcher chatkit.op")

    srv = env.start_server(database_url=pg.conninfo)
    check(pg.psql(FINGERPRINT) == before_rows, "rows changed by the upgrade")
    after = _reads_now(env, srv, pg, a, b)
    for k in before:
        check(after[k] == before[k], "%s after the upgrade:\n  %s\nbefore:\n  %s" % (k, after[k], before[k]))

    # Row ownership unchanged; the read ops are gone from the dispatcher.
    ca, cb = env.client("1.1", user=a, base=srv.url), env.client("1.1", user=b, base=srv.url)
    cb.call("threads.get_by_id", {"thread_id": "thr_up_a"}, expect=404)
    src = pg.psql("SELECT prosrc FROM pg_proc WHERE oid = 'chatkit.op_text(text, text, jsonb)'::regprocedure;")
    for op in ("items.list", "threads.list", "threads.get_by_id", "history"):
        check("'%s'" % op not in src, "the dispatcher still answers %s" % op)
    check(ca.call("threads.update", {"thread_id": "thr_up_a", "title": "After"})["title"] == "After",
          "a write after the upgrade")

    # Functions: the removed ones are gone, the dispatchers run as chatkit_owner.
    gone = pg.psql("SELECT string_agg(proname, ',') FROM pg_proc WHERE pronamespace = 'chatkit'::regnamespace"
                   " AND proname IN (%s);" % ",".join(sql_literal(n) for n in REMOVED))
    check(gone == "", "functions the server no longer defines are still there: %s" % gone)
    attrs = pg.psql("SELECT string_agg(proname || ':' || pg_get_userbyid(proowner) || ':' || prosecdef, ',' ORDER BY proname)"
                    " FROM pg_proc WHERE pronamespace = 'chatkit'::regnamespace AND proname IN ('op_text', 'op_bytes');")
    check(attrs == "op_bytes:chatkit_owner:true,op_text:chatkit_owner:true", "dispatcher attributes: %s" % attrs)
    versions = pg.psql("SELECT string_agg(version::text, ',' ORDER BY version) FROM chatkit.schema_migrations;")
    check(versions.startswith("1,2,3,4,6"), "recorded migrations: %s" % versions)

    # A restart with the same function files applies nothing.
    stamp = pg.psql("SELECT checksum || ' ' || applied_at FROM chatkit.schema_functions;")
    check(stamp.strip() != "", "no function checksum recorded")
    srv.stop()
    srv2 = env.start_server(database_url=pg.conninfo)
    check(pg.psql("SELECT checksum || ' ' || applied_at FROM chatkit.schema_functions;") == stamp,
          "the function files were re-applied although they did not change")

    # A recorded checksum that differs (the files changed since) makes the
    # next start re-apply every function file, restoring a dropped one.
    srv2.stop()
    pg.psql("DROP FUNCTION chatkit.op_thread_load(text, jsonb);"
            "UPDATE chatkit.schema_functions SET checksum = 'changed';")
    srv3 = env.start_server(database_url=pg.conninfo)
    check(pg.psql("SELECT count(*) FROM pg_proc WHERE oid = to_regprocedure('chatkit.op_thread_load(text, jsonb)');")
          == "1", "the dropped function was not re-created")
    check(pg.psql("SELECT checksum <> 'changed' FROM chatkit.schema_functions;") == "t", "checksum not recorded")
    ca = env.client("1.1", user=a, base=srv3.url)
    check(ca.call("threads.get_by_id", {"thread_id": "thr_up_a"})["title"] == "After", "reads after the re-application")
