"""Benchmark helpers: best-of-N timing and ratios against a floor measured in the same run."""

from __future__ import annotations

import time


def best_of(function, repeats: int = 3) -> float:
    """The fastest of ``repeats`` runs, in seconds (the least disturbed by other load)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def row(name: str, ours: float, floor: float | None, floor_name: str, target: float, unit: str = "s") -> dict:
    """One result. ``floor=None`` marks an absolute target: ``ours`` itself is compared with ``target``."""
    ratio = ours / floor if floor is not None else None
    value = ratio if ratio is not None else ours
    return {
        "benchmark": name,
        "ours": round(ours, 4),
        "floor": round(floor, 4) if floor is not None else None,
        "floor_name": floor_name,
        "ratio": round(ratio, 3) if ratio is not None else None,
        "target": target,
        "unit": unit,
        "pass": value <= target,
    }
