"""bench/engine.py's pieces on tiny checkpoints: released shapes, forced length, the time split, batching."""

from __future__ import annotations

import pytest

from bench import _ours, real_shapes
from qwen_tts import TTSEngine, tiny_spec
from qwen_tts.codec import CodecConfig
from qwen_tts.config import ModelConfig
from qwen_tts.tiny_checkpoint import write_tiny_checkpoint

FRAME_SECONDS = 1920 / 24000


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> TTSEngine:
    path = write_tiny_checkpoint(tmp_path_factory.mktemp("bench") / "cv", "custom_voice", size="1b7")
    return TTSEngine.from_pretrained(path, max_seq_len=512, max_batch_size=3)


@pytest.mark.parametrize(("size", "hidden", "mlp"), [("0.6B", 1024, 3072), ("1.7B", 2048, 6144)])
def test_real_shapes_are_the_released_ones(size: str, hidden: int, mlp: int) -> None:
    config = ModelConfig.from_dict(real_shapes.model_config(tiny_spec, size))
    talker, predictor = config.talker.transformer, config.code_predictor.transformer
    assert (talker.num_layers, talker.hidden_size, talker.intermediate_size) == (28, hidden, mlp)
    assert (talker.num_heads, talker.num_kv_heads, talker.head_dim) == (16, 8, 128)
    assert talker.mrope_section == (24, 20, 20)
    assert (config.talker.text_vocab_size, config.talker.text_hidden_size) == (151936, 2048)
    assert (predictor.num_layers, predictor.hidden_size, predictor.intermediate_size) == (5, 1024, 3072)
    assert config.code_predictor.num_code_groups == 16
    codec = CodecConfig.from_dict(real_shapes.speech_tokenizer_config(tiny_spec))
    assert codec.samples_per_frame == 1920
    assert (codec.decoder.decoder_dim, codec.decoder.transformer.sliding_window) == (1536, 72)


def test_weight_bytes_per_frame_reads_the_predictor_once_per_codebook(engine: TTSEngine) -> None:
    talker = engine.model.talker
    predictor = talker.code_predictor

    def params(module) -> int:
        return sum(p.numel() for n, p in module.named_parameters() if "norm" not in n)

    talker_step = params(talker.transformer) + params(talker.codec_head)
    predictor_step = params(predictor.transformer) + params(predictor.small_to_mtp_projection)
    expected = 4 * (talker_step + 15 * predictor_step + params(predictor.lm_head))
    assert _ours.weight_bytes_per_frame(engine) == expected


def test_stream_is_forced_to_length_and_its_time_split_adds_up(engine: TTSEngine) -> None:
    run = _ours.measure_stream(engine, "Hello world.", frames=9, split=True)
    assert run["frames"] == 9 and run["steps"] == 8 and run["audio_s"] == pytest.approx(9 * FRAME_SECONDS)
    per_frame = [run[k] for k in ("talker_ms", "predictor_ms", "codec_ms")]
    assert all(p > 0 for p in per_frame) and run["prefill_s"] > 0
    assert 0 < run["steady_s"] < run["total_s"]
    # 8 talker steps, 9 predictor passes and decodes, and the prompt's prefill fit in the whole run
    talker, predictor, codec = per_frame
    assert run["prefill_s"] + (8 * talker + 9 * (predictor + codec)) / 1e3 <= run["total_s"]
    assert not any("forward" in vars(m) for m in engine.model.modules())  # the timers are removed


def test_first_audio_comes_before_the_whole_stream(engine: TTSEngine) -> None:
    interval = engine.emit_every_frames
    first = _ours.time_to_first_audio(engine, "Hello world.", frames=16)
    # the first chunk is out after the prompt's prefill and frame 0 alone: no talker step of a later frame
    assert first["calls"] == {"plan": 1, "prefill": 1, "first_frame": 1, "codec": 1}
    parts = [first[k] for k in ("plan_s", "prefill_s", "first_frame_s", "codec_s")]
    assert all(p > 0 for p in parts) and sum(parts) <= first["ttfa_s"]
    assert engine.emit_every_frames == interval
    assert engine._batch.first_frame_fn == engine._batch.first_frame_step and "_plan" not in vars(engine)


def test_batched_steps_produce_every_request_frames(engine: TTSEngine) -> None:
    run = _ours.measure_batch(engine, "Hello world.", frames=6, batch=3)
    assert run["audio_s"] == pytest.approx(3 * 6 * FRAME_SECONDS)
    assert 0 < run["prefill_s"] < run["total_s"]
    assert "_admit" not in vars(engine._batch)  # the timer is removed
    with pytest.raises(ValueError, match="holds 3 rows"):
        _ours.measure_batch(engine, "Hello world.", frames=2, batch=4)


def test_frame_weights_are_the_bytes_a_frame_reads(engine: TTSEngine) -> None:
    weights = _ours.frame_weights(engine)
    weight_bytes = sum(w.numel() * w.element_size() for w in weights)
    assert 0.99 * _ours.weight_bytes_per_frame(engine) <= weight_bytes <= _ours.weight_bytes_per_frame(engine)
    assert _ours.matrix_products_ms(engine, rounds=1) > 0
