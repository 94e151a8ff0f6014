"""The aligner's tensor names: the released checkpoint's (``thinker.*``) <-> our modules', declared once.

Our audio-encoder blocks are the shared ``TransformerBlock``, so Whisper's names map onto its names.
"""

from __future__ import annotations

import re

from ..loading import _rename  # first matching rule wins, as for the TTS names

# (official pattern, our replacement), first match wins; names not matched are not aligner tensors.
_TO_OURS: tuple[tuple[str, str], ...] = (
    (r"^thinker\.audio_tower\.layers\.(\d+)\.self_attn\.out_proj\.",
     r"audio_tower.layers.\1.self_attn.o_proj."),
    (r"^thinker\.audio_tower\.layers\.(\d+)\.self_attn_layer_norm\.",
     r"audio_tower.layers.\1.input_layernorm."),
    (r"^thinker\.audio_tower\.layers\.(\d+)\.final_layer_norm\.",
     r"audio_tower.layers.\1.post_attention_layernorm."),
    (r"^thinker\.audio_tower\.layers\.(\d+)\.(fc1|fc2)\.", r"audio_tower.layers.\1.mlp.\2."),
    (r"^thinker\.audio_tower\.", "audio_tower."),
    (r"^thinker\.model\.embed_tokens\.", "embed_tokens."),
    (r"^thinker\.model\.", "decoder."),
    (r"^thinker\.lm_head\.", "lm_head."),
)  # fmt: skip
_TO_OFFICIAL: tuple[tuple[str, str], ...] = (
    (r"^audio_tower\.layers\.(\d+)\.self_attn\.o_proj\.",
     r"thinker.audio_tower.layers.\1.self_attn.out_proj."),
    (r"^audio_tower\.layers\.(\d+)\.input_layernorm\.",
     r"thinker.audio_tower.layers.\1.self_attn_layer_norm."),
    (r"^audio_tower\.layers\.(\d+)\.post_attention_layernorm\.",
     r"thinker.audio_tower.layers.\1.final_layer_norm."),
    (r"^audio_tower\.layers\.(\d+)\.mlp\.(fc1|fc2)\.", r"thinker.audio_tower.layers.\1.\2."),
    (r"^audio_tower\.", "thinker.audio_tower."),
    (r"^embed_tokens\.", "thinker.model.embed_tokens."),
    (r"^decoder\.", "thinker.model."),
    (r"^lm_head\.", "thinker.lm_head."),
)  # fmt: skip
_COMPILED_OURS = tuple((re.compile(p), r) for p, r in _TO_OURS)
_COMPILED_OFFICIAL = tuple((re.compile(p), r) for p, r in _TO_OFFICIAL)


def our_name(official: str) -> str:
    return _rename(official, _COMPILED_OURS)


def official_name(ours: str) -> str:
    return _rename(ours, _COMPILED_OFFICIAL)
