"""``SpeechTokenizer``: the 12 Hz speech tokenizer of a checkpoint's ``speech_tokenizer/`` directory.

The encoder (audio -> codes) serves only voice cloning's reference audio, so an engine loads it lazily
(``lazy_encoder``): its tensors' names and shapes are checked against the config at load, from the
checkpoint's header alone (a broken checkpoint still fails at startup, with the eager load's errors), and
its weights (214 MiB at the released shapes) are read on the first ``encode``.
"""

from __future__ import annotations

import threading
from pathlib import Path

import torch
from torch import nn

from ..errors import CheckpointError
from ..layers.fusion import fuse_projections
from .config import CodecConfig
from .decoder import CodecDecoder
from .encoder import CodecEncoder
from .weights import check_tensors, load_checked, read_safetensors, to_our_names

DEFAULT_CHUNK_FRAMES = 300  # frames per decoder pass in decode(): bounds memory, exact at any size


class SpeechTokenizer(nn.Module):
    """Codes <-> 24 kHz audio. ``decoder`` also streams: ``decoder.init_state`` / ``decoder.decode_step``."""

    def __init__(self, config: CodecConfig, with_encoder: bool = True) -> None:
        super().__init__()
        self.config = config
        self.decoder = CodecDecoder(config.decoder)
        self.encoder = CodecEncoder(config.encoder) if with_encoder else None
        # Where a lazily loaded encoder comes from: (directory, device, dtype); None: nothing to load.
        self._encoder_source: tuple[Path, torch.device, torch.dtype] | None = None
        self._encoder_lock = threading.Lock()

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
        *,
        lazy_encoder: bool = False,
    ) -> SpeechTokenizer:
        """Loads ``config.json`` and ``model.safetensors`` of a speech tokenizer directory.

        Every checkpoint tensor must map onto the model and every model tensor must be in the checkpoint with
        the configured shape; anything else is a ``CheckpointError`` naming the tensors. ``lazy_encoder``
        (with ``with_encoder``): the encoder's tensors are checked so from the header, and read on the first
        ``encode``; ``with_encoder=False``: no encoder at all (``encode`` raises).
        """
        directory = Path(path)
        if not directory.is_dir():
            raise CheckpointError(f"speech tokenizer directory not found: {directory}")
        config = CodecConfig.from_file(directory / "config.json")
        lazy = with_encoder and lazy_encoder
        model = cls(config, with_encoder=with_encoder and not lazy)
        where = f"speech tokenizer {directory}"
        if lazy:
            _check_encoder_header(config, directory, where)
        if model.encoder is not None:
            tensors = read_safetensors(directory)
        else:
            tensors = read_safetensors(directory, lambda name: not name.startswith("encoder."))
        load_checked(model, to_our_names(tensors, set(model.state_dict())), where)
        dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
        model = model.requires_grad_(False).to(device=device, dtype=dtype).eval()
        if lazy:
            model._encoder_source = (directory, torch.device(device), dtype)
        return model

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
        """samples [B, N] at 24 kHz (float) -> codes [B, ceil(N / 1920), 16] (int64). A lazy encoder is
        loaded by the first call (once, whichever thread calls first)."""
        encoder = self.encoder if self.encoder is not None else self.load_encoder()
        return encoder.encode(samples, self.config.num_encoder_quantizers)

    def load_encoder(self) -> CodecEncoder:
        """The encoder, read from the checkpoint now if it was left for later (``lazy_encoder``); a
        checkpoint changed since the load is a ``CheckpointError`` as at load."""
        with self._encoder_lock:
            if self.encoder is not None:
                return self.encoder
            if self._encoder_source is None:
                raise RuntimeError("this SpeechTokenizer was loaded without its encoder")
            directory, device, dtype = self._encoder_source
            encoder = CodecEncoder(self.config.encoder)
            expected = {f"encoder.{name}": t for name, t in encoder.state_dict().items()}
            tensors = read_safetensors(directory, lambda name: name.startswith("encoder."))
            named = to_our_names(tensors, set(expected))
            check_tensors(expected, named, f"speech tokenizer {directory}")
            encoder.load_state_dict({n.removeprefix("encoder."): t for n, t in named.items()}, strict=True)
            encoder = encoder.requires_grad_(False).to(device=device, dtype=dtype).eval()
            self.encoder = fuse_projections(encoder)
            return self.encoder


def _check_encoder_header(config: CodecConfig, directory: Path, where: str) -> None:
    """The checkpoint's encoder tensors against the config's encoder, by name and shape (the header only)."""
    with torch.device("meta"):
        expected = {f"encoder.{n}": t for n, t in CodecEncoder(config.encoder).state_dict().items()}
    header = read_safetensors(directory, lambda name: name.startswith("encoder."), shapes_only=True)
    check_tensors(expected, to_our_names(header, set(expected)), where)
