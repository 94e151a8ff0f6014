"""``TTSEngine``: the public entry point — load a checkpoint, clone voices, synthesize, stream."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from .audio import resample, to_mono_float32
from .batch import FrameBatch
from .config import ModelConfig, read_json
from .errors import EngineInputError, ReferenceAudioError, UnsupportedRequestError
from .generation import suppressed_ids
from .layers.fusion import fuse_projections
from .loading import build_model, copy_out_of_mapping, load_text_tokenizer, resolve_model_dir
from .model import TTSModel
from .planning import follows_instruct, plan_request
from .quant import (
    quantize_model,
    quantized_bytes,
    quantizes_activations,
    release_freed_memory,
    validate_mode,
)
from .runner import FrameRunner
from .streams import PlannedStream
from .threads import cpu_thread_governor
from .types import (
    SAMPLE_RATE,
    AudioChunk,
    SamplingParams,
    SynthesisRequest,
    SynthesisResult,
    VoiceClonePrompt,
)

logger = logging.getLogger(__name__)

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def reference_wave(
    samples: np.ndarray, sample_rate: int, min_seconds: float, max_seconds: float
) -> np.ndarray:
    """Validated reference audio as mono float32 at 24 kHz (``ReferenceAudioError`` when unusable)."""
    if sample_rate <= 0:
        raise ReferenceAudioError(f"ref_sample_rate must be positive, got {sample_rate}")
    try:
        wave = to_mono_float32(samples)
    except ValueError as e:
        raise ReferenceAudioError(f"reference audio: {e}") from e
    seconds = len(wave) / sample_rate
    if not min_seconds <= seconds <= max_seconds:
        raise ReferenceAudioError(
            f"reference audio lasts {seconds:.2f} s; it must last {min_seconds}-{max_seconds} s"
        )
    if float(np.sqrt(np.mean(np.square(wave, dtype=np.float64)))) < 1e-4:  # below -80 dBFS RMS
        raise ReferenceAudioError("reference audio is silent")
    return resample(wave, int(sample_rate), SAMPLE_RATE)


def _dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(_DTYPES)}, got {dtype!r}")
    return _DTYPES[dtype]


def _distinct_bytes(tensors: list[torch.Tensor]) -> int:
    """Bytes of ``tensors``, memory shared by several counted once: per storage, the smaller of its size and
    its tensors' sum (a fused projection and the parts that are views of it: the fused matrix; a table
    that is a view into a mapped checkpoint file: the table)."""
    per_storage: dict[int, list[int]] = {}
    for t in tensors:
        storage = t.untyped_storage()
        entry = per_storage.setdefault(storage.data_ptr(), [storage.nbytes(), 0])
        entry[1] += t.numel() * t.element_size()
    return sum(min(size, used) for size, used in per_storage.values())


class TTSEngine:
    """One loaded model. Every request owns its KV caches and decoder state, so streams of several requests
    can be advanced in turn (or from several threads) on one engine."""

    def __init__(
        self,
        model: TTSModel,
        tokenizer,
        codec,
        sampling_defaults: SamplingParams,
        *,
        max_seq_len: int = 4096,
        default_max_new_frames: int = 2048,
        max_batch_size: int = 1,
        emit_every_frames: int = 4,
        first_chunk_frames: int = 1,
        use_cuda_graphs: bool | None = None,
        compile_mode: str | None = None,
        static_shapes: bool = False,
        min_ref_seconds: float = 0.5,
        max_ref_seconds: float = 60.0,
        cpu_threads: int | str = "auto",
        prefix_cache_bytes: int = 64 << 20,
    ) -> None:
        """``max_seq_len``: positions of one request (prompt + frames), which sizes each KV cache row;
        ``default_max_new_frames``: the frame cap of a request that sets none (and the most any may ask);
        ``max_batch_size``: requests decoded together in one step (streams beyond wait for a free row);
        ``emit_every_frames`` / ``first_chunk_frames``: frames per streamed chunk after / in the first;
        ``use_cuda_graphs`` (default: on for CUDA devices), ``compile_mode`` (a ``torch.compile`` mode,
        default none) and ``static_shapes`` (graph-shaped steps, run eagerly): see ``runner.py``;
        ``cpu_threads``: on CPU, ``"auto"`` lets the decode steps' thread count follow what is fastest under
        the machine's load (``threads.py``), an int fixes it; ``prefix_cache_bytes``: the talker KV of voices'
        prompt prefixes kept for their next requests (``prefix_cache.py``; 0: none; always none with int8
        activations, whose per-call scales would make a voice's later requests differ from its first)."""
        self.model = model.eval()
        self.config: ModelConfig = model.config
        self.tokenizer = tokenizer
        self.codec = codec
        self.sampling_defaults = sampling_defaults
        if emit_every_frames < 1 or first_chunk_frames < 1:
            raise ValueError(f"chunk sizes must be >= 1, got {first_chunk_frames} and {emit_every_frames}")
        if max_batch_size < 1 or max_seq_len < 2 or default_max_new_frames < 1:
            raise ValueError("max_batch_size and default_max_new_frames must be >= 1, max_seq_len >= 2")
        self.max_seq_len = max_seq_len
        self.default_max_new_frames = default_max_new_frames
        self.min_ref_seconds, self.max_ref_seconds = min_ref_seconds, max_ref_seconds
        weight = model.talker.codec_embedding.weight
        self.device, self.dtype = weight.device, weight.dtype
        eos = self.config.talker.codec_eos_token_id
        self._suppressed = suppressed_ids(self.config.talker.vocab_size, eos, self.device)
        if quantizes_activations(model):  # a prefill split at the prefix would not equal one in full: a seed
            prefix_cache_bytes = 0  # would give one voice's first request other audio than its later ones
        self.runner = FrameRunner.configure(
            self.device, use_cuda_graphs, compile_mode, max_batch_size, static_shapes
        )
        self._batch = FrameBatch(
            model.talker,
            codec.decoder,
            capacity=max_batch_size,
            max_len=max_seq_len,
            max_new_frames=default_max_new_frames,
            suppressed=self._suppressed,
            eos_id=eos,
            first_chunk_frames=first_chunk_frames,
            emit_every_frames=emit_every_frames,
            static_shapes=self.runner.static_shapes,
            prefix_cache_bytes=prefix_cache_bytes,
        )
        self.runner.attach(self._batch)
        self._batch.governor = cpu_thread_governor(self.device, cpu_threads)

    # Frames per streamed chunk (also how often end of speech is checked): the first chunk, then the rest.
    @property
    def emit_every_frames(self) -> int:
        return self._batch.emit_every_frames

    @emit_every_frames.setter
    def emit_every_frames(self, value: int) -> None:
        self._batch.emit_every_frames = value

    @property
    def first_chunk_frames(self) -> int:
        return self._batch.first_chunk_frames

    @property
    def max_batch_size(self) -> int:
        return self._batch.capacity

    def memory_bytes(self) -> int:
        """Bytes this engine holds on its device: weights (model and codec) and the batch's static state
        (KV caches and buffers; on CPU that is address space, touched as rows and positions come into use)."""
        modules = (self.model, self.codec)
        tensors = [t for m in modules for t in (*m.parameters(), *m.buffers())]
        return _distinct_bytes(tensors) + quantized_bytes(self.model) + self._batch.nbytes()

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | Path,
        device: str | torch.device = "cpu",
        dtype: str | torch.dtype = "float32",
        *,
        revision: str | None = None,
        quantize: str | None = None,
        **options,
    ) -> TTSEngine:
        """Loads a local checkpoint directory or a Hugging Face repo id. ``quantize``: ``"int8"`` makes the
        talker's and code predictor's linear layers int8 at load time (``quant/``; the KV caches, embeddings
        and codec stay in ``dtype``), default None (full precision). ``options``: see ``__init__``."""
        from .codec import SpeechTokenizer

        validate_mode(quantize)

        model_dir = resolve_model_dir(name_or_path, revision=revision)
        torch_dtype, device = _dtype(dtype), torch.device(device)
        config = ModelConfig.from_file(model_dir / "config.json")
        generation_path = model_dir / "generation_config.json"
        generation = read_json(generation_path) if generation_path.is_file() else {}
        model = build_model(model_dir, config, device, torch_dtype)
        # Quantized layers are made first, layer by layer from the loaded weights (no fused fp32 copy of the
        # whole model beside them). Fused q/k/v and gate/up projections for the rest (after loading and
        # moving: see layers/fusion.py); on CPU the weights first leave the file mapping, but for the text
        # table, which stays mapped (see build_model).
        if quantize is not None:
            quantize_model(model, quantize)
        if device.type == "cpu":
            copy_out_of_mapping(model, keep=(model.talker.text_embedding.weight,))
        fuse_projections(model)
        # The codec encoder serves only voice cloning: read on the first encode (checked now: tokenizer.py).
        codec = SpeechTokenizer.from_dir(
            model_dir / "speech_tokenizer", device=device, dtype=torch_dtype, lazy_encoder=True
        )
        fuse_projections(codec)
        options.setdefault("default_max_new_frames", int(generation.get("max_new_tokens", 8192)))
        engine = cls(
            model,
            load_text_tokenizer(model_dir),
            codec,
            SamplingParams.from_generation_config(generation),
            **options,
        )
        if device.type == "cpu":  # the loading's freed temporaries (quantizing, fusing): ~70 MiB int8 at 0.6B
            release_freed_memory()
        return engine

    # ---- what this model offers -------------------------------------------------------------------------
    @property
    def model_type(self) -> str:
        return self.config.tts_model_type

    @property
    def speakers(self) -> tuple[str, ...]:
        return tuple(self.config.talker.spk_id)

    @property
    def languages(self) -> tuple[str, ...]:
        return self.config.languages

    @property
    def supports_instruct(self) -> bool:
        """Whether a request's ``instruct`` reaches the model (else it is reported in ``ignored``)."""
        return follows_instruct(self.config)

    # ---- codec --------------------------------------------------------------------------------------------
    @torch.inference_mode()
    def codec_encode(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        """Audio at any rate -> codes, int64 [frames, 16]."""
        wave = resample(to_mono_float32(samples), int(sample_rate), SAMPLE_RATE)
        codes = self.codec.encode(torch.from_numpy(wave)[None].to(self.device))
        return codes[0].cpu().numpy().astype(np.int64)

    @torch.inference_mode()
    def codec_decode(self, codes: np.ndarray) -> np.ndarray:
        """Codes int [frames, 16] -> float32 samples at 24 kHz (exact causal decode)."""
        codes = torch.as_tensor(np.asarray(codes), dtype=torch.long, device=self.device)
        groups = self.config.talker.num_code_groups
        if codes.ndim != 2 or codes.shape[1] != groups:
            raise EngineInputError(f"codes must have shape [frames, {groups}], got {tuple(codes.shape)}")
        if codes.shape[0] == 0:
            return np.zeros(0, dtype=np.float32)
        return self.codec.decode(codes[None])[0].float().cpu().numpy()

    # ---- voice cloning ------------------------------------------------------------------------------------
    @torch.inference_mode()
    def create_voice_clone_prompt(
        self,
        ref_audio: np.ndarray,
        ref_sample_rate: int,
        ref_text: str | None = None,
        x_vector_only: bool = False,
    ) -> VoiceClonePrompt:
        """The speaker embedding and (unless ``x_vector_only``) the codes of a reference recording."""
        if self.model_type != "base":
            raise UnsupportedRequestError(
                f"voice cloning needs a Base model; this is a {self.model_type} model"
            )
        if not x_vector_only and (ref_text is None or not ref_text.strip()):
            raise EngineInputError(
                "ref_text (the transcript of ref_audio) is required unless x_vector_only=True"
            )
        wave = reference_wave(ref_audio, ref_sample_rate, self.min_ref_seconds, self.max_ref_seconds)
        embedding = self.model.speaker_encoder.embed(wave)
        codes = None
        if not x_vector_only:
            codes = self.codec.encode(torch.from_numpy(wave)[None].to(self.device))[0]
            codes = codes.cpu().numpy().astype(np.int64)
        return VoiceClonePrompt(
            speaker_embedding=embedding.float().cpu().numpy(),
            ref_codes=codes,
            ref_text=None if x_vector_only else ref_text,
            x_vector_only=x_vector_only,
        )

    # ---- synthesis ----------------------------------------------------------------------------------------
    def synthesize(self, request: SynthesisRequest) -> SynthesisResult:
        chunks = list(self.stream(request))
        codes = np.concatenate([c.codes for c in chunks])
        samples = np.concatenate([c.samples for c in chunks])
        last = chunks[-1]
        return SynthesisResult(samples=samples, codes=codes, ignored=last.ignored, finished=last.finished)

    def stream(self, request: SynthesisRequest) -> Iterator[AudioChunk]:
        """Audio chunks as frames are generated; their concatenation equals ``synthesize(request)``.

        Streams advanced in turn (or from several threads) share the engine's batch: up to ``max_batch_size``
        of them are decoded together, one frame per step; a request's audio does not depend on the others.
        Each frame is decoded exactly once, through the codec decoder's causal streaming state. Closing the
        generator frees the request's row at once. Inference mode is entered per step, never held across a
        ``yield`` (the caller's code runs in its own mode).
        """
        with torch.inference_mode():
            handle = self._batch.submit(self._plan(request))
        try:
            while True:
                chunk = self._batch.next_chunk(handle)
                yield chunk
                if chunk.is_last:
                    return
        finally:
            self._batch.release(handle)

    def stream_many(self, requests: Sequence[SynthesisRequest]) -> Iterator[tuple[int, AudioChunk]]:
        """Several requests decoded together: (index into ``requests``, chunk) pairs, each request's chunks
        in order, all of them until every request has ended."""
        with torch.inference_mode():
            handles = [self._batch.submit(self._plan(r)) for r in requests]  # all join the first step
        live = dict(enumerate(handles))
        try:
            while live:
                for index, handle in list(live.items()):
                    chunk = self._batch.next_chunk(handle)
                    yield index, chunk
                    if chunk.is_last:
                        del live[index]
        finally:
            for handle in handles:
                self._batch.release(handle)

    def _plan(self, request: SynthesisRequest) -> PlannedStream:
        plan = plan_request(request, self.config, self.model.talker, self._tokenize)
        room = self.max_seq_len - plan.prompt.length
        if room < 1:
            raise EngineInputError(
                f"the prompt takes {plan.prompt.length} positions; this engine holds {self.max_seq_len}: "
                "shorten the text (or the reference) or raise max_seq_len"
            )
        asked = request.max_new_frames or self.default_max_new_frames
        return PlannedStream(
            embeds=plan.prompt.embeds,
            text_rows=plan.prompt.text_rows,
            ref_codes=plan.ref_codes,
            sampling=request.sampling.resolved(self.sampling_defaults),
            seed=request.seed if request.seed is not None else secrets.randbits(63),
            max_frames=min(asked, self.default_max_new_frames, room),
            min_frames=request.min_new_frames,
            ignored=plan.ignored,
            prefix_len=plan.prompt.prefix_len,
        )

    def _tokenize(self, text: str) -> torch.Tensor:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return torch.tensor([ids], dtype=torch.long)
