"""The price grid of an instrument: how many decimals its quotes carry and what a pip is.

Pure numpy, so the chart can label prices before the store (and its ORM) is loaded.
"""

from __future__ import annotations

import numpy as np

MAX_DIGITS = 8
SAMPLE = 20_000  # prices looked at: enough to see the grid, cheap on a million bars


def infer_digits(prices: np.ndarray) -> int:
    """The fewest decimals that represent every sampled price (MT5 quotes sit on a 10**-digits grid)."""
    sample = np.asarray(prices[:SAMPLE], dtype=np.float64)
    for digits in range(MAX_DIGITS + 1):
        scaled = sample * 10.0**digits
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-6 * np.maximum(1.0, np.abs(scaled)) + 1e-9):
            return digits
    return MAX_DIGITS


def pip_size_for(digits: int) -> float:
    """FX convention: on 5- and 3-digit quotes a pip is ten points, otherwise one point."""
    point = 10.0**-digits
    return 10 * point if digits in (3, 5) else point
