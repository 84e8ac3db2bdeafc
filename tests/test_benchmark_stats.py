"""The statistics tools/benchmark_models.py reports: the median's confidence interval (against
scipy's binomial distribution) and the saved-for-backward memory count (against hand sums)."""
import sys
from pathlib import Path

import pytest
import torch
from scipy.stats import binom
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from benchmark_models import median_ci, memory  # noqa: E402


@pytest.mark.parametrize("n", [6, 9, 15, 20, 31])
def test_median_ci_is_the_tightest_order_statistic_interval_with_95_percent_coverage(n):
    values = [float(v) for v in torch.randperm(n).tolist()]  # x_(i) = i - 1
    med, lo, hi = median_ci(values)
    assert med == pytest.approx((n - 1) / 2, abs=1e-12)
    j = int(lo) + 1  # the interval is [x_(j), x_(n-j+1)]
    assert hi == n - j
    # coverage of [x_(j), x_(n-j+1)] is P(j <= B <= n - j) for B ~ Binomial(n, 1/2)
    coverage = lambda k: binom.cdf(n - k, n, 0.5) - binom.cdf(k - 1, n, 0.5)  # noqa: E731
    assert coverage(j) >= 0.95
    assert j + 1 > n // 2 or coverage(j + 1) < 0.95


def test_cpu_memory_counts_each_saved_storage_once_and_no_parameters():
    lin = nn.Linear(8, 4, bias=False)
    x = torch.randn(16, 8, requires_grad=True)

    def step():
        h = x * 3.0  # 16x8 floats, saved below by both matmuls
        (lin(h).sum() + (h @ torch.ones(8, 2)).sum()).backward()
    # lin saves h (16*8*4 bytes) and its weight (a parameter: not counted); h @ ones saves h again
    # and the 8x2 ones; x * 3.0 saves nothing (a scalar factor)
    assert memory(step, lin, torch.device("cpu")) == 16 * 8 * 4 + 8 * 2 * 4
