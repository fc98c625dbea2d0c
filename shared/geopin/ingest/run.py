"""One ingestion run: read, check, embed, de-duplicate and bulk-write reference photos.

Photos move through the run in batches of ``ingest.batch_size``:

1. read the bytes, whose sha256 identifies the photo; an ID the index already holds for the
   same photo (a re-run, or a run resumed after a crash) is skipped before any decoding, and
   one it holds for another photo is refused, or replaced when asked (``Options.replace``);
2. decode (corrupt and truncated files are refused here), locate (manifest or EXIF GPS);
3. quality control (:mod:`.quality`);
4. preprocess and embed, equal shapes sharing one inference call;
5. skip near-duplicates (:mod:`.dedup`), then write in bulk.

An ID names one photo: of candidates that share an ID, the first is ingested and the others
refused. Each photo ends with one :class:`~.outcomes.Outcome`, handed to ``on_outcome`` as
soon as it is final (for written photos, once their bulk write returned): the CLI writes
them to the JSONL report and the progress bar, a distributed run to Redis.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Protocol

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
from geopin.ingest.outcomes import (
    ALREADY_INDEXED,
    ID_TAKEN,
    INDEXED,
    REPLACED,
    TAKEN,
    Outcome,
    Summary,
    first_of_each_id,
)
from geopin.ingest.quality import inspect
from geopin.ingest.sources import Candidate
from geopin.settings import Settings
from geopin.thumbnails import thumbnail_jpeg


class BatchEmbedder(Protocol):
    def embed_batch(self, pixels: Sequence[npt.NDArray[np.float32]]) -> list[np.ndarray]: ...


@dataclass(frozen=True)
class Options:
    quality: bool = True  # run quality control
    dedup: bool = True  # skip near-duplicates
    replace: bool = False  # a photo replaces another indexed under its ID, instead of refused


def content_key(data: bytes) -> str:
    """What identifies a photo (``Reference.photo``): the same bytes added again are known."""
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
        options: Options = Options(),
    ) -> None:
        self._settings = settings
        self._embedder = embedder
        self._index = index
        self._model_id = model_id
        self._on_outcome = on_outcome
        self._options = options
        self._duplicates = NearDuplicates(settings.dedup, index, model_id)
        self._pending: list[tuple[Candidate, Reference, str]] = []
        self.summary = Summary()

    def run(self, candidates: Sequence[Candidate]) -> Summary:
        unique, repeats = first_of_each_id(candidates)
        for outcome in repeats:
            self._finish(outcome.candidate, outcome.status, outcome.detail)
        step = self._settings.ingest.batch_size
        for start in range(0, len(unique), step):
            self._batch(unique[start : start + step])
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
            held = self._index.photos([candidate.id for candidate, _, _ in loaded])
        ready: list[tuple[Candidate, Reference, str, npt.NDArray[np.float32]]] = []
        for candidate, photo, data in loaded:
            status = self._write_status(candidate, photo, held)
            prepared = self._prepare(candidate, photo, data) if status else None
            if prepared is not None:
                reference, pixels = prepared
                ready.append((candidate, reference, status, pixels))
        if not ready:
            return
        with self._stage("embed"):
            vectors = self._embedder.embed_batch([pixels for *_, pixels in ready])
        for (candidate, reference, status, _), vector in zip(ready, vectors, strict=True):
            self._accept(candidate, replace(reference, vector=vector), status)

    def _write_status(self, candidate: Candidate, photo: str, held: dict[str, str | None]) -> str:
        """INDEXED or REPLACED for a photo to write; "" once it has ended here: the index
        holds its ID for this photo already, or for another one and it may not replace it."""
        if candidate.id not in held:
            return INDEXED
        if held[candidate.id] == photo:
            self._finish(candidate, ALREADY_INDEXED)
        elif self._options.replace:
            return REPLACED
        else:
            self._finish(candidate, ID_TAKEN, TAKEN)
        return ""

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
        self, candidate: Candidate, photo: str, data: bytes
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
        thumbnail = None
        if self._settings.thumbnails.enabled:
            with self._stage("thumbnail"):
                thumbnail = thumbnail_jpeg(image, self._settings.thumbnails.max_side)
        with self._stage("preprocess"):
            pixels = to_model_input(resized_for_model(image, self._settings.images))
        reference = Reference(
            id=candidate.id,
            location=location,
            vector=np.empty(0, dtype=np.float32),  # filled in once the batch is embedded
            photo=photo,
            thumbnail=thumbnail,
            heading=heading,
            captured_at=captured_at,
        )
        return reference, pixels

    def _accept(self, candidate: Candidate, reference: Reference, status: str) -> None:
        if self._options.dedup and self._settings.dedup.enabled:
            with self._stage("dedup"):
                repeats = self._duplicates.find(reference.id, reference.location, reference.vector)
            if repeats is not None:
                self._finish(candidate, "near-duplicate", repeats)
                return
            self._duplicates.remember(reference.id, reference.location, reference.vector)
        self._pending.append((candidate, reference, status))
        if len(self._pending) >= self._settings.ingest.write_batch:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        with self._stage("write"):
            references = [reference for _, reference, _ in self._pending]
            # IDs another process wrote since they were looked up: the index kept its photo.
            kept = self._index.add(references, self._model_id, replace=self._options.replace)
            now = self._index.photos(sorted(kept)) if kept else {}
        for candidate, reference, status in self._pending:
            if reference.id not in kept:
                self._finish(candidate, status)
            elif now.get(reference.id) == reference.photo:
                self._finish(candidate, ALREADY_INDEXED)
            else:
                self._finish(candidate, ID_TAKEN, TAKEN)
        self._pending.clear()


def _decode_reason(exc: ImageRejected) -> str:
    if isinstance(exc, UnsupportedImageType):
        return "unsupported-format"
    if isinstance(exc, ImageTooLarge):
        return "too-many-pixels"
    return "corrupt"
