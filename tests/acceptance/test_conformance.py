"""test_conformance.py - the conformance review against the protocol rules
(docs/protocol.md): deviations found, each pinned by a test that failed
before its fix, and required behaviours that had no acceptance test yet
(docs/protocol.md "Cancellation")."""

import json
import time

from lib import check, ts_past, user_input, wait_until
from test_agent_model import Fake, model_server

CANCEL_NOTE = "The user cancelled the stream. Stop responding to the prior request."


def _strict_user_input(text):
    """A UserMessageInput carrying keys the protocol does not define (a
    client or a proxy may add them; docs/protocol.md "Request envelope": silently ignored)."""
    return {"content": [{"type": "input_text", "text": text, "junk": {"a": [1, 2]}},
                        {"type": "input_tag", "id": "t1", "text": "Harry", "data": {"x": "1"}, "group": None,
                         "extra": "e"}],
            "attachments": [], "quoted_text": "q", "extra_input_key": 1,
            "inference_options": {"tool_choice": {"id": "search", "x": 1}, "model": None, "temperature": 3}}


def test_user_message_drops_unknown_keys(env, http):
    """docs/protocol.md "Request envelope", "Shared shapes": unknown keys are ignored, so the saved and echoed
    user_message holds only the protocol's fields (Python rebuilds the item
    from its model; extra keys never reach the wire or the store)."""
    c = env.client(http)
    ev = c.stream("threads.create", {"input": _strict_user_input("hello")}).events
    user = ev[1]["item"]
    want_content = [{"type": "input_text", "text": "hello"},
                    {"type": "input_tag", "id": "t1", "text": "Harry", "data": {"x": "1"}, "interactive": False}]
    check(user["content"] == want_content, "user content must keep only protocol fields: %r" % user["content"])
    check(user["inference_options"] == {"tool_choice": {"id": "search"}},
          "inference_options must keep only tool_choice{id} and model: %r" % user["inference_options"])
    check(user["quoted_text"] == "q" and "extra_input_key" not in user, "user item keys: %r" % sorted(user))
    tid = ev[0]["thread"]["id"]
    stored = c.call("items.list", {"thread_id": tid, "order": "asc"})["data"][0]
    check(stored == user, "stored user message differs from the echoed one: %r" % stored)


def _stored(env, user, tid):
    """Every stored item of the thread (hidden ones too), oldest first, as
    (type, data) pairs read with psql."""
    out = env.pg.psql("SELECT type || ' ' || data::text FROM chatkit.items WHERE user_id = '%s' AND thread_id = '%s' "
                      "ORDER BY created_at, id;" % (user, tid))
    return [(line.split(" ", 1)[0], json.loads(line.split(" ", 1)[1])) for line in out.splitlines() if line]


def _cancelled_turn(env, http, chunks, max_events):
    """threads.create against a slow fake model, the client leaving after
    `max_events` events.  Returns (client, thread id, events seen, stored
    items once the cancellation note is there)."""
    fake = Fake(env)
    fake.script([{"chunks": chunks, "delay_ms": 250}], nonstream=[{"text": "Title"}])
    srv = model_server(env, fake)
    c = env.client(http, base=srv.url)
    resp = c.stream("threads.create", {"input": user_input("tell me")}, max_events=max_events)
    check(resp.aborted, "the client should have left mid-stream: %r" % [e["type"] for e in resp.events])
    tid = resp.events[0]["thread"]["id"]
    wait_until(lambda: any(t == "sdk_hidden_context" for t, _ in _stored(env, c.user, tid)), 10,
               "the cancellation note")
    time.sleep(len(chunks) * 0.25 + 0.5)  # the model would have finished by now: nothing more may be written
    return c, tid, resp.events, _stored(env, c.user, tid)


def test_cancel_persists_partial_text_and_note(env, http):
    """docs/protocol.md "Cancellation": on disconnect the pending assistant message is saved with the
    text accumulated so far, then exactly one sdk_hidden_context note with
    the exact text; hidden from items.list and get_by_id; nothing twice."""
    chunks = ["partial ", "answer ", "a ", "b ", "c ", "d ", "e ", "f"]
    c, tid, seen, stored = _cancelled_turn(env, http, chunks, 6)
    check([t for t, _ in stored] == ["user_message", "assistant_message", "sdk_hidden_context"],
          "stored after a cancel: %r" % stored)
    text = stored[1][1]["content"][0]["text"]
    deltas = "".join(e["update"]["delta"] for e in seen if e["type"] == "thread.item.updated"
                     and e["update"]["type"] == "assistant_message.content_part.text_delta")
    check(deltas and text.startswith(deltas) and "".join(chunks).startswith(text) and text != "".join(chunks),
          "partial text %r (client saw %r)" % (text, deltas))
    note = stored[2][1]
    check(note["content"] == CANCEL_NOTE and note["id"].startswith("shcx_") and note["thread_id"] == tid,
          "cancellation note: %r" % note)
    visible = c.call("items.list", {"thread_id": tid, "order": "asc"})["data"]
    check([i["type"] for i in visible] == ["user_message", "assistant_message"], "items.list: %r" % visible)
    check(c.call("threads.get_by_id", {"thread_id": tid})["items"]["data"] == visible, "get_by_id shows hidden items")


def test_cancel_blank_text_only_note(env, http):
    """docs/protocol.md "Cancellation": a pending assistant message with only whitespace is dropped;
    the note is still written."""
    c, tid, _, stored = _cancelled_turn(env, http, [" ", "\n", " ", "\t", " ", " ", " ", " "], 6)
    check([t for t, _ in stored] == ["user_message", "sdk_hidden_context"], "stored after a blank cancel: %r" % stored)
    check(stored[1][1]["content"] == CANCEL_NOTE, "note: %r" % stored[1][1])


def test_huge_real_numbers_are_refused_before_anything_is_stored(env, http):
    """Errors (issue: 4xx, never a half-done 500): a real number of 2^63 or
    more in free-form JSON (tag data, tool output) used to be stored, then
    the store's reply (PostgreSQL prints 1e20 as the integer
    100000000000000000000) could not be read back: HTTP 500 after the
    thread and message were committed, and a tool call marked completed
    without its continuation.  Now it is a 400 and nothing is written."""
    c = env.client(http)
    tag = {"type": "input_tag", "id": "t", "text": "x", "data": {"n": 1e20}}
    bad = {"content": [tag], "attachments": [], "inference_options": {}}
    c.stream("threads.create", {"input": bad}, expect=400)
    check(c.call("threads.list", {})["data"] == [], "a refused threads.create left a thread behind")
    tid = env.insert_thread(c.user, created_at=ts_past(0))
    call = {"id": "tc_big", "thread_id": "", "created_at": ts_past(1), "type": "client_tool_call",
            "status": "pending", "call_id": "call_1", "name": "get_sel", "arguments": {}}
    env.insert_items(c.user, tid, [call])
    c.stream("threads.add_client_tool_output", {"thread_id": tid, "result": {"x": -1.5e300}}, expect=400)
    stored = c.call("items.list", {"thread_id": tid})["data"]
    check(stored[0]["status"] == "pending", "a refused tool output changed the call: %r" % stored)
    # numbers the store can read back are kept
    ok = {"content": [dict(tag, data={"n": 1e18, "m": 0.5, "k": -7})], "attachments": [], "inference_options": {}}
    ev = c.stream("threads.create", {"input": ok}).events
    check(ev[1]["item"]["content"][0]["data"] == {"n": 1e18, "m": 0.5, "k": -7}, "tag data %r" % ev[1]["item"])
