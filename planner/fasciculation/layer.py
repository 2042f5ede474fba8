"""The muscle layer of a B-mode frame: between the superficial fascia and the deepest aponeurosis.

Fasciae and aponeuroses are the bright, nearly horizontal lines of a muscle
image. The row profile (the mean of each row over the region's width) shows them
as narrow peaks above the muscle's level; the first clear one below the skin is
the superficial fascia, the deepest clear one the deep aponeurosis. Fat and skin
above, and bone or deep muscle below, are left out of the analysis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

#: Skin and near-field reverberation: never part of the muscle (mm).
NEAR_FIELD_MM = 2.0
#: A muscle layer thinner than this is not believed (mm).
MIN_THICKNESS_MM = 6.0


@dataclass(frozen=True)
class Layer:
    rect: tuple[int, int, int, int]  # x0, y0, x1, y1 inclusive
    fascia_row: int | None
    deep_row: int | None
    warning: str = ""


def find_muscle_layer(mean_frame: np.ndarray, bounds: tuple[int, int, int, int], mm_per_row: float) -> Layer:
    """The analysed rectangle of a (time-averaged) grey frame inside ``bounds`` (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = bounds
    # the middle 90 % of the width: edges of curved or trapezoid images are often empty
    margin = (x1 - x0) // 20
    cut = mean_frame[y0 : y1 + 1, x0 + margin : x1 + 1 - margin].astype(np.float64)
    profile = np.median(cut, axis=1)
    rows = len(profile)
    smooth = ndimage.gaussian_filter1d(profile, max(1.0, 0.3 / mm_per_row))
    background = ndimage.median_filter(smooth, size=max(5, int(6.0 / mm_per_row)) | 1, mode="nearest")
    tophat = smooth - background
    spread = 1.4826 * np.median(np.abs(tophat - np.median(tophat))) + 1e-6
    near = int(NEAR_FIELD_MM / mm_per_row)
    peaks = [
        r
        for r in range(max(near, 1), rows - 1)
        if tophat[r] >= tophat[r - 1] and tophat[r] > tophat[r + 1] and tophat[r] > 4.0 * spread and tophat[r] > 0.15 * smooth.max()
    ]
    # a line must run across the image, not be a bright spot: its row is bright over most of the width
    peaks = [r for r in peaks if np.mean(cut[r] > background[r]) > 0.6]
    pad = int(round(0.8 / mm_per_row))
    full = (x0, y0 + near, x1, y1)
    if not peaks:
        return Layer(full, None, None, "muscle layer not found (no fascia line): the whole image below the skin analysed")
    top = peaks[0]
    deeper = [r for r in peaks if (r - top) * mm_per_row >= MIN_THICKNESS_MM]
    if not deeper:
        return Layer((x0, y0 + top + pad, x1, y1), top, None, "deep aponeurosis not found: analysed from the superficial fascia to the bottom of the image")
    bottom = deeper[-1]
    return Layer((x0, y0 + top + pad, x1, y0 + bottom - pad), top, bottom)
