"""Display mapping shared by every view: stored values -> 8-bit for the screen."""

from __future__ import annotations

import numpy as np

from planner.observable import Observable


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


#: Window presets offered in every MR view, in menu order.
PRESETS = ("Auto", "T2 spine", "Bone", "Full range")


def window_preset(name: str, pixels: np.ndarray, modality: str = "MR") -> tuple[float, float]:
    """(center, width) of preset ``name`` for an image whose values are sampled in ``pixels``.

    MR values have no absolute scale, so MR presets are percentiles of the
    non-zero voxels: "T2 spine" keeps fluid (CSF, a hydrated nucleus) bright
    without clipping it and spreads the darker annulus, bone and muscle;
    "Bone" narrows onto the dark half, where cortex, endplates and marrow
    differ. CT uses the usual Hounsfield windows.
    """
    values = pixels[pixels != 0] if np.any(pixels) else pixels.ravel()
    if values.size == 0:
        return 0.5, 1.0
    if name == "Full range":
        low, high = float(pixels.min()), float(pixels.max())
    elif modality == "CT" and name == "Bone":
        return 400.0, 2000.0
    elif modality == "CT" and name == "T2 spine":
        return 40.0, 400.0  # soft tissue
    elif name == "T2 spine":
        low, high = np.percentile(values, [1.0, 99.9])
    elif name == "Bone":
        low, high = np.percentile(values, [1.0, 70.0])
    elif name == "Auto":
        return auto_window(pixels)
    else:
        raise ValueError(f"unknown window preset {name!r}; choose one of {', '.join(PRESETS)}")
    width = max(float(high - low), 1e-6)
    return float(low) + width / 2, width


class WindowLevel(Observable):
    """The window of one image shared by the views that show it; listeners hear changes."""

    def __init__(self, center: float, width: float) -> None:
        self.center = float(center)
        self.width = max(float(width), 1e-6)

    def set(self, center: float, width: float) -> None:
        center, width = float(center), max(float(width), 1e-6)
        if (center, width) != (self.center, self.width):
            self.center, self.width = center, width
            self._notify()


#: Colour of a disc displacement d(theta), in mm: calm blue within the outline, yellow at a
#: protrusion's usual size, red from 6 mm. Shared by the 3D disc surface and the findings panel.
DISPLACEMENT_COLOR_STOPS = (
    (0.0, (0.45, 0.62, 0.80)),
    (1.5, (0.45, 0.78, 0.55)),
    (3.0, (0.98, 0.85, 0.25)),
    (6.0, (0.92, 0.22, 0.12)),
)


def displacement_color(d_mm) -> np.ndarray:
    """RGB in 0..1 for displacement(s) ``d_mm`` (scalar or array; last axis of the result is RGB)."""
    stops = np.array([s for s, _ in DISPLACEMENT_COLOR_STOPS])
    colours = np.array([c for _, c in DISPLACEMENT_COLOR_STOPS])
    d = np.clip(np.asarray(d_mm, float), stops[0], stops[-1])
    return np.stack([np.interp(d, stops, colours[:, c]) for c in range(3)], axis=-1)
