-- 002_ops.sql - the store's operations: one SQL function per op of
-- src/store/README.md, reached through two dispatchers that C prepares once
-- per connection:
--
--   chatkit.op(op, user_id, params jsonb) -> jsonb            (every JSON op)
--   chatkit.op_bytes(op, user_id, params, data bytea)
--       -> TABLE(result jsonb, data bytea)                     (attachment bytes)
--
-- Each call is one statement, hence one transaction when C runs it in
-- autocommit: an op either happens completely or not at all (turn.create
-- with a bad attachment writes nothing).
--
-- Conventions kept by every function below:
--   * every lookup is scoped by user_id; another user's row is "not found";
--   * errors are raised with the README's SQLSTATEs (P0002 not found, 22023
--     bad params, 55000 wrong state, 54000 too large) and a message that is
--     safe to show the client;
--   * results are the wire JSON: thread/attachment objects omit null fields,
--     thread `metadata` is {} on the wire, attachment metadata and bytes never
--     appear, timestamps are YYYY-MM-DDTHH:MM:SS.ffffffZ (UTC);
--   * items are returned exactly as stored in items.data (C builds them);
--   * lists are keyset pages on (created_at, id): limit+1 rows are fetched to
--     know has_more, `after` is the id of the page's last element.
-- Nothing here uses search_path: every name is schema-qualified.

-- ---------------------------------------------------------------------------
-- Errors and parameters
-- ---------------------------------------------------------------------------

-- Raises "<kind> <id> not found" (P0002 -> HTTP 404).
CREATE FUNCTION chatkit.raise_not_found(p_kind text, p_id text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'no_data_found',
        MESSAGE = format('%s %s not found', p_kind, left(coalesce(p_id, ''), 128));
END $$;

-- Raises a client-safe message with the given SQLSTATE (22023, 55000, 54000).
CREATE FUNCTION chatkit.raise_error(p_state text, p_message text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = p_state, MESSAGE = p_message;
END $$;

-- The non-empty string params->key, else 22023.
CREATE FUNCTION chatkit.param_text(p jsonb, k text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF jsonb_typeof(p -> k) = 'string' AND p ->> k <> '' THEN
        RETURN p ->> k;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
        MESSAGE = format('parameter %s must be a non-empty string', k);
END $$;

-- params->key as text when it is a string, NULL when absent or JSON null, else 22023.
CREATE FUNCTION chatkit.param_opt_text(p jsonb, k text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p -> k IS NULL OR jsonb_typeof(p -> k) IN ('null', 'string') THEN
        RETURN p ->> k;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
        MESSAGE = format('parameter %s must be a string', k);
END $$;

-- params->key as a JSON array (absent or null = []), else 22023.
CREATE FUNCTION chatkit.param_array(p jsonb, k text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p -> k IS NULL OR jsonb_typeof(p -> k) = 'null' THEN
        RETURN '[]'::jsonb;
    ELSIF jsonb_typeof(p -> k) = 'array' THEN
        RETURN p -> k;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
        MESSAGE = format('parameter %s must be an array', k);
END $$;

-- params->key as a JSON object, else 22023.
CREATE FUNCTION chatkit.param_object(p jsonb, k text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF jsonb_typeof(p -> k) = 'object' THEN
        RETURN p -> k;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
        MESSAGE = format('parameter %s must be an object', k);
END $$;

-- A page size: params->key clamped to 1..p_max, p_default when absent, null or < 1.
CREATE FUNCTION chatkit.param_limit(p jsonb, k text, p_default int, p_max int) RETURNS int
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_typeof(p -> k) = 'number' AND (p -> k)::numeric >= 1
                THEN least((p -> k)::numeric, p_max)::int
                ELSE p_default END
$$;

-- ---------------------------------------------------------------------------
-- Timestamps and wire shapes
-- ---------------------------------------------------------------------------

-- The wire form of a timestamp: YYYY-MM-DDTHH:MM:SS.ffffffZ in UTC.
CREATE FUNCTION chatkit.ts_wire(ts timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

-- Parses an ISO-8601 date-time as C or a client sends it; a value without a
-- zone is UTC.  NULL stays NULL; anything else that is not a date-time -> 22023.
CREATE FUNCTION chatkit.ts_parse(s text) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF s IS NULL THEN
        RETURN NULL;
    ELSIF s !~ '^\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d(:\d\d(\.\d{1,9})?)?([Zz]|[+-]\d\d(:?\d\d)?)?$' THEN
        PERFORM chatkit.raise_error('22023', 'created_at is not an ISO-8601 date-time');
    ELSIF s ~ '([Zz]|[+-]\d\d(:?\d\d)?)$' THEN
        RETURN s::timestamptz;
    END IF;
    RETURN s::timestamp AT TIME ZONE 'UTC';
END $$;

-- ThreadMetadata as the server side sees it: stored metadata included.
CREATE FUNCTION chatkit.thread_meta(t chatkit.threads) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', t.id, 'created_at', chatkit.ts_wire(t.created_at),
                              'status', t.status, 'metadata', t.metadata)
        || CASE WHEN t.title IS NULL THEN '{}'::jsonb
                ELSE jsonb_build_object('title', t.title) END
        || CASE WHEN t.allowed_image_domains IS NULL THEN '{}'::jsonb
                ELSE jsonb_build_object('allowed_image_domains', t.allowed_image_domains) END
$$;

-- The wire Thread: metadata always {}, with the given items page.
CREATE FUNCTION chatkit.thread_wire(t chatkit.threads, p_items jsonb) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT chatkit.thread_meta(t) || jsonb_build_object('metadata', '{}'::jsonb, 'items', p_items)
$$;

-- The empty page embedded in threads outside threads.get_by_id.
CREATE FUNCTION chatkit.empty_page() RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT '{"data": [], "has_more": false}'::jsonb
$$;

-- The wire Attachment: private metadata and bytes never included, nulls
-- omitted, preview_url only on images.
CREATE FUNCTION chatkit.attachment_wire(a chatkit.attachments) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('id', a.id, 'name', a.name, 'mime_type', a.mime_type, 'type', a.type)
        || CASE WHEN a.upload_descriptor IS NULL THEN '{}'::jsonb
                ELSE jsonb_build_object('upload_descriptor', a.upload_descriptor) END
        || CASE WHEN a.thread_id IS NULL THEN '{}'::jsonb
                ELSE jsonb_build_object('thread_id', a.thread_id) END
        || CASE WHEN a.type <> 'image' OR a.preview_url IS NULL THEN '{}'::jsonb
                ELSE jsonb_build_object('preview_url', a.preview_url) END
$$;

-- ---------------------------------------------------------------------------
-- Shared lookups
-- ---------------------------------------------------------------------------

-- The user's thread row, else P0002.
CREATE FUNCTION chatkit.thread_row(p_user text, p_thread text) RETURNS chatkit.threads
LANGUAGE plpgsql STABLE AS $$
DECLARE
    t chatkit.threads;
BEGIN
    SELECT * INTO t FROM chatkit.threads WHERE id = p_thread AND user_id = p_user;
    IF NOT FOUND THEN
        PERFORM chatkit.raise_not_found('thread', p_thread);
    END IF;
    RETURN t;
END $$;

-- The item row of one of the user's threads (thread checked first), else P0002.
CREATE FUNCTION chatkit.item_row(p_user text, p_thread text, p_item text) RETURNS chatkit.items
LANGUAGE plpgsql STABLE AS $$
DECLARE
    i chatkit.items;
BEGIN
    SELECT * INTO i FROM chatkit.items WHERE thread_id = p_thread AND id = p_item AND user_id = p_user;
    IF NOT FOUND THEN
        PERFORM chatkit.thread_row(p_user, p_thread);
        PERFORM chatkit.raise_not_found('item', p_item);
    END IF;
    RETURN i;
END $$;

-- One page of a thread's visible items strictly after the position
-- (c_ts, c_id) in the requested order (empty when the thread is not the
-- user's).  One ordered range scan on items_thread_keyset that stops after
-- limit+1 rows, behind a one-time ownership check on threads_pkey (written as
-- an uncorrelated EXISTS so the planner does not under-estimate the rows and
-- fall back to scan-and-sort).  Hidden items are skipped before the LIMIT, so
-- the page is full whenever more visible items exist and has_more is exact.
CREATE FUNCTION chatkit.items_page(p_user text, p_thread text, p_limit int, p_desc boolean,
                                   c_ts timestamptz, c_id text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    page jsonb;
BEGIN
    IF p_desc THEN
        SELECT jsonb_build_object('data', coalesce(jsonb_agg(s.data ORDER BY s.rn) FILTER (WHERE s.rn <= p_limit), '[]'),
                                  'has_more', count(*) > p_limit)
            || CASE WHEN count(*) > p_limit
                    THEN jsonb_build_object('after', min(s.id) FILTER (WHERE s.rn = p_limit))
                    ELSE '{}'::jsonb END
          INTO page
          FROM (SELECT i.data, i.id, row_number() OVER (ORDER BY i.created_at DESC, i.id DESC) AS rn
                  FROM chatkit.items i
                 WHERE i.thread_id = p_thread
                   AND EXISTS (SELECT 1 FROM chatkit.threads t WHERE t.id = p_thread AND t.user_id = p_user)
                   AND (i.created_at, i.id) < (c_ts, c_id)
                   AND i.type NOT IN ('hidden_context_item', 'sdk_hidden_context')
                 ORDER BY i.created_at DESC, i.id DESC
                 LIMIT p_limit + 1) s;
    ELSE
        SELECT jsonb_build_object('data', coalesce(jsonb_agg(s.data ORDER BY s.rn) FILTER (WHERE s.rn <= p_limit), '[]'),
                                  'has_more', count(*) > p_limit)
            || CASE WHEN count(*) > p_limit
                    THEN jsonb_build_object('after', min(s.id) FILTER (WHERE s.rn = p_limit))
                    ELSE '{}'::jsonb END
          INTO page
          FROM (SELECT i.data, i.id, row_number() OVER (ORDER BY i.created_at, i.id) AS rn
                  FROM chatkit.items i
                 WHERE i.thread_id = p_thread
                   AND EXISTS (SELECT 1 FROM chatkit.threads t WHERE t.id = p_thread AND t.user_id = p_user)
                   AND (i.created_at, i.id) > (c_ts, c_id)
                   AND i.type NOT IN ('hidden_context_item', 'sdk_hidden_context')
                 ORDER BY i.created_at, i.id
                 LIMIT p_limit + 1) s;
    END IF;
    RETURN page;
END $$;

-- Sets thread_id on each of the user's attachments named in p_ids (a JSON
-- array of ids) and returns their wire objects in p_ids order.  P0002 on the
-- first unknown or foreign id (the caller's statement then writes nothing).
CREATE FUNCTION chatkit.attachments_bind(p_user text, p_thread text, p_ids jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    list jsonb;
    missing text;
BEGIN
    WITH req AS (
        SELECT e.x, e.ord FROM jsonb_array_elements_text(p_ids) WITH ORDINALITY AS e(x, ord)
    ), upd AS (
        UPDATE chatkit.attachments a SET thread_id = p_thread
          FROM (SELECT DISTINCT req.x FROM req) r
         WHERE a.id = r.x AND a.user_id = p_user
        RETURNING a.id, chatkit.attachment_wire(a) AS wire
    )
    SELECT coalesce(jsonb_agg(upd.wire ORDER BY req.ord) FILTER (WHERE upd.id IS NOT NULL), '[]'),
           (array_agg(req.x ORDER BY req.ord) FILTER (WHERE upd.id IS NULL))[1]
      INTO list, missing
      FROM req LEFT JOIN upd ON upd.id = req.x;
    IF missing IS NOT NULL THEN
        PERFORM chatkit.raise_not_found('attachment', missing);
    END IF;
    RETURN list;
END $$;

-- Inserts or replaces an item of a thread the caller has checked.  A repeated
-- id keeps its original created_at (column and data), hence its position.
CREATE FUNCTION chatkit.item_upsert(p_user text, p_thread text, p_item jsonb) RETURNS void
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

-- ---------------------------------------------------------------------------
-- Non-streaming protocol ops
-- ---------------------------------------------------------------------------

-- threads.get_by_id: the Thread with its oldest 20 visible items, ascending.
CREATE FUNCTION chatkit.op_threads_get_by_id(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    t chatkit.threads := chatkit.thread_row(p_user, chatkit.param_text(p, 'thread_id'));
BEGIN
    RETURN chatkit.thread_wire(t, chatkit.items_page(p_user, t.id, 20, false, '-infinity', ''));
END $$;

-- threads.list: Page<Thread> of the user's threads (empty items pages).
CREATE FUNCTION chatkit.op_threads_list(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    lim int := chatkit.param_limit(p, 'limit', 20, 100);
    is_desc boolean := p ->> 'order' IS DISTINCT FROM 'asc';
    after text := chatkit.param_opt_text(p, 'after');
    c_ts timestamptz := CASE WHEN is_desc THEN 'infinity'::timestamptz ELSE '-infinity'::timestamptz END;
    c_id text := '';
    page jsonb;
BEGIN
    IF after IS NOT NULL THEN
        SELECT t.created_at, t.id INTO c_ts, c_id FROM chatkit.threads t WHERE t.id = after AND t.user_id = p_user;
        IF NOT FOUND THEN
            PERFORM chatkit.raise_error('22023', 'cursor is not one of your threads');
        END IF;
    END IF;
    IF is_desc THEN
        SELECT jsonb_build_object('data', coalesce(jsonb_agg(chatkit.thread_wire(s.t, chatkit.empty_page()) ORDER BY s.rn)
                                                      FILTER (WHERE s.rn <= lim), '[]'),
                                  'has_more', count(*) > lim)
            || CASE WHEN count(*) > lim THEN jsonb_build_object('after', min((s.t).id) FILTER (WHERE s.rn = lim))
                    ELSE '{}'::jsonb END
          INTO page
          FROM (SELECT t, row_number() OVER (ORDER BY t.created_at DESC, t.id DESC) AS rn
                  FROM chatkit.threads t
                 WHERE t.user_id = p_user AND (t.created_at, t.id) < (c_ts, c_id)
                 ORDER BY t.created_at DESC, t.id DESC
                 LIMIT lim + 1) s;
    ELSE
        SELECT jsonb_build_object('data', coalesce(jsonb_agg(chatkit.thread_wire(s.t, chatkit.empty_page()) ORDER BY s.rn)
                                                      FILTER (WHERE s.rn <= lim), '[]'),
                                  'has_more', count(*) > lim)
            || CASE WHEN count(*) > lim THEN jsonb_build_object('after', min((s.t).id) FILTER (WHERE s.rn = lim))
                    ELSE '{}'::jsonb END
          INTO page
          FROM (SELECT t, row_number() OVER (ORDER BY t.created_at, t.id) AS rn
                  FROM chatkit.threads t
                 WHERE t.user_id = p_user AND (t.created_at, t.id) > (c_ts, c_id)
                 ORDER BY t.created_at, t.id
                 LIMIT lim + 1) s;
    END IF;
    RETURN page;
END $$;

-- threads.update: sets the title, returns the Thread (empty items page).
CREATE FUNCTION chatkit.op_threads_update(p_user text, p jsonb) RETURNS jsonb
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
CREATE FUNCTION chatkit.op_threads_delete(p_user text, p jsonb) RETURNS jsonb
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

-- items.list: Page<ThreadItem> of visible items; unknown cursor -> 22023,
-- unknown or foreign thread -> P0002.  In the common case (non-empty page,
-- no cursor) this is a single indexed query.
CREATE FUNCTION chatkit.op_items_list(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_thread text := chatkit.param_text(p, 'thread_id');
    lim int := chatkit.param_limit(p, 'limit', 20, 100);
    is_desc boolean := p ->> 'order' IS DISTINCT FROM 'asc';
    after text := chatkit.param_opt_text(p, 'after');
    c_ts timestamptz := CASE WHEN is_desc THEN 'infinity'::timestamptz ELSE '-infinity'::timestamptz END;
    c_id text := '';
    page jsonb;
BEGIN
    IF after IS NOT NULL THEN
        SELECT i.created_at, i.id INTO c_ts, c_id
          FROM chatkit.items i WHERE i.thread_id = v_thread AND i.id = after AND i.user_id = p_user;
        IF NOT FOUND THEN
            PERFORM chatkit.thread_row(p_user, v_thread);
            PERFORM chatkit.raise_error('22023', 'cursor is not an item of this thread');
        END IF;
    END IF;
    page := chatkit.items_page(p_user, v_thread, lim, is_desc, c_ts, c_id);
    IF after IS NULL AND page -> 'data' = '[]'::jsonb THEN
        PERFORM chatkit.thread_row(p_user, v_thread);
    END IF;
    RETURN page;
END $$;

-- items.feedback: one row per item (latest kind wins); every item must be in
-- the user's thread, else P0002 and nothing is stored.
CREATE FUNCTION chatkit.op_items_feedback(p_user text, p jsonb) RETURNS jsonb
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

-- Inserts a new attachment row from create-style params (shared by
-- attachments.create and attachments.create_direct); 55000 if the id exists.
CREATE FUNCTION chatkit.attachment_insert(p_user text, p jsonb, p_size bigint, p_data bytea)
RETURNS chatkit.attachments
LANGUAGE plpgsql AS $$
DECLARE
    v_id text := chatkit.param_text(p, 'id');
    v_type text := chatkit.param_text(p, 'type');
    v_preview text := chatkit.param_opt_text(p, 'preview_url');
    v_desc jsonb := p -> 'upload_descriptor';
    a chatkit.attachments;
BEGIN
    IF v_type NOT IN ('file', 'image') THEN
        PERFORM chatkit.raise_error('22023', 'attachment type must be "file" or "image"');
    ELSIF v_type = 'image' AND v_preview IS NULL THEN
        PERFORM chatkit.raise_error('22023', 'an image attachment needs a preview_url');
    ELSIF v_desc IS NOT NULL AND jsonb_typeof(v_desc) NOT IN ('object', 'null') THEN
        PERFORM chatkit.raise_error('22023', 'upload_descriptor must be an object');
    END IF;
    INSERT INTO chatkit.attachments (id, user_id, name, mime_type, size, type, upload_descriptor,
                                     preview_url, metadata, data, uploaded_at)
    VALUES (v_id, p_user, chatkit.param_text(p, 'name'), chatkit.param_text(p, 'mime_type'), p_size, v_type,
            CASE WHEN p_data IS NULL THEN nullif(v_desc, 'null'::jsonb) END, v_preview,
            coalesce(nullif(p -> 'metadata', 'null'::jsonb), '{}'::jsonb),
            p_data, CASE WHEN p_data IS NOT NULL THEN now() END)
    ON CONFLICT (id) DO NOTHING
    RETURNING * INTO a;
    IF NOT FOUND THEN
        PERFORM chatkit.raise_error('55000', 'attachment id already exists');
    END IF;
    RETURN a;
END $$;

-- attachments.create: the two-phase upload's first step; returns the Attachment.
CREATE FUNCTION chatkit.op_attachments_create(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    IF jsonb_typeof(p -> 'size') IS DISTINCT FROM 'number' OR (p -> 'size')::numeric < 0
       OR (p -> 'size')::numeric > 9e18 OR (p -> 'size')::numeric <> trunc((p -> 'size')::numeric) THEN
        PERFORM chatkit.raise_error('22023', 'parameter size must be a non-negative integer');
    END IF;
    RETURN chatkit.attachment_wire(chatkit.attachment_insert(p_user, p, (p -> 'size')::numeric::bigint, NULL));
END $$;

-- attachments.delete: metadata and bytes of one of the user's attachments.
CREATE FUNCTION chatkit.op_attachments_delete(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_id text := chatkit.param_text(p, 'attachment_id');
BEGIN
    DELETE FROM chatkit.attachments WHERE id = v_id AND user_id = p_user;
    IF NOT FOUND THEN
        PERFORM chatkit.raise_not_found('attachment', v_id);
    END IF;
    RETURN '{}'::jsonb;
END $$;

-- threads.sync_custom_action: checks the thread and, when item_id is given,
-- that the item is a widget.  Returns {} (C adds any updated_item itself).
CREATE FUNCTION chatkit.op_threads_sync_custom_action(p_user text, p jsonb) RETURNS jsonb
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
-- Streaming-turn ops
-- ---------------------------------------------------------------------------

-- turn.create: new thread + user message with its attachments, atomically.
CREATE FUNCTION chatkit.op_turn_create(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    th jsonb := chatkit.param_object(p, 'thread');
    v_item jsonb := chatkit.param_object(p, 'item');
    v_id text := chatkit.param_text(th, 'id');
    t chatkit.threads;
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
    RETURN jsonb_build_object('thread', chatkit.thread_wire(t, chatkit.empty_page()), 'item', v_item);
END $$;

-- turn.add_message: user message (with its attachments) into an existing thread.
CREATE FUNCTION chatkit.op_turn_add_message(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    t chatkit.threads := chatkit.thread_row(p_user, chatkit.param_text(p, 'thread_id'));
    v_item jsonb := chatkit.param_object(p, 'item');
BEGIN
    v_item := v_item || jsonb_build_object('attachments',
        chatkit.attachments_bind(p_user, t.id, chatkit.param_array(p, 'attachment_ids')));
    PERFORM chatkit.item_upsert(p_user, t.id, v_item);
    RETURN jsonb_build_object('thread', chatkit.thread_meta(t), 'item', v_item);
END $$;

-- turn.tool_output (spec 2.3): completes the newest item, which must be a
-- pending client_tool_call (else 55000); output = result unless result is
-- JSON null; other pending calls among the newest 20 items are deleted.
CREATE FUNCTION chatkit.op_turn_tool_output(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    t chatkit.threads := chatkit.thread_row(p_user, chatkit.param_text(p, 'thread_id'));
    v_result jsonb := p -> 'result';
    i chatkit.items;
    v_data jsonb;
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
    RETURN jsonb_build_object('thread', chatkit.thread_meta(t), 'item', v_data);
END $$;

-- turn.load_item: thread metadata and one item (hidden ones too).
CREATE FUNCTION chatkit.op_turn_load_item(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_thread text := chatkit.param_text(p, 'thread_id');
    i chatkit.items := chatkit.item_row(p_user, v_thread, chatkit.param_text(p, 'item_id'));
BEGIN
    RETURN jsonb_build_object('thread', chatkit.thread_meta(chatkit.thread_row(p_user, v_thread)), 'item', i.data);
END $$;

-- turn.retry (spec 2.5): the item must be a user message (else 22023, nothing
-- deleted); every item after it in (created_at, id) order is deleted.
CREATE FUNCTION chatkit.op_turn_retry(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    t chatkit.threads := chatkit.thread_row(p_user, chatkit.param_text(p, 'thread_id'));
    i chatkit.items := chatkit.item_row(p_user, t.id, chatkit.param_text(p, 'item_id'));
BEGIN
    IF i.type <> 'user_message' THEN
        PERFORM chatkit.raise_error('22023', format('item %s is not a user message', left(i.id, 128)));
    END IF;
    DELETE FROM chatkit.items WHERE thread_id = t.id AND (created_at, id) > (i.created_at, i.id);
    RETURN jsonb_build_object('thread', chatkit.thread_meta(t), 'item', i.data);
END $$;

-- thread.load: ThreadMetadata with the stored metadata.
CREATE FUNCTION chatkit.op_thread_load(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN chatkit.thread_meta(chatkit.thread_row(p_user, chatkit.param_text(p, 'thread_id')));
END $$;

-- thread.save: upsert of the metadata fields; created_at only on insert.
-- A thread id owned by another user is "not found" and left untouched.
CREATE FUNCTION chatkit.op_thread_save(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    th jsonb := chatkit.param_object(p, 'thread');
    v_id text := chatkit.param_text(th, 'id');
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
    IF NOT FOUND THEN
        PERFORM chatkit.raise_not_found('thread', v_id);
    END IF;
    RETURN '{}'::jsonb;
END $$;

-- item.add: upsert by id, keeping the original created_at / position.
CREATE FUNCTION chatkit.op_item_add(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    t chatkit.threads := chatkit.thread_row(p_user, chatkit.param_text(p, 'thread_id'));
BEGIN
    PERFORM chatkit.item_upsert(p_user, t.id, chatkit.param_object(p, 'item'));
    RETURN '{}'::jsonb;
END $$;

-- item.save: replaces an existing item (type may change; created_at and
-- position are kept); P0002 if the item is absent.
CREATE FUNCTION chatkit.op_item_save(p_user text, p jsonb) RETURNS jsonb
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
CREATE FUNCTION chatkit.op_item_delete(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    t chatkit.threads := chatkit.thread_row(p_user, chatkit.param_text(p, 'thread_id'));
BEGIN
    DELETE FROM chatkit.items WHERE thread_id = t.id AND id = chatkit.param_text(p, 'item_id');
    RETURN '{}'::jsonb;
END $$;

-- history: the newest `limit` items (hidden included, end_of_turn excluded)
-- strictly before before_item_id (or the end), in ascending order.
CREATE FUNCTION chatkit.op_history(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    t chatkit.threads := chatkit.thread_row(p_user, chatkit.param_text(p, 'thread_id'));
    lim int := chatkit.param_limit(p, 'limit', 10, 1000);
    before text := chatkit.param_opt_text(p, 'before_item_id');
    c_ts timestamptz := 'infinity';
    c_id text := '';
    v_items jsonb;
BEGIN
    IF before IS NOT NULL THEN
        SELECT i.created_at, i.id INTO c_ts, c_id FROM chatkit.items i WHERE i.thread_id = t.id AND i.id = before;
        IF NOT FOUND THEN
            PERFORM chatkit.raise_error('22023', 'before_item_id is not an item of this thread');
        END IF;
    END IF;
    SELECT coalesce(jsonb_agg(s.data ORDER BY s.created_at, s.id), '[]') INTO v_items
      FROM (SELECT i.data, i.created_at, i.id FROM chatkit.items i
             WHERE i.thread_id = t.id AND (i.created_at, i.id) < (c_ts, c_id) AND i.type <> 'end_of_turn'
             ORDER BY i.created_at DESC, i.id DESC LIMIT lim) s;
    RETURN jsonb_build_object('items', v_items);
END $$;

-- attachments.load: the user's attachments with their bytes in base64 (for
-- model input), in the order asked.  Unknown or foreign ids are skipped;
-- data_base64 is absent while the bytes are not uploaded.
CREATE FUNCTION chatkit.op_attachments_load(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_ids jsonb := chatkit.param_array(p, 'attachment_ids');
BEGIN
    RETURN jsonb_build_object('attachments', (
        SELECT coalesce(jsonb_agg(jsonb_build_object('attachment', chatkit.attachment_wire(a))
                                  || CASE WHEN a.data IS NULL THEN '{}'::jsonb
                                          ELSE jsonb_build_object('data_base64',
                                                   translate(encode(a.data, 'base64'), E'\n', '')) END
                                  ORDER BY e.ord), '[]')
          FROM jsonb_array_elements_text(v_ids) WITH ORDINALITY AS e(x, ord)
          JOIN chatkit.attachments a ON a.id = e.x AND a.user_id = p_user));
END $$;

-- ---------------------------------------------------------------------------
-- Attachment byte ops
-- ---------------------------------------------------------------------------

-- Raises 54000 when p_len exceeds the optional params->max_size.
CREATE FUNCTION chatkit.check_max_size(p jsonb, p_len bigint) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF jsonb_typeof(p -> 'max_size') = 'number' AND p_len > (p -> 'max_size')::numeric THEN
        PERFORM chatkit.raise_error('54000', format('the file is larger than the limit of %s bytes', p ->> 'max_size'));
    END IF;
END $$;

-- attachments.upload: stores the bytes of the user's not yet uploaded
-- attachment; clears upload_descriptor.  54000 over max_size or over the
-- declared size, 55000 if already uploaded.
CREATE FUNCTION chatkit.op_attachments_upload(p_user text, p jsonb, p_data bytea) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_id text := chatkit.param_text(p, 'attachment_id');
    a chatkit.attachments;
BEGIN
    SELECT * INTO a FROM chatkit.attachments WHERE id = v_id AND user_id = p_user FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM chatkit.raise_not_found('attachment', v_id);
    ELSIF a.uploaded_at IS NOT NULL THEN
        PERFORM chatkit.raise_error('55000', 'the attachment is already uploaded');
    END IF;
    PERFORM chatkit.check_max_size(p, octet_length(coalesce(p_data, '')));
    IF octet_length(coalesce(p_data, '')) > a.size THEN
        PERFORM chatkit.raise_error('54000', format('the file is larger than its declared size of %s bytes', a.size));
    END IF;
    UPDATE chatkit.attachments SET data = coalesce(p_data, ''), uploaded_at = now(), upload_descriptor = NULL
     WHERE id = v_id RETURNING * INTO a;
    RETURN chatkit.attachment_wire(a);
END $$;

-- attachments.create_direct: a new attachment with its bytes in one step
-- (no upload_descriptor; size = the byte count).
CREATE FUNCTION chatkit.op_attachments_create_direct(p_user text, p jsonb, p_data bytea) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_data bytea := coalesce(p_data, '');
BEGIN
    PERFORM chatkit.check_max_size(p, octet_length(v_data));
    RETURN chatkit.attachment_wire(chatkit.attachment_insert(p_user, p, octet_length(v_data), v_data));
END $$;

-- attachments.download: {"mime_type","name","size"} and the bytes of the
-- user's uploaded attachment; P0002 if unknown, foreign or not uploaded yet.
CREATE FUNCTION chatkit.op_attachments_download(p_user text, p jsonb, OUT o_meta jsonb, OUT o_bytes bytea)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_id text := chatkit.param_text(p, 'attachment_id');
BEGIN
    SELECT jsonb_build_object('mime_type', a.mime_type, 'name', a.name, 'size', octet_length(a.data)), a.data
      INTO o_meta, o_bytes
      FROM chatkit.attachments a WHERE a.id = v_id AND a.user_id = p_user AND a.uploaded_at IS NOT NULL;
    IF NOT FOUND THEN
        PERFORM chatkit.raise_not_found('attachment', v_id);
    END IF;
END $$;

-- ---------------------------------------------------------------------------
-- Dispatchers
-- ---------------------------------------------------------------------------

-- Checks the arguments every op shares: a user id and a params object.
CREATE FUNCTION chatkit.check_call(p_user text, p_params jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_user IS NULL OR p_user = '' THEN
        PERFORM chatkit.raise_error('22023', 'missing user');
    ELSIF p_params IS NULL OR jsonb_typeof(p_params) <> 'object' THEN
        PERFORM chatkit.raise_error('22023', 'params must be an object');
    END IF;
END $$;

-- chatkit.op: runs the JSON op `p_op` for `p_user` and returns its wire JSON.
CREATE FUNCTION chatkit.op(p_op text, p_user text, p_params jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM chatkit.check_call(p_user, p_params);
    CASE p_op
        WHEN 'items.list'                 THEN RETURN chatkit.op_items_list(p_user, p_params);
        WHEN 'threads.list'               THEN RETURN chatkit.op_threads_list(p_user, p_params);
        WHEN 'threads.get_by_id'          THEN RETURN chatkit.op_threads_get_by_id(p_user, p_params);
        WHEN 'threads.update'             THEN RETURN chatkit.op_threads_update(p_user, p_params);
        WHEN 'threads.delete'             THEN RETURN chatkit.op_threads_delete(p_user, p_params);
        WHEN 'items.feedback'             THEN RETURN chatkit.op_items_feedback(p_user, p_params);
        WHEN 'attachments.create'         THEN RETURN chatkit.op_attachments_create(p_user, p_params);
        WHEN 'attachments.delete'         THEN RETURN chatkit.op_attachments_delete(p_user, p_params);
        WHEN 'threads.sync_custom_action' THEN RETURN chatkit.op_threads_sync_custom_action(p_user, p_params);
        WHEN 'turn.create'                THEN RETURN chatkit.op_turn_create(p_user, p_params);
        WHEN 'turn.add_message'           THEN RETURN chatkit.op_turn_add_message(p_user, p_params);
        WHEN 'turn.tool_output'           THEN RETURN chatkit.op_turn_tool_output(p_user, p_params);
        WHEN 'turn.load_item'             THEN RETURN chatkit.op_turn_load_item(p_user, p_params);
        WHEN 'turn.retry'                 THEN RETURN chatkit.op_turn_retry(p_user, p_params);
        WHEN 'thread.load'                THEN RETURN chatkit.op_thread_load(p_user, p_params);
        WHEN 'thread.save'                THEN RETURN chatkit.op_thread_save(p_user, p_params);
        WHEN 'item.add'                   THEN RETURN chatkit.op_item_add(p_user, p_params);
        WHEN 'item.save'                  THEN RETURN chatkit.op_item_save(p_user, p_params);
        WHEN 'item.delete'                THEN RETURN chatkit.op_item_delete(p_user, p_params);
        WHEN 'history'                    THEN RETURN chatkit.op_history(p_user, p_params);
        WHEN 'attachments.load'           THEN RETURN chatkit.op_attachments_load(p_user, p_params);
        WHEN 'search'                     THEN RETURN chatkit.corpus_search(p_params);
        ELSE
            PERFORM chatkit.raise_error('22023', format('unknown operation %s', left(coalesce(p_op, ''), 64)));
            RETURN NULL;
    END CASE;
END $$;

-- chatkit.op_bytes: the attachment ops that move bytes; `data` is the bytea
-- argument (upload) or result (download), NULL otherwise.
CREATE FUNCTION chatkit.op_bytes(p_op text, p_user text, p_params jsonb, p_data bytea)
RETURNS TABLE (result jsonb, data bytea)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM chatkit.check_call(p_user, p_params);
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
    RETURN NEXT;
END $$;
