-- 004_row_security.sql - row-level security on the per-user tables, as
-- defence in depth behind the user filter every op already has
-- (docs/security.md, "Row-level security").
--
-- The user of the statement: the dispatchers (chatkit.op, chatkit.op_bytes)
-- set the transaction-local setting chatkit.user_id to their p_user before
-- dispatching, and put the caller's value back when they return.  One policy
-- per table (threads, items, attachments, feedback) lets a statement see,
-- change and write only rows whose user_id equals that setting; outside a
-- dispatcher the setting is unset or '' and no row matches.  The corpus tables (sql/003_corpus.sql) are shared: no RLS.
--
-- Row security does not apply to superusers, nor to roles with BYPASSRLS, so
-- the dispatchers run as a dedicated role when the migration can arrange it:
--   owner-role mode  the NOLOGIN, non-superuser, non-BYPASSRLS role
--                    chatkit_owner owns the four tables and the two
--                    dispatchers, which are SECURITY DEFINER with a fixed
--                    search_path and executable only by the migrating role.
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
-- Dispatchers: the same as in 002_ops.sql, plus the user of the statement
-- ---------------------------------------------------------------------------

-- chatkit.op: runs the JSON op `p_op` for `p_user` and returns its wire JSON.
-- Row security sees p_user as chatkit.user_id during the call; the caller's
-- value is put back on return (on an error the enclosing (sub)transaction
-- is rolled back, which undoes the transaction-local setting anyway).
CREATE OR REPLACE FUNCTION chatkit.op(p_op text, p_user text, p_params jsonb) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = chatkit, pg_temp
AS $$
DECLARE
    v_outer text := current_setting('chatkit.user_id', true);
    v jsonb;
BEGIN
    PERFORM chatkit.check_call(p_user, p_params);
    PERFORM set_config('chatkit.user_id', p_user, true);
    CASE p_op
        WHEN 'items.list'                 THEN v := chatkit.op_items_list(p_user, p_params);
        WHEN 'threads.list'               THEN v := chatkit.op_threads_list(p_user, p_params);
        WHEN 'threads.get_by_id'          THEN v := chatkit.op_threads_get_by_id(p_user, p_params);
        WHEN 'threads.update'             THEN v := chatkit.op_threads_update(p_user, p_params);
        WHEN 'threads.delete'             THEN v := chatkit.op_threads_delete(p_user, p_params);
        WHEN 'items.feedback'             THEN v := chatkit.op_items_feedback(p_user, p_params);
        WHEN 'attachments.create'         THEN v := chatkit.op_attachments_create(p_user, p_params);
        WHEN 'attachments.delete'         THEN v := chatkit.op_attachments_delete(p_user, p_params);
        WHEN 'threads.sync_custom_action' THEN v := chatkit.op_threads_sync_custom_action(p_user, p_params);
        WHEN 'turn.create'                THEN v := chatkit.op_turn_create(p_user, p_params);
        WHEN 'turn.add_message'           THEN v := chatkit.op_turn_add_message(p_user, p_params);
        WHEN 'turn.tool_output'           THEN v := chatkit.op_turn_tool_output(p_user, p_params);
        WHEN 'turn.load_item'             THEN v := chatkit.op_turn_load_item(p_user, p_params);
        WHEN 'turn.retry'                 THEN v := chatkit.op_turn_retry(p_user, p_params);
        WHEN 'thread.load'                THEN v := chatkit.op_thread_load(p_user, p_params);
        WHEN 'thread.save'                THEN v := chatkit.op_thread_save(p_user, p_params);
        WHEN 'item.add'                   THEN v := chatkit.op_item_add(p_user, p_params);
        WHEN 'item.save'                  THEN v := chatkit.op_item_save(p_user, p_params);
        WHEN 'item.delete'                THEN v := chatkit.op_item_delete(p_user, p_params);
        WHEN 'history'                    THEN v := chatkit.op_history(p_user, p_params);
        WHEN 'attachments.load'           THEN v := chatkit.op_attachments_load(p_user, p_params);
        WHEN 'search'                     THEN v := chatkit.corpus_search(p_params);
        ELSE
            PERFORM chatkit.raise_error('22023', format('unknown operation %s', left(coalesce(p_op, ''), 64)));
    END CASE;
    PERFORM set_config('chatkit.user_id', coalesce(v_outer, ''), true);
    RETURN v;
END $$;

-- chatkit.op_bytes: the attachment ops that move bytes; `data` is the bytea
-- argument (upload) or result (download), NULL otherwise.  Same user setting.
CREATE OR REPLACE FUNCTION chatkit.op_bytes(p_op text, p_user text, p_params jsonb, p_data bytea)
RETURNS TABLE (result jsonb, data bytea)
LANGUAGE plpgsql
SET search_path = chatkit, pg_temp
AS $$
DECLARE
    v_outer text := current_setting('chatkit.user_id', true);
BEGIN
    PERFORM chatkit.check_call(p_user, p_params);
    PERFORM set_config('chatkit.user_id', p_user, true);
    data := NULL;
    CASE p_op
        WHEN 'attachments.upload' THEN
            result := chatkit.op_attachments_upload(p_user, p_params, p_data);
        WHEN 'attachments.create_direct' THEN
            result := chatkit.op_attachments_create_direct(p_user, p_params, p_data);
        WHEN 'attachments.download' THEN
            SELECT d.o_meta, d.o_bytes INTO result, data FROM chatkit.op_attachments_download(p_user, p_params) d;
        ELSE
            PERFORM chatkit.raise_error('22023', format('unknown operation %s', left(coalesce(p_op, ''), 64)));
    END CASE;
    PERFORM set_config('chatkit.user_id', coalesce(v_outer, ''), true);
    RETURN NEXT;
END $$;

-- ---------------------------------------------------------------------------
-- Ops whose behaviour row security would change
-- ---------------------------------------------------------------------------

-- thread.save (as in 002_ops.sql): upsert of the metadata fields; created_at
-- only on insert; a thread id owned by another user is "not found" and left
-- untouched.  Under row security the conflicting foreign row fails the UPDATE
-- policy (42501) before the ON CONFLICT WHERE is evaluated, so that error
-- means the same "not found".
CREATE OR REPLACE FUNCTION chatkit.op_thread_save(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    th jsonb := chatkit.param_object(p, 'thread');
    v_id text := chatkit.param_text(th, 'id');
    v_saved boolean;
BEGIN
    BEGIN
        INSERT INTO chatkit.threads AS t (id, user_id, created_at, title, status, allowed_image_domains, metadata)
        VALUES (v_id, p_user, coalesce(chatkit.ts_parse(chatkit.param_opt_text(th, 'created_at')), now()),
                chatkit.param_opt_text(th, 'title'),
                coalesce(nullif(th -> 'status', 'null'::jsonb), '{"type": "active"}'::jsonb),
                nullif(th -> 'allowed_image_domains', 'null'::jsonb),
                coalesce(nullif(th -> 'metadata', 'null'::jsonb), '{}'::jsonb))
        ON CONFLICT (id) DO UPDATE
            SET title = excluded.title, status = excluded.status,
                allowed_image_domains = excluded.allowed_image_domains, metadata = excluded.metadata
            WHERE t.user_id = excluded.user_id;
        v_saved := FOUND;
    EXCEPTION WHEN insufficient_privilege THEN
        v_saved := false;
    END;
    IF NOT v_saved THEN
        PERFORM chatkit.raise_not_found('thread', v_id);
    END IF;
    RETURN '{}'::jsonb;
END $$;

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
        ALTER FUNCTION chatkit.op(text, text, jsonb) OWNER TO chatkit_owner;
        ALTER FUNCTION chatkit.op(text, text, jsonb) SECURITY DEFINER;
        ALTER FUNCTION chatkit.op_bytes(text, text, jsonb, bytea) OWNER TO chatkit_owner;
        ALTER FUNCTION chatkit.op_bytes(text, text, jsonb, bytea) SECURITY DEFINER;
        REVOKE ALL ON FUNCTION chatkit.op(text, text, jsonb), chatkit.op_bytes(text, text, jsonb, bytea) FROM PUBLIC;
        EXECUTE format('GRANT EXECUTE ON FUNCTION chatkit.op(text, text, jsonb), '
                       'chatkit.op_bytes(text, text, jsonb, bytea) TO %I', current_user);
        RAISE NOTICE 'row-level security: owner-role mode (ops run as chatkit_owner, policies forced for every connecting role)';
    ELSE
        RAISE NOTICE 'row-level security: table-owner mode (% cannot create or join chatkit_owner); policies apply when the server connects as %, a role without SUPERUSER or BYPASSRLS',
            current_user, current_user;
    END IF;
END $$;
