-- test_attachments.sql - attachments.create/delete, the byte ops
-- (attachments.upload, attachments.create_direct, attachments.download via
-- chatkit.op_bytes) with their limits and ownership, attachments.load.

-- attachments.create: wire shape without metadata, preview_url only on images.
SELECT sqltest.is(sqltest.op('attachments.create', 'u1', '{"id":"atc_f69b41ba","name":"a.png","size":5,"mime_type":"image/png","type":"image","preview_url":"https://files.example.com/atc_f69b41ba/preview","upload_descriptor":{"url":"https://files.example.com/atc_f69b41ba/upload","method":"PUT","headers":{"X-A":"b"}},"metadata":{"k":"secret"}}'),
    '{"id":"atc_f69b41ba","name":"a.png","mime_type":"image/png","upload_descriptor":{"url":"https://files.example.com/atc_f69b41ba/upload","method":"PUT","headers":{"X-A":"b"}},"type":"image","preview_url":"https://files.example.com/atc_f69b41ba/preview"}',
    'attachments.create returns the spec example shape');
SELECT sqltest.is(sqltest.op('attachments.create', 'u1', '{"id":"atc_file","name":"a.txt","size":4,"mime_type":"text/plain","type":"file","preview_url":"https://x.example.com/p","upload_descriptor":null}'),
    '{"id":"atc_file","name":"a.txt","mime_type":"text/plain","type":"file"}', 'file attachment: no preview_url, null descriptor omitted');
SELECT sqltest.op_fails('attachments.create', 'u2', '{"id":"atc_file","name":"a.txt","size":4,"mime_type":"text/plain","type":"file"}', '55000', 'existing id -> 55000');
SELECT sqltest.op_fails('attachments.create', 'u1', '{"id":"atc_x","name":"a","size":-1,"mime_type":"text/plain","type":"file"}', '22023', 'negative size -> 22023');
SELECT sqltest.op_fails('attachments.create', 'u1', '{"id":"atc_x","name":"a","size":1.5,"mime_type":"text/plain","type":"file"}', '22023', 'fractional size -> 22023');
SELECT sqltest.op_fails('attachments.create', 'u1', '{"id":"atc_x","name":"a","size":1,"mime_type":"text/plain","type":"video"}', '22023', 'bad type -> 22023');
SELECT sqltest.op_fails('attachments.create', 'u1', '{"id":"atc_x","name":"a","size":1,"mime_type":"image/png","type":"image"}', '22023', 'image without preview_url -> 22023');
SELECT sqltest.op_fails('attachments.create', 'u1', '{"id":"atc_x","size":1,"mime_type":"text/plain","type":"file"}', '22023', 'missing name -> 22023');

-- Not uploaded yet: download refused.
SELECT sqltest.bytes_fails('attachments.download', 'u1', '{"attachment_id":"atc_file"}', NULL, 'P0002', 'download before upload -> P0002');

-- upload: owner only, limits, then the descriptor is cleared.
CREATE TEMP TABLE fp AS SELECT sqltest.fingerprint() AS f;
SELECT sqltest.bytes_fails('attachments.upload', 'u2', '{"attachment_id":"atc_f69b41ba","max_size":100}', '\x0102'::bytea, 'P0002', 'upload by another user -> P0002');
SELECT sqltest.bytes_fails('attachments.upload', 'u1', '{"attachment_id":"atc_f69b41ba","max_size":3}', '\x01020304'::bytea, '54000', 'upload over max_size -> 54000');
SELECT sqltest.bytes_fails('attachments.upload', 'u1', '{"attachment_id":"atc_f69b41ba","max_size":100}', '\x010203040506'::bytea, '54000', 'upload over the declared size -> 54000');
SELECT sqltest.bytes_fails('attachments.upload', 'u1', '{"attachment_id":"atc_none","max_size":100}', '\x01'::bytea, 'P0002', 'upload of an unknown attachment -> P0002');
SELECT sqltest.ok(sqltest.fingerprint() = (SELECT f FROM fp), 'refused uploads changed nothing');
SELECT sqltest.is((SELECT result FROM chatkit.op_bytes('attachments.upload', 'u1', '{"attachment_id":"atc_f69b41ba","max_size":100}', '\x0102030405'::bytea)),
    '{"id":"atc_f69b41ba","name":"a.png","mime_type":"image/png","type":"image","preview_url":"https://files.example.com/atc_f69b41ba/preview"}',
    'upload returns the Attachment without upload_descriptor');
SELECT sqltest.ok((SELECT data IS NULL FROM chatkit.op_bytes('attachments.upload', 'u1', '{"attachment_id":"atc_file"}', '\x61626364'::bytea)),
                  'upload exactly at the declared size, no bytes returned');
SELECT sqltest.bytes_fails('attachments.upload', 'u1', '{"attachment_id":"atc_file","max_size":100}', '\x61'::bytea, '55000', 'second upload -> 55000');

-- download: owner only, meta + bytes.
SELECT sqltest.is((SELECT to_jsonb(d) FROM chatkit.op_bytes('attachments.download', 'u1', '{"attachment_id":"atc_f69b41ba"}', NULL) d),
    '{"result":{"mime_type":"image/png","name":"a.png","size":5},"data":"\\x0102030405"}', 'download returns meta and bytes');
SELECT sqltest.bytes_fails('attachments.download', 'u2', '{"attachment_id":"atc_f69b41ba"}', NULL, 'P0002', 'download by another user -> P0002');
SELECT sqltest.bytes_fails('attachments.nope', 'u1', '{}', NULL, '22023', 'unknown byte op -> 22023');
SELECT sqltest.op_fails('attachments.upload', 'u1', '{"attachment_id":"atc_file"}', '22023', 'byte op through chatkit.op_text -> 22023');

-- create_direct.
SELECT sqltest.is((SELECT result FROM chatkit.op_bytes('attachments.create_direct', 'u1', '{"id":"atc_d","name":"d.txt","mime_type":"text/plain","type":"file","max_size":10}', '\x68656c6c6f'::bytea)),
    '{"id":"atc_d","name":"d.txt","mime_type":"text/plain","type":"file"}', 'create_direct returns the Attachment');
SELECT sqltest.is((SELECT result FROM chatkit.op_bytes('attachments.download', 'u1', '{"attachment_id":"atc_d"}', NULL)),
    '{"mime_type":"text/plain","name":"d.txt","size":5}', 'create_direct stored the bytes');
SELECT sqltest.bytes_fails('attachments.create_direct', 'u1', '{"id":"atc_d2","name":"d.txt","mime_type":"text/plain","type":"file","max_size":4}', '\x68656c6c6f'::bytea, '54000', 'create_direct over max_size -> 54000');
SELECT sqltest.ok(NOT EXISTS (SELECT 1 FROM chatkit.attachments WHERE id = 'atc_d2'), 'refused create_direct stored nothing');

-- attachments.load: own only, in order, base64 without line breaks.
SELECT sqltest.op_fails('attachments.create', 'u1', '{"id":"atc_big","name":"b","size":200,"mime_type":"text/plain","type":"file","upload_descriptor":"x"}', '22023', 'non-object upload_descriptor -> 22023');
SELECT sqltest.op('attachments.create', 'u1', '{"id":"atc_big","name":"b","size":200,"mime_type":"text/plain","type":"file"}');
SELECT chatkit.op_bytes('attachments.upload', 'u1', '{"attachment_id":"atc_big"}', convert_to(repeat('x', 200), 'UTF8'));
SELECT sqltest.op('attachments.create', 'u2', '{"id":"atc_b","name":"b","size":1,"mime_type":"text/plain","type":"file"}');
CREATE TEMP TABLE l AS SELECT sqltest.op('attachments.load', 'u1', '{"attachment_ids":["atc_big","atc_b","atc_d","atc_missing"]}') AS r;
SELECT sqltest.is((SELECT jsonb_agg(x -> 'attachment' -> 'id') FROM l, jsonb_array_elements(r -> 'attachments') x), '["atc_big","atc_d"]',
                  'attachments.load: own attachments only, in the order asked');
SELECT sqltest.is_text((SELECT convert_from(decode(r -> 'attachments' -> 0 ->> 'data_base64', 'base64'), 'UTF8') FROM l), repeat('x', 200), 'data_base64 decodes to the bytes');
SELECT sqltest.ok((SELECT strpos(r -> 'attachments' -> 0 ->> 'data_base64', E'\n') = 0 FROM l), 'data_base64 has no line breaks');
SELECT sqltest.ok((SELECT NOT (r::text LIKE '%secret%') FROM (SELECT sqltest.op('attachments.load', 'u1', '{"attachment_ids":["atc_f69b41ba"]}') AS r) s),
                  'attachments.load never exposes metadata');

-- attachments.delete.
SELECT sqltest.op_fails('attachments.delete', 'u2', '{"attachment_id":"atc_d"}', 'P0002', 'delete by another user -> P0002');
SELECT sqltest.is(sqltest.op('attachments.delete', 'u1', '{"attachment_id":"atc_d"}'), '{}', 'attachments.delete -> {}');
SELECT sqltest.ok(NOT EXISTS (SELECT 1 FROM chatkit.attachments WHERE id = 'atc_d'), 'row and bytes deleted');
SELECT sqltest.bytes_fails('attachments.download', 'u1', '{"attachment_id":"atc_d"}', NULL, 'P0002', 'download after delete -> P0002');
