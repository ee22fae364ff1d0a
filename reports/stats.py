"""Paired comparison of two backbones across subjects: mean difference, 95% CI, and a test."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

WILCOXON_MIN_N = 6
CONFIDENCE = 0.95
WILCOXON = "Wilcoxon signed-rank (two-sided)"
PAIRED_T = "paired t (two-sided)"


@dataclass(frozen=True)
class PairedResult:
    """``a - b`` over ``n`` paired subjects; ``ci`` is the 95% t-interval of the mean difference."""

    n: int
    mean_a: float
    mean_b: float
    mean_diff: float
    sd_diff: float
    ci_low: float
    ci_high: float
    test: str
    statistic: float
    p_value: float


def paired_test_name(n: int) -> str:
    """Wilcoxon signed-rank from 6 pairs on (it cannot reach p < 0.05 below), paired t below."""
    return WILCOXON if n >= WILCOXON_MIN_N else PAIRED_T


def paired_difference(a: np.ndarray, b: np.ndarray) -> PairedResult:
    """Compare paired samples ``a`` and ``b`` (one value per subject); NaN where undefined."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(
            f"paired samples must be equal-length vectors, got {a.shape} and {b.shape}"
        )
    n = int(a.size)
    diff = a - b
    mean_diff = float(diff.mean()) if n else math.nan
    sd = float(diff.std(ddof=1)) if n >= 2 else math.nan
    half = (
        float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * sd / math.sqrt(n)) if n >= 2 else math.nan
    )
    statistic, p_value = _test(a, b, diff, n)
    return PairedResult(
        n=n,
        mean_a=float(a.mean()) if n else math.nan,
        mean_b=float(b.mean()) if n else math.nan,
        mean_diff=mean_diff,
        sd_diff=sd,
        ci_low=mean_diff - half,
        ci_high=mean_diff + half,
        test=paired_test_name(n),
        statistic=statistic,
        p_value=p_value,
    )


def _test(a: np.ndarray, b: np.ndarray, diff: np.ndarray, n: int) -> tuple[float, float]:
    if n < 2:
        return math.nan, math.nan
    if not np.any(diff):
        return 0.0, 1.0  # identical samples: no evidence of any difference
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.wilcoxon(a, b) if n >= WILCOXON_MIN_N else stats.ttest_rel(a, b)
    return float(result.statistic), float(result.pvalue)
