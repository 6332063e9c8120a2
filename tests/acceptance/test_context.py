"""test_context.py - what the model sees over a long relationship with a
user (issue 11), checked at tests/acceptance/fake_openai.py and in the
store: PII redaction of user text (placeholders in the stream, the store,
the model request and the log; ordinary numbers untouched), bad values of
the context settings refusing to start."""

import subprocess

from lib import check, user_input
from test_agent_model import Fake, model_server

PII_TEXT = ("Reach me at jane.doe@example.com or +1 (415) 555-2671; card 4111 1111 1111 1111, "
            "IBAN DE89 3704 0044 0532 0130 00, SSN 123-45-6789.")
PII_REDACTED = "Reach me at [EMAIL] or [PHONE]; card [CARD], IBAN [IBAN], SSN [SSN]."
# Ordinary numbers: order ids, dates, times, amounts, versions, addresses, non-Latin text.
ORDINARY = ("Order 4839201746 (ref A-20240315-0042, ticket 1234567890123452) of 2024-03-15 14:30 "
            "for $1,234.56 / 1 234,56 EUR, app 10.0.19041.1 on 192.168.100.200, "
            "Заказ № 12345678901 от 15.03.2024, 订单号 2024031512345678 金额 ¥1,299.00.")


def _user_texts(messages):
    out = []
    for m in messages:
        if m["role"] != "user":
            continue
        c = m["content"]
        out.append(c if isinstance(c, str) else "".join(p.get("text", "") for p in c))
    return out


def test_context_redaction_on(env):
    fake = Fake(env)
    srv = model_server(env, fake, CHATKITD_REDACT_PII="on")
    c = env.client("1.1", base=srv.url)
    tid, ev = c.create_thread(PII_TEXT + " " + ORDINARY)
    want = PII_REDACTED + " " + ORDINARY
    streamed = [e["item"] for e in ev if e["type"] == "thread.item.done" and e["item"]["type"] == "user_message"]
    check(len(streamed) == 1 and streamed[0]["content"][0]["text"] == want, "streamed user item: %r" % streamed)
    stored = c.call("items.list", {"thread_id": tid, "order": "asc"})["data"]
    check(stored[0]["content"][0]["text"] == want, "stored user item: %r" % stored[0])
    sent = _user_texts(fake.chat_requests()[-1]["messages"])
    check(sent[-1] == want, "model request: %r" % sent[-1])
    with open(srv.log_path, encoding="utf-8", errors="replace") as f:
        log = f.read()
    for secret in ("jane.doe@example.com", "555-2671", "4111 1111", "DE89", "123-45-6789"):
        check(secret not in log and secret not in str(fake.requests()), "%s leaked" % secret)


def test_context_redaction_off_by_default(env):
    fake = Fake(env)
    srv = model_server(env, fake)
    c = env.client("1.1", base=srv.url)
    tid, _ = c.create_thread(PII_TEXT)
    stored = c.call("items.list", {"thread_id": tid, "order": "asc"})["data"]
    check(stored[0]["content"][0]["text"] == PII_TEXT, "redaction is off by default: %r" % stored[0])


def test_context_bad_settings_refuse_to_start(env):
    fake = Fake(env)
    for name, value in (("CHATKITD_REDACT_PII", "yes"),):
        conf = {"OPENAI_BASE_URL": fake.url + "/v1", "OPENAI_API_KEY": "sk-fake", name: value}
        srv = env.start_server(conf, wait=None)
        try:
            srv.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            raise AssertionError("server started with %s=%s" % (name, value))
        check(srv.proc.returncode != 0, "%s=%s: exit status 0" % (name, value))
        with open(srv.log_path, encoding="utf-8", errors="replace") as f:
            check(name in f.read(), "the refusal does not name %s" % name)
