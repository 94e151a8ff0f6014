"""Decode response bodies back with the real ffmpeg/ffprobe, to check what clients will hear."""

from __future__ import annotations

import json
import subprocess

import numpy as np


def probe(data: bytes) -> dict[str, object]:
    """ffprobe's view of the first audio stream: codec_name, sample_rate, channels (format_name too)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format", "-i", "pipe:0"],
        input=data,
        capture_output=True,
        timeout=30,
        check=True,
    )
    info = json.loads(out.stdout)
    stream = info["streams"][0]
    return {
        "codec_name": stream["codec_name"],
        "sample_rate": int(stream["sample_rate"]),
        "channels": int(stream["channels"]),
        "format_name": info["format"]["format_name"],
    }


def decode(data: bytes, *, fmt: str | None = None) -> np.ndarray:
    """Decode any encoded body to mono float32 at 24 kHz (what a player would render)."""
    cmd = ["ffmpeg", "-v", "error", "-nostdin"]
    if fmt == "pcm":
        cmd += ["-f", "s16le", "-ar", "24000", "-ac", "1"]
    cmd += ["-i", "pipe:0", "-f", "f32le", "-ac", "1", "-ar", "24000", "pipe:1"]
    out = subprocess.run(cmd, input=data, capture_output=True, timeout=30, check=True)
    return np.frombuffer(out.stdout, dtype="<f4")


def duration_s(data: bytes, *, fmt: str | None = None) -> float:
    return decode(data, fmt=fmt).size / 24_000
