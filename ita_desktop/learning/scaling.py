"""Per-feature standardisation for distances: features on different scales (hours, ATR multiples,
one-hot flags) would otherwise let the largest one decide who is similar."""

from __future__ import annotations

import numpy as np


def fit_scale(X: np.ndarray) -> tuple[list[float], list[float]]:
    mean = X.mean(axis=0) if len(X) else np.zeros(X.shape[1])
    std = X.std(axis=0) if len(X) else np.ones(X.shape[1])
    std = np.where(std > 1e-9, std, 1.0)
    return [float(x) for x in mean], [float(x) for x in std]


def apply_scale(X: np.ndarray, mean: list[float], std: list[float]) -> np.ndarray:
    return ((np.asarray(X, np.float64) - np.asarray(mean)) / np.asarray(std)).astype(np.float32)
