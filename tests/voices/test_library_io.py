"""Import and export of the original server's ``profiles/<id>/{meta.json, reference.wav}`` layout, in both run
modes, and the ``qwen3-tts voices import|export`` commands."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from common.voice_library import VoiceLibrary
from common.voice_library_io import ProfileError, export_library, import_library, profile_id_for
from server.cli import main
from server.composition import build_voice_library
from tests.voices.conftest import Stores, fake_settings
from tests.voices.fakes import recording


@pytest.fixture
def library(stores: Stores) -> VoiceLibrary:
    return build_voice_library(fake_settings(), stores.sessions, stores.blobs)


def write_profile(root: Path, folder: str, meta: dict[str, object], audio: bytes | None = None) -> Path:
    path = root / "profiles" / folder
    path.mkdir(parents=True)
    (path / "meta.json").write_text(json.dumps(meta))
    if audio is not None:
        (path / str(meta.get("ref_audio_filename", "reference.wav"))).write_bytes(audio)
    return path


def original_library(root: Path, tag: str) -> dict[str, str]:
    """Two good profiles (one in-context, one x-vector) and four broken ones, as the original wrote them."""
    names = {"ana": f"Ana-{tag}", "bo": f"Bo-{tag}"}
    write_profile(
        root,
        "ana",
        {
            "name": names["ana"],
            "profile_id": "ana",
            "ref_audio_filename": "reference.wav",
            "ref_text": "Hello from Ana.",
            "x_vector_only_mode": False,
            "language": "English",
            "task_type": "Base",
        },
        recording(2.0, frequency=220),
    )
    write_profile(
        root, "bo", {"name": names["bo"], "x_vector_only_mode": True}, recording(1.5, frequency=440)
    )
    write_profile(root, "no_audio", {"name": f"NoAudio-{tag}"})
    write_profile(root, "escape", {"name": f"Esc-{tag}", "ref_audio_filename": "../x.wav"}, None)
    write_profile(root, "silent", {"name": f"Silent-{tag}"}, recording(2.0, volume=0.0))
    write_profile(root, "design", {"name": f"D-{tag}", "task_type": "VoiceDesign"}, recording(2.0))
    (root / "profiles" / "empty").mkdir()
    return names


def test_import_creates_the_good_profiles_and_reports_the_bad_ones(
    library: VoiceLibrary, tmp_path: Path
) -> None:
    names = original_library(tmp_path, secrets.token_hex(3))
    report = import_library(library, tmp_path)
    assert sorted(report.created) == sorted(names.values())
    assert sorted(folder for folder, _ in report.failed) == [
        "design",
        "empty",
        "escape",
        "no_audio",
        "silent",
    ]
    ana, bo = library.find(names["ana"]), library.find(names["bo"])
    assert ana is not None and bo is not None
    assert (ana.ref_text, ana.language, ana.x_vector_only) == ("Hello from Ana.", "english", False)
    assert (bo.ref_text, bo.x_vector_only) == (None, True)


def test_importing_twice_changes_nothing(library: VoiceLibrary, tmp_path: Path) -> None:
    names = original_library(tmp_path, secrets.token_hex(3))
    import_library(library, tmp_path)
    before = {name: library.find(name) for name in names.values()}
    again = import_library(library, tmp_path / "profiles")  # the profiles folder itself works too
    assert again.created == [] and sorted(again.unchanged) == sorted(names.values())
    assert {name: library.find(name) for name in names.values()} == before


def test_a_name_taken_by_a_different_voice_is_left_alone(library: VoiceLibrary, tmp_path: Path) -> None:
    name = f"Taken-{secrets.token_hex(3)}"
    existing = library.create(name=name, audio=library.ingest(recording(2.0, frequency=600)), ref_text="a")
    write_profile(tmp_path, "taken", {"name": name, "ref_text": "b"}, recording(2.0, frequency=300))
    report = import_library(library, tmp_path)
    assert report.conflicts == [name] and report.created == []
    assert library.get(existing.id) == existing


def test_export_writes_the_original_layout_and_reimports_as_unchanged(
    library: VoiceLibrary, tmp_path: Path
) -> None:
    names = original_library(tmp_path / "in", secrets.token_hex(3))
    import_library(library, tmp_path / "in")
    written = export_library(library, tmp_path / "out")
    assert export_library(library, tmp_path / "out") == written  # exporting again rewrites the same folders
    metas = {
        json.loads((tmp_path / "out" / "profiles" / f / "meta.json").read_text())["name"]: f for f in written
    }
    folder = tmp_path / "out" / "profiles" / metas[names["ana"]]
    meta = json.loads((folder / "meta.json").read_text())
    assert meta == {
        "name": names["ana"],
        "profile_id": folder.name,
        "ref_audio_filename": "reference.wav",
        "ref_text": "Hello from Ana.",
        "x_vector_only_mode": False,
        "language": "English",
        "task_type": "Base",
    }
    assert (folder / "reference.wav").read_bytes()[:4] == b"RIFF"
    report = import_library(library, tmp_path / "out")
    assert report.created == [] and set(names.values()) <= set(report.unchanged)


def test_profile_ids_are_safe_and_unique() -> None:
    taken: set[str] = set()
    assert profile_id_for("My Voice!", taken) == "my_voice"
    assert profile_id_for("my voice", taken) == "my_voice_2"
    assert profile_id_for("../..", taken) == "voice"


def test_a_missing_folder_is_an_error(library: VoiceLibrary, tmp_path: Path) -> None:
    with pytest.raises(ProfileError):
        import_library(library, tmp_path / "nowhere")


def test_the_cli_imports_and_exports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Embedded settings (SQLite + blob folder under data_dir) from the environment, as a user runs it."""
    monkeypatch.setenv("QWEN_TTS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("TTS_CONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/qwen3-tts/config.yaml of the user's
    original_library(tmp_path / "lib", "cli")
    assert main(["voices", "import", str(tmp_path / "lib")]) == 1  # some profiles are broken
    out = capsys.readouterr().out
    assert "created: 2" in out and "failed: silent:" in out
    assert main(["voices", "import", str(tmp_path / "lib")]) == 1
    assert "created: 0" in capsys.readouterr().out
    assert main(["voices", "export", str(tmp_path / "out")]) == 0
    exported = sorted(p.name for p in (tmp_path / "out" / "profiles").iterdir())
    assert len(exported) == 2 and "exported 2 voice(s)" in capsys.readouterr().out
    assert main(["voices", "import", str(tmp_path / "missing")]) == 2
