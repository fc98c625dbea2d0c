"""An ingestion run with an in-memory index: report, idempotence, resumption, near-duplicates."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest
from geopin.geo import LatLon
from geopin.index import Reference
from geopin.ingest.outcomes import Outcome, Summary
from geopin.ingest.run import Ingestion, Options
from geopin.ingest.sources import Candidate
from geopin.settings import Settings
from PIL import ImageFilter

from tests.support.factories import encode, geotagged, place_photo
from tests.unit.ingest.fakes import MemoryIndex, PixelEmbedder

SETTINGS = Settings(ingest={"batch_size": 4, "write_batch": 3})
AMSTERDAM = LatLon(52.37, 4.90)


def _photo(folder: Path, name: str, data: bytes, location: LatLon | None = AMSTERDAM) -> Candidate:
    (folder / name).write_bytes(data)
    return Candidate(folder / name, origin=name, id=name, location=location)


def _place(seed: int, step_m: float = 200.0) -> LatLon:
    """Places ``step_m`` apart going north: far enough not to be duplicates of each other."""
    return LatLon(AMSTERDAM.lat + seed * step_m / 111_200, AMSTERDAM.lon)


def _run(
    candidates: list[Candidate], index: MemoryIndex, options: Options | None = None
) -> tuple[Summary, list[Outcome]]:
    outcomes: list[Outcome] = []
    options = options or Options()
    ingestion = Ingestion(SETTINGS, PixelEmbedder(), index, "m", outcomes.append, options)
    summary = ingestion.run(candidates)
    return summary, outcomes


def test_every_refused_photo_is_reported_with_its_reason_and_counted(tmp_path: Path) -> None:
    jpeg = encode(place_photo(1))
    candidates = [
        _photo(tmp_path, "good.jpg", jpeg, _place(1)),
        _photo(tmp_path, "truncated.jpg", jpeg[: len(jpeg) // 2], _place(2)),
        _photo(tmp_path, "corrupt.jpg", b"\xff\xd8\xff" + b"\x00" * 64, _place(3)),
        _photo(tmp_path, "notes.jpg", b"plain text", _place(4)),
        _photo(tmp_path, "tiny.jpg", encode(place_photo(5, (90, 60))), _place(5)),
        _photo(
            tmp_path,
            "blurred.png",
            encode(place_photo(6).filter(ImageFilter.GaussianBlur(3)), "PNG"),
            _place(6),
        ),
        _photo(tmp_path, "nowhere.jpg", encode(place_photo(7)), None),
        Candidate(tmp_path / "gone.jpg", "gone.jpg", "gone.jpg", _place(8)),
    ]
    summary, outcomes = _run(candidates, MemoryIndex())
    reasons = {o.candidate.id: o.status for o in outcomes}
    assert reasons == {
        "good.jpg": "indexed",
        "truncated.jpg": "corrupt",
        "corrupt.jpg": "corrupt",
        "notes.jpg": "unsupported-format",
        "tiny.jpg": "too-small",
        "blurred.png": "blurred",
        "nowhere.jpg": "no-coordinates",
        "gone.jpg": "unreadable",
    }
    public = summary.public()
    assert (public["photos"], public["indexed"], public["refused"]) == (8, 1, 7)
    assert public["refused_by_reason"]["corrupt"] == 2
    refused = [o.record() for o in outcomes if o.refused]
    assert {r["id"] for r in refused} == set(reasons) - {"good.jpg"}
    assert all(r["detail"] for r in refused)


def test_running_again_writes_nothing_new(tmp_path: Path) -> None:
    candidates = [
        _photo(tmp_path, f"p{i}.jpg", encode(place_photo(i)), _place(i)) for i in range(5)
    ]
    index = MemoryIndex()
    _run(candidates, index)
    keys = set(index.docs)
    summary, _ = _run(candidates, index)
    assert set(index.docs) == keys
    assert len(keys) == 5
    assert summary.public()["already_indexed"] == 5
    assert summary.public()["indexed"] == 0


def test_a_crashed_run_resumes_without_duplicates_or_re_embedding(tmp_path: Path) -> None:
    candidates = [
        _photo(tmp_path, f"p{i}.jpg", encode(place_photo(i)), _place(i)) for i in range(8)
    ]
    index = MemoryIndex(fail_after=1)  # the first bulk write (3 photos) lands, then a crash
    with pytest.raises(ConnectionError):
        _run(candidates, index)
    assert len(index.docs) == 3
    index.fail_after = None
    summary, _ = _run(candidates, index)
    assert summary.public()["already_indexed"] == 3
    assert summary.public()["indexed"] == 5
    assert len(index.docs) == 8


def test_references_are_keyed_by_the_source_id_and_name_their_photo_by_its_bytes(
    tmp_path: Path,
) -> None:
    data = encode(place_photo(3))
    index = MemoryIndex()
    _run([_photo(tmp_path, "a.jpg", data)], index)
    (stored,) = index.docs.values()
    assert stored.id == "a.jpg"
    assert stored.photo == hashlib.sha256(data).hexdigest()[:32]


def _photo_key(candidate: Candidate) -> str:
    return hashlib.sha256(candidate.path.read_bytes()).hexdigest()[:32]


def _same_id(folder: Path, name: str, seed: int, quality: int = 90) -> Candidate:
    """Photo ``name`` under the ID "place"."""
    (folder / name).write_bytes(encode(place_photo(seed), quality=quality))
    return Candidate(folder / name, origin=name, id="place", location=AMSTERDAM)


def test_another_photo_under_an_indexed_id_is_refused_and_the_first_one_kept(
    tmp_path: Path,
) -> None:
    index = MemoryIndex()
    _run([_same_id(tmp_path, "first.jpg", 1)], index)
    first = index.docs["place"]
    summary, (outcome,) = _run([_same_id(tmp_path, "second.jpg", 2)], index)
    assert (outcome.status, outcome.refused) == ("id-taken", True)
    assert "--replace" in outcome.detail
    assert index.docs == {"place": first}
    assert summary.public()["refused_by_reason"] == {"id-taken": 1}


def test_with_replace_another_photo_takes_the_place_of_the_indexed_one(tmp_path: Path) -> None:
    index = MemoryIndex()
    _run([_same_id(tmp_path, "first.jpg", 4)], index)
    first = index.docs["place"]
    # The same view re-encoded: a near-duplicate of the photo it replaces, which is no reason
    # to refuse it.
    again = _same_id(tmp_path, "again.jpg", 4, quality=60)
    summary, (outcome,) = _run([again], index, Options(replace=True))
    assert outcome.status == "replaced"
    (stored,) = index.docs.values()
    assert stored.photo != first.photo
    assert stored.thumbnail != first.thumbnail
    public = summary.public()
    assert (public["indexed"], public["replaced"], public["refused"]) == (1, 1, 0)


def test_photos_that_repeat_an_id_in_one_source_are_refused_the_first_kept(
    tmp_path: Path,
) -> None:
    candidates = [
        _same_id(tmp_path, "first.jpg", 1),
        _photo(tmp_path, "other.jpg", encode(place_photo(2)), _place(2)),
        _same_id(tmp_path, "second.jpg", 3),
    ]
    index = MemoryIndex()
    _, outcomes = _run(candidates, index, Options(replace=True))
    status = {o.candidate.origin: (o.status, o.detail) for o in outcomes}
    assert status["second.jpg"] == (
        "repeated-id",
        "first.jpg has this id first; an id names one photo",
    )
    assert status["first.jpg"][0] == status["other.jpg"][0] == "indexed"
    assert index.docs["place"].photo == _photo_key(candidates[0])


class _RacedIndex(MemoryIndex):
    """Another process writes ``taken`` between this run's look-up and its write."""

    def __init__(self, taken: Reference) -> None:
        super().__init__()
        self._taken: Reference | None = taken

    def add(
        self, references: Iterable[Reference], model_id: str, *, replace: bool = False
    ) -> set[str]:
        if self._taken is not None:
            self.docs[self._taken.id], self._taken = self._taken, None
        return super().add(references, model_id, replace=replace)


@pytest.mark.parametrize(("same_photo", "status"), [(True, "already-indexed"), (False, "id-taken")])
def test_an_id_another_process_wrote_meanwhile_is_not_overwritten(
    tmp_path: Path, same_photo: bool, status: str
) -> None:
    candidate = _same_id(tmp_path, "mine.jpg", 1)
    photo = _photo_key(candidate)
    theirs = Reference("place", AMSTERDAM, np.ones(1), photo=photo if same_photo else "theirs")
    index = _RacedIndex(theirs)
    _, (outcome,) = _run([candidate], index)
    assert outcome.status == status
    assert index.docs["place"] is theirs


def test_near_duplicates_close_by_are_skipped_far_ones_kept(tmp_path: Path) -> None:
    data = encode(place_photo(4))
    again = encode(place_photo(4), quality=80)  # other bytes, same picture
    candidates = [
        _photo(tmp_path, "first.jpg", data, AMSTERDAM),
        _photo(tmp_path, "again-5m.jpg", again, _place(1, step_m=5)),
        _photo(tmp_path, "again-far.jpg", encode(place_photo(4), quality=70), _place(1, 500)),
        _photo(tmp_path, "other-5m.jpg", encode(place_photo(9)), _place(1, step_m=5)),
    ]
    index = MemoryIndex()
    _, outcomes = _run(candidates, index)
    status = {o.candidate.id: (o.status, o.detail) for o in outcomes}
    assert status["again-5m.jpg"][0] == "near-duplicate"
    assert "first.jpg" in status["again-5m.jpg"][1]
    assert status["again-far.jpg"][0] == "indexed"
    assert status["other-5m.jpg"][0] == "indexed"


def test_near_duplicates_of_an_earlier_run_are_found_in_the_index(tmp_path: Path) -> None:
    index = MemoryIndex()
    _run([_photo(tmp_path, "first.jpg", encode(place_photo(4)), AMSTERDAM)], index)
    near = _place(1, step_m=3)
    _, (outcome,) = _run(
        [_photo(tmp_path, "again.jpg", encode(place_photo(4), quality=77), near)], index
    )
    assert outcome.status == "near-duplicate"
    _, (kept,) = _run(
        [_photo(tmp_path, "again2.jpg", encode(place_photo(4), quality=61), near)],
        index,
        Options(dedup=False),
    )
    assert kept.status == "indexed"


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "PNG", "HEIF"])
def test_photos_are_located_heading_and_time_from_exif(tmp_path: Path, fmt: str) -> None:
    data = geotagged(
        place_photo(2), fmt, -33.8568, 151.2153, heading=271.5, taken="2024:05:01 10:20:30"
    )
    path = tmp_path / "photo"
    path.write_bytes(data)
    index = MemoryIndex()
    _run([Candidate(path, "photo", "photo", located_by_exif=True)], index)
    (stored,) = index.docs.values()
    assert (stored.location.lat, stored.location.lon) == pytest.approx((-33.8568, 151.2153))
    assert (stored.heading, stored.captured_at) == (271.5, "2024-05-01T10:20:30")


def test_photo_without_gps_tags_is_reported_not_indexed(tmp_path: Path) -> None:
    path = tmp_path / "no-gps.jpg"
    path.write_bytes(encode(place_photo(2)))
    _, (outcome,) = _run(
        [Candidate(path, "no-gps.jpg", "no-gps.jpg", located_by_exif=True)], MemoryIndex()
    )
    assert outcome.status == "no-coordinates"


def test_equal_shapes_are_embedded_together(tmp_path: Path) -> None:
    candidates = [
        _photo(tmp_path, f"p{i}.jpg", encode(place_photo(i)), _place(i)) for i in range(4)
    ]
    embedder = PixelEmbedder()
    ingestion = Ingestion(SETTINGS, embedder, MemoryIndex(), "m", lambda _: None)
    ingestion.run(candidates)
    assert embedder.calls == [4]
