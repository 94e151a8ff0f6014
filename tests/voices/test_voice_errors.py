"""Every error path of the voice API, in both run modes, each answered in the OpenAI error envelope."""

from __future__ import annotations

import base64
import contextlib
import socket
from urllib.parse import urlsplit

import httpx
import pytest

from common.audio.upload import IngestLimits
from tests.voices.conftest import VoiceServer, unique
from tests.voices.fakes import recording, silence_wav

TIMEOUT = 30


def error_of(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    return error


def post_file(server: VoiceServer, audio: bytes, name: str | None = None, **fields: str) -> httpx.Response:
    data = {"name": name or unique("Err"), **fields}
    return httpx.post(f"{server.url}/v1/voices", data=data, files={"file": ("x", audio)}, timeout=TIMEOUT)


def raw_exchange(url: str, head: bytes, body_parts: list[bytes]) -> tuple[bytes, int]:
    """Send ``head`` then as much of ``body_parts`` as the server takes; (response, body bytes sent)."""
    parts = urlsplit(url)
    sent = 0
    with socket.create_connection((parts.hostname, parts.port), timeout=TIMEOUT) as sock:
        sock.sendall(head)
        sock.settimeout(0.05)
        response = b""
        for part in body_parts:
            with contextlib.suppress(TimeoutError, BlockingIOError):
                response += sock.recv(65536)
            if response:
                break
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(part)
        sock.settimeout(TIMEOUT)
        while b"\r\n\r\n" not in response:
            chunk = sock.recv(65536)
            if not chunk:
                break
            response += chunk
    return response, sent


def test_a_declared_oversize_body_is_refused_before_any_of_it_is_sent(voice_server: VoiceServer) -> None:
    limit = voice_server.library.limits.max_upload_bytes
    head = (
        f"POST /v1/voices HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {limit * 2}\r\n\r\n"
    ).encode()
    response, _ = raw_exchange(voice_server.url, head, [])
    assert response.startswith(b"HTTP/1.1 413"), response[:200]


def test_a_chunked_oversize_body_is_refused_while_it_streams(voice_server: VoiceServer) -> None:
    limit = voice_server.library.limits.max_upload_bytes
    head = (
        b"POST /v1/voices HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    part_head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
    pieces = [part_head + b"x" * 1024 * 1024] + [b"x" * 1024 * 1024] * (3 * limit // (1024 * 1024))
    chunks = [f"{len(piece):x}\r\n".encode() + piece + b"\r\n" for piece in pieces]
    response, sent = raw_exchange(voice_server.url, head, chunks)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert sent < sum(map(len, chunks))  # answered before the client had sent it all


def test_a_json_body_over_the_cap_is_413(voice_server: VoiceServer) -> None:
    big = base64.b64encode(b"\0" * (voice_server.library.limits.max_upload_bytes + 1024)).decode()
    response = httpx.post(f"{voice_server.url}/v1/voices", json={"name": "x", "audio": big}, timeout=TIMEOUT)
    assert error_of(response, 413)["code"] == "payload_too_large"


@pytest.mark.parametrize(
    ("audio", "status", "code"),
    [
        (b"", 400, "audio_empty"),
        (b"hello, this is not audio at all", 415, "unsupported_audio_format"),
        (b"RIFF\x10\x00\x00\x00WAVEgarbage-garbage-garbage", 400, "audio_undecodable"),
        (b"ID3" + b"\x00" * 2000, 400, "audio_undecodable"),
        (recording(0.4), 400, "audio_too_short"),
        (recording(IngestLimits().max_seconds + 5), 400, "audio_too_long"),
        (silence_wav(2.0), 400, "audio_silent"),
    ],
    ids=["empty", "unknown-format", "corrupt-wav", "corrupt-mp3", "short", "long", "silent"],
)
def test_unusable_audio_is_a_clear_4xx(
    voice_server: VoiceServer, audio: bytes, status: int, code: str
) -> None:
    before = set(voice_server.stores.blobs.list_keys("voices/"))
    error = error_of(post_file(voice_server, audio, ref_text="t"), status)
    assert error["code"] == code and error["param"] == "file"
    assert set(voice_server.stores.blobs.list_keys("voices/")) == before  # nothing stored


@pytest.mark.parametrize(
    ("request_kwargs", "status", "code"),
    [
        ({"data": {"name": "x"}}, 415, "unsupported_media_type"),  # urlencoded form
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, "invalid_json"),
        ({"json": ["a", "list"]}, 400, "invalid_request"),
        ({"json": {"name": "x", "audio": "***"}}, 400, "invalid_base64"),
        ({"json": {"name": "x", "audio": 5}}, 400, "invalid_request"),
        ({"json": {"audio": base64.b64encode(recording(1.2)).decode()}}, 400, "invalid_request"),
        ({"json": {"name": "x"}}, 400, "invalid_request"),  # no audio
        ({"json": {"name": "x", "voice": "y"}}, 400, "invalid_request"),  # unknown field
        ({"json": {"name": "x", "x_vector_only": "maybe"}}, 400, "invalid_request"),
    ],
    ids=[
        "form-urlencoded",
        "bad-json",
        "json-list",
        "bad-base64",
        "audio-not-string",
        "no-name",
        "no-audio",
        "unknown-field",
        "bad-bool",
    ],
)
def test_malformed_requests_are_400_or_415(
    voice_server: VoiceServer, request_kwargs: dict[str, object], status: int, code: str
) -> None:
    response = httpx.post(f"{voice_server.url}/v1/voices", timeout=TIMEOUT, **request_kwargs)  # type: ignore[arg-type]
    assert error_of(response, status)["code"] == code


def test_bad_names_and_a_transcript_less_in_context_voice_are_400(voice_server: VoiceServer) -> None:
    wav = recording(1.5)
    assert error_of(post_file(voice_server, wav, name="bad\x07name"), 400)["code"] == "invalid_voice_name"
    assert error_of(post_file(voice_server, wav, name="n" * 101), 400)["code"] in {
        "invalid_voice_name",
        "invalid_request",
    }
    error = error_of(post_file(voice_server, wav, x_vector_only="false"), 400)
    assert "ref_text" in str(error["message"])


def test_a_second_file_field_is_refused(voice_server: VoiceServer) -> None:
    response = httpx.post(
        f"{voice_server.url}/v1/voices",
        data={"name": unique("Two")},
        files=[("file", ("a.wav", recording(1.5))), ("file", ("b.wav", recording(1.5)))],
        timeout=TIMEOUT,
    )
    assert response.status_code == 400


def test_unknown_ids_cursors_and_limits(voice_server: VoiceServer) -> None:
    url = voice_server.url
    for method in ("GET", "PATCH", "DELETE"):
        kwargs = {"json": {"ref_text": "x"}} if method == "PATCH" else {}
        response = httpx.request(method, f"{url}/v1/voices/voice_nope", timeout=TIMEOUT, **kwargs)
        assert error_of(response, 404)["code"] == "voice_not_found"
    assert error_of(httpx.get(f"{url}/v1/voices/voice_nope/audio", timeout=TIMEOUT), 404)
    assert error_of(httpx.get(f"{url}/v1/voices?after=%%%", timeout=TIMEOUT), 400)["code"] == "invalid_cursor"
    assert error_of(httpx.get(f"{url}/v1/voices?limit=0", timeout=TIMEOUT), 400)["param"] == "limit"


def test_patch_errors(voice_server: VoiceServer) -> None:
    first = post_file(voice_server, recording(1.5), ref_text="a").json()
    second = post_file(voice_server, recording(1.5), ref_text="b").json()
    url = f"{voice_server.url}/v1/voices/{second['id']}"
    clash = httpx.patch(url, json={"name": first["name"].lower()}, timeout=TIMEOUT)
    assert error_of(clash, 409)["code"] == "voice_name_taken"
    assert error_of(httpx.patch(url, json={"name": None}, timeout=TIMEOUT), 400)["param"] == "name"
    no_text = httpx.patch(url, json={"ref_text": "", "x_vector_only": False}, timeout=TIMEOUT)
    assert "ref_text" in str(error_of(no_text, 400)["message"])
    silent = httpx.patch(url, files={"file": ("s.wav", silence_wav())}, timeout=TIMEOUT)
    assert error_of(silent, 400)["code"] == "audio_silent"
    assert httpx.get(url, timeout=TIMEOUT).json() == second  # nothing changed


def test_openai_create_needs_audio_sample(voice_server: VoiceServer) -> None:
    response = httpx.post(
        f"{voice_server.url}/v1/audio/voices",
        data={"name": unique("Oai"), "consent": "c"},
        files={"file": ("a.wav", recording(1.5))},
        timeout=TIMEOUT,
    )
    assert error_of(response, 400)["code"] == "invalid_request"
    missing = httpx.post(
        f"{voice_server.url}/v1/audio/voices", data={"name": unique("Oai")}, files={}, timeout=TIMEOUT
    )
    assert missing.status_code in (400, 415)


def test_speech_with_an_unknown_saved_voice_is_400_like_any_unknown_voice(voice_server: VoiceServer) -> None:
    response = httpx.post(
        f"{voice_server.url}/v1/audio/speech",
        json={"model": "tts-1", "voice": "clone:nobody-by-this-name", "input": "Hi"},
        timeout=TIMEOUT,
    )
    assert error_of(response, 400)["code"] == "voice_not_found"
