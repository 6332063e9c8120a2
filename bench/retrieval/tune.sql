-- tune.sql - ranking experiments, NOT a migration: a copy of
-- chatkit.corpus_search (sql/003_corpus.sql) whose constants come from
-- params.knobs, plus a proximity bonus that was measured and dropped.
--   psql "$DATABASE_URL" -f bench/retrieval/tune.sql
--   bench/retrieval/eval.py --db "$DATABASE_URL" --function chatkit.corpus_search_x \
--       --knobs '{"per_doc":1,"w_doc":0.4,"prox_mode":0}'
-- Knobs: k1, b_body, b_title, w_title, w_doc, per_doc, pool, and
-- prox_mode (0 none, 1 ts_rank_cd of the OR query, 2 ts_rank_cd of the AND of
-- the matched lexemes) with its weight w_prox.  Tune on the dev half (odd
-- question ids) only; docs/ingest.md lists what was tried.
CREATE OR REPLACE FUNCTION chatkit.corpus_search_x(params jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    kn jsonb := coalesce(params->'knobs', '{}');
    k1      float8 := coalesce((kn->>'k1')::float8, 1.2);
    b_body  float8 := coalesce((kn->>'b_body')::float8, 0.75);
    b_title float8 := coalesce((kn->>'b_title')::float8, 0.5);
    w_title float8 := coalesce((kn->>'w_title')::float8, 3.0);
    w_prox  float8 := coalesce((kn->>'w_prox')::float8, 0);
    prox_mode int := coalesce((kn->>'prox_mode')::int, 2);
    w_doc   float8 := coalesce((kn->>'w_doc')::float8, 0);
    per_doc integer := coalesce((kn->>'per_doc')::int, 2);
    pool    integer := coalesce((kn->>'pool')::int, 100);
    v_limit integer := coalesce((params->>'limit')::int, 5);
    v_lex   text[];
    v_tsq   tsquery;
    v_out   jsonb;
BEGIN
    v_lex := ARRAY(SELECT u.lexeme FROM unnest(to_tsvector('english', params->>'query')) u);
    IF cardinality(v_lex) = 0 THEN RETURN '{"results": []}'::jsonb; END IF;
    v_tsq := array_to_string(ARRAY(SELECT quote_literal(l) FROM unnest(v_lex) l), ' | ')::tsquery;
    WITH st AS (
        SELECT n_chunks::float8 AS n, greatest(sum_title_len::float8 / n_chunks, 1) AS avg_t,
               greatest(sum_body_len::float8 / n_chunks, 1) AS avg_b
          FROM chatkit.corpus_stats WHERE n_chunks > 0
    ), post AS (
        SELECT p.*, count(*) OVER (PARTITION BY p.lexeme) AS df FROM chatkit.corpus_postings p WHERE p.lexeme = ANY (v_lex)
    ), bm25f AS (
        SELECT post.chunk_id, post.document_id, array_agg(post.lexeme) AS lx,
               sum(ln(1 + (st.n - post.df + 0.5) / (post.df + 0.5)) * x.tfn / (k1 + x.tfn)) AS score
          FROM post, st,
               LATERAL (SELECT w_title * post.tf_title / (1 - b_title + b_title * post.title_len / st.avg_t)
                               + post.tf_body / (1 - b_body + b_body * post.body_len / st.avg_b) AS tfn) x
         GROUP BY post.chunk_id, post.document_id ORDER BY score DESC LIMIT pool
    ), ranked AS (
        SELECT c.id, c.title, c.text, d.source, f.document_id, f.score,
               CASE WHEN prox_mode = 1 THEN ts_rank_cd('{1,1,1,1}', c.tsv, v_tsq, 0)
                    WHEN prox_mode = 2 AND cardinality(f.lx) > 1 THEN
                      ts_rank_cd('{1,1,1,1}', c.tsv, array_to_string(ARRAY(SELECT quote_literal(l) FROM unnest(f.lx) l), ' & ')::tsquery, 0)
                    ELSE 0 END AS prox
          FROM bm25f f JOIN chatkit.chunks c ON c.id = f.chunk_id JOIN chatkit.documents d ON d.id = f.document_id
    ), scored AS (
        SELECT r.*, r.score * (1 + w_prox * r.prox)
                    + w_doc * (sum(r.score) OVER (PARTITION BY r.document_id) - r.score) AS final FROM ranked r
    ), capped AS (
        SELECT s.*, row_number() OVER (PARTITION BY s.source ORDER BY s.final DESC) AS nth FROM scored s
    ), best AS (
        SELECT * FROM capped WHERE nth <= per_doc ORDER BY final DESC, id LIMIT v_limit
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object('id', 'chunk_' || best.id, 'title', best.title, 'source', best.source,
               'score', round(best.final::numeric, 4), 'prox', best.prox) ORDER BY best.final DESC, best.id), '[]')
      INTO v_out FROM best;
    RETURN jsonb_build_object('results', v_out);
END $$;
