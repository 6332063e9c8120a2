-- 031_search_no_gin.sql - drops the GIN index on chunks.tsv: no query uses
-- it.  The ranking reads the posting indexes (030); the phrase step reads the
-- tsvector of at most 100 candidate chunks by primary key.  A GIN index does
-- not prune an OR of a question's lexemes, and keeping it cost every ingest
-- (about a quarter of the chunk table's size in index pages to maintain).
DROP INDEX IF EXISTS chatkit.chunks_tsv;
