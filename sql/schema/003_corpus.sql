-- 003_corpus.sql - the search corpus: ingested documents, their chunks and
-- an inverted index with per-field term frequencies (the functions that
-- write and rank them: sql/functions/corpus.sql).  See docs/ingest.md.
--
-- Layout:
--   documents        one row per ingested file (source = path as given to
--                    `chatkitd ingest`), with the SHA-256 of its bytes.
--   chunks           the document's chunks in order: heading path (title),
--                    text, and a weighted tsvector (title A, text D) used for
--                    the GIN prefilter and the proximity bonus.
--   corpus_postings  one row per (lexeme, chunk): term frequency in the title
--                    and in the text, and both field lengths (BM25F inputs).
--   corpus_stats     one row: chunk count and summed field lengths, kept
--                    exact by corpus_put_document (average lengths for BM25F).
-- Writers go through chatkit.corpus_put_document only, which replaces a
-- document's chunks atomically and keeps the postings and statistics in step.

CREATE TABLE chatkit.documents (
    id          bigserial   PRIMARY KEY,
    source      text        NOT NULL UNIQUE,
    sha256      text        NOT NULL,
    title       text        NOT NULL,
    ingested_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE chatkit.chunks (
    id          bigserial PRIMARY KEY,
    document_id bigint    NOT NULL REFERENCES chatkit.documents (id) ON DELETE CASCADE,
    ord         integer   NOT NULL,
    title       text      NOT NULL,
    text        text      NOT NULL,
    tsv         tsvector  NOT NULL,
    title_len   integer   NOT NULL,  -- lexeme occurrences in the title
    body_len    integer   NOT NULL,  -- lexeme occurrences in the text
    UNIQUE (document_id, ord)
);
CREATE INDEX chunks_tsv ON chatkit.chunks USING gin (tsv);

CREATE TABLE chatkit.corpus_postings (
    lexeme      text     NOT NULL,
    chunk_id    bigint   NOT NULL,
    document_id bigint   NOT NULL REFERENCES chatkit.documents (id) ON DELETE CASCADE,
    tf_title    smallint NOT NULL,
    tf_body     smallint NOT NULL,
    title_len   integer  NOT NULL,
    body_len    integer  NOT NULL,
    -- the posting lists; INCLUDE makes scoring an index-only scan
    PRIMARY KEY (lexeme, chunk_id) INCLUDE (document_id, tf_title, tf_body, title_len, body_len)
);
CREATE INDEX corpus_postings_document ON chatkit.corpus_postings (document_id);

CREATE TABLE chatkit.corpus_stats (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    n_chunks      bigint  NOT NULL DEFAULT 0,
    sum_title_len bigint  NOT NULL DEFAULT 0,
    sum_body_len  bigint  NOT NULL DEFAULT 0
);
INSERT INTO chatkit.corpus_stats DEFAULT VALUES;
