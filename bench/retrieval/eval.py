#!/usr/bin/python3
"""eval.py - retrieval benchmark of chatkit.corpus_search against Okapi BM25.

Usage: eval.py --db CONNINFO [--questions questions.tsv] [--json OUT]

Expects the corpus already ingested (bench/retrieval/run.sh does that).  For
every question of questions.tsv it runs chatkit.corpus_search (limit 10) and,
as the baseline, Okapi BM25 (k1=1.2, b=0.75) over the SAME chunks: each
chunk's lexemes come from the database (the chunk tsvector, title and text
together, english config), the question's lexemes from
to_tsvector('english', question), so only the scoring differs.

Metrics, at document level (a result is a hit when the base name of its
`source` is one of the question's judged files):
  recall@5  mean over questions of |judged docs among the top-5 sources| / |judged|
  hit@5     share of questions with at least one hit in the top 5
  MRR@10    mean of 1/rank of the first hit in the top 10 (0 if none)
An ablation row, bm25-1/doc, is BM25 with the same one-chunk-per-document
rule as chatkit.corpus_search, to show what the rest of the ranking adds.
Questions with an odd id form the "dev" half (used while tuning the ranking),
even ids the held-out "test" half; both halves and the total are reported.
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


def timings(db, qs, rounds=3):
    """Server-side time of corpus_search per question (ms): median and p95."""
    fn = ("CREATE FUNCTION pg_temp.t(q text) RETURNS float8 LANGUAGE plpgsql AS $$ "
          "DECLARE t0 timestamptz := clock_timestamp(); BEGIN "
          "PERFORM chatkit.corpus_search(jsonb_build_object('query', q, 'limit', 5)); "
          "RETURN extract(epoch FROM clock_timestamp() - t0) * 1000; END $$;")
    values = ",".join("(%s)" % sql_str(q["q"]) for q in qs)
    rows = psql(db, fn + " SELECT pg_temp.t(q) FROM (VALUES %s) v(q), generate_series(1, %d)" % (values, rounds))
    ms = sorted(float(x) for x in rows if x != "CREATE FUNCTION")
    return {"median_ms": statistics.median(ms), "p95_ms": ms[int(0.95 * (len(ms) - 1))], "max_ms": ms[-1]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--questions", default=os.path.join(os.path.dirname(__file__), "questions.tsv"))
    ap.add_argument("--json", help="write the numbers here too")
    ap.add_argument("--verbose", action="store_true", help="per-question ranks")
    ap.add_argument("--function", default="chatkit.corpus_search",
                    help="ranking experiments: chatkit.corpus_search_x from tune.sql")
    ap.add_argument("--knobs", help="ranking experiments: JSON knobs for --function (see tune.sql)")
    args = ap.parse_args()
    qs = load_questions(args.questions)
    runs = {"chatkitd": ours(args.db, qs, args.function, args.knobs), "bm25": bm25(args.db, qs),
            "bm25-1/doc": bm25(args.db, qs, per_doc=1)}
    halves = {"dev (odd ids)": [q for q in qs if q["id"] % 2], "test (even ids)": [q for q in qs if not q["id"] % 2],
              "all": qs}
    report = {name: {h: metrics(sub, ranked) for h, sub in halves.items()} for name, ranked in runs.items()}
    report["timing"] = timings(args.db, qs)
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
    print("%-11s %-16s %4s %9s %7s %7s" % ("ranking", "questions", "n", "recall@5", "hit@5", "MRR@10"))
    for name in runs:
        for h, m in report[name].items():
            print("%-11s %-16s %4d %9.3f %7.3f %7.3f" % (name, h, m["n"], m["recall@5"], m["hit@5"], m["MRR@10"]))
    t = report["timing"]
    print("corpus_search time per query: median %.1f ms, p95 %.1f ms, max %.1f ms" %
          (t["median_ms"], t["p95_ms"], t["max_ms"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    ok = all(report["chatkitd"]["all"][m] > report["bm25"]["all"][m] for m in ("recall@5", "MRR@10"))
    print("chatkitd beats BM25 on recall@5 and MRR@10: %s" % ("yes" if ok else "NO"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
