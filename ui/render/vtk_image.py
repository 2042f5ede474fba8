"""Planner volumes as VTK image data placed in LPS, without copying the voxels."""

from __future__ import annotations

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkCommonMath import vtkMatrix4x4

from planner.volume import Volume


class VtkVolume:
    """A :class:`Volume` as ``image`` (voxel grid with spacing) and ``matrix`` (rotation + origin to LPS).

    VTK shares the numpy buffer; this object keeps the array alive as long as
    VTK may read it.
    """

    def __init__(self, volume: Volume) -> None:
        self.volume = volume
        array = volume.array
        if array.ndim == 4:  # colour: VTK wants (points, components)
            flat = np.ascontiguousarray(array).reshape(-1, array.shape[3])
        else:
            flat = np.ascontiguousarray(array).reshape(-1)
        self._keep = flat
        k, j, i = volume.shape
        spacing = volume.spacing_mm
        self.image = vtkImageData()
        self.image.SetDimensions(i, j, k)
        self.image.SetSpacing(*spacing)
        self.image.SetOrigin(0.0, 0.0, 0.0)
        self.image.GetPointData().SetScalars(numpy_to_vtk(flat, deep=False))
        rotation = volume.image_to_lps[:3, :3] / np.array(spacing)
        self.matrix = vtkMatrix4x4()
        for r in range(3):
            for c in range(3):
                self.matrix.SetElement(r, c, float(rotation[r, c]))
            self.matrix.SetElement(r, 3, float(volume.image_to_lps[r, 3]))

    @property
    def bounds_corners_lps(self) -> np.ndarray:
        """The 8 corners of the voxel-centre box in LPS (8 x 3)."""
        k, j, i = self.volume.shape
        corners = np.array([[a, b, c] for a in (0, i - 1) for b in (0, j - 1) for c in (0, k - 1)], dtype=float)
        return corners @ self.volume.image_to_lps[:3, :3].T + self.volume.image_to_lps[:3, 3]
