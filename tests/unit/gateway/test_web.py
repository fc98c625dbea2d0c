"""The page at ``/``: served with its committed bundle, settings as data, nothing from outside."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from flask import Flask
from geopin.settings import Settings
from geopin_gateway.app import create_app

GATEWAY = Path(__file__).resolve().parents[3] / "services" / "geopin_gateway"
WEB = GATEWAY / "web"


def _sources_hash() -> str:
    """What services/geopin_gateway/web/build.mjs stamps on its outputs (sourcesHash there)."""
    files = ["build.mjs", "package-lock.json", *sorted(f"src/{p.name}" for p in WEB.glob("src/*"))]
    digest = hashlib.sha256()
    for name in files:
        digest.update(f"{name}\0".encode() + (WEB / name).read_bytes() + b"\0")
    return digest.hexdigest()


@pytest.mark.parametrize("bundle", ["geopin.js", "geopin.css"])
def test_committed_bundle_was_built_from_the_current_sources(bundle: str) -> None:
    first_line = (GATEWAY / "static" / bundle).read_text().splitlines()[0]
    stamp = re.fullmatch(r"/\* geopin-web sources sha256:([0-9a-f]{64}) \*/", first_line)
    assert stamp, f"{bundle} has no source stamp"
    assert stamp[1] == _sources_hash(), (
        f"static/{bundle} is stale: run `npm ci && npm run build` in services/geopin_gateway/web"
    )


@pytest.fixture
def app() -> Flask:
    return create_app(Settings())


def test_page_loads_its_bundle_from_the_gateway_and_nothing_from_outside(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-tile-url=""' in html
    assert "http://" not in html
    assert "https://" not in html
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        with client.get(asset) as response:
            assert response.status_code == 200
    assert len(re.findall(r'(?:src|href)="/static/', html)) == 2


def test_page_asks_for_an_api_key_only_when_keys_are_on() -> None:
    off = create_app(Settings()).test_client().get("/").get_data(as_text=True)
    keys_on = Settings(auth={"enabled": True}, redis={"url": "redis://127.0.0.1:6394"})
    on = create_app(keys_on).test_client().get("/").get_data(as_text=True)
    assert 'id="api-key"' not in off
    assert 'id="api-key"' in on


def test_tile_settings_reach_the_page_escaped() -> None:
    settings = Settings(
        web={
            "tile_url": "https://tile.example.org/{z}/{x}/{y}.png",
            "tile_attribution": '© <a href="https://example.org">Example</a>',
        }
    )
    html = create_app(settings).test_client().get("/").get_data(as_text=True)
    assert 'data-tile-url="https://tile.example.org/{z}/{x}/{y}.png"' in html
    assert 'data-tile-attribution="© &lt;a href=&#34;https://example.org&#34;&gt;' in html
