-- tune.sql - NOT a migration: functions for bench/retrieval only, in schema
-- `bench` (the migration runner drops unknown functions of schema chatkit).
--   bench.corpus_search_v0(params)  the ranking before bounded candidates
--       (every posting of every query lexeme aggregated, BM25F, best 100
--       chunks, document evidence 0.4, one chunk per document), kept to
--       measure what bounding the candidates bought (BENCHMARKS.md).
-- Ranking experiments on the live function need no copy: eval.py --knobs
-- '{"per_lexeme":1000,"floor":0}' calls chatkit.corpus_rank(params, knobs)
-- (knob names: the constants at the top of corpus_rank).
CREATE SCHEMA IF NOT EXISTS bench;

CREATE OR REPLACE FUNCTION bench.corpus_search_v0(params jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    k1      constant float8 := 1.2;   -- tf saturation
    b_body  constant float8 := 0.75;  -- length normalization, text
    b_title constant float8 := 0.5;   -- length normalization, heading path
    w_title constant float8 := 3.0;   -- weight of a heading-path occurrence
    w_doc   constant float8 := 0.4;   -- weight of the document's other candidate chunks
    pool    constant integer := 100;  -- BM25F candidates kept for the document step
    v_query text;
    v_limit integer := 5;
    v_lex   text[];
    v_out   jsonb;
BEGIN
    IF jsonb_typeof(params) IS DISTINCT FROM 'object' OR jsonb_typeof(params->'query') IS DISTINCT FROM 'string' THEN
        RAISE EXCEPTION 'query must be a string' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_query := left(params->>'query', 4000);
    IF jsonb_typeof(params->'limit') = 'number' THEN
        v_limit := greatest(1, least(20, floor(least((params->>'limit')::numeric, 1000))::integer));
    ELSIF params ? 'limit' AND jsonb_typeof(params->'limit') <> 'null' THEN
        RAISE EXCEPTION 'limit must be a number' USING ERRCODE = 'invalid_parameter_value';
    END IF;

    v_lex := ARRAY(SELECT u.lexeme FROM unnest(to_tsvector('english', v_query)) u);
    IF cardinality(v_lex) = 0 THEN
        RETURN '{"results": []}'::jsonb;
    END IF;

    WITH st AS (
        SELECT n_chunks::float8 AS n,
               greatest(sum_title_len::float8 / n_chunks, 1) AS avg_t,
               greatest(sum_body_len::float8 / n_chunks, 1) AS avg_b
          FROM chatkit.corpus_stats WHERE n_chunks > 0
    ), idf AS (
        SELECT p.lexeme, ln(1 + (st.n - count(*) + 0.5) / (count(*) + 0.5)) AS w
          FROM chatkit.corpus_postings p, st WHERE p.lexeme = ANY (v_lex) GROUP BY p.lexeme, st.n
    ), bm25f AS (
        SELECT x.chunk_id, x.document_id, sum(x.w * x.tfn / (k1 + x.tfn)) AS score
          FROM (SELECT p.chunk_id, p.document_id, idf.w,
                       w_title * p.tf_title / (1 - b_title + b_title * p.title_len / st.avg_t)
                       + p.tf_body / (1 - b_body + b_body * p.body_len / st.avg_b) AS tfn
                  FROM chatkit.corpus_postings p JOIN idf ON idf.lexeme = p.lexeme, st
                 WHERE p.lexeme = ANY (v_lex)) x
         GROUP BY x.chunk_id, x.document_id
         ORDER BY score DESC
         LIMIT pool
    ), scored AS (
        SELECT f.chunk_id, f.document_id,
               f.score + w_doc * (sum(f.score) OVER (PARTITION BY f.document_id) - f.score) AS final
          FROM bm25f f
    ), best AS (
        SELECT DISTINCT ON (s.document_id) s.* FROM scored s ORDER BY s.document_id, s.final DESC, s.chunk_id
    ), top AS (
        SELECT * FROM best ORDER BY final DESC, chunk_id LIMIT v_limit
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'id', 'chunk_' || c.id, 'title', c.title, 'source', d.source,
               'score', round(t.final::numeric, 4), 'text', c.text) ORDER BY t.final DESC, t.chunk_id), '[]')
      INTO v_out
      FROM top t
      JOIN chatkit.chunks c ON c.id = t.chunk_id
      JOIN chatkit.documents d ON d.id = t.document_id;
    RETURN jsonb_build_object('results', v_out);
END $$;
