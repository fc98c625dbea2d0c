"""Index lifecycle in Elasticsearch: versions behind one alias, swapped atomically.

A rebuild (for a new model, say) fills a new version while the alias still points at the
old one, so searches keep working throughout; one ``_aliases`` request then moves the alias,
which Elasticsearch applies atomically. The old version stays until someone deletes it on
purpose (``geopin index prune``): a swap can be undone by swapping back.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from elasticsearch import Elasticsearch

from geopin.index import IndexVersion
from geopin.index.elasticsearch import ElasticsearchIndex, es_outage, numbered_versions
from geopin.settings import ElasticsearchSettings

log = logging.getLogger(__name__)


class ElasticsearchVersions:
    def __init__(self, client: Elasticsearch, settings: ElasticsearchSettings) -> None:
        self._es = client
        self._settings = settings
        self.alias = settings.index

    @es_outage
    def versions(self) -> list[IndexVersion]:
        names = [name for _, name in numbered_versions(self._es, self.alias)]
        if not names:
            return []
        info = self._es.indices.get(index=names).body
        rows: list[dict[str, str]] = self._es.cat.indices(
            index=names, format="json", h="index,docs.count"
        ).body  # type: ignore[assignment]  # a list of rows with format=json
        counts = {row["index"]: int(row["docs.count"] or 0) for row in rows}
        live = self._live()
        return [
            IndexVersion(
                name=name,
                model_id=info[name]["mappings"].get("_meta", {}).get("model_id", "?"),
                dim=int(info[name]["mappings"].get("_meta", {}).get("dim", 0)),
                count=counts.get(name, 0),
                live=name == live,
                created_at=_iso(info[name]["settings"]["index"]["creation_date"]),
            )
            for name in names
        ]

    def _live(self) -> str | None:
        if not self._es.indices.exists_alias(name=self.alias):
            return None
        (name,) = self._es.indices.get_alias(name=self.alias).body  # one index per alias
        return str(name)

    @es_outage
    def create(self, dim: int, model_id: str) -> str:
        return ElasticsearchIndex(self._es, self._settings).create_version(
            dim, model_id, live=False
        )

    def open(self, name: str) -> ElasticsearchIndex:
        return ElasticsearchIndex(self._es, self._settings, target=name)

    @es_outage
    def swap(self, name: str) -> str | None:
        previous = self._live()
        actions: list[dict[str, dict[str, object]]] = []
        if previous is not None:
            actions.append({"remove": {"index": previous, "alias": self.alias}})
        actions.append({"add": {"index": name, "alias": self.alias, "is_write_index": True}})
        self._es.indices.update_aliases(actions=actions)  # one request: applied atomically
        log.info("alias %s now points at %s (was %s)", self.alias, name, previous)
        return previous

    @es_outage
    def prune(self) -> list[str]:
        live = self._live()
        doomed = [name for _, name in numbered_versions(self._es, self.alias) if name != live]
        if doomed:
            self._es.indices.delete(index=doomed)
            log.info("deleted %s", ", ".join(doomed))
        return doomed


def _iso(epoch_ms: str) -> str:
    return datetime.fromtimestamp(int(epoch_ms) / 1000, UTC).isoformat(timespec="seconds")
