"""Reference audio from untrusted uploads: sniff the container, decode it safely with ffmpeg, check it.

Safety. The format is taken from the file's magic bytes, never from its name or a client's content type,
and ffmpeg is told that format (``-f``), so no other demuxer (playlists, ``concat``) can be probed into. The
upload is written to a private temporary file that is the only input; ``-protocol_whitelist file`` refuses
every other protocol (no network, no ``pipe``/``fd`` tricks), ``-nostdin`` keeps stdin closed, ``-t`` stops
decoding just past the duration cap (a tiny file that expands to hours costs no more than the cap), and the
process is killed after ``decode_timeout_s``. Only the first audio stream is decoded, to mono 24 kHz float32.

Checks after decoding: at least ``min_seconds``, at most ``max_seconds``, and not silent (RMS above
``silence_dbfs``). Every rejection is an ``AudioRejected`` (a 4xx ``ServiceError`` with a specific code).
"""

from __future__ import annotations

import hashlib
import math
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.audio import float_to_s16le, wav_header
from common.contracts import SAMPLE_RATE
from common.errors import InvalidRequest, Unavailable


@dataclass(frozen=True, slots=True)
class UploadFormat:
    name: str  # what we call it
    demuxer: str  # ffmpeg's -f
    content_type: str
    extension: str


WAV = UploadFormat("wav", "wav", "audio/wav", "wav")
FLAC = UploadFormat("flac", "flac", "audio/flac", "flac")
MP3 = UploadFormat("mp3", "mp3", "audio/mpeg", "mp3")
OGG = UploadFormat("ogg", "ogg", "audio/ogg", "ogg")
MP4 = UploadFormat("m4a", "mov", "audio/mp4", "m4a")
AAC = UploadFormat("aac", "aac", "audio/aac", "aac")
WEBM = UploadFormat("webm", "matroska", "audio/webm", "webm")
SUPPORTED = "wav, flac, mp3, ogg/opus, m4a/aac, webm"


@dataclass(frozen=True, slots=True)
class IngestLimits:
    max_upload_bytes: int = 20 * 1024 * 1024
    min_seconds: float = 1.0
    max_seconds: float = 60.0  # the engine refuses longer references
    silence_dbfs: float = -60.0  # RMS below this is "silent"
    decode_timeout_s: float = 30.0


@dataclass(frozen=True, slots=True)
class ReferenceAudio:
    """An accepted upload: the original bytes and their normalized mono 24 kHz form."""

    original: bytes
    format: UploadFormat
    sha256: str  # of the original bytes
    samples: np.ndarray  # float32 mono at 24 kHz

    @property
    def duration_s(self) -> float:
        return self.samples.size / SAMPLE_RATE

    def normalized_wav(self) -> bytes:
        pcm = float_to_s16le(self.samples)
        return wav_header(len(pcm)) + pcm


class AudioRejected(InvalidRequest):
    """The upload is not usable reference audio; ``code`` says why."""

    def __init__(self, message: str, *, code: str, param: str | None = None, status: int = 400) -> None:
        super().__init__(message, param=param, code=code)
        self.status = status


def sniff_format(data: bytes) -> UploadFormat | None:
    """The container of ``data`` from its first bytes, or None when it is none we accept."""
    head = data[:16]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return WAV
    if head[:4] == b"fLaC":
        return FLAC
    if head[:4] == b"OggS":
        return OGG
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: Matroska / WebM
        return WEBM
    if head[4:8] == b"ftyp":
        return MP4
    if head[:3] == b"ID3":
        return MP3
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:  # an MPEG audio frame sync
        return AAC if head[1] & 0x06 == 0 else MP3  # layer bits 00: ADTS AAC
    return None


def decode_command(ffmpeg: str, path: Path, fmt: UploadFormat, max_seconds: float) -> list[str]:
    return [
        ffmpeg,
        *("-nostdin", "-hide_banner", "-loglevel", "error"),
        *("-protocol_whitelist", "file", "-f", fmt.demuxer, "-i", str(path)),
        *("-map", "0:a:0", "-vn", "-sn", "-dn", "-t", f"{max_seconds + 0.5:.3f}"),
        *("-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "f32le", "pipe:1"),
    ]


def decode_upload(
    data: bytes, fmt: UploadFormat, *, ffmpeg: str, limits: IngestLimits, param: str | None
) -> np.ndarray:
    """Decode ``data`` (already sniffed as ``fmt``) to mono 24 kHz float32, within the limits."""
    with tempfile.TemporaryDirectory(prefix="qwen3-tts-upload-") as tmp:
        path = Path(tmp) / f"upload.{fmt.extension}"
        path.write_bytes(data)
        command = decode_command(ffmpeg, path, fmt, limits.max_seconds)
        try:
            done = subprocess.run(
                command, stdin=subprocess.DEVNULL, capture_output=True, timeout=limits.decode_timeout_s
            )
        except FileNotFoundError as e:
            raise Unavailable(f"ffmpeg ({ffmpeg}) is not installed; it is needed to read audio") from e
        except subprocess.TimeoutExpired as e:
            raise AudioRejected(
                f"decoding the audio took longer than {limits.decode_timeout_s:g} s",
                code="audio_undecodable",
                param=param,
            ) from e
    if done.returncode != 0 or not done.stdout:
        reason = done.stderr.decode(errors="replace").strip().splitlines()
        detail = f": {reason[-1][:200]}" if reason else ""
        raise AudioRejected(
            f"the {fmt.name} audio could not be decoded{detail}", code="audio_undecodable", param=param
        )
    return np.frombuffer(done.stdout[: len(done.stdout) // 4 * 4], dtype="<f4").astype(np.float32)


def check_samples(samples: np.ndarray, limits: IngestLimits, *, param: str | None) -> None:
    seconds = samples.size / SAMPLE_RATE
    if seconds < limits.min_seconds:
        raise AudioRejected(
            f"the audio lasts {seconds:.2f} s; a reference must last at least {limits.min_seconds:g} s",
            code="audio_too_short",
            param=param,
        )
    if seconds > limits.max_seconds:
        raise AudioRejected(
            f"the audio lasts more than {limits.max_seconds:g} s, the longest reference accepted",
            code="audio_too_long",
            param=param,
        )
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    level = 20 * math.log10(rms) if rms > 0 else -math.inf
    if level < limits.silence_dbfs:
        raise AudioRejected(
            f"the audio is silent (RMS {level:.0f} dBFS, below {limits.silence_dbfs:g} dBFS)",
            code="audio_silent",
            param=param,
        )


def ingest_audio(
    data: bytes, *, ffmpeg: str = "ffmpeg", limits: IngestLimits = IngestLimits(), param: str | None = None
) -> ReferenceAudio:
    """Check, sniff, decode and validate an uploaded reference recording."""
    if not data:
        raise AudioRejected("the audio file is empty", code="audio_empty", param=param)
    if len(data) > limits.max_upload_bytes:
        raise AudioRejected(
            f"the audio file is larger than {limits.max_upload_bytes} bytes",
            code="payload_too_large",
            param=param,
            status=413,
        )
    fmt = sniff_format(data)
    if fmt is None:
        raise AudioRejected(
            f"unsupported audio format; send one of: {SUPPORTED}",
            code="unsupported_audio_format",
            param=param,
            status=415,
        )
    samples = decode_upload(data, fmt, ffmpeg=ffmpeg, limits=limits, param=param)
    check_samples(samples, limits, param=param)
    return ReferenceAudio(original=data, format=fmt, sha256=hashlib.sha256(data).hexdigest(), samples=samples)
