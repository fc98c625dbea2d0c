"""Every adapter reports its backend's outage as the domain's error, method by method.

No server is needed to see one: a Redis or Elasticsearch client pointed at a port where
nothing listens gets "connection refused", exactly as from a stopped server, and a SQLite
path that is a folder cannot be opened. The integration tests (test_outages.py) stop real
servers and lock real files.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import elasticsearch
import numpy as np
import pytest
import redis
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from geopin.auth import RedisKeyStore
from geopin.geo import LatLon
from geopin.index import IndexUnavailable, Reference
from geopin.index.elasticsearch import ElasticsearchIndex, es_outage, make_client
from geopin.index.elasticsearch_versions import ElasticsearchVersions
from geopin.index.embedded import EmbeddedIndex
from geopin.index.embedded_schema import SCHEMA
from geopin.index.embedded_versions import EmbeddedVersions
from geopin.ingest.distributed import Ledger
from geopin.ingest.outcomes import Outcome
from geopin.ingest.sources import Candidate
from geopin.jobs import QueryVector, StoreUnavailable
from geopin.jobs.redis import RedisJobStore
from geopin.jobs.sqlite import SqliteJobStore
from geopin.model.info import ModelInfo
from geopin.outages import OutageTranslation
from geopin.presence.redis import RedisPresence
from geopin.presence.sqlite import SqlitePresence
from geopin.queue import QueueUnavailable, enqueue_locate, make_celery
from geopin.queue.broker import RedisBroker, SqliteBroker
from geopin.settings import ElasticsearchSettings, JobSettings, Mode, Settings
from geopin.sqlite import Database
from geopin.webhooks.due import DueAttempt, DueSet
from geopin.webhooks.log import Attempt, DeliveryStatus, RedisDeliveryLog

Call = Callable[[Any], object]

INFO = ModelInfo("m" * 64, "resnet18", 2, True, "test model", "trained")
VECTOR = QueryVector("m" * 64, np.ones(2, dtype=np.float32))
REFERENCE = Reference("r1", LatLon(52.0, 4.0), np.ones(2, dtype=np.float32))
OUTCOME = Outcome(Candidate(Path("a.jpg"), "line 1", "a"), "indexed")


def _closed_port() -> int:
    """A port nothing listens on: bound, then released."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def gone_redis() -> redis.Redis:
    return redis.Redis(port=_closed_port(), socket_connect_timeout=1, socket_timeout=1)


@pytest.fixture(scope="module")
def gone_elasticsearch() -> tuple[Any, ElasticsearchSettings]:
    settings = ElasticsearchSettings(url=f"http://127.0.0.1:{_closed_port()}", index="gone")
    return make_client(settings), settings


@pytest.fixture
def unopenable(tmp_path: Path) -> Path:
    """A SQLite 'file' that is a folder: every connection to it fails."""
    path = tmp_path / "a-folder.db"
    path.mkdir()
    return path


STORE_CALLS: dict[str, Call] = {
    "ping": lambda s: s.ping(),
    "create": lambda s: s.create(b"photo", 3),
    "discard": lambda s: s.discard("j"),
    "get": lambda s: s.get("j"),
    "mark_running": lambda s: s.mark_running("j"),
    "succeed": lambda s: s.succeed("j", {}),
    "fail": lambda s: s.fail("j", "timeout", "late"),
    "load_upload": lambda s: s.load_upload("j"),
    "delete_upload": lambda s: s.delete_upload("j"),
    "save_vector": lambda s: s.save_vector("j", VECTOR),
    "load_vector": lambda s: s.load_vector("j"),
    "delete_vector": lambda s: s.delete_vector("j"),
}
PRESENCE_CALLS: dict[str, Call] = {
    "announce": lambda p: p.announce(INFO),
    "loaded_models": lambda p: p.loaded_models(),
}
BROKER_CALLS: dict[str, Call] = {
    "queue_length": lambda b: b.queue_length("embed"),
    "ping": lambda b: b.ping(),
}
INDEX_CALLS: dict[str, Call] = {
    "ensure": lambda i: i.ensure(2, "m" * 64),
    "add": lambda i: i.add([REFERENCE], "m" * 64),
    "refresh": lambda i: i.refresh(),
    "photos": lambda i: i.photos(["r1"]),
    "search": lambda i: i.search(np.ones(2, dtype=np.float32), 1, "m" * 64),
    "count": lambda i: i.count(),
    "check": lambda i: i.check(),
    "bulk_load": lambda i: i.bulk_load().__enter__(),
}
VERSIONS_CALLS: dict[str, Call] = {
    "versions": lambda v: v.versions(),
    "create": lambda v: v.create(2, "m" * 64),
    "swap": lambda v: v.swap("gone-mmmmmmmmmmmm-1"),
    "prune": lambda v: v.prune(),
}
REDIS_CALLS: dict[str, tuple[Callable[[redis.Redis], Any], Call]] = {
    **{
        f"jobs.{name}": (lambda r: RedisJobStore(r, JobSettings(), "t"), call)
        for name, call in STORE_CALLS.items()
    },
    **{
        f"presence.{name}": (lambda r: RedisPresence(r, "t"), call)
        for name, call in PRESENCE_CALLS.items()
    },
    "keys.create": (lambda r: RedisKeyStore(r, "t"), lambda k: k.create("acme")),
    "keys.authenticate": (lambda r: RedisKeyStore(r, "t"), lambda k: k.authenticate("gpk_x")),
    "keys.all": (lambda r: RedisKeyStore(r, "t"), lambda k: k.all()),
    "keys.rotate": (lambda r: RedisKeyStore(r, "t"), lambda k: k.rotate_webhook_secret("k", 1)),
    "keys.revoke": (lambda r: RedisKeyStore(r, "t"), lambda k: k.revoke("k")),
    "deliveries.start_round": (
        lambda r: RedisDeliveryLog(r, "t", 60),
        lambda d: d.start_round("j", "w"),
    ),
    "deliveries.get": (lambda r: RedisDeliveryLog(r, "t", 60), lambda d: d.get("j")),
    "deliveries.claim": (lambda r: RedisDeliveryLog(r, "t", 60), lambda d: d.claim("j", 1, 1, 9)),
    "deliveries.record": (
        lambda r: RedisDeliveryLog(r, "t", 60),
        lambda d: d.record("j", Attempt(1, 1, "now"), DeliveryStatus.PENDING),
    ),
    "due.add": (lambda r: DueSet(r, "t"), lambda d: d.add(DueAttempt("j", 1, 1), 0.0)),
    "due.take": (lambda r: DueSet(r, "t"), lambda d: d.take(0.0)),
    "ledger.record": (lambda r: Ledger(r, "t", "run"), lambda led: led.record(OUTCOME)),
    "ledger.done": (lambda r: Ledger(r, "t", "run"), lambda led: led.done()),
    "ledger.counts": (lambda r: Ledger(r, "t", "run"), lambda led: led.counts()),
    "ledger.refused": (lambda r: Ledger(r, "t", "run"), lambda led: led.refused()),
}


@pytest.mark.parametrize("name", REDIS_CALLS)
def test_a_redis_store_whose_server_is_gone_raises_store_unavailable(
    gone_redis: redis.Redis, name: str
) -> None:
    make, call = REDIS_CALLS[name]
    with pytest.raises(StoreUnavailable, match=r"^Redis: ") as raised:
        call(make(gone_redis))
    assert isinstance(raised.value.__cause__, redis.ConnectionError)


@pytest.mark.parametrize("name", BROKER_CALLS)
def test_a_redis_broker_that_is_gone_raises_queue_unavailable(
    gone_redis: redis.Redis, name: str
) -> None:
    with pytest.raises(QueueUnavailable):
        BROKER_CALLS[name](RedisBroker(gone_redis))


SQLITE_CALLS: dict[str, tuple[Callable[[Path], Any], Call, type[Exception]]] = {
    **{
        f"jobs.{name}": (lambda p: SqliteJobStore(p, JobSettings()), call, StoreUnavailable)
        for name, call in STORE_CALLS.items()
    },
    **{
        f"presence.{name}": (SqlitePresence, call, StoreUnavailable)
        for name, call in PRESENCE_CALLS.items()
    },
    **{
        f"broker.{name}": (SqliteBroker, call, QueueUnavailable)
        for name, call in BROKER_CALLS.items()
    },
    **{
        f"index.{name}": (lambda p: EmbeddedIndex(Database(p, SCHEMA), "a"), call, IndexUnavailable)
        for name, call in INDEX_CALLS.items()
    },
    **{
        f"versions.{name}": (
            lambda p: EmbeddedVersions(Database(p, SCHEMA), "a"),
            call,
            IndexUnavailable,
        )
        for name, call in VERSIONS_CALLS.items()
    },
}


@pytest.mark.parametrize("name", SQLITE_CALLS)
def test_an_embedded_backend_whose_file_cannot_be_used_raises_the_domain_error(
    unopenable: Path, name: str
) -> None:
    make, call, error = SQLITE_CALLS[name]
    with pytest.raises(error, match=r"^SQLite"):
        call(make(unopenable))


ES_CALLS: dict[str, tuple[Callable[[Any, ElasticsearchSettings], Any], Call]] = {
    **{f"index.{name}": (ElasticsearchIndex, call) for name, call in INDEX_CALLS.items()},
    **{f"versions.{name}": (ElasticsearchVersions, call) for name, call in VERSIONS_CALLS.items()},
}


@pytest.mark.parametrize("name", ES_CALLS)
def test_an_elasticsearch_index_whose_server_is_gone_raises_index_unavailable(
    gone_elasticsearch: tuple[Any, ElasticsearchSettings], name: str
) -> None:
    make, call = ES_CALLS[name]
    with pytest.raises(IndexUnavailable, match=r"^Elasticsearch: "):
        call(make(*gone_elasticsearch))


def _api_error(status: int) -> elasticsearch.ApiError:
    meta = ApiResponseMeta(
        status=status,
        http_version="1.1",
        headers=HttpHeaders(),
        duration=0.0,
        node=NodeConfig("http", "127.0.0.1", 9200),
    )
    return elasticsearch.ApiError(f"status {status}", meta, {})


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_elasticsearch_answering_that_it_cannot_now_is_an_outage(status: int) -> None:
    with pytest.raises(IndexUnavailable), es_outage:
        raise _api_error(status)


@pytest.mark.parametrize("status", [400, 404, 500])
def test_elasticsearch_refusing_a_request_is_not_an_outage(status: int) -> None:
    with pytest.raises(elasticsearch.ApiError), es_outage:
        raise _api_error(status)


def test_a_broker_that_cannot_take_the_message_raises_queue_unavailable(tmp_path: Path) -> None:
    (tmp_path / "queue.db").mkdir()  # the embedded broker's file cannot be opened
    app = make_celery(Settings(mode=Mode.EMBEDDED, data_dir=tmp_path))
    with pytest.raises(QueueUnavailable, match=r"^broker: "):
        enqueue_locate(app, "job-1")


class Unavailable(Exception):
    code = "unavailable"


def test_a_translation_chains_the_library_error_and_lets_others_through() -> None:
    translate = OutageTranslation(ConnectionError, Unavailable, "Backend")

    @translate
    def read() -> None:
        raise ConnectionRefusedError("refused")

    with pytest.raises(Unavailable, match=r"^Backend: refused$") as raised:
        read()
    assert isinstance(raised.value.__cause__, ConnectionRefusedError)
    with pytest.raises(KeyError), translate:  # one instance serves any number of blocks
        raise KeyError("a bug is not an outage")
    with translate:
        pass
