"""Reusing the talker KV of a voice's prompt prefix (``qwen_tts/prefix_cache.py``): the second request of a
voice prefills only its text, and decodes what a request prefilled in full decodes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qwen_tts import SynthesisRequest, TTSEngine
from qwen_tts.prefix_cache import PrefixCache

SR = 24000
FORCED = dict(max_new_frames=6, min_new_frames=6)


def _speech(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """The engines here fix one CPU thread (exact comparisons); torch's count is process-wide: restore it."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def engines(tiny_checkpoint):
    """name -> (an engine with the prefix cache, one without), on the same tiny checkpoint."""
    made: dict[str, tuple[TTSEngine, TTSEngine]] = {}

    def get(name: str) -> tuple[TTSEngine, TTSEngine]:
        if name not in made:
            path = tiny_checkpoint(name)
            made[name] = (
                TTSEngine.from_pretrained(path, max_batch_size=3, cpu_threads=1),
                TTSEngine.from_pretrained(path, max_batch_size=3, cpu_threads=1, prefix_cache_bytes=0),
            )
        return made[name]

    return get


def _requests(engine: TTSEngine, name: str) -> list[SynthesisRequest]:
    """Requests of one voice with different texts, for each model type."""
    texts = ["Good morning to you.", "A second sentence, longer than the first one.", "Third."]
    if name == "voice_design":
        voice = dict(instruct="A calm, low voice.")
    elif name == "base":
        voice = dict(voice_clone=engine.create_voice_clone_prompt(_speech(1.2), SR, ref_text="Hello world"))
    else:
        voice = dict(speaker=engine.speakers[0], language="english")
    return [SynthesisRequest(text=t, seed=11 + i, **voice, **FORCED) for i, t in enumerate(texts)]


@pytest.mark.parametrize("name", ["custom_voice", "voice_design", "base"])
def test_later_requests_of_a_voice_reuse_its_prefix_and_decode_the_same(engines, name):
    cached, plain = engines(name)
    requests = _requests(cached, name)
    first, *later = requests
    assert np.array_equal(cached.synthesize(first).codes, plain.synthesize(first).codes)
    prefixes = cached._batch.prefixes
    assert len(prefixes) == 1 and prefixes.hits == 0
    for request in later:
        assert np.array_equal(cached.synthesize(request).codes, plain.synthesize(request).codes)
    assert prefixes.hits == len(later) and len(prefixes) == 1
    assert len(plain._batch.prefixes) == 0  # prefix_cache_bytes=0 keeps nothing


def test_a_batch_admitting_hits_and_misses_together_decodes_as_each_alone(engines):
    cached, plain = engines("custom_voice_1b7")
    speakers = cached.speakers
    warm = SynthesisRequest(text="Warming the first voice.", speaker=speakers[0], seed=1, **FORCED)
    cached.synthesize(warm)  # speakers[0]'s prefix is cached; speakers[1]'s is not
    batch = [
        SynthesisRequest(text="Hit: the first voice again.", speaker=speakers[0], seed=2, **FORCED),
        SynthesisRequest(
            text="Miss: a voice not seen yet, and a longer text.", speaker=speakers[1], seed=3, **FORCED
        ),
        SynthesisRequest(text="Hit again, in the same admission.", speaker=speakers[0], seed=4, **FORCED),
    ]
    together: dict[int, list[np.ndarray]] = {i: [] for i in range(len(batch))}
    for index, chunk in cached.stream_many(batch):
        together[index].append(chunk.codes)
    for index, request in enumerate(batch):
        assert np.array_equal(np.concatenate(together[index]), plain.synthesize(request).codes), index
    assert cached._batch.prefixes.hits >= 2


@pytest.mark.parametrize("name", ["custom_voice", "voice_design", "base"])
def test_the_prefix_is_exactly_the_part_of_the_prompt_that_does_not_depend_on_the_text(engines, name):
    engine, _ = engines(name)
    a, b, _c = (engine._plan(r) for r in _requests(engine, name))
    length = a.prefix_len
    assert length == b.prefix_len > 0
    assert torch.equal(a.embeds[0, :length], b.embeds[0, :length])
    assert not torch.equal(a.embeds[0, length], b.embeds[0, length])  # the first text-dependent position


def test_voices_never_share_an_entry_and_the_cache_keeps_within_its_bytes():
    layer = (torch.zeros(2, 10, 4), torch.zeros(2, 10, 4))  # 640 bytes per layer, two layers an entry
    cache = PrefixCache(max_bytes=3000)
    for key in (b"a", b"b", b"c"):
        cache.put(key, [layer, layer])
    assert len(cache) == 2 and cache.nbytes == 2560 and cache.get(b"a") is None  # the oldest went first
    assert cache.get(b"b") is not None
    cache.put(b"d", [layer, layer])
    assert cache.get(b"c") is None and cache.get(b"b") is not None  # b was used more recently than c
    PrefixCache(0).put(b"x", [layer])  # nothing is kept, nothing fails


def test_int8_with_per_call_activation_scales_keeps_no_prefix_so_a_seed_reproduces(tiny_checkpoint):
    engine = TTSEngine.from_pretrained(tiny_checkpoint("custom_voice"), quantize="int8", cpu_threads=1)
    assert engine._batch.prefixes.max_bytes == 0
    request = SynthesisRequest(text="The same seed, the same codes.", speaker="vivian", seed=5, **FORCED)
    assert np.array_equal(engine.synthesize(request).codes, engine.synthesize(request).codes)
