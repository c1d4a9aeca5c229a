"""Small summary statistics for benchmarks and reports."""

from __future__ import annotations

import math


def percentile(values: list, share: float) -> float:
    """Nearest-rank percentile (share in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(share / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: list, unit_scale: float = 1000.0, unit: str = "ms") -> str:
    if not values:
        return "no samples"
    scaled = [v * unit_scale for v in values]
    return (
        f"p50 {percentile(scaled, 50):8.1f} {unit}   p95 {percentile(scaled, 95):8.1f} {unit}   "
        f"max {max(scaled):8.1f} {unit}   n={len(scaled)}"
    )
