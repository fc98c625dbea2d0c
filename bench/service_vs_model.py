"""The whole service against its model: how close GeoPin comes to bare inference.

    .venv/bin/python -m bench.service_vs_model [--jobs 60] [--stacks embedded,servers]

Same model (the default model, or ``--model``), same real photos (crops of Debian's
wallpaper photographs, :mod:`tests.support.wallpapers`, as 640x480 JPEGs), in one run:

- **bare**: the project's own :class:`geopin.model.embedder.Embedder` (one photo per call, no
  batching wait) embeds the photos one after another, in this process, before and after each
  stack runs, with nothing of GeoPin's running;
- **service**: the stack is started as a user starts it (``geopin up``; ``scripts/up`` with a
  Redis and an Elasticsearch of its own, :mod:`bench.stacks`), reference crops are indexed
  with ``geopin index add``, and then

  - **one job alone**, ``--alone`` times: submitted, then polled every 0.1 s; the time it
    spent outside the model is the time from the client's submit to the job's own
    ``updated_at``, less the worker's ``embed_s`` (decoding, preprocessing, inference: what
    the bare embedder does);
  - **a burst**: ``--jobs`` photos submitted at once, then the client waits patiently
    (every ``--poll-s`` seconds it reads the oldest unfinished job, so it takes next to no
    CPU); throughput counts from the first submit to the last job's ``updated_at``.

During the burst, the CPU seconds of every process tree (gateway, embedder, searcher,
notifier, Redis, Elasticsearch, the ``geopin up`` supervisor, this client) are read from
/proc before and after (:mod:`bench.proc_cpu`), with what the rest of the machine used, and
printed per job next to the bare model's own CPU per photo: the gap, explained.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import requests

from bench import proc_cpu
from bench.real_views import views
from bench.stacks import EmbeddedStack, ServerStack, Stack

TARGETS = {"embedded": 0.85, "servers": 0.75}
OUTSIDE_MODEL_TARGET_MS = 20.0
CLIENT = "client (this benchmark)"


@dataclass(frozen=True)
class Bare:
    photos_per_s: float
    cpu_s_per_photo: float


class BareModel:
    """The embedding worker's own code, called directly: the speed the service aims at."""

    def __init__(self, model: Path) -> None:
        from geopin.model.embedder import Embedder
        from geopin.settings import ImageSettings, ModelSettings

        # max_batch 1: no micro-batcher, so nothing waits for a batch to fill.
        self._embedder = Embedder(ModelSettings(path=model, max_batch=1), ImageSettings())

    def measure(self, photos: list[bytes]) -> Bare:
        self._embedder.embed(photos[0])  # loads the session; first-call set-up not counted
        cpu, started = time.process_time(), time.perf_counter()
        for photo in photos:
            self._embedder.embed(photo)
        seconds = time.perf_counter() - started
        return Bare(len(photos) / seconds, (time.process_time() - cpu) / len(photos))


def _at(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp).timestamp()


def _submit(session: requests.Session, url: str, photo: bytes) -> str:
    response = session.post(
        f"{url}/v1/jobs", data=photo, headers={"Content-Type": "image/jpeg"}, timeout=60
    )
    response.raise_for_status()
    job_id: str = response.json()["job_id"]
    return job_id


def _ended(session: requests.Session, url: str, job_id: str) -> dict[str, Any] | None:
    job: dict[str, Any] = session.get(f"{url}/v1/jobs/{job_id}", timeout=60).json()
    if job["status"] == "failed":
        raise SystemExit(f"job {job_id} failed: {job['error']}")
    return job if job["status"] == "succeeded" else None


def one_job_alone(session: requests.Session, url: str, photo: bytes) -> dict[str, float]:
    submitted = time.time()
    job_id = _submit(session, url, photo)
    while (job := _ended(session, url, job_id)) is None:
        time.sleep(0.1)
    total = _at(job["updated_at"]) - submitted
    timings = job["result"]["timings"]
    return {"total_s": total, "outside_s": total - timings["embed_s"], **timings}


def wait_patiently(
    session: requests.Session, url: str, job_ids: list[str], poll_s: float, timeout_s: float
) -> list[dict[str, Any]]:
    """Every job once ended; reads only the oldest unfinished one per poll (jobs end roughly
    in order), so the client's requests do not compete with the workers it measures."""
    ended: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while len(ended) < len(job_ids):
        if time.monotonic() > deadline:
            raise SystemExit(
                f"{len(job_ids) - len(ended)} jobs still unfinished after {timeout_s} s"
            )
        time.sleep(poll_s)
        while len(ended) < len(job_ids) and (job := _ended(session, url, job_ids[len(ended)])):
            ended.append(job)
    return ended


@dataclass(frozen=True)
class Burst:
    jobs_per_s: float
    cpu_ms_per_job: dict[str, float]
    gaps_ms: list[float]  # between successive embed completions


def burst(stack: Stack, photos: list[bytes], poll_s: float, timeout_s: float) -> Burst:
    session = requests.Session()
    before = proc_cpu.read(stack.roles)
    client_cpu = time.process_time()
    started = time.time()
    job_ids = [_submit(session, stack.url, photo) for photo in photos]
    jobs = wait_patiently(session, stack.url, job_ids, poll_s, timeout_s)
    after = proc_cpu.read(stack.roles)
    spent = proc_cpu.spent(before, after)
    spent[CLIENT] = time.process_time() - client_cpu
    spent["others"] = max(0.0, spent["others"] - spent[CLIENT])
    finished = max(_at(job["updated_at"]) for job in jobs)
    embedded = sorted(
        _at(job["updated_at"])
        - job["result"]["timings"]["search_s"]
        - job["result"]["timings"]["handoff_s"]
        for job in jobs
    )
    return Burst(
        len(jobs) / (finished - started),
        {role: seconds * 1000 / len(jobs) for role, seconds in spent.items()},
        [(b - a) * 1000 for a, b in pairwise(embedded)],
    )


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@contextmanager
def _running(kind: str, work: Path, model: Path, elasticsearch: str | None) -> Iterator[Stack]:
    stack: EmbeddedStack | ServerStack
    stack = (
        EmbeddedStack(work, model)
        if kind == "embedded"
        else ServerStack(work, model, elasticsearch)
    )
    try:
        stack.wait_answering()
        yield stack
    finally:
        stack.stop()


def measure_stack(
    kind: str,
    args: argparse.Namespace,
    bare: BareModel,
    photos: list[bytes],
    references: Path,
    model: Path,
) -> dict[str, Any]:
    bare_before = bare.measure(photos)
    print(f"  bare before: {bare_before.photos_per_s:.2f} photos/s", flush=True)
    with (
        tempfile.TemporaryDirectory(prefix="geopin-svm-") as folder,
        _running(kind, Path(folder), model, args.elasticsearch) as stack,
    ):
        print(f"  {stack.name} at {stack.url}", flush=True)
        stack.index(references, Path(folder) / "ingest-report.jsonl")
        stack.wait_ready()
        stack.warm_up()
        session = requests.Session()
        for photo in photos[:2]:  # first-use costs (connections, shapes) are not measured
            one_job_alone(session, stack.url, photo)
        alone = [
            one_job_alone(session, stack.url, photos[i % len(photos)]) for i in range(args.alone)
        ]
        print(f"  one job alone: done {len(alone)}", flush=True)
        many = burst(stack, photos, args.poll_s, args.timeout_s)
    bare_after = bare.measure(photos)
    print(f"  bare after: {bare_after.photos_per_s:.2f} photos/s", flush=True)
    return {"stack": stack.name, "bare": (bare_before, bare_after), "alone": alone, "burst": many}


def report(kind: str, result: dict[str, Any]) -> None:
    before, after = result["bare"]
    bare_rate = (before.photos_per_s + after.photos_per_s) / 2
    many: Burst = result["burst"]
    ratio = many.jobs_per_s / bare_rate
    outside = statistics.median(a["outside_s"] for a in result["alone"]) * 1000
    print(f"\n== {result['stack']}")
    print(
        f"bare Embedder: {before.photos_per_s:.2f} / {after.photos_per_s:.2f} photos/s "
        f"(before / after), {before.cpu_s_per_photo * 1000:.0f} ms CPU a photo"
    )
    verdict = "meets" if ratio >= TARGETS[kind] else "misses"
    print(
        f"service: {many.jobs_per_s:.2f} jobs/s = {ratio:.2f}x bare ({verdict} >= {TARGETS[kind]})"
    )
    if many.gaps_ms:
        print(
            f"gaps between embed completions: p50 {_percentile(many.gaps_ms, 0.5):.0f} ms, "
            f"p90 {_percentile(many.gaps_ms, 0.9):.0f} ms, max {max(many.gaps_ms):.0f} ms"
        )
    verdict = "meets" if outside <= OUTSIDE_MODEL_TARGET_MS else "misses"
    print(
        f"one job alone, outside the model: p50 {outside:.1f} ms ({verdict} <= "
        f"{OUTSIDE_MODEL_TARGET_MS:.0f}); stages p50 (ms):"
    )
    for stage in ("total_s", "queued_s", "embed_s", "handoff_s", "search_s", "outside_s"):
        print(f"    {stage:<10}{statistics.median(a[stage] for a in result['alone']) * 1000:>8.1f}")
    service_ms = sum(
        ms for role, ms in many.cpu_ms_per_job.items() if role not in ("others", CLIENT)
    )
    bare_ms = before.cpu_s_per_photo * 1000
    print(
        f"CPU: the service spent {service_ms:.0f} ms a job, the bare model {bare_ms:.0f} ms a "
        f"photo: {bare_ms / service_ms:.2f}x bare if CPU alone set the pace (a bound that "
        "other users' load does not move; idle time in the pipeline would lower it)"
    )
    print("CPU per job during the burst (ms), by process tree:")
    for role, ms in sorted(many.cpu_ms_per_job.items(), key=lambda item: -item[1]):
        print(f"    {role:<26}{ms:>8.1f}")
    print(f"    {'(bare model, one photo)':<26}{before.cpu_s_per_photo * 1000:>8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=60, help="photos in the burst")
    parser.add_argument("--alone", type=int, default=10, help="jobs timed one at a time")
    parser.add_argument("--references", type=int, default=40)
    parser.add_argument("--stacks", default="embedded,servers")
    parser.add_argument("--elasticsearch", help="use this Elasticsearch instead of starting one")
    parser.add_argument("--model", type=Path, help="ONNX model (default: the default model)")
    parser.add_argument("--cache", type=Path, default=Path(".cache/bench/wallpapers"))
    parser.add_argument("--poll-s", type=float, default=1.0, help="the patient client's pace")
    parser.add_argument("--timeout-s", type=float, default=600.0)
    args = parser.parse_args()
    from geopin_tools.model.default_model import ensure_default_model

    model = args.model or ensure_default_model(args.cache / "models")
    photos, references = views(args.cache, args.jobs, args.references)
    bare = BareModel(model)
    results = {}
    with tempfile.TemporaryDirectory(prefix="geopin-svm-refs-") as folder:
        manifest = references(Path(folder))
        for kind in args.stacks.split(","):
            print(f"{kind}:", flush=True)
            results[kind] = measure_stack(kind, args, bare, photos, manifest, model)
    print(f"\n{args.jobs} real 640x480 photos, model {model.name}, load {proc_cpu.load()}")
    for kind, result in results.items():
        report(kind, result)


if __name__ == "__main__":
    main()
