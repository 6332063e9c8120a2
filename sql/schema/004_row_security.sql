-- 004_row_security.sql - row-level security on the per-user tables, as
-- defence in depth behind the user filter every op already has
-- (docs/security.md, "Row-level security").
--
-- The user of the statement: the dispatchers (sql/functions/dispatch.sql)
-- set the transaction-local setting chatkit.user_id to their p_user before
-- dispatching, and put the caller's value back when they return.  One policy
-- per table (threads, items, attachments, feedback) lets a statement see,
-- change and write only rows whose user_id equals that setting; outside a
-- dispatcher the setting is unset or '' and no row matches.  The corpus
-- tables (003_corpus.sql) are shared: no RLS.
--
-- Row security does not apply to superusers, nor to roles with BYPASSRLS, so
-- the dispatchers run as a dedicated role when the migration can arrange it:
--   owner-role mode  the NOLOGIN, non-superuser, non-BYPASSRLS role
--                    chatkit_owner owns the four tables; the two
--                    dispatchers are then made chatkit_owner's, SECURITY
--                    DEFINER and executable only by the migrating role each
--                    time sql/functions/ is applied (dispatch.sql reads the
--                    mode back from the owner of chatkit.threads).
--                    Every op then runs as chatkit_owner, under FORCE ROW
--                    LEVEL SECURITY, whoever connects (superuser included).
--   table-owner mode (the migrating role can neither create chatkit_owner nor
--                    become a member of it) the tables stay with the
--                    migrating role, with FORCE ROW LEVEL SECURITY; this
--                    protects the ops when the server connects as that
--                    role and it is not a superuser and has no BYPASSRLS.
-- A NOTICE says which mode applied.  Roles are cluster-wide: chatkit_owner
-- is created only if missing, and a concurrent creation by a migration of
-- another database of the same cluster is tolerated.

-- ---------------------------------------------------------------------------
-- Policies (both modes)
-- ---------------------------------------------------------------------------

CREATE POLICY threads_user ON chatkit.threads
    USING (user_id = current_setting('chatkit.user_id', true))
    WITH CHECK (user_id = current_setting('chatkit.user_id', true));
CREATE POLICY items_user ON chatkit.items
    USING (user_id = current_setting('chatkit.user_id', true))
    WITH CHECK (user_id = current_setting('chatkit.user_id', true));
CREATE POLICY attachments_user ON chatkit.attachments
    USING (user_id = current_setting('chatkit.user_id', true))
    WITH CHECK (user_id = current_setting('chatkit.user_id', true));
CREATE POLICY feedback_user ON chatkit.feedback
    USING (user_id = current_setting('chatkit.user_id', true))
    WITH CHECK (user_id = current_setting('chatkit.user_id', true));

ALTER TABLE chatkit.threads     ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE chatkit.items       ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE chatkit.attachments ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE chatkit.feedback    ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;

-- ---------------------------------------------------------------------------
-- The owner role (owner-role mode) or the fallback (table-owner mode)
-- ---------------------------------------------------------------------------

DO $$
DECLARE
    v_super boolean := (SELECT rolsuper FROM pg_roles WHERE rolname = current_user);
    v_mode text := 'owner-role';
BEGIN
    -- 1. chatkit_owner exists (created here, or already by another database).
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'chatkit_owner') THEN
        BEGIN
            CREATE ROLE chatkit_owner NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN
                NULL;  -- created meanwhile by a concurrent migration of another database
            WHEN insufficient_privilege THEN
                v_mode := 'table-owner';
        END;
    END IF;
    IF v_mode = 'owner-role'
       AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'chatkit_owner' AND (rolsuper OR rolbypassrls)) THEN
        RAISE EXCEPTION 'role chatkit_owner is a superuser or has BYPASSRLS: row-level security would not apply'
            USING HINT = 'ALTER ROLE chatkit_owner NOSUPERUSER NOBYPASSRLS, then restart the migration';
    END IF;

    -- 2. A non-superuser may hand objects to chatkit_owner only as its member,
    --    and only when chatkit_owner may create in the schema.
    IF v_mode = 'owner-role' AND NOT v_super AND NOT pg_has_role(current_user, 'chatkit_owner', 'MEMBER') THEN
        BEGIN
            EXECUTE format('GRANT chatkit_owner TO %I', current_user);
        EXCEPTION
            WHEN unique_violation THEN
                NULL;  -- granted meanwhile by a concurrent migration
            WHEN insufficient_privilege THEN
                v_mode := 'table-owner';
        END;
    END IF;

    -- 3. Ownership and privileges.
    IF v_mode = 'owner-role' THEN
        GRANT USAGE ON SCHEMA chatkit TO chatkit_owner;
        IF NOT v_super THEN
            GRANT CREATE ON SCHEMA chatkit TO chatkit_owner;
        END IF;
        ALTER TABLE chatkit.threads     OWNER TO chatkit_owner;
        ALTER TABLE chatkit.items       OWNER TO chatkit_owner;
        ALTER TABLE chatkit.attachments OWNER TO chatkit_owner;
        ALTER TABLE chatkit.feedback    OWNER TO chatkit_owner;
        -- the `search` op reads the shared corpus
        GRANT SELECT ON chatkit.documents, chatkit.chunks, chatkit.corpus_postings, chatkit.corpus_stats
            TO chatkit_owner;
        RAISE NOTICE 'row-level security: owner-role mode (ops run as chatkit_owner, policies forced for every connecting role)';
    ELSE
        RAISE NOTICE 'row-level security: table-owner mode (% cannot create or join chatkit_owner); policies apply when the server connects as %, a role without SUPERUSER or BYPASSRLS',
            current_user, current_user;
    END IF;
END $$;
