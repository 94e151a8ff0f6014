"""Reference audio from untrusted uploads: size check, container sniffing, safe decoding, content checks.

The format is taken from the file's magic bytes, never from its name or a client's content type, and the
size limit is checked before anything is decoded. Decoding (``common.audio.decode``) reads that container
only, stops just past the duration cap and has a wall-clock budget. Checks after decoding: at least
``min_seconds``, at most ``max_seconds``, and not silent (RMS above ``silence_dbfs``). Every rejection is an
``AudioRejected`` (a 4xx ``ServiceError`` with a specific code).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from common.audio.decode import DecodeTimeout, TooLong, UndecodableAudio, UploadFormat, decode_audio
from common.audio.pcm import float_to_s16le, wav_header
from common.contracts import SAMPLE_RATE
from common.errors import InvalidRequest

WAV = UploadFormat("wav", "wav", "audio/wav", "wav", declares_duration=True)
FLAC = UploadFormat("flac", "flac", "audio/flac", "flac", declares_duration=True)
MP3 = UploadFormat("mp3", "mp3", "audio/mpeg", "mp3", declares_duration=False)  # estimated unless Xing
OGG = UploadFormat("ogg", "ogg", "audio/ogg", "ogg", declares_duration=True)
MP4 = UploadFormat("m4a", "mov", "audio/mp4", "m4a", declares_duration=True)
AAC = UploadFormat("aac", "aac", "audio/aac", "aac", declares_duration=False)  # ADTS: a bitrate estimate
WEBM = UploadFormat("webm", "matroska", "audio/webm", "webm", declares_duration=True)
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


def too_long(limits: IngestLimits, *, param: str | None) -> AudioRejected:
    return AudioRejected(
        f"the audio lasts more than {limits.max_seconds:g} s, the longest reference accepted",
        code="audio_too_long",
        param=param,
    )


def decode_upload(data: bytes, fmt: UploadFormat, *, limits: IngestLimits, param: str | None) -> np.ndarray:
    """Decode ``data`` (already sniffed as ``fmt``) to mono 24 kHz float32, within the limits."""
    try:
        return decode_audio(data, fmt, max_seconds=limits.max_seconds, timeout_s=limits.decode_timeout_s)
    except TooLong as e:
        raise too_long(limits, param=param) from e
    except DecodeTimeout as e:
        raise AudioRejected(
            f"decoding the audio took longer than {limits.decode_timeout_s:g} s",
            code="audio_undecodable",
            param=param,
        ) from e
    except UndecodableAudio as e:
        raise AudioRejected(
            f"the {fmt.name} audio could not be decoded: {str(e)[:200]}",
            code="audio_undecodable",
            param=param,
        ) from e


def check_samples(samples: np.ndarray, limits: IngestLimits, *, param: str | None) -> None:
    seconds = samples.size / SAMPLE_RATE
    if seconds < limits.min_seconds:
        raise AudioRejected(
            f"the audio lasts {seconds:.2f} s; a reference must last at least {limits.min_seconds:g} s",
            code="audio_too_short",
            param=param,
        )
    if seconds > limits.max_seconds:
        raise too_long(limits, param=param)
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    level = 20 * math.log10(rms) if rms > 0 else -math.inf
    if level < limits.silence_dbfs:
        raise AudioRejected(
            f"the audio is silent (RMS {level:.0f} dBFS, below {limits.silence_dbfs:g} dBFS)",
            code="audio_silent",
            param=param,
        )


def ingest_audio(
    data: bytes, *, limits: IngestLimits = IngestLimits(), param: str | None = None
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
    samples = decode_upload(data, fmt, limits=limits, param=param)
    check_samples(samples, limits, param=param)
    return ReferenceAudio(original=data, format=fmt, sha256=hashlib.sha256(data).hexdigest(), samples=samples)
