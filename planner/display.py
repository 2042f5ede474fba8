"""Display mapping shared by every view: stored values -> 8-bit for the screen."""

from __future__ import annotations

import numpy as np


def auto_window(pixels: np.ndarray, low_percentile: float = 0.5, high_percentile: float = 99.5) -> tuple[float, float]:
    """(center, width) covering the given percentiles of the non-zero pixels."""
    values = pixels[pixels != 0] if np.any(pixels) else pixels
    low, high = np.percentile(values, [low_percentile, high_percentile]) if values.size else (0.0, 1.0)
    width = max(float(high - low), 1e-6)
    return float(low + width / 2), width


def to_display_uint8(pixels: np.ndarray, center: float | None = None, width: float | None = None) -> np.ndarray:
    """Window grey images to uint8 (auto window when none is given); RGB uint8 passes through."""
    if pixels.ndim == 3 and pixels.dtype == np.uint8:
        return pixels
    if pixels.ndim == 3:
        return np.clip(pixels, 0, 255).astype(np.uint8)
    if center is None or width is None:
        if pixels.dtype == np.uint8:
            return pixels
        center, width = auto_window(pixels)
    low = center - width / 2
    scaled = (pixels.astype(np.float32) - low) * (255.0 / width)
    return np.clip(scaled, 0, 255).astype(np.uint8)
