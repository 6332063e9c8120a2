-- 001_schema.sql - the thread store's tables (schema `chatkit`).
--
-- Applied once, in its own transaction, by the C migration runner
-- (ck_store_migrate, src/store/migrate.c), which records it in
-- chatkit.schema_migrations (sql/README.md).
--
-- Layout:
--   threads      one row per thread, owned by one user (user_id).
--   items        thread items; `data` is the wire item exactly as C built it,
--                `created_at` is parsed from it and, with `id`, is the keyset
--                used for pagination (ties in one microsecond are ordered by id).
--   attachments  metadata + bytes of uploaded files, owned by one user.
--   feedback     one row per (thread, item): the latest thumbs up/down.
-- Ids use COLLATE "C": byte order, cheap comparisons, same order everywhere.
-- Every access path starts from user_id (threads, attachments) or from a
-- thread already checked to belong to the user (items, feedback).

CREATE SCHEMA IF NOT EXISTS chatkit;

CREATE TABLE chatkit.threads (
    id                    text        COLLATE "C" PRIMARY KEY,
    user_id               text        NOT NULL,
    created_at            timestamptz NOT NULL CHECK (isfinite(created_at)),
    title                 text,
    status                jsonb       NOT NULL DEFAULT '{"type": "active"}',
    allowed_image_domains jsonb,
    metadata              jsonb       NOT NULL DEFAULT '{}'
);
-- threads.list: keyset (created_at, id) inside one user's threads.
CREATE INDEX threads_user_keyset ON chatkit.threads (user_id, created_at, id);

CREATE TABLE chatkit.items (
    thread_id  text        COLLATE "C" NOT NULL REFERENCES chatkit.threads (id) ON DELETE CASCADE,
    id         text        COLLATE "C" NOT NULL,
    user_id    text        NOT NULL,
    created_at timestamptz NOT NULL CHECK (isfinite(created_at)),
    type       text        NOT NULL,
    data       jsonb       NOT NULL,
    PRIMARY KEY (thread_id, id)
);
-- items.list, history, retry, tool output: keyset (created_at, id) inside one thread.
CREATE INDEX items_thread_keyset ON chatkit.items (thread_id, created_at, id);

CREATE TABLE chatkit.attachments (
    id                text        COLLATE "C" PRIMARY KEY,
    user_id           text        NOT NULL,
    thread_id         text        COLLATE "C",
    name              text        NOT NULL,
    mime_type         text        NOT NULL,
    size              bigint      NOT NULL CHECK (size >= 0),
    type              text        NOT NULL CHECK (type IN ('file', 'image')),
    upload_descriptor jsonb,
    preview_url       text,
    metadata          jsonb       NOT NULL DEFAULT '{}',
    data              bytea,
    created_at        timestamptz NOT NULL DEFAULT now(),
    uploaded_at       timestamptz,
    CHECK ((data IS NULL) = (uploaded_at IS NULL))
);
CREATE INDEX attachments_user ON chatkit.attachments (user_id);

CREATE TABLE chatkit.feedback (
    thread_id  text        COLLATE "C" NOT NULL,
    item_id    text        COLLATE "C" NOT NULL,
    user_id    text        NOT NULL,
    kind       text        NOT NULL CHECK (kind IN ('positive', 'negative')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (thread_id, item_id),
    FOREIGN KEY (thread_id, item_id) REFERENCES chatkit.items (thread_id, id) ON DELETE CASCADE
);
