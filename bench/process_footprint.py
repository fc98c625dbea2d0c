"""Import time and idle memory of each GeoPin process, two code versions side by side.

For the gateway, the embedding worker and the search worker of each version it measures:

- **import time**: a fresh interpreter imports the process's entry module (the gateway's
  WSGI module builds the app as it is imported); wall time of the import alone, the median
  of ``--repeats`` runs;
- **idle RSS**: the real process is started (gunicorn with one worker; a Celery worker), left
  until it is ready and has sat idle for ``--settle-s`` seconds, then the resident memory of
  its whole process tree is read from /proc (the embedder's includes its loaded model).

Versions alternate run by run, so both see the same machine load. The earlier version is a
checkout of another commit (``git worktree add /tmp/geopin-before f7b37f1``); each version
is imported from its own source folders through PYTHONPATH, with this checkout's .venv::

    .venv/bin/python -m bench.process_footprint --before /tmp/geopin-before:pre-move \\
        --model /tmp/seeded.onnx --redis redis://127.0.0.1:6379/13 --out /tmp/footprint

Both versions run in servers mode against the given Redis and Elasticsearch (their clients
connect lazily, so nothing is fetched during an import) and load the same model file.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.support.stack import free_port, http_status, wait_until

ROOT = Path(__file__).resolve().parents[1]
ROLES = ("gateway", "embedder", "searcher")


@dataclass(frozen=True)
class Version:
    """A checkout of GeoPin and how each of its processes is imported and started."""

    label: str
    pythonpath: str
    entry: Mapping[str, str]  # role -> module imported by the process
    start: Mapping[str, list[str]]  # role -> command (PORT is replaced by a free port)


def version(
    label: str, pythonpath: str, gateway: str, workers: Mapping[str, tuple[str, str]]
) -> Version:
    """A version whose gateway is the WSGI module ``gateway``; ``workers`` maps a role to the
    modules its process imports (comma-separated) and its ``python -m`` command line."""
    return Version(
        label=label,
        pythonpath=pythonpath,
        entry={"gateway": gateway, **{role: mods for role, (mods, _) in workers.items()}},
        start={
            "gateway": ["-m", "gunicorn", "-w", "1", "-b", "127.0.0.1:PORT", f"{gateway}:app"],
            **{role: ["-m", *command.split()] for role, (_, command) in workers.items()},
        },
    )


def before_version(root: Path, label: str) -> Version:
    """The layout before the redesign: top-level packages ``shared`` and ``services``."""
    return version(
        label,
        str(root),
        "services.gateway.wsgi",
        {
            "embedder": ("services.embedder.worker", "services.embedder.worker"),
            "searcher": ("services.searcher.worker", "services.searcher.worker"),
        },
    )


def current_version(label: str) -> Version:
    return version(
        label,
        f"{ROOT / 'shared'}:{ROOT / 'services'}",
        "geopin_gateway.wsgi",
        {
            "embedder": ("geopin.worker, geopin_embedder.tasks", "geopin.worker embed"),
            "searcher": ("geopin.worker, geopin_searcher.tasks", "geopin.worker search"),
        },
    )


def import_seconds(version: Version, role: str, env: Mapping[str, str]) -> float:
    probe = (
        "import time; started = time.perf_counter(); "
        f"import {version.entry[role]}; print(time.perf_counter() - started)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env={**env, "PYTHONPATH": version.pythonpath},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def tree_rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants, KiB."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except FileNotFoundError:
            continue
        total += next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")
        )
        pending.extend(int(child) for child in children)
    return total


def idle_rss_mib(version: Version, role: str, env: Mapping[str, str], settle_s: float) -> float:
    port = free_port()
    argv = [sys.executable, *(a.replace("PORT", str(port)) for a in version.start[role])]
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            argv,
            env={**env, "PYTHONPATH": version.pythonpath, "GEOPIN_METRICS__PORT": "0"},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tempfile.gettempdir(),
        )
        try:

            def ready() -> bool:
                if process.poll() is not None:
                    log.seek(0)
                    raise SystemExit(f"{version.label} {role} exited:\n{log.read()[-3000:]}")
                if role == "gateway":
                    return http_status(f"http://127.0.0.1:{port}/healthz") == 200
                log.seek(0)
                return " ready." in log.read()

            wait_until(ready, 120, f"{version.label} {role}")
            time.sleep(settle_s)
            return tree_rss_kib(process.pid) / 1024
        finally:
            process.terminate()
            process.wait(timeout=60)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--before", required=True, help="FOLDER:LABEL, a checkout of the old layout"
    )
    parser.add_argument("--after-label", default="this checkout")
    parser.add_argument("--model", required=True, type=Path, help="an ONNX model both load")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--elasticsearch", default="http://127.0.0.1:9200")
    parser.add_argument("--repeats", type=int, default=5, help="import-time runs per version")
    parser.add_argument("--rss-repeats", type=int, default=2, help="process starts per version")
    parser.add_argument("--settle-s", type=float, default=3.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    folder, _, label = args.before.partition(":")
    versions = [before_version(Path(folder), label or folder), current_version(args.after_label)]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": tempfile.gettempdir(),
        "GEOPIN_MODE": "servers",
        "GEOPIN_REDIS__URL": args.redis,
        "GEOPIN_ELASTICSEARCH__URL": args.elasticsearch,
        "GEOPIN_MODEL__PATH": str(args.model),
        "GEOPIN_MODEL__INTRA_OP_THREADS": "1",
        "GEOPIN_LOG_LEVEL": "INFO",
    }
    imports: dict[str, dict[str, list[float]]] = {v.label: {r: [] for r in ROLES} for v in versions}
    rss: dict[str, dict[str, list[float]]] = {v.label: {r: [] for r in ROLES} for v in versions}
    for _ in range(args.repeats):
        for version in versions:
            for role in ROLES:
                imports[version.label][role].append(import_seconds(version, role, env))
    for _ in range(args.rss_repeats):
        for version in versions:
            for role in ROLES:
                rss[version.label][role].append(idle_rss_mib(version, role, env, args.settle_s))
    before, after = (v.label for v in versions)
    rows = ["| process | import before (s) | import after (s) | ratio | idle RSS before (MiB) "
            "| idle RSS after (MiB) | ratio |", "|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    figures: dict[str, dict[str, float]] = {}
    for role in ROLES:
        i0, i1 = (statistics.median(imports[label][role]) for label in (before, after))
        r0, r1 = (statistics.median(rss[label][role]) for label in (before, after))
        figures[role] = {"import_before_s": i0, "import_after_s": i1, "rss_before_mib": r0,
                         "rss_after_mib": r1}  # fmt: skip
        rows.append(f"| {role} | {i0:.2f} | {i1:.2f} | {i1 / i0:.2f} | {r0:.0f} | {r1:.0f} "
                    f"| {r1 / r0:.2f} |")  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"before": before, "after": after,
                                                       "figures": figures, "imports": imports,
                                                       "rss": rss}, indent=2))  # fmt: skip
    table = "\n".join(rows)
    (args.out / "results.md").write_text(table + "\n")
    print(f"before = {before}, after = {after}; medians of {args.repeats} imports and "
          f"{args.rss_repeats} starts each, alternating\n{table}")  # fmt: skip


if __name__ == "__main__":
    main()
