-- 030_search_impact.sql - what bounded-cost search needs (docs/ingest.md
-- "Ranking", BENCHMARKS.md "Retrieval"):
--   corpus_postings.impact  the posting's BM25F term weight tf'/(k1 + tf')
--                           computed with fixed average field lengths; within
--                           one lexeme's posting list it orders postings as
--                           the live score does (the IDF is the same for all).
--   corpus_postings_impact  (lexeme, impact DESC): the search reads the
--                           highest-impact postings of each query lexeme
--                           first and stops after a fixed number.
--   corpus_postings_document (document_id, lexeme): scoring the few documents
--                           a narrow `sources` filter leaves.
--   corpus_lexemes          document frequency per lexeme (IDF without
--                           counting a posting list at query time).
--   documents_source_c      the `sources` prefix filter as index range scans.
-- Sources are normalised: a leading "./" is dropped (`./docs/a.md` and
-- `docs/a.md` are one document); of two rows that become one, the newer stays.

DELETE FROM chatkit.documents d
 USING chatkit.documents o
 WHERE d.id <> o.id
   AND regexp_replace(d.source, '^(\./)+', '') = regexp_replace(o.source, '^(\./)+', '')
   AND (d.ingested_at, d.id) < (o.ingested_at, o.id);
UPDATE chatkit.documents SET source = regexp_replace(source, '^(\./)+', '') WHERE source LIKE './%';
UPDATE chatkit.corpus_stats
   SET n_chunks = (SELECT count(*) FROM chatkit.chunks),
       sum_title_len = (SELECT coalesce(sum(title_len), 0) FROM chatkit.chunks),
       sum_body_len = (SELECT coalesce(sum(body_len), 0) FROM chatkit.chunks);

ALTER TABLE chatkit.corpus_postings ADD COLUMN impact real NOT NULL DEFAULT 0;
-- the formula of chatkit.corpus_impact (sql/functions/corpus.sql), inlined
WITH x AS (SELECT 3.0 * tf_title / (0.5 + 0.5 * title_len / 5.0) + tf_body / (0.25 + 0.75 * body_len / 90.0) AS tfn,
                  lexeme, chunk_id FROM chatkit.corpus_postings)
UPDATE chatkit.corpus_postings p SET impact = x.tfn / (1.2 + x.tfn)
  FROM x WHERE x.lexeme = p.lexeme AND x.chunk_id = p.chunk_id;
CREATE INDEX corpus_postings_impact ON chatkit.corpus_postings (lexeme, impact DESC)
    INCLUDE (chunk_id, document_id, tf_title, tf_body, title_len, body_len);
DROP INDEX chatkit.corpus_postings_document;
CREATE INDEX corpus_postings_document ON chatkit.corpus_postings (document_id, lexeme);

CREATE TABLE chatkit.corpus_lexemes (
    lexeme text    PRIMARY KEY,
    df     integer NOT NULL  -- chunks holding the lexeme
);
INSERT INTO chatkit.corpus_lexemes (lexeme, df)
SELECT lexeme, count(*) FROM chatkit.corpus_postings GROUP BY lexeme;

CREATE INDEX documents_source_c ON chatkit.documents (source COLLATE "C");

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'chatkit_owner') THEN
        GRANT SELECT ON chatkit.corpus_lexemes TO chatkit_owner;
    END IF;
END $$;
