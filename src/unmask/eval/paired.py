"""Paired comparison of two methods scored on the same samples: mean difference, its bootstrap interval, wins."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import bootstrap


@dataclass(frozen=True)
class PairedDifference:
    """``mean`` of ``first - second`` per sample, its 95 % bootstrap interval ``low``..``high``, and the share of
    samples where ``first`` is better (``wins``; ties count half)."""

    mean: float
    low: float
    high: float
    wins: float

    @property
    def significant(self) -> bool:
        """True when the interval excludes zero."""
        return self.low > 0 or self.high < 0


def paired_difference(first: np.ndarray, second: np.ndarray, higher_is_better: bool = True,
                      resamples: int = 2000, seed: int = 0) -> PairedDifference:
    """Compare per-sample scores ``first`` and ``second`` (same samples, same order) of two methods.

    The interval is scipy's BCa bootstrap of the mean difference (percentile where BCa is undefined, e.g. all
    differences (nearly) equal). Raises ``ValueError`` for arrays of different shapes or fewer than two samples.
    """
    first, second = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    if first.shape != second.shape or first.ndim != 1 or len(first) < 2:
        raise ValueError(f"need two 1-d arrays of the same length >= 2, got {first.shape} and {second.shape}")
    difference = first - second
    low, high = _interval(difference, "BCa", resamples, seed)
    if not (np.isfinite(low) and np.isfinite(high)):
        low, high = _interval(difference, "percentile", resamples, seed)
    better = difference if higher_is_better else -difference
    wins = float(np.mean(better > 0) + 0.5 * np.mean(better == 0))
    return PairedDifference(float(difference.mean()), low, high, wins)


def _interval(difference: np.ndarray, method: str, resamples: int, seed: int) -> tuple[float, float]:
    """95 % bootstrap interval of the mean of ``difference`` with scipy's ``method``."""
    interval = bootstrap((difference,), np.mean, confidence_level=0.95, n_resamples=resamples, method=method,
                         random_state=seed).confidence_interval
    return float(interval.low), float(interval.high)
