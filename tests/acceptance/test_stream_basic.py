"""test_stream_basic.py - the streamed turn in retrieval-only mode (no model
configured): event order of threads.create and threads.add_user_message
(docs/protocol.md "Stream events"), persistence before forwarding ("Persist
before forward": what was streamed as done is what items.list returns), the
thread title after the first turn (thread.updated, "Thread changes"), retry
("threads.retry_after_item"), attachments in messages ("Attachments"), SSE
framing ("SSE framing") and pre-flight failures answered as JSON before any
stream starts ("JSON answers and errors")."""


from lib import PNG, check, multipart, user_input



def _done_items(events):
    return [e["item"] for e in events if e["type"] == "thread.item.done"]


def _check_item_events_consistent(events):
    """thread.item.updated only targets items announced by thread.item.added."""
    added = set()
    for e in events:
        if e["type"] == "thread.item.added":
            added.add(e["item"]["id"])
        elif e["type"] == "thread.item.updated":
            check(e["item_id"] in added, "thread.item.updated for an item never added: %r" % e)


def _visible_items(c, tid):
    return c.call("items.list", {"thread_id": tid, "order": "asc", "limit": 100})["data"]


def test_create_event_order_and_persistence(env, http):
    c = env.client(http)
    resp = c.stream("threads.create", {"input": user_input("What is chatkitd?")})
    ev = resp.events
    check(len(ev) >= 3, "threads.create needs at least 3 events, got %r" % [e["type"] for e in ev])
    check([e["type"] for e in ev[:3]] == ["thread.created", "thread.item.done", "stream_options"],
          "first events: %r" % [e["type"] for e in ev[:4]])
    thread = ev[0]["thread"]
    tid = thread["id"]
    check("title" not in thread and thread["metadata"] == {} and thread["status"] == {"type": "active"},
          "new thread shape: %r" % thread)
    check(thread["items"] == {"data": [], "has_more": False}, "new thread items: %r" % thread["items"])
    user = ev[1]["item"]
    check(user["type"] == "user_message" and user["thread_id"] == tid, "user item: %r" % user)
    check(user["content"] == [{"type": "input_text", "text": "What is chatkitd?"}], "user content: %r" % user)
    check(user["attachments"] == [] and user["inference_options"] == {}, "user defaults: %r" % user)
    check(ev[2]["stream_options"] == {"allow_cancel": True}, "stream_options: %r" % ev[2])
    check(all(e["type"] not in ("thread.created", "stream_options") for e in ev[3:]), "duplicate preamble events")
    _check_item_events_consistent(ev)
    done = _done_items(ev)
    check(any(i["type"] == "assistant_message" for i in done), "no assistant answer was streamed: %r"
          % [e["type"] for e in ev])
    stored = _visible_items(c, tid)
    check(stored == done, "items.list must return exactly the done items:\n stored %r\n done %r" % (stored, done))
    check(not any(e["type"] == "error" for e in ev), "error event in a retrieval-only turn: %r" % ev)


def test_title_after_first_turn(env, http):
    c = env.client(http)
    tid, ev = c.create_thread("Tell me about pagination")
    updates = [e["thread"] for e in ev if e["type"] == "thread.updated"]
    check(updates, "no thread.updated with a title after the first turn: %r" % [e["type"] for e in ev])
    title = updates[-1].get("title")
    check(isinstance(title, str) and title.strip(), "thread.updated without a title: %r" % updates[-1])
    check(updates[-1]["id"] == tid and updates[-1]["metadata"] == {}, "thread.updated shape: %r" % updates[-1])
    check(c.call("threads.get_by_id", {"thread_id": tid}).get("title") == title, "title not persisted")
    listed = c.call("threads.list", {})["data"]
    check([t.get("title") for t in listed] == [title], "threads.list: %r" % listed)


def test_add_user_message(env, http):
    c = env.client(http)
    tid, first = c.create_thread("first")
    resp = c.stream("threads.add_user_message", {"thread_id": tid, "input": user_input("second")})
    ev = resp.events
    check([e["type"] for e in ev[:2]] == ["thread.item.done", "stream_options"], "add_user_message starts with %r"
          % [e["type"] for e in ev[:3]])
    check(ev[0]["item"]["content"][0]["text"] == "second" and ev[0]["item"]["thread_id"] == tid, "user item %r" % ev[0])
    stored = _visible_items(c, tid)
    check(stored == _done_items(first) + _done_items(ev), "items after two turns: %r" % [i["id"] for i in stored])
    check(not any(e["type"] == "thread.updated" and e["thread"].get("title") is None for e in ev), "title removed")


def test_retry_deletes_later_items(env, http):
    c = env.client(http)
    tid, first = c.create_thread("one")
    c.stream("threads.add_user_message", {"thread_id": tid, "input": user_input("two")})
    u1 = _done_items(first)[0]
    before = [i["id"] for i in _visible_items(c, tid)]
    check(len(before) >= 4, "two turns should leave at least 4 items: %r" % before)
    resp = c.stream("threads.retry_after_item", {"thread_id": tid, "item_id": u1["id"]})
    ev = resp.events
    check(ev and ev[0]["type"] == "stream_options", "retry must start with stream_options: %r" % ev[:1])
    check(not any(e["type"] == "thread.item.removed" for e in ev), "retry must not emit thread.item.removed")
    stored = _visible_items(c, tid)
    check(stored[0] == u1, "the retried user message must stay: %r" % stored[:1])
    check(stored[1:] == _done_items(ev), "after retry: only the new answer follows: %r" % [i["id"] for i in stored])
    check(not set(i["id"] for i in stored[1:]) & set(before), "old items survived the retry")


def test_retry_errors(env, http):
    c = env.client(http)
    tid, first = c.create_thread("one")
    assistant = [i for i in _done_items(first) if i["type"] == "assistant_message"][0]
    c.stream("threads.retry_after_item", {"thread_id": tid, "item_id": "msg_nosuch"}, expect=404)
    c.stream("threads.retry_after_item", {"thread_id": tid, "item_id": assistant["id"]}, expect=400)
    check(_visible_items(c, tid) == _done_items(first), "a failed retry changed the thread")


def test_preflight_failures_are_json(env, http):
    c = env.client(http)
    c.stream("threads.add_user_message", {"thread_id": "thr_nosuch", "input": user_input("x")}, expect=404)
    c.stream("threads.create", {"input": user_input("x", ["atc_nosuch"])}, expect=404)
    check(c.call("threads.list", {})["data"] == [], "a failed threads.create left a thread behind")
    c.stream("threads.add_client_tool_output", {"thread_id": "thr_nosuch", "result": None}, expect=404)
    tid, _ = c.create_thread("x")
    c.stream("threads.add_client_tool_output", {"thread_id": tid, "result": {"a": 1}}, expect=409)


def test_message_with_attachment(env, http):
    c = env.client(http)
    body, ctype = multipart({"file": ("dot.png", "image/png", PNG)})
    att = c.raw("POST", "/attachments/upload", body=body, headers={"Content-Type": ctype}).json()
    resp = c.stream("threads.create", {"input": user_input("look", [att["id"]])})
    tid = resp.events[0]["thread"]["id"]
    user = resp.events[1]["item"]
    check(len(user["attachments"]) == 1, "user message attachments: %r" % user)
    a = user["attachments"][0]
    check(a["id"] == att["id"] and a["name"] == "dot.png" and a["type"] == "image" and a.get("thread_id") == tid,
          "attachment in the message must carry thread_id: %r" % a)
    check("metadata" not in a, "attachment metadata leaked: %r" % a)
    row = env.pg.psql("SELECT thread_id FROM chatkit.attachments WHERE id = '%s';" % att["id"])
    check(row == tid, "attachment row thread_id %r, want %r" % (row, tid))
    check(_visible_items(c, tid)[0] == user, "stored user message differs from the streamed one")


def test_sse_framing_and_headers(env, http):
    c = env.client(http)
    resp = c.post_chatkit({"type": "threads.create", "params": {"input": user_input("frame me")}})
    check(resp.status == 200, "threads.create: %r" % resp)
    check(resp.content_type().startswith("text/event-stream"), "content-type %r" % resp.content_type())
    check("no-cache" in resp.headers.get("cache-control", ""), "streams should send Cache-Control: no-cache")
    raw = resp.body
    check(raw.startswith(b"data: {") and raw.endswith(b"}\n\n"), "SSE body framing: %r" % raw[:80])
    frames = raw[:-2].split(b"\n\n")
    for f in frames:
        check(f.startswith(b"data: {") and b"\n" not in f and b"\r" not in f, "bad frame %r" % f[:120])
    check(b"[DONE]" not in raw and b"\nevent:" not in raw and b"\nid:" not in raw, "no sentinel/event/id lines")


def test_disconnect_keeps_server_healthy(env, http):
    c = env.client(http)
    resp = c.stream("threads.create", {"input": user_input("cancel me")}, max_events=1)
    check(resp.aborted and resp.events[0]["type"] == "thread.created",
          "client abort after the first event: %r" % resp.events[:1])
    tid = resp.events[0]["thread"]["id"]
    check(c.call("threads.get_by_id", {"thread_id": tid})["id"] == tid, "thread saved before thread.created")
    c.create_thread("still serving")
