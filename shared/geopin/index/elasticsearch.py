"""Elasticsearch as the reference index: HNSW kNN on a ``dense_vector`` field.

The search worker queries an alias; the alias points at a versioned index
(``<alias>-<model12>-<n>``) whose ``_meta`` records the model that produced its
vectors, so a query embedded by another model is refused instead of silently
compared; :mod:`geopin.index.elasticsearch_documents` says what a document holds.
:mod:`geopin.index.elasticsearch_versions` builds new versions and swaps the alias.
A server that does not answer, or answers that it cannot now (429, 502-504), is reported as
IndexUnavailable; other errors (a refused request, say) stay the client's.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import elasticsearch
import numpy as np
from elasticsearch import Elasticsearch, helpers

from geopin.geo import BoundingBox, Circle, GeoFilter, LatLon
from geopin.index import (
    IndexMissing,
    IndexOutdated,
    IndexUnavailable,
    Match,
    ModelMismatch,
    Reference,
    reference_key,
)
from geopin.index.elasticsearch_documents import (
    BY_REFERENCE_ID,
    KEYED_BY,
    OPTIONAL_FIELDS,
    mapping,
    source,
)
from geopin.outages import OutageTranslation
from geopin.settings import ElasticsearchSettings

log = logging.getLogger(__name__)

_BUSY_STATUSES = (429, 502, 503, 504)
es_outage = OutageTranslation(
    (elasticsearch.ConnectionError, elasticsearch.ConnectionTimeout, elasticsearch.ApiError),
    IndexUnavailable,
    "Elasticsearch",
    only=lambda error: (
        not isinstance(error, elasticsearch.ApiError) or error.meta.status in _BUSY_STATUSES
    ),
)
_SLOW_REQUEST_S = 3600  # a force-merge of a large index takes minutes


def numbered_versions(client: Elasticsearch, alias: str) -> list[tuple[int, str]]:
    """The alias's versions as (number, name), oldest first; only names of the form
    ``<alias>-<model12>-<n>``, so another alias that shares the prefix is never touched.
    """
    pattern = re.compile(re.escape(alias) + r"-[0-9a-f]{12}-(\d+)")
    found = client.indices.get(index=f"{alias}-*", expand_wildcards="open", allow_no_indices=True)
    return sorted(
        (int(match.group(1)), name) for name in found.body if (match := pattern.fullmatch(name))
    )


def geo_query(area: GeoFilter) -> dict[str, Any]:
    """The Elasticsearch filter for a search area on the ``location`` geo_point."""
    if isinstance(area, BoundingBox):
        corners = {
            "top_left": {"lat": area.north, "lon": area.west},
            "bottom_right": {"lat": area.south, "lon": area.east},
        }
        return {"geo_bounding_box": {"location": corners}}
    assert isinstance(area, Circle)
    centre = {"lat": area.centre.lat, "lon": area.centre.lon}
    return {"geo_distance": {"distance": f"{area.radius_m}m", "location": centre}}


def make_client(settings: ElasticsearchSettings) -> Elasticsearch:
    auth = None
    if settings.username and settings.password:
        auth = (settings.username, settings.password.get_secret_value())
    return Elasticsearch(
        settings.url, basic_auth=auth, request_timeout=settings.request_timeout_s, max_retries=2
    )


class ElasticsearchIndex:
    """The live index behind the alias, or with ``target`` one version of it by name."""

    def __init__(
        self, client: Elasticsearch, settings: ElasticsearchSettings, target: str | None = None
    ) -> None:
        self._es = client
        self._settings = settings
        self.alias = settings.index
        self.target = target or self.alias

    def _meta(self) -> dict[str, Any]:
        try:
            mappings = self._es.indices.get_mapping(index=self.target)
        except elasticsearch.NotFoundError as exc:
            raise IndexMissing(
                f"no reference index {self.target!r}: add references with `geopin index add`"
            ) from exc
        (body,) = mappings.body.values()  # an alias points at exactly one index
        meta: dict[str, Any] = body["mappings"].get("_meta", {})
        return meta

    @es_outage
    def ensure(self, dim: int, model_id: str) -> None:
        if self.target != self.alias or self._es.indices.exists_alias(name=self.alias):
            if self._require_model(model_id).get(KEYED_BY) != BY_REFERENCE_ID:
                raise IndexOutdated(self.target)
            self._es.indices.put_mapping(index=self.target, properties=OPTIONAL_FIELDS)
            return
        self.create_version(dim, model_id, live=True)

    @es_outage
    def create_version(self, dim: int, model_id: str, *, live: bool) -> str:
        """A new versioned index, numbered after every earlier one; behind the alias if live.

        Versioned names let a rebuild fill a new index while searches use the old one, then
        swap the alias atomically (:mod:`geopin.index.elasticsearch_versions`).
        """
        numbers = [number for number, _ in numbered_versions(self._es, self.alias)]
        index = f"{self.alias}-{model_id[:12]}-{max(numbers, default=0) + 1}"
        self._es.indices.create(
            index=index,
            mappings=mapping(dim, model_id, self._settings.index_type),
            settings={"number_of_shards": 1, "number_of_replicas": 0},
            aliases={self.alias: {"is_write_index": True}} if live else None,
        )
        log.info("created index %s%s", index, f" behind alias {self.alias}" if live else "")
        return index

    def _require_model(self, model_id: str) -> dict[str, Any]:
        """The version's ``_meta``, once it is known to hold vectors of ``model_id``."""
        meta = self._meta()
        indexed_by = meta.get("model_id")
        if indexed_by != model_id:
            raise ModelMismatch(
                f"index {self.target!r} holds vectors of model {indexed_by}, "
                f"but this query was embedded by model {model_id}; "
                "rebuild the index with the current model or configure the model it was built with"
            )
        return meta

    @es_outage
    def add(
        self, references: Iterable[Reference], model_id: str, *, replace: bool = False
    ) -> set[str]:
        ids: dict[str, str] = {}  # _id -> reference ID, to name the IDs not written

        def actions() -> Iterator[dict[str, Any]]:
            for ref in references:
                ids[ref.storage_key] = ref.id
                yield {
                    # "index" overwrites the whole document; "create" refuses an existing _id
                    # (409) atomically, so of two writers of one ID exactly one succeeds.
                    "_op_type": "index" if replace else "create",
                    "_index": self.target,
                    "_id": ref.storage_key,
                    "_source": source(ref, model_id),
                }

        _, results = helpers.bulk(self._es, actions(), chunk_size=500, raise_on_error=False)
        errors = cast(list[dict[str, Any]], results)  # the failed items (a count if stats_only)
        failed = [item for item in errors if _item(item)["status"] != 409]
        if failed:
            raise helpers.BulkIndexError(f"{len(failed)} document(s) failed to index", failed)
        return {ids[_item(item)["_id"]] for item in errors}  # 409: the _id exists already

    @es_outage
    def photos(self, ids: Sequence[str]) -> dict[str, str | None]:
        if not ids:
            return {}
        by_key = {reference_key(reference_id): reference_id for reference_id in ids}
        # mget is real-time: it sees documents written since the last refresh, so a resumed
        # load skips what a crashed one wrote even while refresh is off.
        found = self._es.mget(index=self.target, ids=list(by_key), source_includes=["photo"])
        return {
            by_key[doc["_id"]]: doc["_source"].get("photo")
            for doc in found["docs"]
            if doc.get("found")
        }

    @es_outage
    def refresh(self) -> None:
        self._es.indices.refresh(index=self.target)

    @contextmanager
    def bulk_load(self, force_merge: bool = False) -> Iterator[None]:
        """Refresh off while loading (each refresh writes a segment), restored afterwards.

        A refresh first makes whatever an earlier, crashed load wrote searchable, so the
        near-duplicate check sees it; a refresh interval of -1 that such a load left behind
        is restored to the default rather than kept.
        """
        self.refresh()
        with es_outage:
            found = self._es.indices.get_settings(
                index=self.target, name="index.refresh_interval", flat_settings=True
            ).body  # empty when the interval was never set
        previous = next(
            (body["settings"].get("index.refresh_interval") for body in found.values()), None
        )
        restore = None if previous in (None, "-1") else previous
        self._set_refresh_interval("-1")
        try:
            yield
        finally:
            self._set_refresh_interval(restore)
            self.refresh()
        if force_merge:
            with es_outage:
                self._es.options(request_timeout=_SLOW_REQUEST_S).indices.forcemerge(
                    index=self.target, max_num_segments=1
                )

    @es_outage
    def _set_refresh_interval(self, value: str | None) -> None:
        self._es.indices.put_settings(
            index=self.target, settings={"index": {"refresh_interval": value}}
        )

    @es_outage
    def search(
        self, vector: np.ndarray, k: int, model_id: str, geo: GeoFilter | None = None
    ) -> list[Match]:
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
        if geo is not None:
            knn["filter"] = geo_query(geo)  # applied during the HNSW search, not after it
        try:
            response = self._es.search(
                index=self.target, knn=knn, size=k, source_includes=["id", "location"]
            )
        except elasticsearch.NotFoundError as exc:
            raise IndexMissing(f"no reference index {self.target!r}") from exc
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

    @es_outage
    def count(self) -> int:
        return int(self._es.count(index=self.target)["count"])

    @es_outage
    def check(self) -> str | None:
        try:
            self._meta()
        except IndexMissing as exc:
            return str(exc)
        return None


def _item(result: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A bulk item's outcome, whatever its operation (``{"create": {...}}``)."""
    (outcome,) = result.values()
    return outcome
