"""Encode time per second of audio, per format, whole and streamed: PyAV in process vs the old ffmpeg path.

``python -m bench.encode [--seconds 30] [--rounds 5] [--ffmpeg PATH]`` encodes the same speech-like PCM
(24 kHz s16le mono: harmonics under a syllable-rate envelope, plus a little noise) with ``common.audio``
(whole: ``encode_bytes``; streamed: ``StreamEncoder`` fed 80 ms chunks, the engine's frame) and with one
ffmpeg process per encode, run with the command lines the service used before (``git show
fcc020a~1:common/encoder.py``, ``…:workers/jobs/mp4.py``): ``-f s16le`` on stdin, the same codecs, bitrates
and muxer options, output on stdout (a file for m4b). Whole: all PCM written, then read to the end.
Streamed: chunks written one by one while a thread reads stdout; the process start is included, since every
request paid it (the old warm process moved it out of a request's latency, not off the CPU). "first bytes"
is, for a stream, the time from its start until the first encoded bytes come back.

The old path needs an ffmpeg binary, which the project no longer uses: ``--ffmpeg``, else the one shipped in
the ``imageio-ffmpeg`` wheel (``pip install imageio-ffmpeg`` into the bench's venv only), else ffmpeg on
PATH; with none, those columns are skipped with a message. Figures are the median of ``--rounds``,
interleaved.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from common.audio.streaming import StreamEncoder
from common.audio.whole import ChapterMark, encode_bytes

RATE = 24_000
CHUNK = 1920 * 2  # 80 ms of s16le
FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm", "m4b")

# the old service's codec arguments (common/encoder.py and workers/jobs/mp4.py before common/audio)
OLD_CODEC_ARGS = {
    "mp3": ["-c:a", "libmp3lame", "-b:a", "96k", "-f", "mp3"],
    "opus": [
        *("-c:a", "libopus", "-b:a", "48k", "-application", "voip"),
        *("-page_duration", "20000", "-f", "ogg"),
    ],
    "aac": ["-c:a", "aac", "-b:a", "96k", "-f", "adts"],
    "flac": ["-c:a", "flac", "-f", "flac"],
    "pcm": ["-c:a", "pcm_s16le", "-f", "s16le"],
    "wav": ["-c:a", "pcm_s16le", "-f", "s16le"],  # the header was written by the service
}


def speech_like(seconds: float, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * RATE)) / RATE
    pitch = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / RATE
    voice = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 2  # ~4 syllables per second
    signal = 0.2 * voice * envelope + 0.01 * rng.standard_normal(t.size)
    return np.rint(np.clip(signal, -1, 1) * 32767).astype("<i2").tobytes()


def chunks_of(pcm: bytes) -> list[bytes]:
    return [pcm[i : i + CHUNK] for i in range(0, len(pcm), CHUNK)]


def marks_for(seconds: float) -> list[ChapterMark]:
    half = seconds / 2
    return [ChapterMark("One", 0.0, half), ChapterMark("Two", half, seconds)]


def pyav_whole(pcm: bytes, fmt: str, seconds: float) -> tuple[float, None]:
    started = time.perf_counter()
    encode_bytes(chunks_of(pcm), fmt, chapters=marks_for(seconds) if fmt == "m4b" else ())
    return time.perf_counter() - started, None


def pyav_stream(pcm: bytes, fmt: str, seconds: float) -> tuple[float, float]:
    started = time.perf_counter()
    encoder = StreamEncoder(fmt)
    first = None
    for chunk in chunks_of(pcm):
        if encoder.write(chunk) and first is None:
            first = time.perf_counter() - started
    encoder.finish()
    return time.perf_counter() - started, first or 0.0


def old_command(ffmpeg: str, fmt: str) -> list[str]:
    cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin"]
    cmd += ["-probesize", "32", "-analyzeduration", "0", "-fflags", "+nobuffer"]
    cmd += ["-f", "s16le", "-ar", str(RATE), "-ac", "1", "-i", "pipe:0"]
    cmd += ["-ar", str(RATE), "-ac", "1"] if fmt != "opus" else ["-ac", "1"]
    return [*cmd, *OLD_CODEC_ARGS[fmt], "-flush_packets", "1", "pipe:1"]


def old_mp4(ffmpeg: str, pcm: bytes, seconds: float) -> float:
    """The old m4b path: PCM on stdin, FFMETADATA chapters, AAC 64k, +faststart, ipod muxer into a file."""
    with tempfile.TemporaryDirectory() as tmp:
        metadata = Path(tmp) / "chapters.ffmetadata"
        lines = [";FFMETADATA1"]
        for mark in marks_for(seconds):
            start, end = round(mark.start_s * 1000), round(mark.end_s * 1000)
            lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={start}", f"END={end}", f"title={mark.title}"]
        metadata.write_text("\n".join(lines) + "\n")
        cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
        cmd += ["-f", "s16le", "-ar", str(RATE), "-ac", "1", "-i", "pipe:0"]
        cmd += ["-i", str(metadata), "-map", "0:a", "-map_chapters", "1"]
        cmd += ["-c:a", "aac", "-b:a", "64k", "-movflags", "+faststart"]
        cmd += ["-f", "ipod", str(Path(tmp) / "a.m4b")]
        started = time.perf_counter()
        subprocess.run(cmd, input=pcm, check=True, capture_output=True)
        return time.perf_counter() - started


def ffmpeg_whole(ffmpeg: str) -> Callable[[bytes, str, float], tuple[float, None]]:
    def run(pcm: bytes, fmt: str, seconds: float) -> tuple[float, None]:
        if fmt == "m4b":
            return old_mp4(ffmpeg, pcm, seconds), None
        started = time.perf_counter()
        subprocess.run(old_command(ffmpeg, fmt), input=pcm, check=True, capture_output=True)
        return time.perf_counter() - started, None

    return run


def ffmpeg_stream(ffmpeg: str) -> Callable[[bytes, str, float], tuple[float, float]]:
    def run(pcm: bytes, fmt: str, seconds: float) -> tuple[float, float]:
        started = time.perf_counter()
        proc = subprocess.Popen(
            old_command(ffmpeg, fmt), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        first: list[float] = []

        def read() -> None:
            assert proc.stdout is not None
            while data := proc.stdout.read1(16_384):
                if not first and data:
                    first.append(time.perf_counter() - started)

        reader = threading.Thread(target=read)
        reader.start()
        assert proc.stdin is not None
        for chunk in chunks_of(pcm):
            proc.stdin.write(chunk)
            proc.stdin.flush()
        proc.stdin.close()
        reader.join()
        proc.wait()
        return time.perf_counter() - started, first[0] if first else 0.0

    return run


def find_ffmpeg(explicit: str | None) -> str | None:
    if explicit:
        return explicit
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return shutil.which("ffmpeg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ffmpeg", default=None, help="the old path's binary (default: imageio-ffmpeg's)")
    args = parser.parse_args()
    pcm = speech_like(args.seconds)
    ffmpeg = find_ffmpeg(args.ffmpeg)
    variants: dict[str, Callable[[bytes, str, float], tuple[float, float | None]]] = {
        "pyav whole": pyav_whole,
        "pyav stream": pyav_stream,
    }
    if ffmpeg is None:
        print("no ffmpeg found (pip install imageio-ffmpeg, or --ffmpeg PATH): old-path columns skipped")
    else:
        version = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True).stdout.split("\n")[0]
        print(f"old path: {version}")
        variants |= {"ffmpeg whole": ffmpeg_whole(ffmpeg), "ffmpeg stream": ffmpeg_stream(ffmpeg)}
    print(f"{args.seconds:g} s of speech-like PCM, 80 ms chunks when streamed, median of {args.rounds}")
    print("| format | " + " | ".join(f"{name} ms/s" for name in variants) + " | first bytes pyav / ffmpeg |")
    print("|---" * (len(variants) + 2) + "|")
    for fmt in FORMATS:
        times: dict[str, list[float]] = {name: [] for name in variants}
        firsts: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, run in variants.items():
                if fmt == "m4b" and "stream" in name:
                    continue  # MP4 is written whole (its index needs a seekable file)
                seconds, first = run(pcm, fmt, args.seconds)
                times[name].append(seconds)
                if first is not None:
                    firsts[name].append(first)
        cells = [f"{statistics.median(t) * 1e3 / args.seconds:.2f}" if t else "—" for t in times.values()]
        first_cells = [f"{statistics.median(f) * 1e3:.1f} ms" for name, f in firsts.items() if f]
        print(f"| {fmt} | " + " | ".join(cells) + f" | {' / '.join(first_cells) or '—'} |")


if __name__ == "__main__":
    main()
