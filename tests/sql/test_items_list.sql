-- test_items_list.sql - items.list and threads.get_by_id: keyset pagination
-- across created_at ties (both orders, several page sizes), hidden items,
-- cursors, foreign threads, items returned exactly as stored.

SELECT sqltest.op('thread.save', 'u1', jsonb_build_object('thread', sqltest.thread('thr_p', '2025-01-01T00:00:00Z')));
SELECT sqltest.op('thread.save', 'u1', jsonb_build_object('thread', sqltest.thread('thr_other', '2025-01-01T00:00:00Z')));
SELECT sqltest.op('thread.save', 'u1', jsonb_build_object('thread', sqltest.thread('thr_empty', '2025-01-01T00:00:00Z')));

-- 45 visible items in 4 timestamp groups (many ties), ids unrelated to the
-- insertion order, plus 6 hidden items spread over the same timestamps.
CREATE TABLE gen AS
SELECT k, 'itm_' || substr(md5(k::text), 1, 10) AS id, k % 4 AS grp,
       CASE WHEN k <= 45 THEN 'assistant_message'
            WHEN k % 2 = 0 THEN 'hidden_context_item' ELSE 'sdk_hidden_context' END AS type
  FROM generate_series(1, 51) AS k;
SELECT sqltest.op('item.add', 'u1', jsonb_build_object('thread_id', 'thr_p',
       'item', sqltest.item('thr_p', g.id, format('2025-01-01T00:00:01.00000%sZ', g.grp), g.type,
                            jsonb_build_object('content', jsonb_build_array(jsonb_build_object('k', g.k))))))
  FROM gen g ORDER BY g.k DESC;

-- Walks every page with the given limit and order; checks page invariants and
-- that the concatenation equals the expected order, each id exactly once.
CREATE FUNCTION walk(p_limit int, p_order text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    page jsonb;
    after text;
    got text[] := '{}';
    want text[];
    pages int := 0;
    bad text := NULL;
BEGIN
    IF p_order = 'asc' THEN
        want := ARRAY(SELECT id FROM gen WHERE k <= 45 ORDER BY grp, id COLLATE "C");
    ELSE
        want := ARRAY(SELECT id FROM gen WHERE k <= 45 ORDER BY grp DESC, id COLLATE "C" DESC);
    END IF;
    LOOP
        page := sqltest.op('items.list', 'u1', jsonb_build_object('thread_id', 'thr_p', 'limit', p_limit, 'order', p_order)
                                              || coalesce(jsonb_build_object('after', after), '{}'));
        pages := pages + 1;
        got := got || ARRAY(SELECT x ->> 'id' FROM jsonb_array_elements(page -> 'data') x);
        IF (page -> 'has_more')::boolean THEN
            IF jsonb_array_length(page -> 'data') <> p_limit THEN bad := 'short page with has_more'; END IF;
            IF page ->> 'after' IS DISTINCT FROM got[array_length(got, 1)] THEN bad := 'after is not the last id'; END IF;
            after := page ->> 'after';
        ELSE
            IF page ? 'after' THEN bad := 'after present on the last page'; END IF;
            EXIT;
        END IF;
        IF pages > 100 THEN bad := 'endless walk'; EXIT; END IF;
    END LOOP;
    PERFORM sqltest.ok(bad IS NULL, format('walk limit %s %s: page invariants (%s)', p_limit, p_order, bad));
    PERFORM sqltest.is(to_jsonb(got), to_jsonb(want), format('walk limit %s %s: every id once, keyset order', p_limit, p_order));
    PERFORM sqltest.ok(pages = (45 + p_limit - 1) / p_limit, format('walk limit %s %s: %s pages', p_limit, p_order, pages));
END $$;
SELECT walk(l, o) FROM unnest(ARRAY[1, 7, 9, 20, 44, 45, 100]) AS l, unnest(ARRAY['asc', 'desc']) AS o;

-- Hidden items never appear; the full listing is exactly the 45 visible ones.
SELECT sqltest.is(jsonb_array_length(sqltest.op('items.list', 'u1', '{"thread_id":"thr_p","limit":100}') -> 'data'), '45',
                  'limit 100 returns the 45 visible items');
SELECT sqltest.ok(NOT EXISTS (SELECT 1 FROM jsonb_array_elements(sqltest.op('items.list', 'u1', '{"thread_id":"thr_p","limit":100}') -> 'data') x
                              WHERE x ->> 'type' IN ('hidden_context_item', 'sdk_hidden_context')), 'no hidden item in items.list');
SELECT sqltest.ok((SELECT count(*) FROM chatkit.items WHERE thread_id = 'thr_p') = 51, 'hidden items are stored');
-- limit defaults and clamping.
SELECT sqltest.is(jsonb_array_length(sqltest.op('items.list', 'u1', '{"thread_id":"thr_p"}') -> 'data'), '20', 'absent limit -> 20');
SELECT sqltest.is(jsonb_array_length(sqltest.op('items.list', 'u1', '{"thread_id":"thr_p","limit":0}') -> 'data'), '20', 'limit 0 -> 20');
SELECT sqltest.is_text(sqltest.op('items.list', 'u1', '{"thread_id":"thr_p"}') -> 'data' -> 0 ->> 'id',
                  (SELECT id FROM gen WHERE k <= 45 ORDER BY grp DESC, id COLLATE "C" DESC LIMIT 1),
                  'absent order -> desc (newest first)');

-- Items come back exactly as stored (nulls inside user JSON kept, key set unchanged).
SELECT sqltest.op('item.add', 'u1', jsonb_build_object('thread_id', 'thr_other', 'item',
       '{"id":"w1","thread_id":"thr_other","created_at":"2025-01-01T00:00:02.5Z","type":"widget","widget":{"type":"Card","children":[{"type":"Text","value":null}]},"copy_text":"x"}'::jsonb));
SELECT sqltest.is(sqltest.op('items.list', 'u1', '{"thread_id":"thr_other"}') -> 'data' -> 0,
                  '{"id":"w1","thread_id":"thr_other","created_at":"2025-01-01T00:00:02.5Z","type":"widget","widget":{"type":"Card","children":[{"type":"Text","value":null}]},"copy_text":"x"}',
                  'item data returned verbatim (null inside kept)');

-- Cursors.
SELECT sqltest.op_fails('items.list', 'u1', '{"thread_id":"thr_p","after":"nope"}', '22023', 'unknown cursor -> 22023');
SELECT sqltest.op_fails('items.list', 'u1', '{"thread_id":"thr_p","after":"w1"}', '22023', 'cursor of another thread -> 22023');
SELECT sqltest.is(sqltest.op('items.list', 'u1', jsonb_build_object('thread_id', 'thr_p', 'order', 'asc', 'after',
                  (SELECT id FROM gen WHERE k <= 45 ORDER BY grp DESC, id COLLATE "C" DESC LIMIT 1))),
                  '{"data":[],"has_more":false}', 'cursor at the last item -> empty page');
SELECT sqltest.is(sqltest.op('items.list', 'u1', '{"thread_id":"thr_empty"}'), '{"data":[],"has_more":false}', 'empty thread -> empty page');

-- Foreign and unknown threads.
SELECT sqltest.op_fails('items.list', 'u2', '{"thread_id":"thr_p"}', 'P0002', 'foreign thread -> P0002', '^thread thr_p not found$');
SELECT sqltest.op_fails('items.list', 'u2', jsonb_build_object('thread_id', 'thr_p', 'after', (SELECT id FROM gen WHERE k = 1)),
                        'P0002', 'foreign thread with a valid cursor -> P0002');
SELECT sqltest.op_fails('items.list', 'u1', '{"thread_id":"thr_none"}', 'P0002', 'unknown thread -> P0002');
SELECT sqltest.op_fails('items.list', 'u1', '{"thread_id":""}', '22023', 'empty thread_id -> 22023');
SELECT sqltest.op_fails('items.list', 'u1', '{"thread_id":5}', '22023', 'non-string thread_id -> 22023');
SELECT sqltest.op_fails('items.list', 'u1', '{"thread_id":"thr_p","after":5}', '22023', 'non-string cursor -> 22023');

-- threads.get_by_id: oldest 20 visible items ascending, exact has_more/after, metadata {}.
CREATE TEMP TABLE g AS SELECT sqltest.op('threads.get_by_id', 'u1', '{"thread_id":"thr_p"}') AS r;
SELECT sqltest.is((SELECT jsonb_agg(x ->> 'id') FROM g, jsonb_array_elements(r -> 'items' -> 'data') x),
                  (SELECT jsonb_agg(id) FROM (SELECT id FROM gen WHERE k <= 45 ORDER BY grp, id COLLATE "C" LIMIT 20) s),
                  'get_by_id embeds the oldest 20 visible items ascending');
SELECT sqltest.is((SELECT r -> 'items' -> 'has_more' FROM g), 'true', 'get_by_id has_more');
SELECT sqltest.is((SELECT r -> 'items' -> 'after' FROM g),
                  to_jsonb((SELECT id FROM gen WHERE k <= 45 ORDER BY grp, id COLLATE "C" OFFSET 19 LIMIT 1)), 'get_by_id after = 20th id');
SELECT sqltest.is((SELECT r - 'items' FROM g),
                  '{"id":"thr_p","created_at":"2025-01-01T00:00:00.000000Z","status":{"type":"active"},"metadata":{}}',
                  'get_by_id thread shape');
SELECT sqltest.is(sqltest.op('threads.get_by_id', 'u1', '{"thread_id":"thr_other"}') -> 'items',
                  jsonb_build_object('data', sqltest.op('items.list', 'u1', '{"thread_id":"thr_other"}') -> 'data', 'has_more', false),
                  'get_by_id of a small thread: all items, has_more false, no after');
SELECT sqltest.op_fails('threads.get_by_id', 'u2', '{"thread_id":"thr_p"}', 'P0002', 'get_by_id foreign -> P0002');
SELECT sqltest.op_fails('threads.get_by_id', 'u1', '{}', '22023', 'get_by_id without thread_id -> 22023');
