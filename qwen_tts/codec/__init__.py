"""The 12 Hz speech tokenizer: Mimi encoder (audio -> codes) and causal decoder (codes -> 24 kHz audio)."""

from .config import CodecConfig, DecoderConfig
from .decoder import CodecDecoder
from .encoder import CodecEncoder
from .encoder_config import EncoderConfig
from .streaming import StreamState
from .tokenizer import SpeechTokenizer

__all__ = [
    "CodecConfig",
    "CodecDecoder",
    "CodecEncoder",
    "DecoderConfig",
    "EncoderConfig",
    "SpeechTokenizer",
    "StreamState",
]
