-- test_threads.sql - threads.list (keyset across ties, both orders),
-- threads.update, threads.delete, thread.load/thread.save, wire shapes and
-- timestamp formatting, tenant isolation.

-- 23 threads of u1 in 3 created_at groups (ties), 2 threads of u2.
CREATE TABLE gen AS
SELECT k, 'thr_' || substr(md5('t' || k), 1, 8) AS id, k % 3 AS grp FROM generate_series(1, 23) AS k;
SELECT sqltest.op('thread.save', 'u1', jsonb_build_object('thread',
       sqltest.thread(g.id, format('2025-03-01T10:00:00.00000%sZ', g.grp)))) FROM gen g;
SELECT sqltest.op('thread.save', 'u2', jsonb_build_object('thread', sqltest.thread('thr_b1', '2025-03-01T10:00:00Z')));
SELECT sqltest.op('thread.save', 'u2', jsonb_build_object('thread', sqltest.thread('thr_b2', '2025-03-01T10:00:00Z')));

CREATE FUNCTION walk(p_limit int, p_order text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    page jsonb;
    after text;
    got text[] := '{}';
    want text[];
    bad text := NULL;
    n int := 0;
BEGIN
    IF p_order = 'asc' THEN
        want := ARRAY(SELECT id FROM gen ORDER BY grp, id COLLATE "C");
    ELSE
        want := ARRAY(SELECT id FROM gen ORDER BY grp DESC, id COLLATE "C" DESC);
    END IF;
    LOOP
        page := sqltest.op('threads.list', 'u1', jsonb_build_object('limit', p_limit, 'order', p_order)
                                               || coalesce(jsonb_build_object('after', after), '{}'));
        n := n + 1;
        got := got || ARRAY(SELECT x ->> 'id' FROM jsonb_array_elements(page -> 'data') x);
        IF EXISTS (SELECT 1 FROM jsonb_array_elements(page -> 'data') x
                   WHERE x -> 'items' <> '{"data":[],"has_more":false}' OR x -> 'metadata' <> '{}') THEN
            bad := 'thread with items or metadata';
        END IF;
        EXIT WHEN NOT (page -> 'has_more')::boolean OR n > 50;
        IF page ->> 'after' IS DISTINCT FROM got[array_length(got, 1)] THEN bad := 'after is not the last id'; END IF;
        after := page ->> 'after';
    END LOOP;
    IF page ? 'after' THEN bad := 'after on the last page'; END IF;
    PERFORM sqltest.ok(bad IS NULL, format('threads walk %s %s: invariants (%s)', p_limit, p_order, bad));
    PERFORM sqltest.is(to_jsonb(got), to_jsonb(want), format('threads walk %s %s: every thread once, in order', p_limit, p_order));
END $$;
SELECT walk(l, o) FROM unnest(ARRAY[1, 4, 5, 22, 23, 100]) AS l, unnest(ARRAY['asc', 'desc']) AS o;

SELECT sqltest.is(jsonb_array_length(sqltest.op('threads.list', 'u2', '{}') -> 'data'), 2, 'u2 sees only its 2 threads');
SELECT sqltest.is(sqltest.op('threads.list', 'u3', '{"limit":20,"order":"desc"}'), '{"data":[],"has_more":false}',
                  'a user without threads gets an empty page');
SELECT sqltest.op_fails('threads.list', 'u2', jsonb_build_object('after', (SELECT id FROM gen WHERE k = 1)), '22023',
                        'a foreign thread as cursor -> 22023');
SELECT sqltest.op_fails('threads.list', 'u1', '{"after":"thr_none"}', '22023', 'unknown cursor -> 22023');

-- Wire shape, title omitted when null, allowed_image_domains, timestamp forms.
SELECT sqltest.op('thread.save', 'u1', '{"thread":{"id":"thr_s","created_at":"2025-01-02T03:04:05","status":{"type":"closed","reason":"done"},"allowed_image_domains":["img.example.com"],"metadata":{"last_response_id":"resp_1","n":null}}}');
SELECT sqltest.is(sqltest.op('threads.get_by_id', 'u1', '{"thread_id":"thr_s"}'),
    '{"id":"thr_s","created_at":"2025-01-02T03:04:05.000000Z","status":{"type":"closed","reason":"done"},"allowed_image_domains":["img.example.com"],"metadata":{},"items":{"data":[],"has_more":false}}',
    'Thread wire: naive time is UTC, 6 digits, metadata {}, no title');
SELECT sqltest.is(sqltest.op('thread.load', 'u1', '{"thread_id":"thr_s"}'),
    '{"id":"thr_s","created_at":"2025-01-02T03:04:05.000000Z","status":{"type":"closed","reason":"done"},"allowed_image_domains":["img.example.com"],"metadata":{"last_response_id":"resp_1","n":null}}',
    'thread.load: ThreadMetadata with stored metadata (nulls inside kept)');
SELECT sqltest.op('thread.save', 'u1', '{"thread":{"id":"thr_tz","created_at":"2025-01-02T03:04:05.12+02:00","status":{"type":"active"},"metadata":{}}}');
SELECT sqltest.is(sqltest.op('thread.load', 'u1', '{"thread_id":"thr_tz"}') -> 'created_at', '"2025-01-02T01:04:05.120000Z"',
                  'offsets are converted to UTC');
SELECT sqltest.op('thread.save', 'u1', jsonb_build_object('thread', jsonb_build_object('id', 'thr_tz' || n, 'created_at', v,
       'status', '{"type":"active"}'::jsonb, 'metadata', '{}'::jsonb)))
  FROM (VALUES (1, '2025-01-02T03:04:05-05:00'), (2, '2025-01-02 03:04:05-0130'), (3, '2025-01-02t03:04:05.5z'),
               (4, '2025-01-02T03:04'), (5, '2025-01-02T03:04:05+02')) AS z(n, v);
SELECT sqltest.is((SELECT jsonb_agg(sqltest.op('thread.load', 'u1', jsonb_build_object('thread_id', 'thr_tz' || n)) -> 'created_at' ORDER BY n)
                     FROM generate_series(1, 5) AS n),
    '["2025-01-02T08:04:05.000000Z","2025-01-02T04:34:05.000000Z","2025-01-02T03:04:05.500000Z","2025-01-02T03:04:00.000000Z","2025-01-02T01:04:05.000000Z"]',
    'created_at: zones -hh:mm, -hhmm, z, none (UTC), +hh');
SELECT sqltest.op_fails('thread.save', 'u1', '{"thread":{"id":"thr_bad","created_at":"yesterday","status":{"type":"active"},"metadata":{}}}',
                        '22023', 'thread.save with a bad created_at -> 22023');

-- thread.save is an upsert: created_at kept, other fields replaced.
SELECT sqltest.op('thread.save', 'u1', '{"thread":{"id":"thr_s","created_at":"2030-01-01T00:00:00Z","title":"T","status":{"type":"active"},"metadata":{"a":1}}}');
SELECT sqltest.is(sqltest.op('thread.load', 'u1', '{"thread_id":"thr_s"}'),
    '{"id":"thr_s","title":"T","created_at":"2025-01-02T03:04:05.000000Z","status":{"type":"active"},"metadata":{"a":1}}',
    'thread.save upsert: fields replaced, created_at kept, null allowed_image_domains omitted');
SELECT sqltest.op_fails('thread.save', 'u2', '{"thread":{"id":"thr_s","created_at":"2030-01-01T00:00:00Z","title":"stolen","status":{"type":"active"},"metadata":{}}}',
                        'P0002', 'thread.save over a foreign thread id -> P0002');
SELECT sqltest.is_text(sqltest.op('thread.load', 'u1', '{"thread_id":"thr_s"}') ->> 'title', 'T', 'foreign thread.save changed nothing');
SELECT sqltest.op_fails('thread.load', 'u2', '{"thread_id":"thr_s"}', 'P0002', 'thread.load foreign -> P0002');

-- threads.update.
SELECT sqltest.is(sqltest.op('threads.update', 'u1', '{"thread_id":"thr_s","title":"New title"}'),
    '{"title":"New title","id":"thr_s","created_at":"2025-01-02T03:04:05.000000Z","status":{"type":"active"},"metadata":{},"items":{"data":[],"has_more":false}}',
    'threads.update returns the Thread with an empty items page');
SELECT sqltest.op_fails('threads.update', 'u2', '{"thread_id":"thr_s","title":"x"}', 'P0002', 'threads.update foreign -> P0002');
SELECT sqltest.op_fails('threads.update', 'u1', '{"thread_id":"thr_s","title":null}', '22023', 'threads.update null title -> 22023');
SELECT sqltest.is_text(sqltest.op('thread.load', 'u1', '{"thread_id":"thr_s"}') ->> 'title', 'New title', 'foreign update changed nothing');

-- threads.delete: cascades to items and feedback, attachments stay.
SELECT sqltest.op('item.add', 'u1', jsonb_build_object('thread_id', 'thr_s', 'item', sqltest.item('thr_s', 'm1', '2025-01-02T03:04:06Z', 'assistant_message')));
SELECT sqltest.op('items.feedback', 'u1', '{"thread_id":"thr_s","item_ids":["m1"],"kind":"positive"}');
SELECT sqltest.op('attachments.create', 'u1', '{"id":"atc_1","name":"a.txt","size":3,"mime_type":"text/plain","type":"file"}');
SELECT sqltest.op('turn.add_message', 'u1', jsonb_build_object('thread_id', 'thr_s', 'attachment_ids', '["atc_1"]'::jsonb,
       'item', sqltest.item('thr_s', 'm2', '2025-01-02T03:04:07Z', 'user_message')));
CREATE TEMP TABLE fp AS SELECT sqltest.fingerprint() AS f;
SELECT sqltest.op_fails('threads.delete', 'u2', '{"thread_id":"thr_s"}', 'P0002', 'threads.delete foreign -> P0002');
SELECT sqltest.ok(sqltest.fingerprint() = (SELECT f FROM fp), 'foreign threads.delete changed nothing');
SELECT sqltest.is(sqltest.op('threads.delete', 'u1', '{"thread_id":"thr_s"}'), '{}', 'threads.delete -> {}');
SELECT sqltest.ok(NOT EXISTS (SELECT 1 FROM chatkit.items WHERE thread_id = 'thr_s'), 'items deleted with the thread');
SELECT sqltest.ok(NOT EXISTS (SELECT 1 FROM chatkit.feedback WHERE thread_id = 'thr_s'), 'feedback deleted with the thread');
SELECT sqltest.ok(EXISTS (SELECT 1 FROM chatkit.attachments WHERE id = 'atc_1'), 'attachments survive thread deletion');
SELECT sqltest.op_fails('threads.delete', 'u1', '{"thread_id":"thr_s"}', 'P0002', 'threads.delete twice -> P0002');
