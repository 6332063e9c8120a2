-- threads.sql - the thread and item ops outside streaming turns:
-- threads.update/delete, thread.load/save, item.add/save/delete,
-- items.feedback and threads.sync_custom_action.

-- ---------------------------------------------------------------------------
-- Threads
-- ---------------------------------------------------------------------------

-- threads.update: sets the title, returns the Thread (empty items page).
CREATE OR REPLACE FUNCTION chatkit.op_threads_update(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_id text := chatkit.param_text(p, 'thread_id');
    v_title text;
    t chatkit.threads;
BEGIN
    IF jsonb_typeof(p -> 'title') IS DISTINCT FROM 'string' THEN
        PERFORM chatkit.raise_error('22023', 'parameter title must be a string');
    END IF;
    v_title := p ->> 'title';
    UPDATE chatkit.threads SET title = v_title WHERE id = v_id AND user_id = p_user RETURNING * INTO t;
    IF NOT FOUND THEN
        PERFORM chatkit.raise_not_found('thread', v_id);
    END IF;
    RETURN chatkit.thread_wire(t, chatkit.empty_page());
END $$;

-- threads.delete: the thread, its items and their feedback (attachments stay).
CREATE OR REPLACE FUNCTION chatkit.op_threads_delete(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_id text := chatkit.param_text(p, 'thread_id');
BEGIN
    DELETE FROM chatkit.threads WHERE id = v_id AND user_id = p_user;
    IF NOT FOUND THEN
        PERFORM chatkit.raise_not_found('thread', v_id);
    END IF;
    RETURN '{}'::jsonb;
END $$;

-- thread.load: ThreadMetadata with the stored metadata.
CREATE OR REPLACE FUNCTION chatkit.op_thread_load(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    t chatkit.threads := chatkit.thread_row(p_user, chatkit.param_text(p, 'thread_id'));
BEGIN
    RETURN chatkit.thread_meta(t); -- a variable, so that thread_meta is inlined (turns.sql, turn.load_item)
END $$;

-- thread.save: upsert of the metadata fields; created_at
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

-- threads.sync_custom_action: checks the thread and, when item_id is given,
-- that the item is a widget.  Returns {} (C adds any updated_item itself).
CREATE OR REPLACE FUNCTION chatkit.op_threads_sync_custom_action(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_thread text := chatkit.param_text(p, 'thread_id');
    v_item text := chatkit.param_opt_text(p, 'item_id');
    i chatkit.items;
BEGIN
    IF v_item IS NULL THEN
        PERFORM chatkit.thread_row(p_user, v_thread);
        RETURN '{}'::jsonb;
    END IF;
    i := chatkit.item_row(p_user, v_thread, v_item);
    IF i.type <> 'widget' THEN
        PERFORM chatkit.raise_error('22023', format('item %s is not a widget', left(v_item, 128)));
    END IF;
    RETURN '{}'::jsonb;
END $$;


-- ---------------------------------------------------------------------------
-- Items
-- ---------------------------------------------------------------------------

-- Inserts or replaces an item of a thread the caller has checked.  A repeated
-- id keeps its original created_at (column and data), hence its position.
CREATE OR REPLACE FUNCTION chatkit.item_upsert(p_user text, p_thread text, p_item jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_id text := chatkit.param_text(p_item, 'id');
    v_type text := chatkit.param_text(p_item, 'type');
    v_ts timestamptz := chatkit.ts_parse(chatkit.param_text(p_item, 'created_at'));
BEGIN
    IF p_item ? 'thread_id' AND p_item ->> 'thread_id' IS DISTINCT FROM p_thread THEN
        PERFORM chatkit.raise_error('22023', 'item thread_id does not match the thread');
    END IF;
    INSERT INTO chatkit.items AS i (thread_id, id, user_id, created_at, type, data)
    VALUES (p_thread, v_id, p_user, v_ts, v_type, p_item)
    ON CONFLICT (thread_id, id) DO UPDATE
        SET type = excluded.type,
            data = excluded.data || jsonb_build_object('created_at', i.data -> 'created_at');
END $$;

-- item.add: upsert by id, keeping the original created_at / position.
CREATE OR REPLACE FUNCTION chatkit.op_item_add(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    t chatkit.threads := chatkit.thread_row(p_user, chatkit.param_text(p, 'thread_id'));
BEGIN
    PERFORM chatkit.item_upsert(p_user, t.id, chatkit.param_object(p, 'item'));
    RETURN '{}'::jsonb;
END $$;

-- item.save: replaces an existing item (type may change; created_at and
-- position are kept); P0002 if the item is absent.
CREATE OR REPLACE FUNCTION chatkit.op_item_save(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    t chatkit.threads := chatkit.thread_row(p_user, chatkit.param_text(p, 'thread_id'));
    v_item jsonb := chatkit.param_object(p, 'item');
    v_id text := chatkit.param_text(v_item, 'id');
BEGIN
    IF v_item ? 'thread_id' AND v_item ->> 'thread_id' IS DISTINCT FROM t.id THEN
        PERFORM chatkit.raise_error('22023', 'item thread_id does not match the thread');
    END IF;
    UPDATE chatkit.items i
       SET type = chatkit.param_text(v_item, 'type'),
           data = v_item || jsonb_build_object('created_at', i.data -> 'created_at')
     WHERE i.thread_id = t.id AND i.id = v_id;
    IF NOT FOUND THEN
        PERFORM chatkit.raise_not_found('item', v_id);
    END IF;
    RETURN '{}'::jsonb;
END $$;

-- item.delete: removes one item (absent item: no-op).
CREATE OR REPLACE FUNCTION chatkit.op_item_delete(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    t chatkit.threads := chatkit.thread_row(p_user, chatkit.param_text(p, 'thread_id'));
BEGIN
    DELETE FROM chatkit.items WHERE thread_id = t.id AND id = chatkit.param_text(p, 'item_id');
    RETURN '{}'::jsonb;
END $$;

-- items.feedback: one row per item (latest kind wins); every item must be in
-- the user's thread, else P0002 and nothing is stored.
CREATE OR REPLACE FUNCTION chatkit.op_items_feedback(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    t chatkit.threads := chatkit.thread_row(p_user, chatkit.param_text(p, 'thread_id'));
    v_ids jsonb := chatkit.param_array(p, 'item_ids');
    v_kind text := p ->> 'kind';
    missing text;
BEGIN
    IF v_kind IS NULL OR v_kind NOT IN ('positive', 'negative') THEN
        PERFORM chatkit.raise_error('22023', 'kind must be "positive" or "negative"');
    END IF;
    SELECT e.x #>> '{}' INTO missing
      FROM jsonb_array_elements(v_ids) WITH ORDINALITY AS e(x, ord)
     WHERE jsonb_typeof(e.x) <> 'string'
        OR NOT EXISTS (SELECT 1 FROM chatkit.items i WHERE i.thread_id = t.id AND i.id = e.x #>> '{}')
     ORDER BY e.ord LIMIT 1;
    IF FOUND THEN
        PERFORM chatkit.raise_not_found('item', missing);
    END IF;
    INSERT INTO chatkit.feedback AS f (thread_id, item_id, user_id, kind)
    SELECT DISTINCT t.id, e.x, p_user, v_kind FROM jsonb_array_elements_text(v_ids) AS e(x)
    ON CONFLICT (thread_id, item_id) DO UPDATE
        SET kind = excluded.kind, user_id = excluded.user_id, created_at = now();
    RETURN '{}'::jsonb;
END $$;
