-- common.sql - helpers every op shares: client-safe errors, parameter
-- readers, timestamps, the wire shapes of threads and attachments, and the
-- user-scoped row lookups.
--
-- Conventions kept by every function of sql/functions/:
--   * every lookup is scoped by user_id; another user's row is "not found";
--   * errors are raised with the SQLSTATEs of src/store/README.md (P0002 not
--     found, 22023 bad params, 55000 wrong state, 54000 too large) and a
--     message that is safe to show the client;
--   * results are the wire JSON: thread/attachment objects omit null fields,
--     thread `metadata` is {} on the wire (only a recorded "assistant" shows), attachment metadata and bytes never
--     appear, timestamps are YYYY-MM-DDTHH:MM:SS.ffffffZ (UTC);
--   * items are returned exactly as stored in items.data (C builds them);
--   * lists are keyset pages on (created_at, id): limit+1 rows are fetched to
--     know has_more, `after` is the id of the page's last element.
-- Nothing here uses search_path: every name is schema-qualified.

-- ---------------------------------------------------------------------------
-- Errors and parameters
-- ---------------------------------------------------------------------------

-- Raises "<kind> <id> not found" (P0002 -> HTTP 404).
CREATE OR REPLACE FUNCTION chatkit.raise_not_found(p_kind text, p_id text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'no_data_found',
        MESSAGE = format('%s %s not found', p_kind, left(coalesce(p_id, ''), 128));
END $$;

-- Raises a client-safe message with the given SQLSTATE (22023, 55000, 54000).
CREATE OR REPLACE FUNCTION chatkit.raise_error(p_state text, p_message text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = p_state, MESSAGE = p_message;
END $$;

-- The non-empty string params->key, else 22023.
CREATE OR REPLACE FUNCTION chatkit.param_text(p jsonb, k text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF jsonb_typeof(p -> k) = 'string' AND p ->> k <> '' THEN
        RETURN p ->> k;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
        MESSAGE = format('parameter %s must be a non-empty string', k);
END $$;

-- params->key as text when it is a string, NULL when absent or JSON null, else 22023.
CREATE OR REPLACE FUNCTION chatkit.param_opt_text(p jsonb, k text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p -> k IS NULL OR jsonb_typeof(p -> k) IN ('null', 'string') THEN
        RETURN p ->> k;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
        MESSAGE = format('parameter %s must be a string', k);
END $$;

-- params->key as a JSON array (absent or null = []), else 22023.
CREATE OR REPLACE FUNCTION chatkit.param_array(p jsonb, k text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p -> k IS NULL OR jsonb_typeof(p -> k) = 'null' THEN
        RETURN '[]'::jsonb;
    ELSIF jsonb_typeof(p -> k) = 'array' THEN
        RETURN p -> k;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
        MESSAGE = format('parameter %s must be an array', k);
END $$;

-- params->key as a JSON object, else 22023.
CREATE OR REPLACE FUNCTION chatkit.param_object(p jsonb, k text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF jsonb_typeof(p -> k) = 'object' THEN
        RETURN p -> k;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
        MESSAGE = format('parameter %s must be an object', k);
END $$;

-- A page size: params->key clamped to 1..p_max, p_default when absent, null or < 1.
CREATE OR REPLACE FUNCTION chatkit.param_limit(p jsonb, k text, p_default int, p_max int) RETURNS int
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_typeof(p -> k) = 'number' AND (p -> k)::numeric >= 1
                THEN least((p -> k)::numeric, p_max)::int
                ELSE p_default END
$$;

-- Checks the arguments every op shares: a user id and a params object.
CREATE OR REPLACE FUNCTION chatkit.check_call(p_user text, p_params jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_user IS NULL OR p_user = '' THEN
        PERFORM chatkit.raise_error('22023', 'missing user');
    ELSIF p_params IS NULL OR jsonb_typeof(p_params) <> 'object' THEN
        PERFORM chatkit.raise_error('22023', 'params must be an object');
    END IF;
END $$;


-- ---------------------------------------------------------------------------
-- Timestamps and wire shapes
-- ---------------------------------------------------------------------------

-- The wire form of a timestamp: YYYY-MM-DDTHH:MM:SS.ffffffZ in UTC.
CREATE OR REPLACE FUNCTION chatkit.ts_wire(ts timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

-- Parses an ISO-8601 date-time as C or a client sends it; a value without a
-- zone is UTC.  NULL stays NULL; anything else that is not a date-time -> 22023.
CREATE OR REPLACE FUNCTION chatkit.ts_parse(s text) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF s IS NULL THEN
        RETURN NULL;
    ELSIF s !~ '^\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d(:\d\d(\.\d{1,9})?)?([Zz]|[+-]\d\d(:?\d\d)?)?$' THEN
        PERFORM chatkit.raise_error('22023', 'created_at is not an ISO-8601 date-time');
    ELSIF right(s, 1) IN ('Z', 'z') OR strpos(substr(s, 11), '+') > 0 OR strpos(substr(s, 11), '-') > 0 THEN
        RETURN s::timestamptz; -- a zone (after the date, whose '-' end at character 8; one regex per call)
    END IF;
    RETURN s::timestamp AT TIME ZONE 'UTC';
END $$;

-- ThreadMetadata as the server side sees it: stored metadata included.
CREATE OR REPLACE FUNCTION chatkit.thread_meta(t chatkit.threads) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', t.id, 'created_at', chatkit.ts_wire(t.created_at),
                              'status', t.status, 'metadata', t.metadata)
        || CASE WHEN t.title IS NULL THEN '{}'::jsonb
                ELSE jsonb_build_object('title', t.title) END
        || CASE WHEN t.allowed_image_domains IS NULL THEN '{}'::jsonb
                ELSE jsonb_build_object('allowed_image_domains', t.allowed_image_domains) END
$$;

-- The wire Thread with the given items page: metadata {} except the
-- recorded assistant (chatkit.thread_wire_metadata, assistants.sql).
CREATE OR REPLACE FUNCTION chatkit.thread_wire(t chatkit.threads, p_items jsonb) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT chatkit.thread_meta(t)
        || jsonb_build_object('metadata', chatkit.thread_wire_metadata(t.metadata), 'items', p_items)
$$;

-- The empty page embedded in threads outside threads.get_by_id.
CREATE OR REPLACE FUNCTION chatkit.empty_page() RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT '{"data": [], "has_more": false}'::jsonb
$$;

-- The wire Attachment: private metadata and bytes never included, nulls
-- omitted, preview_url only on images.
-- (STABLE like jsonb_build_object, so that it can be inlined.)
CREATE OR REPLACE FUNCTION chatkit.attachment_wire(a chatkit.attachments) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', a.id, 'name', a.name, 'mime_type', a.mime_type, 'type', a.type)
        || CASE WHEN a.upload_descriptor IS NULL THEN '{}'::jsonb
                ELSE jsonb_build_object('upload_descriptor', a.upload_descriptor) END
        || CASE WHEN a.thread_id IS NULL THEN '{}'::jsonb
                ELSE jsonb_build_object('thread_id', a.thread_id) END
        || CASE WHEN a.type <> 'image' OR a.preview_url IS NULL THEN '{}'::jsonb
                ELSE jsonb_build_object('preview_url', a.preview_url) END
$$;


-- ---------------------------------------------------------------------------
-- User-scoped lookups
-- ---------------------------------------------------------------------------

-- The user's thread row, else P0002.
CREATE OR REPLACE FUNCTION chatkit.thread_row(p_user text, p_thread text) RETURNS chatkit.threads
LANGUAGE plpgsql STABLE AS $$
DECLARE
    t chatkit.threads;
BEGIN
    SELECT * INTO t FROM chatkit.threads WHERE id = p_thread AND user_id = p_user;
    IF NOT FOUND THEN
        PERFORM chatkit.raise_not_found('thread', p_thread);
    END IF;
    RETURN t;
END $$;

-- The item row of one of the user's threads (thread checked first), else P0002.
CREATE OR REPLACE FUNCTION chatkit.item_row(p_user text, p_thread text, p_item text) RETURNS chatkit.items
LANGUAGE plpgsql STABLE AS $$
DECLARE
    i chatkit.items;
BEGIN
    SELECT * INTO i FROM chatkit.items WHERE thread_id = p_thread AND id = p_item AND user_id = p_user;
    IF NOT FOUND THEN
        PERFORM chatkit.thread_row(p_user, p_thread);
        PERFORM chatkit.raise_not_found('item', p_item);
    END IF;
    RETURN i;
END $$;
