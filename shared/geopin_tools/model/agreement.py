"""How far two models' embeddings agree: per image, and as the neighbours a search returns.

Used to judge an int8 or FP16 copy against its FP32 parent. Cosine per image says how close
each vector stayed; top-k overlap says whether a search would still return the same photos,
which is what a user sees.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Embeddings = npt.NDArray[np.floating]


def cosines(a: Embeddings, b: Embeddings) -> npt.NDArray[np.float64]:
    """Cosine of each row of ``a`` with the same row of ``b``."""
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1)
    return np.asarray(np.sum(x * y, axis=1) / np.maximum(norms, 1e-300))


def top_k_overlap(a: Embeddings, b: Embeddings, k: int) -> float:
    """Mean share of each image's k nearest neighbours that both models find, leaving it out.

    Every image queries all the others (the retrieval set) once with each model's vectors; the
    overlap of the two neighbour sets, over k, is averaged over the images. 1.0 means every
    search returns the same photos (in any order).
    """
    if not 0 < k < len(a):
        raise ValueError(f"k must be between 1 and {len(a) - 1} for {len(a)} images")
    return _overlap(_leave_one_out_similarity(a), _leave_one_out_similarity(b), k)


def search_top_k_overlap(
    queries_a: Embeddings,
    references_a: Embeddings,
    queries_b: Embeddings,
    references_b: Embeddings,
    k: int,
) -> float:
    """Mean share of each query's k nearest references that both models return.

    Each model embeds the same queries and the same references; this is what a user of a
    search sees change when one model replaces the other.
    """
    if not 0 < k <= len(references_a):
        raise ValueError(
            f"k must be between 1 and {len(references_a)} for {len(references_a)} references"
        )
    return _overlap(_similarity(queries_a, references_a), _similarity(queries_b, references_b), k)


def _overlap(
    similarity_a: npt.NDArray[np.float64], similarity_b: npt.NDArray[np.float64], k: int
) -> float:
    neighbours_a, neighbours_b = _nearest(similarity_a, k), _nearest(similarity_b, k)
    shared = [len(set(x) & set(y)) for x, y in zip(neighbours_a, neighbours_b, strict=True)]
    return float(np.mean(shared)) / k


def _similarity(queries: Embeddings, references: Embeddings) -> npt.NDArray[np.float64]:
    return np.asarray(_unit(queries) @ _unit(references).T)


def _leave_one_out_similarity(embeddings: Embeddings) -> npt.NDArray[np.float64]:
    similarity = _similarity(embeddings, embeddings)
    np.fill_diagonal(similarity, -np.inf)  # an image is not its own neighbour
    return similarity


def _unit(embeddings: Embeddings) -> npt.NDArray[np.float64]:
    x = np.asarray(embeddings, dtype=np.float64)
    return np.asarray(x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-300))


def _nearest(similarity: npt.NDArray[np.float64], k: int) -> npt.NDArray[np.intp]:
    return np.argsort(-similarity, axis=1, kind="stable")[:, :k]
