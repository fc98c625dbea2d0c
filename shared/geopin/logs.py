"""Logging set up the same way in every GeoPin process, with the job ID on every line.

A job crosses three processes (gateway, embedder, searcher, and the notifier). The job it
concerns is kept in a context variable, set by the gateway for a request about one job and
by each worker for the task it runs; :class:`JobIdFilter` copies it onto every log record,
so ``job_id`` can be searched for across all of them, whatever the module that logged.
``GEOPIN_LOG_FORMAT=json`` writes one JSON object per line for log collectors.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar

_job_id: ContextVar[str | None] = ContextVar("geopin_job_id", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(processName)s %(name)s [job %(job_id)s]: %(message)s"


def bind_job(job_id: str | None) -> None:
    """Tag what this thread (or request) logs from now on with ``job_id``; None clears it."""
    _job_id.set(job_id)


class JobIdFilter(logging.Filter):
    """Adds ``job_id`` ("-" outside a job) to every record a handler emits."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.job_id = _job_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, process, logger, job_id, message, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "process": record.processName,
            "logger": record.name,
            "job_id": getattr(record, "job_id", None) or _job_id.get(),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def make_handler(log_format: str) -> logging.Handler:
    handler = logging.StreamHandler()
    handler.addFilter(JobIdFilter())
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    return handler


def configure_logging(level: str, log_format: str = "text") -> None:
    # Pillow reports odd but usable files (corrupt EXIF, say) as warnings; log them instead.
    logging.captureWarnings(True)
    logging.basicConfig(level=level.upper(), handlers=[make_handler(log_format)])
