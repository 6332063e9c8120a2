"""test_attachments.py - attachments.create (two-phase upload, step 1), the
upload to the returned upload_descriptor (raw PUT body and multipart POST
with a `file` part), fetching preview_url, the direct upload endpoint
POST /attachments/upload, and attachments.delete (docs/protocol.md
"attachments.create", "attachments.delete", "Attachments")."""

import base64
import urllib.parse

from lib import (PNG, assert_error_body, assert_no_nulls, check, multipart, request, validate)



def _create(c, name, mime, size):
    att = c.call("attachments.create", {"name": name, "size": size, "mime_type": mime})
    check(att["name"] == name and att["mime_type"] == mime, "name/mime not echoed: %r" % att)
    check("metadata" not in att and "thread_id" not in att, "attachment leaks metadata/thread_id: %r" % att)
    d = att.get("upload_descriptor")
    check(isinstance(d, dict) and d.get("method") in ("PUT", "POST") and isinstance(d.get("headers"), dict),
          "attachments.create must return an upload_descriptor: %r" % att)
    url = urllib.parse.urlsplit(d["url"])
    check(url.scheme in ("http", "https") and url.netloc, "upload url must be absolute: %r" % d["url"])
    return att


def _upload(c, att, data, style):
    """Uploads `data` to the descriptor's URL, as a raw PUT or a multipart
    POST; returns the Response (no identity header: the URL authorizes)."""
    d = att["upload_descriptor"]
    headers = dict(d["headers"])
    if style == "put":
        headers["Content-Type"] = att["mime_type"]
        return request("PUT", d["url"], body=data, headers=headers, http=c.http, cafile=c.cafile)
    body, ctype = multipart({"file": (att["name"], att["mime_type"], data)})
    headers["Content-Type"] = ctype
    return request("POST", d["url"], body=body, headers=headers, http=c.http, cafile=c.cafile)


def _uploaded(resp, att):
    check(resp.status == 200, "upload: %r" % resp)
    got = resp.json()
    validate("Attachment", got)
    assert_no_nulls(got)
    check(got["id"] == att["id"] and got["name"] == att["name"], "upload answered another attachment: %r" % got)
    check("upload_descriptor" not in got, "upload_descriptor must be cleared after the upload: %r" % got)
    check("metadata" not in got, "attachment metadata leaked: %r" % got)
    return got


def _fetch(c, url):
    """The bytes behind a preview URL (data: URLs decoded locally)."""
    if url.startswith("data:"):
        return 200, base64.b64decode(url.split(",", 1)[1])
    resp = request("GET", url, headers=c.headers(), http=c.http, cafile=c.cafile)
    return resp.status, resp.body


def test_create_image_and_file_shapes(env, http):
    c = env.client(http)
    img = _create(c, "cat.png", "image/png", len(PNG))
    check(img["type"] == "image" and img.get("preview_url"), "image attachment needs type image + preview_url: %r" % img)
    doc = _create(c, "notes.txt", "text/plain", 11)
    check(doc["type"] == "file" and "preview_url" not in doc, "file attachment shape: %r" % doc)
    check(img["id"] != doc["id"], "ids must differ")
    row = env.pg.psql("SELECT user_id || ' ' || size FROM chatkit.attachments WHERE id = '%s';" % img["id"])
    check(row == "%s %d" % (c.user, len(PNG)), "attachments.create must persist the record: %r" % row)


def test_two_phase_put_raw_then_preview(env, http):
    c = env.client(http)
    att = _create(c, "cat.png", "image/png", len(PNG))
    got = _uploaded(_upload(c, att, PNG, "put"), att)
    check(got["type"] == "image" and got.get("preview_url"), "uploaded image keeps a preview_url: %r" % got)
    status, data = _fetch(c, got["preview_url"])
    check(status == 200 and data == PNG, "preview_url must serve the uploaded bytes: HTTP %s, %d bytes" % (status, len(data)))


def test_two_phase_post_multipart(env, http):
    c = env.client(http)
    text = b"%PDF-1.4\n\x00\xff\xfe binary bytes\r\n--not-a-boundary\r\n"
    att = _create(c, "report.pdf", "application/pdf", len(text))
    _uploaded(_upload(c, att, text, "post"), att)
    stored = env.pg.psql("SELECT encode(data, 'hex') FROM chatkit.attachments WHERE id = '%s';" % att["id"])
    check(stored == text.hex(), "stored bytes differ from the multipart file part: %r" % stored)


def test_disallowed_mime_type_is_rejected(env, http):
    c = env.client(http)
    resp = c.post_chatkit({"type": "attachments.create",
                           "params": {"name": "x.exe", "size": 10, "mime_type": "application/x-msdownload"}})
    err = assert_error_body(resp)
    check(resp.status in (400, 415), "disallowed MIME (attachments.create): HTTP %s %r" % (resp.status, err))
    body, ctype = multipart({"file": ("x.exe", "application/x-msdownload", b"MZ")})
    resp = c.raw("POST", "/attachments/upload", body=body, headers={"Content-Type": ctype})
    err = assert_error_body(resp)
    check(resp.status in (400, 415), "disallowed MIME (direct upload): HTTP %s %r" % (resp.status, err))


def test_upload_larger_than_declared_is_413(env, http):
    c = env.client(http)
    att = _create(c, "small.txt", "text/plain", 4)
    resp = _upload(c, att, b"x" * 4096, "put")
    assert_error_body(resp, 413)
    stored = env.pg.psql("SELECT data IS NULL FROM chatkit.attachments WHERE id = '%s';" % att["id"])
    check(stored == "t", "oversized upload must not be stored")


def test_create_bad_size(env, http):
    c = env.client(http)
    c.call("attachments.create", {"name": "a", "size": -1, "mime_type": "text/plain"}, expect=400)
    resp = c.post_chatkit({"type": "attachments.create",
                           "params": {"name": "a", "size": 1 << 50, "mime_type": "text/plain"}})
    err = assert_error_body(resp)
    check(resp.status in (400, 413), "absurd size must be 400/413, got %s %r" % (resp.status, err))


def test_direct_upload(env, http):
    c = env.client(http)
    body, ctype = multipart({"file": ("dot.png", "image/png", PNG)})
    resp = c.raw("POST", "/attachments/upload", body=body, headers={"Content-Type": ctype})
    check(resp.status == 200 and resp.content_type().startswith("application/json"), "direct upload: %r" % resp)
    att = resp.json()
    validate("Attachment", att)
    assert_no_nulls(att)
    check(att["name"] == "dot.png" and att["mime_type"] == "image/png" and att["type"] == "image",
          "direct upload attachment: %r" % att)
    check("upload_descriptor" not in att and "metadata" not in att, "direct upload shape: %r" % att)
    status, data = _fetch(c, att["preview_url"])
    check(status == 200 and data == PNG, "preview of a direct upload: HTTP %s" % status)
    body, ctype = multipart({"file": ("a.txt", "text/plain", b"plain text")})
    att = c.raw("POST", "/attachments/upload", body=body, headers={"Content-Type": ctype}).json()
    check(att.get("type") == "file" and "preview_url" not in att, "text direct upload must be a file: %r" % att)


def test_direct_upload_without_file_part_is_400(env, http):
    c = env.client(http)
    body, ctype = multipart({"other": ("x.txt", "text/plain", b"x")})
    assert_error_body(c.raw("POST", "/attachments/upload", body=body, headers={"Content-Type": ctype}), 400)
    resp = c.raw("POST", "/attachments/upload", body=b"raw", headers={"Content-Type": "text/plain"})
    assert_error_body(resp)
    check(resp.status in (400, 415), "a non-multipart direct upload must be 400/415, got %s" % resp.status)


def test_delete(env, http):
    c = env.client(http)
    att = _create(c, "cat.png", "image/png", len(PNG))
    got = _uploaded(_upload(c, att, PNG, "put"), att)
    check(c.call("attachments.delete", {"attachment_id": att["id"]}) == {}, "attachments.delete must answer {}")
    left = env.pg.psql("SELECT count(*) FROM chatkit.attachments WHERE id = '%s';" % att["id"])
    check(left == "0", "attachment row survives delete")
    if not got["preview_url"].startswith("data:"):
        status, _ = _fetch(c, got["preview_url"])
        check(status == 404, "preview of a deleted attachment must be 404, got %s" % status)
    c.call("attachments.delete", {"attachment_id": att["id"]}, expect=404)
