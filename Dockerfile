# syntax=docker/dockerfile:1.7
#
# Every GeoPin image, one target per process:
#
#   docker build --target gateway      -t geopin/gateway:TAG .
#   docker build --target embedder     -t geopin/embedder:TAG .
#   docker build --target embedder-gpu -t geopin/embedder-gpu:TAG .
#   docker build --target searcher     -t geopin/searcher:TAG .
#   docker build --target notifier     -t geopin/notifier:TAG .
#
# One file rather than one per service: the services are one Python distribution, so they
# share the build stage and every layer below the final CMD (four Dockerfiles would carry
# four copies of the same build steps). What differs is the dependency set each installs:
# the gateway, searcher and notifier take the core only (no model runtime), the embedder adds
# ONNX Runtime, and the `tools` image (which writes the default model at first start) adds the
# model toolchain; the GPU embedder has a base of its own. docs/deployment.md says how this
# file was checked.
#
#   docker build --target tools        -t geopin/tools:TAG .
#
# Optional: bake a model into the embedder images instead of mounting one at /models:
#   --build-arg MODEL_URL=https://.../cosplace.onnx --build-arg MODEL_SHA256=<hex digest>

ARG PYTHON_IMAGE=python:3.11.18-slim-trixie
# onnxruntime-gpu 1.31 on PyPI is built against CUDA 13 and cuDNN 9 (requirements/gpu.txt).
ARG CUDA_IMAGE=nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04

# ---------------------------------------------------------------------------------------
# build: a virtual environment with the pinned core dependencies, then GeoPin itself.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_CONSTRAINT=/src/requirements/build.txt
WORKDIR /src
COPY requirements/ requirements/
# The locks are complete closures, hence --no-deps; wheels only, so nothing compiles here.
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-deps --only-binary=:all: -r requirements/core.txt
# README.md* matches nothing while the repository has no README: pyproject names it, but
# setuptools builds without it.
COPY pyproject.toml README.md* ./
COPY shared/ shared/
COPY services/ services/
# `pip check` fails the build when pyproject.toml gained a dependency the lock lacks;
# the imports (isolated mode: not from /src) catch a package that installed incompletely.
RUN /opt/venv/bin/pip install --no-deps . \
 && /opt/venv/bin/pip check \
 && /opt/venv/bin/python -I -c "import geopin_gateway.app, geopin.worker, geopin_searcher.tasks, geopin_notifier.tasks"

# build-embedder: the core plus ONNX Runtime.
FROM build AS build-embedder
RUN /opt/venv/bin/pip install --no-deps --only-binary=:all: -r requirements/embedder.txt \
 && /opt/venv/bin/python -I -c "import geopin_embedder.tasks"

# build-tools: the embedder's set plus the model toolchain.
FROM build-embedder AS build-tools
RUN /opt/venv/bin/pip install --no-deps --only-binary=:all: -r requirements/tools.txt \
 && /opt/venv/bin/python -I -c "import geopin_tools.model.default_model"

# ---------------------------------------------------------------------------------------
# model: /models, empty unless MODEL_URL bakes a model in (checked against MODEL_SHA256).
FROM ${PYTHON_IMAGE} AS model
ARG MODEL_URL=""
ARG MODEL_SHA256=""
RUN mkdir /models \
 && if [ -n "$MODEL_URL" ]; then \
      python -c "import hashlib, sys, urllib.request; data = urllib.request.urlopen(sys.argv[1], timeout=600).read(); digest = hashlib.sha256(data).hexdigest(); sys.exit(f'sha256 of the download is {digest}, MODEL_SHA256 says {sys.argv[2]!r}') if digest != sys.argv[2] else open('/models/model.onnx', 'wb').write(data)" "$MODEL_URL" "$MODEL_SHA256"; \
    fi

# ---------------------------------------------------------------------------------------
# runtime-base: what the CPU images share. Non-root (uid 10001), no compiler, no pip cache.
FROM ${PYTHON_IMAGE} AS runtime-base
# HOME=/tmp: the root filesystem is read-only in compose and Kubernetes; /tmp is the one
# writable place (a tmpfs / emptyDir). Byte code was compiled at install time.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH \
    HOME=/tmp \
    GEOPIN_MODEL__PATH=/models/model.onnx
RUN groupadd --system --gid 10001 geopin \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin geopin
USER 10001:10001

# runtime: the core virtual environment, for the processes that run no model.
FROM runtime-base AS runtime
COPY --from=build /opt/venv /opt/venv

# ---------------------------------------------------------------------------------------
FROM runtime AS gateway
EXPOSE 8000
# Settings in GUNICORN_CMD_ARGS so compose or Kubernetes can change them without a new
# command line. Sync workers: the ingress (or compose's port) is expected to buffer uploads.
# The heartbeat file goes to /dev/shm, a tmpfs even when the root filesystem is read-only.
# prometheus_client's multiprocess mode: each gunicorn process writes its samples here and
# /metrics sums them (shared/geopin/metrics.py). /tmp is a fresh tmpfs or emptyDir per container.
ENV PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus
ENV GUNICORN_CMD_ARGS="--bind=0.0.0.0:8000 --workers=2 --timeout=60 --graceful-timeout=30 --worker-tmp-dir=/dev/shm --access-logfile=-"
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["gunicorn", "geopin_gateway.wsgi:app"]

# ---------------------------------------------------------------------------------------
# Worker health: a Celery `inspect ping` to this container's own node name. The worker's
# consumer answers it even while tasks run; a dead or wedged worker does not. It costs one
# short-lived process (~0.3 s CPU, ~50 MB), hence the long interval. The node name ends in the
# container's hostname: $HOSTNAME, which podman 4.3 leaves out of a health check's
# environment, hence /etc/hostname after it.
FROM runtime-base AS embedder
COPY --from=build-embedder /opt/venv /opt/venv
COPY --from=model --chown=10001:10001 /models /models
HEALTHCHECK --interval=60s --timeout=15s --start-period=60s --retries=3 \
    CMD ["sh", "-c", "exec celery --broker=\"${GEOPIN_CELERY__BROKER_URL:-${GEOPIN_REDIS__URL:-redis://127.0.0.1:6379/0}}\" inspect ping --destination \"embedder@${HOSTNAME:-$(cat /etc/hostname)}\" --timeout 10 >/dev/null"]
CMD ["python", "-m", "geopin.worker", "embed"]

FROM runtime AS searcher
HEALTHCHECK --interval=60s --timeout=15s --start-period=30s --retries=3 \
    CMD ["sh", "-c", "exec celery --broker=\"${GEOPIN_CELERY__BROKER_URL:-${GEOPIN_REDIS__URL:-redis://127.0.0.1:6379/0}}\" inspect ping --destination \"searcher@${HOSTNAME:-$(cat /etc/hostname)}\" --timeout 10 >/dev/null"]
CMD ["python", "-m", "geopin.worker", "search"]

FROM runtime AS notifier
HEALTHCHECK --interval=60s --timeout=15s --start-period=30s --retries=3 \
    CMD ["sh", "-c", "exec celery --broker=\"${GEOPIN_CELERY__BROKER_URL:-${GEOPIN_REDIS__URL:-redis://127.0.0.1:6379/0}}\" inspect ping --destination \"notifier@${HOSTNAME:-$(cat /etc/hostname)}\" --timeout 10 >/dev/null"]
CMD ["python", "-m", "geopin.worker", "notify"]

# ---------------------------------------------------------------------------------------
# tools: the model toolchain, for the one-shot step that writes the default model into the
# models volume on a first run (compose's model-init, the Kubernetes init container).
FROM runtime-base AS tools
COPY --from=build-tools /opt/venv /opt/venv
CMD ["geopin", "model", "default"]

# ---------------------------------------------------------------------------------------
# GPU embedder. Ubuntu 24.04 (the CUDA base) ships Python 3.12 only; a standalone CPython
# 3.11 (python-build-standalone, fetched by a pinned uv) keeps it on the CPU images' Python.
# The venv is built here and copied to the same paths in the CUDA image.
FROM ${PYTHON_IMAGE} AS gpu-build
ARG UV_VERSION=0.13.9
ARG GPU_PYTHON_VERSION=3.11.18
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_CONSTRAINT=/src/requirements/build.txt
WORKDIR /src
COPY requirements/ requirements/
RUN pip install --no-cache-dir "uv==${UV_VERSION}" \
 && UV_PYTHON_INSTALL_DIR=/tmp/uv-python uv python install --no-bin "${GPU_PYTHON_VERSION}" \
 && mv /tmp/uv-python/cpython-"${GPU_PYTHON_VERSION}"-linux-* /opt/python \
 && /opt/python/bin/python3 -m venv /opt/venv \
 && grep -v '^onnxruntime==' requirements/embedder.txt > /tmp/embedder-without-ort.txt \
 && /opt/venv/bin/pip install --no-deps --only-binary=:all: \
      -r requirements/core.txt -r /tmp/embedder-without-ort.txt -r requirements/gpu.txt
COPY pyproject.toml README.md* ./
COPY shared/ shared/
COPY services/ services/
# GeoPin's core requires no onnxruntime, so `pip check` holds with onnxruntime-gpu in its
# place; the import makes sure the package carries the CUDA execution provider.
RUN /opt/venv/bin/pip install --no-deps . \
 && /opt/venv/bin/pip check \
 && /opt/venv/bin/python -I -c "import onnxruntime as ort, geopin.worker, geopin_embedder.tasks; assert 'CUDAExecutionProvider' in ort.get_available_providers(), ort.get_available_providers()"

FROM ${CUDA_IMAGE} AS embedder-gpu
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH \
    HOME=/tmp \
    GEOPIN_MODEL__PATH=/models/model.onnx \
    GEOPIN_MODEL__PROVIDERS='["CUDAExecutionProvider", "CPUExecutionProvider"]'
RUN groupadd --system --gid 10001 geopin \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin geopin
COPY --from=gpu-build /opt/python /opt/python
COPY --from=gpu-build /opt/venv /opt/venv
COPY --from=model --chown=10001:10001 /models /models
USER 10001:10001
HEALTHCHECK --interval=60s --timeout=15s --start-period=120s --retries=3 \
    CMD ["sh", "-c", "exec celery --broker=\"${GEOPIN_CELERY__BROKER_URL:-${GEOPIN_REDIS__URL:-redis://127.0.0.1:6379/0}}\" inspect ping --destination \"embedder@${HOSTNAME:-$(cat /etc/hostname)}\" --timeout 10 >/dev/null"]
CMD ["python", "-m", "geopin.worker", "embed"]
