"""The OpenAPI document covers every route the gateway serves, and the docs page shows it."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from geopin.settings import Mode, Settings
from geopin_gateway.app import create_app


@pytest.fixture(params=[False, True], ids=["keys-off", "keys-on"])
def app(request: pytest.FixtureRequest) -> Flask:
    # Nothing is contacted while the app is built or while these documents are served.
    # Servers mode: keys need Redis (the embedded mode refuses them); nothing is contacted.
    return create_app(Settings(auth={"enabled": request.param}, mode=Mode.SERVERS))


def _flask_operations(app: Flask) -> set[tuple[str, str]]:
    operations = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in rule.methods or ():
            if method not in ("HEAD", "OPTIONS"):
                operations.add((path, method.lower()))
    return operations


def test_every_route_is_in_the_openapi_document(app: Flask) -> None:
    spec = app.test_client().get("/openapi.json").get_json()
    documented = {(path, method) for path, methods in spec["paths"].items() for method in methods}
    missing = _flask_operations(app) - documented
    assert not missing, f"routes missing from services/geopin_gateway/openapi.py: {sorted(missing)}"
    assert documented - _flask_operations(app) == set(), "documented routes that do not exist"


def test_document_is_openapi_3_1_and_every_reference_resolves(app: Flask) -> None:
    spec = app.test_client().get("/openapi.json").get_json()
    assert spec["openapi"] == "3.1.0"
    text = str(spec)
    for ref in set(re.findall(r"'#/components/(\w+)/(\w+)'", text)):
        assert ref[1] in spec["components"][ref[0]], f"dangling $ref {ref}"


def test_keys_are_required_in_the_document_exactly_when_the_gateway_requires_them(
    app: Flask,
) -> None:
    spec = app.test_client().get("/openapi.json").get_json()
    enabled = app.extensions["geopin"].settings.auth.enabled
    assert (spec.get("security") == [{"bearer": []}]) is enabled
    assert spec["paths"]["/healthz"]["get"]["security"] == []


def test_docs_page_lists_every_operation_without_outside_assets(app: Flask) -> None:
    response = app.test_client().get("/docs")
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    for path, method in _flask_operations(app):
        assert f'<span class="method">{method}</span> <code>{path}</code>' in page
    assert "http://" not in page
    assert "https://" not in page
    assert "<script" not in page
