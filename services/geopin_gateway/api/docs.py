"""``/openapi.json`` and ``/docs``: the API described for programs and for people.

The page is rendered here from the same document, with no JavaScript and nothing fetched
from a CDN: it works on a gateway without internet access and under a strict CSP.
"""

from __future__ import annotations

from html import escape
from typing import Any

from flask import Blueprint, Response, jsonify

from geopin_gateway.context import gateway
from geopin_gateway.openapi import openapi_spec

bp = Blueprint("docs", __name__)

_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
h2{margin-top:2rem;border-top:1px solid #ccc;padding-top:1rem}
code{background:#f3f3f3;padding:0 .25rem}
.method{font-weight:bold;text-transform:uppercase}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}
"""


@bp.get("/openapi.json")
def openapi_document() -> Response:
    return jsonify(openapi_spec(gateway().settings))


def _operation(path: str, method: str, operation: dict[str, Any]) -> str:
    fields = dict(
        operation.get("requestBody", {}).get("content", {}).get("multipart/form-data", {})
    )
    rows = [
        (p["name"], p["in"], p.get("description", "")) for p in operation.get("parameters", [])
    ] + [
        (name, "form", spec.get("description", ""))
        for name, spec in fields.get("schema", {}).get("properties", {}).items()
        if name not in {p["name"] for p in operation.get("parameters", [])}
    ]
    parameters = "".join(
        f"<tr><td><code>{escape(n)}</code></td><td>{escape(w)}</td><td>{escape(d)}</td></tr>"
        for n, w, d in rows
    )
    responses = "".join(
        f"<li><code>{escape(status)}</code> {escape(response['description'])}</li>"
        for status, response in operation["responses"].items()
    )
    table = f"<table><tr><th>Name</th><th>In</th><th>What</th></tr>{parameters}</table>"
    return (
        f'<h3><span class="method">{escape(method)}</span> <code>{escape(path)}</code></h3>'
        f"<p>{escape(operation.get('summary', ''))}. {escape(operation.get('description', ''))}</p>"
        f"{table if rows else ''}<ul>{responses}</ul>"
    )


@bp.get("/docs")
def docs_page() -> Response:
    spec = openapi_spec(gateway().settings)
    auth = (
        "<p>Every <code>/v1</code> request needs "
        "<code>Authorization: Bearer &lt;API key&gt;</code>.</p>"
        if spec.get("security")
        else "<p>This deployment needs no API key.</p>"
    )
    operations = "".join(
        _operation(path, method, operation)
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    )
    page = (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>GeoPin API</title>"
        f"<style>{_STYLE}</style><h1>GeoPin API</h1><p>{escape(spec['info']['description'])}</p>"
        f'{auth}<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1). '
        f"Errors are <code>application/problem+json</code>.</p>{operations}"
    )
    return Response(page, mimetype="text/html")
