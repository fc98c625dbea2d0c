"""The numpy reference's head, checked by hand, so the parity test's yardstick is sound."""

from __future__ import annotations

import numpy as np
import pytest
from geopin_tools.model.architecture import Backbone, seeded_state_dict
from geopin_tools.model.reference import gem, l2_normalise, reference_embed

EPS = 1e-6


def test_gem_matches_hand_computed_values() -> None:
    # one image, two channels, a 1x2 feature map
    x = np.array([[[[1.0, 3.0]], [[-4.0, 0.0]]]])
    # channel 0: sqrt((1 + 9) / 2); channel 1: negatives and zeros clamp to eps
    np.testing.assert_allclose(gem(x, p=2.0, eps=EPS), [[np.sqrt(5.0), EPS]], rtol=1e-12)
    # p = 1 is average pooling; p = 3: cbrt((1 + 27) / 2)
    np.testing.assert_allclose(gem(x, p=1.0, eps=EPS)[0, 0], 2.0, rtol=1e-12)
    np.testing.assert_allclose(gem(x, p=3.0, eps=EPS)[0, 0], np.cbrt(14.0), rtol=1e-12)


def test_l2_normalise_makes_unit_vectors_and_keeps_zero_vectors_zero() -> None:
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(l2_normalise(x, axis=1), [[0.6, 0.8], [0.0, 0.0]])


def test_reference_accepts_data_parallel_checkpoints() -> None:
    weights = seeded_state_dict(Backbone.RESNET18, 16, seed=0)
    images = np.random.default_rng(0).standard_normal((1, 3, 32, 48))
    wrapped = {f"module.{key}": value for key, value in weights.items()}
    np.testing.assert_array_equal(
        reference_embed(wrapped, images), reference_embed(weights, images)
    )


def test_reference_refuses_images_that_are_not_rgb_batches() -> None:
    weights = seeded_state_dict(Backbone.RESNET18, 16, seed=0)
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        reference_embed(weights, np.zeros((3, 32, 32)))
