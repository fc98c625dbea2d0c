"""docker-compose.yml: valid against the Compose schema, and wired the way GeoPin needs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from geopin.settings import Settings

from tests.deploy.artefacts import (
    K8S,
    compose,
    compose_errors,
    dockerfile_stages,
    k8s_bytes,
    k8s_cpu,
    python_executable_dir,
    redis_option,
)

GEOPIN_SERVICES = ("model-init", "gateway", "embedder", "embedder-gpu", "searcher", "notifier")
WORKERS = ("embedder", "embedder-gpu", "searcher", "notifier")
CONTAINER_TMP = "/tmp"  # noqa: S108 - a path inside the containers, not a temporary file here


def service(name: str) -> dict[str, Any]:
    found: dict[str, Any] = compose()["services"][name]
    return found


def seconds(duration: str) -> int:
    """Compose durations as this file writes them: 30s, 3m."""
    value, unit = int(duration[:-1]), duration[-1]
    return value * {"s": 1, "m": 60}[unit]


def test_the_file_matches_the_compose_schema() -> None:
    assert compose_errors(compose()) == []


def test_the_schema_check_catches_a_misspelt_key() -> None:
    doc = compose()
    doc["services"]["gateway"]["depends_one"] = doc["services"]["gateway"].pop("depends_on")
    assert compose_errors(doc)


def test_each_build_names_a_target_of_the_dockerfile() -> None:
    targets = set(dockerfile_stages())
    for name in GEOPIN_SERVICES:
        build = service(name)["build"]
        assert build["context"] == "."
        assert build["target"] in targets, name


def test_services_start_after_what_they_need() -> None:
    def waits_for(name: str) -> dict[str, str]:
        return {dep: cond["condition"] for dep, cond in service(name)["depends_on"].items()}

    assert waits_for("gateway") == {"redis": "service_healthy", "elasticsearch": "service_healthy"}
    assert waits_for("searcher") == {"redis": "service_healthy", "elasticsearch": "service_healthy"}
    assert waits_for("notifier") == {"redis": "service_healthy"}  # no index, no model
    for embedder in ("embedder", "embedder-gpu"):
        assert waits_for(embedder) == {
            "redis": "service_healthy",
            "model-init": "service_completed_successfully",
        }
    for dependency in ("redis", "elasticsearch"):
        assert "healthcheck" in service(dependency), dependency


def test_geopin_containers_run_locked_down() -> None:
    for name in GEOPIN_SERVICES:
        spec = service(name)
        assert spec["read_only"] is True, name
        assert spec["tmpfs"] == [CONTAINER_TMP], name
        assert spec["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in spec["security_opt"], name
        assert spec["environment"]["GEOPIN_MODEL__PATH"] == "/models/model.onnx"


def test_workers_get_longer_than_a_task_to_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("GEOPIN_"):
            monkeypatch.delenv(name)
    hard_limit = Settings().celery.hard_time_limit_s
    for name in WORKERS:
        assert service(name)["stop_signal"] == "SIGTERM"  # Celery's warm shutdown
        assert seconds(service(name)["stop_grace_period"]) > hard_limit, name


def test_the_cpu_embedder_is_the_default_and_the_gpu_one_a_profile() -> None:
    assert "profiles" not in service("embedder")
    gpu = service("embedder-gpu")
    assert gpu["profiles"] == ["gpu"]
    assert gpu["build"]["target"] == "embedder-gpu"
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device == {"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}
    assert "CUDAExecutionProvider" in gpu["environment"]["GEOPIN_MODEL__PROVIDERS"]
    assert service("flower")["profiles"] == ["flower"]


def test_embedders_read_the_model_the_one_shot_writes() -> None:
    assert "models:/models" in service("model-init")["volumes"]
    for name in ("embedder", "embedder-gpu"):
        assert "models:/models:ro" in service(name)["volumes"]
    assert service("model-init")["restart"] == "no"


def test_redis_persists_jobs_and_never_evicts_them() -> None:
    command = service("redis")["command"]
    assert command[0] == "redis-server"
    assert redis_option(command, "--appendonly") == "yes"
    assert redis_option(command, "--maxmemory-policy") == "noeviction"


def test_elasticsearch_is_a_single_8_19_21_node_with_a_health_check() -> None:
    es = service("elasticsearch")
    assert es["image"] == "docker.elastic.co/elasticsearch/elasticsearch:8.19.21"
    assert es["environment"]["discovery.type"] == "single-node"
    assert "_cluster/health" in " ".join(es["healthcheck"]["test"])


def test_images_are_pinned() -> None:
    for name, spec in compose()["services"].items():
        tag = spec["image"].rpartition(":")[2]
        assert tag not in {"", "latest"}, name
        assert "/" not in tag, name


def test_model_init_runs_the_toolchain_image_and_the_embedder_only_the_runtime() -> None:
    assert service("model-init")["build"]["target"] == "tools"
    assert service("embedder")["build"]["target"] == "embedder"


def _model_init_script() -> str:
    command = service("model-init")["command"]
    assert command[:2] == ["sh", "-c"]
    script: str = command[2]
    return script.replace("$$", "$")  # compose's escape for a literal $


def test_model_init_writes_a_model_once_and_then_keeps_it(tmp_path: Path) -> None:
    """Runs the one-shot's own script twice, with the real `geopin` command."""
    model = tmp_path / "model.onnx"
    env = {
        "PATH": f"{python_executable_dir()}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "GEOPIN_MODEL__PATH": str(model),
    }
    first = subprocess.run(
        ["sh", "-c", _model_init_script()], env=env, capture_output=True, text=True, check=False
    )
    assert first.returncode == 0, first.stderr
    written = model.stat().st_mtime_ns
    second = subprocess.run(
        ["sh", "-c", _model_init_script()], env=env, capture_output=True, text=True, check=False
    )
    assert second.returncode == 0, second.stderr
    assert "keeping it" in second.stdout
    assert model.stat().st_mtime_ns == written


# Where Kubernetes sets each GeoPin container's limits: (manifest, container).
K8S_CONTAINERS = {
    "model-init": ("base/embedder.yaml", "model"),
    "gateway": ("base/gateway.yaml", "gateway"),
    "embedder": ("base/embedder.yaml", "embedder"),
    "embedder-gpu": ("overlays/prod-gpu/embedder-gpu.yaml", "embedder"),
    "searcher": ("base/searcher.yaml", "searcher"),
    "notifier": ("base/notifier.yaml", "notifier"),
}


def compose_bytes(value: str) -> int:
    """Compose memory units, binary as Docker reads them: 768m, 8g."""
    return int(value[:-1]) * {"k": 2**10, "m": 2**20, "g": 2**30}[value[-1]]


def _k8s_limits(manifest: str, container: str) -> dict[str, Any]:
    deployment = next(
        doc
        for doc in yaml.safe_load_all((K8S / manifest).read_text())
        if doc and doc["kind"] == "Deployment"
    )
    pod = deployment["spec"]["template"]["spec"]
    every = pod["containers"] + pod.get("initContainers", [])
    limits: dict[str, Any] = next(c for c in every if c["name"] == container)["resources"]["limits"]
    return limits


@pytest.mark.parametrize("name", GEOPIN_SERVICES)
def test_each_geopin_container_gets_the_cpu_and_memory_limits_kubernetes_gives_it(
    name: str,
) -> None:
    limits = service(name)["deploy"]["resources"]["limits"]
    k8s = _k8s_limits(*K8S_CONTAINERS[name])
    assert compose_bytes(limits["memory"]) == k8s_bytes(k8s["memory"])
    assert float(limits["cpus"]) == k8s_cpu(k8s["cpu"])


def test_the_cpu_embedder_runs_one_inference_thread_per_cpu_of_its_limit() -> None:
    embedder = service("embedder")
    threads = embedder["environment"]["GEOPIN_MODEL__INTRA_OP_THREADS"]
    assert int(threads) == float(embedder["deploy"]["resources"]["limits"]["cpus"])


def test_the_gpu_embedder_batches_as_the_gpu_overlay_does() -> None:
    manifest = yaml.safe_load((K8S / "overlays/prod-gpu/embedder-gpu.yaml").read_text())
    env = {
        e["name"]: e["value"] for e in manifest["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    compose_env = service("embedder-gpu")["environment"]
    assert compose_env["GEOPIN_MODEL__MAX_BATCH_PIXELS"] == env["GEOPIN_MODEL__MAX_BATCH_PIXELS"]
    images, model = Settings().images, Settings().model
    # A full batch at the largest input the resize policy gives.
    largest = model.max_batch * images.shorter_side * images.max_side
    assert int(env["GEOPIN_MODEL__MAX_BATCH_PIXELS"]) == largest
