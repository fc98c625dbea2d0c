"""Readiness learns which models are loaded from the embedders' announcements in Redis."""

from __future__ import annotations

import json

import redis
from geopin.model.info import ModelInfo
from geopin.presence.redis import RedisPresence

INFO = ModelInfo("abc123", "ResNet18", 512, trained=False, description="seeded", kind="untrained")


def test_announced_model_is_listed_with_its_identity(redis_db: str) -> None:
    presence = RedisPresence(redis.Redis.from_url(redis_db), "geopin")
    presence.announce(INFO)
    assert presence.loaded_models() == [INFO.public()]


def test_an_announcement_past_its_expiry_is_dropped(redis_db: str) -> None:
    client = redis.Redis.from_url(redis_db)
    stale = {**INFO.public(), "expires_at": 0}
    client.hset("geopin:embedders", "gone-host:1", json.dumps(stale))
    presence = RedisPresence(client, "geopin")
    assert presence.loaded_models() == []
    assert client.hlen("geopin:embedders") == 0
