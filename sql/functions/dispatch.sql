-- dispatch.sql - the two entry points C prepares once per connection, and
-- their row-security attributes:
--
--   chatkit.op_text(op, user_id, params jsonb) -> text      (every JSON op)
--   chatkit.op_bytes(op, user_id, params, data bytea)
--       -> TABLE(result jsonb, data bytea)                  (attachment bytes)
--
-- Each call is one statement, hence one transaction when C runs it in
-- autocommit: an op either happens completely or not at all.  These CASEs
-- (op_text, op_bytes and op_write, the writes turn.write may run) are the
-- only place in SQL that spells the op names (the list and the params of
-- each op: src/store/README.md).
--
-- The user of the statement (row-level security, docs/security.md): each
-- dispatcher sets the transaction-local setting chatkit.user_id to p_user
-- before dispatching and puts the caller's value back when it returns (on an
-- error the enclosing (sub)transaction is rolled back, which undoes the
-- setting anyway).  The policies of sql/schema/004_row_security.sql let a
-- statement see and write only the rows of that user.

-- chatkit.op_text: runs the JSON op `p_op` for `p_user` and returns its wire
-- JSON as text (the ops return jsonb, printed here).  The hot reads are not
-- ops here: the server answers them with plain SELECTs (src/store/read.c).
CREATE OR REPLACE FUNCTION chatkit.op_text(p_op text, p_user text, p_params jsonb) RETURNS text
LANGUAGE plpgsql
SET search_path = chatkit, pg_temp
AS $$
DECLARE
    v_outer text := current_setting('chatkit.user_id', true);
    v text;
BEGIN
    PERFORM chatkit.check_call(p_user, p_params);
    PERFORM set_config('chatkit.user_id', p_user, true);
    CASE p_op
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
        WHEN 'turn.write'                 THEN v := chatkit.op_turn_write(p_user, p_params);
        WHEN 'thread.load'                THEN v := chatkit.op_thread_load(p_user, p_params);
        WHEN 'thread.save'                THEN v := chatkit.op_thread_save(p_user, p_params);
        WHEN 'item.add'                   THEN v := chatkit.op_item_add(p_user, p_params);
        WHEN 'item.save'                  THEN v := chatkit.op_item_save(p_user, p_params);
        WHEN 'item.delete'                THEN v := chatkit.op_item_delete(p_user, p_params);
        WHEN 'attachments.load'           THEN v := chatkit.op_attachments_load(p_user, p_params);
        WHEN 'search'                     THEN v := chatkit.corpus_search(p_params);
        WHEN 'assistants.route'           THEN v := chatkit.assistant_route(p_params);
        WHEN 'context.load'               THEN v := chatkit.op_context_load(p_user, p_params);
        WHEN 'context.notice'             THEN v := chatkit.op_context_notice(p_user, p_params);
        WHEN 'context.summary'            THEN v := chatkit.op_context_summary(p_user, p_params);
        WHEN 'memory.list'                THEN v := chatkit.op_memory_list(p_user, p_params);
        WHEN 'memory.add'                 THEN v := chatkit.op_memory_add(p_user, p_params);
        WHEN 'memory.forget'              THEN v := chatkit.op_memory_forget(p_user, p_params);
        WHEN 'memory.clear'               THEN v := chatkit.op_memory_clear(p_user, p_params);
        WHEN 'audit.add'                  THEN v := chatkit.ops_audit_add(p_user, p_params);
        WHEN 'usage.add'                  THEN v := chatkit.ops_usage_add(p_user, p_params);
        WHEN 'usage.stats'                THEN v := chatkit.ops_usage_stats(p_params);
        ELSE
            PERFORM chatkit.raise_error('22023', format('unknown operation %s', left(coalesce(p_op, ''), 64)));
    END CASE;
    PERFORM set_config('chatkit.user_id', coalesce(v_outer, ''), true);
    RETURN v;
END $$;

-- chatkit.op_write: one write of a turn.write (sql/functions/turns.sql), run
-- as the op of that name; 22023 for any other op.  Called inside op_text
-- (the user setting and search_path are in place), so it skips the second
-- pass through op_text each write used to take (SECURITY DEFINER, SET
-- search_path, the long CASE): the writes are the hot part of a turn.
CREATE OR REPLACE FUNCTION chatkit.op_write(p_op text, p_user text, p_params jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    IF p_params IS NULL OR jsonb_typeof(p_params) <> 'object' THEN
        PERFORM chatkit.raise_error('22023', 'params must be an object');
    END IF;
    CASE p_op
        WHEN 'item.add'       THEN RETURN chatkit.op_item_add(p_user, p_params);
        WHEN 'item.save'      THEN RETURN chatkit.op_item_save(p_user, p_params);
        WHEN 'item.delete'    THEN RETURN chatkit.op_item_delete(p_user, p_params);
        WHEN 'thread.save'    THEN RETURN chatkit.op_thread_save(p_user, p_params);
        WHEN 'context.notice' THEN RETURN chatkit.op_context_notice(p_user, p_params);
        WHEN 'usage.add'      THEN PERFORM chatkit.usage_insert(p_user, p_params);
        WHEN 'audit.add'      THEN PERFORM chatkit.ops_audit_add(p_user, p_params);
        ELSE
            PERFORM chatkit.raise_error('22023', format('turn.write cannot run %s',
                                                        left(coalesce(p_op, 'a write without op'), 64)));
    END CASE;
    RETURN '{}'::jsonb;
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

-- The dispatchers' row-security mode, decided once by
-- sql/schema/004_row_security.sql and read back here from the owner of
-- chatkit.threads (CREATE OR REPLACE resets SECURITY DEFINER, so this runs
-- after every re-application):
--   owner-role mode  (chatkit_owner owns the tables) both dispatchers are
--                    owned by chatkit_owner, SECURITY DEFINER, executable
--                    only by the migrating role: every op runs as
--                    chatkit_owner under FORCE ROW LEVEL SECURITY, whoever
--                    connects (superuser included);
--   table-owner mode they stay with the migrating role and run as the caller.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
                WHERE c.oid = 'chatkit.threads'::regclass AND r.rolname = 'chatkit_owner') THEN
        ALTER FUNCTION chatkit.op_text(text, text, jsonb) OWNER TO chatkit_owner;
        ALTER FUNCTION chatkit.op_text(text, text, jsonb) SECURITY DEFINER;
        ALTER FUNCTION chatkit.op_bytes(text, text, jsonb, bytea) OWNER TO chatkit_owner;
        ALTER FUNCTION chatkit.op_bytes(text, text, jsonb, bytea) SECURITY DEFINER;
        REVOKE ALL ON FUNCTION chatkit.op_text(text, text, jsonb), chatkit.op_bytes(text, text, jsonb, bytea)
            FROM PUBLIC;
        EXECUTE format('GRANT EXECUTE ON FUNCTION chatkit.op_text(text, text, jsonb), '
                       'chatkit.op_bytes(text, text, jsonb, bytea) TO %I', current_user);
        RAISE NOTICE 'dispatchers: owner-role mode (ops run as chatkit_owner)';
    ELSE
        RAISE NOTICE 'dispatchers: table-owner mode (ops run as the caller)';
    END IF;
END $$;
