"""Integration fixtures: the real Redis and Elasticsearch that scripts/ started.

A missing server fails the tests (it never skips them): start them with
``scripts/redis start`` and ``scripts/elasticsearch start``. Every test in this folder is
marked ``integration``, so ``pytest -m "not integration"`` runs the rest without servers.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from tests.support.elasticsearch import index_references
from tests.support.factories import write_reference_set
from tests.support.stack import Started, delete_indices

REDIS_URL = os.environ.get("GEOPIN_TEST_REDIS_URL", "redis://127.0.0.1:6379")
ES_URL = os.environ.get("GEOPIN_TEST_ES_URL", "http://127.0.0.1:9200")
REFERENCE_COUNT = 32


@pytest.fixture(scope="session")
def redis_server() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.fail(f"no Redis at {REDIS_URL} ({exc}); start it with `scripts/redis start`")
    return REDIS_URL


@pytest.fixture(scope="session")
def es_server() -> str:
    try:
        requests.get(f"{ES_URL}/_cluster/health", timeout=5).raise_for_status()
    except requests.RequestException as exc:
        pytest.fail(
            f"no Elasticsearch at {ES_URL} ({exc}); start it: `scripts/elasticsearch start`"
        )
    return ES_URL


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Pytest hands this hook every collected test, not only this folder's.
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.integration)


# Database 0 is left to whatever else uses this Redis; each test gets a flushed one of 1-15.
_next_db = itertools.cycle(range(1, 16))


def _emptied_db(redis_server: str) -> Iterator[str]:
    url = f"{redis_server}/{next(_next_db)}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()


@pytest.fixture
def redis_db(redis_server: str) -> Iterator[str]:
    """A Redis database of its own for one test, emptied before and after."""
    yield from _emptied_db(redis_server)


@pytest.fixture(scope="module")
def redis_module_db(redis_server: str) -> Iterator[str]:
    """A Redis database shared by one module's tests (a stack started once per module)."""
    yield from _emptied_db(redis_server)


@pytest.fixture
def started(tmp_path: Path) -> Iterator[Started]:
    """Start GeoPin's processes with ``started.start(start_embedder, env)``; every one is
    stopped when the test ends, passed or failed, killed on purpose or not."""
    services = Started(tmp_path)
    try:
        yield services
    finally:
        services.stop_all()


@pytest.fixture(scope="session")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from geopin_tools.model.seeded import write_seeded_model

    path = tmp_path_factory.mktemp("model") / "seeded.onnx"
    write_seeded_model(path)
    return path


@pytest.fixture(scope="session")
def es_index(es_server: str) -> Iterator[str]:
    """An alias of its own for the test session; its indices are deleted afterwards."""
    alias = f"geopin-test-{uuid.uuid4().hex[:8]}"
    yield alias
    delete_indices(es_server, alias)


@pytest.fixture(scope="session")
def base_env(es_server: str, es_index: str, model_path: Path) -> dict[str, str]:
    """Settings every GeoPin process in the tests shares (Redis comes per test)."""
    return {
        "GEOPIN_ELASTICSEARCH__URL": es_server,
        "GEOPIN_ELASTICSEARCH__INDEX": es_index,
        "GEOPIN_MODEL__PATH": str(model_path),
        "GEOPIN_MODEL__INTRA_OP_THREADS": "1",
        "GEOPIN_LOG_LEVEL": "INFO",
    }


@pytest.fixture(scope="session")
def reference_manifest(
    tmp_path_factory: pytest.TempPathFactory, base_env: dict[str, str], redis_server: str
) -> Path:
    """A few dozen generated geotagged photos, indexed once with the real CLI."""
    manifest = write_reference_set(tmp_path_factory.mktemp("references"), REFERENCE_COUNT)
    output = index_references(manifest, {**base_env, "GEOPIN_REDIS__URL": redis_server})
    assert f"indexed {REFERENCE_COUNT} photo(s)" in output
    return manifest
