"""Counter-based sampling noise: a pure function of (request seed, frame, codebook, token id).

Why not ``torch.Generator``: a generator's stream is shared by every row it serves and advances with the
batch, so a request's audio would depend on which other requests happened to share its steps, and a stateful
generator is awkward inside a captured CUDA graph. Hashing a counter instead (the idea behind Philox and JAX's
PRNG keys) gives each request the same draws alone or in any batch, eager or graph-replayed, with no state but
the ``frame`` counter the decode step keeps anyway.

The hash is a 32-bit integer mixer (two rounds of xorshift-multiply, constant 0x45d9f3b) evaluated in int64,
so no product ever overflows; a draw keeps 24 bits, i.e. uniform noise on a 2^-24 grid in (0, 1).

The top of that grid, ``1 - 2^-25``, is not a float32: it rounds to 1.0, whose noise ``-log(1)`` is 0 (-0.0).
A zero made ``probs / noise`` 0/0 = NaN for a token the warpers had removed, and ``argmax`` picks NaN: about
once in 16,000 codebook-0 draws a frame started with a suppressed control id (>= the codec's codebook), which
the codec decoder's embedding then failed on mid-stream (issue 19). Uniforms are capped at the largest float32
below 1, so the noise is always > 0.
"""

from __future__ import annotations

import torch

_MASK = 0xFFFFFFFF
_MUL = 0x45D9F3B  # < 2^27: a 32-bit value times this stays below 2^59
_GOLDEN = 0x9E3779B9
_BELOW_ONE = 1.0 - 2.0**-24  # the largest float32 below 1


def mix32(x: torch.Tensor) -> torch.Tensor:
    """A bijective avalanche mix of 32-bit values held in int64 (any shape)."""
    x = x & _MASK
    x = (((x >> 16) ^ x) * _MUL) & _MASK
    x = (((x >> 16) ^ x) * _MUL) & _MASK
    return (x >> 16) ^ x


def seed_keys(seeds: torch.Tensor) -> torch.Tensor:
    """[B] 63-bit seeds -> [B] 32-bit request keys (both halves of the seed matter)."""
    return mix32((seeds & _MASK) ^ mix32((seeds >> 32) + _GOLDEN))


def draw_keys(request_keys: torch.Tensor, frame: torch.Tensor, codebook: int, groups: int) -> torch.Tensor:
    """[B] keys of one draw: codebook ``codebook`` of frame ``frame`` [B] of each request."""
    return mix32(request_keys ^ mix32(frame * groups + codebook + _GOLDEN))


def exponential_noise(keys: torch.Tensor, vocab: int) -> torch.Tensor:
    """[B] draw keys -> [B, vocab] float32 Exp(1) noise, each entry a hash of (key, token id)."""
    token = mix32(torch.arange(vocab, device=keys.device, dtype=torch.int64) * _GOLDEN)  # [V]
    bits = mix32(keys[:, None] ^ token[None, :]) >> 8  # [B, V], 24 bits
    uniform = ((bits.to(torch.float32) + 0.5) * 2.0**-24).clamp(max=_BELOW_ONE)  # (0, 1), never 1.0
    return -torch.log(uniform)
