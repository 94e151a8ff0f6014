"""The golden cases: each one calls the official PUBLIC API on a tiny checkpoint and keeps what came out.

A case is a directory with `inputs.json` (what was asked, of which checkpoint, and what our engine's request
must be to ask the same) and `tensors.safetensors` (outputs and intermediates). See README.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from recorder import record_codec_decode, record_generation, record_reference_encoders
from reference_audio import DURATION_S, reference_audio
from safetensors.torch import save_file

MAX_NEW_TOKENS = 16  # official: the last token's remaining codebooks are never predicted -> 15 frames at most
GREEDY = {"do_sample": False, "subtalker_dosample": False}


@dataclass(frozen=True)
class GenerationCase:
    name: str
    checkpoint: str
    call: str  # generate_custom_voice | generate_voice_design | generate_voice_clone
    text: str
    language: str
    speaker: str | None = None
    instruct: str | None = None
    ref_text: str | None = None
    ref_sample_rate: int | None = None
    x_vector_only: bool = False
    max_new_tokens: int = MAX_NEW_TOKENS
    notes: str = ""


CUSTOM, DESIGN, CLONE = "generate_custom_voice", "generate_voice_design", "generate_voice_clone"
TEXT, SHORT, ZH = "Hello world, this is a test.", "Hello world.", "你好，世界。"
CALM, REF_TEXT = "Speak slowly and calm.", "Hello world, this is the voice."
GENERATION_CASES = (
    GenerationCase("customvoice_speaker", "customvoice_0b6", CUSTOM, TEXT, "English", speaker="Vivian"),
    GenerationCase("customvoice_speaker_auto", "customvoice_1b7", CUSTOM, SHORT, "Auto", speaker="serena",
                   notes="language auto, non-dialect speaker (lower-case name)"),
    GenerationCase("customvoice_instruct_dropped", "customvoice_0b6", CUSTOM, TEXT, "English", speaker="Ryan",
                   instruct=CALM, notes="tts_model_size 0b6: the official package silently drops instruct"),
    GenerationCase("customvoice_instruct", "customvoice_1b7", CUSTOM, TEXT, "English", speaker="Ryan",
                   instruct=CALM, notes="tts_model_size 1b7: instruct honoured"),
    GenerationCase("customvoice_dialect_auto", "customvoice_0b6", CUSTOM, ZH, "Auto", speaker="Dylan",
                   notes="dialect speaker + auto: language id -> beijing_dialect"),
    GenerationCase("customvoice_dialect_chinese", "customvoice_1b7", CUSTOM, ZH, "Chinese", speaker="Eric",
                   notes="dialect speaker + chinese: language id -> sichuan_dialect"),
    GenerationCase("voicedesign", "voicedesign_1b7", DESIGN, TEXT, "English",
                   instruct="A warm and happy voice."),
    GenerationCase("voicedesign_auto", "voicedesign_1b7", DESIGN, SHORT, "Auto", instruct="A calm voice."),
    GenerationCase("base_icl", "base_0b6", CLONE, TEXT, "English",
                   ref_text=REF_TEXT, ref_sample_rate=24000),
    GenerationCase("base_icl_16k", "base_0b6", CLONE, SHORT, "English",
                   ref_text=REF_TEXT, ref_sample_rate=16000, notes="reference audio resampled 16 -> 24 kHz"),
    GenerationCase("base_xvector", "base_0b6", CLONE, TEXT, "English",
                   ref_sample_rate=24000, x_vector_only=True),
    GenerationCase("customvoice_early_eos", "customvoice_0b6_early_eos", CUSTOM, TEXT, "English",
                   speaker="Vivian", notes="EOS tops every step; min_new_tokens=2 holds it off 2 frames"),
)  # fmt: skip

# Reference audio (sample rate, seconds) of the clone-prompt and codec-encode cases. 12 s is past the Mimi
# encoder transformer's sliding_window (250 steps at 25 Hz = 10 s), which the official encode does not apply.
CLONE_PROMPT_REFERENCES = ((24000, DURATION_S), (16000, DURATION_S), (44100, DURATION_S), (16000, 4.0),
                           (24000, 12.0))  # fmt: skip
CODEC_DECODE_FRAMES = (9, 300)  # 300 frames: the longest input the official windowed decode computes exactly
CODEC_ENCODE_REFERENCES = (
    (24000, DURATION_S),
    (16000, DURATION_S),
    (24000, 4.0),
    (16000, 4.0),
    (24000, 12.0),
)


def reference_case_name(kind: str, sample_rate: int, duration_s: float) -> str:
    """``clone_prompt_16k``, ``codec_encode_24k_12s``: the duration is named when it is not the default."""
    suffix = "" if duration_s == DURATION_S else f"_{duration_s:g}s"
    return f"{kind}_{sample_rate // 1000}k{suffix}"


def _reference_notes(mimi_steps: int, sliding_window: int) -> str:
    if mimi_steps <= sliding_window:
        return ""
    return (
        f"{mimi_steps} encoder-transformer steps, past its sliding_window {sliding_window}: the official "
        "encode (transformers 4.57) attends to the whole past; transformers 5 would apply the window"
    )


def _official_defaults(call: str) -> bool:
    """The official non_streaming_mode default of each public method (it changes the prompt layout)."""
    return call != "generate_voice_clone"


def run_generation_case(case: GenerationCase, wrapper: Any, out_dir: Path) -> dict[str, Any]:
    """Run one case through the official public API, capturing codes and intermediates."""
    tensors: dict[str, torch.Tensor] = {}
    kwargs: dict[str, Any] = {"text": case.text, "language": case.language, **GREEDY}
    kwargs["max_new_tokens"] = case.max_new_tokens
    if case.speaker is not None:
        kwargs["speaker"] = case.speaker
    if case.instruct is not None or case.call == "generate_voice_design":
        kwargs["instruct"] = case.instruct
    if case.call == "generate_voice_clone":
        audio = reference_audio(case.ref_sample_rate)
        tensors["ref_audio"] = torch.from_numpy(audio)
        kwargs.update(ref_audio=(audio, case.ref_sample_rate), ref_text=case.ref_text)
        kwargs["x_vector_only_mode"] = case.x_vector_only

    captured: dict[str, Any] = {}
    inner_generate = wrapper.model.generate

    def capturing_generate(*args: Any, **gen_kwargs: Any) -> Any:
        codes_list, hidden_list = inner_generate(*args, **gen_kwargs)
        captured["codes"] = codes_list[0]
        captured["generate_kwargs"] = {
            k: v for k, v in gen_kwargs.items() if isinstance(v, (bool, int, float))
        }
        return codes_list, hidden_list

    wrapper.model.generate = capturing_generate
    try:
        with record_generation(wrapper.model) as rec:
            wavs, sample_rate = getattr(wrapper, case.call)(**kwargs)
    finally:
        del wrapper.model.generate
    codes = captured["codes"].to(torch.int64).cpu()
    tensors.update(rec.tensors)
    tensors["codes"] = codes
    tensors["waveform"] = torch.from_numpy(np.ascontiguousarray(wavs[0], dtype=np.float32))

    config = wrapper.model.config
    instruct_honoured = case.instruct is not None and config.tts_model_size not in "0b6"
    if case.call == "generate_voice_design":
        instruct_honoured = bool(case.instruct)
    eos = config.talker_config.codec_eos_token_id
    inputs = {
        "case": case.name,
        "kind": "generation",
        "checkpoint": f"checkpoints/{case.checkpoint}",
        "notes": case.notes,
        "official": {
            "call": case.call,
            "kwargs": _jsonable(kwargs),
            "generate_kwargs": captured["generate_kwargs"],
        },
        "request": {
            "text": case.text,
            "language": case.language,
            "speaker": case.speaker,
            "instruct": case.instruct,
            "voice_clone": None
            if case.call != "generate_voice_clone"
            else {
                "ref_sample_rate": case.ref_sample_rate,
                "ref_text": case.ref_text,
                "x_vector_only": case.x_vector_only,
            },
            "max_new_frames": case.max_new_tokens - 1,
            "min_new_frames": 2,
            "sampling": {"do_sample": False, "subtalker_do_sample": False, "repetition_penalty": 1.05},
            "non_streaming_mode": _official_defaults(case.call),
        },
        "expect": {
            "num_frames": int(codes.shape[0]),
            "sample_rate": int(sample_rate),
            "instruct_honoured": instruct_honoured,
            "ended_with_eos": int(codes.shape[0]) < case.max_new_tokens - 1,
            "eos_token_id": eos,
        },
    }
    return _write_case(out_dir / case.name, inputs, tensors)


def run_clone_prompt_case(
    reference: tuple[int, float], wrapper: Any, official: SimpleNamespace, out_dir: Path
) -> dict:
    """create_voice_clone_prompt for one reference (rate, seconds), plus the mel and resampled audio it is
    built from."""
    import librosa

    sample_rate, duration_s = reference
    audio = reference_audio(sample_rate, duration_s)
    ref_text = "Hello world, this is the voice."
    with record_reference_encoders(
        wrapper.model.speaker_encoder, wrapper.model.speech_tokenizer.model.encoder
    ) as rec:
        [item] = wrapper.create_voice_clone_prompt(ref_audio=(audio, sample_rate), ref_text=ref_text)
    at_24k = (
        audio if sample_rate == 24000 else librosa.resample(y=audio, orig_sr=sample_rate, target_sr=24000)
    )
    mel = official.mel_spectrogram(
        torch.from_numpy(at_24k).unsqueeze(0), n_fft=1024, num_mels=128, sampling_rate=24000,
        hop_size=256, win_size=1024, fmin=0, fmax=12000,
    )  # fmt: skip
    tensors = {
        **rec.tensors,
        "ref_audio": torch.from_numpy(audio),
        "resampled_24k": torch.from_numpy(np.ascontiguousarray(at_24k, dtype=np.float32)),
        "mel": mel[0].to(torch.float32),  # [128 mels, frames], log-compressed, as fed (transposed) to ECAPA
        "speaker_embedding": item.ref_spk_embedding.to(torch.float32).cpu(),
        "ref_codes": item.ref_code.to(torch.int64).cpu(),
    }
    mimi = wrapper.model.speech_tokenizer.model.encoder
    inputs = {
        "case": reference_case_name("clone_prompt", sample_rate, duration_s),
        "kind": "clone_prompt",
        "checkpoint": "checkpoints/base_0b6",
        "notes": _reference_notes(rec.tensors["mimi.encoder"].shape[2], mimi.config.sliding_window),
        "duration_s": duration_s,
        "official": {"call": "create_voice_clone_prompt", "kwargs": {"ref_text": ref_text}},
        "request": {"ref_sample_rate": sample_rate, "ref_text": ref_text, "x_vector_only": False},
        "expect": {"num_ref_frames": int(item.ref_code.shape[0])},
    }
    return _write_case(out_dir / inputs["case"], inputs, tensors)


def run_codec_decode_case(num_frames: int, tokenizer: Any, out_dir: Path) -> dict:
    gen = torch.Generator().manual_seed(1000 + num_frames)
    codes = torch.randint(0, 2048, (num_frames, 16), generator=gen, dtype=torch.int64)
    with record_codec_decode(tokenizer.model.decoder) as rec:
        wavs, sample_rate = tokenizer.decode({"audio_codes": [codes]})
    stages = rec.tensors if num_frames <= 32 else {}  # long decodes keep only the waveform
    tensors = {**stages, "codes": codes, "waveform": torch.from_numpy(np.ascontiguousarray(wavs[0]))}
    inputs = {
        "case": f"codec_decode_{num_frames}",
        "kind": "codec_decode",
        "checkpoint": "checkpoints/customvoice_0b6",
        "official": {"call": "Qwen3TTSTokenizer.decode"},
        "expect": {"sample_rate": int(sample_rate), "num_samples": int(wavs[0].shape[0])},
    }
    return _write_case(out_dir / inputs["case"], inputs, tensors)


def run_codec_encode_case(reference: tuple[int, float], tokenizer: Any, out_dir: Path) -> dict:
    sample_rate, duration_s = reference
    audio = reference_audio(sample_rate, duration_s)
    mimi = tokenizer.model.encoder
    with record_reference_encoders(None, mimi) as rec:
        encoded = tokenizer.encode(audio, sr=sample_rate)
    tensors = {**rec.tensors, "ref_audio": torch.from_numpy(audio), "codes": encoded.audio_codes[0].cpu()}
    inputs = {
        "case": reference_case_name("codec_encode", sample_rate, duration_s),
        "kind": "codec_encode",
        "checkpoint": "checkpoints/customvoice_0b6",
        "notes": _reference_notes(rec.tensors["mimi.encoder"].shape[2], mimi.config.sliding_window),
        "duration_s": duration_s,
        "official": {"call": "Qwen3TTSTokenizer.encode"},
        "request": {"sample_rate": sample_rate},
        "expect": {"num_frames": int(encoded.audio_codes[0].shape[0])},
    }
    return _write_case(out_dir / inputs["case"], inputs, tensors)


def _write_case(case_dir: Path, inputs: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    case_dir.mkdir(parents=True, exist_ok=True)
    tensors = {name: t.contiguous().clone() for name, t in tensors.items()}
    inputs["tensors"] = {
        name: [str(t.dtype).removeprefix("torch."), list(t.shape)] for name, t in tensors.items()
    }
    (case_dir / "inputs.json").write_text(
        json.dumps(inputs, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    save_file(tensors, str(case_dir / "tensors.safetensors"))
    return inputs


def _jsonable(kwargs: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in kwargs.items():
        if key == "ref_audio":
            out[key] = f"tensors['ref_audio'] at {value[1]} Hz"
        else:
            out[key] = value
    return out
