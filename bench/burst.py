"""A burst of jobs against the local stack, with embedders scaled by the KEDA rule.

Needs a Redis of its own and the shared Elasticsearch; starts the gateway, the search
worker and the embedders itself (``tests/support/stack.py``), in servers mode::

    GEOPIN_REDIS_PORT=6395 GEOPIN_RUN_DIR=/tmp/geopin-h14 scripts/redis start
    .venv/bin/python -m bench.burst --jobs 1000 --redis redis://127.0.0.1:6395/0

It indexes a small generated reference set under an alias of its own, then submits the
jobs as fast as ``--submitters`` HTTP threads can, without retrying a 503. A supervisor
thread reads ``LLEN embed`` every ``--poll-s`` seconds and sets the number of embedder
processes by :func:`next_replicas` (the dev-cpu KEDA values of docs/deployment.md, with the
polling interval and the scale-down wait shortened for a bench). It reports jobs accepted
and refused, time to drain, p50/p99 job latency (the job's own ``created_at`` to
``updated_at`` of its success), the largest queue depth, and whether every accepted job
succeeded; it writes a PNG of queue depth and embedder count over time.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import redis
import requests
from PIL import Image, ImageDraw, ImageFont

from tests.support.autoscaling import ScaleRule, ScaleState, next_replicas
from tests.support.factories import encode, place_photo, write_reference_set
from tests.support.stack import (
    Service,
    delete_indices,
    http_status,
    start_embedder,
    start_gateway,
    start_searcher,
    wait_until,
)

TMP = Path(tempfile.gettempdir())


class Pool:
    """Embedder processes; removed ones stop warm (SIGTERM) in the background."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env, self.log_dir = env, log_dir
        self.running: list[Service] = []
        self.stopping: list[threading.Thread] = []

    def resize(self, replicas: int) -> None:
        while len(self.running) < replicas:
            self.running.append(start_embedder(self.env, self.log_dir))
        while len(self.running) > replicas:
            service = self.running.pop()
            thread = threading.Thread(target=service.stop, daemon=True)
            thread.start()
            self.stopping.append(thread)

    def close(self) -> None:
        self.resize(0)
        for thread in self.stopping:
            thread.join(timeout=60)


def supervise(
    pool: Pool,
    llen: redis.Redis,
    rule: ScaleRule,
    poll_s: float,
    samples: list[tuple[float, int, int]],
    t0: float,
    stop: threading.Event,
) -> None:
    """Polls ``LLEN embed`` like KEDA and resizes the pool; samples every quarter poll."""
    state = ScaleState(len(pool.running), 0.0)
    next_poll = 0.0
    while not stop.is_set():
        now = time.monotonic() - t0
        length = int(llen.llen("embed"))
        if now >= next_poll:
            state = next_replicas(state, length, now, rule)
            pool.resize(state.replicas)
            next_poll = now + poll_s
        samples.append((now, length, len(pool.running)))
        stop.wait(poll_s / 4)


def parse_ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def plot(samples: list[tuple[float, int, int]], rule: ScaleRule, title: str, out: Path) -> None:
    """Queue depth (blue, left axis) and embedder count (red, right axis) over time."""
    width, height, left, right, top, bottom = 960, 480, 80, 80, 50, 60
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    try:
        font = ImageFont.load_default(size=16)
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    t_max = max(s[0] for s in samples) or 1.0
    q_max = max(10, max(s[1] for s in samples))
    q_max = int(math.ceil(q_max / 50) * 50)
    w_max = rule.max_replicas + 1
    x0, x1, y0, y1 = left, width - right, height - bottom, top

    def x(t: float) -> float:
        return x0 + (x1 - x0) * t / t_max

    def yq(q: float) -> float:
        return y0 - (y0 - y1) * q / q_max

    def yw(w: float) -> float:
        return y0 - (y0 - y1) * w / w_max

    draw.rectangle((x0, y1, x1, y0), outline="black")
    for i in range(6):
        q = q_max * i / 5
        draw.line((x0 - 5, yq(q), x0, yq(q)), fill="black")
        draw.line((x0, yq(q), x1, yq(q)), fill=(230, 230, 230))
        draw.text((x0 - 8, yq(q)), f"{q:.0f}", fill="blue", font=font, anchor="rm")
    for w in range(w_max + 1):
        draw.line((x1, yw(w), x1 + 5, yw(w)), fill="black")
        draw.text((x1 + 8, yw(w)), str(w), fill="red", font=font, anchor="lm")
    step = max(1, int(math.ceil(t_max / 10 / 5) * 5))
    for t in range(0, int(t_max) + 1, step):
        draw.line((x(t), y0, x(t), y0 + 5), fill="black")
        draw.text((x(t), y0 + 8), str(t), fill="black", font=font, anchor="mt")
    draw.text(
        ((x0 + x1) / 2, height - 8),
        "time since first submit (s)",
        fill="black",
        font=font,
        anchor="mb",
    )
    draw.text((8, y1 - 28), "embed queue (LLEN)", fill="blue", font=font, anchor="la")
    draw.text((width - 8, y1 - 28), "embedders", fill="red", font=font, anchor="ra")
    draw.text((width / 2, 8), title, fill="black", font=font, anchor="ma")
    draw.line([(x(t), yq(q)) for t, q, _ in samples], fill="blue", width=2)
    steps: list[tuple[float, float]] = []
    for t, _, w in samples:
        if steps:
            steps.append((x(t), steps[-1][1]))
        steps.append((x(t), yw(w)))
    draw.line(steps, fill="red", width=2)
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--submitters", type=int, default=16)
    parser.add_argument("--references", type=int, default=50)
    parser.add_argument("--size", default="192x144", help="query photo size, WxH")
    parser.add_argument("--redis", default="redis://127.0.0.1:6395/0")
    parser.add_argument(
        "--es", default=os.environ.get("GEOPIN_ELASTICSEARCH__URL", "http://127.0.0.1:9200")
    )
    parser.add_argument("--model", type=Path, default=TMP / "geopin-h14/seeded.onnx")
    parser.add_argument("--max-queued", type=int, default=300, help="503 above this LLEN embed")
    parser.add_argument("--poll-s", type=float, default=2.0, help="KEDA pollingInterval (10 s)")
    parser.add_argument("--cooldown-s", type=float, default=15.0)
    parser.add_argument("--max-replicas", type=int, default=3)
    parser.add_argument("--list-length", type=int, default=20)
    parser.add_argument("--drain-timeout-s", type=float, default=480.0)
    parser.add_argument("--out", type=Path, default=TMP / "geopin-burst/burst.png")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    rule = ScaleRule(
        list_length=args.list_length,
        max_replicas=args.max_replicas,
        cooldown_s=args.cooldown_s,
    )
    alias = f"geopin-burst-{uuid.uuid4().hex[:8]}"
    env = {
        "GEOPIN_MODE": "servers",
        "GEOPIN_REDIS__URL": args.redis,
        "GEOPIN_ELASTICSEARCH__URL": args.es,
        "GEOPIN_ELASTICSEARCH__INDEX": alias,
        "GEOPIN_MODEL__PATH": str(args.model),
        "GEOPIN_MODEL__INTRA_OP_THREADS": "1",
        "GEOPIN_IMAGES__SHORTER_SIDE": "128",
        "GEOPIN_IMAGES__MAX_SIDE": "192",
        "GEOPIN_LIMITS__MAX_QUEUED_JOBS": str(args.max_queued),
        "GEOPIN_LIMITS__ENABLED": "false",  # per-client rate limits would refuse the burst
        "GEOPIN_LOG_LEVEL": "WARNING",
    }
    broker = redis.Redis.from_url(args.redis)
    workdir = Path(tempfile.mkdtemp(prefix="geopin-burst-"))
    services: list[Service] = []
    pool = Pool(env, workdir)
    try:
        manifest = write_reference_set(workdir / "refs", args.references)
        subprocess.run(
            [sys.executable, "-m", "geopin.cli", "index", "add", str(manifest),
             "--report", str(workdir / "ingest-report.jsonl")],
            env={**os.environ, **env}, check=True, timeout=600,
        )  # fmt: skip
        pool.resize(rule.min_replicas)
        services.append(start_searcher(env, workdir))
        gateway, url = start_gateway(env, workdir)
        services.append(gateway)
        wait_until(lambda: http_status(url + "/readyz") == 200, 120, "readiness", gateway)
        photos = [encode(place_photo(1000 + i, (width, height)), quality=90) for i in range(64)]

        local = threading.local()

        def submit(i: int) -> tuple[int, str | None]:
            session = getattr(local, "session", None) or requests.Session()
            local.session = session
            response = session.post(
                f"{url}/v1/jobs",
                data=photos[i % len(photos)],
                headers={"Content-Type": "image/jpeg"},
                timeout=60,
            )
            job_id = response.json().get("job_id") if response.status_code == 202 else None
            return response.status_code, job_id

        samples: list[tuple[float, int, int]] = []
        stop = threading.Event()
        t0 = time.monotonic()
        wall0 = time.time()
        supervisor = threading.Thread(
            target=supervise, args=(pool, broker, rule, args.poll_s, samples, t0, stop)
        )
        supervisor.start()
        with ThreadPoolExecutor(args.submitters) as executor:
            answers = list(executor.map(submit, range(args.jobs)))
        submit_s = time.monotonic() - t0
        accepted = [job_id for code, job_id in answers if code == 202 and job_id]
        codes: dict[int, int] = {}
        for code, _ in answers:
            codes[code] = codes.get(code, 0) + 1

        # Drained: every accepted job ended. Poll the unfinished ones once a second.
        jobs: dict[str, dict] = {}
        pending = set(accepted)
        session = requests.Session()
        deadline = time.monotonic() + args.drain_timeout_s
        while pending and time.monotonic() < deadline:
            if broker.llen("embed") > 0:
                time.sleep(1)
                continue
            for job_id in list(pending):
                response = session.get(f"{url}/v1/jobs/{job_id}", timeout=30)
                if response.status_code == 200 and response.json()["status"] in (
                    "succeeded",
                    "failed",
                ):
                    jobs[job_id] = response.json()
                    pending.discard(job_id)
            if pending:
                time.sleep(1)
        # Let the pool scale back down after the burst, so the plot shows it.
        settle_until = (
            time.monotonic() + rule.cooldown_s * (rule.max_replicas - 1) + 2 * args.poll_s
        )
        while len(pool.running) > rule.min_replicas and time.monotonic() < settle_until:
            time.sleep(0.5)
        stop.set()
        supervisor.join()
    finally:
        pool.close()
        for service in services:
            service.stop()
        delete_indices(args.es, alias)

    succeeded = [j for j in jobs.values() if j["status"] == "succeeded"]
    failed = [j for j in jobs.values() if j["status"] == "failed"]
    latencies = [parse_ts(j["updated_at"]) - parse_ts(j["created_at"]) for j in succeeded]
    drain_s = max(parse_ts(j["updated_at"]) for j in jobs.values()) - wall0 if jobs else math.nan
    refused = codes.get(503, 0)
    print(f"{args.jobs} jobs from {args.submitters} submitters, {width}x{height} JPEG, "
          f"{args.references} refs, 503 above {args.max_queued} queued")  # fmt: skip
    print(f"answers: {dict(sorted(codes.items()))} (submitting took {submit_s:.1f} s)")
    print(f"accepted {len(accepted)}, refused (503) {refused}")
    print(f"drained in {drain_s:.1f} s (first submit to last job ended)")
    if latencies:
        print(
            f"job latency p50 {statistics.median(latencies):.2f} s, "
            f"p99 {percentile(latencies, 0.99):.2f} s, max {max(latencies):.2f} s"
        )
    print(f"largest embed queue {max(s[1] for s in samples)}, most embedders "
          f"{max(s[2] for s in samples)}")  # fmt: skip
    print(f"succeeded {len(succeeded)}, failed {len(failed)}, missing {len(pending)}")
    title = (
        f"{args.jobs} jobs, {len(accepted)} accepted, {refused} refused (503 above "
        f"{args.max_queued}); listLength {rule.list_length}, 1-{rule.max_replicas} embedders"
    )
    plot(samples, rule, title, args.out)
    print(f"plot: {args.out}")
    if failed or pending:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
