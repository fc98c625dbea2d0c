"""One ingestion run: read, check, embed, de-duplicate and bulk-write reference photos.

Photos move through the run in batches of ``ingest.batch_size``:

1. read the bytes; the document key is the sha256 of those bytes, so a photo already in the
   index (a re-run, or a run resumed after a crash) is skipped before any decoding;
2. decode (corrupt and truncated files are refused here), locate (manifest or EXIF GPS);
3. quality control (:mod:`.quality`);
4. preprocess and embed, equal shapes sharing one inference call;
5. skip near-duplicates (:mod:`.dedup`), then write in bulk.

Each photo ends with one :class:`Outcome`, handed to ``on_outcome`` as soon as it is final
(for indexed photos, once their bulk write returned): the CLI writes them to the JSONL report
and the progress bar, a distributed run to Redis.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from geopin.images import (
    ImageRejected,
    ImageTooLarge,
    UnsupportedImageType,
    decode_with_exif,
    resized_for_model,
    to_model_input,
)
from geopin.index import Reference, VectorIndex
from geopin.ingest.dedup import NearDuplicates
from geopin.ingest.exif import read_tags
from geopin.ingest.quality import inspect
from geopin.ingest.sources import Candidate
from geopin.settings import Settings
from geopin.thumbnails import ThumbnailStore, thumbnail_jpeg

INDEXED = "indexed"
ALREADY_INDEXED = "already-indexed"


class BatchEmbedder(Protocol):
    def embed_batch(self, pixels: Sequence[npt.NDArray[np.float32]]) -> list[np.ndarray]: ...


@dataclass(frozen=True)
class Outcome:
    """What became of one photo: ``indexed``, ``already-indexed``, or why it was refused."""

    candidate: Candidate
    status: str
    detail: str = ""

    @property
    def refused(self) -> bool:
        return self.status not in (INDEXED, ALREADY_INDEXED)

    def record(self) -> dict[str, str]:
        """The photo's line in the JSONL report."""
        return {
            "path": str(self.candidate.path),
            "origin": self.candidate.origin,
            "id": self.candidate.id,
            "reason": self.status,
            "detail": self.detail,
        }


@dataclass
class Summary:
    counts: Counter[str] = field(default_factory=Counter)
    stage_s: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, outcome: Outcome) -> None:
        self.counts[outcome.status] += 1

    def public(self) -> dict[str, Any]:
        refused = {
            k: v for k, v in sorted(self.counts.items()) if k not in (INDEXED, ALREADY_INDEXED)
        }
        return {
            "photos": sum(self.counts.values()),
            "indexed": self.counts[INDEXED],
            "already_indexed": self.counts[ALREADY_INDEXED],
            "refused": sum(refused.values()),
            "refused_by_reason": refused,
            "stage_s": {k: round(v, 3) for k, v in self.stage_s.items()},
        }


@dataclass(frozen=True)
class Options:
    quality: bool = True  # run quality control
    dedup: bool = True  # skip near-duplicates


def content_key(data: bytes) -> str:
    """The document key of a photo: indexing the same bytes again overwrites, never duplicates."""
    return hashlib.sha256(data).hexdigest()[:32]


class Ingestion:
    """Ingests candidates into one index; one instance per run (it remembers what it wrote)."""

    def __init__(
        self,
        settings: Settings,
        embedder: BatchEmbedder,
        index: VectorIndex,
        model_id: str,
        on_outcome: Callable[[Outcome], None],
        thumbnails: ThumbnailStore,
        options: Options = Options(),
    ) -> None:
        self._settings = settings
        self._embedder = embedder
        self._index = index
        self._model_id = model_id
        self._on_outcome = on_outcome
        self._options = options
        self._thumbnails = thumbnails
        self._duplicates = NearDuplicates(settings.dedup, index, model_id)
        self._keys_seen: set[str] = set()
        self._pending: list[tuple[Candidate, Reference]] = []
        self.summary = Summary()

    def run(self, candidates: Sequence[Candidate]) -> Summary:
        step = self._settings.ingest.batch_size
        for start in range(0, len(candidates), step):
            self._batch(candidates[start : start + step])
        self._flush()
        return self.summary

    @contextmanager
    def _stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.summary.stage_s[name] += time.perf_counter() - started

    def _finish(self, candidate: Candidate, status: str, detail: str = "") -> None:
        outcome = Outcome(candidate, status, detail)
        self.summary.add(outcome)
        self._on_outcome(outcome)

    def _batch(self, candidates: Sequence[Candidate]) -> None:
        with self._stage("read"):
            loaded = self._read(candidates)
            present = self._index.contains([key for _, key, _ in loaded])
        ready: list[tuple[Candidate, Reference, npt.NDArray[np.float32]]] = []
        for candidate, key, data in loaded:
            if key in present or key in self._keys_seen:
                self._finish(candidate, ALREADY_INDEXED)
                continue
            self._keys_seen.add(key)
            prepared = self._prepare(candidate, key, data)
            if prepared is not None:
                ready.append((candidate, *prepared))
        if not ready:
            return
        with self._stage("embed"):
            vectors = self._embedder.embed_batch([pixels for *_, pixels in ready])
        for (candidate, reference, _), vector in zip(ready, vectors, strict=True):
            self._accept(candidate, replace(reference, vector=vector))

    def _read(self, candidates: Sequence[Candidate]) -> list[tuple[Candidate, str, bytes]]:
        loaded = []
        for candidate in candidates:
            try:
                data = candidate.path.read_bytes()
            except OSError as exc:
                self._finish(candidate, "unreadable", exc.strerror or str(exc))
                continue
            loaded.append((candidate, content_key(data), data))
        return loaded

    def _prepare(
        self, candidate: Candidate, key: str, data: bytes
    ) -> tuple[Reference, npt.NDArray[np.float32]] | None:
        """Decode, locate, check and preprocess one photo; None (and an outcome) if refused."""
        with self._stage("decode"):
            try:
                image, exif = decode_with_exif(data, self._settings.images.max_pixels)
            except ImageRejected as exc:
                self._finish(candidate, _decode_reason(exc), exc.detail)
                return None
            tags = read_tags(exif) if candidate.located_by_exif else None
        location, heading = candidate.location, candidate.heading
        captured_at = candidate.captured_at
        if tags is not None:
            location = location or tags.location
            heading = heading if heading is not None else tags.heading
            captured_at = captured_at or tags.captured_at
        if location is None:
            self._finish(candidate, "no-coordinates", "no usable coordinates for this photo")
            return None
        if self._options.quality and self._settings.quality.enabled:
            with self._stage("quality"):
                verdict = inspect(image, self._settings.quality)
            if verdict is not None:
                self._finish(candidate, verdict.defect.value, verdict.detail)
                return None
        with self._stage("thumbnail"):
            jpeg = thumbnail_jpeg(image, self._settings.thumbnails.max_side)
            self._thumbnails.put(candidate.id, jpeg)
        with self._stage("preprocess"):
            pixels = to_model_input(resized_for_model(image, self._settings.images))
        reference = Reference(
            id=candidate.id,
            location=location,
            vector=np.empty(0, dtype=np.float32),  # filled in once the batch is embedded
            key=key,
            heading=heading,
            captured_at=captured_at,
        )
        return reference, pixels

    def _accept(self, candidate: Candidate, reference: Reference) -> None:
        if self._options.dedup and self._settings.dedup.enabled:
            with self._stage("dedup"):
                repeats = self._duplicates.find(reference.location, reference.vector)
            if repeats is not None:
                self._finish(candidate, "near-duplicate", repeats)
                return
            self._duplicates.remember(reference.id, reference.location, reference.vector)
        self._pending.append((candidate, reference))
        if len(self._pending) >= self._settings.ingest.write_batch:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        with self._stage("write"):
            self._index.add([reference for _, reference in self._pending], self._model_id)
        for candidate, _ in self._pending:
            self._finish(candidate, INDEXED)
        self._pending.clear()


def _decode_reason(exc: ImageRejected) -> str:
    if isinstance(exc, UnsupportedImageType):
        return "unsupported-format"
    if isinstance(exc, ImageTooLarge):
        return "too-many-pixels"
    return "corrupt"
