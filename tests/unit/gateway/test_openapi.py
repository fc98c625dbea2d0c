"""The OpenAPI document covers every route the gateway serves, states the API's facts as the
code defines them, links a job to its routes, and the docs page shows it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import escape
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from geopin.errors import api_codes, error_code, failed_job_codes
from geopin.images import ACCEPTED_MEDIA_TYPES
from geopin.jobs import new_job_id
from geopin.settings import Mode, Settings
from geopin.top_k import TOP_K_MAX, TOP_K_MIN
from geopin_gateway.app import create_app
from geopin_gateway.openapi_problems import PROBLEM
from PIL import Image

from tests.support.factories import encode


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


def _spec(app: Flask) -> dict[str, Any]:
    spec: dict[str, Any] = app.test_client().get("/openapi.json").get_json()
    return spec


def _operations(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        op["operationId"]: op
        for methods in spec["paths"].values()
        for op in methods.values()
        if "operationId" in op
    }


def test_submission_states_top_k_bounds_image_types_and_size_limit_as_the_code_does() -> None:
    settings = Settings(mode=Mode.SERVERS, images={"max_upload_bytes": 12_345})
    submit = _spec(create_app(settings))["paths"]["/v1/jobs"]["post"]
    content = submit["requestBody"]["content"]
    form = content["multipart/form-data"]
    top_ks = [form["schema"]["properties"]["top_k"]]
    top_ks += [p["schema"] for p in submit["parameters"] if p["name"] == "top_k"]
    assert [(s["minimum"], s["maximum"]) for s in top_ks] == [(TOP_K_MIN, TOP_K_MAX)] * 2
    assert set(content) == {"multipart/form-data", *ACCEPTED_MEDIA_TYPES}
    assert form["encoding"]["image"]["contentType"] == ", ".join(ACCEPTED_MEDIA_TYPES)
    image = form["schema"]["properties"]["image"]
    assert (image["minLength"], image["maxLength"]) == (1, 12_345)
    assert all(content[media_type]["schema"] == image for media_type in ACCEPTED_MEDIA_TYPES)
    assert form["schema"]["required"] == ["image"]


def test_job_ids_match_the_documented_pattern(app: Flask) -> None:
    schema = _operations(_spec(app))["getJob"]["parameters"][0]["schema"]
    assert re.fullmatch(schema["pattern"].strip("^$"), new_job_id())


def test_a_submitted_job_links_to_its_routes_and_its_best_match_to_its_thumbnail(
    app: Flask,
) -> None:
    spec = _spec(app)
    links = spec["paths"]["/v1/jobs"]["post"]["responses"]["202"]["links"]
    from_body = {"job_id": "$response.body#/job_id"}
    assert (links["GetJob"]["operationId"], links["GetJob"]["parameters"]) == ("getJob", from_body)
    redeliver = links["RedeliverJob"]
    assert (redeliver["operationId"], redeliver["parameters"]) == ("redeliverWebhook", from_body)
    assert links["GetJobAtLocation"]["parameters"]["job_id"].startswith(
        "$response.header.Location#regex:"
    )
    job_links = _operations(spec)["getJob"]["responses"]["200"]["links"]
    thumbnail = job_links["ThumbnailOfBestMatch"]
    assert thumbnail["operationId"] == "getThumbnail"
    assert thumbnail["parameters"] == {"reference_id": "$response.body#/result/matches/0/id"}


def test_the_location_link_finds_the_job_id_in_the_location_the_gateway_sends(
    tmp_path: Path,
) -> None:
    app = create_app(Settings(mode=Mode.EMBEDDED, data_dir=tmp_path))
    link = _spec(app)["paths"]["/v1/jobs"]["post"]["responses"]["202"]["links"]
    pattern = link["GetJobAtLocation"]["parameters"]["job_id"].partition("#regex:")[2]
    photo = encode(Image.new("RGB", (32, 24), "teal"))
    response = app.test_client().post("/v1/jobs", data=photo, content_type="image/jpeg")
    assert response.status_code == 202
    found = re.search(pattern, response.headers["Location"])
    assert found is not None
    assert found[1] == response.get_json()["job_id"]


def test_every_link_names_an_operation_and_fills_exactly_its_path_parameters(app: Flask) -> None:
    spec = _spec(app)
    operations = _operations(spec)
    links = [
        link
        for op in operations.values()
        for response in op["responses"].values()
        for link in response.get("links", {}).values()
    ]
    assert len(links) >= 6
    for link in links:
        target = operations[link["operationId"]]
        path_parameters = {p["name"] for p in target["parameters"] if p["in"] == "path"}
        assert set(link["parameters"]) == path_parameters, link


def _problem_responses(spec: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    for methods in spec["paths"].values():
        for op in methods.values():
            for status, response in op["responses"].items():
                if PROBLEM in response.get("content", {}):
                    yield int(status), response


def test_each_refusal_lists_catalogued_codes_at_their_status_with_their_headers(
    app: Flask,
) -> None:
    headers = {401: "WWW-Authenticate", 429: "Retry-After", 503: "Retry-After"}
    for status, response in _problem_responses(_spec(app)):
        schema = response["content"][PROBLEM]["schema"]
        assert schema["properties"]["status"] == {"const": status}
        for code in schema["properties"]["code"]["enum"]:
            assert error_code(code).status == status
            assert f"`{code}`" in response["description"]
        if status in headers:
            assert response["headers"][headers[status]]["required"] is True


def test_every_code_the_api_answers_with_is_documented_on_a_route(app: Flask) -> None:
    documented = {
        code
        for _, response in _problem_responses(_spec(app))
        for code in response["content"][PROBLEM]["schema"]["properties"]["code"]["enum"]
    }
    # Any route, by the framework, or a bug: never a planned answer of one route. No route
    # reads the index (workers do), so index-unavailable is a failed job's code for now.
    anywhere = {"not-found", "method-not-allowed", "internal-error", "index-unavailable"}
    assert documented == {e.code for e in api_codes()} - anywhere


def test_a_failed_jobs_documented_codes_are_the_catalogues(app: Flask) -> None:
    job = _spec(app)["components"]["schemas"]["Job"]
    codes = job["properties"]["error"]["properties"]["code"]["enum"]
    assert codes == [e.code for e in failed_job_codes()]


def test_docs_page_describes_every_parameter(app: Flask) -> None:
    page = app.test_client().get("/docs").get_data(as_text=True)
    for op in _operations(_spec(app)).values():
        for parameter in op["parameters"]:
            assert escape(parameter.get("description", parameter["name"])) in page
