-- corpus.sql - the functions of the search corpus (tables: sql/schema/003 and
-- 030): storing and removing documents, and the ranking behind the `search`
-- op.  See docs/ingest.md ("Ingest", "Ranking").
--
-- Writers go through chatkit.corpus_put_document and
-- chatkit.corpus_delete_missing only: they keep the posting lists, the
-- per-lexeme document frequencies (corpus_lexemes) and the corpus totals
-- (corpus_stats) in step with the chunks.

-- Number of lexeme occurrences (positions) in a tsvector.
CREATE OR REPLACE FUNCTION chatkit.corpus_tsv_len(tsvector) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(sum(cardinality(u.positions)), 0)::integer FROM unnest($1) AS u
$$;

-- A posting's impact: its BM25F term weight tf'/(1.2 + tf') with fixed
-- average field lengths (heading path 5, text 90 lexemes: the PostgreSQL
-- manual's).  Postings of one lexeme sorted by impact come in nearly the
-- order of their live scores, which use the live averages and the IDF.
CREATE OR REPLACE FUNCTION chatkit.corpus_impact(tf_title integer, tf_body integer, title_len integer, body_len integer)
RETURNS real LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT (x.tfn / (1.2 + x.tfn))::real
      FROM (SELECT 3.0 * tf_title / (0.5 + 0.5 * title_len / 5.0)
                   + tf_body / (0.25 + 0.75 * body_len / 90.0) AS tfn) x
$$;

-- Removes a document's chunks and postings and takes them out of the stats
-- and the document frequencies.
CREATE OR REPLACE FUNCTION chatkit.corpus_drop_chunks(p_document_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE chatkit.corpus_stats s
       SET n_chunks = s.n_chunks - x.n,
           sum_title_len = s.sum_title_len - x.t,
           sum_body_len = s.sum_body_len - x.b
      FROM (SELECT count(*) AS n, coalesce(sum(title_len), 0) AS t, coalesce(sum(body_len), 0) AS b
              FROM chatkit.chunks WHERE document_id = p_document_id) x;
    UPDATE chatkit.corpus_lexemes l
       SET df = l.df - x.n
      FROM (SELECT lexeme, count(*) AS n FROM chatkit.corpus_postings
             WHERE document_id = p_document_id GROUP BY lexeme ORDER BY lexeme) x
     WHERE l.lexeme = x.lexeme;
    DELETE FROM chatkit.corpus_lexemes l
     USING (SELECT DISTINCT lexeme FROM chatkit.corpus_postings WHERE document_id = p_document_id) x
     WHERE l.lexeme = x.lexeme AND l.df <= 0;
    DELETE FROM chatkit.corpus_postings WHERE document_id = p_document_id;
    DELETE FROM chatkit.chunks WHERE document_id = p_document_id;
END $$;

-- Stores one document: `p_chunks` is a JSON array of {"title","text"} in
-- order.  Returns 'unchanged' (same source and sha256: nothing written),
-- 'added' or 'replaced' (old chunks removed, new ones inserted).  Runs in the
-- caller's transaction, so a failure leaves the previous version in place.
-- `p_source` is stored as given (the caller normalises it: no leading "./").
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

    INSERT INTO chatkit.corpus_postings (lexeme, chunk_id, document_id, tf_title, tf_body, title_len, body_len, impact)
    SELECT x.lexeme, x.id, x.document_id, x.tf_title, x.tf_body, x.title_len, x.body_len,
           chatkit.corpus_impact(x.tf_title, x.tf_body, x.title_len, x.body_len)
      FROM (SELECT u.lexeme, c.id, c.document_id, c.title_len, c.body_len,
                   (SELECT count(*) FROM unnest(u.weights) w WHERE w = 'A')::integer AS tf_title,
                   (SELECT count(*) FROM unnest(u.weights) w WHERE w <> 'A')::integer AS tf_body
              FROM chatkit.chunks c, unnest(c.tsv) u
             WHERE c.document_id = v_id) x;

    -- in lexeme order, so concurrent ingests lock the rows in the same order
    INSERT INTO chatkit.corpus_lexemes AS l (lexeme, df)
    SELECT lexeme, count(*) FROM chatkit.corpus_postings WHERE document_id = v_id GROUP BY lexeme ORDER BY lexeme
        ON CONFLICT (lexeme) DO UPDATE SET df = l.df + EXCLUDED.df;

    UPDATE chatkit.corpus_stats s
       SET n_chunks = s.n_chunks + x.n,
           sum_title_len = s.sum_title_len + x.t,
           sum_body_len = s.sum_body_len + x.b
      FROM (SELECT count(*) AS n, coalesce(sum(title_len), 0) AS t, coalesce(sum(body_len), 0) AS b
              FROM chatkit.chunks WHERE document_id = v_id) x;
    RETURN CASE WHEN v_new THEN 'added' ELSE 'replaced' END;
END $$;

-- Removes every document whose source starts with `p_prefix` (a directory
-- with its trailing "/") and is not in `p_keep` (the files an ingest of that
-- directory just found).  Returns the removed sources, sorted.
CREATE OR REPLACE FUNCTION chatkit.corpus_delete_missing(p_prefix text, p_keep text[]) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    v record;
BEGIN
    FOR v IN SELECT d.id, d.source FROM chatkit.documents d
              WHERE d.source COLLATE "C" >= p_prefix COLLATE "C"
                AND d.source COLLATE "C" < (p_prefix || chr(1114111)) COLLATE "C"
                AND starts_with(d.source, p_prefix)
                AND NOT d.source = ANY (coalesce(p_keep, '{}'))
              ORDER BY d.source COLLATE "C"
                FOR UPDATE
    LOOP
        PERFORM chatkit.corpus_drop_chunks(v.id);
        DELETE FROM chatkit.documents WHERE id = v.id;
        RETURN NEXT v.source;
    END LOOP;
END $$;

-- The ranking (docs/ingest.md "Ranking"), with its constants overridable
-- by `knobs` for bench/retrieval only (corpus_search passes none):
--   1. Query lexemes: to_tsvector('english', query), at most 32, OR-ed; IDF
--      ln(1 + (N - df + 0.5) / (df + 0.5)) from corpus_lexemes.
--   2. Postings read (bounded): for each lexeme the `per_lexeme` postings of
--      highest impact (an index range scan that stops there).  With a
--      `sources` filter matching at most 64 documents, every posting of
--      those documents instead (index (document_id, lexeme)).
--   3. Each chunk met: BM25F over the postings read, and its coverage (the
--      share of the query's IDF mass it holds); the best `pool` go on.
--   4. Floor: a chunk whose coverage is under `floor` is not relevant.
--   5. Document evidence: + w_doc x the other candidates' scores of the
--      same document.
--   5b. Phrases: pairs of query lexemes at most 3 positions apart in the
--      question become phrase queries with the same gap ("running total":
--      'run' <-> 'total'); each of the best `m_phrase` candidates holding a
--      pair in its tsvector (title and text) gets + w_phrase x the pair's IDF sum.
--   6. Every candidate above the floor: the n-th best of a document
--      competes with its score x same_doc^(n-1), so the list spreads over
--      pages before it repeats one; texts are read for the best 2 x limit
--      only (identical texts count once).
CREATE OR REPLACE FUNCTION chatkit.corpus_rank(params jsonb, knobs jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    k1       constant float8  := coalesce((knobs->>'k1')::float8, 1.2);
    b_body   constant float8  := coalesce((knobs->>'b_body')::float8, 0.75);
    b_title  constant float8  := coalesce((knobs->>'b_title')::float8, 0.5);
    w_title  constant float8  := coalesce((knobs->>'w_title')::float8, 3.0);
    w_doc    constant float8  := coalesce((knobs->>'w_doc')::float8, 0.2);
    per_lex  constant integer := coalesce((knobs->>'per_lexeme')::integer, 1000);
    pool     constant integer := coalesce((knobs->>'pool')::integer, 300);
    floor_c  constant float8  := coalesce((knobs->>'floor')::float8, 0.3);
    same_doc constant float8  := coalesce((knobs->>'same_doc')::float8, 0.3);
    w_cov    constant float8  := coalesce((knobs->>'w_cov')::float8, 0);
    w_phrase constant float8  := coalesce((knobs->>'w_phrase')::float8, 0.25);
    m_phrase constant integer := coalesce((knobs->>'m_phrase')::integer, 100);
    few_docs constant integer := 64;
    v_query  text;
    v_limit  integer := 5;
    v_docs   bigint[];
    v_lex    text[];
    v_idf    float8[];
    v_df     integer[];
    v_total  float8;
    v_n      float8;
    v_avg_t  float8;
    v_avg_b  float8;
    v_few    boolean;
    v_pairs  tsquery[];
    v_pair_w float8[];
    v_out    jsonb;
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
    IF params ? 'sources' AND jsonb_typeof(params->'sources') <> 'null' THEN
        IF jsonb_typeof(params->'sources') <> 'array'
           OR EXISTS (SELECT 1 FROM jsonb_array_elements(params->'sources') e WHERE jsonb_typeof(e) <> 'string')
           OR jsonb_array_length(params->'sources') > 100 THEN
            RAISE EXCEPTION 'sources must be an array of at most 100 strings' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        v_docs := ARRAY(
            SELECT DISTINCT d.id
              FROM (SELECT regexp_replace(e, '^(\./)+', '') AS p
                      FROM jsonb_array_elements_text(params->'sources') e) s,
                   LATERAL (SELECT d.id FROM chatkit.documents d
                             WHERE d.source COLLATE "C" >= s.p COLLATE "C"
                               AND d.source COLLATE "C" < (s.p || chr(1114111)) COLLATE "C"
                               AND starts_with(d.source, s.p)) d);
        IF cardinality(v_docs) = 0 THEN
            RETURN '{"results": [], "note": "No document matches the sources filter."}'::jsonb;
        END IF;
    END IF;

    SELECT n_chunks::float8, greatest(sum_title_len::float8 / n_chunks, 1), greatest(sum_body_len::float8 / n_chunks, 1)
      INTO v_n, v_avg_t, v_avg_b
      FROM chatkit.corpus_stats WHERE n_chunks > 0;
    SELECT array_agg(q.lexeme), array_agg(ln(1 + (v_n - coalesce(l.df, 0) + 0.5) / (coalesce(l.df, 0) + 0.5))),
           array_agg(coalesce(l.df, 0)), sum(ln(1 + (v_n - coalesce(l.df, 0) + 0.5) / (coalesce(l.df, 0) + 0.5)))
      INTO v_lex, v_idf, v_df, v_total
      FROM (SELECT u.lexeme FROM unnest(to_tsvector('english', v_query)) u LIMIT 32) q
      LEFT JOIN chatkit.corpus_lexemes l ON l.lexeme = q.lexeme;
    IF v_n IS NULL OR v_lex IS NULL THEN
        RETURN '{"results": [], "note": "Nothing in the documentation matches this query."}'::jsonb;
    END IF;

    IF w_phrase > 0 THEN
        -- pairs of query lexemes at most 3 positions apart (stopwords count),
        -- as phrase queries with the question's gap: "running total" ->
        -- 'run' <-> 'total'; weight: the pair's IDF sum
        SELECT array_agg(tsquery_phrase(('''' || x.lexeme || '''')::tsquery, ('''' || x.nlex || '''')::tsquery,
                                        x.npos - x.pos)),
               array_agg(v_idf[array_position(v_lex, x.lexeme)] + v_idf[array_position(v_lex, x.nlex)])
          INTO v_pairs, v_pair_w
          FROM (SELECT y.lexeme, y.pos, lead(y.lexeme) OVER w AS nlex, lead(y.pos) OVER w AS npos
                  FROM (SELECT u.lexeme, unnest(u.positions) AS pos
                          FROM unnest(to_tsvector('english', v_query)) u
                         WHERE u.lexeme = ANY (v_lex) AND u.lexeme !~ '[''\\]') y
                WINDOW w AS (ORDER BY y.pos)) x
         WHERE x.npos - x.pos <= 3 AND x.nlex <> x.lexeme AND x.npos <= 1000;
    END IF;
    v_few := v_docs IS NOT NULL AND cardinality(v_docs) <= few_docs;
    WITH post AS (   -- 2. the postings read: the highest-impact ones of each lexeme...
        SELECT p.chunk_id, p.document_id, q.idf,
               w_title * p.tf_title / (1 - b_title + b_title * p.title_len / v_avg_t)
               + p.tf_body / (1 - b_body + b_body * p.body_len / v_avg_b) AS tfn
          FROM unnest(v_lex, v_idf, v_df) q(lexeme, idf, df)
         CROSS JOIN LATERAL (
               SELECT p.* FROM chatkit.corpus_postings p
                WHERE p.lexeme = q.lexeme AND (v_docs IS NULL OR p.document_id = ANY (v_docs))
                ORDER BY p.impact DESC
                LIMIT per_lex) p
         WHERE q.df > 0 AND NOT v_few
        UNION ALL    -- ...or all postings of the few documents a narrow filter leaves
        SELECT p.chunk_id, p.document_id, q.idf,
               w_title * p.tf_title / (1 - b_title + b_title * p.title_len / v_avg_t)
               + p.tf_body / (1 - b_body + b_body * p.body_len / v_avg_b)
          FROM unnest(v_lex, v_idf) q(lexeme, idf)
          JOIN chatkit.corpus_postings p ON p.lexeme = q.lexeme AND p.document_id = ANY (v_docs)
         WHERE v_few
    ), exact AS (    -- 3. BM25F and coverage over the postings read, the best `pool`
        SELECT p.chunk_id, max(p.document_id) AS document_id,
               sum(p.idf * p.tfn / (k1 + p.tfn)) AS score, sum(p.idf) / v_total AS coverage
          FROM post p
         GROUP BY p.chunk_id
         ORDER BY score DESC, p.chunk_id
         LIMIT pool
    ), scored AS (
        SELECT e.chunk_id, e.document_id, e.coverage,
               (e.score + w_doc * (sum(e.score) OVER (PARTITION BY e.document_id) - e.score))
               * power(e.coverage, w_cov) AS final
          FROM exact e
    ), prox AS (
        SELECT s.chunk_id, sum(w.w) AS bonus
          FROM (SELECT s.chunk_id FROM scored s WHERE v_pairs IS NOT NULL ORDER BY s.final DESC, s.chunk_id LIMIT m_phrase) s
          JOIN chatkit.chunks c ON c.id = s.chunk_id
         CROSS JOIN unnest(v_pairs, v_pair_w) w(q, w)
         WHERE c.tsv @@ w.q
         GROUP BY s.chunk_id
    ), scored2 AS (
        SELECT s.chunk_id, s.document_id, s.coverage, s.final + w_phrase * coalesce(p.bonus, 0) AS final
          FROM scored s LEFT JOIN prox p ON p.chunk_id = s.chunk_id
    ), spread AS (   -- 6. the n-th passage of a document competes with final x same_doc^(n-1)
        SELECT s.*, s.final * power(same_doc, row_number() OVER (PARTITION BY s.document_id
                                                                 ORDER BY s.final DESC, s.chunk_id) - 1) AS adj
          FROM scored2 s
         WHERE s.coverage >= floor_c
    ), best AS (     -- the passages that can make the list: texts are read for these only
        SELECT s.* FROM spread s ORDER BY s.adj DESC, s.chunk_id LIMIT 2 * v_limit
    ), texts AS (
        SELECT DISTINCT ON (md5(c.text)) b.*, c.title, c.text, d.source
          FROM best b
         CROSS JOIN LATERAL (SELECT c.title, c.text FROM chatkit.chunks c WHERE c.id = b.chunk_id) c
         CROSS JOIN LATERAL (SELECT d.source FROM chatkit.documents d WHERE d.id = b.document_id) d
         ORDER BY md5(c.text), b.adj DESC, b.chunk_id
    ), top AS (
        SELECT * FROM texts ORDER BY adj DESC, chunk_id LIMIT v_limit
    )
    SELECT jsonb_agg(jsonb_build_object('id', 'chunk_' || t.chunk_id, 'title', t.title, 'source', t.source,
                                        'score', round(t.final::numeric, 4), 'text', t.text)
                     || CASE WHEN knobs ? 'debug' THEN jsonb_build_object('coverage', round(t.coverage::numeric, 3))
                             ELSE '{}' END
                     ORDER BY t.adj DESC, t.chunk_id)
      INTO v_out
      FROM top t;
    IF v_out IS NULL THEN
        RETURN '{"results": [], "note": "No passage of the documentation is relevant to this query."}'::jsonb;
    END IF;
    RETURN jsonb_build_object('results', v_out);
END $$;

-- The `search` op: params {"query": text, "limit": int (default 5, 1..20),
-- "sources": [prefix, ...] (optional: only documents whose source starts
-- with one of them; a leading "./" is ignored)}
-- -> {"results": [{"id","title","source","score","text"}, ...]}, plus a
-- "note" for the model when nothing clears the relevance floor.
-- The ranking's constants are fixed here; chatkit.corpus_rank documents them.
CREATE OR REPLACE FUNCTION chatkit.corpus_search(params jsonb) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT chatkit.corpus_rank(params, '{}'::jsonb)
$$;
