"""What the gateway's views need, built once by the app factory."""

from __future__ import annotations

from dataclasses import dataclass

from celery import Celery
from flask import current_app
from geopin.auth import KeyStore
from geopin.backpressure import Backpressure
from geopin.index import VectorIndex
from geopin.jobs import JobStore
from geopin.presence import ModelPresence
from geopin.queue.broker import Broker
from geopin.queue.publish import QueueJob
from geopin.settings import Settings
from geopin.thumbnails import ThumbnailStore
from geopin.webhooks.delivery import Notifier


@dataclass
class Gateway:
    settings: Settings
    store: JobStore
    index: VectorIndex
    presence: ModelPresence
    celery: Celery
    queue_job: QueueJob
    keys: KeyStore
    notifier: Notifier
    backpressure: Backpressure
    broker: Broker
    thumbnails: ThumbnailStore


def gateway() -> Gateway:
    ctx: Gateway = current_app.extensions["geopin"]
    return ctx
