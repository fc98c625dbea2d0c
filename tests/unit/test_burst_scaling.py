"""The simulated KEDA rule the burst bench scales embedders by (docs/deployment.md)."""

from __future__ import annotations

from tests.support.autoscaling import ScaleRule, ScaleState, desired_replicas, next_replicas

RULE = ScaleRule(
    list_length=20, activation_list_length=0, min_replicas=1, max_replicas=3, cooldown_s=15
)


def test_replicas_are_the_list_length_over_the_target_rounded_up() -> None:
    assert desired_replicas(1, RULE) == 1
    assert desired_replicas(20, RULE) == 1
    assert desired_replicas(21, RULE) == 2
    assert desired_replicas(40, RULE) == 2


def test_replicas_stay_within_min_and_max() -> None:
    assert desired_replicas(0, RULE) == 1
    assert desired_replicas(10_000, RULE) == 3


def test_zero_replicas_until_the_list_exceeds_the_activation_length() -> None:
    rule = ScaleRule(list_length=20, activation_list_length=5, min_replicas=0, max_replicas=3)
    assert desired_replicas(0, rule) == 0
    assert desired_replicas(5, rule) == 0
    assert desired_replicas(6, rule) == 1


def test_scales_up_at_once_to_the_desired_count() -> None:
    state = next_replicas(ScaleState(1, 0.0), 300, 2.0, RULE)
    assert state == ScaleState(3, 2.0)


def test_scales_down_one_replica_only_after_the_cooldown() -> None:
    state = ScaleState(3, 10.0)
    assert next_replicas(state, 0, 20.0, RULE) == state  # 10 s below: too soon
    state = next_replicas(state, 0, 25.0, RULE)
    assert state == ScaleState(2, 25.0)
    assert next_replicas(state, 0, 30.0, RULE) == state  # the cooldown starts again
    assert next_replicas(state, 0, 40.0, RULE) == ScaleState(1, 40.0)


def test_a_busy_poll_restarts_the_cooldown() -> None:
    state = next_replicas(ScaleState(3, 0.0), 100, 14.0, RULE)  # still wants 3
    assert next_replicas(state, 0, 20.0, RULE) == state
