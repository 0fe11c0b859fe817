"""Study results: mean realism rating per method and how often each method passed for real, with 95% CIs."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from unmask.study.store import Answer

CONFIDENCE = 0.95


@dataclass(frozen=True)
class RatingRow:
    """Ratings (1-10, 10 = unedited photo) of one method's images: count, mean and its 95% t-interval."""

    method: str
    n: int
    mean: float
    low: float
    high: float


@dataclass(frozen=True)
class PairRow:
    """Pair trials of one method at one display time: share of trials where its image was picked as real."""

    method: str
    time_limit_ms: int | None
    n: int
    fooled: float
    low: float
    high: float


def mean_interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and two-sided 95% Student-t confidence interval (NaN bounds for fewer than two values)."""
    mean = float(np.mean(values))
    if len(values) < 2:
        return mean, math.nan, math.nan
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, len(values) - 1) * float(np.std(values, ddof=1)) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def wilson_interval(successes: int, n: int) -> tuple[float, float]:
    """Wilson score 95% interval of a proportion."""
    z = stats.norm.ppf(0.5 + CONFIDENCE / 2)
    share = successes / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def rating_rows(answers: list[Answer]) -> list[RatingRow]:
    """One row per method (real photos included, as the ceiling), sorted by name."""
    rows = []
    for method in sorted({a.method for a in answers if a.task == "rate"}):
        values = np.array([a.rating for a in answers if a.task == "rate" and a.method == method], np.float64)
        rows.append(RatingRow(method, len(values), *mean_interval(values)))
    return rows


def pair_rows(answers: list[Answer]) -> list[PairRow]:
    """One row per method and display time (unlimited last); 50% fooled = indistinguishable from real."""
    pairs = [a for a in answers if a.task == "pair"]
    keys = sorted({(a.method, a.time_limit_ms) for a in pairs}, key=lambda k: (k[0], k[1] is None, k[1] or 0))
    rows = []
    for method, limit in keys:
        picked = [not a.chose_real for a in pairs if a.method == method and a.time_limit_ms == limit]
        rows.append(PairRow(method, limit, len(picked), sum(picked) / len(picked), *wilson_interval(sum(picked),
                                                                                                      len(picked))))
    return rows


def _interval(low: float, high: float, percent: bool = False) -> str:
    if math.isnan(low):
        return "n/a"
    return f"[{low:.0%}, {high:.0%}]" if percent else f"[{low:.2f}, {high:.2f}]"


def format_report(ratings: list[RatingRow], pairs: list[PairRow]) -> str:
    """Plain-text tables of both tasks."""
    lines = ["Realism ratings (1-10, 10 = looks like an unedited photo), mean with 95% CI:",
             f"  {'method':16s} {'n':>5s} {'mean':>6s}  95% CI"]
    lines += [f"  {r.method:16s} {r.n:5d} {r.mean:6.2f}  {_interval(r.low, r.high)}" for r in ratings] or ["  none"]
    lines += ["", "Which is real? Share of pairs where the unmasked image was picked as real (50% = no tell):",
              f"  {'method':16s} {'shown':>9s} {'n':>5s} {'picked':>7s}  95% CI"]
    lines += [f"  {p.method:16s} {'unlimited' if p.time_limit_ms is None else f'{p.time_limit_ms} ms':>9s} "
              f"{p.n:5d} {p.fooled:7.0%}  {_interval(p.low, p.high, True)}" for p in pairs] or ["  none"]
    return "\n".join(lines)


def plot_report(answers: list[Answer], ratings: list[RatingRow], pairs: list[PairRow],
                path: str | os.PathLike) -> Path:
    """Write a PNG: rating histograms per method (left) and picked-as-real shares with CIs (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    scores = np.arange(1, 11)
    width = 0.8 / max(1, len(ratings))
    for index, row in enumerate(ratings):
        values = [a.rating for a in answers if a.task == "rate" and a.method == row.method]
        counts = np.bincount(values, minlength=11)[1:] / len(values)
        left.bar(scores - 0.4 + width * (index + 0.5), counts, width, label=f"{row.method} (mean {row.mean:.1f})")
    left.set(xticks=scores, xlabel="rating (10 = unedited photo)", ylabel="share of ratings", title="Realism ratings")
    if ratings:
        left.legend()
    labels = [f"{p.method}\n{'∞' if p.time_limit_ms is None else f'{p.time_limit_ms} ms'}" for p in pairs]
    shares = np.array([p.fooled for p in pairs])
    errors = np.array([[p.fooled - p.low for p in pairs], [p.high - p.fooled for p in pairs]]).reshape(2, -1)
    right.bar(np.arange(len(pairs)), shares, yerr=errors, capsize=4, color="tab:orange")
    right.axhline(0.5, color="grey", linestyle="--", linewidth=1)
    right.set(xticks=np.arange(len(pairs)), xticklabels=labels, ylim=(0, 1), ylabel="picked as real",
              title="Which is real? (dashed: chance)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def format_rejections(valid: int, rejected: dict[str, int]) -> str:
    """One line of how many answers were counted and how many were refused, by reason."""
    line = f"Answers counted: {valid}; refused: {sum(rejected.values())}"
    reasons = "; ".join(f"{reason}: {count}" for reason, count in sorted(rejected.items(), key=lambda kv: -kv[1]))
    return f"{line} ({reasons})" if reasons else line
