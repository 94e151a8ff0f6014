"""Turns over a real WebSocket (``websockets``) against uvicorn with fake engines: fragments in, sentences
out in order with their audio, many turns per socket, keep-alive, formats, inline cloning, metrics."""

from __future__ import annotations

import base64

import httpx

from tests.realtime.client import event, open_session, send, speak
from tests.realtime.conftest import FakeServer
from tests.service.audio_probe import probe
from tests.voices.fakes import recording

FRAME_BYTES = 1920 * 2
TEXT = "Hello there, Mr. Smith. Pi is 3.14 today! 你好。Is it late? Fine"


def tokens(text: str) -> list[str]:
    """An LLM's pace: pieces of two or three characters, words cut in half."""
    return [text[i : i + 3] for i in range(0, len(text), 3)]


def test_token_by_token_input_speaks_each_sentence_in_order(fake_server: FakeServer) -> None:
    with open_session(fake_server.url) as ws:
        send(ws, type="session.config", voice="alloy", response_format="pcm")
        turn = speak(ws, tokens(TEXT))
    expected = ["Hello there, Mr. Smith.", "Pi is 3.14 today!", "你好。", "Is it late?", "Fine"]
    assert turn.sentences == expected
    assert turn.types() == ["audio.start", "audio.done"] * len(expected) + ["session.done"]
    starts = [e for e in turn.events if e["type"] == "audio.start"]
    assert [e["sentence_index"] for e in starts] == list(range(len(expected)))
    assert all(e["format"] == "pcm" and e["sample_rate"] == 24_000 for e in starts)
    assert turn.events[-1] == {"type": "session.done", "total_sentences": len(expected)}
    for index, text in enumerate(expected):  # the fake engine speaks len(text) + 2 frames per sentence
        assert len(turn.sentence_audio(index)) == (len(text) + 2) * FRAME_BYTES
        assert len(turn.audio[index]) > 1, "a sentence's audio streams in several frames"


def test_many_turns_keep_alive_and_a_new_config_on_one_socket(fake_server: FakeServer) -> None:
    engine = fake_server.engines["fake-CustomVoice"]
    with open_session(fake_server.url) as ws:
        send(ws, type="session.config", voice="alloy")
        first = speak(ws, ["One. Two."])
        send(ws, type="input.done")  # keep-alive: an empty turn
        assert event(ws) == {"type": "session.done", "total_sentences": 0}
        send(ws, type="session.config", voice="echo", stream_audio=False)
        second = speak(ws, ["Three", " and four."])
    assert first.sentences == ["One.", "Two."] and second.sentences == ["Three and four."]
    assert [e["sentence_index"] for e in second.events if e["type"] == "audio.done"] == [0]
    assert len(second.audio[0]) == 1, "stream_audio false: one binary frame per sentence"
    speakers = [r.request.speaker for r in engine.records[-3:]]
    assert speakers[:2] == [speakers[0]] * 2 and speakers[2] != speakers[0]


def test_mp3_wav_and_opus_sentences_decode(fake_server: FakeServer) -> None:
    expected_codec = {"mp3": "mp3", "wav": "pcm_s16le", "opus": "opus"}
    for fmt, codec in expected_codec.items():
        with open_session(fake_server.url) as ws:
            send(ws, type="session.config", voice="alloy", response_format=fmt)
            turn = speak(ws, tokens("A first sentence. And a second one."))
        assert len(turn.sentences) == 2
        for index in (0, 1):
            info = probe(turn.sentence_audio(index))
            assert info["codec_name"] == codec and info["channels"] == 1, (fmt, info)
            assert info["duration_s"] > 0.5


def test_max_new_tokens_caps_the_frames_of_each_sentence(fake_server: FakeServer) -> None:
    with open_session(fake_server.url) as ws:
        send(ws, type="session.config", voice="alloy", max_new_tokens=4)
        turn = speak(ws, ["A sentence far longer than four frames."])
    assert len(turn.sentence_audio(0)) == 4 * FRAME_BYTES


def test_inline_ref_audio_clones_with_the_base_model(fake_server: FakeServer) -> None:
    engine = fake_server.engines["fake-Base"]
    before = len(engine.records)
    audio = base64.b64encode(recording(1.5, fmt="mp3")).decode()
    with open_session(fake_server.url) as ws:
        send(ws, type="session.config", ref_audio=audio, ref_text="Hello world.", task_type="Base")
        turn = speak(ws, ["Cloned one. Cloned two."])
    assert turn.sentences == ["Cloned one.", "Cloned two."]
    assert len(engine.records) == before + 2 and len(turn.sentence_audio(1)) > 0
    assert engine.records[-1].request.voice_clone is engine.records[-2].request.voice_clone is not None


def test_voice_design_needs_only_instructions(fake_server: FakeServer) -> None:
    engine = fake_server.engines["fake-VoiceDesign"]
    with open_session(fake_server.url) as ws:
        config = {
            "task_type": "VoiceDesign",
            "instructions": "a calm low voice",
            "split_granularity": "sentence",
        }
        send(ws, type="session.config", **config)
        turn = speak(ws, ["Designed."])
    assert turn.sentences == ["Designed."] and len(turn.sentence_audio(0)) > 0
    assert engine.records[-1].request.instruct == "a calm low voice"


def test_a_failed_sentence_is_reported_and_the_turn_goes_on(fake_server: FakeServer) -> None:
    with open_session(fake_server.url) as ws:
        send(ws, type="session.config", voice="alloy", model="failing-CustomVoice")
        turn = speak(ws, ["First. Second."])
        send(ws, type="session.config", voice="alloy")  # the socket stays usable
        after = speak(ws, ["Fine."])
    assert turn.types() == ["audio.start", "error", "audio.done"] * 2 + ["session.done"]
    errors = [e for e in turn.events if e["type"] == "error"]
    assert errors[0]["code"] == "synthesis_failed" and "chunk 1" in errors[0]["message"]
    done = [e for e in turn.events if e["type"] == "audio.done"]
    assert done[0]["error"]["code"] == "synthesis_failed" and done[1]["sentence_index"] == 1
    assert after.types() == ["audio.start", "audio.done", "session.done"] and "error" not in after.events[1]


def test_metrics_count_sessions_turns_and_first_audio(fake_server: FakeServer) -> None:
    with open_session(fake_server.url) as ws:
        send(ws, type="session.config", voice="alloy")
        speak(ws, ["Counted."])
    body = httpx.get(f"{fake_server.url}/metrics").text
    assert "tts_realtime_sessions_total" in body and "tts_realtime_turns_total" in body
    counts = [
        line
        for line in body.splitlines()
        if line.startswith("tts_realtime_sentence_first_audio_seconds_count")
    ]
    assert counts and float(counts[0].split()[-1]) >= 1
    audio = [line for line in body.splitlines() if line.startswith("tts_audio_seconds_total")]
    assert audio and float(audio[0].split()[-1]) > 0
