"""What became of each photo of an ingestion run, and the run's counts.

Every photo ends with exactly one :class:`Outcome`: written (``indexed``, or ``replaced`` when
it took the place of another photo under its ID), ``already-indexed``, or refused with a
reason, which the report lists.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from geopin.ingest.sources import Candidate

INDEXED = "indexed"
REPLACED = "replaced"  # indexed in place of another photo that had its ID
ALREADY_INDEXED = "already-indexed"
ID_TAKEN = "id-taken"
REPEATED_ID = "repeated-id"
_KEPT = (INDEXED, REPLACED, ALREADY_INDEXED)
# Why a photo is refused when its ID names another photo in the index.
TAKEN = "the index holds another photo under this id: give this one its own id, or --replace"


@dataclass(frozen=True)
class Outcome:
    """What became of one photo: ``indexed``, ``replaced``, ``already-indexed``, or why it was
    refused."""

    candidate: Candidate
    status: str
    detail: str = ""

    @property
    def refused(self) -> bool:
        return self.status not in _KEPT

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
        refused = {k: v for k, v in sorted(self.counts.items()) if k not in _KEPT}
        return {
            "photos": sum(self.counts.values()),
            "indexed": self.counts[INDEXED] + self.counts[REPLACED],
            "replaced": self.counts[REPLACED],
            "already_indexed": self.counts[ALREADY_INDEXED],
            "refused": sum(refused.values()),
            "refused_by_reason": refused,
            "stage_s": {k: round(v, 3) for k, v in self.stage_s.items()},
        }


def first_of_each_id(candidates: Sequence[Candidate]) -> tuple[list[Candidate], list[Outcome]]:
    """The candidates to ingest, and a refusal for each that repeats an earlier one's ID:
    which photo an ID should name is for the source to say, so the first listed keeps it."""
    first: dict[str, Candidate] = {}
    kept: list[Candidate] = []
    repeats: list[Outcome] = []
    for candidate in candidates:
        earlier = first.setdefault(candidate.id, candidate)
        if earlier is candidate:
            kept.append(candidate)
        else:
            detail = f"{earlier.origin} has this id first; an id names one photo"
            repeats.append(Outcome(candidate, REPEATED_ID, detail))
    return kept, repeats
