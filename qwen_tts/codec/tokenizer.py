"""``SpeechTokenizer``: the 12 Hz speech tokenizer of a checkpoint's ``speech_tokenizer/`` directory."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import CheckpointError
from .config import CodecConfig
from .decoder import CodecDecoder
from .encoder import CodecEncoder
from .weights import load_checked, read_safetensors, to_our_names

DEFAULT_CHUNK_FRAMES = 300  # frames per decoder pass in decode(): bounds memory, exact at any size


class SpeechTokenizer(nn.Module):
    """Codes <-> 24 kHz audio. ``decoder`` also streams: ``decoder.init_state`` / ``decoder.decode_step``."""

    def __init__(self, config: CodecConfig, with_encoder: bool = True) -> None:
        super().__init__()
        self.config = config
        self.decoder = CodecDecoder(config.decoder)
        self.encoder = CodecEncoder(config.encoder) if with_encoder else None

    @property
    def sample_rate(self) -> int:
        return self.config.output_sample_rate

    @property
    def samples_per_frame(self) -> int:
        return self.config.samples_per_frame

    @property
    def num_quantizers(self) -> int:
        return self.config.decoder.num_quantizers

    @classmethod
    def from_dir(
        cls,
        path: str | Path,
        device: str | torch.device = "cpu",
        dtype: torch.dtype | str = torch.float32,
        with_encoder: bool = True,
    ) -> SpeechTokenizer:
        """Loads ``config.json`` and ``model.safetensors`` of a speech tokenizer directory.

        Every checkpoint tensor must map onto the model and every model tensor must be in the checkpoint with
        the configured shape; anything else is a ``CheckpointError`` naming the tensors.
        """
        directory = Path(path)
        if not directory.is_dir():
            raise CheckpointError(f"speech tokenizer directory not found: {directory}")
        config = CodecConfig.from_file(directory / "config.json")
        model = cls(config, with_encoder=with_encoder)
        tensors = read_safetensors(directory)
        if not with_encoder:
            tensors = {name: t for name, t in tensors.items() if not name.startswith("encoder.")}
        load_checked(model, to_our_names(tensors, set(model.state_dict())), f"speech tokenizer {directory}")
        dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
        return model.requires_grad_(False).to(device=device, dtype=dtype).eval()

    def _check_codes(self, codes: torch.Tensor) -> None:
        if codes.ndim != 3 or codes.shape[2] != self.num_quantizers:
            raise ValueError(f"codes must be [B, T, {self.num_quantizers}], got shape {tuple(codes.shape)}")
        if codes.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"codes must be integers, got {codes.dtype}")
        size = self.config.decoder.codebook_size
        if codes.numel() and (codes.min() < 0 or codes.max() >= size):
            raise ValueError(f"codes must lie in [0, {size}), got [{codes.min()}, {codes.max()}]")

    @torch.inference_mode()
    def decode(self, codes: torch.Tensor, chunk_frames: int = DEFAULT_CHUNK_FRAMES) -> torch.Tensor:
        """codes [B, T, 16] -> samples [B, T * 1920]: the exact causal decode of the whole sequence.

        Long inputs are decoded ``chunk_frames`` at a time through the streaming state, which bounds memory
        without the official windowed approximation.
        """
        self._check_codes(codes)
        device = next(self.decoder.parameters()).device
        codes = codes.to(device=device, dtype=torch.int64)
        state = self.decoder.init_state(codes.shape[0])
        pieces = [self.decoder.decode_step(chunk, state) for chunk in codes.split(chunk_frames, dim=1)]
        return torch.cat(pieces, dim=1) if pieces else self.decoder(codes)

    def encode(self, samples: torch.Tensor) -> torch.Tensor:
        """samples [B, N] at 24 kHz (float) -> codes [B, ceil(N / 1920), 16] (int64)."""
        if self.encoder is None:
            raise RuntimeError("this SpeechTokenizer was loaded without its encoder")
        return self.encoder.encode(samples, self.config.num_encoder_quantizers)
