"""Loading the deployment artefacts and the facts the tests compare them with.

Rendering uses the real Kustomize built into kubectl (`kubectl kustomize`), so what is
checked is what `kubectl apply -k` would send. Without kubectl the tests fail, with the
reason; they are never skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from geopin.settings import Settings
from geopin.worker import WORKERS
from kubernetes_validate import utils as kv_utils
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if p.is_dir())
SCHEMAS = Path(__file__).resolve().parent / "schemas"

# Oldest Kubernetes the manifests claim to support, and the newest kubernetes-validate knows.
K8S_VERSIONS = ("1.30.0", kv_utils.latest_version())

Obj = dict[str, Any]


def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        raise AssertionError(
            "kubectl is not on PATH: it renders the Kustomize overlays (`kubectl kustomize`). "
            "It comes with the machine image here; elsewhere install kubectl >= 1.27."
        )
    return found


@cache
def render(target: str) -> tuple[Obj, ...]:
    """Every object of k8s/overlays/<target> (or of k8s/base for "base"), as kubectl renders it."""
    path = K8S / "base" if target == "base" else K8S / "overlays" / target
    result = subprocess.run(
        [kubectl(), "kustomize", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"kubectl kustomize {path} failed:\n{result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def by_kind(objects: tuple[Obj, ...], kind: str) -> dict[str, Obj]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def one(objects: tuple[Obj, ...], kind: str, name: str) -> Obj:
    found = by_kind(objects, kind)
    assert name in found, f"no {kind} {name}; have {sorted(found)}"
    return found[name]


WORKLOAD_KINDS = ("Deployment", "StatefulSet")


def workloads(objects: tuple[Obj, ...]) -> Iterator[Obj]:
    return (o for o in objects if o["kind"] in WORKLOAD_KINDS)


def containers(pod_spec: Obj) -> list[Obj]:
    return [*pod_spec.get("initContainers", []), *pod_spec["containers"]]


def is_geopin_image(image: str) -> bool:
    return "geopin/" in image


def config_env(objects: tuple[Obj, ...]) -> dict[str, str]:
    """GEOPIN_* settings from the generated ConfigMap geopin-config-<hash>."""
    (config,) = (
        o
        for o in objects
        if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("geopin-config")
    )
    return dict(config["data"])


# --- quantities -------------------------------------------------------------------------

_K8S_SUFFIXES = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def k8s_bytes(quantity: str | int) -> int:
    match = re.fullmatch(r"([0-9]+)(Ki|Mi|Gi|Ti|k|M|G|T)?", str(quantity))
    assert match, f"not a memory quantity GeoPin uses: {quantity!r}"
    return int(match[1]) * _K8S_SUFFIXES[match[2] or ""]


def k8s_cpu(quantity: str | int) -> float:
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(m)?", str(quantity))
    assert match, f"not a CPU quantity: {quantity!r}"
    return float(match[1]) / (1000 if match[2] else 1)


def redis_bytes(value: str) -> int:
    """Redis memory units: 1k = 1000, 1kb = 1024 (likewise m/mb, g/gb)."""
    match = re.fullmatch(r"([0-9]+)(k|kb|m|mb|g|gb)?", value.lower())
    assert match, f"not a Redis memory value: {value!r}"
    scale = {"": 1, "k": 10**3, "kb": 2**10, "m": 10**6, "mb": 2**20, "g": 10**9, "gb": 2**30}
    return int(match[1]) * scale[match[2] or ""]


def redis_option(args: list[str], name: str) -> str:
    assert name in args, f"redis is started without {name}: {args}"
    return args[args.index(name) + 1]


# --- schemas ----------------------------------------------------------------------------


def validate_kubernetes(obj: Obj, version: str) -> None:
    """Strict validation (unknown fields are errors) against kubernetes-validate's schemas."""
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(str(p) for p in exc.path)
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        raise AssertionError(f"{name} at {where}: {exc.message} (Kubernetes {version})") from exc


@cache
def keda_validator() -> Callable[[Obj], None]:
    """The hand-written ScaledObject schema, resolving Kubernetes types from kubernetes-validate."""
    schema = json.loads((SCHEMAS / "keda-scaledobject.schema.json").read_text())
    version = K8S_VERSIONS[0]
    definitions = kv_utils.schema_contents(
        f"kubernetes-json-schema/v{version}-local-strict/_definitions.json", version
    )
    registry: Registry = Resource.from_contents(definitions) @ Registry()
    validator = jsonschema.Draft202012Validator(schema, registry=registry)

    def validate(obj: Obj) -> None:
        errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.path))
        assert not errors, "\n".join(
            f"{obj['metadata']['name']} at {'.'.join(map(str, e.path))}: {e.message}"
            for e in errors
        )

    return validate


def compose_errors(doc: Obj) -> list[str]:
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
    # The file declares draft 2019-09 (spelt with http:// and a trailing #, which jsonschema
    # does not recognise), so the validator is named rather than looked up.
    validator = jsonschema.Draft201909Validator(schema)
    return [
        f"{'.'.join(map(str, e.path)) or '(top)'}: {e.message}" for e in validator.iter_errors(doc)
    ]


# --- the other artefacts ----------------------------------------------------------------


def compose() -> Obj:
    doc: Obj = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return doc


def dockerfile_stages() -> dict[str, list[tuple[str, str]]]:
    """Each stage's instructions as (INSTRUCTION, arguments), continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text()
    logical = re.sub(r"\\\n", " ", text)
    stages: dict[str, list[tuple[str, str]]] = {"(global)": []}
    current = "(global)"
    for line in logical.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            match = re.fullmatch(r"(\S+)\s+AS\s+(\S+)", rest.strip(), flags=re.IGNORECASE)
            assert match, f"every stage is named: FROM {rest}"
            current = match[2]
            stages[current] = [("FROM", match[1])]
        else:
            stages[current].append((instruction, rest.strip()))
    return stages


def worker_options(worker: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The Celery options ``python -m geopin.worker <worker>`` starts with (its queue, pool,
    node name), under default settings."""
    for name in list(os.environ):
        if name.startswith("GEOPIN_"):
            monkeypatch.delenv(name)
    return WORKERS[worker].celery_options(Settings())


def option(options: list[str], name: str) -> str:
    (value,) = (o.split("=", 1)[1] for o in options if o.startswith(f"{name}="))
    return value


def python_executable_dir() -> Path:
    return Path(sys.executable).parent
