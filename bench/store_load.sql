-- bench/store_load.sql - the store benchmark's data set (run by bench/store.sh
-- on a migrated database): user "bench" gets 1,000 threads x 50 items
-- (user/assistant messages, ~300 bytes of text each, items 1 ms apart with
-- every third pair sharing a timestamp), plus 5,000 threads of 100 other
-- users so the indexes are not trivially small.  Any earlier bench data is
-- replaced.

DELETE FROM chatkit.threads WHERE user_id = 'bench' OR user_id LIKE 'bench-other-%';

INSERT INTO chatkit.threads (id, user_id, created_at, title)
SELECT format('thr_%s', lpad(t::text, 4, '0')), 'bench', timestamptz '2025-01-01 00:00:00+00' + t * interval '1 second',
       format('Bench thread %s', t)
  FROM generate_series(1, 1000) AS t;
INSERT INTO chatkit.threads (id, user_id, created_at)
SELECT format('thr_o%s', t), format('bench-other-%s', t % 100), timestamptz '2025-01-01 00:00:00+00' + t * interval '1 second'
  FROM generate_series(1, 5000) AS t;

INSERT INTO chatkit.items (thread_id, id, user_id, created_at, type, data)
SELECT s.tid, s.iid, 'bench', s.ts, s.ty,
       CASE WHEN s.ty = 'user_message' THEN
           jsonb_build_object('id', s.iid, 'thread_id', s.tid, 'created_at', chatkit.ts_wire(s.ts), 'type', s.ty,
                              'content', jsonb_build_array(jsonb_build_object('type', 'input_text', 'text',
                                         'How do I configure the store for item ' || s.i || '? ' || repeat('Some context. ', 15))),
                              'attachments', '[]'::jsonb, 'inference_options', '{}'::jsonb)
       ELSE
           jsonb_build_object('id', s.iid, 'thread_id', s.tid, 'created_at', chatkit.ts_wire(s.ts), 'type', s.ty,
                              'content', jsonb_build_array(jsonb_build_object('type', 'output_text', 'annotations', '[]'::jsonb,
                                         'text', 'Answer ' || s.i || ': ' || repeat('The store keeps items as JSON. ', 10))))
       END
  FROM (SELECT t.id AS tid, format('msg_%s_%s', substr(t.id, 5), lpad(i::text, 2, '0')) AS iid, i,
               t.created_at + (i / 3) * interval '1 millisecond' AS ts,
               CASE WHEN i % 2 = 1 THEN 'user_message' ELSE 'assistant_message' END AS ty
          FROM chatkit.threads t, generate_series(1, 50) AS i
         WHERE t.user_id = 'bench') s;

ANALYZE chatkit.threads;
ANALYZE chatkit.items;
