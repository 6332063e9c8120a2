-- context.sql - the ops of the context builder (docs/context.md) and of
-- user memory (GET/DELETE /memory):
--
--   context.load     the history window before the new message (limit+1
--                    items, ascending, so the caller knows whether older ones
--                    exist), the thread's summary and notice flag, and the
--                    user's facts when asked
--   context.notice   records that the thread's "no longer in context" notice was sent
--   context.summary  stores a summary unless a newer one is there already
--   memory.list / memory.add / memory.forget / memory.clear
-- Every query is scoped by the user (another user's thread or fact is "not found").

-- The user's facts as wire objects {"id","fact","created_at","thread_id"}, oldest first.
-- plpgsql, not sql: an aggregate cannot be inlined, and a LANGUAGE sql
-- function that is not inlined is parsed and planned again on every call
-- (every turn reads the facts); plpgsql keeps the plan for the connection.
CREATE OR REPLACE FUNCTION chatkit.memory_facts_json(p_user text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object('id', f.id, 'fact', f.fact,
                                                         'created_at', chatkit.ts_wire(f.created_at),
                                                         'thread_id', f.thread_id)
                                      ORDER BY f.created_at, f.id), '[]')
              FROM chatkit.memory_facts f WHERE f.user_id = p_user);
END $$;

-- The context of a turn on thread p_thread (checked by the caller): the
-- newest p_lim items strictly before item p_before (or all; end_of_turn
-- excluded), ascending, the notice flag, the summary when there is one, and
-- the user's facts when p_facts.  Shared by context.load and the turn ops
-- that answer it with their pre-flight write (turns.sql).
CREATE OR REPLACE FUNCTION chatkit.context_doc(p_user text, p_thread text, p_lim int, p_before text, p_facts boolean)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    c_ts timestamptz := 'infinity';
    c_id text := '';
    ctx chatkit.thread_context;
    v jsonb;
BEGIN
    IF p_before IS NOT NULL THEN
        SELECT i.created_at, i.id INTO c_ts, c_id FROM chatkit.items i WHERE i.thread_id = p_thread AND i.id = p_before;
        IF NOT FOUND THEN
            PERFORM chatkit.raise_error('22023', 'before_item_id is not an item of this thread');
        END IF;
    END IF;
    SELECT coalesce(jsonb_agg(s.data ORDER BY s.created_at, s.id), '[]') INTO v
      FROM (SELECT i.data, i.created_at, i.id FROM chatkit.items i
             WHERE i.thread_id = p_thread AND (i.created_at, i.id) < (c_ts, c_id) AND i.type <> 'end_of_turn'
             ORDER BY i.created_at DESC, i.id DESC LIMIT p_lim) s;
    v := jsonb_build_object('items', v);
    SELECT * INTO ctx FROM chatkit.thread_context c WHERE c.thread_id = p_thread AND c.user_id = p_user;
    v := v || jsonb_build_object('notice_sent', coalesce(ctx.notice_sent, false));
    IF ctx.summary IS NOT NULL THEN
        v := v || jsonb_build_object('summary', jsonb_build_object('text', ctx.summary, 'item_id', ctx.summary_item_id));
    END IF;
    IF p_facts THEN
        v := v || jsonb_build_object('facts', chatkit.memory_facts_json(p_user));
    END IF;
    RETURN v;
END $$;

-- context.load {thread_id, limit?, before_item_id?, facts?: bool}
--   -> {"items":[...], "summary"?: {"text","item_id"}, "notice_sent": bool, "facts"?: [...]}
CREATE OR REPLACE FUNCTION chatkit.op_context_load(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    t chatkit.threads := chatkit.thread_row(p_user, chatkit.param_text(p, 'thread_id'));
BEGIN
    RETURN chatkit.context_doc(p_user, t.id, chatkit.param_limit(p, 'limit', 11, 1000),
                               chatkit.param_opt_text(p, 'before_item_id'), p -> 'facts' = 'true'::jsonb);
END $$;

-- context.notice {thread_id} -> {}
CREATE OR REPLACE FUNCTION chatkit.op_context_notice(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    t chatkit.threads := chatkit.thread_row(p_user, chatkit.param_text(p, 'thread_id'));
BEGIN
    INSERT INTO chatkit.thread_context AS c (thread_id, user_id, notice_sent) VALUES (t.id, p_user, true)
    ON CONFLICT (thread_id) DO UPDATE SET notice_sent = true, updated_at = now();
    RETURN '{}'::jsonb;
END $$;

-- context.summary {thread_id, summary, item_id} -> {"saved": bool}: kept
-- only when item_id is an item of the thread no older than the one the
-- stored summary covers (two turns finishing out of order keep the newer).
CREATE OR REPLACE FUNCTION chatkit.op_context_summary(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    t chatkit.threads := chatkit.thread_row(p_user, chatkit.param_text(p, 'thread_id'));
    v_text text := chatkit.param_text(p, 'summary');
    it chatkit.items := chatkit.item_row(p_user, t.id, chatkit.param_text(p, 'item_id'));
BEGIN
    IF char_length(v_text) > 4000 THEN
        PERFORM chatkit.raise_error('54000', 'summary is longer than 4000 characters');
    END IF;
    INSERT INTO chatkit.thread_context AS c (thread_id, user_id, summary, summary_item_id, summary_item_at)
    VALUES (t.id, p_user, v_text, it.id, it.created_at)
    ON CONFLICT (thread_id) DO UPDATE
        SET summary = excluded.summary, summary_item_id = excluded.summary_item_id,
            summary_item_at = excluded.summary_item_at, updated_at = now()
        WHERE c.summary_item_at IS NULL
           OR (c.summary_item_at, c.summary_item_id) <= (excluded.summary_item_at, excluded.summary_item_id);
    RETURN jsonb_build_object('saved', FOUND);
END $$;

-- memory.list {} -> {"data":[{"id","fact","created_at","thread_id"}...]}
CREATE OR REPLACE FUNCTION chatkit.op_memory_list(p_user text, p jsonb) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('data', chatkit.memory_facts_json(p_user))
$$;

-- memory.add {fact, sha256, max, thread_id?} -> {"status": "added"|"duplicate"|"full", "fact"?: {...}}
-- The per-user cap is exact under concurrency (a transaction lock per user).
CREATE OR REPLACE FUNCTION chatkit.op_memory_add(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_fact text := chatkit.param_text(p, 'fact');
    v_sha text := chatkit.param_text(p, 'sha256');
    v_max int := chatkit.param_limit(p, 'max', 50, 100000);
    v_thread text := chatkit.param_opt_text(p, 'thread_id');
    f chatkit.memory_facts;
BEGIN
    IF char_length(v_fact) > 500 THEN
        PERFORM chatkit.raise_error('54000', 'a fact is at most 500 characters');
    END IF;
    IF v_thread IS NOT NULL THEN
        PERFORM chatkit.thread_row(p_user, v_thread);
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('chatkit.memory:' || p_user, 0));
    SELECT * INTO f FROM chatkit.memory_facts WHERE user_id = p_user AND fact_sha256 = v_sha;
    IF FOUND THEN
        RETURN jsonb_build_object('status', 'duplicate', 'fact', jsonb_build_object('id', f.id, 'fact', f.fact));
    END IF;
    IF (SELECT count(*) FROM chatkit.memory_facts WHERE user_id = p_user) >= v_max THEN
        RETURN jsonb_build_object('status', 'full');
    END IF;
    INSERT INTO chatkit.memory_facts (id, user_id, fact, fact_sha256, thread_id)
    VALUES ('mem_' || replace(gen_random_uuid()::text, '-', ''), p_user, v_fact, v_sha, v_thread)
    RETURNING * INTO f;
    RETURN jsonb_build_object('status', 'added', 'fact', jsonb_build_object('id', f.id, 'fact', f.fact));
END $$;

-- memory.forget {id} -> {} (P0002 when the user has no such fact)
CREATE OR REPLACE FUNCTION chatkit.op_memory_forget(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_id text := chatkit.param_text(p, 'id');
BEGIN
    DELETE FROM chatkit.memory_facts WHERE id = v_id AND user_id = p_user;
    IF NOT FOUND THEN
        PERFORM chatkit.raise_not_found('fact', v_id);
    END IF;
    RETURN '{}'::jsonb;
END $$;

-- memory.clear {} -> {"deleted": n, "ids": [fact id...]} (the ids for the audit log)
CREATE OR REPLACE FUNCTION chatkit.op_memory_clear(p_user text, p jsonb) RETURNS jsonb
LANGUAGE sql AS $$
    WITH gone AS (DELETE FROM chatkit.memory_facts WHERE user_id = p_user RETURNING id)
    SELECT jsonb_build_object('deleted', count(*), 'ids', coalesce(jsonb_agg(id ORDER BY id), '[]'::jsonb))
    FROM gone
$$;
