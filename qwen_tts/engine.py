"""``TTSEngine``: the public entry point — load a checkpoint, clone voices, synthesize, stream."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from .audio import resample, to_mono_float32
from .config import ModelConfig, read_json
from .errors import EngineInputError, ReferenceAudioError, UnsupportedRequestError
from .generation import FrameBlock, RequestCaches, TalkerLogitsRules, generate_frames, suppressed_ids
from .loading import load_text_tokenizer, load_weights, read_weights, resolve_model_dir
from .model import TTSModel
from .planning import follows_instruct, plan_request
from .sampling import SamplerTensors
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
        max_seq_len: int = 8192,
        initial_cache_len: int = 512,
        default_max_new_frames: int = 8192,
        emit_every_frames: int = 4,
        first_chunk_frames: int = 1,
        min_ref_seconds: float = 0.5,
        max_ref_seconds: float = 60.0,
    ) -> None:
        self.model = model.eval()
        self.config: ModelConfig = model.config
        self.tokenizer = tokenizer
        self.codec = codec
        self.sampling_defaults = sampling_defaults
        self.max_seq_len = max_seq_len
        self.initial_cache_len = initial_cache_len
        self.default_max_new_frames = default_max_new_frames
        if emit_every_frames < 1 or first_chunk_frames < 1:
            raise ValueError(f"chunk sizes must be >= 1, got {first_chunk_frames} and {emit_every_frames}")
        # Frames per streamed chunk (also how often end of speech is checked): the first chunk, then the rest.
        self.first_chunk_frames, self.emit_every_frames = first_chunk_frames, emit_every_frames
        self.min_ref_seconds, self.max_ref_seconds = min_ref_seconds, max_ref_seconds
        weight = model.talker.codec_head.weight
        self.device, self.dtype = weight.device, weight.dtype
        eos = self.config.talker.codec_eos_token_id
        self._suppressed = suppressed_ids(self.config.talker.vocab_size, eos, self.device)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | Path,
        device: str | torch.device = "cpu",
        dtype: str | torch.dtype = "float32",
        *,
        revision: str | None = None,
        **options,
    ) -> TTSEngine:
        """Loads a local checkpoint directory or a Hugging Face repo id. ``options``: see ``__init__``."""
        from .codec import SpeechTokenizer
        from .speaker_encoder import SpeakerEncoder

        model_dir = resolve_model_dir(name_or_path, revision=revision)
        torch_dtype, device = _dtype(dtype), torch.device(device)
        config = ModelConfig.from_file(model_dir / "config.json")
        generation_path = model_dir / "generation_config.json"
        generation = read_json(generation_path) if generation_path.is_file() else {}
        speaker_encoder = SpeakerEncoder(config.speaker_encoder) if config.tts_model_type == "base" else None
        model = TTSModel(config, speaker_encoder)
        load_weights(
            model, read_weights(model_dir), ignore_prefixes=() if speaker_encoder else ("speaker_encoder.",)
        )
        model.to(device=device, dtype=torch_dtype)
        codec = SpeechTokenizer.from_dir(model_dir / "speech_tokenizer", device=device, dtype=torch_dtype)
        options.setdefault("default_max_new_frames", int(generation.get("max_new_tokens", 8192)))
        return cls(
            model,
            load_text_tokenizer(model_dir),
            codec,
            SamplingParams.from_generation_config(generation),
            **options,
        )

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

        Each frame is decoded exactly once, through the codec decoder's causal streaming state. Inference
        mode is entered per step, never held across a ``yield`` (the caller's code runs in its own mode).
        """
        with torch.inference_mode():
            blocks, plan = self._generate(request)
            state = self.codec.decoder.init_state(1)
            if plan.ref_codes is not None:  # in-context clone: the reference frames are left context only
                self.codec.decoder.decode_step(plan.ref_codes[None], state)
        while True:
            with torch.inference_mode():
                block = next(blocks, None)
                if block is None:
                    return
                chunk = self._audio_chunk(block, state, plan.ignored)
            yield chunk

    def _audio_chunk(self, block: FrameBlock, state, ignored: tuple[str, ...]) -> AudioChunk:
        if block.codes.shape[0]:
            samples = self.codec.decoder.decode_step(block.codes[None], state)[0].float().cpu().numpy()
        else:
            samples = np.zeros(0, dtype=np.float32)
        return AudioChunk(
            samples=samples,
            codes=block.codes.cpu().numpy().astype(np.int64),
            ignored=ignored,
            is_last=block.is_last,
            finished=block.finished,
        )

    def _generate(self, request: SynthesisRequest) -> tuple[Iterator[FrameBlock], object]:
        plan = plan_request(request, self.config, self.model.talker, self._tokenize)
        room = self.max_seq_len - plan.prompt.length
        if room < 1:
            raise EngineInputError(
                f"the prompt takes {plan.prompt.length} positions; this engine holds {self.max_seq_len}: "
                "shorten the text (or the reference) or raise max_seq_len"
            )
        max_frames = min(request.max_new_frames or self.default_max_new_frames, room)
        caches = RequestCaches.allocate(
            self.model.talker, 1, plan.prompt.length + self.initial_cache_len, plan.prompt.length + max_frames
        )
        sampling = request.sampling.resolved(self.sampling_defaults)
        seed = request.seed if request.seed is not None else secrets.randbits(63)
        generator = torch.Generator(device=self.device).manual_seed(seed)
        rules = TalkerLogitsRules(
            repetition_penalty=torch.tensor([[sampling.repetition_penalty]], device=self.device),
            min_new_frames=torch.tensor([request.min_new_frames], device=self.device),
            suppressed=self._suppressed,
            eos_id=self.config.talker.codec_eos_token_id,
        )
        blocks = generate_frames(
            self.model.talker,
            plan.prompt.embeds,
            plan.prompt.text_rows,
            SamplerTensors.build([sampling], predictor=False, device=self.device),
            SamplerTensors.build([sampling], predictor=True, device=self.device),
            rules,
            max_frames,
            generator,
            caches,
            block_frames=self.emit_every_frames,
            first_block_frames=self.first_chunk_frames,
        )
        return blocks, plan

    def _tokenize(self, text: str) -> torch.Tensor:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return torch.tensor([ids], dtype=torch.long)
