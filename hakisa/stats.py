"""Scores over episodes: the mean and its standard error, as every table in hakisa prints them."""

from __future__ import annotations

import math

import numpy as np


def mean(values) -> float:
    """Mean of ``values``; NaN when there are none."""
    return float(np.mean(values)) if len(values) else math.nan


def standard_error(values) -> float:
    """Standard error of the mean (sample standard deviation / sqrt(n)); NaN below two values."""
    n = len(values)
    return float(np.std(values, ddof=1) / math.sqrt(n)) if n > 1 else math.nan


class Scored:
    """Mixin for a record with a ``scores`` list (one per episode): its ``mean`` and standard error ``se``."""

    scores: list[float]

    @property
    def mean(self) -> float:
        return mean(self.scores)

    @property
    def se(self) -> float:
        """Standard error of the mean over the episodes."""
        return standard_error(self.scores)
