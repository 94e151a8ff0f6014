"""The compose files: ``docker compose config`` where the client exists, and always a structure check that
feeds every app service's environment through our settings (a typo'd key fails here, not at deploy)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from common.settings import load_settings
from workers.worker_main import parse_models

ROOT = Path(__file__).resolve().parents[2]
NVIDIA, ROCM = ROOT / "docker-compose.yml", ROOT / "docker-compose.rocm.yml"
INFRA = {"postgres", "redis", "minio", "migrate", "api"}
_VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def interpolate(value: Any) -> Any:
    """Compose's ``${VAR:-default}`` with nothing set: the default (or empty)."""
    if isinstance(value, str):
        return _VARIABLE.sub(lambda m: m.group(2) or "", value)
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    return value


def services(path: Path) -> dict[str, dict[str, Any]]:
    return interpolate(yaml.safe_load(path.read_text()))["services"]


def workers(path: Path) -> dict[str, dict[str, Any]]:
    found = {name: spec for name, spec in services(path).items() if name.startswith("worker")}
    assert found, f"{path.name} defines no worker service"
    return found


def app_settings(spec: dict[str, Any]) -> Any:
    env = {k: str(v) for k, v in spec["environment"].items()}
    return load_settings(env=env | {"TTS_CONFIG": ""})


@pytest.mark.parametrize("path", [NVIDIA, ROCM], ids=["nvidia", "rocm"])
def test_docker_compose_config_accepts_the_file(path: Path) -> None:
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode:
        pytest.skip("no `docker compose` client here; the structure tests below still run")
    result = subprocess.run(
        [docker, "compose", "-f", str(path), "config", "--quiet"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("path", [NVIDIA, ROCM], ids=["nvidia", "rocm"])
def test_every_service_is_there_and_app_services_configure_the_distributed_mode(path: Path) -> None:
    defined = services(path)
    assert set(defined) >= INFRA
    for name, spec in defined.items():
        if name in {"postgres", "redis", "minio"}:
            continue
        settings = app_settings(spec)
        assert settings.run_mode == "distributed", name
        assert settings.resolved_database_url.startswith("postgresql+psycopg://"), name
        assert settings.s3.bucket and settings.s3.endpoint_url == "http://minio:9000", name
    assert defined["api"]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert defined["migrate"]["command"] == ["qwen3-tts", "db", "upgrade"]


@pytest.mark.parametrize("path", [NVIDIA, ROCM], ids=["nvidia", "rocm"])
def test_workers_serve_known_models_and_share_the_hugging_face_cache(path: Path) -> None:
    for name, spec in workers(path).items():
        command = spec["command"]
        assert command[:2] == ["qwen3-tts", "worker"] and "--gpu" in command, name
        models = parse_models(command[command.index("--models") + 1], app_settings(spec))
        assert models, name
        hf_home = spec["environment"]["HF_HOME"]
        assert any(v.startswith("hf-cache:") and v.split(":")[1] == hf_home for v in spec["volumes"]), name
        assert spec["stop_grace_period"], "a worker needs time for Celery's soft shutdown"


def test_nvidia_workers_reserve_their_gpu() -> None:
    for name, spec in workers(NVIDIA).items():
        devices = spec["deploy"]["resources"]["reservations"]["devices"]
        assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices), name
        assert all(len(d.get("device_ids", [])) == 1 for d in devices), f"{name}: one GPU per worker"


def test_rocm_workers_get_the_amd_devices_and_runtime_settings() -> None:
    for name, spec in workers(ROCM).items():
        assert {"/dev/kfd:/dev/kfd", "/dev/dri:/dev/dri"} <= set(spec["devices"]), name
        assert {"video", "render"} <= set(spec["group_add"]), name
        env = spec["environment"]
        assert env["FLASH_ATTENTION_TRITON_AMD_ENABLE"] == "TRUE" and env["MIOPEN_FIND_MODE"] == "FAST", name
        assert spec["image"] == services(ROCM)["migrate"]["image"], "the image built from Dockerfile.rocm"
    assert services(ROCM)["migrate"]["build"]["dockerfile"] == "Dockerfile.rocm"


def test_rocm_file_extends_only_services_the_nvidia_file_defines() -> None:
    nvidia = services(NVIDIA)
    for name, spec in services(ROCM).items():
        if (extends := spec.get("extends")) is not None:
            assert extends["file"] == NVIDIA.name and extends["service"] in nvidia, name


def test_redis_never_evicts_the_broker_queues() -> None:
    command = services(NVIDIA)["redis"]["command"]
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"


def test_both_dockerfiles_install_the_distributed_extra_and_no_system_audio_tools() -> None:
    for name in ("Dockerfile", "Dockerfile.rocm"):
        text = (ROOT / name).read_text()
        assert '.[distributed]"' in text and "ffmpeg" not in text, name  # audio is in process (PyAV)


@pytest.mark.parametrize("path", [NVIDIA, ROCM], ids=["nvidia", "rocm"])
def test_our_image_is_built_never_pulled(path: Path) -> None:
    defined = services(path)
    ours = {name: spec for name, spec in defined.items() if spec.get("image", "").startswith("qwen3-tts:")}
    assert set(ours) >= {"migrate", "api"} and len({spec["image"] for spec in ours.values()}) == 1
    assert all("build" in spec for spec in ours.values()), "a service without build would try to pull our tag"
