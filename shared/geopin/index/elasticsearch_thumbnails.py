"""The gateway's thumbnails in Elasticsearch: read from the live version's documents."""

from __future__ import annotations

import elasticsearch
from elasticsearch import Elasticsearch

from geopin.index import reference_key
from geopin.index.elasticsearch import es_outage
from geopin.index.elasticsearch_documents import thumbnail
from geopin.settings import ElasticsearchSettings


class ElasticsearchThumbnails:
    def __init__(self, client: Elasticsearch, settings: ElasticsearchSettings) -> None:
        self._es = client
        self._alias = settings.index

    @es_outage
    def get(self, reference_id: str) -> bytes | None:
        try:
            doc = self._es.get(
                index=self._alias, id=reference_key(reference_id), source_includes=["thumbnail"]
            )
        except elasticsearch.NotFoundError:  # no such reference, or no index yet
            return None
        return thumbnail(doc["_source"])
