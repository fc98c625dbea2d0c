"""How many submissions and reads the gateway sustains on its own, with the workers stopped.

    .venv/bin/python -m bench.gateway_rates [--seconds 10] [--configs sync:2,gthread:2x4]

Starts a Redis of its own on a free port and, for each gunicorn configuration
(``CLASS:WORKERS`` or ``gthread:WORKERSxTHREADS``), the gateway against it in servers
mode, no worker running, so the queue only grows. It drives each with ``wrk`` (apt-get
install wrk) and a Lua script that counts answers by status:

- ``POST /v1/jobs`` with a 10 KB real photo (a crop of a wallpaper photograph), as a
  multipart form (``curl -F image=@photo.jpg``) and as the raw body typed image/jpeg;
  only 202 answers count;
- ``GET /v1/jobs/<id>`` over jobs submitted beforehand; only 200 answers count.

Settings of the run: the queue bound ``GEOPIN_LIMITS__MAX_QUEUED_JOBS`` is raised to 10^9 so
no submission is refused for a full queue, and the gateway is bound to 127.0.0.1 with API keys
off, so rate limits are off (docs/security.md); everything else is the default. Around each
``wrk`` run the CPU seconds of the gateway's processes, Redis and ``wrk`` itself are read
(``wrk`` shares the cores), and printed per request, with the rate they imply on this
machine's cores: on a loaded machine the measured rate shows the load, the CPU per request
shows the gateway.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import requests
from PIL import Image

from bench import proc_cpu
from tests.support.stack import RedisServer, Service, free_port, http_status, wait_until
from tests.support.wallpapers import fetch, photos

MAX_QUEUED = 10**9
BOUNDARY = "geopin-bench-boundary"
LUA_COUNT = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function response(status, headers, body)
  if status == EXPECTED then counted = (counted or 0) + 1 else
    other = (other or 0) + 1
    if other == 1 then io.write(string.format("UNEXPECTED %d %s\\n", status, body)) end
  end
end
function done(summary, latency, requests)
  local c, o = 0, 0
  for _, t in ipairs(threads) do c = c + (t:get("counted") or 0); o = o + (t:get("other") or 0) end
  io.write(string.format("COUNTED %d OTHER %d SECONDS %f P50_MS %f P99_MS %f\\n", c, o,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""
LUA_POST = """
local f = io.open(BODY_FILE, "rb"); wrk.body = f:read("*a"); f:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = CONTENT_TYPE
"""
LUA_GET = """
function init(args)
  ids = {}
  for line in io.lines(IDS_FILE) do ids[#ids + 1] = line end
end
function request() return wrk.format("GET", "/v1/jobs/" .. ids[math.random(#ids)]) end
"""


def photo_of_about(size: int, cache: Path) -> bytes:
    """A real photograph, scaled down until its JPEG is at most ``size`` bytes."""
    with Image.open(photos(fetch(cache))[0]) as original:
        photo = original.convert("RGB")
    width = 640
    while True:
        buffer = io.BytesIO()
        photo.resize((width, width * 3 // 4)).save(buffer, "JPEG", quality=85)
        if buffer.tell() <= size:
            return buffer.getvalue()
        width = int(width * 0.9)


def _lua(folder: Path, name: str, code: str, **constants: str | int) -> Path:
    header = "".join(
        f"{key} = {value!r}\n" if isinstance(value, int) else f'{key} = "{value}"\n'
        for key, value in constants.items()
    )
    path = folder / f"{name}.lua"
    path.write_text(header + code + LUA_COUNT)
    return path


def start_gateway(env: dict[str, str], config: str, log_dir: Path) -> tuple[Service, str]:
    kind, _, count = config.partition(":")
    workers, _, threads = count.partition("x")
    port = free_port()
    argv = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"]
    argv += ["--workers", workers, "--worker-class", kind]
    argv += ["--threads", threads] if threads else []
    service = Service(f"gateway-{config}", [*argv, "geopin_gateway.wsgi:app"], env, log_dir)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: http_status(f"{url}/healthz") == 200, 120, "gateway", service)
    return service, url


def drive(
    args: argparse.Namespace, url: str, script: Path, gateway: Service, redis_pid: int
) -> str:
    """One ``wrk`` run; its rate line with the CPU each process spent per counted request."""
    command = ["wrk", f"-t{args.wrk_threads}", f"-c{args.connections}", f"-d{args.seconds}s"]
    command += ["-s", str(script), url]

    def roles() -> dict[str, list[int]]:
        return {"gateway": [gateway.process.pid], "redis": [redis_pid]}

    before, children = proc_cpu.read(roles), resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600)
    after, reaped = proc_cpu.read(roles), resource.getrusage(resource.RUSAGE_CHILDREN)
    found = re.search(
        r"COUNTED (\d+) OTHER (\d+) SECONDS ([\d.]+) P50_MS ([\d.]+) P99_MS ([\d.]+)", done.stdout
    )
    for line in done.stdout.splitlines():
        if line.startswith("UNEXPECTED"):
            print(line[:300])
    if found is None:
        raise SystemExit(f"wrk said:\n{done.stdout}\n{done.stderr}")
    counted, other = int(found[1]), int(found[2])
    seconds, p50, p99 = float(found[3]), float(found[4]), float(found[5])
    spent = proc_cpu.spent(before, after)
    spent["wrk"] = (reaped.ru_utime + reaped.ru_stime) - (children.ru_utime + children.ru_stime)
    spent["others"] = max(0.0, spent["others"] - spent["wrk"])
    per = {role: seconds_used * 1000 / max(counted, 1) for role, seconds_used in spent.items()}
    ours = per["gateway"] + per["redis"] + per["wrk"]
    cores = os.cpu_count() or 1
    return (
        f"{counted / seconds:>9.0f}/s  (other answers {other}; p50 {p50:.0f} ms, p99 {p99:.0f} ms)"
        f"  CPU ms per request: gateway {per['gateway']:.2f}, redis {per['redis']:.2f}, "
        f"wrk {per['wrk']:.2f}; others on the machine {per['others']:.2f}"
        f"  => {cores * 1000 / ours:.0f}/s on {cores} idle cores"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="sync:2,sync:4,gthread:2x4")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--photo-bytes", type=int, default=10_000)
    parser.add_argument("--reads-over", type=int, default=200, help="jobs submitted to read")
    parser.add_argument("--cache", type=Path, default=Path(".cache/bench/wallpapers"))
    args = parser.parse_args()
    photo = photo_of_about(args.photo_bytes, args.cache)
    work = Path(tempfile.mkdtemp(prefix="geopin-gateway-rates-"))
    redis_server = RedisServer(work / "redis")
    redis_server.start()
    env = {
        "GEOPIN_MODE": "servers",
        "GEOPIN_REDIS__URL": redis_server.url,
        "GEOPIN_LIMITS__MAX_QUEUED_JOBS": str(MAX_QUEUED),
        "GEOPIN_LIMITS__BIND_HOST": "127.0.0.1",
    }
    (work / "photo.jpg").write_bytes(photo)
    multipart = (
        (
            f"--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="image"; filename="photo.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + photo
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    (work / "multipart.bin").write_bytes(multipart)
    scripts = {
        "POST multipart": _lua(work, "post-multipart", LUA_POST, EXPECTED=202,
                               BODY_FILE=str(work / "multipart.bin"),
                               CONTENT_TYPE=f"multipart/form-data; boundary={BOUNDARY}"),
        "POST image/jpeg": _lua(work, "post-raw", LUA_POST, EXPECTED=202,
                                BODY_FILE=str(work / "photo.jpg"), CONTENT_TYPE="image/jpeg"),
        "GET a job": _lua(work, "get", LUA_GET, EXPECTED=200, IDS_FILE=str(work / "ids.txt")),
    }  # fmt: skip
    print(f"photo {len(photo)} bytes; wrk -t{args.wrk_threads} -c{args.connections} "
          f"-d{args.seconds}s; queue bound {MAX_QUEUED}, rate limits off (loopback, keys off); "
          f"{os.cpu_count()} cores, load {proc_cpu.load()}", flush=True)  # fmt: skip
    try:
        for config in args.configs.split(","):
            redis_server_flush(redis_server)
            gateway, url = start_gateway(env, config, work)
            try:
                session = requests.Session()
                raw = {"Content-Type": "image/jpeg"}
                ids = [
                    session.post(f"{url}/v1/jobs", data=photo, headers=raw, timeout=60).json()[
                        "job_id"
                    ]
                    for _ in range(args.reads_over)
                ]
                (work / "ids.txt").write_text("\n".join(ids) + "\n")
                print(f"gunicorn {config}:", flush=True)
                for name, script in scripts.items():
                    target = url if name.startswith("GET") else f"{url}/v1/jobs"
                    rate = drive(args, target, script, gateway, redis_pid(redis_server))
                    print(f"  {name:<16}{rate}", flush=True)
            finally:
                gateway.stop()
    finally:
        redis_server.kill()


def redis_server_flush(server: RedisServer) -> None:
    """A fresh queue for each configuration: a longer list does not change LPUSH's cost, but
    memory is bounded."""
    import redis

    redis.Redis.from_url(server.url).flushall()


def redis_pid(server: RedisServer) -> int:
    import redis

    return int(redis.Redis.from_url(server.url).info("server")["process_id"])


if __name__ == "__main__":
    main()
