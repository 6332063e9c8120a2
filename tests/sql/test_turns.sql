-- test_turns.sql - the streaming-turn ops: turn.create (attachments and
-- atomicity), turn.add_message, turn.tool_output, turn.load_item, turn.retry,
-- item.add/save/delete, history, threads.sync_custom_action.

SELECT sqltest.op('attachments.create', 'u1', '{"id":"atc_img","name":"cat.png","size":10,"mime_type":"image/png","type":"image","preview_url":"https://f.example.com/atc_img/preview","upload_descriptor":{"url":"https://f.example.com/up","method":"PUT","headers":{}},"metadata":{"secret":"s"}}');
SELECT sqltest.op('attachments.create', 'u1', '{"id":"atc_doc","name":"doc.pdf","size":10,"mime_type":"application/pdf","type":"file"}');
SELECT sqltest.op('attachments.create', 'u2', '{"id":"atc_b","name":"b.pdf","size":10,"mime_type":"application/pdf","type":"file"}');

-- turn.create with a foreign / unknown attachment writes nothing.
CREATE TEMP TABLE fp AS SELECT sqltest.fingerprint() AS f;
SELECT sqltest.op_fails('turn.create', 'u1', jsonb_build_object('thread', sqltest.thread('thr_1', '2025-05-01T00:00:00Z'),
       'item', sqltest.item('thr_1', 'msg_1', '2025-05-01T00:00:00.000001Z', 'user_message', '{"content":[],"inference_options":{}}'),
       'attachment_ids', '["atc_img","atc_b"]'::jsonb), 'P0002', 'turn.create with a foreign attachment -> P0002', '^attachment atc_b not found$');
SELECT sqltest.op_fails('turn.create', 'u1', jsonb_build_object('thread', sqltest.thread('thr_1', '2025-05-01T00:00:00Z'),
       'item', sqltest.item('thr_1', 'msg_1', '2025-05-01T00:00:00.000001Z', 'user_message'),
       'attachment_ids', '["atc_doc","atc_zzz"]'::jsonb), 'P0002', 'turn.create with an unknown attachment -> P0002');
SELECT sqltest.op_fails('turn.create', 'u1', jsonb_build_object('thread', sqltest.thread('thr_1', '2025-05-01T00:00:00Z'),
       'item', sqltest.item('thr_1', 'msg_1', 'not a time', 'user_message'), 'attachment_ids', '["atc_doc"]'::jsonb),
       '22023', 'turn.create with a bad item created_at -> 22023');
SELECT sqltest.ok(sqltest.fingerprint() = (SELECT f FROM fp), 'failed turn.create wrote nothing (no thread, item, attachment thread_id)');

-- turn.create succeeds: thread wire, attachments embedded in order with thread_id.
CREATE TEMP TABLE c AS SELECT sqltest.op('turn.create', 'u1', jsonb_build_object(
       'thread', sqltest.thread('thr_1', '2025-05-01T00:00:00Z') || '{"metadata":{"private":1}}',
       'item', sqltest.item('thr_1', 'msg_1', '2025-05-01T00:00:00.000001Z', 'user_message', '{"content":[{"type":"input_text","text":"hi"}],"inference_options":{}}'),
       'attachment_ids', '["atc_doc","atc_img"]'::jsonb)) AS r;
SELECT sqltest.is((SELECT r -> 'thread' FROM c),
       '{"id":"thr_1","created_at":"2025-05-01T00:00:00.000000Z","status":{"type":"active"},"metadata":{},"items":{"data":[],"has_more":false}}',
       'turn.create returns the wire Thread');
SELECT sqltest.is((SELECT r -> 'item' -> 'attachments' FROM c),
       '[{"id":"atc_doc","name":"doc.pdf","mime_type":"application/pdf","type":"file","thread_id":"thr_1"},
         {"id":"atc_img","name":"cat.png","mime_type":"image/png","type":"image","thread_id":"thr_1","preview_url":"https://f.example.com/atc_img/preview","upload_descriptor":{"url":"https://f.example.com/up","method":"PUT","headers":{}}}]',
       'turn.create embeds the attachment wire objects in order (no metadata)');
SELECT sqltest.is(sqltest.op('items.list', 'u1', '{"thread_id":"thr_1"}') -> 'data' -> 0, (SELECT r -> 'item' FROM c),
                  'the stored user message is the returned one');
SELECT sqltest.is_text((SELECT thread_id FROM chatkit.attachments WHERE id = 'atc_img'), 'thr_1', 'attachment thread_id set');
SELECT sqltest.is(sqltest.op('thread.load', 'u1', '{"thread_id":"thr_1"}') -> 'metadata', '{"private":1}', 'turn.create stored the thread metadata');
SELECT sqltest.op_fails('turn.create', 'u2', jsonb_build_object('thread', sqltest.thread('thr_1', '2025-05-01T00:00:00Z'),
       'item', sqltest.item('thr_1', 'msg_x', '2025-05-01T00:00:00Z', 'user_message')), '55000', 'turn.create with an existing thread id -> 55000');

-- turn.add_message.
SELECT sqltest.is(sqltest.op('turn.add_message', 'u1', jsonb_build_object('thread_id', 'thr_1', 'attachment_ids', '[]'::jsonb,
       'item', sqltest.item('thr_1', 'msg_2', '2025-05-01T00:00:01Z', 'user_message'))),
       '{"thread":{"id":"thr_1","created_at":"2025-05-01T00:00:00.000000Z","status":{"type":"active"},"metadata":{"private":1}},
         "item":{"id":"msg_2","thread_id":"thr_1","created_at":"2025-05-01T00:00:01Z","type":"user_message","attachments":[]}}',
       'turn.add_message returns ThreadMetadata and the item with attachments []');
SELECT sqltest.op_fails('turn.add_message', 'u2', jsonb_build_object('thread_id', 'thr_1', 'attachment_ids', '[]'::jsonb,
       'item', sqltest.item('thr_1', 'msg_3', '2025-05-01T00:00:01Z', 'user_message')), 'P0002', 'turn.add_message foreign thread -> P0002');
SELECT sqltest.op_fails('turn.add_message', 'u1', jsonb_build_object('thread_id', 'thr_1', 'attachment_ids', '["atc_b"]'::jsonb,
       'item', sqltest.item('thr_1', 'msg_3', '2025-05-01T00:00:02Z', 'user_message')), 'P0002', 'turn.add_message foreign attachment -> P0002');
SELECT sqltest.ok(NOT EXISTS (SELECT 1 FROM chatkit.items WHERE id = 'msg_3'), 'failed add_message stored no item');
SELECT sqltest.op_fails('turn.add_message', 'u1', jsonb_build_object('thread_id', 'thr_1',
       'item', sqltest.item('thr_other', 'msg_4', '2025-05-01T00:00:02Z', 'user_message')), '22023', 'item thread_id mismatch -> 22023');

-- turn.tool_output.
SELECT sqltest.op_fails('turn.tool_output', 'u1', '{"thread_id":"thr_1","result":1}', '55000', 'tool output when newest is a user message -> 55000');
SELECT sqltest.op('item.add', 'u1', jsonb_build_object('thread_id', 'thr_1', 'item', sqltest.item('thr_1', v.id, v.ts, 'client_tool_call',
       jsonb_build_object('status', v.st, 'call_id', v.id, 'name', 'f', 'arguments', '{}'::jsonb))))
  FROM (VALUES ('tc_old', '2025-05-01T00:00:03Z', 'pending'), ('tc_done', '2025-05-01T00:00:04Z', 'completed'),
               ('tc_new', '2025-05-01T00:00:05Z', 'pending')) AS v(id, ts, st);
CREATE TEMP TABLE fp2 AS SELECT sqltest.fingerprint() AS f;
SELECT sqltest.op_fails('turn.tool_output', 'u2', '{"thread_id":"thr_1","result":1}', 'P0002', 'tool output on a foreign thread -> P0002');
SELECT sqltest.ok(sqltest.fingerprint() = (SELECT f FROM fp2), 'foreign tool output changed nothing');
SELECT sqltest.is(sqltest.op('turn.tool_output', 'u1', '{"thread_id":"thr_1","result":{"sel":[1,null]}}') -> 'item',
       '{"id":"tc_new","thread_id":"thr_1","created_at":"2025-05-01T00:00:05Z","type":"client_tool_call","status":"completed","call_id":"tc_new","name":"f","arguments":{},"output":{"sel":[1,null]}}',
       'tool output completes the newest call with output = result');
SELECT sqltest.ok(NOT EXISTS (SELECT 1 FROM chatkit.items WHERE id = 'tc_old'), 'other pending call deleted');
SELECT sqltest.ok(EXISTS (SELECT 1 FROM chatkit.items WHERE id = 'tc_done'), 'completed call kept');
SELECT sqltest.op_fails('turn.tool_output', 'u1', '{"thread_id":"thr_1","result":1}', '55000', 'tool output twice -> 55000');
SELECT sqltest.op('item.add', 'u1', jsonb_build_object('thread_id', 'thr_1', 'item', sqltest.item('thr_1', 'tc_n', '2025-05-01T00:00:06Z',
       'client_tool_call', '{"status":"pending","call_id":"c","name":"f","arguments":{}}')));
SELECT sqltest.is(sqltest.op('turn.tool_output', 'u1', '{"thread_id":"thr_1","result":null}') -> 'item',
       '{"id":"tc_n","thread_id":"thr_1","created_at":"2025-05-01T00:00:06Z","type":"client_tool_call","status":"completed","call_id":"c","name":"f","arguments":{}}',
       'null result -> no output key');
-- A pending call older than the newest 20 items survives the sweep.
SELECT sqltest.op('thread.save', 'u1', jsonb_build_object('thread', sqltest.thread('thr_sweep', '2025-05-02T00:00:00Z')));
SELECT sqltest.op('item.add', 'u1', jsonb_build_object('thread_id', 'thr_sweep', 'item', sqltest.item('thr_sweep', 'tc_' || k,
       format('2025-05-02T00:00:%sZ', lpad(k::text, 2, '0')), 'client_tool_call', '{"status":"pending","call_id":"c","name":"f","arguments":{}}')))
  FROM generate_series(1, 25) AS k;
SELECT sqltest.op('turn.tool_output', 'u1', '{"thread_id":"thr_sweep","result":"ok"}');
SELECT sqltest.is((SELECT jsonb_agg(id ORDER BY created_at) FROM chatkit.items WHERE thread_id = 'thr_sweep'),
                  '["tc_1","tc_2","tc_3","tc_4","tc_5","tc_25"]', 'sweep deletes pending calls among the newest 20 only');
SELECT sqltest.is_text((SELECT data ->> 'output' FROM chatkit.items WHERE id = 'tc_25'), 'ok', 'string output stored');

-- turn.load_item.
SELECT sqltest.is(sqltest.op('turn.load_item', 'u1', '{"thread_id":"thr_1","item_id":"msg_2"}') -> 'item' -> 'id', '"msg_2"',
                  'turn.load_item returns the item');
SELECT sqltest.op_fails('turn.load_item', 'u1', '{"thread_id":"thr_1","item_id":"nope"}', 'P0002', 'turn.load_item unknown item -> P0002', '^item nope not found$');
SELECT sqltest.op_fails('turn.load_item', 'u2', '{"thread_id":"thr_1","item_id":"msg_2"}', 'P0002', 'turn.load_item foreign -> P0002', '^thread thr_1 not found$');

-- threads.sync_custom_action.
SELECT sqltest.op('item.add', 'u1', jsonb_build_object('thread_id', 'thr_1', 'item', sqltest.item('thr_1', 'w_1', '2025-05-01T00:00:07Z', 'widget', '{"widget":{"type":"Card"}}')));
SELECT sqltest.is(sqltest.op('threads.sync_custom_action', 'u1', '{"thread_id":"thr_1","item_id":"w_1","action":{"type":"x"}}'), '{}', 'sync action on a widget -> {}');
SELECT sqltest.is(sqltest.op('threads.sync_custom_action', 'u1', '{"thread_id":"thr_1","item_id":null,"action":{"type":"x"}}'), '{}', 'sync action without item -> {}');
SELECT sqltest.op_fails('threads.sync_custom_action', 'u1', '{"thread_id":"thr_1","item_id":"msg_2","action":{"type":"x"}}', '22023', 'sync action on a non-widget -> 22023');
SELECT sqltest.op_fails('threads.sync_custom_action', 'u1', '{"thread_id":"thr_1","item_id":"nope","action":{"type":"x"}}', 'P0002', 'sync action unknown item -> P0002');
SELECT sqltest.op_fails('threads.sync_custom_action', 'u2', '{"thread_id":"thr_1","action":{"type":"x"}}', 'P0002', 'sync action foreign thread -> P0002');

-- item.add upsert keeps position; item.save replaces (type may change); item.delete.
SELECT sqltest.op('item.add', 'u1', jsonb_build_object('thread_id', 'thr_1', 'item', sqltest.item('thr_1', 'wf_1', '2025-05-01T00:00:08Z', 'workflow', '{"workflow":{"tasks":[]}}')));
SELECT sqltest.op('item.add', 'u1', jsonb_build_object('thread_id', 'thr_1', 'item', sqltest.item('thr_1', 'wf_1', '2025-05-01T09:00:00Z', 'workflow', '{"workflow":{"tasks":[1]}}')));
SELECT sqltest.is((SELECT jsonb_build_array(data -> 'created_at', data -> 'workflow', created_at = '2025-05-01T00:00:08Z') FROM chatkit.items WHERE id = 'wf_1'),
                  '["2025-05-01T00:00:08Z", {"tasks":[1]}, true]', 'item.add twice: new content, original created_at and position');
SELECT sqltest.op('item.save', 'u1', jsonb_build_object('thread_id', 'thr_1', 'item', sqltest.item('thr_1', 'wf_1', '2025-05-01T09:00:00Z', 'assistant_message', '{"content":[]}')));
SELECT sqltest.is((SELECT jsonb_build_array(type, data) FROM chatkit.items WHERE id = 'wf_1'),
                  '["assistant_message", {"id":"wf_1","thread_id":"thr_1","created_at":"2025-05-01T00:00:08Z","type":"assistant_message","content":[]}]',
                  'item.save replaces the item, type changes, created_at kept');
SELECT sqltest.op_fails('item.save', 'u1', jsonb_build_object('thread_id', 'thr_1', 'item', sqltest.item('thr_1', 'nope', '2025-05-01T00:00:00Z', 'widget')),
                        'P0002', 'item.save of an absent item -> P0002');
SELECT sqltest.op_fails('item.add', 'u2', jsonb_build_object('thread_id', 'thr_1', 'item', sqltest.item('thr_1', 'evil', '2025-05-01T00:00:00Z', 'widget')),
                        'P0002', 'item.add into a foreign thread -> P0002');
SELECT sqltest.op_fails('item.save', 'u2', jsonb_build_object('thread_id', 'thr_1', 'item', sqltest.item('thr_1', 'wf_1', '2025-05-01T00:00:00Z', 'widget')),
                        'P0002', 'item.save in a foreign thread -> P0002');
SELECT sqltest.op_fails('item.delete', 'u2', '{"thread_id":"thr_1","item_id":"wf_1"}', 'P0002', 'item.delete in a foreign thread -> P0002');
SELECT sqltest.op_fails('item.add', 'u1', '{"thread_id":"thr_1","item":{"id":"x","type":"widget"}}', '22023', 'item.add without created_at -> 22023');
SELECT sqltest.is(sqltest.op('item.delete', 'u1', '{"thread_id":"thr_1","item_id":"wf_1"}'), '{}', 'item.delete -> {}');
SELECT sqltest.ok(NOT EXISTS (SELECT 1 FROM chatkit.items WHERE id = 'wf_1'), 'item deleted');
SELECT sqltest.is(sqltest.op('item.delete', 'u1', '{"thread_id":"thr_1","item_id":"wf_1"}'), '{}', 'item.delete of an absent item -> {}');

-- history: newest N before a cursor, ascending, hidden included, end_of_turn excluded.
SELECT sqltest.op('thread.save', 'u1', jsonb_build_object('thread', sqltest.thread('thr_h', '2025-06-01T00:00:00Z')));
SELECT sqltest.op('item.add', 'u1', jsonb_build_object('thread_id', 'thr_h', 'item', sqltest.item('thr_h', v.id, '2025-06-01T00:00:01Z', v.type)))
  FROM (VALUES ('h1', 'user_message'), ('h2', 'assistant_message'), ('h3', 'hidden_context_item'),
               ('h4', 'end_of_turn'), ('h5', 'user_message'), ('h6', 'sdk_hidden_context')) AS v(id, type);
SELECT sqltest.is((SELECT jsonb_agg(x -> 'id') FROM jsonb_array_elements(sqltest.op('history', 'u1', '{"thread_id":"thr_h"}') -> 'items') x),
                  '["h1","h2","h3","h5","h6"]', 'history: all but end_of_turn, ascending');
SELECT sqltest.is((SELECT jsonb_agg(x -> 'id') FROM jsonb_array_elements(sqltest.op('history', 'u1', '{"thread_id":"thr_h","limit":2,"before_item_id":"h5"}') -> 'items') x),
                  '["h2","h3"]', 'history: newest 2 strictly before h5, ascending');
SELECT sqltest.op_fails('history', 'u1', '{"thread_id":"thr_h","before_item_id":"zz"}', '22023', 'history unknown before_item_id -> 22023');
SELECT sqltest.op_fails('history', 'u2', '{"thread_id":"thr_h"}', 'P0002', 'history foreign -> P0002');
SELECT sqltest.is(sqltest.op('history', 'u1', '{"thread_id":"thr_h","before_item_id":"h1"}'), '{"items":[]}', 'history before the first item -> []');

-- turn.retry: deletes everything after the user message in (created_at, id) order.
SELECT sqltest.op('thread.save', 'u1', jsonb_build_object('thread', sqltest.thread('thr_r', '2025-07-01T00:00:00Z')));
SELECT sqltest.op('item.add', 'u1', jsonb_build_object('thread_id', 'thr_r', 'item', sqltest.item('thr_r', v.id, v.ts, v.type)))
  FROM (VALUES ('r_a', '2025-07-01T00:00:01Z', 'user_message'), ('r_b', '2025-07-01T00:00:02Z', 'assistant_message'),
               ('r_m', '2025-07-01T00:00:02Z', 'user_message'), ('r_c', '2025-07-01T00:00:02Z', 'assistant_message'),
               ('r_z', '2025-07-01T00:00:02Z', 'hidden_context_item'), ('r_d', '2025-07-01T00:00:03Z', 'widget')) AS v(id, ts, type);
CREATE TEMP TABLE fp3 AS SELECT sqltest.fingerprint() AS f;
SELECT sqltest.op_fails('turn.retry', 'u1', '{"thread_id":"thr_r","item_id":"r_c"}', '22023', 'retry on a non-user message -> 22023');
SELECT sqltest.op_fails('turn.retry', 'u1', '{"thread_id":"thr_r","item_id":"nope"}', 'P0002', 'retry on an unknown item -> P0002');
SELECT sqltest.op_fails('turn.retry', 'u2', '{"thread_id":"thr_r","item_id":"r_m"}', 'P0002', 'retry on a foreign thread -> P0002');
SELECT sqltest.ok(sqltest.fingerprint() = (SELECT f FROM fp3), 'failed retries deleted nothing');
SELECT sqltest.is(sqltest.op('turn.retry', 'u1', '{"thread_id":"thr_r","item_id":"r_m"}') -> 'item' -> 'id', '"r_m"', 'retry returns the user message');
SELECT sqltest.is((SELECT jsonb_agg(id ORDER BY created_at, id) FROM chatkit.items WHERE thread_id = 'thr_r'),
                  '["r_a","r_b","r_c","r_m"]', 'retry deleted the later items (ties after the message by id, hidden too), kept earlier ties');
