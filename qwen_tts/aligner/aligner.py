"""``ForcedAligner``: word timings for a transcript and its audio, with Qwen3-ForcedAligner.

aligner = ForcedAligner.from_pretrained("Qwen/Qwen3-ForcedAligner-0.6B", device="cpu", dtype="float32")
words = aligner.align(samples, 24000, "Hello world.", "English")  # [WordTiming("Hello", 0.08, 0.4), ...]
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from ..audio import resample, to_mono_float32, whisper_log_mel
from ..engine import _dtype
from ..errors import CheckpointError, EngineInputError
from ..layers.fusion import fuse_projections
from ..loading import copy_out_of_mapping, load_text_tokenizer
from .config import AlignerConfig
from .encoder import tokens_after_convs
from .loading import build_aligner, read_config, resolve_aligner_dir
from .model import AlignerModel
from .timestamps import WordTiming, word_timings
from .words import split_words

logger = logging.getLogger(__name__)

AUDIO_START, AUDIO_PAD, AUDIO_END, TIMESTAMP = (
    "<|audio_start|>",
    "<|audio_pad|>",
    "<|audio_end|>",
    "<timestamp>",
)


class ForcedAligner:
    """One loaded aligner. ``align`` holds no state between calls, so one instance serves many threads."""

    def __init__(self, model: AlignerModel, tokenizer, config: AlignerConfig) -> None:
        self.model, self.tokenizer, self.config = model, tokenizer, config
        ids = {token: tokenizer.convert_tokens_to_ids(token) for token in (AUDIO_START, AUDIO_PAD, AUDIO_END)}
        ids[TIMESTAMP] = tokenizer.convert_tokens_to_ids(TIMESTAMP)
        unknown = [
            token for token, token_id in ids.items() if token_id is None or token_id == tokenizer.unk_token_id
        ]
        if unknown:
            raise CheckpointError(f"the aligner's tokenizer lacks {', '.join(unknown)}")
        if ids[AUDIO_PAD] != config.audio_token_id or ids[TIMESTAMP] != config.timestamp_token_id:
            raise CheckpointError("the tokenizer's audio-pad / timestamp ids differ from config.json's")
        self._audio_start, self._audio_end = ids[AUDIO_START], ids[AUDIO_END]
        self._word_ids: dict[str, list[int]] = {}

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | Path,
        device: str | torch.device = "cpu",
        dtype: str | torch.dtype = "float32",
        *,
        revision: str | None = None,
    ) -> ForcedAligner:
        """A local checkpoint directory or a Hugging Face repo id (Qwen/Qwen3-ForcedAligner-0.6B)."""
        model_dir = resolve_aligner_dir(name_or_path, revision=revision)
        config = read_config(model_dir)
        device = torch.device(device)
        model = build_aligner(model_dir, config, str(device), _dtype(dtype))
        if device.type == "cpu":
            copy_out_of_mapping(model)  # before fusing: see qwen_tts.engine
        fuse_projections(model)
        return cls(model, load_text_tokenizer(model_dir), config)

    @property
    def device(self) -> torch.device:
        return self.model.lm_head.weight.device

    def split_words(self, text: str, language: str) -> list[str]:
        """The units ``align`` times, for callers that need them before aligning."""
        return split_words(text, language)

    def prompt_ids(self, words: list[str], num_audio_tokens: int) -> list[int]:
        """audio-start, one audio-pad per encoder output, audio-end, then each word and two timestamps."""
        ids = [self._audio_start, *[self.config.audio_token_id] * num_audio_tokens, self._audio_end]
        for word in words:
            ids += self._encode_word(word)
            ids += [self.config.timestamp_token_id] * 2
        return ids

    def _encode_word(self, word: str) -> list[int]:
        # Special tokens cut the official prompt into pieces tokenized one by one: a word alone gets the
        # same ids as in the prompt.
        if word not in self._word_ids:
            self._word_ids[word] = list(self.tokenizer.encode(word, add_special_tokens=False))
        return self._word_ids[word]

    def features(self, samples: np.ndarray, sample_rate: int) -> torch.Tensor:
        """The log-mel features [num_mels, frames] of mono audio at any rate (resampled to 16 kHz)."""
        if sample_rate <= 0:
            raise EngineInputError(f"sample_rate must be positive, got {sample_rate}")
        try:
            wave = resample(to_mono_float32(samples), int(sample_rate), self.config.sample_rate)
        except ValueError as e:  # empty, non-finite or mis-shaped audio
            raise EngineInputError(f"cannot align this audio: {e}") from e
        peak = float(np.max(np.abs(wave))) if wave.size else 0.0
        if peak > 1.0:  # out-of-range input is scaled down, as the official front end does
            wave = wave / peak
        wave = np.clip(wave, -1.0, 1.0).astype(np.float32)
        seconds = wave.shape[0] / self.config.sample_rate
        if seconds > self.config.max_duration_s:
            raise EngineInputError(
                f"audio lasts {seconds:.1f} s; the aligner times at most {self.config.max_duration_s:.0f} s: "
                "align it in parts"
            )
        if wave.shape[0] < 160:
            raise EngineInputError(f"audio too short to align: {wave.shape[0]} samples at 16 kHz")
        return whisper_log_mel(
            torch.from_numpy(wave).to(self.device), num_mels=self.config.audio.num_mel_bins
        )

    @torch.inference_mode()
    def logits(
        self, samples: np.ndarray, sample_rate: int, words: list[str]
    ) -> tuple[list[int], torch.Tensor]:
        """The prompt ids and the head's logits [T, num_classes] at every position (for parity checks)."""
        features = self.features(samples, sample_rate)
        ids = self.prompt_ids(words, tokens_after_convs(features.shape[1], self.config.audio.chunk_frames))
        input_ids = torch.tensor(ids, device=self.device)
        return ids, self.model(input_ids, features.to(self.model.lm_head.weight.dtype)).float()

    @torch.inference_mode()
    def align(self, samples: np.ndarray, sample_rate: int, text: str, language: str) -> list[WordTiming]:
        """The words of ``text`` (see ``split_words``) timed in ``samples``: monotonic and non-overlapping,
        in seconds from the audio's start, on the head's grid (80 ms for the released model)."""
        words = split_words(text, language)
        if not words:
            return []
        features = self.features(samples, sample_rate)
        num_audio = tokens_after_convs(features.shape[1], self.config.audio.chunk_frames)
        input_ids = torch.tensor(self.prompt_ids(words, num_audio), device=self.device)
        at = torch.nonzero(input_ids == self.config.timestamp_token_id).squeeze(1)  # [2 * words]
        logits = self.model(input_ids, features.to(self.model.lm_head.weight.dtype), at)  # [2 * words, C]
        classes = logits.argmax(dim=-1).tolist()
        timings = word_timings(words, classes, self.config.timestamp_segment_ms)
        logger.debug("aligned %d words in %.2f s of audio", len(words), features.shape[1] / 100)
        return timings
