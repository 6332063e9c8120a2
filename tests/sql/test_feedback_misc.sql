-- test_feedback_misc.sql - items.feedback, dispatcher argument checks,
-- search dispatch, and the SQLSTATE / message contract.

SELECT sqltest.op('thread.save', 'u1', jsonb_build_object('thread', sqltest.thread('thr_f', '2025-08-01T00:00:00Z')));
SELECT sqltest.op('thread.save', 'u1', jsonb_build_object('thread', sqltest.thread('thr_g', '2025-08-01T00:00:00Z')));
SELECT sqltest.op('item.add', 'u1', jsonb_build_object('thread_id', v.t, 'item', sqltest.item(v.t, v.id, '2025-08-01T00:00:01Z', 'assistant_message')))
  FROM (VALUES ('thr_f', 'a1'), ('thr_f', 'a2'), ('thr_g', 'g1')) AS v(t, id);

SELECT sqltest.is(sqltest.op('items.feedback', 'u1', '{"thread_id":"thr_f","item_ids":["a1","a2","a1"],"kind":"positive"}'), '{}', 'feedback -> {}');
SELECT sqltest.is((SELECT jsonb_agg(jsonb_build_array(item_id, kind, user_id) ORDER BY item_id) FROM chatkit.feedback),
                  '[["a1","positive","u1"],["a2","positive","u1"]]', 'one row per item');
SELECT sqltest.op('items.feedback', 'u1', '{"thread_id":"thr_f","item_ids":["a2"],"kind":"negative"}');
SELECT sqltest.is((SELECT to_jsonb(kind) FROM chatkit.feedback WHERE item_id = 'a2'), '"negative"', 'latest kind wins');
CREATE TEMP TABLE fp AS SELECT sqltest.fingerprint() AS f;
SELECT sqltest.op_fails('items.feedback', 'u1', '{"thread_id":"thr_f","item_ids":["a1","g1"],"kind":"positive"}', 'P0002',
                        'feedback for an item of another thread -> P0002', '^item g1 not found$');
SELECT sqltest.op_fails('items.feedback', 'u1', '{"thread_id":"thr_f","item_ids":["a1",7],"kind":"positive"}', 'P0002', 'non-string item id -> P0002');
SELECT sqltest.op_fails('items.feedback', 'u2', '{"thread_id":"thr_f","item_ids":["a1"],"kind":"positive"}', 'P0002', 'feedback on a foreign thread -> P0002');
SELECT sqltest.op_fails('items.feedback', 'u1', '{"thread_id":"thr_f","item_ids":["a1"],"kind":"meh"}', '22023', 'bad kind -> 22023');
SELECT sqltest.op_fails('items.feedback', 'u1', '{"thread_id":"thr_f","item_ids":"a1","kind":"positive"}', '22023', 'item_ids not an array -> 22023');
SELECT sqltest.ok(sqltest.fingerprint() = (SELECT f FROM fp), 'refused feedback stored nothing');
SELECT sqltest.is(sqltest.op('items.feedback', 'u1', '{"thread_id":"thr_f","item_ids":[],"kind":"positive"}'), '{}', 'empty item_ids -> {}');
SELECT sqltest.op('item.delete', 'u1', '{"thread_id":"thr_f","item_id":"a1"}');
SELECT sqltest.ok(NOT EXISTS (SELECT 1 FROM chatkit.feedback WHERE item_id = 'a1'), 'feedback goes with its item');

-- Dispatcher checks.
SELECT sqltest.op_fails('threads.nope', 'u1', '{}', '22023', 'unknown op -> 22023', '^unknown operation threads.nope$');
SELECT sqltest.op_fails(NULL, 'u1', '{}', '22023', 'null op -> 22023');
SELECT sqltest.op_fails('threads.list', '', '{}', '22023', 'empty user -> 22023');
SELECT sqltest.op_fails('threads.list', NULL, '{}', '22023', 'null user -> 22023');
SELECT sqltest.op_fails('threads.list', 'u1', '[]', '22023', 'params not an object -> 22023');
SELECT sqltest.op_fails('threads.list', 'u1', NULL, '22023', 'null params -> 22023');
SELECT sqltest.ok(length(sqltest.op_fails('threads.get_by_id', 'u1', jsonb_build_object('thread_id', repeat('x', 5000)), 'P0002', 'long id -> P0002')) < 200,
                  'error messages stay short');
SELECT sqltest.is(jsonb_array_length(sqltest.op('items.list', 'u1', '{"thread_id":"thr_f","limit":"many"}') -> 'data'), 1, 'non-number limit falls back to the default');
SELECT sqltest.is(jsonb_array_length(sqltest.op('threads.list', 'u1', '{"limit":1e30}') -> 'data'), 2, 'huge limit is clamped');

-- search goes to chatkit.corpus_search (sql/003_corpus.sql) when it exists.
DO $$
BEGIN
    IF to_regprocedure('chatkit.corpus_search(jsonb)') IS NOT NULL THEN
        PERFORM sqltest.ok(sqltest.op('search', 'u1', '{"query":"store","limit":3}') ? 'results', 'search returns {"results":[...]}');
    END IF;
END $$;
