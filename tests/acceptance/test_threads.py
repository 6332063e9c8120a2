"""test_threads.py - threads.get_by_id, threads.list, threads.update and
threads.delete against the real server: shapes and defaults (docs/protocol.md
"JSON serialization", "Request types"), pagination ("Pagination", keyset
(created_at, id) per src/store/README.md).  Threads and items are inserted with psql so their
timestamps are exact."""

from lib import (assistant_item, check, hidden_item, ts, user_item)


def _empty_page_thread(t, thread_id):
    check(t["id"] == thread_id, "thread id %r, want %r" % (t["id"], thread_id))
    check(t["metadata"] == {}, "thread metadata must be {} on the wire: %r" % t)
    check(t["status"] == {"type": "active"}, "status %r" % t.get("status"))
    check(t["items"] == {"data": [], "has_more": False}, "items must be an empty page: %r" % t["items"])


def test_get_by_id_shape(env, http):
    c = env.client(http)
    tid = env.insert_thread(c.user, created_at=ts(0))
    a, b = user_item("msg_a1", ts(10), "Hi"), assistant_item("msg_b1", ts(20), "Hello")
    env.insert_items(c.user, tid, [b, a])
    t = c.call("threads.get_by_id", {"thread_id": tid})
    check(t["id"] == tid and t["created_at"] == ts(0), "id/created_at %r %r" % (t["id"], t["created_at"]))
    check("title" not in t, "untitled thread must omit title: %r" % t)
    check(t["metadata"] == {} and t["status"] == {"type": "active"}, "metadata/status %r" % t)
    page = t["items"]
    check([i["id"] for i in page["data"]] == ["msg_a1", "msg_b1"], "items must be oldest first: %r" % page)
    check(page["has_more"] is False and "after" not in page, "page flags %r" % page)
    a["thread_id"] = b["thread_id"] = tid
    check(page["data"][0] == a, "stored user item changed: %r != %r" % (page["data"][0], a))
    check(page["data"][1] == b, "stored assistant item changed: %r != %r" % (page["data"][1], b))


def test_get_by_id_embeds_oldest_20_visible(env, http):
    c = env.client(http)
    tid = env.insert_thread(c.user)
    items = [user_item("msg_%02d" % i, ts(100 + i)) for i in range(25)]
    items.append(hidden_item("shcx_early", ts(50)))
    env.insert_items(c.user, tid, items)
    page = c.call("threads.get_by_id", {"thread_id": tid})["items"]
    ids = [i["id"] for i in page["data"]]
    check(ids == ["msg_%02d" % i for i in range(20)], "want the oldest 20 visible items ascending, got %r" % ids)
    check(page["has_more"] is True, "has_more must be true with 25 items: %r" % page.get("has_more"))
    check(page.get("after") == "msg_19", "after must be the last id of the page: %r" % page.get("after"))


def test_get_by_id_unknown_is_404(env, http):
    c = env.client(http)
    c.call("threads.get_by_id", {"thread_id": "thr_doesnotexist"}, expect=404)


def test_list_defaults_desc_and_shape(env, http):
    c = env.client(http)
    ids = env.insert_threads(c.user, [ts(0), ts(1000), ts(2000)])
    env.pg.psql("UPDATE chatkit.threads SET title = 'Named', metadata = '{\"secret\": 1}' WHERE id = '%s';" % ids[1])
    page = c.call("threads.list", {})
    got = [t["id"] for t in page["data"]]
    check(got == ids[::-1], "default order must be newest first: %r, want %r" % (got, ids[::-1]))
    check(page["has_more"] is False and "after" not in page, "no more pages: %r" % page)
    for t, tid in zip(page["data"], ids[::-1]):
        _empty_page_thread(t, tid)
    check(page["data"][1].get("title") == "Named", "title lost: %r" % page["data"][1])
    check("title" not in page["data"][0], "untitled thread must omit title: %r" % page["data"][0])


def test_list_asc_and_limit(env, http):
    c = env.client(http)
    ids = env.insert_threads(c.user, [ts(i * 10) for i in range(5)])
    page = c.call("threads.list", {"order": "asc", "limit": 2})
    check([t["id"] for t in page["data"]] == ids[:2], "asc limit 2: %r" % page["data"])
    check(page["has_more"] is True and page.get("after") == ids[1], "has_more/after: %r" % page)
    page = c.call("threads.list", {"order": "asc", "limit": 2, "after": ids[1]})
    check([t["id"] for t in page["data"]] == ids[2:4], "second page: %r" % [t["id"] for t in page["data"]])
    page = c.call("threads.list", {"order": "asc", "limit": 2, "after": ids[3]})
    check([t["id"] for t in page["data"]] == ids[4:], "last page: %r" % [t["id"] for t in page["data"]])
    check(page["has_more"] is False and "after" not in page, "last page flags: %r" % page)
    page = c.call("threads.list", {"limit": 5})
    check(len(page["data"]) == 5 and page["has_more"] is False and "after" not in page,
          "a page that ends exactly at the last thread has no more: %r" % {k: page[k] for k in page if k != "data"})
    page = c.call("threads.list", {"order": "asc", "limit": 3, "after": ids[1]})
    check([t["id"] for t in page["data"]] == ids[2:] and page["has_more"] is False, "exact last page after a cursor")


def test_list_limit_zero_null_and_clamp(env, http):
    c = env.client(http)
    env.insert_threads(c.user, [ts(i) for i in range(105)])
    for params in ({}, {"limit": 0}, {"limit": None}, {"limit": None, "order": None, "after": None}):
        page = c.call("threads.list", params)
        check(len(page["data"]) == 20, "%r must give 20 threads, got %d" % (params, len(page["data"])))
        check(page["has_more"] is True and page.get("after") == page["data"][-1]["id"], "flags for %r" % params)
    page = c.call("threads.list", {"limit": 9999, "order": "desc"})
    check(len(page["data"]) == 100, "limit 9999 must be clamped to 100, got %d" % len(page["data"]))
    check(page["has_more"] is True and page["after"] == page["data"][-1]["id"], "clamped page flags")


def test_list_walk_with_ties_both_orders(env, http):
    c = env.client(http)
    # 31 threads; groups of up to 4 share one microsecond.
    stamps = [ts((i // 4) * 7) for i in range(31)]
    ids = env.insert_threads(c.user, stamps)
    expected = [i for _, i in sorted(zip(stamps, ids))]
    for order, want in (("asc", expected), ("desc", expected[::-1])):
        seen, after = [], None
        for _ in range(40):
            params = {"order": order, "limit": 3}
            if after:
                params["after"] = after
            page = c.call("threads.list", params)
            seen += [t["id"] for t in page["data"]]
            if not page["has_more"]:
                check("after" not in page, "after without has_more")
                break
            after = page["after"]
            check(after == page["data"][-1]["id"], "after must be the last id of the page")
        check(sorted(seen) == sorted(ids) and len(seen) == len(set(seen)),
              "%s walk must return every thread exactly once: %d seen, %d distinct, %d total"
              % (order, len(seen), len(set(seen)), len(ids)))
        check(seen == want, "%s walk must follow (created_at, id): %r" % (order, seen[:8]))


def test_list_unknown_cursor_is_400(env, http):
    c = env.client(http)
    env.insert_threads(c.user, [ts(0)])
    c.call("threads.list", {"after": "thr_nosuchcursor"}, expect=400)


def test_update_renames(env, http):
    c = env.client(http)
    tid = env.insert_thread(c.user, created_at=ts(5))
    env.insert_items(c.user, tid, [user_item("msg_u1", ts(6))])
    t = c.call("threads.update", {"thread_id": tid, "title": "Trip to Lyon"})
    check(t.get("title") == "Trip to Lyon", "title not set in the response: %r" % t)
    _empty_page_thread(t, tid)
    t = c.call("threads.update", {"thread_id": tid, "title": "Zürich ☃"})
    check(t.get("title") == "Zürich ☃", "non-ASCII title: %r" % t.get("title"))
    got = c.call("threads.get_by_id", {"thread_id": tid})
    check(got.get("title") == "Zürich ☃", "rename not persisted: %r" % got.get("title"))
    check([i["id"] for i in got["items"]["data"]] == ["msg_u1"], "rename touched items")
    listed = c.call("threads.list", {})["data"]
    check([t.get("title") for t in listed] == ["Zürich ☃"], "list shows %r" % listed)


def test_update_requires_title(env, http):
    c = env.client(http)
    tid = env.insert_thread(c.user)
    c.call("threads.update", {"thread_id": tid}, expect=400)
    c.call("threads.update", {"thread_id": tid, "title": None}, expect=400)
    c.call("threads.update", {"thread_id": tid, "title": 7}, expect=400)
    c.call("threads.update", {"thread_id": "thr_nosuch", "title": "x"}, expect=404)


def test_delete_removes_thread_and_items(env, http):
    c = env.client(http)
    keep, gone = env.insert_threads(c.user, [ts(0), ts(1)])
    env.insert_items(c.user, gone, [user_item("msg_d1", ts(2)), assistant_item("msg_d2", ts(3))])
    check(c.call("threads.delete", {"thread_id": gone}) == {}, "threads.delete must answer {}")
    c.call("threads.get_by_id", {"thread_id": gone}, expect=404)
    c.call("items.list", {"thread_id": gone}, expect=404)
    check([t["id"] for t in c.call("threads.list", {})["data"]] == [keep], "deleted thread still listed")
    left = env.pg.psql("SELECT count(*) FROM chatkit.items WHERE thread_id = '%s';" % gone)
    check(left == "0", "items of a deleted thread remain in the database: %s" % left)
    c.call("threads.delete", {"thread_id": gone}, expect=404)
