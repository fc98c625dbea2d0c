"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from geopin.model.kinds import kind_announced
from geopin.wiring import describe

from geopin_gateway.context import gateway

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """The process answers; says nothing of its dependencies (that is /readyz)."""
    return jsonify(status="ok")


def _check(probe: Any) -> dict[str, Any]:
    try:
        problem = probe()
    except Exception as exc:
        problem = f"{type(exc).__name__}: {exc}"
    return {"ok": problem is None, **({"error": problem} if problem else {})}


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready when Redis, the reference index and an embedding model can all be used."""
    ctx = gateway()
    checks = {
        "redis": _check(lambda: ctx.store.ping()),
        "elasticsearch": _check(ctx.index.check),
    }
    models = []
    try:
        models = ctx.presence.loaded_models()
    except Exception as exc:
        checks["model"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    else:
        checks["model"] = {"ok": bool(models), "loaded": _distinct(models)}
        if not models:
            checks["model"]["error"] = "no embedding worker has loaded a model yet"
    ready = all(c["ok"] for c in checks.values())
    body = {
        "status": "ready" if ready else "not-ready",
        "checks": checks,
        "backends": describe(ctx.settings),
    }
    warnings = sorted({w for m in models if (w := kind_announced(m).warning)})
    if warnings:
        body["warning"] = "; ".join(warnings)
    return jsonify(body), 200 if ready else 503


def _distinct(models: list[dict[str, Any]]) -> list[dict[str, Any]]:
    unique = {m["model_id"]: m for m in models}
    return list(unique.values())
