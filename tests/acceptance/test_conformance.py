"""test_conformance.py - deviations from the protocol reference found by the
conformance review, each pinned by a test that failed before its fix.

Spec references are to /work/shared/spec/chatkit-protocol.md."""

from lib import check


def _strict_user_input(text):
    """A UserMessageInput carrying keys the protocol does not define (a
    client or a proxy may add them; spec §1.2: silently ignored)."""
    return {"content": [{"type": "input_text", "text": text, "junk": {"a": [1, 2]}},
                        {"type": "input_tag", "id": "t1", "text": "Harry", "data": {"x": "1"}, "group": None,
                         "extra": "e"}],
            "attachments": [], "quoted_text": "q", "extra_input_key": 1,
            "inference_options": {"tool_choice": {"id": "search", "x": 1}, "model": None, "temperature": 3}}


def test_user_message_drops_unknown_keys(env, http):
    """§1.2 + §4.2: unknown keys are ignored, so the saved and echoed
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
