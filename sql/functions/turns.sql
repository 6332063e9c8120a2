-- turns.sql - the ops of a streamed turn: turn.create, turn.add_message,
-- turn.tool_output, turn.load_item, turn.retry, turn.write.  Each is one statement, hence
-- one transaction: a turn.create with a bad attachment writes nothing.
--
-- Every pre-flight op of a turn also answers what the turn needs next in
-- the same round trip: with `context` ({limit?, facts?}) the result carries
-- `context`, what context.load answers for the history the agent reads
-- (turn.create, turn.add_message, turn.retry: before the turn's user
-- message; turn.tool_output, turn.load_item: the newest items); with `audit`
-- (audit.add params) turn.create writes that audit row in its own
-- transaction (the row exists exactly when the thread does).

-- The `context` part of a turn op's result, the history before item
-- p_item_id (NULL: the newest items) of thread p_thread, when p asks for
-- it (else NULL).  A new thread has no history, notice or summary, so only
-- the facts need a query then.
CREATE OR REPLACE FUNCTION chatkit.turn_context(p_user text, p jsonb, p_thread text, p_item_id text, p_new boolean)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    c jsonb := p -> 'context';
    v_facts boolean := coalesce(c -> 'facts' = 'true'::jsonb, false);
BEGIN
    IF c IS NULL OR jsonb_typeof(c) = 'null' THEN
        RETURN NULL;
    ELSIF jsonb_typeof(c) <> 'object' THEN
        PERFORM chatkit.raise_error('22023', 'parameter context must be an object');
    ELSIF p_new THEN
        RETURN '{"items": [], "notice_sent": false}'::jsonb
            || CASE WHEN v_facts THEN jsonb_build_object('facts', chatkit.memory_facts_json(p_user)) ELSE '{}' END;
    END IF;
    RETURN chatkit.context_doc(p_user, p_thread, chatkit.param_limit(c, 'limit', 11, 1000), p_item_id, v_facts);
END $$;

-- ---------------------------------------------------------------------------
-- Streaming-turn ops
-- ---------------------------------------------------------------------------

-- turn.create: new thread + user message with its attachments, atomically.
CREATE OR REPLACE FUNCTION chatkit.op_turn_create(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    th jsonb := chatkit.param_object(p, 'thread');
    v_item jsonb := chatkit.param_object(p, 'item');
    v_id text := chatkit.param_text(th, 'id');
    t chatkit.threads;
    v_ctx jsonb;
BEGIN
    INSERT INTO chatkit.threads (id, user_id, created_at, title, status, allowed_image_domains, metadata)
    VALUES (v_id, p_user, coalesce(chatkit.ts_parse(chatkit.param_opt_text(th, 'created_at')), now()),
            th ->> 'title', coalesce(nullif(th -> 'status', 'null'::jsonb), '{"type": "active"}'::jsonb),
            nullif(th -> 'allowed_image_domains', 'null'::jsonb),
            coalesce(nullif(th -> 'metadata', 'null'::jsonb), '{}'::jsonb))
    ON CONFLICT (id) DO NOTHING
    RETURNING * INTO t;
    IF NOT FOUND THEN
        PERFORM chatkit.raise_error('55000', 'thread id already exists');
    END IF;
    v_item := v_item || jsonb_build_object('attachments',
        chatkit.attachments_bind(p_user, v_id, chatkit.param_array(p, 'attachment_ids')));
    PERFORM chatkit.item_upsert(p_user, v_id, v_item);
    IF jsonb_typeof(p -> 'audit') = 'object' THEN
        PERFORM chatkit.ops_audit_add(p_user, p -> 'audit');
    END IF;
    v_ctx := chatkit.turn_context(p_user, p, v_id, v_item ->> 'id', true);
    RETURN jsonb_build_object('thread', chatkit.thread_wire(t, chatkit.empty_page()), 'item', v_item)
        || CASE WHEN v_ctx IS NULL THEN '{}' ELSE jsonb_build_object('context', v_ctx) END;
END $$;

-- turn.add_message: user message (with its attachments) into an existing thread.
CREATE OR REPLACE FUNCTION chatkit.op_turn_add_message(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    t chatkit.threads := chatkit.thread_row(p_user, chatkit.param_text(p, 'thread_id'));
    v_item jsonb := chatkit.param_object(p, 'item');
    v_ctx jsonb;
BEGIN
    v_item := v_item || jsonb_build_object('attachments',
        chatkit.attachments_bind(p_user, t.id, chatkit.param_array(p, 'attachment_ids')));
    PERFORM chatkit.item_upsert(p_user, t.id, v_item);
    v_ctx := chatkit.turn_context(p_user, p, t.id, v_item ->> 'id', false);
    RETURN jsonb_build_object('thread', chatkit.thread_meta(t), 'item', v_item)
        || CASE WHEN v_ctx IS NULL THEN '{}' ELSE jsonb_build_object('context', v_ctx) END;
END $$;

-- turn.write {writes: [{op, params}...], usage?} -> {}: the writes a
-- streamed turn has queued (item.add, item.save, item.delete, thread.save)
-- and the records that ride along with them (context.notice, usage.add,
-- audit.add), in order, in one transaction: all of them or none.  Each runs
-- as the op of that name (chatkit.op_write), so it checks its params and
-- fails exactly as it does alone; no other op may be named.
--
-- `usage` is the turn's usage row (usage.add params with its turn_key), for
-- the turn's last write.  It is inserted first and makes the whole write
-- idempotent: when the row is already there, this write committed before
-- (the server lost the connection before the reply and runs it again), so
-- nothing is written a second time.  The other writes are upserts and
-- deletes by id, which a repeat leaves as they were anyway.
CREATE OR REPLACE FUNCTION chatkit.op_turn_write(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_usage jsonb := p -> 'usage';
    w jsonb;
BEGIN
    IF v_usage IS NOT NULL AND jsonb_typeof(v_usage) <> 'null' THEN
        IF jsonb_typeof(v_usage) <> 'object' THEN
            PERFORM chatkit.raise_error('22023', 'parameter usage must be an object');
        END IF;
        IF NOT chatkit.usage_insert(p_user, v_usage) THEN
            RETURN '{}'::jsonb;
        END IF;
    END IF;
    FOR w IN SELECT e FROM jsonb_array_elements(chatkit.param_array(p, 'writes')) AS e LOOP
        IF jsonb_typeof(w) <> 'object' OR jsonb_typeof(w -> 'op') <> 'string' THEN
            PERFORM chatkit.raise_error('22023', 'turn.write cannot run a write without op');
        END IF;
        PERFORM chatkit.op_write(w ->> 'op', p_user, w -> 'params');
    END LOOP;
    RETURN '{}'::jsonb;
END $$;

-- turn.tool_output: completes the newest item, which must be a
-- pending client_tool_call (else 55000); output = result unless result is
-- JSON null; other pending calls among the newest 20 items are deleted.
CREATE OR REPLACE FUNCTION chatkit.op_turn_tool_output(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    t chatkit.threads := chatkit.thread_row(p_user, chatkit.param_text(p, 'thread_id'));
    v_result jsonb := p -> 'result';
    i chatkit.items;
    v_data jsonb;
    v_ctx jsonb;
BEGIN
    SELECT * INTO i FROM chatkit.items
     WHERE thread_id = t.id ORDER BY created_at DESC, id DESC LIMIT 1 FOR UPDATE;
    IF NOT FOUND OR i.type <> 'client_tool_call' OR i.data ->> 'status' IS DISTINCT FROM 'pending' THEN
        PERFORM chatkit.raise_error('55000', 'the last item of the thread is not a pending client tool call');
    END IF;
    v_data := (i.data - 'output') || '{"status": "completed"}'::jsonb
        || CASE WHEN v_result IS NULL OR jsonb_typeof(v_result) = 'null' THEN '{}'::jsonb
                ELSE jsonb_build_object('output', v_result) END;
    UPDATE chatkit.items SET data = v_data WHERE thread_id = t.id AND id = i.id;
    DELETE FROM chatkit.items d
     USING (SELECT n.id FROM chatkit.items n WHERE n.thread_id = t.id
             ORDER BY n.created_at DESC, n.id DESC LIMIT 20) newest
     WHERE d.thread_id = t.id AND d.id = newest.id AND d.id <> i.id
       AND d.type = 'client_tool_call' AND d.data ->> 'status' = 'pending';
    v_ctx := chatkit.turn_context(p_user, p, t.id, NULL, false);
    RETURN jsonb_build_object('thread', chatkit.thread_meta(t), 'item', v_data)
        || CASE WHEN v_ctx IS NULL THEN '{}' ELSE jsonb_build_object('context', v_ctx) END;
END $$;

-- turn.load_item: thread metadata and, when item_id is given (absent or
-- null: no item), that item (hidden ones too): the pre-flight of structured input and of
-- custom actions.
CREATE OR REPLACE FUNCTION chatkit.op_turn_load_item(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_thread text := chatkit.param_text(p, 'thread_id');
    v jsonb := '{}';
    t chatkit.threads;
    v_ctx jsonb;
BEGIN
    IF jsonb_typeof(p -> 'item_id') <> 'null' THEN
        v := jsonb_build_object('item', (chatkit.item_row(p_user, v_thread, chatkit.param_text(p, 'item_id'))).data);
    END IF;
    -- thread_meta of a variable: over a function call (used several times
    -- in its body) PostgreSQL would not inline it, and would parse and plan
    -- it again in every transaction
    t := chatkit.thread_row(p_user, v_thread);
    v := v || jsonb_build_object('thread', chatkit.thread_meta(t));
    v_ctx := chatkit.turn_context(p_user, p, v_thread, NULL, false);
    RETURN v || CASE WHEN v_ctx IS NULL THEN '{}' ELSE jsonb_build_object('context', v_ctx) END;
END $$;

-- turn.retry: the item must be a user message (else 22023, nothing
-- deleted); every item after it in (created_at, id) order is deleted.
CREATE OR REPLACE FUNCTION chatkit.op_turn_retry(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    t chatkit.threads := chatkit.thread_row(p_user, chatkit.param_text(p, 'thread_id'));
    i chatkit.items := chatkit.item_row(p_user, t.id, chatkit.param_text(p, 'item_id'));
    v_ctx jsonb;
BEGIN
    IF i.type <> 'user_message' THEN
        PERFORM chatkit.raise_error('22023', format('item %s is not a user message', left(i.id, 128)));
    END IF;
    DELETE FROM chatkit.items WHERE thread_id = t.id AND (created_at, id) > (i.created_at, i.id);
    v_ctx := chatkit.turn_context(p_user, p, t.id, i.id, false);
    RETURN jsonb_build_object('thread', chatkit.thread_meta(t), 'item', i.data)
        || CASE WHEN v_ctx IS NULL THEN '{}' ELSE jsonb_build_object('context', v_ctx) END;
END $$;
