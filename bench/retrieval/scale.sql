-- scale.sql - NOT a migration: grows the ingested corpus with synthetic
-- copies for the latency-at-scale step of bench/retrieval/run.sh.
--   psql "$DATABASE_URL" -v from=1 -v to=9 -f bench/retrieval/scale.sql   (1x -> 10x)
--   psql "$DATABASE_URL" -v from=10 -v to=99 -f bench/retrieval/scale.sql (10x -> 100x)
-- Copy k of every original document is stored as "copyK/<source>" with the
-- same chunks (title, text) and postings; document and chunk ids are the
-- original's plus k x stride.  The copies keep the tsvector (the phrase
-- step reads it for the best 100 candidates).
-- Document frequencies and corpus totals are set to what an ingest of the
-- copies would give.  The posting indexes are dropped during the bulk insert
-- and rebuilt after it (same definitions as sql/schema/003 and 030), foreign
-- keys are not checked (session_replication_role = replica: bench cluster,
-- superuser).
\set ON_ERROR_STOP on
SET maintenance_work_mem = '1GB';
SET max_parallel_maintenance_workers = 2;
SET session_replication_role = replica;

CREATE SCHEMA IF NOT EXISTS bench;
CREATE TABLE IF NOT EXISTS bench.orig_df AS SELECT lexeme, df FROM chatkit.corpus_lexemes;
CREATE TABLE IF NOT EXISTS bench.strides AS
SELECT (SELECT max(id) + 1 FROM chatkit.documents) AS doc_stride, (SELECT max(id) + 1 FROM chatkit.chunks) AS chunk_stride;

ALTER TABLE chatkit.corpus_postings DROP CONSTRAINT corpus_postings_pkey;
DROP INDEX chatkit.corpus_postings_impact;
DROP INDEX chatkit.corpus_postings_document;

INSERT INTO chatkit.documents (id, source, sha256, title, ingested_at)
SELECT d.id + k * s.doc_stride, 'copy' || k || '/' || d.source, d.sha256, d.title, now()
  FROM chatkit.documents d, bench.strides s, generate_series(:from, :to) k
 WHERE d.id < s.doc_stride;

INSERT INTO chatkit.chunks (id, document_id, ord, title, text, tsv, title_len, body_len)
SELECT c.id + k * s.chunk_stride, c.document_id + k * s.doc_stride, c.ord, c.title, c.text, c.tsv,
       c.title_len, c.body_len
  FROM chatkit.chunks c, bench.strides s, generate_series(:from, :to) k
 WHERE c.id < s.chunk_stride;

INSERT INTO chatkit.corpus_postings (lexeme, chunk_id, document_id, tf_title, tf_body, title_len, body_len, impact)
SELECT p.lexeme, p.chunk_id + k * s.chunk_stride, p.document_id + k * s.doc_stride, p.tf_title, p.tf_body,
       p.title_len, p.body_len, p.impact
  FROM chatkit.corpus_postings p, bench.strides s, generate_series(:from, :to) k
 WHERE p.chunk_id < s.chunk_stride;

ALTER TABLE chatkit.corpus_postings ADD PRIMARY KEY (lexeme, chunk_id)
    INCLUDE (document_id, tf_title, tf_body, title_len, body_len);
CREATE INDEX corpus_postings_impact ON chatkit.corpus_postings (lexeme, impact DESC)
    INCLUDE (chunk_id, document_id, tf_title, tf_body, title_len, body_len);
CREATE INDEX corpus_postings_document ON chatkit.corpus_postings (document_id, lexeme);

UPDATE chatkit.corpus_lexemes l SET df = o.df * (:to + 1) FROM bench.orig_df o WHERE o.lexeme = l.lexeme;
UPDATE chatkit.corpus_stats
   SET n_chunks = (SELECT count(*) FROM chatkit.chunks),
       sum_title_len = (SELECT sum(title_len) FROM chatkit.chunks),
       sum_body_len = (SELECT sum(body_len) FROM chatkit.chunks);
SELECT setval(pg_get_serial_sequence('chatkit.documents', 'id'), (SELECT max(id) FROM chatkit.documents));
SELECT setval(pg_get_serial_sequence('chatkit.chunks', 'id'), (SELECT max(id) FROM chatkit.chunks));
RESET session_replication_role;
VACUUM (ANALYZE) chatkit.corpus_postings, chatkit.chunks, chatkit.documents, chatkit.corpus_lexemes;
