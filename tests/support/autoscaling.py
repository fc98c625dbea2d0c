"""KEDA's scaling rule for a Redis list, simulated: how many embedders a queue length asks for.

The burst benchmark (bench/burst.py) scales its embedder processes by this rule with the
dev-cpu values of docs/deployment.md, so that a burst meets the scaling a cluster would give.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ScaleRule:
    """KEDA's Redis list scaler feeding an HPA (docs/deployment.md, "Autoscaling")."""

    list_length: int = 20  # target waiting tasks per replica (embedder, dev-cpu)
    activation_list_length: int = 0  # at zero replicas, wake above this length
    min_replicas: int = 1
    max_replicas: int = 3  # dev-cpu says 2; 3 still fits this bench's two cores
    cooldown_s: float = 15.0  # wait before each step down (dev-cpu: 180 s, then -1 pod / 60 s)


@dataclass(frozen=True)
class ScaleState:
    replicas: int
    last_change_s: float  # when replicas last changed, or last was wanted at least as high


def desired_replicas(length: int, rule: ScaleRule) -> int:
    """``ceil(length / listLength)`` within [min, max]; zero only while the list is at or
    below the activation length and the minimum allows it."""
    if length <= rule.activation_list_length:
        return rule.min_replicas
    wanted = math.ceil(length / rule.list_length)
    return max(rule.min_replicas, 1, min(rule.max_replicas, wanted))


def next_replicas(state: ScaleState, length: int, now_s: float, rule: ScaleRule) -> ScaleState:
    """One poll: scale up at once to the desired count; scale down one replica at a time,
    and only once the desired count has stayed lower for ``cooldown_s``."""
    wanted = desired_replicas(length, rule)
    if wanted >= state.replicas:
        return ScaleState(max(wanted, state.replicas), now_s)
    if now_s - state.last_change_s >= rule.cooldown_s:
        return ScaleState(state.replicas - 1, now_s)
    return state
