"""Import and export the original server's voice library folder.

Layout (``DIR`` is the library root, e.g. ``~/qwen3-tts/voice_library``; ``DIR/profiles`` is accepted too)::

    DIR/profiles/<profile_id>/meta.json        {"name", "profile_id", "ref_audio_filename", "ref_text",
    DIR/profiles/<profile_id>/reference.wav     "x_vector_only_mode", "language", "task_type": "Base"}

Import is idempotent and never overwrites: a profile whose name is new is created (its audio checked like any
upload); one whose name exists is left alone — ``unchanged`` when it holds the same audio and transcript,
``conflict`` otherwise. Importing the same folder twice therefore changes nothing the second time. Export
writes one profile per voice with the normalized 24 kHz mono WAV as ``reference.wav`` (into the same
folders again when run twice).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.errors import ServiceError
from common.voice_library import VoiceLibrary, VoiceProfile, clean_ref_text
from voice_store.errors import StoreError

log = logging.getLogger(__name__)

META_FILE = "meta.json"
MAX_META_BYTES = 64 * 1024


@dataclass(slots=True)
class ImportReport:
    created: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  # name taken by a different voice: left alone
    failed: list[tuple[str, str]] = field(default_factory=list)  # (profile folder, reason)


class ProfileError(ValueError):
    """A profile folder that cannot be imported; the message says why."""


def profiles_dir(root: Path) -> Path:
    return root if root.name == "profiles" else root / "profiles"


def read_profile(folder: Path) -> tuple[dict[str, Any], bytes]:
    """The checked ``meta.json`` of one profile folder and its reference audio bytes."""
    meta_path = folder / META_FILE
    if not meta_path.is_file():
        raise ProfileError(f"no {META_FILE}")
    if meta_path.stat().st_size > MAX_META_BYTES:
        raise ProfileError(f"{META_FILE} is larger than {MAX_META_BYTES} bytes")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ProfileError(f"{META_FILE} is not valid JSON: {e}") from e
    if not isinstance(meta, dict):
        raise ProfileError(f"{META_FILE} must hold an object")
    if str(meta.get("task_type", "Base")).lower() != "base":
        raise ProfileError(f"task_type {meta.get('task_type')!r} is not a Base (voice clone) profile")
    audio_name = str(meta.get("ref_audio_filename") or "reference.wav")
    if Path(audio_name).name != audio_name or audio_name.startswith("."):
        raise ProfileError(f"ref_audio_filename {audio_name!r} must be a file name inside the profile folder")
    audio_path = folder / audio_name
    if not audio_path.is_file():
        raise ProfileError(f"the reference audio {audio_name} is missing")
    return meta, audio_path.read_bytes()


def import_library(library: VoiceLibrary, root: Path) -> ImportReport:
    """Create every profile of ``root`` whose name is not taken yet (see the module docstring)."""
    folder_root = profiles_dir(root)
    if not folder_root.is_dir():
        raise ProfileError(f"{folder_root} is not a directory (expected DIR/profiles/<id>/{META_FILE})")
    report = ImportReport()
    for folder in sorted(p for p in folder_root.iterdir() if p.is_dir()):
        try:
            _import_one(library, folder, report)
        except (ProfileError, ServiceError, StoreError) as e:
            reason = getattr(e, "message", None) or str(e)
            log.warning("profile %s not imported: %s", folder.name, reason)
            report.failed.append((folder.name, reason))
    return report


def _import_one(library: VoiceLibrary, folder: Path, report: ImportReport) -> None:
    meta, audio = read_profile(folder)
    name = str(meta.get("name") or meta.get("profile_id") or folder.name)
    ref_text = clean_ref_text(meta.get("ref_text") if isinstance(meta.get("ref_text"), str) else None)
    existing = library.find(name)
    if existing is not None and existing.name.casefold() == name.strip().casefold():
        same = _same_audio(library, existing, audio) and existing.ref_text == ref_text
        (report.unchanged if same else report.conflicts).append(existing.name)
        return
    x_vector_only = bool(meta.get("x_vector_only_mode", False)) or ref_text is None
    profile = library.create(
        name=name,
        audio=library.ingest(audio),
        ref_text=ref_text,
        language=str(meta.get("language") or "auto"),
        x_vector_only=x_vector_only,
    )
    report.created.append(profile.name)


def _same_audio(library: VoiceLibrary, voice: VoiceProfile, audio: bytes) -> bool:
    digest = hashlib.sha256(audio).hexdigest()
    stored = [library.reference_audio(voice.id, original=True)[0], library.reference_audio(voice.id)[0]]
    return any(hashlib.sha256(data).hexdigest() == digest for data in stored)


def profile_id_for(name: str, taken: set[str]) -> str:
    """A folder name for ``name``: lowercase letters, digits, ``_`` and ``-``; unique within ``taken``."""
    base = re.sub(r"[^a-z0-9_-]+", "_", name.casefold()).strip("_-") or "voice"
    candidate, suffix = base, 2
    while candidate in taken:
        candidate, suffix = f"{base}_{suffix}", suffix + 1
    taken.add(candidate)
    return candidate


def export_library(library: VoiceLibrary, root: Path) -> list[str]:
    """Write every voice as ``root/profiles/<id>/{meta.json, reference.wav}``; returns the folder names."""
    folder_root = profiles_dir(root)
    folder_root.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    written = []
    for voice in library.iter_all():
        profile_id = profile_id_for(voice.name, taken)
        folder = folder_root / profile_id
        folder.mkdir(exist_ok=True)  # exporting again rewrites the same folders
        wav, _ = library.reference_audio(voice.id)
        (folder / "reference.wav").write_bytes(wav)
        meta = {
            "name": voice.name,
            "profile_id": profile_id,
            "ref_audio_filename": "reference.wav",
            "ref_text": voice.ref_text,
            "x_vector_only_mode": voice.x_vector_only,
            "language": voice.language.title(),
            "task_type": "Base",
        }
        (folder / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", "utf-8")
        written.append(profile_id)
    return written
