-- test_context.sql - the context builder's and user memory's ops
-- (sql/functions/context.sql): context.load (window + 1, summary, notice,
-- facts), context.notice, context.summary (newer coverage wins, deleted with
-- the thread), memory.add (dedupe by sha256, cap, 500 characters),
-- memory.forget (another user's id is not found), memory.clear, and row
-- isolation between users.

SELECT sqltest.op('thread.save', 'u1', jsonb_build_object('thread', sqltest.thread('thr_c', '2025-06-01T00:00:00Z')));
SELECT sqltest.op('item.add', 'u1', jsonb_build_object('thread_id', 'thr_c',
       'item', sqltest.item('thr_c', 'it_' || i, '2025-06-01T00:00:0' || i || 'Z', 'user_message')))
  FROM generate_series(1, 5) AS i;

-- context.load: the newest `limit` items before the message, ascending; no summary yet
CREATE TEMP TABLE l AS SELECT sqltest.op('context.load', 'u1', '{"thread_id":"thr_c","limit":3,"before_item_id":"it_5","facts":true}') AS r;
SELECT sqltest.is((SELECT jsonb_path_query_array(r, '$.items[*].id') FROM l), '["it_2","it_3","it_4"]', 'context.load: window before the message');
SELECT sqltest.is((SELECT r - 'items' FROM l), '{"notice_sent":false,"facts":[]}', 'context.load: no summary, no notice, no facts');
SELECT sqltest.op_fails('context.load', 'u2', '{"thread_id":"thr_c"}', 'P0002', 'context.load of another user''s thread -> P0002');

-- context.notice and context.summary
SELECT sqltest.op('context.notice', 'u1', '{"thread_id":"thr_c"}');
SELECT sqltest.is(sqltest.op('context.summary', 'u1', '{"thread_id":"thr_c","summary":"up to 3","item_id":"it_3"}'), '{"saved":true}', 'summary saved');
SELECT sqltest.is(sqltest.op('context.summary', 'u1', '{"thread_id":"thr_c","summary":"up to 2","item_id":"it_2"}'), '{"saved":false}', 'an older summary does not replace a newer one');
SELECT sqltest.is(sqltest.op('context.summary', 'u1', '{"thread_id":"thr_c","summary":"up to 4","item_id":"it_4"}'), '{"saved":true}', 'a newer summary replaces it');
SELECT sqltest.is(sqltest.op('context.load', 'u1', '{"thread_id":"thr_c","limit":1}') - 'items',
       '{"notice_sent":true,"summary":{"text":"up to 4","item_id":"it_4"}}', 'context.load: summary and notice');
SELECT sqltest.op_fails('context.summary', 'u1', '{"thread_id":"thr_c","summary":"x","item_id":"it_zz"}', 'P0002', 'summary of an unknown item -> P0002');
SELECT sqltest.op_fails('context.summary', 'u2', '{"thread_id":"thr_c","summary":"x","item_id":"it_1"}', 'P0002', 'summary of another user''s thread -> P0002');

-- memory.add: added, duplicate (same sha256), full, too long
CREATE TEMP TABLE a AS SELECT sqltest.op('memory.add', 'u1', '{"fact":"The user is vegetarian","sha256":"h1","max":2,"thread_id":"thr_c"}') AS r;
SELECT sqltest.is_text((SELECT r ->> 'status' FROM a), 'added', 'memory.add: added');
SELECT sqltest.is(sqltest.op('memory.add', 'u1', '{"fact":"the user is VEGETARIAN","sha256":"h1","max":2}'),
       jsonb_build_object('status', 'duplicate', 'fact', (SELECT r -> 'fact' FROM a)), 'memory.add: duplicate by sha256');
SELECT sqltest.is_text(sqltest.op('memory.add', 'u1', '{"fact":"The user likes tea","sha256":"h2","max":2}') ->> 'status', 'added', 'second fact');
SELECT sqltest.is(sqltest.op('memory.add', 'u1', '{"fact":"The user likes jazz","sha256":"h3","max":2}'), '{"status":"full"}', 'memory.add: full at max');
SELECT sqltest.op_fails('memory.add', 'u1', jsonb_build_object('fact', repeat('x', 501), 'sha256', 'h4', 'max', 50), '54000', 'a fact over 500 characters -> 54000');
SELECT sqltest.is_text(sqltest.op('memory.add', 'u2', '{"fact":"The user is vegetarian","sha256":"h1","max":2}') ->> 'status', 'added', 'the same fact for another user is added');

-- memory.list: the user's own facts only, wire shape
SELECT sqltest.is((SELECT jsonb_path_query_array(sqltest.op('memory.list', 'u1', '{}'), '$.data[*].fact')),
       '["The user is vegetarian","The user likes tea"]', 'memory.list: oldest first, own facts');
SELECT sqltest.is((SELECT jsonb_object_keys_agg FROM (SELECT jsonb_agg(k ORDER BY k) AS jsonb_object_keys_agg
                     FROM jsonb_object_keys(sqltest.op('memory.list', 'u1', '{}') -> 'data' -> 0) AS k) x),
       '["created_at","fact","id","thread_id"]', 'memory.list: {id, fact, created_at, thread_id}');
SELECT sqltest.is(sqltest.op('context.load', 'u1', '{"thread_id":"thr_c","limit":1,"facts":true}') -> 'facts' -> 0 -> 'thread_id',
       '"thr_c"', 'context.load: facts with their thread');

-- memory.forget: another user's id is not found and stays
SELECT sqltest.op_fails('memory.forget', 'u2', jsonb_build_object('id', (SELECT r -> 'fact' ->> 'id' FROM a)), 'P0002', 'forget another user''s fact -> P0002');
SELECT sqltest.op('memory.forget', 'u1', jsonb_build_object('id', (SELECT r -> 'fact' ->> 'id' FROM a)));
SELECT sqltest.is((SELECT jsonb_path_query_array(sqltest.op('memory.list', 'u1', '{}'), '$.data[*].fact')), '["The user likes tea"]', 'memory.forget removed it');

-- deleting the thread deletes its context row and keeps the facts (thread_id null)
SELECT sqltest.op('memory.add', 'u1', '{"fact":"From the thread","sha256":"h5","max":50,"thread_id":"thr_c"}');
SELECT sqltest.op('threads.delete', 'u1', '{"thread_id":"thr_c"}');
SELECT sqltest.is((SELECT count(*)::int FROM chatkit.thread_context WHERE thread_id = 'thr_c'), 0, 'the summary went with its thread');
SELECT sqltest.is(sqltest.op('memory.list', 'u1', '{}') -> 'data' -> 1 -> 'thread_id', 'null', 'a fact outlives its thread');

-- memory.clear: only the caller's facts
CREATE TEMP TABLE fact_ids AS SELECT jsonb_agg(id ORDER BY id) AS ids FROM chatkit.memory_facts WHERE user_id = 'u1';
CREATE TEMP TABLE cleared AS SELECT sqltest.op('memory.clear', 'u1', '{}') AS r;
SELECT sqltest.is((SELECT r FROM cleared), (SELECT jsonb_build_object('deleted', 2, 'ids', ids) FROM fact_ids),
       'memory.clear: the count and the ids of the deleted facts');
SELECT sqltest.is(sqltest.op('memory.list', 'u1', '{}'), '{"data":[]}', 'u1 has no facts');
SELECT sqltest.is(jsonb_array_length(sqltest.op('memory.list', 'u2', '{}') -> 'data'), 1, 'u2 keeps hers');
