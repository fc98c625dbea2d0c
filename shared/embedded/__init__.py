"""GeoPin on one machine with no server: queue, job store and vector index in a data folder.

Each part stands in for a production backend behind the same interface (a kombu transport
for Redis as broker, :class:`~shared.jobs.JobStore` for the Redis job store,
:class:`~shared.index.VectorIndex` for Elasticsearch); :mod:`shared.backends` picks them.
"""
