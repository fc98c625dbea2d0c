"""Fitting the location estimate's confidence to what actually happens (docs/location.md).

An estimate's confidence is ``sigmoid(intercept + slope * logit(share))`` of its winning
cluster's weight share (:func:`geopin.location.calibrated`); the two numbers are fitted by
maximum likelihood on answers whose truth is known: was the truth within the stated radius?
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SHARE_BOUND = 1e-3  # as geopin.location clamps a share before its logit


def fit_calibration(shares: Sequence[float], inside: Sequence[bool]) -> tuple[float, float]:
    """Intercept and slope of the logistic map from logit(share) to "inside", by Newton's
    method on the log-likelihood (a two-parameter logistic regression)."""
    share = np.clip(np.asarray(shares, dtype=np.float64), SHARE_BOUND, 1 - SHARE_BOUND)
    features = np.stack([np.ones_like(share), np.log(share / (1 - share))], axis=1)
    truth = np.asarray(inside, dtype=np.float64)
    weights = np.zeros(2)
    for _ in range(50):
        predicted = 1 / (1 + np.exp(-features @ weights))
        gradient = features.T @ (truth - predicted)
        hessian = (features * (predicted * (1 - predicted))[:, None]).T @ features
        weights += np.linalg.solve(hessian, gradient)
    return float(weights[0]), float(weights[1])
