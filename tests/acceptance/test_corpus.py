"""test_corpus.py - `chatkitd ingest` and the `search` op over a private
cluster: one source per file however the directory is spelled, documents of
deleted files removed on re-ingest, the summary line, Markdown passages
(tables and code kept whole, several passages of one document, results
spread over documents before one repeats), the
`sources` prefix filter, the relevance floor (no results and a note for the
model; retrieval-only answers say the documentation does not cover the
question) and the server's log line per search."""

import json
import os
import shutil
import subprocess

from lib import check
from test_agent_model import Fake, model_server

DOC_A = """# Zebra guide

The zebra daemon keeps the stripes of every herd in one register. It runs as a
background service, reads its settings at start-up and writes a journal of
every change, so that a herd can be restored after a crash. This guide covers
the settings of the stripes and how to stop the daemon safely.

## Configuring stripes

Set the stripe width in `zebra.conf`; the daemon reads the file at start-up and
on reload. Widths are in pixels and colours are names. A width outside 1..64 is
refused with an error naming the setting, and the previous value stays.

| setting | default | meaning |
|---|---|---|
| stripe_width | 4 | width of a stripe in pixels |
| stripe_color | black | colour of the stripes |

```sh
zebractl set stripe_width 6
zebractl reload
```

%s

## Stopping the daemon

Run `zebractl stop` to stop the zebra daemon; running herds are saved first, then
the journal is closed and the register written to disk. Stopping takes a few
seconds for a large herd; `zebractl status` says when the daemon is down. The
stripes of every herd are kept in the register for the next start.
""" % ("Stripe settings apply to new herds only. " * 30)

DOC_B = """# Giraffe notes

Giraffes browse acacia leaves with a long tongue, and the giraffe register counts necks.
"""

DOC_C = """<html><head><title>Okapi manual</title></head><body><h1>Okapi manual</h1>
<p>The okapi forest index lists every okapi sighting with its forest.</p></body></html>"""


def _run(env, pg, *args):
    out = subprocess.run([env.suite.binary] + list(args), env=dict(os.environ, DATABASE_URL=pg.conninfo),
                         capture_output=True, text=True, timeout=120, cwd=env.suite.tmp)
    check(out.returncode == 0, "chatkitd %s: %s %s" % (" ".join(args), out.stdout[-600:], out.stderr[-600:]))
    return out.stdout


def _search(pg, params):
    out = subprocess.run(["psql", pg.conninfo, "-XAt", "-v", "ON_ERROR_STOP=1", "-c",
                          "SELECT chatkit.corpus_search(%s::jsonb)" % ("'" + json.dumps(params).replace("'", "''") + "'")],
                         capture_output=True, text=True, timeout=60)
    check(out.returncode == 0, "search %r: %s" % (params, out.stderr))
    return json.loads(out.stdout)


def _sources(reply):
    return [r["source"] for r in reply["results"]]


def test_ingest_and_search(env):
    pg = env.new_pg()
    name = os.path.basename(env.tmp_path("corpus"))
    root = os.path.join(env.suite.tmp, name)
    os.makedirs(os.path.join(root, "sub"), exist_ok=True)
    for rel, text in (("a.md", DOC_A), ("b.md", DOC_B), ("sub/c.html", DOC_C)):
        with open(os.path.join(root, rel), "w") as f:
            f.write(text)

    # not a terminal: only the summary line, with files and a rate
    out = _run(env, pg, "ingest", name)
    check(out.count("\n") == 1 and "3 files in" in out and "files/s" in out and "3 added" in out, "summary: %r" % out)
    # ./name/ and name// are the same directory: nothing new, nothing removed
    out = _run(env, pg, "ingest", "./%s/" % name)
    check("0 added" in out and "3 unchanged" in out and "0 removed" in out, "re-ingest as ./dir/: %r" % out)
    reply = _search(pg, {"query": "giraffe tongue acacia"})
    check(_sources(reply)[:1] == ["%s/b.md" % name], "normalised source: %r" % _sources(reply))

    # Markdown passages: the table and the code block whole; several passages of one document
    reply = _search(pg, {"query": "zebra stripe width setting", "limit": 5})
    texts = [r["text"] for r in reply["results"] if r["source"] == "%s/a.md" % name]
    table = ("| setting | default | meaning |\n|---|---|---|\n| stripe_width | 4 | width of a stripe in pixels |\n"
             "| stripe_color | black | colour of the stripes |")
    check(any(table in t for t in texts), "table kept whole: %r" % texts)
    check(any("```sh\nzebractl set stripe_width 6\nzebractl reload\n```" in t for t in texts), "code kept: %r" % texts)
    titles = [r["title"] for r in reply["results"]]
    check("Zebra guide > Configuring stripes" in titles, "heading path: %r" % titles)
    reply = _search(pg, {"query": "zebra daemon stop stripes", "limit": 5})
    check(_sources(reply).count("%s/a.md" % name) >= 2, "several passages of one document: %r" % reply)
    check(len({r["text"] for r in reply["results"]}) == len(reply["results"]), "duplicate passages: %r" % reply)

    # sources filter: prefixes of the normalised source ("./" ignored); absent = all
    both = {"query": "register of the herd and necks"}
    check(set(_sources(_search(pg, both))) >= {"%s/a.md" % name, "%s/b.md" % name}, "unfiltered: %r" % both)
    only_b = _sources(_search(pg, dict(both, sources=["./%s/b" % name])))
    check(only_b == ["%s/b.md" % name], "sources filter ./dir/b: %r" % only_b)
    sub = _search(pg, {"query": "okapi forest", "sources": ["%s/sub/" % name, "nowhere/"]})
    check(_sources(sub) == ["%s/sub/c.html" % name], "sources filter dir/sub/: %r" % sub)
    none = _search(pg, {"query": "okapi forest", "sources": ["nowhere/"]})
    check(none["results"] == [] and none.get("note"), "no matching source: %r" % none)
    bad = subprocess.run(["psql", pg.conninfo, "-XAt", "-c",
                          "SELECT chatkit.corpus_search('{\"query\":\"x\",\"sources\":\"docs/\"}')"],
                         capture_output=True, text=True)
    check(bad.returncode != 0 and "sources must be an array" in bad.stderr, "bad sources: %r" % bad.stderr)

    # relevance floor: off-topic questions get no passage and a note
    for q in ("How do I bake sourdough bread at home?", "Which football team won the world cup?"):
        reply = _search(pg, {"query": q})
        check(reply["results"] == [] and "relevant" in reply.get("note", ""), "floor for %r: %r" % (q, reply))

    # deletion: a file gone from the directory leaves the corpus on re-ingest
    os.remove(os.path.join(root, "b.md"))
    shutil.rmtree(os.path.join(root, "sub"))
    out = _run(env, pg, "ingest", name)
    check("2 removed" in out and "1 unchanged" in out, "re-ingest after deletion: %r" % out)
    check(_search(pg, {"query": "giraffe tongue acacia"})["results"] == [], "deleted document still found")
    check(_sources(_search(pg, {"query": "zebra stripes"}))[:1] == ["%s/a.md" % name], "kept document lost")

    # retrieval-only server: relevant passages quoted, off-topic says "not covered", each search logged
    srv = env.start_server({}, database_url=pg.conninfo)
    c = env.client("1.1", base=srv.url)
    _, ev = c.create_thread("How do I stop the zebra daemon?")
    done = [e["item"] for e in ev if e["type"] == "thread.item.done" and e["item"]["type"] == "assistant_message"]
    text = done[-1]["content"][0]["text"]
    check("zebractl stop" in text, "retrieval-only answer: %r" % text)
    _, ev = c.create_thread("How do I bake sourdough bread at home?")
    done = [e["item"] for e in ev if e["type"] == "thread.item.done" and e["item"]["type"] == "assistant_message"]
    text = done[-1]["content"][0]["text"]
    check("does not cover" in text and "zebra" not in text.lower(), "off-topic retrieval-only answer: %r" % text)
    check(done[-1]["content"][0]["annotations"] == [], "no sources for an off-topic answer")
    with open(srv.log_path) as f:
        log = f.read()
    check(log.count("search: ") >= 2 and " ms, 0 results" in log, "search log lines: %r" % log[-800:])

    # with a model: the tool output it gets says that nothing is relevant
    fake = Fake(env)
    fake.script([{"tool_calls": [{"name": "search", "arguments": {"query": "sourdough bread baking"}}]},
                 {"text": "The documentation does not cover that."}], nonstream=[{"text": "Bread"}])
    msrv = model_server(env, fake, database_url=pg.conninfo)
    mc = env.client("1.1", base=msrv.url)
    mc.create_thread("How do I bake bread?")
    tool = [m for m in fake.chat_requests()[1]["messages"] if m["role"] == "tool"]
    out = json.loads(tool[0]["content"])
    check(out["results"] == [] and "relevant" in out.get("note", ""), "tool output: %r" % out)


PHRASE_MD = """# Ledger

## Sums

A running total adds each payment to the sum of the payments before it, so the
last row of the ledger shows what was paid so far; the ledger prints it in the
right-hand column next to every payment, month after month.
"""

WORDS_MD = """# Jobs

## Batch

The total of a batch job is written when the job stops running; the batch
total is kept apart from the sum of the payments of every other job, and
the last row of the batch shows what was paid so far in the right-hand column.
"""


def test_results_spread_and_phrases(env):
    """A long page matching in many sections does not fill the list: its n-th
    passage competes with its score x 0.3^(n-1), over every candidate (not
    only the best few), so a short page as relevant as each of its sections
    comes second.  Query words adjacent in the question and in a passage
    ("running total") lift it above one holding them apart (here with "total"
    twice, which alone ranks it first)."""
    pg = env.new_pg()
    name = os.path.basename(env.tmp_path("spread"))
    root = os.path.join(env.suite.tmp, name)
    os.makedirs(root, exist_ok=True)
    para = ("The quagga herd of the %s grazes on the open plain at dawn and walks to the river at dusk; "
            "keepers count the animals twice a day and note the weather in the log book. " * 3)
    with open(os.path.join(root, "big.md"), "w") as f:
        f.write("# Plains\n\n" + "".join("## Area %s\n\n%s\n\n" % (w, para.replace("%s", w)) for w in
                                           ("north", "south", "east", "west", "centre", "hills",
                                            "lake", "forest", "valley", "ridge", "delta", "coast")))
    with open(os.path.join(root, "small.md"), "w") as f:
        f.write("# Reserve\n\n## Area marsh\n\n%s\n" % para.replace("%s", "marsh"))
    for rel, text in (("phrase.md", PHRASE_MD), ("words.md", WORDS_MD)):
        with open(os.path.join(root, rel), "w") as f:
            f.write(text)
    _run(env, pg, "ingest", name)
    reply = _search(pg, {"query": "quagga herd", "limit": 2})
    check(sorted(_sources(reply)) == ["%s/big.md" % name, "%s/small.md" % name], "spread: %r" % _sources(reply))
    # with a larger limit the long page's other passages still come
    reply = _search(pg, {"query": "quagga herd", "limit": 6})
    check(_sources(reply).count("%s/big.md" % name) == 5, "several passages of the long page: %r" % _sources(reply))
    reply = _search(pg, {"query": "How do I compute a running total?"})
    check(_sources(reply) == ["%s/phrase.md" % name, "%s/words.md" % name], "phrase: %r" % reply)
