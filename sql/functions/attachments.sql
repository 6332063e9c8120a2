-- attachments.sql - attachment metadata and bytes: attachments.create,
-- .delete, .load (JSON ops) and .upload, .create_direct, .download (the byte
-- ops of chatkit.op_bytes), plus binding attachments to a user message.

-- ---------------------------------------------------------------------------
-- Shared
-- ---------------------------------------------------------------------------

-- Inserts a new attachment row from create-style params (shared by
-- attachments.create and attachments.create_direct); 55000 if the id exists.
CREATE OR REPLACE FUNCTION chatkit.attachment_insert(p_user text, p jsonb, p_size bigint, p_data bytea)
RETURNS chatkit.attachments
LANGUAGE plpgsql AS $$
DECLARE
    v_id text := chatkit.param_text(p, 'id');
    v_type text := chatkit.param_text(p, 'type');
    v_preview text := chatkit.param_opt_text(p, 'preview_url');
    v_desc jsonb := p -> 'upload_descriptor';
    a chatkit.attachments;
BEGIN
    IF v_type NOT IN ('file', 'image') THEN
        PERFORM chatkit.raise_error('22023', 'attachment type must be "file" or "image"');
    ELSIF v_type = 'image' AND v_preview IS NULL THEN
        PERFORM chatkit.raise_error('22023', 'an image attachment needs a preview_url');
    ELSIF v_desc IS NOT NULL AND jsonb_typeof(v_desc) NOT IN ('object', 'null') THEN
        PERFORM chatkit.raise_error('22023', 'upload_descriptor must be an object');
    END IF;
    INSERT INTO chatkit.attachments (id, user_id, name, mime_type, size, type, upload_descriptor,
                                     preview_url, metadata, data, uploaded_at)
    VALUES (v_id, p_user, chatkit.param_text(p, 'name'), chatkit.param_text(p, 'mime_type'), p_size, v_type,
            CASE WHEN p_data IS NULL THEN nullif(v_desc, 'null'::jsonb) END, v_preview,
            coalesce(nullif(p -> 'metadata', 'null'::jsonb), '{}'::jsonb),
            p_data, CASE WHEN p_data IS NOT NULL THEN now() END)
    ON CONFLICT (id) DO NOTHING
    RETURNING * INTO a;
    IF NOT FOUND THEN
        PERFORM chatkit.raise_error('55000', 'attachment id already exists');
    END IF;
    RETURN a;
END $$;

-- Sets thread_id on each of the user's attachments named in p_ids (a JSON
-- array of ids) and returns their wire objects in p_ids order.  P0002 on the
-- first unknown or foreign id (the caller's statement then writes nothing).
CREATE OR REPLACE FUNCTION chatkit.attachments_bind(p_user text, p_thread text, p_ids jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    list jsonb;
    missing text;
BEGIN
    IF jsonb_array_length(p_ids) = 0 THEN
        RETURN '[]'::jsonb; -- most messages: no statement to run
    END IF;
    WITH req AS (
        SELECT e.x, e.ord FROM jsonb_array_elements_text(p_ids) WITH ORDINALITY AS e(x, ord)
    ), upd AS (
        UPDATE chatkit.attachments a SET thread_id = p_thread
          FROM (SELECT DISTINCT req.x FROM req) r
         WHERE a.id = r.x AND a.user_id = p_user
        RETURNING a.id, chatkit.attachment_wire(a) AS wire
    )
    SELECT coalesce(jsonb_agg(upd.wire ORDER BY req.ord) FILTER (WHERE upd.id IS NOT NULL), '[]'),
           (array_agg(req.x ORDER BY req.ord) FILTER (WHERE upd.id IS NULL))[1]
      INTO list, missing
      FROM req LEFT JOIN upd ON upd.id = req.x;
    IF missing IS NOT NULL THEN
        PERFORM chatkit.raise_not_found('attachment', missing);
    END IF;
    RETURN list;
END $$;

-- Raises 54000 when p_len exceeds the optional params->max_size.
CREATE OR REPLACE FUNCTION chatkit.check_max_size(p jsonb, p_len bigint) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF jsonb_typeof(p -> 'max_size') = 'number' AND p_len > (p -> 'max_size')::numeric THEN
        PERFORM chatkit.raise_error('54000', format('the file is larger than the limit of %s bytes', p ->> 'max_size'));
    END IF;
END $$;


-- ---------------------------------------------------------------------------
-- JSON ops
-- ---------------------------------------------------------------------------

-- attachments.create: the two-phase upload's first step; returns the Attachment.
CREATE OR REPLACE FUNCTION chatkit.op_attachments_create(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    IF jsonb_typeof(p -> 'size') IS DISTINCT FROM 'number' OR (p -> 'size')::numeric < 0
       OR (p -> 'size')::numeric > 9e18 OR (p -> 'size')::numeric <> trunc((p -> 'size')::numeric) THEN
        PERFORM chatkit.raise_error('22023', 'parameter size must be a non-negative integer');
    END IF;
    RETURN chatkit.attachment_wire(chatkit.attachment_insert(p_user, p, (p -> 'size')::numeric::bigint, NULL));
END $$;

-- attachments.delete: metadata and bytes of one of the user's attachments.
CREATE OR REPLACE FUNCTION chatkit.op_attachments_delete(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_id text := chatkit.param_text(p, 'attachment_id');
BEGIN
    DELETE FROM chatkit.attachments WHERE id = v_id AND user_id = p_user;
    IF NOT FOUND THEN
        PERFORM chatkit.raise_not_found('attachment', v_id);
    END IF;
    RETURN '{}'::jsonb;
END $$;

-- attachments.load: the user's attachments with their bytes in base64 (for
-- model input), in the order asked.  Unknown or foreign ids are skipped;
-- data_base64 is absent while the bytes are not uploaded.
CREATE OR REPLACE FUNCTION chatkit.op_attachments_load(p_user text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_ids jsonb := chatkit.param_array(p, 'attachment_ids');
BEGIN
    RETURN jsonb_build_object('attachments', (
        SELECT coalesce(jsonb_agg(jsonb_build_object('attachment', chatkit.attachment_wire(a))
                                  || CASE WHEN a.data IS NULL THEN '{}'::jsonb
                                          ELSE jsonb_build_object('data_base64',
                                                   translate(encode(a.data, 'base64'), E'\n', '')) END
                                  ORDER BY e.ord), '[]')
          FROM jsonb_array_elements_text(v_ids) WITH ORDINALITY AS e(x, ord)
          JOIN chatkit.attachments a ON a.id = e.x AND a.user_id = p_user));
END $$;


-- ---------------------------------------------------------------------------
-- Byte ops
-- ---------------------------------------------------------------------------

-- attachments.upload: stores the bytes of the user's not yet uploaded
-- attachment; clears upload_descriptor.  54000 over max_size or over the
-- declared size, 55000 if already uploaded.
CREATE OR REPLACE FUNCTION chatkit.op_attachments_upload(p_user text, p jsonb, p_data bytea) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_id text := chatkit.param_text(p, 'attachment_id');
    a chatkit.attachments;
BEGIN
    SELECT * INTO a FROM chatkit.attachments WHERE id = v_id AND user_id = p_user FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM chatkit.raise_not_found('attachment', v_id);
    ELSIF a.uploaded_at IS NOT NULL THEN
        PERFORM chatkit.raise_error('55000', 'the attachment is already uploaded');
    END IF;
    PERFORM chatkit.check_max_size(p, octet_length(coalesce(p_data, '')));
    IF octet_length(coalesce(p_data, '')) > a.size THEN
        PERFORM chatkit.raise_error('54000', format('the file is larger than its declared size of %s bytes', a.size));
    END IF;
    UPDATE chatkit.attachments SET data = coalesce(p_data, ''), uploaded_at = now(), upload_descriptor = NULL
     WHERE id = v_id RETURNING * INTO a;
    RETURN chatkit.attachment_wire(a);
END $$;

-- attachments.create_direct: a new attachment with its bytes in one step
-- (no upload_descriptor; size = the byte count).
CREATE OR REPLACE FUNCTION chatkit.op_attachments_create_direct(p_user text, p jsonb, p_data bytea) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_data bytea := coalesce(p_data, '');
BEGIN
    PERFORM chatkit.check_max_size(p, octet_length(v_data));
    RETURN chatkit.attachment_wire(chatkit.attachment_insert(p_user, p, octet_length(v_data), v_data));
END $$;

-- attachments.download: {"mime_type","name","size"} and the bytes of the
-- user's uploaded attachment; P0002 if unknown, foreign or not uploaded yet.
CREATE OR REPLACE FUNCTION chatkit.op_attachments_download(p_user text, p jsonb, OUT o_meta jsonb, OUT o_bytes bytea)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_id text := chatkit.param_text(p, 'attachment_id');
BEGIN
    SELECT jsonb_build_object('mime_type', a.mime_type, 'name', a.name, 'size', octet_length(a.data)), a.data
      INTO o_meta, o_bytes
      FROM chatkit.attachments a WHERE a.id = v_id AND a.user_id = p_user AND a.uploaded_at IS NOT NULL;
    IF NOT FOUND THEN
        PERFORM chatkit.raise_not_found('attachment', v_id);
    END IF;
END $$;
