"""test_transcribe.py - input.transcribe (docs/protocol.md "input.transcribe") against
tests/acceptance/fake_openai.py: the audio reaches {OPENAI_BASE_URL}/audio/
transcriptions as multipart/form-data (`file` part with the exact bytes and
a filename whose extension comes from the media type, `model` part), the
transcript comes back as {"text"}; 501 without a model endpoint, 400 for
bad base64, 502 when the endpoint fails, and a client that gives up while
the endpoint is slow leaves the server healthy."""

import base64
import json
import os

from lib import SLOW, TestFailure, check, request, wait_until
from test_agent_model import Fake, model_server


def _script_transcriptions(fake, entries):
    body = json.dumps({"transcriptions": entries})
    check(request("POST", fake.url + "/_script", body=body).status == 200, "cannot script the fake")


def _transcriptions(fake):
    return [r for r in fake.requests() if r["path"].endswith("/audio/transcriptions")]


def _transcribe(c, audio, mime_type, **kw):
    return c.post_chatkit({"type": "input.transcribe",
                           "params": {"audio_base64": base64.b64encode(audio).decode(), "mime_type": mime_type}}, **kw)


def test_transcribe_forwards_multipart(env, http):
    fake = Fake(env)
    srv = model_server(env, fake)
    c = env.client(http, base=srv.url)
    # bytes that look like multipart framing must survive untouched
    audio = b"\x1aE\xdf\xa3\r\n--boundary\r\n\x00\xff" + os.urandom(3000)
    got = c.call("input.transcribe", {"audio_base64": base64.b64encode(audio).decode(),
                                      "mime_type": "audio/webm;codecs=opus"})
    check(got == {"text": "fake transcription of %d bytes" % len(audio)}, "answer: %r" % got)
    reqs = _transcriptions(fake)
    check(len(reqs) == 1 and reqs[0]["method"] == "POST" and reqs[0]["path"] == "/v1/audio/transcriptions",
          "upstream requests: %r" % [(r["method"], r["path"]) for r in fake.requests()])
    r = reqs[0]
    check(r["headers"].get("content-type", "").startswith("multipart/form-data; boundary="),
          "content-type: %r" % r["headers"])
    check(r["headers"].get("authorization") == "Bearer sk-fake", "authorization: %r" % r["headers"])
    form = r.get("form") or {}
    check(set(form) == {"file", "model"}, "parts: %r" % sorted(form))
    f = form["file"]
    check(f["filename"] == "audio.webm" and f["content_type"] == "audio/webm", "file part: %r" %
          {k: f[k] for k in ("filename", "content_type")})
    check(base64.b64decode(f["data_base64"]) == audio, "the file part's bytes differ from the audio")
    check(base64.b64decode(form["model"]["data_base64"]) == b"whisper-1", "model part: %r" % form["model"])


def test_transcribe_filenames_model_and_text(env):
    fake = Fake(env)
    srv = model_server(env, fake, CHATKITD_TRANSCRIBE_MODEL="gpt-4o-mini-transcribe")
    c = env.client("1.1", base=srv.url)
    _script_transcriptions(fake, [{"text": "Grüße, 世界 \"quoted\"\n"}])
    got = c.call("input.transcribe", {"audio_base64": "AAEC", "mime_type": "audio/mp4"})
    check(got == {"text": "Grüße, 世界 \"quoted\"\n"}, "unicode transcript: %r" % got)
    cases = [("audio/ogg;codecs=opus", "audio.ogg"), ("AUDIO/WAV", "audio.wav"), ("audio/mpeg", "audio.mp3"),
             ("audio/x-m4a", "audio.m4a"), ("audio/flac", "audio.flac"), ("audio/x-wav", "audio.wav"),
             ("not a mime\r\nX-Evil: 1", "audio.bin")]
    for mime, _ in cases:
        check(_transcribe(c, b"\x01\x02\x03", mime).status == 200, "transcribe %r failed" % mime)
    reqs = _transcriptions(fake)
    check(len(reqs) == 1 + len(cases), "upstream calls: %d" % len(reqs))
    first = reqs[0]["form"]
    check(first["file"]["filename"] == "audio.mp4" and base64.b64decode(first["file"]["data_base64"]) == b"\x00\x01\x02",
          "mp4 part: %r" % first["file"])
    check(base64.b64decode(first["model"]["data_base64"]) == b"gpt-4o-mini-transcribe", "model: %r" % first["model"])
    for (mime, name), r in zip(cases, reqs[1:]):
        check(r["form"]["file"]["filename"] == name, "%r -> %r, want %r" % (mime, r["form"]["file"]["filename"], name))
    check(reqs[-1]["form"]["file"]["content_type"] in (None, "application/octet-stream"),
          "an invalid MIME type must not reach a part header: %r" % reqs[-1]["form"]["file"])
    # a large recording (about 700 KB, under the 1 MiB body limit)
    big = os.urandom(700 * 1024)
    resp = _transcribe(c, big, "audio/webm", timeout=60)
    check(resp.status == 200 and resp.json() == {"text": "fake transcription of %d bytes" % len(big)},
          "big upload: HTTP %s %s" % (resp.status, resp.text()[:200]))
    check(base64.b64decode(_transcriptions(fake)[-1]["form"]["file"]["data_base64"]) == big, "big upload bytes differ")


def test_transcribe_rejects_bad_base64(env, http):
    fake = Fake(env)
    srv = model_server(env, fake)
    c = env.client(http, base=srv.url)
    for bad in ("not base64!", "AAAA=A==", "A", "AA=", "AAAA\nAAAA", "-_-_", ""):
        err = c.call("input.transcribe", {"audio_base64": bad, "mime_type": "audio/webm"}, expect=400)
        check("audio_base64" in err["message"], "%r: the error must name the field: %r" % (bad, err))
    check(_transcriptions(fake) == [], "bad input must not reach the endpoint")
    for ok in ("AA", "AAA", "AA==", "AAA="):  # padding is optional
        c.call("input.transcribe", {"audio_base64": ok, "mime_type": "audio/webm"})


def test_transcribe_upstream_failure_is_502(env, http):
    fake = Fake(env)
    srv = model_server(env, fake)
    c = env.client(http, base=srv.url)
    _script_transcriptions(fake, [{"status": 500}, {"status": 400, "body": {"error": {"message": "bad file"}}}])
    for _ in range(2):
        err = c.call("input.transcribe", {"audio_base64": "AAAA", "mime_type": "audio/webm"}, expect=502)
        check(err["code"] == "upstream_error", "502 body: %r" % err)
    check(len(_transcriptions(fake)) == 2, "CHATKITD_UPSTREAM_RETRIES=0: one attempt each")
    got = c.call("input.transcribe", {"audio_base64": "AAAA", "mime_type": "audio/webm"})
    check(got == {"text": "fake transcription of 3 bytes"}, "after failures: %r" % got)


def test_transcribe_retries_and_unreachable_endpoint(env):
    fake = Fake(env)
    srv = model_server(env, fake, CHATKITD_UPSTREAM_RETRIES=1)
    c = env.client("1.1", base=srv.url)
    _script_transcriptions(fake, [{"status": 503, "retry_after": 0}, {"text": "second try"}])
    check(c.call("input.transcribe", {"audio_base64": "AAAA", "mime_type": "audio/webm"}) == {"text": "second try"},
          "a 503 is retried")
    fake.stop()
    err = c.call("input.transcribe", {"audio_base64": "AAAA", "mime_type": "audio/webm"}, expect=502)
    check(err["code"] == "upstream_error", "unreachable endpoint: %r" % err)


def test_transcribe_without_model_is_501(env, http):
    c = env.client(http)  # the shared server runs without OPENAI_* (retrieval-only)
    err = c.call("input.transcribe", {"audio_base64": "AAAA", "mime_type": "audio/webm"}, expect=501)
    check("OPENAI" in err["message"], "501 must say how to configure a model: %r" % err)


def test_transcribe_client_gone(env, http):
    fake = Fake(env)
    srv = model_server(env, fake)
    c = env.client(http, base=srv.url)
    _script_transcriptions(fake, [{"delay_ms": 3000, "text": "too late"}])
    gave_up = False
    try:
        _transcribe(c, b"\x00" * 100, "audio/webm", timeout=0.5 / SLOW)  # real 0.5 s, also under valgrind
    except TestFailure:
        gave_up = True
    check(gave_up, "the client should have timed out while the endpoint was slow")
    wait_until(lambda: len(_transcriptions(fake)) == 1, 10, "the upload reaching the endpoint")
    got = c.call("input.transcribe", {"audio_base64": "AAAA", "mime_type": "audio/webm"})
    check(got == {"text": "fake transcription of 3 bytes"}, "the server still answers: %r" % got)
    check(srv.alive(), "the server survived the cancelled transcription")
