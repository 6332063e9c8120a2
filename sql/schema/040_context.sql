-- 040_context.sql - state of the context builder (docs/context.md):
--
--   thread_context  one row per thread that has context state: the rolling
--                   summary of the items that fell out of the history window
--                   (summary_item_id = the newest item it covers, with that
--                   item's created_at for ordering), and whether the "older
--                   messages are no longer in context" notice was sent.
--                   Deleted with its thread (ON DELETE CASCADE).
--   memory_facts    per-user facts (CHATKITD_MEMORY), de-duplicated per user
--                   by the SHA-256 (hex) of the normalised text; thread_id is
--                   where the fact was learnt, NULL once that thread is gone.
--
-- Both are per-user tables under row-level security like the tables of
-- 004_row_security.sql: a policy on the setting chatkit.user_id, FORCE ROW
-- LEVEL SECURITY, and owner chatkit_owner when that role owns chatkit.threads.

CREATE TABLE chatkit.thread_context (
    thread_id       text        COLLATE "C" PRIMARY KEY REFERENCES chatkit.threads (id) ON DELETE CASCADE,
    user_id         text        NOT NULL,
    summary         text,
    summary_item_id text        COLLATE "C",
    summary_item_at timestamptz,
    notice_sent     boolean     NOT NULL DEFAULT false,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE chatkit.memory_facts (
    id          text        COLLATE "C" PRIMARY KEY,
    user_id     text        NOT NULL,
    fact        text        NOT NULL CHECK (char_length(fact) BETWEEN 1 AND 500),
    fact_sha256 text        NOT NULL,
    thread_id   text        COLLATE "C" REFERENCES chatkit.threads (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (user_id, fact_sha256)
);
CREATE INDEX memory_facts_user ON chatkit.memory_facts (user_id, created_at, id);
CREATE INDEX memory_facts_thread ON chatkit.memory_facts (thread_id) WHERE thread_id IS NOT NULL;

CREATE POLICY thread_context_user ON chatkit.thread_context
    USING (user_id = current_setting('chatkit.user_id', true))
    WITH CHECK (user_id = current_setting('chatkit.user_id', true));
CREATE POLICY memory_facts_user ON chatkit.memory_facts
    USING (user_id = current_setting('chatkit.user_id', true))
    WITH CHECK (user_id = current_setting('chatkit.user_id', true));
ALTER TABLE chatkit.thread_context ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE chatkit.memory_facts   ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
                WHERE c.oid = 'chatkit.threads'::regclass AND r.rolname = 'chatkit_owner') THEN
        ALTER TABLE chatkit.thread_context OWNER TO chatkit_owner;
        ALTER TABLE chatkit.memory_facts   OWNER TO chatkit_owner;
    END IF;
END $$;
