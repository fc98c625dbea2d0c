"""Elasticsearch as the reference index: HNSW kNN on a ``dense_vector`` field.

The search worker queries an alias; the alias points at a versioned index whose
``_meta`` records the model that produced its vectors, so a query embedded by
another model is refused instead of silently compared.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

import elasticsearch
import numpy as np
from elasticsearch import Elasticsearch, helpers

from shared.geo import LatLon
from shared.index import (
    IndexMissing,
    IndexUnavailable,
    Match,
    ModelMismatch,
    Reference,
)
from shared.settings import ElasticsearchSettings

log = logging.getLogger(__name__)

_TRANSIENT = (elasticsearch.ConnectionError, elasticsearch.ConnectionTimeout)


def make_client(settings: ElasticsearchSettings) -> Elasticsearch:
    auth = None
    if settings.username and settings.password:
        auth = (settings.username, settings.password.get_secret_value())
    return Elasticsearch(
        settings.url, basic_auth=auth, request_timeout=settings.request_timeout_s, max_retries=2
    )


class ElasticsearchIndex:
    def __init__(self, client: Elasticsearch, settings: ElasticsearchSettings) -> None:
        self._es = client
        self._settings = settings
        self.alias = settings.index

    def _mapping(self, dim: int, model_id: str) -> dict[str, Any]:
        return {
            "_meta": {"model_id": model_id, "dim": dim},
            # Vectors are only for kNN: keeping them out of _source saves disk and transfer.
            "_source": {"excludes": ["embedding"]},
            "dynamic": "strict",
            "properties": {
                "id": {"type": "keyword"},
                "location": {"type": "geo_point"},
                "model_id": {"type": "keyword"},
                "embedding": {
                    "type": "dense_vector",
                    "dims": dim,
                    "index": True,
                    # Embeddings are unit vectors, so the dot product is the cosine.
                    "similarity": "dot_product",
                    # Set explicitly: the default changed across Elasticsearch versions.
                    "index_options": {"type": self._settings.index_type.value},
                },
            },
        }

    def _meta(self) -> dict[str, Any]:
        try:
            mappings = self._es.indices.get_mapping(index=self.alias)
        except elasticsearch.NotFoundError as exc:
            raise IndexMissing(
                f"no reference index {self.alias!r}: add references with `geopin index add`"
            ) from exc
        except _TRANSIENT as exc:
            raise IndexUnavailable(f"Elasticsearch at {self._settings.url} did not answer") from exc
        (body,) = mappings.body.values()  # an alias points at exactly one index
        meta: dict[str, Any] = body["mappings"].get("_meta", {})
        return meta

    def ensure(self, dim: int, model_id: str) -> None:
        if self._es.indices.exists_alias(name=self.alias):
            self._require_model(model_id)
            return
        # Versioned name behind the alias, so a rebuild can swap indices atomically.
        index = f"{self.alias}-{model_id[:12]}-1"
        self._es.indices.create(
            index=index,
            mappings=self._mapping(dim, model_id),
            settings={"number_of_shards": 1, "number_of_replicas": 0},
            aliases={self.alias: {"is_write_index": True}},
        )
        log.info("created index %s behind alias %s", index, self.alias)

    def _require_model(self, model_id: str) -> None:
        indexed_by = self._meta().get("model_id")
        if indexed_by != model_id:
            raise ModelMismatch(
                f"index {self.alias!r} holds vectors of model {indexed_by}, "
                f"but this query was embedded by model {model_id}; "
                "rebuild the index with the current model or configure the model it was built with"
            )

    def add(self, references: Iterable[Reference], model_id: str) -> int:
        def actions() -> Iterator[dict[str, Any]]:
            for ref in references:
                yield {
                    "_index": self.alias,
                    "_id": ref.id,
                    "_source": {
                        "id": ref.id,
                        "location": {"lat": ref.location.lat, "lon": ref.location.lon},
                        "model_id": model_id,
                        "embedding": np.asarray(ref.vector, dtype=np.float32).tolist(),
                    },
                }

        written, _ = helpers.bulk(self._es, actions(), chunk_size=500, raise_on_error=True)
        return written

    def refresh(self) -> None:
        self._es.indices.refresh(index=self.alias)

    def search(self, vector: np.ndarray, k: int, model_id: str) -> list[Match]:
        self._require_model(model_id)
        knn: dict[str, Any] = {
            "field": "embedding",
            "query_vector": np.asarray(vector, dtype=np.float32).tolist(),
            "k": k,
            "num_candidates": max(k, self._settings.num_candidates),
        }
        if self._settings.rescore_oversample > 0:
            # Quantised HNSW ranks approximately; rescoring the top hits with the float
            # vectors restores exact cosine scores for the results we return.
            knn["rescore_vector"] = {"oversample": self._settings.rescore_oversample}
        try:
            response = self._es.search(
                index=self.alias, knn=knn, size=k, source_includes=["id", "location"]
            )
        except elasticsearch.NotFoundError as exc:
            raise IndexMissing(f"no reference index {self.alias!r}") from exc
        except _TRANSIENT as exc:
            raise IndexUnavailable(f"Elasticsearch at {self._settings.url} did not answer") from exc
        return [
            Match(
                id=hit["_source"]["id"],
                location=LatLon(
                    hit["_source"]["location"]["lat"], hit["_source"]["location"]["lon"]
                ),
                # dot_product scores are (1 + cosine) / 2; report the cosine itself.
                score=round(2.0 * float(hit["_score"]) - 1.0, 6),
            )
            for hit in response["hits"]["hits"]
        ]

    def count(self) -> int:
        return int(self._es.count(index=self.alias)["count"])

    def check(self) -> str | None:
        try:
            self._meta()
        except (IndexMissing, IndexUnavailable) as exc:
            return str(exc)
        return None
