-- bench/reads/load.sql - the data of bench/reads/run.sh: 1,000 threads x 50
-- items, owned by 100 users (thread k belongs to user 1000 + k % 100).
-- Ids are digit strings so pgbench can draw them (`\set`) as the server's
-- clients do: thread "1000000".."1000999", items "<thread>-00".."-49".
-- Items look like the server's: assistant and user messages of ~300 bytes,
-- created one second apart.  Run as a superuser (row-level security).
BEGIN;
DELETE FROM chatkit.threads WHERE id ~ '^1000[0-9]{3}$';
INSERT INTO chatkit.threads (id, user_id, created_at, title)
SELECT (1000000 + k)::text, (1000 + k % 100)::text,
       timestamptz '2026-01-01 00:00:00+00' + k * interval '1 minute', 'Thread number ' || k
  FROM generate_series(0, 999) AS k;
INSERT INTO chatkit.items (thread_id, id, user_id, created_at, type, data)
SELECT t.id, t.id || '-' || lpad(n::text, 2, '0'), t.user_id, t.created_at + n * interval '1 second',
       CASE WHEN n % 2 = 0 THEN 'user_message' ELSE 'assistant_message' END,
       jsonb_build_object(
           'id', t.id || '-' || lpad(n::text, 2, '0'), 'thread_id', t.id,
           'created_at', to_char((t.created_at + n * interval '1 second') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           'type', CASE WHEN n % 2 = 0 THEN 'user_message' ELSE 'assistant_message' END,
           'content', jsonb_build_array(jsonb_build_object(
               'type', CASE WHEN n % 2 = 0 THEN 'input_text' ELSE 'output_text' END,
               'annotations', '[]'::jsonb,
               'text', 'Message ' || n || ' of thread ' || t.id || ': ' || repeat('lorem ipsum dolor sit amet ', 8))))
  FROM chatkit.threads t, generate_series(0, 49) AS n
 WHERE t.id ~ '^1000[0-9]{3}$';
COMMIT;
ANALYZE chatkit.threads;
ANALYZE chatkit.items;
