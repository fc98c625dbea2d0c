"""What a task retries on: a backend that is down now and may be back soon.

Every adapter turns its client library's connection errors into one of these, so a task names
no Redis, SQLite or Elasticsearch exception. Any other error is final: the job fails, once,
rather than being retried into the same result.
"""

from geopin.index import IndexUnavailable
from geopin.jobs import StoreUnavailable
from geopin.queue import QueueUnavailable

TRANSIENT_ERRORS = (StoreUnavailable, IndexUnavailable, QueueUnavailable)
