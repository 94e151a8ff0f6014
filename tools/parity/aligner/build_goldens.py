"""Build the aligner parity goldens with the official qwen-asr package (run in the venv of
tools/parity/setup_asr_venv.sh):

    .cache/qasr-venv/bin/python tools/parity/aligner/build_goldens.py --out .cache/parity-aligner

The tiny checkpoint in ``OUT/checkpoint`` (written by ``qwen_tts.aligner.tiny_checkpoint``, the test
suite's conftest does it) is loaded with the official classes, which must find every tensor they expect
and nothing else. Per case: the official processor's input ids and log-mel features, the thinker's logits
and ``Qwen3ForcedAligner.align``'s items; plus the official word splitting and monotonic fix-up.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import types
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import save_file

HERE = Path(__file__).resolve().parent


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"aligner_{name}", HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _official():
    """The official aligner classes; nagisa (Japanese splitting, imported at module level) is stubbed."""
    sys.modules.setdefault("nagisa", types.ModuleType("nagisa"))
    from qwen_asr.core.transformers_backend import (
        Qwen3ASRConfig,
        Qwen3ASRForConditionalGeneration,
        Qwen3ASRProcessor,
    )
    from qwen_asr.inference.qwen3_forced_aligner import Qwen3ForceAlignProcessor, Qwen3ForcedAligner
    from transformers import AutoConfig, AutoModel, AutoProcessor

    AutoConfig.register("qwen3_asr", Qwen3ASRConfig)
    AutoModel.register(Qwen3ASRConfig, Qwen3ASRForConditionalGeneration)
    AutoProcessor.register(Qwen3ASRConfig, Qwen3ASRProcessor)
    return AutoModel, AutoProcessor, Qwen3ForceAlignProcessor, Qwen3ForcedAligner


def _windowed_encoder_attention(model) -> None:
    """Makes the official audio encoder attend within its ``n_window_infer`` windows on CPU too.

    The official transformers backend passes the windows (``cu_seqlens``) only to flash-attention; under SDPA
    or eager attention its layers get no mask and attend across the whole clip, while its vLLM backend and
    FlashAttention-2 (the model's own semantics) keep to the windows. The official encoder has the mask for
    this (``_prepare_attention_mask``, unused): we hand it to the layers, so audio past one 8 s window is
    compared with the windowed semantics. Up to 8 s both are the same.
    """
    tower = model.thinker.audio_tower
    for layer in tower.layers:
        plain = layer.forward

        def forward(hidden_states, cu_seqlens, attention_mask=None, _plain=plain, **kwargs):
            mask = tower._prepare_attention_mask(hidden_states, cu_seqlens)
            return _plain(hidden_states, cu_seqlens, attention_mask=mask, **kwargs)

        layer.forward = forward


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    out: Path = parser.parse_args().out
    manifest, cases = _load("manifest"), _load("cases")
    checkpoint = out / manifest.CHECKPOINT_DIR
    torch.manual_seed(0)
    auto_model, auto_processor, text_processor_class, aligner_class = _official()

    model, info = auto_model.from_pretrained(str(checkpoint), dtype=torch.float32, output_loading_info=True)
    problems = {
        k: v for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys", "mismatched_keys")
    }
    if problems:
        raise SystemExit(f"the official classes do not accept the tiny checkpoint: {problems}")
    model.eval()
    unwindowed = _thinker_logits_without_windows(model, checkpoint, cases, auto_processor)
    _windowed_encoder_attention(model)
    processor = auto_processor.from_pretrained(str(checkpoint), fix_mistral_regex=True)
    aligner = aligner_class(model=model, processor=processor, aligner_processor=text_processor_class())

    written = []
    for index, (name, (seconds, rate, text, language)) in enumerate(cases.ALIGN_CASES.items()):
        samples = cases.case_audio(seconds, rate, seed=index)
        words, prompt = aligner.aligner_processor.encode_timestamp(text, language)
        audio16k = _normalized(samples, rate)
        inputs = processor(text=[prompt], audio=[audio16k], return_tensors="pt", padding=True)
        inputs = inputs.to(model.device).to(model.dtype)
        with torch.inference_mode():
            logits = model.thinker(**inputs).logits[0]
        items = aligner.align(audio=[(samples, rate)], text=[text], language=[language])[0]
        case_dir = out / name
        case_dir.mkdir(parents=True, exist_ok=True)
        extra = {"logits_unwindowed": unwindowed[name]} if name in unwindowed else {}
        save_file(
            {
                **extra,
                "samples": samples,
                "input_ids": inputs["input_ids"][0].numpy().astype(np.int64),
                "input_features": inputs["input_features"][0].numpy().astype(np.float32),
                "logits": logits.numpy().astype(np.float32),
            },
            str(case_dir / "tensors.safetensors"),
        )
        payload = {
            "sample_rate": rate, "text": text, "language": language, "words": words,
            "items": [[item.text, item.start_time, item.end_time] for item in items],
        }  # fmt: skip
        (case_dir / "inputs.json").write_text(
            json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8"
        )
        written.append(name)

    splitter = text_processor_class()
    word_cases = [
        [text, language, splitter.encode_timestamp(text, language)[0]] for text, language in cases.WORD_CASES
    ]
    fixes = [
        [sequence, splitter.fix_timestamp(np.asarray(sequence, dtype=np.float32))]
        for sequence in cases.fix_cases()
    ]
    (out / "words.json").write_text(json.dumps(word_cases, ensure_ascii=False, indent=1), encoding="utf-8")
    (out / "fix_timestamp.json").write_text(json.dumps(fixes), encoding="utf-8")
    import transformers

    manifest.write_manifest(out, {"cases": written, "transformers": transformers.__version__,
                                  "torch": torch.__version__})  # fmt: skip


def _thinker_logits_without_windows(model, checkpoint, cases, auto_processor) -> dict[str, np.ndarray]:
    """The unpatched official logits for audio past one attention window: to report how far apart the two
    attention semantics are (not a parity target)."""
    processor = auto_processor.from_pretrained(str(checkpoint), fix_mistral_regex=True)
    from qwen_asr.inference.qwen3_forced_aligner import Qwen3ForceAlignProcessor

    splitter = Qwen3ForceAlignProcessor()
    out = {}
    for name, (seconds, rate, text, language) in cases.ALIGN_CASES.items():
        if seconds <= 8.0:
            continue
        samples = cases.case_audio(seconds, rate, seed=list(cases.ALIGN_CASES).index(name))
        _, prompt = splitter.encode_timestamp(text, language)
        inputs = processor(
            text=[prompt], audio=[_normalized(samples, rate)], return_tensors="pt", padding=True
        )
        with torch.inference_mode():
            out[name] = model.thinker(**inputs.to(model.dtype)).logits[0].numpy().astype(np.float32)
    return out


def _normalized(samples: np.ndarray, rate: int) -> np.ndarray:
    """What the official ``align`` feeds its processor: mono 16 kHz float32 in [-1, 1]."""
    from qwen_asr.inference.utils import normalize_audio_input

    return normalize_audio_input((samples, rate))


if __name__ == "__main__":
    main()
