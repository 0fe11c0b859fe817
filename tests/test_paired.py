import numpy as np
import pytest

from unmask.eval.paired import paired_difference


def test_consistent_small_gain_is_significant():
    rng = np.random.default_rng(0)
    base = rng.normal(20, 3, 400)
    diff = paired_difference(base + 0.05 + rng.normal(0, 0.05, 400), base)
    assert diff.mean == pytest.approx(0.05, abs=0.01)
    assert 0 < diff.low < diff.mean < diff.high
    assert diff.significant and diff.wins > 0.8


def test_noise_only_is_not_significant_and_lower_is_better_flips_wins():
    rng = np.random.default_rng(1)
    base = rng.normal(0.5, 0.1, 300)
    other = base + rng.normal(0, 0.05, 300)
    diff = paired_difference(other, base)
    assert diff.low < 0 < diff.high and not diff.significant
    worse = paired_difference(base + 0.01, base, higher_is_better=False)
    assert worse.wins == 0.0 and worse.low == pytest.approx(0.01) and worse.high == pytest.approx(0.01)


def test_mismatched_arrays_are_refused():
    with pytest.raises(ValueError):
        paired_difference(np.zeros(3), np.zeros(4))
