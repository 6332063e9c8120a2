-- test_turn_context.sql - the pre-flight ops that answer the turn's context
-- in the same statement (sql/functions/turns.sql): turn.create and
-- turn.add_message with `context` give what context.load gives for the
-- history before the new message; without it the result has no `context`;
-- turn.create with `audit` writes the audit row in the same transaction
-- (none when the statement fails); turn.write runs a turn's queued writes in
-- one transaction.

SELECT sqltest.op('memory.add', 'u1', '{"fact":"The user likes tea","sha256":"h1","max":50}');
SELECT sqltest.op('memory.add', 'u2', '{"fact":"Another user''s fact","sha256":"h2","max":50}');

-- turn.create: a new thread has no history; facts only when asked.
CREATE TEMP TABLE c AS SELECT sqltest.op('turn.create', 'u1', jsonb_build_object(
       'thread', sqltest.thread('thr_t', '2025-07-01T00:00:00Z'),
       'item', sqltest.item('thr_t', 'msg_1', '2025-07-01T00:00:01Z', 'user_message'),
       'attachment_ids', '[]'::jsonb, 'context', '{"limit":12,"facts":true}'::jsonb,
       'audit', '{"action":"thread.created","object_ids":["thr_t"],"request_id":"req-1"}'::jsonb)) AS r;
SELECT sqltest.is((SELECT (r -> 'context') - 'facts' FROM c), '{"items":[],"notice_sent":false}', 'turn.create: empty history, no notice');
SELECT sqltest.is((SELECT jsonb_path_query_array(r -> 'context', '$.facts[*].fact') FROM c), '["The user likes tea"]',
       'turn.create: the user''s own facts');
SELECT sqltest.is((SELECT r -> 'context' -> 'facts' FROM c), sqltest.op('memory.list', 'u1', '{}') -> 'data',
       'turn.create: facts as memory.list gives them');
SELECT sqltest.is((SELECT count(*)::int FROM chatkit.audit_log WHERE action = 'thread.created' AND user_id = 'u1'
                      AND request_id = 'req-1' AND object_ids = '["thr_t"]'), 1, 'turn.create wrote the audit row');
SELECT sqltest.ok((SELECT NOT (r ? 'context') FROM (SELECT sqltest.op('turn.create', 'u1', jsonb_build_object(
       'thread', sqltest.thread('thr_n', '2025-07-01T00:00:00Z'),
       'item', sqltest.item('thr_n', 'msg_n', '2025-07-01T00:00:01Z', 'user_message'))) AS r) x),
       'turn.create without context: no context in the result');
SELECT sqltest.is((SELECT r -> 'context' FROM (SELECT sqltest.op('turn.create', 'u1', jsonb_build_object(
       'thread', sqltest.thread('thr_f', '2025-07-01T00:00:00Z'),
       'item', sqltest.item('thr_f', 'msg_f', '2025-07-01T00:00:01Z', 'user_message'),
       'context', '{"facts":false}'::jsonb)) AS r) x), '{"items":[],"notice_sent":false}', 'turn.create: no facts unless asked');

-- a failed turn.create writes no audit row either
SELECT sqltest.op_fails('turn.create', 'u1', jsonb_build_object('thread', sqltest.thread('thr_x', '2025-07-01T00:00:00Z'),
       'item', sqltest.item('thr_x', 'msg_x', '2025-07-01T00:00:01Z', 'user_message'), 'attachment_ids', '["atc_nope"]'::jsonb,
       'audit', '{"action":"thread.created","object_ids":["thr_x"]}'::jsonb), 'P0002', 'turn.create with an unknown attachment -> P0002');
SELECT sqltest.is((SELECT count(*)::int FROM chatkit.audit_log WHERE object_ids = '["thr_x"]'), 0, 'no audit row for a failed turn.create');
SELECT sqltest.op_fails('turn.create', 'u1', jsonb_build_object('thread', sqltest.thread('thr_y', '2025-07-01T00:00:00Z'),
       'item', sqltest.item('thr_y', 'msg_y', '2025-07-01T00:00:01Z', 'user_message'), 'context', '[1]'::jsonb),
       '22023', 'turn.create with a context that is not an object -> 22023');
SELECT sqltest.is((SELECT count(*)::int FROM chatkit.threads WHERE id = 'thr_y'), 0, 'and wrote no thread');

-- turn.add_message: the context equals context.load before the new message
SELECT sqltest.op('item.add', 'u1', jsonb_build_object('thread_id', 'thr_t',
       'item', sqltest.item('thr_t', 'it_' || i, '2025-07-01T00:00:0' || (i + 1) || 'Z', 'assistant_message')))
  FROM generate_series(1, 4) AS i;
SELECT sqltest.op('item.add', 'u1', jsonb_build_object('thread_id', 'thr_t',
       'item', sqltest.item('thr_t', 'eot', '2025-07-01T00:00:06Z', 'end_of_turn')));
SELECT sqltest.op('context.notice', 'u1', '{"thread_id":"thr_t"}');
SELECT sqltest.op('context.summary', 'u1', '{"thread_id":"thr_t","summary":"so far","item_id":"it_1"}');
CREATE TEMP TABLE m AS SELECT sqltest.op('turn.add_message', 'u1', jsonb_build_object('thread_id', 'thr_t',
       'item', sqltest.item('thr_t', 'msg_2', '2025-07-01T00:00:09Z', 'user_message'),
       'attachment_ids', '[]'::jsonb, 'context', '{"limit":3,"facts":true}'::jsonb)) AS r;
SELECT sqltest.is((SELECT r -> 'context' FROM m),
       sqltest.op('context.load', 'u1', '{"thread_id":"thr_t","limit":3,"before_item_id":"msg_2","facts":true}'),
       'turn.add_message: context = context.load before the new message');
SELECT sqltest.is((SELECT jsonb_path_query_array(r, '$.context.items[*].id') FROM m), '["it_2","it_3","it_4"]',
       'turn.add_message: the window before the message, ascending, end_of_turn left out');
SELECT sqltest.is((SELECT r -> 'context' -> 'summary' FROM m), '{"text":"so far","item_id":"it_1"}', 'turn.add_message: the summary');
SELECT sqltest.is((SELECT r -> 'context' -> 'notice_sent' FROM m), 'true', 'turn.add_message: the notice flag');
SELECT sqltest.is((SELECT r - 'context' FROM m),
       (SELECT r FROM (SELECT sqltest.op('turn.add_message', 'u1', jsonb_build_object('thread_id', 'thr_t',
           'item', sqltest.item('thr_t', 'msg_2', '2025-07-01T00:00:09Z', 'user_message'), 'attachment_ids', '[]'::jsonb)) AS r) x),
       'turn.add_message: the rest of the result does not change');
SELECT sqltest.op_fails('turn.add_message', 'u2', jsonb_build_object('thread_id', 'thr_t',
       'item', sqltest.item('thr_t', 'msg_3', '2025-07-01T00:00:10Z', 'user_message'), 'context', '{"facts":true}'::jsonb),
       'P0002', 'turn.add_message to another user''s thread -> P0002 (no context leaks)');

-- turn.write: the queued writes and records in one transaction, all or none
SELECT sqltest.is(sqltest.op('turn.write', 'u1', jsonb_build_object('writes', jsonb_build_array(
       jsonb_build_object('op', 'item.add', 'params', jsonb_build_object('thread_id', 'thr_t',
           'item', sqltest.item('thr_t', 'ans_1', '2025-07-01T00:00:10Z', 'assistant_message'))),
       jsonb_build_object('op', 'thread.save', 'params', jsonb_build_object('thread',
           sqltest.thread('thr_t', '2025-07-01T00:00:00Z') || '{"title":"Tea talk"}')),
       jsonb_build_object('op', 'context.notice', 'params', '{"thread_id":"thr_f"}'::jsonb),
       jsonb_build_object('op', 'usage.add', 'params', '{"assistant":"default","model":"m","outcome":"ok","duration_ms":5,"request_id":"req-w"}'::jsonb)))),
       '{}', 'turn.write: four writes');
SELECT sqltest.is((SELECT count(*)::int FROM chatkit.items WHERE id = 'ans_1' AND thread_id = 'thr_t' AND user_id = 'u1'), 1, 'turn.write: item added');
SELECT sqltest.is_text((SELECT title FROM chatkit.threads WHERE id = 'thr_t'), 'Tea talk', 'turn.write: thread saved');
SELECT sqltest.is((SELECT count(*)::int FROM chatkit.thread_context WHERE thread_id = 'thr_f' AND notice_sent), 1, 'turn.write: notice recorded');
SELECT sqltest.is((SELECT count(*)::int FROM chatkit.turn_usage WHERE request_id = 'req-w' AND user_id = 'u1'), 1, 'turn.write: usage row');
-- turn.write with the turn's usage row (its turn_key): repeated after its
-- first attempt committed (the reply was lost), it writes nothing again;
-- usage.add with a key already written is a no-op
CREATE TEMP TABLE w AS SELECT jsonb_build_object('writes', jsonb_build_array(
       jsonb_build_object('op', 'item.add', 'params', jsonb_build_object('thread_id', 'thr_t',
           'item', sqltest.item('thr_t', 'ans_k', '2025-07-01T00:00:10.5Z', 'assistant_message')))),
       'usage', '{"assistant":"default","model":"m","outcome":"ok","duration_ms":5,"request_id":"req-k","turn_key":"turn_k1"}'::jsonb) AS p;
SELECT sqltest.is(sqltest.op('turn.write', 'u1', (SELECT p FROM w)), '{}', 'turn.write with usage: first attempt');
SELECT sqltest.is((SELECT count(*)::int FROM chatkit.turn_usage WHERE turn_key = 'turn_k1' AND user_id = 'u1'
                      AND request_id = 'req-k' AND duration_ms = 5), 1, 'turn.write: the usage row carries the turn key');
SELECT sqltest.is((SELECT count(*)::int FROM chatkit.items WHERE id = 'ans_k' AND thread_id = 'thr_t'), 1, 'turn.write with usage: item added');
DELETE FROM chatkit.items WHERE id = 'ans_k';
SELECT sqltest.is(sqltest.op('turn.write', 'u1', (SELECT p FROM w)), '{}', 'turn.write with usage: the same write again');
SELECT sqltest.is((SELECT count(*)::int FROM chatkit.turn_usage WHERE turn_key = 'turn_k1'), 1, 'a repeated turn.write adds no usage row');
SELECT sqltest.is((SELECT count(*)::int FROM chatkit.items WHERE id = 'ans_k'), 0,
       'a repeated turn.write writes nothing at all (the item deleted since stays deleted)');
SELECT sqltest.is(sqltest.op('usage.add', 'u1', '{"assistant":"default","model":"m","outcome":"error","duration_ms":7,"turn_key":"turn_k1"}'),
       '{}', 'usage.add with a key already written -> {}');
SELECT sqltest.is((SELECT count(*)::int FROM chatkit.turn_usage WHERE turn_key = 'turn_k1' AND outcome = 'ok'), 1,
       'usage.add with a key already written adds nothing, changes nothing');
SELECT sqltest.op('usage.add', 'u1', '{"assistant":"default","model":"m","outcome":"ok","duration_ms":1,"request_id":"req-nokey"}')
  FROM generate_series(1, 2);
SELECT sqltest.is((SELECT count(*)::int FROM chatkit.turn_usage WHERE request_id = 'req-nokey'), 2, 'rows without a key never conflict');
SELECT sqltest.op_fails('turn.write', 'u1', '{"writes":[],"usage":[1]}', '22023', 'usage must be an object');
CREATE TEMP TABLE fp AS SELECT sqltest.fingerprint() AS f;
SELECT sqltest.op_fails('turn.write', 'u1', jsonb_build_object('writes', jsonb_build_array(
       jsonb_build_object('op', 'item.add', 'params', jsonb_build_object('thread_id', 'thr_t',
           'item', sqltest.item('thr_t', 'ans_2', '2025-07-01T00:00:11Z', 'assistant_message'))),
       jsonb_build_object('op', 'thread.save', 'params', jsonb_build_object('thread', sqltest.thread('thr_t', '2025-07-01T00:00:00Z') || '{"title":"Changed"}')),
       jsonb_build_object('op', 'item.add', 'params', jsonb_build_object('thread_id', 'thr_gone',
           'item', sqltest.item('thr_gone', 'ans_3', '2025-07-01T00:00:12Z', 'assistant_message'))))),
       'P0002', 'turn.write with a write to an unknown thread -> P0002', '^thread thr_gone not found$');
SELECT sqltest.ok(sqltest.fingerprint() = (SELECT f FROM fp), 'a failed turn.write wrote nothing (the first writes rolled back)');
SELECT sqltest.is_text((SELECT title FROM chatkit.threads WHERE id = 'thr_t'), 'Tea talk', 'the title is unchanged');
SELECT sqltest.op_fails('turn.write', 'u2', jsonb_build_object('writes', jsonb_build_array(
       jsonb_build_object('op', 'item.add', 'params', jsonb_build_object('thread_id', 'thr_t',
           'item', sqltest.item('thr_t', 'ans_4', '2025-07-01T00:00:13Z', 'assistant_message'))))),
       'P0002', 'turn.write into another user''s thread -> P0002');
SELECT sqltest.op_fails('turn.write', 'u1', '{"writes":[{"op":"threads.delete","params":{"thread_id":"thr_t"}}]}',
       '22023', 'turn.write runs only turn writes and records', '^turn.write cannot run threads.delete$');
SELECT sqltest.op_fails('turn.write', 'u1', '{"writes":[{"op":"turn.write","params":{"writes":[]}}]}', '22023', 'no nested turn.write');
SELECT sqltest.op_fails('turn.write', 'u1', '{"writes":[{"params":{}}]}', '22023', 'a write without op -> 22023');
SELECT sqltest.op_fails('turn.write', 'u1', '{"writes":{}}', '22023', 'writes must be an array');
SELECT sqltest.is((SELECT count(*)::int FROM chatkit.threads WHERE id = 'thr_t'), 1, 'thr_t still there');

-- The other pre-flight ops answer the context too: turn.retry the history
-- before the retried message (after the items behind it were deleted),
-- turn.tool_output and turn.load_item the newest items (after the tool
-- call was completed); no `context` unless asked.
SELECT sqltest.op('turn.create', 'u1', jsonb_build_object('thread', sqltest.thread('thr_o', '2025-08-01T00:00:00Z'),
       'item', sqltest.item('thr_o', 'o_1', '2025-08-01T00:00:01Z', 'user_message')));
SELECT sqltest.op('item.add', 'u1', jsonb_build_object('thread_id', 'thr_o',
       'item', sqltest.item('thr_o', 'o_' || i, '2025-08-01T00:00:0' || i || 'Z', CASE WHEN i = 4 THEN 'user_message' ELSE 'assistant_message' END)))
  FROM generate_series(2, 6) AS i;
CREATE TEMP TABLE r AS SELECT sqltest.op('turn.retry', 'u1',
       '{"thread_id":"thr_o","item_id":"o_4","context":{"limit":2,"facts":true}}') AS r;
SELECT sqltest.is((SELECT r -> 'context' FROM r),
       sqltest.op('context.load', 'u1', '{"thread_id":"thr_o","limit":2,"before_item_id":"o_4","facts":true}'),
       'turn.retry: context = context.load before the retried message');
SELECT sqltest.is((SELECT jsonb_path_query_array(r, '$.context.items[*].id') FROM r), '["o_2","o_3"]',
       'turn.retry: the window before the message');
SELECT sqltest.is((SELECT r -> 'item' -> 'id' FROM r), '"o_4"', 'turn.retry: the item');
SELECT sqltest.ok((SELECT NOT (sqltest.op('turn.retry', 'u1', '{"thread_id":"thr_o","item_id":"o_4"}') ? 'context')),
       'turn.retry without context: no context');
SELECT sqltest.op('item.add', 'u1', jsonb_build_object('thread_id', 'thr_o',
       'item', sqltest.item('thr_o', 'o_call', '2025-08-01T00:00:07Z', 'client_tool_call', '{"status":"pending","name":"f","arguments":"{}","call_id":"c1"}')));
CREATE TEMP TABLE o AS SELECT sqltest.op('turn.tool_output', 'u1',
       '{"thread_id":"thr_o","result":{"ok":1},"context":{"limit":3}}') AS r;
SELECT sqltest.is((SELECT r -> 'context' FROM o), sqltest.op('context.load', 'u1', '{"thread_id":"thr_o","limit":3}'),
       'turn.tool_output: context = context.load of the newest items');
SELECT sqltest.is((SELECT jsonb_path_query_array(r, '$.context.items[*].status') FROM o), '["completed"]',
       'turn.tool_output: the context holds the completed call');
SELECT sqltest.is((SELECT r -> 'context' FROM (SELECT sqltest.op('turn.load_item', 'u1',
       '{"thread_id":"thr_o","item_id":"o_2","context":{"limit":3,"facts":true}}') AS r) x),
       sqltest.op('context.load', 'u1', '{"thread_id":"thr_o","limit":3,"facts":true}'),
       'turn.load_item: context = context.load of the newest items');
SELECT sqltest.is(sqltest.op('turn.load_item', 'u1', '{"thread_id":"thr_o","context":{"limit":1}}'),
       jsonb_build_object('thread', sqltest.op('thread.load', 'u1', '{"thread_id":"thr_o"}'),
                          'context', sqltest.op('context.load', 'u1', '{"thread_id":"thr_o","limit":1}')),
       'turn.load_item without item_id: the thread and the context, no item');
SELECT sqltest.is(sqltest.op('turn.load_item', 'u1', '{"thread_id":"thr_o","item_id":null}'),
       jsonb_build_object('thread', sqltest.op('thread.load', 'u1', '{"thread_id":"thr_o"}')),
       'turn.load_item with item_id null: no item');
SELECT sqltest.op_fails('turn.load_item', 'u2', '{"thread_id":"thr_o","context":{"facts":true}}', 'P0002',
       'turn.load_item on another user''s thread -> P0002 (no context leaks)', '^thread thr_o not found$');
SELECT sqltest.op_fails('turn.retry', 'u2', '{"thread_id":"thr_o","item_id":"o_4","context":{}}', 'P0002',
       'turn.retry on another user''s thread -> P0002');
SELECT sqltest.op_fails('turn.load_item', 'u1', '{"thread_id":"thr_o","item_id":""}', '22023', 'turn.load_item with an empty item_id -> 22023');
