"""CPU seconds of process trees, read from /proc, so a benchmark can say where time went.

A role (gateway, embedder, Redis...) is one or more root processes and all their
descendants, found again at every reading so that pool children started meanwhile count; a
descendant that is another role's root counts for that role only (``geopin up`` is the parent
of the gateway, the benchmark's client the parent of ``geopin up``).
``/proc/<pid>/stat`` gives each process's user and system time in clock ticks
(proc(5), fields 14 and 15); ``/proc/stat``'s first line gives the whole machine's, so the
CPU that other users of a shared machine took in the same interval is reported too.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

TICK_S = 1 / os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None  # exited meanwhile
    # The command name (field 2) may hold spaces; everything after its ")" is numbers.
    return raw[raw.rindex(")") + 2 :].split()


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = defaultdict(list)
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))):
            tree[int(fields[1])].append(int(entry.name))  # field 4, ppid
    return tree


def tree_of(
    roots: list[int], children: Mapping[int, list[int]], elsewhere: frozenset[int] = frozenset()
) -> list[int]:
    """The roots and every descendant of theirs alive now, short of the ``elsewhere`` ones."""
    found, pending = [], list(roots)
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(child for child in children.get(pid, ()) if child not in elsewhere)
    return found


def process_cpu_s(pid: int) -> float:
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) * TICK_S if fields else 0.0


def machine_busy_s() -> float:
    """CPU seconds every core of the machine spent busy since boot (not idle, not iowait)."""
    with open("/proc/stat") as stat:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (
            int(v) for v in stat.readline().split()[1:9]
        )
    return (user + nice + system + irq + softirq + steal) * TICK_S


Roles = Callable[[], Mapping[str, list[int]]]


@dataclass(frozen=True)
class Reading:
    roles: dict[str, float]  # role -> CPU seconds of its tree, cumulative
    machine_s: float


def read(roles: Roles) -> Reading:
    children, now = _children(), roles()
    roots = frozenset(pid for pids in now.values() for pid in pids)
    return Reading(
        {
            role: sum(process_cpu_s(pid) for pid in tree_of(pids, children, roots))
            for role, pids in now.items()
        },
        machine_busy_s(),
    )


def spent(before: Reading, after: Reading) -> dict[str, float]:
    """CPU seconds each role used between two readings, with ``others``: what the rest of the
    machine used (other users of a shared machine) in the same interval."""
    used = {role: after.roles[role] - before.roles.get(role, 0.0) for role in after.roles}
    used["others"] = max(0.0, after.machine_s - before.machine_s - sum(used.values()))
    return used


def load() -> str:
    """The load averages, to print next to figures taken on a shared machine."""
    return " ".join(f"{value:.1f}" for value in os.getloadavg())
