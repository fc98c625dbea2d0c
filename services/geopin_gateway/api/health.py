"""Liveness and readiness probes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify
from geopin.model.kinds import kind_announced
from geopin.queue.retry import TRANSIENT_ERRORS
from geopin.wiring import describe

from geopin_gateway.context import gateway

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """The process answers; says nothing of its dependencies (that is /readyz), so an outage
    behind the gateway never gets a healthy gateway restarted."""
    return jsonify(status="ok")


def _check(backend: str, probe: Callable[[], str | None]) -> dict[str, Any]:
    """One role's check: ``probe`` returns None when usable, else says (or raises) what is not."""
    check: dict[str, Any] = {"backend": backend}
    try:
        problem = probe()
    except Exception as exc:  # any failure is "not ready"; /readyz itself never answers 500
        problem = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, TRANSIENT_ERRORS):  # a backend outage: name its code
            check["code"] = exc.code
    return {"ok": problem is None, **check, **({"error": problem} if problem else {})}


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready when the queue, the job store, the reference index and an embedding model can all
    be used; each check names its backend, and what is wrong when it is not ok."""
    ctx = gateway()
    backends = describe(ctx.settings)
    models: list[dict[str, Any]] = []

    def model_loaded() -> str | None:
        models.extend(ctx.presence.loaded_models())
        return None if models else "no embedding worker has loaded a model yet"

    checks = {
        "queue": _check(backends["queue"], ctx.broker.ping),
        "jobs": _check(backends["jobs"], ctx.store.ping),
        "index": _check(backends["index"], ctx.index.check),
        "model": _check(backends["model"], model_loaded),
    }
    checks["model"]["loaded"] = _distinct(models)
    ready = all(c["ok"] for c in checks.values())
    body: dict[str, Any] = {"status": "ready" if ready else "not-ready", "checks": checks}
    warnings = sorted({w for m in models if (w := kind_announced(m).warning)})
    if warnings:
        body["warning"] = "; ".join(warnings)
    return jsonify(body), 200 if ready else 503


def _distinct(models: list[dict[str, Any]]) -> list[dict[str, Any]]:
    unique = {m["model_id"]: m for m in models}
    return list(unique.values())
