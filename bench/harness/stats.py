"""Summaries of timings: nearest-rank percentiles, as the Rust side (`bench/warm`) computes them."""

from __future__ import annotations

import math
from typing import Sequence


def percentile(samples: Sequence[float], q: float) -> float:
    """The value below which a fraction `q` (0..1) of the samples fall (nearest rank)."""
    ordered = sorted(samples)
    rank = math.ceil(q * len(ordered))
    return ordered[min(max(rank, 1), len(ordered)) - 1]


def summary(samples_ms: Sequence[float], digits: int = 2) -> dict[str, float]:
    """p50, p90, p99, max and mean of millisecond samples, with their count."""
    return {
        "n": len(samples_ms),
        "p50_ms": round(percentile(samples_ms, 0.50), digits),
        "p90_ms": round(percentile(samples_ms, 0.90), digits),
        "p99_ms": round(percentile(samples_ms, 0.99), digits),
        "max_ms": round(max(samples_ms), digits),
        "mean_ms": round(sum(samples_ms) / len(samples_ms), digits),
    }
