"""Task and queue names: a wire format. Jobs queued before an upgrade must still run after it,
and KEDA, backpressure and the metrics read these queues by name, so they change never."""

EMBED_TASK = "geopin.embed"
SEARCH_TASK = "geopin.search"
WEBHOOK_TASK = "geopin.webhook"
INGEST_TASK = "geopin.ingest"  # a share of a distributed `geopin index add`, on the embed queue
EMBED_QUEUE = "embed"
SEARCH_QUEUE = "search"
WEBHOOK_QUEUE = "webhooks"
