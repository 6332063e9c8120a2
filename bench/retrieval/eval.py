#!/usr/bin/python3
"""eval.py - retrieval benchmark of chatkit.corpus_search against Okapi BM25.

Usage: eval.py --db CONNINFO [--questions questions.tsv] [--json OUT] [--knobs JSON]
       eval.py --db CONNINFO --latency LABEL [--function F] [--also G]

Expects the corpus already ingested (bench/retrieval/run.sh does that).  For
every question of questions.tsv it runs chatkit.corpus_search (limit 10) and,
as the baseline, Okapi BM25 (k1=1.2, b=0.75) over the SAME chunks: each
chunk's lexemes come from the database (the chunk tsvector, title and text
together, english config), the question's lexemes from
to_tsvector('english', question), so only the scoring differs.

Metrics, at document level (a result is a hit when the base name of its
`source` is one of the question's judged files):
  recall@5  mean over questions of |judged docs among the top-5 sources| / |judged|
            (strict: a question judged with 3 pages needs all 3 among the
            top 5, and a page repeated in the top 5 takes a slot another
            judged page could have had)
  hit@5     share of questions with at least one hit in the top 5 (the
            reading "a question is answered if a top-5 passage comes from
            a relevant page")
  MRR@10    mean of 1/rank of the first hit in the top 10 (0 if none)
Another judged set in the same format: --questions FILE (id, question,
comma-separated file names; odd ids dev, even ids test).
An ablation row, bm25-1/doc, is BM25 with the same one-chunk-per-document
rule as chatkit.corpus_search, to show what the rest of the ranking adds.
Questions with an odd id form the "dev" half (used while tuning the ranking),
even ids the held-out "test" half; both halves and the total are reported.
Latency: each question's search timed inside PostgreSQL (clock_timestamp()
around the call: server-side, no client or network), after a warm-up round;
p50/p90/p99/max over questions x rounds.
Only psql is needed (no Python database driver).
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
from collections import defaultdict

K1, B = 1.2, 0.75


def psql(db, sql, stdin=None):
    """Runs SQL with psql -At (tab separated) and returns the output lines."""
    out = subprocess.run(["psql", db, "-X", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         input=stdin, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("psql failed: " + out.stderr)
    return [l for l in out.stdout.split("\n") if l]


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


def load_questions(path):
    qs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            qid, text, rel = line.rstrip("\n").split("\t")
            qs.append({"id": int(qid), "q": text, "rel": set(rel.split(","))})
    return qs


def ours(db, qs, function="chatkit.corpus_search", knobs=None):
    """Ranked source base names per question from chatkit.corpus_search (or
    the tuning copy of tune.sql, with `knobs`)."""
    values = ",".join("(%d,%s)" % (q["id"], sql_str(q["q"])) for q in qs)
    call = "%s(jsonb_build_object('query', q.text, 'limit', 10))" % function
    if knobs:
        call = "chatkit.corpus_rank(jsonb_build_object('query', q.text, 'limit', 10), %s::jsonb)" % sql_str(knobs)
    rows = psql(db, "SELECT q.id, r.ord, r.v->>'source' FROM (VALUES %s) q(id, text), "
                    "jsonb_array_elements(%s->'results') WITH ORDINALITY r(v, ord) ORDER BY 1, 2" % (values, call))
    ranked = defaultdict(list)
    for line in rows:
        qid, _, src = line.split("\t")
        ranked[int(qid)].append(os.path.basename(src))
    return ranked


def bm25(db, qs, per_doc=0):
    """Okapi BM25 over the chunks' lexemes; ranked source base names of the
    top 10 chunks (per_doc=1: of the best chunk of each of the top 10 documents)."""
    postings = defaultdict(list)  # lexeme -> [(chunk, tf)]
    length, source = {}, {}
    rows = psql(db, "SELECT c.id, d.source, u.lexeme, cardinality(u.positions) "
                    "FROM chatkit.chunks c JOIN chatkit.documents d ON d.id = c.document_id, unnest(c.tsv) u")
    for line in rows:
        cid, src, lex, tf = line.split("\t")
        cid, tf = int(cid), int(tf)
        postings[lex].append((cid, tf))
        length[cid] = length.get(cid, 0) + tf
        source[cid] = os.path.basename(src)
    n = len(length)
    avg = sum(length.values()) / max(n, 1)
    values = ",".join("(%d,%s)" % (q["id"], sql_str(q["q"])) for q in qs)
    qlex = defaultdict(list)
    for line in psql(db, "SELECT q.id, u.lexeme FROM (VALUES %s) q(id, text), "
                         "unnest(to_tsvector('english', q.text)) u" % values):
        qid, lex = line.split("\t")
        qlex[int(qid)].append(lex)
    ranked = {}
    for q in qs:
        score = defaultdict(float)
        for lex in qlex[q["id"]]:
            plist = postings.get(lex, [])
            idf = math.log(1 + (n - len(plist) + 0.5) / (len(plist) + 0.5))
            for cid, tf in plist:
                score[cid] += idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * length[cid] / avg))
        docs = [source[cid] for cid, _ in sorted(score.items(), key=lambda kv: (-kv[1], kv[0]))]
        if per_doc:
            docs = list(dict.fromkeys(docs))
        ranked[q["id"]] = docs[:10]
    return ranked


def metrics(qs, ranked):
    rec, hit, mrr = [], [], []
    for q in qs:
        r = ranked.get(q["id"], [])
        found = q["rel"] & set(r[:5])
        rec.append(len(found) / len(q["rel"]))
        hit.append(1.0 if found else 0.0)
        first = next((i for i, s in enumerate(r[:10]) if s in q["rel"]), None)
        mrr.append(0.0 if first is None else 1.0 / (first + 1))
    n = max(len(qs), 1)
    return {"n": len(qs), "recall@5": sum(rec) / n, "hit@5": sum(hit) / n, "MRR@10": sum(mrr) / n}


def timings(db, qs, rounds=3, function="chatkit.corpus_search"):
    """Server-side time of one search per question (ms, measured inside
    PostgreSQL around the function call), `rounds` times each after one
    warm-up round: percentiles over all calls."""
    fn = ("CREATE FUNCTION pg_temp.t(q text) RETURNS float8 LANGUAGE plpgsql AS $$ "
          "DECLARE t0 timestamptz := clock_timestamp(); BEGIN "
          "PERFORM %s(jsonb_build_object('query', q, 'limit', 5)); "
          "RETURN extract(epoch FROM clock_timestamp() - t0) * 1000; END $$;" % function)
    values = ",".join("(%s)" % sql_str(q["q"]) for q in qs)
    # the backend's CPU time (utime + stime from /proc, clock ticks) around the timed
    # rounds: the cost of a search without the waits of a shared machine
    cpu = ("CREATE FUNCTION pg_temp.cpu() RETURNS bigint LANGUAGE sql AS $$ SELECT "
           "(split_part(x, ' ', 12)::bigint + split_part(x, ' ', 13)::bigint) FROM "
           "(SELECT split_part(pg_read_file('/proc/' || pg_backend_pid() || '/stat'), ') ', 2) x) s $$;")
    body = (fn + cpu + " SELECT 'w', pg_temp.t(q) FROM (VALUES %s) v(q);"
            " SELECT 'c', pg_temp.cpu();"
            " SELECT 'w', pg_temp.t(q) FROM (VALUES %s) v(q), generate_series(1, %d) r;"
            " SELECT 'c', pg_temp.cpu();" % (values, values, rounds))
    proc = subprocess.Popen(["psql", db, "-X", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    proc.stdin.write("SELECT pg_backend_pid();\n")
    proc.stdin.flush()
    pid = int(proc.stdout.readline())
    rt = os.environ.get("BENCH_RT")
    if rt:  # SCHED_FIFO for the backend that runs the searches (root only)
        subprocess.run(["chrt", "-f", "-p", str(int(rt)), str(pid)], check=True)
    out, _ = proc.communicate(body + "\n")
    if proc.returncode != 0:
        sys.exit("psql failed (timings)")
    rows = [l for l in out.split("\n") if l]
    rows = [r.split("\t") for r in rows if "\t" in r]
    ms = [float(v) for k, v in rows if k == "w"][len(qs):]  # round 0 warms the caches
    ticks = [int(v) for k, v in rows if k == "c"]
    ms.sort()

    def pct(p):
        return ms[min(len(ms) - 1, int(round(p / 100.0 * (len(ms) - 1))))]
    cpu_ms = (ticks[1] - ticks[0]) * 1000.0 / os.sysconf("SC_CLK_TCK") / max(len(ms), 1)
    return {"n": len(ms), "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99), "max_ms": ms[-1],
            "cpu_ms": cpu_ms}


def print_timing(label, t):
    print("%-40s %4d calls  p50 %6.1f  p90 %6.1f  p99 %6.1f  max %6.1f ms  CPU %5.2f ms/search" %
          (label, t["n"], t["p50_ms"], t["p90_ms"], t["p99_ms"], t["max_ms"], t["cpu_ms"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--questions", default=os.path.join(os.path.dirname(__file__), "questions.tsv"))
    ap.add_argument("--json", help="write the numbers here too")
    ap.add_argument("--verbose", action="store_true", help="per-question ranks")
    ap.add_argument("--function", default="chatkit.corpus_search",
                    help="the search function to evaluate (e.g. bench.corpus_search_v0 of tune.sql)")
    ap.add_argument("--knobs", help="ranking experiments: JSON knobs for chatkit.corpus_rank")
    ap.add_argument("--latency", metavar="LABEL",
                    help="latency only: time --function (and any --also) per question, print one line each")
    ap.add_argument("--also", action="append", default=[], help="with --latency: more functions to time")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    qs = load_questions(args.questions)
    if args.latency:
        n = int(psql(args.db, "SELECT count(*) FROM chatkit.chunks")[0])
        for fn in [args.function] + args.also:
            print_timing("%s %s (%d chunks)" % (args.latency, fn.split(".")[-1], n), timings(args.db, qs, args.rounds, fn))
        return 0
    runs = {"chatkitd": ours(args.db, qs, args.function, args.knobs), "bm25": bm25(args.db, qs),
            "bm25-1/doc": bm25(args.db, qs, per_doc=1)}
    halves = {"dev (odd ids)": [q for q in qs if q["id"] % 2], "test (even ids)": [q for q in qs if not q["id"] % 2],
              "all": qs}
    report = {name: {h: metrics(sub, ranked) for h, sub in halves.items()} for name, ranked in runs.items()}
    report["timing"] = timings(args.db, qs, args.rounds, args.function)
    report["chunks"] = int(psql(args.db, "SELECT count(*) FROM chatkit.chunks")[0])
    report["documents"] = int(psql(args.db, "SELECT count(*) FROM chatkit.documents")[0])
    if args.verbose:
        for q in qs:
            def rank(r):
                return next((i + 1 for i, s in enumerate(r[:10]) if s in q["rel"]), "-")
            print("%3d ours=%-2s bm25=%-2s %s | %s" % (q["id"], rank(runs["chatkitd"][q["id"]]),
                                                       rank(runs["bm25"][q["id"]]), q["q"],
                                                       " ".join(runs["chatkitd"][q["id"]][:5])))
    print("corpus: %d documents, %d chunks; %d questions" % (report["documents"], report["chunks"], len(qs)))
    print("recall@5: share of a question's judged pages among the top-5 sources (strict); hit@5: share of "
          "questions with a judged page in the top 5; MRR@10: 1/rank of the first judged page")
    print("%-11s %-16s %4s %9s %7s %7s" % ("ranking", "questions", "n", "recall@5", "hit@5", "MRR@10"))
    for name in runs:
        for h, m in report[name].items():
            print("%-11s %-16s %4d %9.3f %7.3f %7.3f" % (name, h, m["n"], m["recall@5"], m["hit@5"], m["MRR@10"]))
    print_timing("1x %s" % args.function.split(".")[-1], report["timing"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    ok = all(report["chatkitd"][h][m] > report["bm25"][h][m]
             for h in ("dev (odd ids)", "test (even ids)") for m in ("recall@5", "MRR@10"))
    print("chatkitd beats BM25 on recall@5 and MRR@10 on both halves: %s" % ("yes" if ok else "NO"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
