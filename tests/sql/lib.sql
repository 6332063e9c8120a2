-- tests/sql/lib.sql - assertion helpers for the SQL tests (schema sqltest).
-- Loaded by tests/sql/run.sh into the template database after the
-- migrations; each assertion appends one row to sqltest.results.

CREATE SCHEMA sqltest;
CREATE TABLE sqltest.results (n serial PRIMARY KEY, name text NOT NULL, ok boolean NOT NULL, detail text);

-- Records one assertion.
CREATE FUNCTION sqltest.record(p_ok boolean, p_name text, p_detail text) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO sqltest.results (name, ok, detail)
    VALUES (p_name, coalesce(p_ok, false), CASE WHEN NOT coalesce(p_ok, false) THEN p_detail END)
$$;

-- Passes when p_cond is true.
CREATE FUNCTION sqltest.ok(p_cond boolean, p_name text) RETURNS void
LANGUAGE sql AS $$ SELECT sqltest.record(p_cond, p_name, 'condition is ' || coalesce(p_cond::text, 'null')) $$;

-- Passes when two JSON values are equal.
CREATE FUNCTION sqltest.is(p_got jsonb, p_want jsonb, p_name text) RETURNS void
LANGUAGE sql AS $$
    SELECT sqltest.record(p_got IS NOT DISTINCT FROM p_want, p_name,
                          format('got  %s' || E'\n    ' || 'want %s', p_got, p_want))
$$;

-- Passes when two texts are equal.
CREATE FUNCTION sqltest.is_text(p_got text, p_want text, p_name text) RETURNS void
LANGUAGE sql AS $$
    SELECT sqltest.record(p_got IS NOT DISTINCT FROM p_want, p_name, format('got %L, want %L', p_got, p_want))
$$;

-- The dispatcher, answering jsonb: chatkit.op_text, and for the hot reads
-- (which the server answers in C) their oracle readref.op (reads_ref.sql).
CREATE FUNCTION sqltest.op(p_op text, p_user text, p_params jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT readref.op(p_op, p_user, p_params)::jsonb $$;

-- Passes when the op raises SQLSTATE p_state (optionally with a message
-- matching the regex p_msg); returns the error message.
CREATE FUNCTION sqltest.op_fails(p_op text, p_user text, p_params jsonb, p_state text, p_name text,
                                 p_msg text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
    v_msg text;
BEGIN
    BEGIN
        PERFORM readref.op(p_op, p_user, p_params);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
    END;
    PERFORM sqltest.record(v_state = p_state AND (p_msg IS NULL OR v_msg ~ p_msg), p_name,
                           format('got SQLSTATE %s (%s), want %s %s', coalesce(v_state, 'none'), v_msg, p_state,
                                  coalesce('matching ' || p_msg, '')));
    RETURN v_msg;
END $$;

-- Same for chatkit.op_bytes.
CREATE FUNCTION sqltest.bytes_fails(p_op text, p_user text, p_params jsonb, p_data bytea, p_state text,
                                    p_name text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
    v_msg text;
BEGIN
    BEGIN
        PERFORM * FROM chatkit.op_bytes(p_op, p_user, p_params, p_data);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
    END;
    PERFORM sqltest.record(v_state = p_state, p_name,
                           format('got SQLSTATE %s (%s), want %s', coalesce(v_state, 'none'), v_msg, p_state));
END $$;

-- A fingerprint of every row of the store, to check that a failing or
-- foreign call changed nothing.
CREATE FUNCTION sqltest.fingerprint() RETURNS text
LANGUAGE sql AS $$
    SELECT md5(concat_ws('|',
        (SELECT string_agg(t::text, ',' ORDER BY t.id) FROM chatkit.threads t),
        (SELECT string_agg(i::text, ',' ORDER BY i.thread_id, i.id) FROM chatkit.items i),
        (SELECT string_agg(a::text, ',' ORDER BY a.id) FROM chatkit.attachments a),
        (SELECT string_agg(f::text, ',' ORDER BY f.thread_id, f.item_id) FROM chatkit.feedback f)))
$$;

-- A minimal thread (ThreadMetadata wire) and items of any type, for set-up.
CREATE FUNCTION sqltest.thread(p_id text, p_ts text) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT jsonb_build_object('id', p_id, 'created_at', p_ts, 'status', '{"type":"active"}'::jsonb, 'metadata', '{}'::jsonb)
$$;
CREATE FUNCTION sqltest.item(p_thread text, p_id text, p_ts text, p_type text, p_extra jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('id', p_id, 'thread_id', p_thread, 'created_at', p_ts, 'type', p_type) || p_extra
$$;

-- Passes when two integers are equal.
CREATE FUNCTION sqltest.is(p_got int, p_want int, p_name text) RETURNS void
LANGUAGE sql AS $$
    SELECT sqltest.record(p_got IS NOT DISTINCT FROM p_want, p_name, format('got %s, want %s', p_got, p_want))
$$;
