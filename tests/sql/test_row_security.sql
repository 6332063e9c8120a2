-- test_row_security.sql - row-level security (sql/schema/004_row_security.sql):
-- the mode the migration chose when run as a superuser (owner-role), direct
-- statements without any user filter as chatkit_owner, real ops replaced by
-- versions that forgot their user filter (reached through the real
-- dispatchers), writes with a mismatched user_id, and the scope of the
-- chatkit.user_id setting.  Users: u_a (thr_a, 3 items, 1 attachment,
-- 1 feedback) and u_b (thr_b, 2 items, 1 attachment).

SELECT sqltest.op('thread.save', 'u_a', jsonb_build_object('thread', sqltest.thread('thr_a', '2025-09-01T00:00:00Z')));
SELECT sqltest.op('thread.save', 'u_b', jsonb_build_object('thread', sqltest.thread('thr_b', '2025-09-01T00:00:01Z')));
SELECT sqltest.op('item.add', v.u, jsonb_build_object('thread_id', v.t, 'item', sqltest.item(v.t, v.id, v.ts, 'assistant_message')))
  FROM (VALUES ('u_a', 'thr_a', 'a1', '2025-09-01T00:00:02Z'), ('u_a', 'thr_a', 'a2', '2025-09-01T00:00:03Z'),
               ('u_a', 'thr_a', 'a3', '2025-09-01T00:00:04Z'), ('u_b', 'thr_b', 'b1', '2025-09-01T00:00:05Z'),
               ('u_b', 'thr_b', 'b2', '2025-09-01T00:00:06Z')) AS v(u, t, id, ts);
SELECT chatkit.op_bytes('attachments.create_direct', v.u, jsonb_build_object('id', v.id, 'name', 'n.txt', 'mime_type', 'text/plain', 'type', 'file'), '\x6869')
  FROM (VALUES ('u_a', 'atc_a'), ('u_b', 'atc_b')) AS v(u, id);
SELECT sqltest.op('items.feedback', 'u_a', '{"thread_id":"thr_a","item_ids":["a1"],"kind":"positive"}');

-- Runs the query p_sql (one bigint result) as chatkit_owner with
-- chatkit.user_id = p_user, the way an op runs, and returns its result.
CREATE FUNCTION sqltest.as_owner(p_user text, p_sql text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM set_config('chatkit.user_id', p_user, true);
    SET LOCAL ROLE chatkit_owner;
    EXECUTE p_sql INTO n;
    RESET ROLE;
    PERFORM set_config('chatkit.user_id', '', true);
    RETURN n;
END $$;

-- Passes when p_sql, run as in sqltest.as_owner, raises SQLSTATE p_state.
CREATE FUNCTION sqltest.as_owner_fails(p_user text, p_sql text, p_state text, p_name text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
    v_msg text;
BEGIN
    BEGIN
        PERFORM sqltest.as_owner(p_user, p_sql);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
    END;
    PERFORM sqltest.record(v_state = p_state, p_name,
                           format('got SQLSTATE %s (%s), want %s', coalesce(v_state, 'none'), v_msg, p_state));
END $$;

-- A test-only function that forgot its user filter, running as the owner role.
CREATE FUNCTION sqltest.all_items_count() RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT count(*) FROM chatkit.items
$$;
ALTER FUNCTION sqltest.all_items_count() OWNER TO chatkit_owner;

-- ---------------------------------------------------------------------------
-- The mode: run as a superuser, the migration chose owner-role mode.
-- ---------------------------------------------------------------------------
SELECT sqltest.ok((SELECT NOT rolsuper AND NOT rolbypassrls AND NOT rolcanlogin FROM pg_roles WHERE rolname = 'chatkit_owner'),
                  'chatkit_owner: no superuser, no BYPASSRLS, no login');
SELECT sqltest.is((SELECT count(*)::int FROM pg_class
                    WHERE oid IN ('chatkit.threads'::regclass, 'chatkit.items'::regclass,
                                  'chatkit.attachments'::regclass, 'chatkit.feedback'::regclass)
                      AND relowner = 'chatkit_owner'::regrole AND relrowsecurity AND relforcerowsecurity),
                  4, 'the four user tables: owned by chatkit_owner, RLS enabled and forced');
SELECT sqltest.is((SELECT count(*)::int FROM pg_class
                    WHERE oid IN ('chatkit.documents'::regclass, 'chatkit.chunks'::regclass,
                                  'chatkit.corpus_postings'::regclass, 'chatkit.corpus_stats'::regclass)
                      AND relowner = current_user::regrole AND NOT relrowsecurity),
                  4, 'the corpus tables: shared, no RLS, owner unchanged (ingest keeps working)');
SELECT sqltest.is((SELECT count(*)::int FROM pg_proc
                    WHERE oid IN ('chatkit.op_text(text,text,jsonb)'::regprocedure,
                                  'chatkit.op_bytes(text,text,jsonb,bytea)'::regprocedure)
                      AND prosecdef AND proowner = 'chatkit_owner'::regrole
                      AND 'search_path=chatkit, pg_temp' = ANY (proconfig)),
                  2, 'dispatchers: SECURITY DEFINER, owned by chatkit_owner, fixed search_path');
SELECT sqltest.ok(NOT EXISTS (SELECT 1 FROM pg_proc p, aclexplode(p.proacl) x
                               WHERE p.oid IN ('chatkit.op_text(text,text,jsonb)'::regprocedure,
                                               'chatkit.op_bytes(text,text,jsonb,bytea)'::regprocedure)
                                 AND x.grantee = 0 AND x.privilege_type = 'EXECUTE')
                  AND (SELECT proacl IS NOT NULL FROM pg_proc WHERE oid = 'chatkit.op_text(text,text,jsonb)'::regprocedure),
                  'PUBLIC may not execute the dispatchers');

-- ---------------------------------------------------------------------------
-- Direct statements without a user filter, as chatkit_owner.
-- ---------------------------------------------------------------------------
SELECT sqltest.is(sqltest.as_owner('u_b', 'SELECT count(*) FROM chatkit.items')::int, 2, 'as u_b: count(*) of items sees only u_b''s 2');
SELECT sqltest.is(sqltest.as_owner('u_a', 'SELECT count(*) FROM chatkit.items')::int, 3, 'as u_a: count(*) of items sees only u_a''s 3');
SELECT sqltest.is(sqltest.as_owner('u_b', 'SELECT count(*) FROM chatkit.threads')::int, 1, 'as u_b: one thread');
SELECT sqltest.is(sqltest.as_owner('u_b', 'SELECT count(*) FROM chatkit.attachments WHERE id = ''atc_a''')::int, 0, 'as u_b: u_a''s attachment invisible');
SELECT sqltest.is(sqltest.as_owner('u_b', 'SELECT count(*) FROM chatkit.feedback')::int, 0, 'as u_b: u_a''s feedback invisible');
SELECT sqltest.is(sqltest.as_owner('u_a', 'SELECT count(*) FROM chatkit.feedback')::int, 1, 'as u_a: own feedback visible');
SELECT sqltest.is(sqltest.as_owner('', 'SELECT count(*) FROM chatkit.items')::int, 0, 'no user set: nothing visible');
SELECT sqltest.is(sqltest.as_owner('u_b', 'SELECT count(*) FROM chatkit.items i JOIN chatkit.threads t ON t.id = i.thread_id WHERE t.id = ''thr_a''')::int,
                  0, 'as u_b: a join on u_a''s thread id finds nothing');
SELECT sqltest.is((SELECT sqltest.all_items_count() FROM (SELECT set_config('chatkit.user_id', 'u_b', false)) s)::int, 2,
                  'test-only SECURITY DEFINER function without a user filter: u_b''s rows only');
SELECT set_config('chatkit.user_id', '', false);
SELECT sqltest.is(sqltest.all_items_count()::int, 0, 'same function with no user set: nothing');

SELECT sqltest.is(sqltest.as_owner('u_b', 'WITH u AS (UPDATE chatkit.threads SET title = ''x'' WHERE id = ''thr_a'' RETURNING 1) SELECT count(*) FROM u')::int,
                  0, 'as u_b: UPDATE of u_a''s thread changes no row');
SELECT sqltest.is(sqltest.as_owner('u_b', 'WITH d AS (DELETE FROM chatkit.items RETURNING 1) SELECT count(*) FROM d')::int,
                  2, 'as u_b: unfiltered DELETE removes only u_b''s 2 items');
SELECT sqltest.as_owner_fails('u_b', 'INSERT INTO chatkit.threads (id, user_id, created_at) VALUES (''thr_x'', ''u_a'', now()) RETURNING 1',
                              '42501', 'as u_b: INSERT of a u_a thread rejected by WITH CHECK');
SELECT sqltest.as_owner_fails('u_b', 'INSERT INTO chatkit.items (thread_id, id, user_id, created_at, type, data) VALUES (''thr_b'', ''bx'', ''u_a'', now(), ''t'', ''{}'') RETURNING 1',
                              '42501', 'as u_b: INSERT of an item with user_id u_a rejected');
SELECT sqltest.as_owner_fails('u_a', 'WITH u AS (UPDATE chatkit.attachments SET user_id = ''u_b'' WHERE id = ''atc_a'' RETURNING 1) SELECT count(*) FROM u',
                              '42501', 'as u_a: handing an attachment to u_b rejected');
SELECT sqltest.ok((SELECT count(*) FROM chatkit.items WHERE user_id = 'u_a') = 3
                  AND (SELECT title IS NULL FROM chatkit.threads WHERE id = 'thr_a')
                  AND NOT EXISTS (SELECT 1 FROM chatkit.threads WHERE id = 'thr_x'),
                  'u_a''s rows untouched by all of the above');
SELECT sqltest.op('item.add', 'u_b', jsonb_build_object('thread_id', 'thr_b', 'item', sqltest.item('thr_b', v.id, v.ts, 'assistant_message')))
  FROM (VALUES ('b1', '2025-09-01T00:00:05Z'), ('b2', '2025-09-01T00:00:06Z')) AS v(id, ts);

-- ---------------------------------------------------------------------------
-- Ops that behave the same under RLS (ids of other users still collide).
-- ---------------------------------------------------------------------------
SELECT sqltest.op_fails('thread.save', 'u_b', jsonb_build_object('thread', sqltest.thread('thr_a', '2025-09-01T00:00:00Z') || '{"title":"mine"}'),
                        'P0002', 'thread.save over u_a''s thread by u_b -> P0002', '^thread thr_a not found$');
SELECT sqltest.op_fails('turn.create', 'u_b', jsonb_build_object('thread', sqltest.thread('thr_a', '2025-09-01T00:00:00Z'),
                                                                 'item', sqltest.item('thr_a', 'm1', '2025-09-01T00:00:00Z', 'user_message')),
                        '55000', 'turn.create with u_a''s thread id -> 55000 (id exists)');
SELECT sqltest.op_fails('attachments.create', 'u_b', '{"id":"atc_a","name":"a","size":1,"mime_type":"text/plain","type":"file"}',
                        '55000', 'attachments.create with u_a''s id -> 55000');

-- ---------------------------------------------------------------------------
-- The setting: chatkit.user_id during an op, and its scope.
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION chatkit.op_thread_load(p_user text, p jsonb) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('user', current_setting('chatkit.user_id'), 'role', current_user,
                              'search_path', current_setting('search_path'))
$$;
SELECT sqltest.is(sqltest.op('thread.load', 'u_b', '{}'), '{"user":"u_b","role":"chatkit_owner","search_path":"chatkit, pg_temp"}',
                  'inside an op: chatkit.user_id = the op''s user, role chatkit_owner, fixed search_path');
BEGIN;
SELECT set_config('chatkit.user_id', 'outer', true);
SELECT sqltest.op('thread.load', 'u_b', '{}');
SELECT sqltest.is_text(current_setting('chatkit.user_id'), 'outer', 'after an op the caller''s chatkit.user_id is back');
COMMIT;

-- ---------------------------------------------------------------------------
-- Real ops replaced by versions that forgot their user filter, reached
-- through the real dispatchers: nothing of u_a's leaks to u_b.
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION chatkit.op_context_load(p_user text, p jsonb) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('items', coalesce(jsonb_agg(i.id ORDER BY i.id), '[]'))
      FROM chatkit.items i WHERE i.thread_id = p ->> 'thread_id'
$$;
SELECT sqltest.is(sqltest.op('context.load', 'u_b', '{"thread_id":"thr_a"}'), '{"items":[]}', 'filterless context.load: u_b gets none of u_a''s items');
SELECT sqltest.is(sqltest.op('context.load', 'u_a', '{"thread_id":"thr_a"}'), '{"items":["a1","a2","a3"]}', 'filterless context.load: u_a still gets its own');

CREATE OR REPLACE FUNCTION chatkit.op_thread_load(p_user text, p jsonb) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('data', coalesce(jsonb_agg(t.id ORDER BY t.id), '[]')) FROM chatkit.threads t
$$;
SELECT sqltest.is(sqltest.op('thread.load', 'u_b', '{}'), '{"data":["thr_b"]}', 'filterless thread.load: only u_b''s thread');

CREATE OR REPLACE FUNCTION chatkit.op_attachments_download(p_user text, p jsonb, OUT o_meta jsonb, OUT o_bytes bytea)
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('name', a.name), a.data FROM chatkit.attachments a WHERE a.id = p ->> 'attachment_id'
$$;
SELECT sqltest.ok((SELECT result IS NULL AND data IS NULL FROM chatkit.op_bytes('attachments.download', 'u_b', '{"attachment_id":"atc_a"}', NULL)),
                  'filterless attachments.download (op_bytes): u_b gets neither meta nor bytes of u_a''s file');

CREATE TEMP TABLE fp AS SELECT sqltest.fingerprint() AS f;
CREATE OR REPLACE FUNCTION chatkit.op_threads_update(p_user text, p jsonb) RETURNS jsonb
LANGUAGE sql AS $$
    WITH u AS (UPDATE chatkit.threads SET title = p ->> 'title' WHERE id = p ->> 'thread_id' RETURNING 1)
    SELECT jsonb_build_object('updated', count(*)) FROM u
$$;
SELECT sqltest.is(sqltest.op('threads.update', 'u_b', '{"thread_id":"thr_a","title":"pwned"}'), '{"updated":0}',
                  'filterless threads.update: u_a''s thread not updated');
CREATE OR REPLACE FUNCTION chatkit.op_threads_delete(p_user text, p jsonb) RETURNS jsonb
LANGUAGE sql AS $$
    WITH d AS (DELETE FROM chatkit.threads WHERE id = p ->> 'thread_id' RETURNING 1)
    SELECT jsonb_build_object('deleted', count(*)) FROM d
$$;
SELECT sqltest.is(sqltest.op('threads.delete', 'u_b', '{"thread_id":"thr_a"}'), '{"deleted":0}',
                  'filterless threads.delete: u_a''s thread not deleted');
CREATE OR REPLACE FUNCTION chatkit.op_item_add(p_user text, p jsonb) RETURNS jsonb
LANGUAGE sql AS $$
    INSERT INTO chatkit.items (thread_id, id, user_id, created_at, type, data)
    VALUES (p ->> 'thread_id', 'forged', p ->> 'as_user', now(), 'assistant_message', '{}')
    RETURNING '{}'::jsonb
$$;
SELECT sqltest.op_fails('item.add', 'u_b', '{"thread_id":"thr_a","as_user":"u_a"}', '42501',
                        'op writing a row with another user_id: rejected by WITH CHECK');
SELECT sqltest.ok(sqltest.fingerprint() = (SELECT f FROM fp), 'the filterless writes changed nothing');
