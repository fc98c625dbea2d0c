"""Processes as Linux's /proc shows them: to find a service's children and check none is left."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Process:
    pid: int
    parent: int
    session: int
    state: str  # Z: exited, waiting for its parent to read its status
    command: str


def processes() -> list[Process]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # exited while we looked
        fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
        found.append(
            Process(int(stat.parent.name), int(fields[1]), int(fields[3]), fields[0], command)
        )
    return found


def children_of(pid: int) -> list[Process]:
    return [p for p in processes() if p.parent == pid]


def alive_in_sessions(sessions: set[int]) -> list[Process]:
    """Processes of these sessions that still run (zombies have stopped already)."""
    return [p for p in processes() if p.session in sessions and p.state != "Z"]
