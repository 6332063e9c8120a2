"""test_isolation.py - tenant isolation: user B can neither read nor change
anything of user A (threads, items, feedback, widget actions, attachments,
downloads) and always gets "not found" (404, never 403, so ids do not leak
existence); A's data is byte-for-byte unchanged afterwards
(src/store/README.md invariants)."""

import urllib.parse

from lib import (PNG, assistant_item, check, multipart, request, ts, user_input, user_item, widget_item)



def _seed(env, a):
    """A thread with three items and an uploaded image for user `a`."""
    tid = env.insert_thread(a.user, created_at=ts(0), title="A's secret")
    env.insert_items(a.user, tid, [user_item("msg_ia", ts(1), "private"), assistant_item("msg_ib", ts(2)),
                                   widget_item("w_ic", ts(3))])
    body, ctype = multipart({"file": ("a.png", "image/png", PNG)})
    resp = a.raw("POST", "/attachments/upload", body=body, headers={"Content-Type": ctype})
    check(resp.status == 200, "direct upload for A: %r" % resp)
    return tid, resp.json()


def _snapshot(a, tid):
    return (a.call("threads.get_by_id", {"thread_id": tid}),
            a.call("items.list", {"thread_id": tid, "limit": 100}),
            a.call("threads.list", {}))


def test_user_b_cannot_touch_user_a(env, http):
    a, b = env.client(http), env.client(http)
    tid, att = _seed(env, a)
    before = _snapshot(a, tid)
    b.call("threads.get_by_id", {"thread_id": tid}, expect=404)
    b.call("items.list", {"thread_id": tid}, expect=404)
    b.call("threads.update", {"thread_id": tid, "title": "pwned"}, expect=404)
    b.call("threads.delete", {"thread_id": tid}, expect=404)
    b.call("items.feedback", {"thread_id": tid, "item_ids": ["msg_ib"], "kind": "negative"}, expect=404)
    b.call("threads.sync_custom_action", {"thread_id": tid, "item_id": "w_ic", "action": {"type": "x"}}, expect=404)
    b.call("attachments.delete", {"attachment_id": att["id"]}, expect=404)
    check(b.call("threads.list", {}) == {"data": [], "has_more": False}, "B sees A's threads")
    b.call("threads.list", {"after": tid}, expect=400)
    check(_snapshot(a, tid) == before, "A's data changed after B's attempts")
    rows = env.pg.psql("SELECT count(*) FROM chatkit.feedback WHERE thread_id = '%s';" % tid)
    check(rows == "0", "B's feedback on A's item was stored")


def test_user_b_cannot_stream_into_user_a(env, http):
    a, b = env.client(http), env.client(http)
    tid, att = _seed(env, a)
    before = _snapshot(a, tid)
    b.stream("threads.add_user_message", {"thread_id": tid, "input": user_input("hi")}, expect=404)
    b.stream("threads.retry_after_item", {"thread_id": tid, "item_id": "msg_ia"}, expect=404)
    b.stream("threads.custom_action", {"thread_id": tid, "item_id": "w_ic", "action": {"type": "x"}}, expect=404)
    b.stream("threads.create", {"input": user_input("steal", [att["id"]])}, expect=404)
    check(_snapshot(a, tid) == before, "A's data changed after B's attempts")
    n = env.pg.psql("SELECT count(*) FROM chatkit.threads WHERE user_id = '%s';" % b.user)
    check(n == "0", "a failed threads.create of B left %s thread(s) behind" % n)
    owner = env.pg.psql("SELECT user_id || '|' || coalesce(thread_id, '') FROM chatkit.attachments WHERE id = '%s';"
                        % att["id"])
    check(owner == a.user + "|", "A's attachment was claimed: %r" % owner)


def test_user_b_cannot_download_user_a(env, http):
    a, b = env.client(http), env.client(http)
    _, att = _seed(env, a)
    url = att["preview_url"]
    if url.startswith("data:"):
        return  # inline preview: there is no download endpoint to protect
    mine = request("GET", url, headers=a.headers(), http=http)
    check(mine.status == 200 and mine.body == PNG, "A cannot download its own attachment: %r" % mine)
    parts = urllib.parse.urlsplit(url)
    if not parts.query:
        theirs = request("GET", url, headers=b.headers(), http=http)
        check(theirs.status == 404 and PNG not in theirs.body, "B downloaded A's attachment: %r" % theirs)
    else:
        # A signed URL is a capability: it must not work without its signature
        # or for another attachment id.
        bare = urllib.parse.urlunsplit(parts._replace(query=""))
        theirs = request("GET", bare, headers=b.headers(), http=http)
        check(theirs.status in (401, 403, 404) and PNG not in theirs.body, "unsigned URL served A's bytes: %r" % theirs)
        body, ctype = multipart({"file": ("b.png", "image/png", b"B's image")})
        other = b.raw("POST", "/attachments/upload", body=body, headers={"Content-Type": ctype}).json()
        forged = urllib.parse.urlunsplit(parts._replace(path=parts.path.replace(att["id"], other["id"])))
        theirs = request("GET", forged, headers=b.headers(), http=http)
        check(theirs.status in (401, 403, 404), "a signature of A's attachment opened B's: %r" % theirs)
