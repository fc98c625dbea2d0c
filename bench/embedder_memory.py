"""The embedding worker's memory under the hostile corpus, pass after pass, configurations side
by side.

Each configuration (``--config "LABEL:VAR=VALUE,..."``: environment over GeoPin's defaults; a
``PYTHONPATH`` there runs another checkout) gets the server stack as ``scripts/up`` starts it
(embedding and search workers, the gateway under gunicorn) on the given Redis (its own
database) and Elasticsearch, with a few references indexed. Every file of the hostile corpus
(:mod:`bench.hostile_corpus`) goes to ``POST /v1/jobs``, eight at a time; once every accepted
job has ended, the embedding worker's resident memory (its process tree, from /proc) and its
peak so far (``VmHWM``) are read. ``--passes`` times; all configurations at once, so they
meet the same load::

    mkdir /tmp/gb && git archive b64eab3 | tar -x -C /tmp/gb      # the code before
    .venv/bin/python -m bench.embedder_memory --redis redis://127.0.0.1:6384 \\
        --config "before (b64eab3):PYTHONPATH=/tmp/gb/shared:/tmp/gb/services" \\
        --config "this change:"

Counted per pass: answers by status class (a 5xx is a bug), jobs by how they ended, and jobs
still not ended after ``--job-timeout-s`` (stuck).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests

from bench.hostile_corpus import build, files
from bench.process_footprint import tree_rss_kib
from tests.support.factories import write_reference_set
from tests.support.stack import (
    Service,
    delete_indices,
    http_status,
    start_embedder,
    start_gateway,
    start_searcher,
    wait_until,
)

ENDED = ("succeeded", "failed")
CLIENTS = 8  # uploads in flight at once: as many as the embedder has task threads


@dataclass(frozen=True)
class Pass:
    answers: Counter[str]  # "2xx", "4xx <code>", "5xx <code>", "error"
    ended: Counter[str]  # "succeeded", "failed <code>", "stuck"
    rss_mib: float
    peak_mib: float
    seconds: float


def _submit(url: str, path: Path) -> tuple[str, str | None]:
    try:
        answer = requests.post(
            f"{url}/v1/jobs", files={"image": (path.name, path.read_bytes())}, timeout=120
        )
    except requests.RequestException as exc:
        return f"error {type(exc).__name__}", None
    if answer.status_code == 202:
        return "2xx", str(answer.json()["job_id"])
    return f"{answer.status_code // 100}xx {answer.json().get('code')}", None


def _outcome(url: str, job_id: str, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = requests.get(f"{url}/v1/jobs/{job_id}", timeout=30).json()
        if job["status"] == "failed":
            return f"failed {job['error']['code']}"
        if job["status"] == "succeeded":
            return "succeeded"
        time.sleep(0.5)
    return "stuck"


def _peak_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


def one_pass(url: str, corpus: list[Path], embedder: Service, job_timeout_s: float) -> Pass:
    started = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        submitted = list(pool.map(lambda path: _submit(url, path), corpus))
        jobs = [job_id for _, job_id in submitted if job_id is not None]
        ended = Counter(pool.map(lambda job_id: _outcome(url, job_id, job_timeout_s), jobs))
    pid = embedder.process.pid
    return Pass(
        answers=Counter(answer for answer, _ in submitted),
        ended=ended,
        rss_mib=tree_rss_kib(pid) / 1024,
        peak_mib=_peak_kib(pid) / 1024,
        seconds=time.monotonic() - started,
    )


def _index_references(env: Mapping[str, str], folder: Path) -> None:
    manifest = write_reference_set(folder, 8)
    subprocess.run(
        [
            *(sys.executable, "-m", "geopin.cli", "index", "add", str(manifest)),
            *("--report", str(folder / "report.jsonl")),
        ],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        timeout=600,
    )


def run_config(
    env: Mapping[str, str], corpus: list[Path], passes: int, job_timeout_s: float
) -> list[Pass]:
    with tempfile.TemporaryDirectory() as scratch:
        logs = Path(scratch)
        _index_references(env, logs / "references")
        embedder, searcher = start_embedder(env, logs), start_searcher(env, logs)
        services = [embedder, searcher]
        try:
            gateway, url = start_gateway(env, logs)
            services.append(gateway)
            wait_until(lambda: http_status(f"{url}/readyz") == 200, 180, "readiness", embedder)
            return [one_pass(url, corpus, embedder, job_timeout_s) for _ in range(passes)]
        finally:
            for service in services:
                service.stop()


def _parse_config(text: str) -> tuple[str, dict[str, str]]:
    label, _, assignments = text.partition(":")
    pairs = (item.split("=", 1) for item in assignments.split(",") if item)
    return label, {name: value for name, value in pairs}


def _summary(counts: Counter[str]) -> str:
    return ", ".join(f"{key}: {n}" for key, n in sorted(counts.items()))


def report(results: Iterable[tuple[str, list[Pass]]]) -> str:
    rows = [
        "| configuration | pass | RSS after (MiB) | peak so far (MiB) | s | answers | jobs ended |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for label, passes in results:
        for number, result in enumerate(passes, 1):
            rows.append(
                f"| {label} | {number} | {result.rss_mib:.0f} | {result.peak_mib:.0f} "
                f"| {result.seconds:.0f} | {_summary(result.answers)} | {_summary(result.ended)} |"
            )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--redis", required=True, help="a Redis server; configuration n uses database 15-n"
    )
    parser.add_argument("--elasticsearch", default="http://127.0.0.1:9200")
    parser.add_argument("--model", type=Path, help="ONNX model (default: GeoPin's default)")
    parser.add_argument("--config", action="append", required=True, help="LABEL:VAR=VALUE,...")
    parser.add_argument("--passes", type=int, default=4)
    parser.add_argument("--intra-op-threads", type=int, default=2, help="as the k8s CPU limit")
    parser.add_argument("--job-timeout-s", type=float, default=600.0)
    parser.add_argument("--limit", type=int, help="only every n-th file, for a quick try")
    args = parser.parse_args(argv)
    corpus = list(files(build()))[:: args.limit or 1]
    print(f"hostile corpus: {len(corpus)} files, {sum(p.stat().st_size for p in corpus):,} bytes")
    configs = [_parse_config(text) for text in args.config]

    def measure(number: int, overrides: Mapping[str, str]) -> list[Pass]:
        alias = f"geopin-bench-memory-{uuid.uuid4().hex[:8]}"
        env = {
            "GEOPIN_MODE": "servers",
            "GEOPIN_REDIS__URL": f"{args.redis.rstrip('/')}/{15 - number}",
            "GEOPIN_ELASTICSEARCH__URL": args.elasticsearch,
            "GEOPIN_ELASTICSEARCH__INDEX": alias,
            "GEOPIN_MODEL__INTRA_OP_THREADS": str(args.intra_op_threads),
            "GEOPIN_LIMITS__ENABLED": "false",
            "GEOPIN_LIMITS__MAX_QUEUED_JOBS": "100000",
            **({"GEOPIN_MODEL__PATH": str(args.model)} if args.model else {}),
            **overrides,
        }
        try:
            return run_config(env, corpus, args.passes, args.job_timeout_s)
        finally:
            delete_indices(args.elasticsearch, alias)

    # All at once, so every configuration meets the same load on a shared machine.
    with ThreadPoolExecutor(len(configs)) as pool:
        runs = list(pool.map(measure, range(len(configs)), [env for _, env in configs]))
    results = [(label, passes) for (label, _), passes in zip(configs, runs, strict=True)]
    print(report(results))
    (first_label, first), *others = results
    for label, passes in others:
        # Seconds from the first pass only: later ones overlap less, as configurations finish.
        print(
            f"{label} / {first_label}: RSS after the last pass "
            f"{passes[-1].rss_mib / first[-1].rss_mib:.2f}, peak "
            f"{passes[-1].peak_mib / first[-1].peak_mib:.2f}; seconds of the first pass "
            f"{passes[0].seconds / first[0].seconds:.2f}"
        )


if __name__ == "__main__":
    main()
