"""Jobs: the model and its transitions (:mod:`.model`), stored in Redis (:mod:`.redis`) or
SQLite (:mod:`.sqlite`); :mod:`geopin.wiring` picks the store."""

from geopin.jobs.model import (
    JOB_ID_PATTERN,
    Job,
    JobError,
    JobStatus,
    JobStore,
    JobTransitions,
    QueryVector,
    StatusChange,
    StoreUnavailable,
    new_job_id,
    seconds_between,
    utc_now,
)

__all__ = [
    "JOB_ID_PATTERN",
    "Job",
    "JobError",
    "JobStatus",
    "JobStore",
    "JobTransitions",
    "QueryVector",
    "StatusChange",
    "StoreUnavailable",
    "new_job_id",
    "seconds_between",
    "utc_now",
]
