"""test_items.py - items.list (defaults, clamping, keyset pagination across
timestamp ties, hidden items filtered in SQL so pages stay full, unknown
cursor), items.feedback and threads.sync_custom_action (docs/protocol.md
"Request types", "Pagination"; src/store/README.md)."""

from lib import (assistant_item, check, hidden_item, ts, user_item, widget_item)


def _ids(page):
    return [i["id"] for i in page["data"]]


def _walk(c, tid, order, limit):
    """Follows `after` to the end; returns every id seen and the pages."""
    seen, pages, after = [], [], None
    for _ in range(200):
        params = {"thread_id": tid, "order": order, "limit": limit}
        if after:
            params["after"] = after
        page = c.call("items.list", params)
        pages.append(page)
        seen += _ids(page)
        if not page["has_more"]:
            check("after" not in page, "after present without has_more: %r" % page.get("after"))
            return seen, pages
        check(page.get("after") == page["data"][-1]["id"], "after must be the last id of the page: %r" % page)
        after = page["after"]
    raise AssertionError("pagination did not end")


def test_list_default_desc(env, http):
    c = env.client(http)
    tid = env.insert_thread(c.user)
    env.insert_items(c.user, tid, [user_item("msg_1", ts(1)), assistant_item("msg_2", ts(2)),
                                   user_item("msg_3", ts(3))])
    page = c.call("items.list", {"thread_id": tid})
    check(_ids(page) == ["msg_3", "msg_2", "msg_1"], "default order must be desc: %r" % _ids(page))
    check(page["has_more"] is False and "after" not in page, "flags %r" % page)
    check(all(i["thread_id"] == tid for i in page["data"]), "thread_id of items")
    page = c.call("items.list", {"thread_id": tid, "order": "asc", "limit": 1})
    check(_ids(page) == ["msg_1"] and page["has_more"] is True and page["after"] == "msg_1",
          "asc limit 1 (spec A.2): %r" % page)
    page = c.call("items.list", {"thread_id": tid, "limit": 3})
    check(len(page["data"]) == 3 and page["has_more"] is False and "after" not in page,
          "a page that ends exactly at the last item has no more: %r" % {k: page[k] for k in page if k != "data"})
    page = c.call("items.list", {"thread_id": tid, "order": "asc", "limit": 2, "after": "msg_1"})
    check(_ids(page) == ["msg_2", "msg_3"] and page["has_more"] is False, "exact last page after a cursor: %r" % page)


def test_list_limit_defaults_and_clamp(env, http):
    c = env.client(http)
    tid = env.insert_thread(c.user)
    env.insert_items(c.user, tid, [user_item("msg_%03d" % i, ts(i)) for i in range(105)])
    for params in ({}, {"limit": 0}, {"limit": None}):
        params["thread_id"] = tid
        page = c.call("items.list", params)
        check(len(page["data"]) == 20, "%r must give 20 items, got %d" % (params, len(page["data"])))
        check(_ids(page)[0] == "msg_104", "newest first: %r" % _ids(page)[:2])
    page = c.call("items.list", {"thread_id": tid, "limit": 9999})
    check(len(page["data"]) == 100, "limit 9999 must be clamped to 100, got %d" % len(page["data"]))
    check(page["has_more"] is True and page["after"] == "msg_005", "clamped page flags %r" % page.get("after"))


def test_pagination_across_ties_both_orders(env, http):
    c = env.client(http)
    tid = env.insert_thread(c.user)
    # 45 items: runs of 1..5 items share one microsecond; ids are not in time order.
    items, n, t = [], 0, 0
    while n < 45:
        for _ in range(min(1 + t % 5, 45 - n)):
            maker = user_item if n % 2 else assistant_item
            items.append(maker("it_%02d" % ((n * 17) % 45), ts(t * 3)))
            n += 1
        t += 1
    env.insert_items(c.user, tid, items)
    asc = [i["id"] for i in sorted(items, key=lambda i: (i["created_at"], i["id"]))]
    for order, want in (("asc", asc), ("desc", asc[::-1])):
        for limit in (1, 4, 7, 20):
            seen, pages = _walk(c, tid, order, limit)
            check(len(seen) == 45 and len(set(seen)) == 45,
                  "%s/%d: every item exactly once: %d seen, %d distinct" % (order, limit, len(seen), len(set(seen))))
            check(seen == want, "%s/%d: order must follow (created_at, id): %r" % (order, limit, seen[:10]))
            check(all(len(p["data"]) == limit for p in pages[:-1]), "%s/%d: short page before the end" % (order, limit))


def test_hidden_items_filtered_pages_stay_full(env, http):
    c = env.client(http)
    tid = env.insert_thread(c.user)
    items = []
    for i in range(6):
        items.append(user_item("msg_v%d" % i, ts(i * 10)))
        items.append(hidden_item("shcx_h%d" % i, ts(i * 10 + 5)))
    env.insert_items(c.user, tid, items)
    visible = ["msg_v%d" % i for i in range(6)]
    for order, want in (("asc", visible), ("desc", visible[::-1])):
        seen, pages = _walk(c, tid, order, 2)
        check(seen == want, "%s: hidden items must never be listed: %r" % (order, seen))
        check([len(p["data"]) for p in pages] == [2, 2, 2], "%s: pages must stay full (filter in SQL): %r"
              % (order, [len(p["data"]) for p in pages]))
    got = c.call("threads.get_by_id", {"thread_id": tid})["items"]
    check(_ids(got) == ["msg_v%d" % i for i in range(6)], "get_by_id shows hidden items: %r" % _ids(got))


def test_list_errors(env, http):
    c = env.client(http)
    tid = env.insert_thread(c.user)
    env.insert_items(c.user, tid, [user_item("msg_e1", ts(1))])
    c.call("items.list", {"thread_id": tid, "after": "msg_nosuch"}, expect=400)
    c.call("items.list", {"thread_id": "thr_nosuch"}, expect=404)
    c.call("items.list", {"thread_id": tid, "order": "sideways"}, expect=400)
    c.call("items.list", {"thread_id": tid, "limit": -1}, expect=400)
    c.call("items.list", {"thread_id": tid, "limit": "ten"}, expect=400)
    c.call("items.list", {}, expect=400)


def test_feedback_is_stored(env, http):
    c = env.client(http)
    tid = env.insert_thread(c.user)
    env.insert_items(c.user, tid, [user_item("msg_f1", ts(1)), assistant_item("msg_f2", ts(2)),
                                   widget_item("w_f3", ts(3))])
    check(c.call("items.feedback", {"thread_id": tid, "item_ids": ["msg_f2", "w_f3"], "kind": "positive"}) == {},
          "items.feedback must answer {}")
    rows = env.pg.psql("SELECT item_id || ':' || kind FROM chatkit.feedback WHERE thread_id = '%s' ORDER BY 1;" % tid)
    check(rows.split() == ["msg_f2:positive", "w_f3:positive"], "feedback rows: %r" % rows)
    c.call("items.feedback", {"thread_id": tid, "item_ids": ["msg_f2"], "kind": "negative"})
    rows = env.pg.psql("SELECT kind FROM chatkit.feedback WHERE thread_id = '%s' AND item_id = 'msg_f2';" % tid)
    check(rows == "negative", "latest feedback must win: %r" % rows)


def test_feedback_errors(env, http):
    c = env.client(http)
    tid = env.insert_thread(c.user)
    env.insert_items(c.user, tid, [assistant_item("msg_g1", ts(1))])
    c.call("items.feedback", {"thread_id": tid, "item_ids": ["msg_g1"], "kind": "neutral"}, expect=400)
    c.call("items.feedback", {"thread_id": tid, "item_ids": "msg_g1", "kind": "positive"}, expect=400)
    c.call("items.feedback", {"thread_id": tid, "item_ids": ["msg_nosuch"], "kind": "positive"}, expect=404)
    c.call("items.feedback", {"thread_id": "thr_nosuch", "item_ids": ["msg_g1"], "kind": "positive"}, expect=404)
    rows = env.pg.psql("SELECT count(*) FROM chatkit.feedback WHERE thread_id = '%s';" % tid)
    check(rows == "0", "rejected feedback was stored: %s rows" % rows)


def test_sync_custom_action(env, http):
    c = env.client(http)
    tid = env.insert_thread(c.user)
    env.insert_items(c.user, tid, [widget_item("w_s1", ts(1)), assistant_item("msg_s2", ts(2))])
    action = {"type": "noop", "payload": {"k": 1}}
    check(c.call("threads.sync_custom_action", {"thread_id": tid, "item_id": "w_s1", "action": action}) == {},
          "widget action must answer {}")
    check(c.call("threads.sync_custom_action", {"thread_id": tid, "action": {"type": "noop"}}) == {},
          "action without item must answer {}")
    c.call("threads.sync_custom_action", {"thread_id": tid, "item_id": "msg_s2", "action": action}, expect=400)
    c.call("threads.sync_custom_action", {"thread_id": tid, "item_id": "w_nosuch", "action": action}, expect=404)
    c.call("threads.sync_custom_action", {"thread_id": "thr_nosuch", "action": action}, expect=404)
    c.call("threads.sync_custom_action", {"thread_id": tid, "item_id": "w_s1"}, expect=400)
