-- 060_ops.sql - the operator's tables: the audit log of state-changing
-- actions and one compact row per streamed turn (usage summaries).
-- Neither holds message text.  Both are written by the server through
-- chatkit.op_text ('audit.add', 'usage.add') and read by operators
-- (`chatkitd audit`, `chatkitd stats`, GET /admin/stats), never by end users,
-- so they are not under row-level security.  Rows older than
-- CHATKITD_AUDIT_RETENTION_DAYS are deleted by the server's admin thread.

CREATE TABLE IF NOT EXISTS chatkit.audit_log (
    id         bigserial   PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    user_id    text        NOT NULL,
    request_id text,
    action     text        NOT NULL,
    object_ids jsonb       NOT NULL DEFAULT '[]',
    detail     text
);
CREATE INDEX IF NOT EXISTS audit_log_at ON chatkit.audit_log (at);
CREATE INDEX IF NOT EXISTS audit_log_user_at ON chatkit.audit_log (user_id, at);

CREATE TABLE IF NOT EXISTS chatkit.turn_usage (
    id                bigserial   PRIMARY KEY,
    at                timestamptz NOT NULL DEFAULT now(),
    request_id        text,
    user_id           text        NOT NULL,
    thread_id         text,
    assistant         text        NOT NULL,
    model             text        NOT NULL,
    outcome           text        NOT NULL CHECK (outcome IN ('ok', 'error', 'cancelled')),
    first_token_ms    integer,
    duration_ms       integer     NOT NULL,
    prompt_tokens     integer     NOT NULL DEFAULT 0,
    completion_tokens integer     NOT NULL DEFAULT 0,
    tool_calls        integer     NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS turn_usage_at ON chatkit.turn_usage (at);

-- The ops run inside chatkit.op_text, which runs as chatkit_owner in the
-- owner-role mode of 004_row_security.sql: let that role write the records
-- and read the usage (the tables stay with the migrating role, which the
-- CLI and the pruning connect as).
DO $$
BEGIN
    IF (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'chatkit.threads'::regclass) = 'chatkit_owner' THEN
        GRANT SELECT, INSERT ON chatkit.audit_log, chatkit.turn_usage TO chatkit_owner;
        GRANT USAGE ON SEQUENCE chatkit.audit_log_id_seq, chatkit.turn_usage_id_seq TO chatkit_owner;
    END IF;
END $$;
