"""Fitting the estimate's confidence to outcomes (geopin_tools.evaluation.calibration)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from geopin.location import calibrated
from geopin.settings import LocationSettings
from geopin_tools.evaluation.calibration import fit_calibration


def test_the_fit_recovers_the_map_that_drew_the_outcomes() -> None:
    rng = np.random.default_rng(0)
    intercept, slope = 0.5, 2.0
    truth = LocationSettings(calibration_intercept=intercept, calibration_slope=slope)
    shares = rng.uniform(0.02, 0.98, 4000)
    inside = [bool(rng.random() < calibrated(float(s), truth)) for s in shares]
    assert fit_calibration(list(shares), inside) == pytest.approx((intercept, slope), abs=0.15)


def test_outcomes_that_ignore_the_share_fit_a_flat_map_at_their_rate() -> None:
    rng = np.random.default_rng(1)
    shares = rng.uniform(0.02, 0.98, 4000)
    inside = list(rng.random(4000) < 0.7)
    intercept, slope = fit_calibration(list(shares), inside)
    assert slope == pytest.approx(0, abs=0.1)
    assert 1 / (1 + math.exp(-intercept)) == pytest.approx(0.7, abs=0.03)
