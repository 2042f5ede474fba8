"""Tissue motion between consecutive frames, with the probe's and the limb's global motion removed.

Dense optical flow comes from OpenCV's DIS (Kroeger et al., ECCV 2016), which
tracks ultrasound speckle to a fraction of a pixel in about a millisecond per
frame. The flow is averaged in square blocks of about 2 mm; a robust affine fit
to the block vectors (iteratively reweighted, Tukey) is the global motion (probe
drift, slip, hand tremor, the whole muscle shortening), and what is left is the
local motion a fasciculation makes. Everything is in millimetres through the
region calibration.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Edge of the averaging blocks.
BLOCK_MM = 2.0


@dataclass(frozen=True)
class Grid:
    """The analysed rectangle of the image, cut into blocks."""

    x0: int
    y0: int
    block_px: int
    ny: int
    nx: int
    mm_per_px_x: float
    mm_per_px_y: float

    @property
    def width_px(self) -> int:
        return self.nx * self.block_px

    @property
    def height_px(self) -> int:
        return self.ny * self.block_px

    def block_centre_px(self, by: float, bx: float) -> tuple[float, float]:
        """Image (x, y) of the centre of block (by, bx) (fractional blocks allowed)."""
        return self.x0 + (bx + 0.5) * self.block_px - 0.5, self.y0 + (by + 0.5) * self.block_px - 0.5

    @property
    def block_area_mm2(self) -> float:
        return self.block_px**2 * self.mm_per_px_x * self.mm_per_px_y


def make_grid(rect: tuple[int, int, int, int], mm_per_px_x: float, mm_per_px_y: float) -> Grid:
    """Blocks of about BLOCK_MM covering ``rect`` = (x0, y0, x1, y1) inclusive, centred in it."""
    x0, y0, x1, y1 = rect
    block = max(4, int(round(BLOCK_MM / max(min(mm_per_px_x, mm_per_px_y), 1e-6))))
    nx = (x1 - x0 + 1) // block
    ny = (y1 - y0 + 1) // block
    if nx < 3 or ny < 2:
        raise ValueError(f"the analysed area ({x1 - x0 + 1} x {y1 - y0 + 1} pixels) is too small: at least 3 x 2 blocks of {block} pixels")
    ox = x0 + ((x1 - x0 + 1) - nx * block) // 2
    oy = y0 + ((y1 - y0 + 1) - ny * block) // 2
    return Grid(ox, oy, block, ny, nx, mm_per_px_x, mm_per_px_y)


class MotionTracker:
    """Feed frames in order; each call returns the local (residual) block motion since the last frame.

    ``weights`` (ny, nx) says which blocks to trust in the global fit (0 for
    blocks without texture or with colour); ``global_step_mm`` of the last call
    is the global translation at the grid's centre.
    """

    def __init__(self, grid: Grid, weights: np.ndarray | None = None) -> None:
        self.grid = grid
        self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        self._previous: np.ndarray | None = None
        self.weights = np.ones((grid.ny, grid.nx), np.float64) if weights is None else weights.astype(np.float64)
        by, bx = np.mgrid[0 : grid.ny, 0 : grid.nx]
        cx, cy = (grid.nx - 1) / 2, (grid.ny - 1) / 2
        # design matrix of an affine field in block units, centred (the constant is the centre's motion)
        self._design = np.stack([np.ones(by.size), (bx.ravel() - cx) / max(cx, 1), (by.ravel() - cy) / max(cy, 1)], axis=1)
        self.global_step_mm = (0.0, 0.0)
        self._sizer = None

    def crop(self, frame: np.ndarray) -> np.ndarray:
        g = self.grid
        return frame[g.y0 : g.y0 + g.height_px, g.x0 : g.x0 + g.width_px]

    def residual_between(self, before: np.ndarray, after: np.ndarray) -> np.ndarray:
        """Local motion (ny, nx, 2) mm from frame ``before`` to ``after`` directly, measured for size: with less
        smoothing than tracking uses (variational alpha 5 instead of the preset's 20, which flattens a
        small displaced patch to about 70 % of its size; 5 keeps about 90 %, but is too noisy to detect with)."""
        if self._sizer is None:
            self._sizer = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
            self._sizer.setVariationalRefinementAlpha(5.0)
            self._sizer.setVariationalRefinementIterations(5)
        flow = self._sizer.calc(np.ascontiguousarray(self.crop(before)), np.ascontiguousarray(self.crop(after)), None)
        return self._residual(flow)[0]

    def _residual(self, flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(local motion (ny, nx, 2) mm, the fitted affine's parameters (3, 2): centre motion, x and y gradients)."""
        g = self.grid
        blocks = flow.reshape(g.ny, g.block_px, g.nx, g.block_px, 2).mean(axis=(1, 3))
        blocks = blocks * np.array([g.mm_per_px_x, g.mm_per_px_y], np.float32)
        vectors = blocks.reshape(-1, 2).astype(np.float64)
        fitted, params = _robust_affine(self._design, vectors, self.weights.ravel())
        return (vectors - fitted).reshape(g.ny, g.nx, 2).astype(np.float32), params

    def step(self, grey: np.ndarray) -> np.ndarray | None:
        """``grey``: the whole frame (uint8). Returns (ny, nx, 2) residual motion in mm (x, y), or None for the first frame."""
        current = np.ascontiguousarray(self.crop(grey))
        previous, self._previous = self._previous, current
        if previous is None:
            return None
        residual, params = self._residual(self._flow.calc(previous, current, None))
        self.global_step_mm = (float(params[0, 0]), float(params[0, 1]))
        return residual


def _robust_affine(design: np.ndarray, vectors: np.ndarray, weights: np.ndarray, iterations: int = 3):
    """Least-squares affine field of ``vectors`` with Tukey reweighting, so that a twitch does not bend it."""
    w = weights.copy()
    params = np.zeros((design.shape[1], 2))
    for _ in range(iterations + 1):
        sw = np.sqrt(w)[:, None]
        if np.count_nonzero(w) < design.shape[1] + 1:
            break
        params, *_ = np.linalg.lstsq(design * sw, vectors * sw, rcond=None)
        residual = np.linalg.norm(vectors - design @ params, axis=1)
        scale = 1.4826 * np.median(residual[weights > 0]) + 1e-6
        c = 4.685 * scale
        w = weights * np.where(residual < c, (1 - (residual / c) ** 2) ** 2, 0.0)
    return design @ params, params
