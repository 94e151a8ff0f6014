"""Forward hooks that capture intermediate tensors of the official model, llm.c-style.

A `Recorder` watches named modules and keeps the outputs (or the inputs) of their first calls, so a test
can compare our engine with the official package tensor by tensor when an end-to-end comparison fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn


def _first_tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value
    for attr in ("logits", "last_hidden_state"):
        if getattr(value, attr, None) is not None:
            return getattr(value, attr)
    if isinstance(value, (tuple, list)) and value and isinstance(value[0], torch.Tensor):
        return value[0]
    return None


class Recorder:
    """Collects `name -> tensor` from hooked modules; `calls` limits how many calls of each are kept."""

    def __init__(self) -> None:
        self.tensors: dict[str, torch.Tensor] = {}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def output(self, module: nn.Module, name: str, calls: int = 1, call_suffix: bool = False) -> None:
        """Record the output of the first `calls` calls as `name` (or `name.<i>` with call_suffix)."""
        self._hook(module, name, calls, call_suffix, lambda args, kwargs, out: _first_tensor(out), pre=False)

    def input(self, module: nn.Module, name: str, kwarg: str | None = None, calls: int = 1) -> None:
        """Record an input (positional 0, or the keyword `kwarg`) of the first `calls` calls."""

        def pick(args: tuple, kwargs: dict, _out: Any) -> torch.Tensor | None:
            if kwarg is not None and kwargs.get(kwarg) is not None:
                return kwargs[kwarg]
            return args[0] if args and isinstance(args[0], torch.Tensor) else None

        self._hook(module, name, calls, calls > 1, pick, pre=True)

    def _hook(
        self,
        module: nn.Module,
        name: str,
        calls: int,
        call_suffix: bool,
        pick: Callable[[tuple, dict, Any], torch.Tensor | None],
        pre: bool,
    ) -> None:
        seen = [0]

        def keep(args: tuple, kwargs: dict, out: Any) -> None:
            if seen[0] >= calls:
                return
            tensor = pick(args, kwargs, out)
            if tensor is None:
                return
            key = f"{name}.{seen[0]}" if call_suffix else name
            self.tensors[key] = tensor.detach().to(
                torch.float32 if tensor.is_floating_point() else torch.int64
            )
            self.tensors[key] = self.tensors[key].cpu().clone()
            seen[0] += 1

        if pre:
            handle = module.register_forward_pre_hook(lambda m, a, k: keep(a, k, None), with_kwargs=True)
        else:
            handle = module.register_forward_hook(lambda m, a, k, o: keep(a, k, o), with_kwargs=True)
        self._handles.append(handle)

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


@contextmanager
def record_generation(model: nn.Module) -> Iterator[Recorder]:
    """Hooks on a Qwen3TTSForConditionalGeneration for one generate call.

    talker.inputs_embeds.{0,1}    talker input embeddings: call 0 = prefill [1, T, D], call 1 = first step
    talker.layer{i}.{0,1}         output of talker layer i, prefill and first decode step
    talker.norm.{0,1}             final-norm output (the hidden state fed to codec_head and the predictor)
    talker.logits.{0,1}           raw codec_head logits (before repetition penalty / suppression / min-length)
    predictor.inputs_embeds.{k}   code-predictor inputs after small_to_mtp_projection, first frame, k = 0..14
    predictor.layer{i}.{k}        code-predictor layer outputs, first frame
    predictor.logits.{k}          code-predictor logits for codebook k+1, first frame
    codec.*                       stage outputs of the first codec decoder call (see record_codec_decode)
    """
    talker = model.talker
    num_predictor_steps = talker.config.num_code_groups - 1
    rec = Recorder()
    rec.input(talker.model, "talker.inputs_embeds", kwarg="inputs_embeds", calls=2)
    for i, layer in enumerate(talker.model.layers):
        rec.output(layer, f"talker.layer{i}", calls=2, call_suffix=True)
    rec.output(talker.model.norm, "talker.norm", calls=2, call_suffix=True)
    rec.output(talker.codec_head, "talker.logits", calls=2, call_suffix=True)
    predictor = talker.code_predictor
    rec.input(predictor.model, "predictor.inputs_embeds", kwarg="inputs_embeds", calls=num_predictor_steps)
    for i, layer in enumerate(predictor.model.layers):
        rec.output(layer, f"predictor.layer{i}", calls=num_predictor_steps, call_suffix=True)
    rec.output(predictor, "predictor.logits", calls=num_predictor_steps, call_suffix=True)
    if model.speech_tokenizer is not None:
        _hook_codec(rec, model.speech_tokenizer.model.decoder)
    try:
        yield rec
    finally:
        rec.remove()


@contextmanager
def record_codec_decode(decoder: nn.Module) -> Iterator[Recorder]:
    """Hooks on the 12 Hz codec decoder, first call only (see _hook_codec for the names)."""
    rec = Recorder()
    _hook_codec(rec, decoder)
    try:
        yield rec
    finally:
        rec.remove()


def _hook_codec(rec: Recorder, decoder: nn.Module) -> None:
    """codec.quantized [1, codebook_dim, F]   the summed dequantized codebooks (input of pre_conv)
    codec.pre_conv [1, latent, F]            codec.pre_transformer [1, F, latent]
    codec.upsample{i} [1, latent, F*r]       codec.decoder{i} [1, C, samples so far]  (last = pre-clamp wave)
    """
    rec.input(decoder.pre_conv, "codec.quantized")
    rec.output(decoder.pre_conv, "codec.pre_conv")
    rec.output(decoder.pre_transformer, "codec.pre_transformer")
    for i, stage in enumerate(decoder.upsample):
        rec.output(stage[-1], f"codec.upsample{i}")
    for i, stage in enumerate(decoder.decoder):
        rec.output(stage, f"codec.decoder{i}")


@contextmanager
def record_reference_encoders(
    speaker_encoder: nn.Module | None, mimi: nn.Module | None
) -> Iterator[Recorder]:
    """Hooks on the reference-audio encoders, first call only.

    speaker.mel [1, frames, 128]     the log-mel input of the ECAPA-TDNN speaker encoder
    speaker.block{i}, speaker.mfa    TDNN / SE-Res2Net block outputs and the multi-layer aggregation
    speaker.asp, speaker.fc          attentive statistics pooling and the final projection
    mimi.encoder                     the Mimi conv encoder output [1, hidden, 25 Hz frames]
    mimi.encoder_transformer         its transformer output [1, frames, hidden]
    mimi.downsample                  the 25 -> 12.5 Hz downsampling conv output [1, hidden, frames]
    """
    rec = Recorder()
    if speaker_encoder is not None:
        rec.input(speaker_encoder, "speaker.mel")
        for i, block in enumerate(speaker_encoder.blocks):
            rec.output(block, f"speaker.block{i}")
        rec.output(speaker_encoder.mfa, "speaker.mfa")
        rec.output(speaker_encoder.asp, "speaker.asp")
        rec.output(speaker_encoder.fc, "speaker.fc")
    if mimi is not None:
        rec.output(mimi.encoder, "mimi.encoder")
        rec.output(mimi.encoder_transformer, "mimi.encoder_transformer")
        rec.output(mimi.downsample, "mimi.downsample")
    try:
        yield rec
    finally:
        rec.remove()
