-- ops.sql - the audit log and the usage summaries (tables: schema/060_ops.sql).
--   audit.add   {request_id?, action, object_ids?, detail?}      -> {}
--   usage.add   {request_id?, thread_id?, assistant, model, outcome,
--                first_token_ms?, duration_ms, prompt_tokens, completion_tokens, tool_calls,
--                turn_key?} -> {}   (one row per turn_key: a repeat writes nothing)
--   usage.stats {since_seconds}                                   -> {"since_seconds", "groups": [...]}
--   chatkit.ops_audit_list({user?, action?, since_seconds, limit}) (the CLI) -> [rows]
--   chatkit.ops_prune(days) (the admin thread)                    -> rows deleted

-- plpgsql, not sql, like usage_insert below: a LANGUAGE sql function that
-- cannot be inlined is parsed and planned again on every call, a plpgsql
-- one keeps its plan for the connection (turn.create writes this row on
-- every new thread).
CREATE OR REPLACE FUNCTION chatkit.ops_audit_add(p_user text, p_params jsonb) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO chatkit.audit_log (user_id, request_id, action, object_ids, detail)
    VALUES (coalesce(p_user, ''), p_params->>'request_id', p_params->>'action',
            CASE WHEN jsonb_typeof(p_params->'object_ids') = 'array' THEN p_params->'object_ids' ELSE '[]' END,
            left(p_params->>'detail', 500));
    RETURN '{}';
END $$;

-- One turn's usage row; false when a row with the same turn_key exists
-- already (schema/061_turn_usage_key.sql): that turn's row was written
-- before, by a transaction that committed although its reply was lost.
CREATE OR REPLACE FUNCTION chatkit.usage_insert(p_user text, p_params jsonb) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO chatkit.turn_usage (request_id, user_id, thread_id, assistant, model, outcome, first_token_ms,
                                    duration_ms, prompt_tokens, completion_tokens, tool_calls, turn_key)
    VALUES (p_params->>'request_id', coalesce(p_user, ''), p_params->>'thread_id',
            coalesce(p_params->>'assistant', 'default'), coalesce(p_params->>'model', 'none'),
            coalesce(p_params->>'outcome', 'ok'), (p_params->>'first_token_ms')::integer,
            coalesce((p_params->>'duration_ms')::integer, 0), coalesce((p_params->>'prompt_tokens')::integer, 0),
            coalesce((p_params->>'completion_tokens')::integer, 0), coalesce((p_params->>'tool_calls')::integer, 0),
            p_params->>'turn_key')
    ON CONFLICT (turn_key) DO NOTHING;
    RETURN FOUND;
END $$;

-- usage.add: the row once per turn_key (a repeat is a no-op), always {}.
CREATE OR REPLACE FUNCTION chatkit.ops_usage_add(p_user text, p_params jsonb) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM chatkit.usage_insert(p_user, p_params);
    RETURN '{}';
END $$;

-- Per assistant and model over the last `since_seconds`: turns, success rate,
-- p50/p95 of first-token and turn latency (ms, one decimal), tokens in and out, tool calls.
CREATE OR REPLACE FUNCTION chatkit.ops_usage_stats(p_params jsonb) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'since_seconds', (p_params->>'since_seconds')::bigint,
        'groups', coalesce(json_agg(g ORDER BY g.assistant, g.model), '[]'::json))::text
    FROM (
        SELECT assistant, model,
               count(*)                                                          AS turns,
               round(avg((outcome = 'ok')::int)::numeric, 4)::float8             AS success_rate,
               round(percentile_cont(0.5) WITHIN GROUP (ORDER BY first_token_ms)::numeric, 1)::float8 AS first_token_p50_ms,
               round(percentile_cont(0.95) WITHIN GROUP (ORDER BY first_token_ms)::numeric, 1)::float8 AS first_token_p95_ms,
               round(percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms)::numeric, 1)::float8 AS turn_p50_ms,
               round(percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms)::numeric, 1)::float8 AS turn_p95_ms,
               sum(prompt_tokens)::bigint                                        AS tokens_in,
               sum(completion_tokens)::bigint                                    AS tokens_out,
               sum(tool_calls)::bigint                                           AS tool_calls
        FROM chatkit.turn_usage
        WHERE at >= now() - make_interval(secs => (p_params->>'since_seconds')::float8)
        GROUP BY assistant, model
    ) g
$$;

CREATE OR REPLACE FUNCTION chatkit.ops_audit_list(p_params jsonb) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce(json_agg(r ORDER BY r.id), '[]'::json)::text
    FROM (
        SELECT id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at,
               user_id, request_id, action, object_ids, detail
        FROM chatkit.audit_log
        WHERE at >= now() - make_interval(secs => (p_params->>'since_seconds')::float8)
          AND (p_params->>'user' IS NULL OR user_id = p_params->>'user')
          AND (p_params->>'action' IS NULL OR action = p_params->>'action')
        ORDER BY at DESC, id DESC
        LIMIT coalesce((p_params->>'limit')::integer, 1000)
    ) r
$$;

CREATE OR REPLACE FUNCTION chatkit.ops_prune(p_days integer) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    m bigint;
BEGIN
    DELETE FROM chatkit.audit_log WHERE at < now() - make_interval(days => p_days);
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM chatkit.turn_usage WHERE at < now() - make_interval(days => p_days);
    GET DIAGNOSTICS m = ROW_COUNT;
    RETURN n + m;
END
$$;
