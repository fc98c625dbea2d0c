"""A steady stream of photos submitted to a gateway, as an operator's load test sends them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from tests.support.factories import encode, place_photo


@dataclass
class Submitted:
    """What the gateway answered: accepted job IDs, and refusals by status."""

    accepted: list[str] = field(default_factory=list)
    refused: dict[int, int] = field(default_factory=dict)
    unanswered: int = 0


def submit_steadily(
    url: str,
    count: int,
    interval_s: float,
    on_submitted: Callable[[int], None] = lambda _: None,
) -> Submitted:
    """Submit ``count`` photos, one every ``interval_s`` seconds, without retrying refusals.

    ``on_submitted(n)`` runs after the n-th submission (from 1), so a drill can inject its
    fault part-way through. Refusals (503 during an outage) are counted, not retried: a job
    the gateway refused was never accepted, so it cannot be lost.
    """
    photos = [encode(place_photo(seed)) for seed in range(8)]
    outcome = Submitted()
    started = time.monotonic()
    for n in range(count):
        time.sleep(max(0.0, started + n * interval_s - time.monotonic()))
        try:
            answer = requests.post(
                f"{url}/v1/jobs",
                data=photos[n % len(photos)],
                headers={"Content-Type": "image/jpeg"},
                timeout=30,
            )
        except requests.RequestException:
            outcome.unanswered += 1
        else:
            if answer.status_code == 202:
                outcome.accepted.append(answer.json()["job_id"])
            else:
                outcome.refused[answer.status_code] = outcome.refused.get(answer.status_code, 0) + 1
        on_submitted(n + 1)
    return outcome


def in_background(work: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread
