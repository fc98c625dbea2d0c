"""What the gateway's views need, built once by the app factory."""

from __future__ import annotations

from dataclasses import dataclass

from celery import Celery
from flask import current_app

from shared.auth import KeyStore
from shared.backpressure import Backpressure
from shared.index import VectorIndex
from shared.jobs import JobStore
from shared.model.presence import ModelPresence
from shared.settings import Settings
from shared.thumbnails import ThumbnailStore
from shared.webhooks.delivery import Notifier


@dataclass
class Gateway:
    settings: Settings
    store: JobStore
    index: VectorIndex
    presence: ModelPresence
    celery: Celery
    keys: KeyStore
    notifier: Notifier
    backpressure: Backpressure
    thumbnails: ThumbnailStore


def gateway() -> Gateway:
    ctx: Gateway = current_app.extensions["geopin"]
    return ctx
