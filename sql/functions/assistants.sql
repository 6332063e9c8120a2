-- assistants.sql - the store op `assistants.route` (src/agent/routing.c,
-- docs/assistants.md): how well a user message matches each assistant of
-- the CHATKITD_ASSISTANTS registry.
--
-- params: {"text": "<message>", "candidates": [{"id": "tax", "texts": [description, examples...]}, ...]}
-- result: {"scores": [{"id": "tax", "score": 0.41}, ...]}, best first (ties by id).
--
-- The same machinery as the `search` op (sql/functions/corpus.sql): English
-- lexemes of to_tsvector (stemmed, stop words removed), BM25 (k1 1.2,
-- b 0.75) with one document per assistant (its texts joined), idf over
-- those documents.  A score is normalised to 0..1: the BM25 sum divided by
-- (k1 + 1) times the summed idf of every distinct lexeme of the message,
-- so words no assistant knows lower every score (the caller compares the
-- best one with its threshold).  Reads no table: nothing to lock, nothing
-- user-specific.
CREATE OR REPLACE FUNCTION chatkit.assistant_route(p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    k1 constant float8 := 1.2;
    b  constant float8 := 0.75;
    v_lex text[];
    v_out jsonb;
BEGIN
    IF jsonb_typeof(p -> 'text') IS DISTINCT FROM 'string' OR jsonb_typeof(p -> 'candidates') IS DISTINCT FROM 'array' THEN
        PERFORM chatkit.raise_error('22023', 'params.text must be a string and params.candidates an array');
    END IF;
    v_lex := ARRAY(SELECT DISTINCT u.lexeme FROM unnest(to_tsvector('english', left(p ->> 'text', 4000))) u);
    WITH docs AS (
        SELECT c ->> 'id' AS id,
               to_tsvector('english', coalesce(string_agg(t.value, ' '), '')) AS tsv
          FROM jsonb_array_elements(p -> 'candidates') c
          LEFT JOIN LATERAL jsonb_array_elements_text(
                  CASE WHEN jsonb_typeof(c -> 'texts') = 'array' THEN c -> 'texts' ELSE '[]'::jsonb END) t(value) ON true
         WHERE jsonb_typeof(c -> 'id') = 'string'
         GROUP BY c ->> 'id'
    ), lens AS (
        SELECT d.id, d.tsv, coalesce((SELECT sum(cardinality(u.positions)) FROM unnest(d.tsv) u), 0)::float8 AS len
          FROM docs d
    ), st AS (
        SELECT count(*)::float8 AS n, greatest(avg(len), 1) AS avgl FROM lens
    ), tf AS (
        SELECT l.id, u.lexeme, cardinality(u.positions)::float8 AS tf, l.len
          FROM lens l, unnest(l.tsv) u WHERE u.lexeme = ANY (v_lex)
    ), idf AS (
        SELECT q.lexeme, ln(1 + (st.n - count(tf.id) + 0.5) / (count(tf.id) + 0.5)) AS w
          FROM unnest(v_lex) q(lexeme) LEFT JOIN tf ON tf.lexeme = q.lexeme, st
         GROUP BY q.lexeme, st.n
    ), norm AS (
        SELECT greatest(sum(w), 1e-9) AS total FROM idf
    ), scored AS (
        SELECT l.id,
               coalesce(sum(idf.w * tf.tf * (k1 + 1) / (tf.tf + k1 * (1 - b + b * tf.len / st.avgl))), 0)
                   / (k1 + 1) / norm.total AS score
          FROM lens l LEFT JOIN tf ON tf.id = l.id LEFT JOIN idf ON idf.lexeme = tf.lexeme, st, norm
         GROUP BY l.id, norm.total
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object('id', id, 'score', round(score::numeric, 4)) ORDER BY score DESC, id),
                    '[]'::jsonb)
      INTO v_out FROM scored;
    RETURN jsonb_build_object('scores', v_out);
END $$;

-- The thread `metadata` the client sees: the stored metadata is private
-- (spec: never exposed), except the assistant that answers the thread
-- ({"assistant": "<id>"}, docs/assistants.md), so a front end can show and
-- preselect it.  {} when none is recorded.  Used by chatkit.thread_wire
-- (common.sql); the C reads apply the same rule (src/store/page.c).
-- STABLE, not IMMUTABLE: jsonb_build_object is STABLE, and PostgreSQL inlines
-- an IMMUTABLE sql function only when its body is immutable (otherwise it
-- is parsed and planned again at every call).
CREATE OR REPLACE FUNCTION chatkit.thread_wire_metadata(p_metadata jsonb) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN jsonb_typeof(p_metadata -> 'assistant') = 'string'
                THEN jsonb_build_object('assistant', p_metadata -> 'assistant')
                ELSE '{}'::jsonb END
$$;
