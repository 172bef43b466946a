"""Plausible metric values: learning curves that improve over training, stable per job."""

from __future__ import annotations

import math
from functools import lru_cache

from kubemaker_emulator.sagemaker.base import seeded_fraction

LOWER_IS_BETTER = ("loss", "error", "rmse", "mse", "mae", "mape", "perplexity", "logloss")


def lower_is_better(metric_name: str) -> bool:
    lowered = metric_name.lower()
    return any(word in lowered for word in LOWER_IS_BETTER)


def metric_value(metric_name: str, quality: float, progress: float, seed: str) -> float:
    """The metric after `progress` (0..1) of training, for a job whose final quality is `quality` (0..1).

    Losses fall from about 1.0 towards 0.05-0.45; scores rise from about 0.5 towards 0.70-0.98.
    """
    jitter = _jitter(seed, metric_name)
    # Share of the way still to go: 1 at the start, exactly 0 at the end of training.
    remaining = (math.exp(-3.0 * progress) - math.exp(-3.0)) / (1.0 - math.exp(-3.0))
    if lower_is_better(metric_name):
        final = 0.45 - 0.40 * quality
        return round(max(0.0, final + (1.0 - final) * remaining + jitter), 6)
    final = 0.70 + 0.28 * quality
    return round(min(1.0, final - (final - 0.5) * remaining + jitter), 6)


@lru_cache(maxsize=65536)
def _jitter(seed: str, metric_name: str) -> float:
    return (seeded_fraction(seed, metric_name) - 0.5) * 0.02
