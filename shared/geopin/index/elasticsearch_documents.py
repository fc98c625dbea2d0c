"""What a reference looks like in Elasticsearch: the versions' mapping and the documents.

A document's ``_id`` derives from its reference ID (:func:`geopin.index.reference_key`), so an
ID is one document. Besides the place and the vector it carries the photo's key, to
recognise the same photo added again, and its thumbnail (``binary``, base64 in ``_source``,
never indexed): stored with the reference, a thumbnail is replaced with it, reaches every
process that reaches the index, and goes when its version is pruned.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from geopin.index import Reference
from geopin.settings import VectorIndexType

# Fields added after the first release; ensure() adds them to indices created before.
OPTIONAL_FIELDS: dict[str, Any] = {"heading": {"type": "float"}, "captured_at": {"type": "date"}}
# In ``_meta`` of versions whose documents are keyed by reference ID; older ones were keyed by
# photo, so they may hold an ID twice.
KEYED_BY, BY_REFERENCE_ID = "keyed_by", "reference-id"


def mapping(dim: int, model_id: str, index_type: VectorIndexType) -> dict[str, Any]:
    return {
        "_meta": {"model_id": model_id, "dim": dim, KEYED_BY: BY_REFERENCE_ID},
        # Vectors are only for kNN: keeping them out of _source saves disk and transfer.
        "_source": {"excludes": ["embedding"]},
        "dynamic": "strict",
        "properties": {
            "id": {"type": "keyword"},
            "location": {"type": "geo_point"},
            "model_id": {"type": "keyword"},
            # Read back by ID only: neither searched nor aggregated.
            "photo": {"type": "keyword", "index": False, "doc_values": False},
            "thumbnail": {"type": "binary"},
            **OPTIONAL_FIELDS,
            "embedding": {
                "type": "dense_vector",
                "dims": dim,
                "index": True,
                # Embeddings are unit vectors, so the dot product is the cosine.
                "similarity": "dot_product",
                # Set explicitly: the default changed across Elasticsearch versions.
                "index_options": {"type": index_type.value},
            },
        },
    }


def source(ref: Reference, model_id: str) -> dict[str, Any]:
    """The reference's ``_source``, without the fields it does not have."""
    fields = {
        "id": ref.id,
        "location": {"lat": ref.location.lat, "lon": ref.location.lon},
        "model_id": model_id,
        "embedding": np.asarray(ref.vector, dtype=np.float32).tolist(),
        "photo": ref.photo,
        "thumbnail": base64.b64encode(ref.thumbnail).decode() if ref.thumbnail else None,
        "heading": ref.heading,
        "captured_at": ref.captured_at,
    }
    return {k: v for k, v in fields.items() if v is not None}


def thumbnail(doc_source: dict[str, Any]) -> bytes | None:
    encoded = doc_source.get("thumbnail")
    return base64.b64decode(encoded) if encoded else None
