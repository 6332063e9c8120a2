"""test_stream_actions.py - the streamed requests that act on an existing
item, without a model: threads.add_structured_input, threads.add_client_tool_output and
threads.custom_action (docs/protocol.md, the headings of those names).
The pending items are inserted with psql (dated 2020, before anything the
server stamps), so every case is deterministic."""

from lib import check, ts_past, user_item, widget_item


def _structured(status="pending"):
    return {"id": "si_1", "thread_id": "", "created_at": ts_past(3), "type": "structured_input", "status": status,
            "inputs": [{"id": "q1", "question": "Pick", "type": "multiple_choice",
                        "options": [{"value": "A"}, {"value": "B"}], "multiple": False},
                       {"id": "q2", "question": "Notes", "type": "freeform", "description": "optional"},
                       {"id": "q3", "question": "Tags", "type": "multiple_choice",
                        "options": [{"value": "x"}, {"value": "y"}], "multiple": True}]}


def _tool_call(item_id, created_at, status="pending"):
    return {"id": item_id, "thread_id": "", "created_at": created_at, "type": "client_tool_call", "status": status,
            "call_id": "call_" + item_id, "name": "get_sel", "arguments": {"a": 1}}


def _items(c, tid):
    return {i["id"]: i for i in c.call("items.list", {"thread_id": tid, "order": "asc", "limit": 100})["data"]}


def _answers(item):
    return {q["id"]: q.get("answer") for q in item["inputs"]}


def test_structured_input_answered(env, http):
    c = env.client(http)
    tid = env.insert_thread(c.user, created_at=ts_past(0))
    env.insert_items(c.user, tid, [user_item("msg_q", ts_past(1)), _structured()])
    ev = c.stream("threads.add_structured_input", {"thread_id": tid, "item_id": "si_1", "input": {
        "status": "answered", "answers": {"q1": {"values": ["A", "B"]}, "q3": {"values": ["x", "custom"]},
                                          "nope": {"values": ["ignored"]}}}}).events
    check([e["type"] for e in ev[:2]] == ["stream_options", "thread.item.replaced"],
          "structured input stream starts with %r" % [e["type"] for e in ev[:3]])
    item = ev[1]["item"]
    check(item["id"] == "si_1" and item["status"] == "answered" and item["thread_id"] == tid, "replaced %r" % item)
    want = {"q1": {"values": ["A"], "skipped": False}, "q2": {"values": [], "skipped": True},
            "q3": {"values": ["x", "custom"], "skipped": False}}
    check(_answers(item) == want, "answers (single choice keeps the first value, missing = skipped): %r"
          % _answers(item))
    check([q["id"] for q in item["inputs"]] == ["q1", "q2", "q3"], "question order changed")
    check(_items(c, tid)["si_1"] == item, "the replaced item must be what is stored")
    c.stream("threads.add_structured_input", {"thread_id": tid, "item_id": "si_1", "input": {}}, expect=409)


def test_structured_input_skipped(env, http):
    c = env.client(http)
    tid = env.insert_thread(c.user, created_at=ts_past(0))
    env.insert_items(c.user, tid, [_structured()])
    ev = c.stream("threads.add_structured_input", {"thread_id": tid, "item_id": "si_1",
                                                   "input": {"status": "skipped", "answers": {"q1": {"values": ["A"]}}}}).events
    item = ev[1]["item"]
    check(item["status"] == "skipped", "status %r" % item["status"])
    check(all(a == {"values": [], "skipped": True} for a in _answers(item).values()),
          "a skipped submission skips every question: %r" % _answers(item))


def test_structured_input_errors(env, http):
    c = env.client(http)
    tid = env.insert_thread(c.user, created_at=ts_past(0))
    env.insert_items(c.user, tid, [user_item("msg_q", ts_past(1)), _structured("answered")])
    for item_id, status in (("si_1", 409), ("msg_q", 400), ("si_nosuch", 404)):
        c.stream("threads.add_structured_input", {"thread_id": tid, "item_id": item_id, "input": {}}, expect=status)
    c.stream("threads.add_structured_input", {"thread_id": tid, "item_id": "si_1",
                                              "input": {"status": "maybe"}}, expect=400)


def test_client_tool_output(env, http):
    c = env.client(http)
    tid = env.insert_thread(c.user, created_at=ts_past(0))
    env.insert_items(c.user, tid, [user_item("msg_t", ts_past(1)), _tool_call("tc_old", ts_past(2)),
                                   _tool_call("tc_1", ts_past(3))])
    ev = c.stream("threads.add_client_tool_output", {"thread_id": tid, "result": {"x": [1, 2]}}).events
    check(ev and ev[0]["type"] == "stream_options", "tool output stream starts with %r" % ev[:1])
    check(not any(e.get("item", {}).get("id") in ("tc_1", "tc_old") for e in ev), "no event for the tool call update")
    stored = _items(c, tid)
    check(stored["tc_1"]["status"] == "completed" and stored["tc_1"]["output"] == {"x": [1, 2]},
          "the call must be completed with the output: %r" % stored["tc_1"])
    check("tc_old" not in stored, "other pending calls must be deleted: %r" % list(stored))
    c.stream("threads.add_client_tool_output", {"thread_id": tid, "result": 1}, expect=409)


def test_client_tool_output_null_result(env, http):
    c = env.client(http)
    tid = env.insert_thread(c.user, created_at=ts_past(0))
    env.insert_items(c.user, tid, [_tool_call("tc_n", ts_past(3))])
    c.stream("threads.add_client_tool_output", {"thread_id": tid, "result": None})
    stored = _items(c, tid)["tc_n"]
    check(stored["status"] == "completed" and "output" not in stored, "null output is omitted: %r" % stored)
    c.stream("threads.add_client_tool_output", {"thread_id": tid}, expect=400)


def test_custom_action_on_widget_and_non_widget(env, http):
    c = env.client(http)
    tid = env.insert_thread(c.user, created_at=ts_past(0))
    env.insert_items(c.user, tid, [widget_item("w_a", ts_past(1)), user_item("msg_a", ts_past(2))])
    ev = c.stream("threads.custom_action", {"thread_id": tid, "item_id": "w_a",
                                            "action": {"type": "go", "payload": {"n": 1}}}).events
    check(ev and ev[0]["type"] == "stream_options", "custom action stream starts with %r" % ev[:1])
    check(not any(e["type"] == "error" for e in ev), "error in a widget action: %r" % ev)
    ev = c.stream("threads.custom_action", {"thread_id": tid, "item_id": "msg_a", "action": {"type": "go"}}).events
    check(ev == [{"type": "error", "code": "stream.error", "allow_retry": False,
                  "message": "This action can only be sent from a widget."}],
          "an action on a non-widget is exactly one stream.error event (spec 2.6): %r" % ev)
    c.stream("threads.custom_action", {"thread_id": tid, "item_id": "w_nosuch", "action": {"type": "go"}}, expect=404)
    c.stream("threads.custom_action", {"thread_id": tid, "item_id": "w_a"}, expect=400)
