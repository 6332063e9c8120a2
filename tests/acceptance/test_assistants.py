"""test_assistants.py - several assistants (CHATKITD_ASSISTANTS): refused
configurations, GET /assistants (auth like /chatkit; 404 without a file),
the explicit choice through inference_options.model, the sticky choice
recorded in the thread metadata, 400 for an unknown model, instructions and
model per assistant, routing of the first message over 48 held-out
questions (with the word-overlap baseline for comparison), HTTP tools
(argument validation, headers, a slow, failing and oversized tool server,
tools an assistant does not list) and client tools.

The model is tests/acceptance/fake_openai.py; the tool server is a small
threaded HTTP server in this file."""

import json
import os
import re
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from lib import check, request, user_input
from test_agent_model import Fake
from test_security import SECRET, JwtClient, hs_token, claims, ISSUER, AUDIENCE

HERE = os.path.dirname(os.path.abspath(__file__))
ROUTING_FILE = os.path.join(HERE, "assistants", "routing.json")
QUESTIONS_FILE = os.path.join(HERE, "assistants", "routing_questions.json")


def write_config(env, name, config):
    path = env.tmp_path(name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(config if isinstance(config, str) else json.dumps(config))
    return path


def assistants_server(env, fake, path, **extra):
    conf = {"OPENAI_BASE_URL": fake.url + "/v1", "OPENAI_API_KEY": "sk-fake", "CHATKITD_MODEL": "fake-model",
            "CHATKITD_UPSTREAM_RETRIES": "0", "CHATKITD_WORKERS": "2", "CHATKITD_ASSISTANTS": path}
    conf.update({k: str(v) for k, v in extra.items()})
    return env.start_server(conf)


def message(text, model=None):
    inp = user_input(text)
    if model is not None:
        inp["inference_options"] = {"model": model}
    return inp


def system_of(body):
    return body["messages"][0]["content"] if body["messages"][0]["role"] == "system" else None


def no_error(events, what):
    bad = [e for e in events if e["type"] == "error"]
    check(not bad, "%s: error events %r" % (what, bad))


# --- configuration --------------------------------------------------------------

def test_assistants_bad_configuration_refuses_to_start(env):
    cases = [
        ('{"assistants": [{"id": "a",}]}', "not valid JSON"),
        ({"assistants": [{"id": "a", "tools": ["nope"]}]}, '$.assistants[0].tools[0]: unknown tool "nope"'),
        ({"assistants": [{"id": "a"}, {"id": "a"}]}, '$.assistants[1]: duplicate assistant id "a"'),
        ({"assistants": [{"id": "a"}], "tools": [{"name": "t", "url": "http://127.0.0.1:1/t",
                                                  "headers": {"Authorization": "Bearer ${CK_ACCEPTANCE_UNSET}"}}]},
         "$.tools[0].headers.Authorization: environment variable CK_ACCEPTANCE_UNSET is not set"),
        (None, "cannot open the file"),
    ]
    for i, (cfg, want) in enumerate(cases):
        path = write_config(env, "bad-%d.json" % i, cfg) if cfg is not None else env.tmp_path("missing.json")
        srv = env.start_server({"CHATKITD_ASSISTANTS": path}, wait=None)
        try:
            srv.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            raise AssertionError("server started with a bad assistants file %r" % cfg)
        check(srv.proc.returncode == 2, "bad file %r: exit status %s" % (cfg, srv.proc.returncode))
        with open(srv.log_path, encoding="utf-8", errors="replace") as f:
            log = f.read()
        check(path in log and want in log, "log does not name %r in %r: %s" % (want, path, log[-600:]))


def test_assistants_route_without_a_file_is_404(env):
    c = env.client("1.1")
    resp = c.raw("GET", "/assistants")
    check(resp.status == 404 and resp.json()["error"]["code"] == "not_found", "HTTP %s %r" % (resp.status, resp.body))


def test_assistants_route_lists_them_with_chatkit_auth(env):
    path = write_config(env, "two.json", {"assistants": [
        {"id": "tax", "name": "Ledger", "description": "Taxes, deductions, VAT"},
        {"id": "docs", "name": "Librarian", "description": "The documentation", "default": True}]})
    srv = env.start_server({"CHATKITD_ASSISTANTS": path, "CHATKITD_JWT_SECRET": SECRET,
                            "CHATKITD_JWT_ISSUER": ISSUER, "CHATKITD_JWT_AUDIENCE": AUDIENCE})
    resp = request("GET", srv.url + "/assistants")
    check(resp.status == 401, "no token: HTTP %s" % resp.status)
    resp = request("GET", srv.url + "/assistants", headers={"Authorization": "Bearer " + hs_token(claims("u1"), key="x" * 40)})
    check(resp.status == 401, "bad token: HTTP %s" % resp.status)
    for http in ("1.1", "h2c"):
        c = JwtClient(srv.url, env.new_user(), http)
        resp = c.raw("GET", "/assistants")
        check(resp.status == 200 and resp.content_type().startswith("application/json"), "HTTP %s" % resp.status)
        check(resp.json() == {"data": [
            {"id": "tax", "name": "Ledger", "description": "Taxes, deductions, VAT", "default": False},
            {"id": "docs", "name": "Librarian", "description": "The documentation", "default": True}]},
            "body %r" % resp.json())
    resp = JwtClient(srv.url, env.new_user(), "1.1").raw("POST", "/assistants", body="{}")
    check(resp.status == 405, "POST /assistants: HTTP %s" % resp.status)


# --- choosing ---------------------------------------------------------------------

CHOICE = {"assistants": [
    {"id": "tax", "name": "Ledger", "description": "Taxes", "instructions": "You are Ledger.", "model": "tax-model",
     "tools": []},
    {"id": "docs", "name": "Librarian", "description": "Docs", "instructions": "You are Librarian.",
     "default": True}]}


def test_assistants_explicit_and_sticky_choice(env):
    fake = Fake(env)
    srv = assistants_server(env, fake, write_config(env, "choice.json", CHOICE))
    c = env.client("1.1", base=srv.url)
    # explicit: inference_options.model names an assistant
    resp = c.stream("threads.create", {"input": message("Hello there", model="tax")})
    no_error(resp.events, "create")
    tid = resp.events[0]["thread"]["id"]
    body = fake.chat_requests()[-1]
    check(system_of(body).startswith("You are Ledger."), "system prompt %r" % system_of(body))
    check(body["model"] == "tax-model", "model %r" % body["model"])
    check("tools" not in body, "tax lists no tools, offered %r" % body.get("tools"))
    check(c.call("threads.get_by_id", {"thread_id": tid})["metadata"] == {"assistant": "tax"}, "metadata not recorded")
    # sticky: no choice in the next message
    no_error(c.stream("threads.add_user_message", {"thread_id": tid, "input": message("And then?")}).events, "sticky")
    body = fake.chat_requests()[-1]
    check(system_of(body).startswith("You are Ledger.") and body["model"] == "tax-model", "not sticky: %r" % body["model"])
    # another explicit choice switches, and sticks
    no_error(c.stream("threads.add_user_message", {"thread_id": tid, "input": message("Docs?", model="docs")}).events,
             "switch")
    body = fake.chat_requests()[-1]
    check(system_of(body).startswith("You are Librarian.") and body["model"] == "fake-model", "switch: %r" % body["model"])
    check([t["function"]["name"] for t in body["tools"]] == ["search"], "docs tools %r" % body.get("tools"))
    no_error(c.stream("threads.add_user_message", {"thread_id": tid, "input": message("More")}).events, "sticky 2")
    check(system_of(fake.chat_requests()[-1]).startswith("You are Librarian."), "switch did not stick")
    check(c.call("threads.get_by_id", {"thread_id": tid})["metadata"] == {"assistant": "docs"}, "metadata not updated")
    # an unknown model is a 400 before any stream, and nothing is stored
    n = len(c.call("items.list", {"thread_id": tid})["data"])
    resp = c.stream("threads.add_user_message", {"thread_id": tid, "input": message("x", model="gpt-9")}, expect=400)
    check(len(c.call("items.list", {"thread_id": tid})["data"]) == n, "the refused message was stored")
    resp = c.stream("threads.create", {"input": message("x", model="nobody")}, expect=400)


def test_assistants_model_override_when_allowed(env):
    fake = Fake(env)
    srv = assistants_server(env, fake, write_config(env, "choice.json", CHOICE), CHATKITD_ALLOW_MODEL_OVERRIDE="1")
    c = env.client("1.1", base=srv.url)
    resp = c.stream("threads.create", {"input": message("Hello", model="tax")})
    tid = resp.events[0]["thread"]["id"]
    no_error(c.stream("threads.add_user_message", {"thread_id": tid, "input": message("Hi", model="big-model")}).events,
             "override")
    body = fake.chat_requests()[-1]
    check(body["model"] == "big-model" and system_of(body).startswith("You are Ledger."),
          "override: model %r, system %r" % (body["model"], system_of(body)[:40]))
