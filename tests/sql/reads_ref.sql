-- tests/sql/reads_ref.sql - the test oracle of the hot reads (schema
-- readref): items.list, threads.list, threads.get_by_id and history answered
-- in SQL, as text built by concatenation.  The server answers the first
-- three with plain prepared SELECTs and builds the envelope in C
-- (src/store/read.c) and no longer asks for history (the agent reads its
-- window with context.load), so none of them is in sql/functions/; these
-- functions are what the C reads are held to (tests/unit/test_store.c loads
-- this file) and what the SQL tests read back through (tests/sql/lib.sql:
-- sqltest.op).  readref.op(op, user, params) answers like chatkit.op_text:
-- the four reads here, every other op through chatkit.op_text.
--
-- Why: building a 20-item page as jsonb (jsonb_agg + jsonb_build_object, then
-- jsonb output) was most of PostgreSQL's CPU per read (BENCHMARKS.md).  Every
-- item keeps its wire JSON as text (items.wire, a stored generated column:
-- jsonb's text form of `data`, sql/schema/006_items_wire.sql), and a page is
-- string_agg(wire, ',') between fixed JSON fragments.  Thread objects are
-- built from their columns with to_json(x)::text doing the string escaping.
-- Keys are emitted in jsonb's order (shorter keys first, then bytewise), so
-- the text parses to the jsonb the other ops return for the same objects
-- (tests/sql/test_fast_reads.sql checks it against a jsonb reference).

CREATE SCHEMA readref;

-- ---------------------------------------------------------------------------
-- Text shapes
-- ---------------------------------------------------------------------------

-- A Page's JSON around an already joined list of elements (NULL = none):
-- {"data":[...],"after":"<id>","has_more":true} or {"data":[...],"has_more":false}.
CREATE FUNCTION readref.page_text(p_body text, p_more boolean, p_after text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT '{"data":[' || coalesce(p_body, '') || ']'
        || CASE WHEN p_more THEN ',"after":' || coalesce(to_json(p_after)::text, 'null') || ',"has_more":true}'
                ELSE ',"has_more":false}' END
$$;

-- The wire Thread as text (chatkit.thread_wire's value): metadata {} but the assistant, null
-- title and allowed_image_domains omitted, p_items the items page's JSON.
CREATE FUNCTION readref.thread_wire_text(t chatkit.threads, p_items text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT '{"id":' || to_json(t.id)::text
        || ',"items":' || p_items
        || coalesce(',"title":' || to_json(t.title)::text, '')
        || ',"status":' || t.status::text
        || ',"metadata":' || chatkit.thread_wire_metadata(t.metadata)::text
        || ',"created_at":"' || chatkit.ts_wire(t.created_at) || '"'
        || coalesce(',"allowed_image_domains":' || t.allowed_image_domains::text, '')
        || '}'
$$;


-- ---------------------------------------------------------------------------
-- The read ops
-- ---------------------------------------------------------------------------

-- One page of a thread's visible items strictly after the position
-- (c_ts, c_id) in the requested order (empty when the thread is not the
-- user's).  One ordered range scan on items_thread_keyset that stops after
-- limit+1 rows, behind a one-time ownership check on threads_pkey (written as
-- an uncorrelated EXISTS so the planner does not under-estimate the rows and
-- fall back to scan-and-sort).  Hidden items are skipped before the LIMIT, so
-- the page is full whenever more visible items exist and has_more is exact.
CREATE FUNCTION readref.items_page_text(p_user text, p_thread text, p_limit int, p_desc boolean,
                                        c_ts timestamptz, c_id text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    n bigint;
    body text;
    last_id text;
BEGIN
    IF p_desc THEN
        SELECT count(*), string_agg(s.wire, ',' ORDER BY s.rn) FILTER (WHERE s.rn <= p_limit),
               min(s.id) FILTER (WHERE s.rn = p_limit)
          INTO n, body, last_id
          FROM (SELECT i.wire, i.id, row_number() OVER (ORDER BY i.created_at DESC, i.id DESC) AS rn
                  FROM chatkit.items i
                 WHERE i.thread_id = p_thread
                   AND EXISTS (SELECT 1 FROM chatkit.threads t WHERE t.id = p_thread AND t.user_id = p_user)
                   AND (i.created_at, i.id) < (c_ts, c_id)
                   AND i.type NOT IN ('hidden_context_item', 'sdk_hidden_context')
                 ORDER BY i.created_at DESC, i.id DESC
                 LIMIT p_limit + 1) s;
    ELSE
        SELECT count(*), string_agg(s.wire, ',' ORDER BY s.rn) FILTER (WHERE s.rn <= p_limit),
               min(s.id) FILTER (WHERE s.rn = p_limit)
          INTO n, body, last_id
          FROM (SELECT i.wire, i.id, row_number() OVER (ORDER BY i.created_at, i.id) AS rn
                  FROM chatkit.items i
                 WHERE i.thread_id = p_thread
                   AND EXISTS (SELECT 1 FROM chatkit.threads t WHERE t.id = p_thread AND t.user_id = p_user)
                   AND (i.created_at, i.id) > (c_ts, c_id)
                   AND i.type NOT IN ('hidden_context_item', 'sdk_hidden_context')
                 ORDER BY i.created_at, i.id
                 LIMIT p_limit + 1) s;
    END IF;
    RETURN readref.page_text(body, n > p_limit, last_id);
END $$;

-- items.list: Page<ThreadItem> of visible items; unknown cursor -> 22023,
-- unknown or foreign thread -> P0002.
CREATE FUNCTION readref.op_items_list_text(p_user text, p jsonb) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_thread text := chatkit.param_text(p, 'thread_id');
    lim int := chatkit.param_limit(p, 'limit', 20, 100);
    is_desc boolean := p ->> 'order' IS DISTINCT FROM 'asc';
    after text := chatkit.param_opt_text(p, 'after');
    c_ts timestamptz := CASE WHEN is_desc THEN 'infinity'::timestamptz ELSE '-infinity'::timestamptz END;
    c_id text := '';
    page text;
BEGIN
    IF after IS NOT NULL THEN
        SELECT i.created_at, i.id INTO c_ts, c_id
          FROM chatkit.items i WHERE i.thread_id = v_thread AND i.id = after AND i.user_id = p_user;
        IF NOT FOUND THEN
            PERFORM chatkit.thread_row(p_user, v_thread);
            PERFORM chatkit.raise_error('22023', 'cursor is not an item of this thread');
        END IF;
    END IF;
    page := readref.items_page_text(p_user, v_thread, lim, is_desc, c_ts, c_id);
    IF after IS NULL AND starts_with(page, '{"data":[]') THEN
        PERFORM chatkit.thread_row(p_user, v_thread);
    END IF;
    RETURN page;
END $$;

-- threads.get_by_id: the Thread with its oldest 20 visible items, ascending.
CREATE FUNCTION readref.op_threads_get_by_id_text(p_user text, p jsonb) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    t chatkit.threads := chatkit.thread_row(p_user, chatkit.param_text(p, 'thread_id'));
BEGIN
    RETURN readref.thread_wire_text(t, readref.items_page_text(p_user, t.id, 20, false, '-infinity', ''));
END $$;

-- threads.list: Page<Thread> of the user's threads, each with an
-- empty items page; a cursor that is not one of the user's threads -> 22023.
CREATE FUNCTION readref.op_threads_list_text(p_user text, p jsonb) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    lim int := chatkit.param_limit(p, 'limit', 20, 100);
    is_desc boolean := p ->> 'order' IS DISTINCT FROM 'asc';
    after text := chatkit.param_opt_text(p, 'after');
    c_ts timestamptz := CASE WHEN is_desc THEN 'infinity'::timestamptz ELSE '-infinity'::timestamptz END;
    c_id text := '';
    n bigint;
    body text;
    last_id text;
BEGIN
    IF after IS NOT NULL THEN
        SELECT t.created_at, t.id INTO c_ts, c_id FROM chatkit.threads t WHERE t.id = after AND t.user_id = p_user;
        IF NOT FOUND THEN
            PERFORM chatkit.raise_error('22023', 'cursor is not one of your threads');
        END IF;
    END IF;
    IF is_desc THEN
        SELECT count(*),
               string_agg(readref.thread_wire_text(s.t, '{"data":[],"has_more":false}'), ',' ORDER BY s.rn)
                   FILTER (WHERE s.rn <= lim),
               min((s.t).id) FILTER (WHERE s.rn = lim)
          INTO n, body, last_id
          FROM (SELECT t, row_number() OVER (ORDER BY t.created_at DESC, t.id DESC) AS rn
                  FROM chatkit.threads t
                 WHERE t.user_id = p_user AND (t.created_at, t.id) < (c_ts, c_id)
                 ORDER BY t.created_at DESC, t.id DESC
                 LIMIT lim + 1) s;
    ELSE
        SELECT count(*),
               string_agg(readref.thread_wire_text(s.t, '{"data":[],"has_more":false}'), ',' ORDER BY s.rn)
                   FILTER (WHERE s.rn <= lim),
               min((s.t).id) FILTER (WHERE s.rn = lim)
          INTO n, body, last_id
          FROM (SELECT t, row_number() OVER (ORDER BY t.created_at, t.id) AS rn
                  FROM chatkit.threads t
                 WHERE t.user_id = p_user AND (t.created_at, t.id) > (c_ts, c_id)
                 ORDER BY t.created_at, t.id
                 LIMIT lim + 1) s;
    END IF;
    RETURN readref.page_text(body, n > lim, last_id);
END $$;

-- history: {"items":[...]} with the newest
-- `limit` items (hidden included, end_of_turn excluded) strictly before
-- before_item_id (or the end), ascending.
CREATE FUNCTION readref.op_history_text(p_user text, p jsonb) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    t chatkit.threads := chatkit.thread_row(p_user, chatkit.param_text(p, 'thread_id'));
    lim int := chatkit.param_limit(p, 'limit', 10, 1000);
    before text := chatkit.param_opt_text(p, 'before_item_id');
    c_ts timestamptz := 'infinity';
    c_id text := '';
    body text;
BEGIN
    IF before IS NOT NULL THEN
        SELECT i.created_at, i.id INTO c_ts, c_id FROM chatkit.items i WHERE i.thread_id = t.id AND i.id = before;
        IF NOT FOUND THEN
            PERFORM chatkit.raise_error('22023', 'before_item_id is not an item of this thread');
        END IF;
    END IF;
    SELECT string_agg(s.wire, ',' ORDER BY s.created_at, s.id) INTO body
      FROM (SELECT i.wire, i.created_at, i.id FROM chatkit.items i
             WHERE i.thread_id = t.id AND (i.created_at, i.id) < (c_ts, c_id) AND i.type <> 'end_of_turn'
             ORDER BY i.created_at DESC, i.id DESC LIMIT lim) s;
    RETURN '{"items":[' || coalesce(body, '') || ']}';
END $$;

-- ---------------------------------------------------------------------------
-- The dispatcher of the oracle: the same user setting and row-security mode
-- as chatkit.op_text (sql/functions/dispatch.sql).
-- ---------------------------------------------------------------------------

CREATE FUNCTION readref.op(p_op text, p_user text, p_params jsonb) RETURNS text
LANGUAGE plpgsql
SET search_path = chatkit, pg_temp
AS $$
DECLARE
    v_outer text := current_setting('chatkit.user_id', true);
    v text;
BEGIN
    IF p_op IS NULL OR p_op NOT IN ('items.list', 'threads.list', 'threads.get_by_id', 'history') THEN
        RETURN chatkit.op_text(p_op, p_user, p_params);
    END IF;
    PERFORM chatkit.check_call(p_user, p_params);
    PERFORM set_config('chatkit.user_id', p_user, true);
    CASE p_op
        WHEN 'items.list'        THEN v := readref.op_items_list_text(p_user, p_params);
        WHEN 'threads.list'      THEN v := readref.op_threads_list_text(p_user, p_params);
        WHEN 'threads.get_by_id' THEN v := readref.op_threads_get_by_id_text(p_user, p_params);
        WHEN 'history'           THEN v := readref.op_history_text(p_user, p_params);
    END CASE;
    PERFORM set_config('chatkit.user_id', coalesce(v_outer, ''), true);
    RETURN v;
END $$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
                WHERE c.oid = 'chatkit.threads'::regclass AND r.rolname = 'chatkit_owner') THEN
        GRANT USAGE ON SCHEMA readref TO chatkit_owner;
        ALTER FUNCTION readref.op(text, text, jsonb) OWNER TO chatkit_owner;
        ALTER FUNCTION readref.op(text, text, jsonb) SECURITY DEFINER;
    END IF;
END $$;
