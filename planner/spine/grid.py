"""A patient-aligned sagittal grid: the frame the spine model sees every series in.

Index axes ``[lateral, row, column]``: lateral towards the patient's left (LPS
+x), rows superior to inferior (-z), columns anterior to posterior (+y). A
sagittal series of any row/column/slice order, an oblique one or one with the
patient turned a few degrees is resampled onto it, so the model sees the spine
upright, facing left, whatever the scanner wrote.

    grid = SagittalGrid.covering(volume, pixel_mm=1.5)
    stack = grid.resample(volume)            # float32 [lateral, row, column]
    lps = grid.index_to_lps @ [column, row, lateral, 1]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from planner.disc.levels import sitk_image
from planner.volume import Volume

#: SimpleITK direction (rows: x, y, z; columns: index axes column, row, lateral) of the grid
_DIRECTION = (0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, -1.0, 0.0)


@dataclass(frozen=True)
class SagittalGrid:
    """``shape`` = (lateral, rows, columns); ``origin_lps`` is the centre of voxel (0, 0, 0)."""

    origin_lps: tuple[float, float, float]
    shape: tuple[int, int, int]
    pixel_mm: float
    lateral_mm: float

    @classmethod
    def covering(
        cls, volume: Volume, pixel_mm: float = 1.5, min_lateral_mm: float = 2.0, max_lateral_mm: float = 6.0
    ) -> "SagittalGrid":
        """The grid over ``volume``'s bounding box in LPS.

        In-plane pixels are ``pixel_mm``. Lateral planes: for a near-sagittal
        series, one through each slice centre (thin slices are thinned to
        ``min_lateral_mm`` apart); otherwise ``min_lateral_mm`` apart.
        """
        k, j, i = volume.shape
        corners = np.array([[a, b, c, 1.0] for a in (0, i - 1) for b in (0, j - 1) for c in (0, k - 1)]) @ volume.image_to_lps.T
        lo, hi = corners[:, :3].min(axis=0), corners[:, :3].max(axis=0)
        slice_axis = volume.axes_lps[:, 2]
        if abs(slice_axis[0]) > np.cos(np.radians(30.0)):
            step = abs(volume.spacing_mm[2] * slice_axis[0])
            step *= max(1, int(np.ceil(min_lateral_mm / step - 1e-6)))
            step = min(step, max_lateral_mm)
        else:
            step = min_lateral_mm
        n_lateral = max(1, int(np.floor((hi[0] - lo[0]) / step + 1e-6)) + 1)
        x0 = (lo[0] + hi[0]) / 2 - (n_lateral - 1) * step / 2
        rows = int(np.floor((hi[2] - lo[2]) / pixel_mm)) + 1
        columns = int(np.floor((hi[1] - lo[1]) / pixel_mm)) + 1
        return cls((float(x0), float(lo[1]), float(hi[2])), (n_lateral, rows, columns), float(pixel_mm), float(step))

    @property
    def index_to_lps(self) -> np.ndarray:
        """4x4: LPS of (column, row, lateral, 1)."""
        affine = np.eye(4)
        affine[:3, 0] = (0.0, self.pixel_mm, 0.0)
        affine[:3, 1] = (0.0, 0.0, -self.pixel_mm)
        affine[:3, 2] = (self.lateral_mm, 0.0, 0.0)
        affine[:3, 3] = self.origin_lps
        return affine

    def reference(self) -> sitk.Image:
        n, rows, columns = (int(v) for v in self.shape)
        image = sitk.Image([columns, rows, n], sitk.sitkFloat32)
        image.SetSpacing([self.pixel_mm, self.pixel_mm, self.lateral_mm])
        image.SetDirection(_DIRECTION)
        image.SetOrigin(self.origin_lps)
        return image

    def resample(self, volume: Volume, labels: bool = False) -> np.ndarray:
        """``volume`` on this grid: float32 (linear, 0 outside), or the nearest label (``labels``)."""
        if labels:
            source = sitk.GetImageFromArray(np.ascontiguousarray(volume.array, dtype=np.uint8))
            source.SetSpacing(volume.spacing_mm)
            source.SetOrigin(volume.origin_lps)
            source.SetDirection(volume.axes_lps.ravel().tolist())
            out = sitk.Resample(source, self.reference(), sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
            return sitk.GetArrayFromImage(out)
        out = sitk.Resample(sitk_image(volume), self.reference(), sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
        return sitk.GetArrayFromImage(out)

    def to_series(self, array: np.ndarray, volume: Volume, linear: bool = True) -> np.ndarray:
        """A float array on this grid resampled onto ``volume``'s voxels [k, j, i] (0 outside the grid)."""
        source = sitk.GetImageFromArray(np.ascontiguousarray(array, dtype=np.float32))
        source.CopyInformation(self.reference())
        target = sitk.Image(list(volume.shape[::-1]), sitk.sitkFloat32)
        target.SetSpacing(volume.spacing_mm)
        target.SetOrigin(volume.origin_lps)
        target.SetDirection(volume.axes_lps.ravel().tolist())
        mode = sitk.sitkLinear if linear else sitk.sitkNearestNeighbor
        return sitk.GetArrayFromImage(sitk.Resample(source, target, sitk.Transform(), mode, 0.0, sitk.sitkFloat32))
