-- corpus.sql - writing and searching the search corpus (tables in
-- sql/schema/003_corpus.sql; docs/ingest.md): chatkit.corpus_put_document is
-- the only writer, chatkit.corpus_search answers the `search` op.

-- ---------------------------------------------------------------------------
-- Writers
-- ---------------------------------------------------------------------------

-- Number of lexeme occurrences (positions) in a tsvector.
CREATE OR REPLACE FUNCTION chatkit.corpus_tsv_len(tsvector) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(sum(cardinality(u.positions)), 0)::integer FROM unnest($1) AS u
$$;

-- Removes a document's chunks and postings and takes them out of the stats.
CREATE OR REPLACE FUNCTION chatkit.corpus_drop_chunks(p_document_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE chatkit.corpus_stats s
       SET n_chunks = s.n_chunks - x.n,
           sum_title_len = s.sum_title_len - x.t,
           sum_body_len = s.sum_body_len - x.b
      FROM (SELECT count(*) AS n, coalesce(sum(title_len), 0) AS t, coalesce(sum(body_len), 0) AS b
              FROM chatkit.chunks WHERE document_id = p_document_id) x;
    DELETE FROM chatkit.corpus_postings WHERE document_id = p_document_id;
    DELETE FROM chatkit.chunks WHERE document_id = p_document_id;
END $$;

-- Stores one document: `p_chunks` is a JSON array of {"title","text"} in
-- order.  Returns 'unchanged' (same source and sha256: nothing written),
-- 'added' or 'replaced' (old chunks removed, new ones inserted).  Runs in the
-- caller's transaction, so a failure leaves the previous version in place.
CREATE OR REPLACE FUNCTION chatkit.corpus_put_document(p_source text, p_sha256 text, p_title text, p_chunks jsonb)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_id  bigint;
    v_old text;
    v_new boolean;
BEGIN
    IF jsonb_typeof(p_chunks) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'chunks must be a JSON array' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO chatkit.documents (source, sha256, title) VALUES (p_source, p_sha256, p_title)
        ON CONFLICT (source) DO NOTHING RETURNING id INTO v_id;
    v_new := v_id IS NOT NULL;
    IF NOT v_new THEN
        SELECT id, sha256 INTO v_id, v_old FROM chatkit.documents WHERE source = p_source FOR UPDATE;
        IF v_old = p_sha256 THEN
            RETURN 'unchanged';
        END IF;
        PERFORM chatkit.corpus_drop_chunks(v_id);
        UPDATE chatkit.documents SET sha256 = p_sha256, title = p_title, ingested_at = now() WHERE id = v_id;
    END IF;

    INSERT INTO chatkit.chunks (document_id, ord, title, text, tsv, title_len, body_len)
    SELECT v_id, e.ord - 1, e.title, e.text, e.tt || e.tb,
           chatkit.corpus_tsv_len(e.tt), chatkit.corpus_tsv_len(e.tb)
      FROM (SELECT o AS ord, c->>'title' AS title, c->>'text' AS text,
                   setweight(to_tsvector('english', coalesce(c->>'title', '')), 'A') AS tt,
                   setweight(to_tsvector('english', coalesce(c->>'text', '')), 'D') AS tb
              FROM jsonb_array_elements(p_chunks) WITH ORDINALITY AS a(c, o)
             WHERE c->>'text' IS NOT NULL AND c->>'title' IS NOT NULL) e;

    INSERT INTO chatkit.corpus_postings (lexeme, chunk_id, document_id, tf_title, tf_body, title_len, body_len)
    SELECT u.lexeme, c.id, c.document_id,
           (SELECT count(*) FROM unnest(u.weights) w WHERE w = 'A'),
           (SELECT count(*) FROM unnest(u.weights) w WHERE w <> 'A'),
           c.title_len, c.body_len
      FROM chatkit.chunks c, unnest(c.tsv) u
     WHERE c.document_id = v_id;

    UPDATE chatkit.corpus_stats s
       SET n_chunks = s.n_chunks + x.n,
           sum_title_len = s.sum_title_len + x.t,
           sum_body_len = s.sum_body_len + x.b
      FROM (SELECT count(*) AS n, coalesce(sum(title_len), 0) AS t, coalesce(sum(body_len), 0) AS b
              FROM chatkit.chunks WHERE document_id = v_id) x;
    RETURN CASE WHEN v_new THEN 'added' ELSE 'replaced' END;
END $$;


-- ---------------------------------------------------------------------------
-- Search
-- ---------------------------------------------------------------------------

-- The `search` op: params {"query": text, "limit": int (default 5, 1..20),
-- "sources": [prefix, ...] (optional: only documents whose source starts
-- with one of the prefixes; a leading "./" of a prefix is ignored)}
-- -> {"results": [{"id","title","source","score","text"}, ...]}.
--
-- Ranking (docs/ingest.md "Ranking"; measured in bench/retrieval): the
-- question's lexemes (english config, stopwords dropped) are OR-ed; every
-- chunk holding one of them is scored with BM25F over two fields (the heading
-- path, weighted above the text, and the text, each with its own length
-- normalization; IDF from the live posting lists).  The best `pool` chunks
-- then get document evidence: w_doc times the summed scores of the other
-- candidate chunks of the same document.  One chunk per document is returned,
-- so the results cover as many documents as possible.
CREATE OR REPLACE FUNCTION chatkit.corpus_search(params jsonb) RETURNS jsonb
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
    v_docs  bigint[];                 -- documents allowed by params.sources; NULL = all
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

    IF jsonb_typeof(params->'sources') = 'array' THEN
        v_docs := ARRAY(SELECT d.id FROM chatkit.documents d
                         WHERE EXISTS (SELECT 1 FROM jsonb_array_elements(params->'sources') e
                                        WHERE jsonb_typeof(e) = 'string'
                                          AND starts_with(d.source, regexp_replace(e #>> '{}', '^(\./)+', ''))));
    ELSIF params ? 'sources' AND jsonb_typeof(params->'sources') <> 'null' THEN
        RAISE EXCEPTION 'sources must be an array of strings' USING ERRCODE = 'invalid_parameter_value';
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
                 WHERE p.lexeme = ANY (v_lex) AND (v_docs IS NULL OR p.document_id = ANY (v_docs))) x
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
