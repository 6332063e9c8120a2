-- test_fast_reads.sql - the oracle of the hot reads, built as text
-- (tests/sql/reads_ref.sql, readref.op: what tests/unit/test_store.c holds the
-- server's C reads to), against a second one built as jsonb (ref.op, below): for
-- every case, readref.op's text parsed as jsonb equals the reference's result,
-- or both fail with the same SQLSTATE and message.  Cases: pages
-- across created_at ties in both orders with cursors (items.list,
-- threads.list), hidden items, foreign and unknown threads, get_by_id with
-- more than 20 items and empty threads, titles with quotes, backslashes,
-- unicode and control characters, statuses and image domains, history, the
-- ops op_text hands to op, bad arguments; plus items.wire kept in step by
-- every write op, the caller's chatkit.user_id restored, and op_text's
-- security attributes equal to op_bytes'.

-- ---------------------------------------------------------------------------
-- The reference: the hot reads built as jsonb (jsonb_agg, jsonb_build_object),
-- as the server computed them before they were written as text; schema ref,
-- test-only.  ref.op dispatches like chatkit.op_text and answers jsonb.
-- ---------------------------------------------------------------------------

CREATE SCHEMA ref;

CREATE FUNCTION ref.items_page(p_user text, p_thread text, p_limit int, p_desc boolean,
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

CREATE FUNCTION ref.op_items_list(p_user text, p jsonb) RETURNS jsonb
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
    page := ref.items_page(p_user, v_thread, lim, is_desc, c_ts, c_id);
    IF after IS NULL AND page -> 'data' = '[]'::jsonb THEN
        PERFORM chatkit.thread_row(p_user, v_thread);
    END IF;
    RETURN page;
END $$;

CREATE FUNCTION ref.op_threads_list(p_user text, p jsonb) RETURNS jsonb
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

CREATE FUNCTION ref.op_threads_get_by_id(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    t chatkit.threads := chatkit.thread_row(p_user, chatkit.param_text(p, 'thread_id'));
BEGIN
    RETURN chatkit.thread_wire(t, ref.items_page(p_user, t.id, 20, false, '-infinity', ''));
END $$;

CREATE FUNCTION ref.op_history(p_user text, p jsonb) RETURNS jsonb
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

CREATE FUNCTION ref.op(p_op text, p_user text, p_params jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM chatkit.check_call(p_user, p_params);
    CASE p_op
        WHEN 'items.list'        THEN RETURN ref.op_items_list(p_user, p_params);
        WHEN 'threads.list'      THEN RETURN ref.op_threads_list(p_user, p_params);
        WHEN 'threads.get_by_id' THEN RETURN ref.op_threads_get_by_id(p_user, p_params);
        WHEN 'history'           THEN RETURN ref.op_history(p_user, p_params);
        ELSE RETURN chatkit.op_text(p_op, p_user, p_params)::jsonb;
    END CASE;
END $$;
-- Runs ref.op and op_text on the same arguments and records whether they agree;
-- returns op's result (NULL when it failed).
CREATE FUNCTION same(p_op text, p_user text, p_params jsonb, p_name text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    want jsonb;
    got text;
    got_json jsonb;
    w_state text;
    w_msg text;
    g_state text;
    g_msg text;
BEGIN
    BEGIN
        want := ref.op(p_op, p_user, p_params);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS w_state = RETURNED_SQLSTATE, w_msg = MESSAGE_TEXT;
    END;
    BEGIN
        got := readref.op(p_op, p_user, p_params);
        got_json := got::jsonb;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS g_state = RETURNED_SQLSTATE, g_msg = MESSAGE_TEXT;
    END;
    IF w_state IS NOT NULL THEN
        PERFORM sqltest.record(g_state IS NOT DISTINCT FROM w_state AND g_msg IS NOT DISTINCT FROM w_msg, p_name,
                               format('op failed with %s (%s), op_text gave %s (%s) %s',
                                      w_state, w_msg, coalesce(g_state, 'no error'), g_msg, left(got, 300)));
    ELSE
        PERFORM sqltest.record(g_state IS NULL AND got_json IS NOT DISTINCT FROM want, p_name,
                               format('op gave %s' || E'\n    ' || 'op_text gave %s (%s %s)',
                                      left(want::text, 600), left(got, 600), g_state, g_msg));
    END IF;
    RETURN want;
END $$;

-- Follows every page of a list op with ref.op and op_text; each page must agree.
-- Returns the number of pages (0 when the first call failed).
CREATE FUNCTION walk(p_op text, p_user text, p_params jsonb, p_name text) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    page jsonb;
    after text;
    pages int := 0;
BEGIN
    LOOP
        page := same(p_op, p_user, p_params || coalesce(jsonb_build_object('after', after), '{}'),
                     format('%s, page %s', p_name, pages + 1));
        EXIT WHEN page IS NULL;
        pages := pages + 1;
        EXIT WHEN NOT (page -> 'has_more')::boolean OR pages > 200;
        after := page ->> 'after';
    END LOOP;
    RETURN pages;
END $$;

-- ---------------------------------------------------------------------------
-- Threads of u1: ties, titles, statuses, image domains, stored metadata
-- ---------------------------------------------------------------------------

CREATE TABLE titles (k int PRIMARY KEY, title text);
INSERT INTO titles VALUES
    (1, NULL), (2, ''), (3, 'plain'), (4, 'say "hi"'), (5, 'back\slash \n not a newline'),
    (6, E'two\nlines\tand a tab'), (7, E'ctl \u0001 \u001f end'), (8, 'café ünïcødé 日本語'),
    (9, E'emoji \U0001F600 and \u2028 separator'), (10, E'quote at the end "'), (11, '</script><!--'),
    (12, E'\\"'), (13, repeat('long ', 200));
CREATE TABLE statuses (k int PRIMARY KEY, status jsonb, domains jsonb);
INSERT INTO statuses VALUES
    (0, NULL, NULL), (1, '{"type":"locked","reason":"Tool \"x\" failed"}', '["a.example","b.example"]'),
    (2, '{"type":"closed"}', '[]'), (3, '{"type":"active"}', 'null'), (4, '{"type":"locked"}', NULL);

CREATE TABLE tgen AS
SELECT k, 'thr_' || substr(md5('fast' || k), 1, 8) AS id, k % 4 AS grp FROM generate_series(1, 31) AS k;
SELECT sqltest.op('thread.save', 'u1', jsonb_build_object('thread',
           sqltest.thread(g.id, format('2025-05-01T08:00:00.00000%sZ', g.grp))
           || jsonb_build_object('title', (SELECT title FROM titles WHERE titles.k = 1 + g.k % 13),
                                 'metadata', jsonb_build_object('private', g.k, 'note', 'never on the wire'))
           || coalesce(jsonb_build_object('status', (SELECT status FROM statuses s WHERE s.k = g.k % 5)), '{}')
           || coalesce(jsonb_build_object('allowed_image_domains', (SELECT domains FROM statuses s WHERE s.k = g.k % 5)), '{}')))
  FROM tgen g;
-- u2 owns two threads at the same timestamps; u3 owns nothing.
SELECT sqltest.op('thread.save', 'u2', jsonb_build_object('thread', sqltest.thread('thr_u2a', '2025-05-01T08:00:00.000001Z')));
SELECT sqltest.op('thread.save', 'u2', jsonb_build_object('thread', sqltest.thread('thr_u2b', '2025-05-01T08:00:00.000002Z')));

SELECT sqltest.ok(walk('threads.list', 'u1', jsonb_build_object('limit', l, 'order', o), format('threads.list limit %s %s', l, o))
                  = (31 + l - 1) / l, format('threads.list limit %s %s: every page', l, o))
  FROM unnest(ARRAY[1, 2, 3, 7, 20, 30, 31, 100]) AS l, unnest(ARRAY['asc', 'desc']) AS o;
SELECT same('threads.list', 'u1', p, 'threads.list params ' || p::text)
  FROM unnest(ARRAY['{}', '{"limit":null}', '{"limit":0}', '{"limit":-3}', '{"limit":1000}', '{"limit":"5"}',
                    '{"limit":2.5}', '{"order":null}', '{"order":"ASC"}', '{"order":"sideways"}', '{"after":null}',
                    '{"after":"thr_u2a"}', '{"after":"nope"}', '{"after":5}', '{"after":""}']::jsonb[]) AS p;
SELECT same('threads.list', 'u1', jsonb_build_object('after', g.id, 'order', o, 'limit', 5),
            format('threads.list after %s %s', g.k, o))
  FROM tgen g, unnest(ARRAY['asc', 'desc']) AS o WHERE g.k % 6 = 0;
SELECT same('threads.list', 'u3', '{}', 'threads.list of a user without threads');
SELECT same('threads.list', 'u2', '{"limit":1,"order":"asc"}', 'threads.list of another user');
SELECT sqltest.ok(NOT (readref.op('threads.list', 'u1', '{"limit":100}') LIKE '%never on the wire%'),
                  'threads.list text: stored metadata never on the wire');

-- ---------------------------------------------------------------------------
-- Items: 45 visible + 6 hidden in 4 timestamp groups, plus special threads
-- ---------------------------------------------------------------------------

SELECT sqltest.op('thread.save', 'u1', jsonb_build_object('thread', sqltest.thread('thr_p', '2025-01-01T00:00:00Z')));
SELECT sqltest.op('thread.save', 'u1', jsonb_build_object('thread', sqltest.thread('thr_empty', '2025-01-01T00:00:00Z')
                                                          || '{"title":"An \"empty\" one"}'));
SELECT sqltest.op('thread.save', 'u1', jsonb_build_object('thread', sqltest.thread('thr_hidden', '2025-01-01T00:00:00Z')));
SELECT sqltest.op('thread.save', 'u1', jsonb_build_object('thread', sqltest.thread('thr_odd', '2025-01-01T00:00:00Z')));
CREATE TABLE gen AS
SELECT k, 'itm_' || substr(md5(k::text), 1, 10) AS id, k % 4 AS grp,
       CASE WHEN k <= 45 THEN (ARRAY['assistant_message', 'user_message', 'widget', 'end_of_turn'])[1 + k % 4]
            WHEN k % 2 = 0 THEN 'hidden_context_item' ELSE 'sdk_hidden_context' END AS type
  FROM generate_series(1, 51) AS k;
SELECT sqltest.op('item.add', 'u1', jsonb_build_object('thread_id', 'thr_p',
       'item', sqltest.item('thr_p', g.id, format('2025-01-01T00:00:01.00000%sZ', g.grp), g.type,
                            jsonb_build_object('content', jsonb_build_array(jsonb_build_object(
                                'type', 'output_text', 'k', g.k, 'text', (SELECT title FROM titles t WHERE t.k = 1 + g.k % 13),
                                'annotations', '[]'::jsonb))))))
  FROM gen g ORDER BY g.k DESC;
SELECT sqltest.op('item.add', 'u1', jsonb_build_object('thread_id', 'thr_hidden',
       'item', sqltest.item('thr_hidden', 'h' || k, '2025-01-01T00:00:01Z',
                            CASE WHEN k % 2 = 0 THEN 'hidden_context_item' ELSE 'sdk_hidden_context' END)))
  FROM generate_series(1, 3) AS k;
-- Items whose JSON holds nulls, nesting, numbers and odd strings, in the
-- order C would never write them (keys, spacing).
SELECT sqltest.op('item.add', 'u1', jsonb_build_object('thread_id', 'thr_odd', 'item', x))
  FROM unnest(ARRAY[
      '{"id":"o1","thread_id":"thr_odd","created_at":"2025-01-01T00:00:02Z","type":"widget","widget":{"children":[{"value":null},{"n":1.50,"e":1e3,"neg":-0}]},"copy_text":null}',
      '{"type":"assistant_message","created_at":"2025-01-01T00:00:02Z","id":"o2","content":[{"text":"tab\tnewline\n quote\" backslash\\ slash/ \ud83d\ude00","type":"output_text","annotations":[]}]}',
      '{"id":"o3","created_at":"2025-01-01T00:00:02.000000001Z","type":"user_message","content":[],"attachments":[{"id":"a","name":"\"x\".txt"}],"inference_options":{"tool_choice":null,"model":"m"}}'
  ]::jsonb[]) AS x;

SELECT sqltest.ok(walk('items.list', 'u1', jsonb_build_object('thread_id', 'thr_p', 'limit', l, 'order', o),
                       format('items.list limit %s %s', l, o)) = (45 + l - 1) / l,
                  format('items.list limit %s %s: every page', l, o))
  FROM unnest(ARRAY[1, 2, 7, 9, 20, 44, 45, 100]) AS l, unnest(ARRAY['asc', 'desc']) AS o;
SELECT same('items.list', 'u1', jsonb_build_object('thread_id', 'thr_p') || p, 'items.list params ' || p::text)
  FROM unnest(ARRAY['{}', '{"limit":null}', '{"limit":0}', '{"limit":1000}', '{"limit":"3"}', '{"order":"ASC"}',
                    '{"order":null}', '{"after":null}', '{"after":"nope"}', '{"after":5}', '{"after":"o1"}',
                    '{"after":"thr_p"}']::jsonb[]) AS p;
-- Cursors on every item, hidden ones included (a cursor may be any item of the thread).
SELECT same('items.list', 'u1', jsonb_build_object('thread_id', 'thr_p', 'after', g.id, 'order', o, 'limit', 4),
            format('items.list after item %s (%s) %s', g.k, g.type, o))
  FROM gen g, unnest(ARRAY['asc', 'desc']) AS o;
SELECT same('items.list', 'u1', jsonb_build_object('thread_id', t, 'order', o), format('items.list %s %s', t, o))
  FROM unnest(ARRAY['thr_empty', 'thr_hidden', 'thr_odd']) AS t, unnest(ARRAY['asc', 'desc']) AS o;
SELECT same('items.list', 'u1', jsonb_build_object('thread_id', 'thr_hidden', 'after', 'h1'), 'items.list thr_hidden after a hidden item');
SELECT same('items.list', 'u1', jsonb_build_object('thread_id', 'thr_empty', 'after', 'o1'), 'items.list cursor of another thread, empty thread');
-- Foreign, unknown, malformed.
SELECT same('items.list', 'u2', '{"thread_id":"thr_p"}', 'items.list foreign thread');
SELECT same('items.list', 'u2', jsonb_build_object('thread_id', 'thr_p', 'after', (SELECT id FROM gen WHERE k = 1)),
            'items.list foreign thread with a valid cursor');
SELECT same('items.list', 'u2', '{"thread_id":"thr_empty"}', 'items.list foreign empty thread');
SELECT same('items.list', 'u1', '{"thread_id":"thr_none"}', 'items.list unknown thread');
SELECT same('items.list', 'u1', '{"thread_id":"thr_none","after":"x"}', 'items.list unknown thread with a cursor');
SELECT same('items.list', 'u1', p, 'items.list bad thread_id ' || p::text)
  FROM unnest(ARRAY['{}', '{"thread_id":""}', '{"thread_id":5}', '{"thread_id":null}']::jsonb[]) AS p;

-- ---------------------------------------------------------------------------
-- threads.get_by_id and history
-- ---------------------------------------------------------------------------

SELECT same('threads.get_by_id', 'u1', jsonb_build_object('thread_id', t), 'threads.get_by_id ' || t)
  FROM unnest(ARRAY['thr_p', 'thr_empty', 'thr_hidden', 'thr_odd']) AS t;
SELECT sqltest.is((readref.op('threads.get_by_id', 'u1', '{"thread_id":"thr_p"}')::jsonb -> 'items' ->> 'has_more')::jsonb,
                  'true', 'threads.get_by_id with 45 items: has_more');
SELECT same('threads.get_by_id', 'u1', jsonb_build_object('thread_id', g.id), format('threads.get_by_id title/status %s', g.k))
  FROM tgen g;
SELECT same('threads.get_by_id', u, p, format('threads.get_by_id %s %s', u, p))
  FROM unnest(ARRAY['u1', 'u2']) AS u,
       unnest(ARRAY['{"thread_id":"thr_u2a"}', '{"thread_id":"thr_none"}', '{}', '{"thread_id":7}']::jsonb[]) AS p;

SELECT same('history', 'u1', jsonb_build_object('thread_id', 'thr_p') || p, 'history ' || p::text)
  FROM unnest(ARRAY['{}', '{"limit":1}', '{"limit":50}', '{"limit":5000}', '{"limit":0}', '{"before_item_id":"nope"}',
                    '{"before_item_id":5}', '{"before_item_id":null}']::jsonb[]) AS p;
SELECT same('history', 'u1', jsonb_build_object('thread_id', 'thr_p', 'before_item_id', g.id, 'limit', 7),
            format('history before item %s (%s)', g.k, g.type))
  FROM gen g;
SELECT same('history', 'u1', jsonb_build_object('thread_id', t), 'history ' || t)
  FROM unnest(ARRAY['thr_empty', 'thr_hidden', 'thr_odd', 'thr_none']) AS t;
SELECT same('history', 'u2', '{"thread_id":"thr_p"}', 'history foreign thread');

-- ---------------------------------------------------------------------------
-- Other ops; bad calls fail alike
-- ---------------------------------------------------------------------------

SELECT same('thread.load', 'u1', '{"thread_id":"thr_p"}', 'thread.load');
SELECT same('turn.load_item', 'u1', '{"thread_id":"thr_odd","item_id":"o2"}', 'turn.load_item');
SELECT same('search', 'u1', '{"query":"anything","limit":3}', 'search');
SELECT same(o, u, p, format('bad call %s / %s / %s', o, u, p))
  FROM unnest(ARRAY['items.list', 'threads.list', 'threads.get_by_id', 'history', 'thread.load', 'nope', NULL]) AS o,
       unnest(ARRAY['u1', '', NULL]) AS u,
       unnest(ARRAY['{"thread_id":"thr_p"}', '[]', 'null', NULL]::jsonb[]) AS p;
-- A write through op_text happens once and answers like op.
SELECT sqltest.is(chatkit.op_text('threads.update', 'u1', '{"thread_id":"thr_empty","title":"Renamed \"x\""}')::jsonb,
                  ref.op('threads.get_by_id', 'u1', '{"thread_id":"thr_empty"}'), 'threads.update through op_text');

-- ---------------------------------------------------------------------------
-- items.wire follows every write; user setting; security attributes
-- ---------------------------------------------------------------------------

SELECT sqltest.op('item.save', 'u1', '{"thread_id":"thr_odd","item":{"id":"o1","type":"widget","created_at":"2030-01-01T00:00:00Z","widget":{"v":"new"}}}');
SELECT sqltest.op('item.add', 'u1', '{"thread_id":"thr_odd","item":{"id":"o2","type":"assistant_message","created_at":"2030-01-01T00:00:00Z","content":[]}}');
SELECT sqltest.op('item.add', 'u1', '{"thread_id":"thr_odd","item":{"id":"c1","type":"client_tool_call","created_at":"2025-01-01T00:00:09Z","status":"pending","name":"t"}}');
SELECT sqltest.op('turn.tool_output', 'u1', '{"thread_id":"thr_odd","result":{"ok":true}}');
SELECT sqltest.op('turn.create', 'u1', jsonb_build_object('thread', sqltest.thread('thr_new', '2025-06-01T00:00:00Z'),
                  'item', sqltest.item('thr_new', 'n1', '2025-06-01T00:00:00Z', 'user_message'), 'attachment_ids', '[]'::jsonb));
SELECT sqltest.op('turn.add_message', 'u1', jsonb_build_object('thread_id', 'thr_new',
                  'item', sqltest.item('thr_new', 'n2', '2025-06-01T00:00:01Z', 'user_message'), 'attachment_ids', '[]'::jsonb));
SELECT sqltest.op('turn.retry', 'u1', jsonb_build_object('thread_id', 'thr_p', 'item_id', (SELECT id FROM gen WHERE k = 5)));
SELECT sqltest.ok((SELECT bool_and(wire = data::text) AND count(*) > 20 FROM chatkit.items), 'items.wire = data::text after every write op');
SELECT same('items.list', 'u1', jsonb_build_object('thread_id', t), 'items.list after writes ' || t)
  FROM unnest(ARRAY['thr_p', 'thr_odd', 'thr_new']) AS t;
SELECT same('threads.get_by_id', 'u1', '{"thread_id":"thr_odd"}', 'threads.get_by_id after writes');

SELECT set_config('chatkit.user_id', 'outer', false);
SELECT sqltest.is_text((SELECT current_setting('chatkit.user_id')
                          FROM (SELECT chatkit.op_text(o, 'u1', '{"thread_id":"thr_p"}') FROM unnest(ARRAY['context.load', 'thread.load']) o) s
                         LIMIT 1), 'outer', 'op_text puts the caller''s chatkit.user_id back');
SELECT set_config('chatkit.user_id', '', false);

SELECT sqltest.ok((SELECT a.proowner = b.proowner AND a.prosecdef = b.prosecdef
                          AND a.proconfig IS NOT DISTINCT FROM b.proconfig AND a.proacl::text IS NOT DISTINCT FROM b.proacl::text
                     FROM pg_proc a, pg_proc b
                    WHERE a.oid = 'chatkit.op_bytes(text, text, jsonb, bytea)'::regprocedure
                      AND b.oid = 'chatkit.op_text(text, text, jsonb)'::regprocedure),
                  'op_text has op_bytes'' owner, SECURITY DEFINER, search_path and EXECUTE grants');
