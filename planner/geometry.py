"""Patient-frame geometry: the one place that builds index-to-LPS affines.

Conventions (DICOM PS3.3 C.7.6.2.1.1):

* World coordinates are DICOM patient LPS in millimetres: +x to the patient's
  left, +y posterior, +z superior.
* A voxel index is ``ijk = (i, j, k)`` = (column, row, slice). Numpy arrays are
  indexed ``array[k, j, i]``.
* ImageOrientationPatient holds the row direction (direction of increasing
  column index i) followed by the column direction (increasing row index j).
* ``image_to_lps`` is the 4x4 matrix with ``lps = image_to_lps @ [i, j, k, 1]``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def affine_from_attributes(
    image_position_lps: Sequence[float],
    image_orientation: Sequence[float],
    pixel_spacing_mm: Sequence[float],
    slice_step_lps: Sequence[float] | None = None,
) -> np.ndarray:
    """Return the 4x4 index-to-LPS affine of an image or a stack of slices.

    Args:
        image_position_lps: ImagePositionPatient of the first slice (centre of
            the first transmitted voxel), mm.
        image_orientation: ImageOrientationPatient, six direction cosines:
            row direction then column direction.
        pixel_spacing_mm: PixelSpacing as DICOM stores it: (row spacing, i.e.
            between rows / along j; column spacing, along i).
        slice_step_lps: vector from one slice's position to the next, mm. When
            None (a single slice) the unit normal row x column is used, so the
            third column has length 1 mm.

    Compare highdicom ``spatial.create_affine_matrix_from_attributes``.
    """
    row_dir = np.asarray(image_orientation[:3], dtype=float)
    col_dir = np.asarray(image_orientation[3:6], dtype=float)
    spacing_between_rows, spacing_between_columns = (float(v) for v in pixel_spacing_mm)
    if slice_step_lps is None:
        normal = np.cross(row_dir, col_dir)
        slice_step = normal / np.linalg.norm(normal)
    else:
        slice_step = np.asarray(slice_step_lps, dtype=float)
    affine = np.eye(4)
    affine[:3, 0] = row_dir * spacing_between_columns
    affine[:3, 1] = col_dir * spacing_between_rows
    affine[:3, 2] = slice_step
    affine[:3, 3] = np.asarray(image_position_lps, dtype=float)
    return affine


def slice_normal(image_orientation: Sequence[float]) -> np.ndarray:
    """Unit normal (row direction x column direction) of an image plane."""
    row_dir = np.asarray(image_orientation[:3], dtype=float)
    col_dir = np.asarray(image_orientation[3:6], dtype=float)
    normal = np.cross(row_dir, col_dir)
    return normal / np.linalg.norm(normal)


def orientation_label(image_orientation: Sequence[float], oblique_tolerance_deg: float = 20.0) -> str:
    """Classify an image plane as "SAG", "COR", "AX" or "OBL" from its normal.

    The plane is named by the patient axis its normal lies closest to; if the
    angle to that axis is larger than ``oblique_tolerance_deg`` it is "OBL".
    """
    normal = np.abs(slice_normal(image_orientation))
    axis = int(np.argmax(normal))
    angle_deg = float(np.degrees(np.arccos(np.clip(normal[axis], -1.0, 1.0))))
    if angle_deg > oblique_tolerance_deg:
        return "OBL"
    return ("SAG", "COR", "AX")[axis]


def direction_letters(direction_lps: Sequence[float]) -> str:
    """Patient-direction letters of a vector, strongest first, e.g. (0, 0.2, -1) -> "IP".

    Letters: L/R for x, P/A for y, S/I for z. Components under 0.1 are left out.
    """
    vector = np.asarray(direction_lps, dtype=float)
    axis_letters = (("L", "R"), ("P", "A"), ("S", "I"))
    letters = []
    for axis in np.argsort(-np.abs(vector)):
        if abs(vector[axis]) >= 0.1:
            letters.append(axis_letters[axis][0 if vector[axis] > 0 else 1])
    return "".join(letters)


def ijk_to_lps(image_to_lps: np.ndarray, ijk: np.ndarray) -> np.ndarray:
    """Map index coordinates (..., 3) to LPS mm (..., 3)."""
    ijk = np.asarray(ijk, dtype=float)
    return ijk @ image_to_lps[:3, :3].T + image_to_lps[:3, 3]


def lps_to_ijk(image_to_lps: np.ndarray, lps: np.ndarray) -> np.ndarray:
    """Map LPS mm (..., 3) to continuous index coordinates (..., 3)."""
    inverse = np.linalg.inv(image_to_lps)
    lps = np.asarray(lps, dtype=float)
    return lps @ inverse[:3, :3].T + inverse[:3, 3]


def sample_trilinear(array: np.ndarray, image_to_lps: np.ndarray, lps: np.ndarray, outside: float) -> np.ndarray:
    """``array`` [k, j, i] sampled trilinearly at LPS points (..., 3); ``outside`` beyond its grid."""
    ijk = lps_to_ijk(image_to_lps, lps)
    shape = np.array(array.shape[2::-1])  # (i, j, k) sizes
    inside = np.all((ijk >= 0) & (ijk <= shape - 1), axis=-1)
    result = np.full(ijk.shape[:-1], outside, dtype=float)
    if not inside.any():
        return result
    q = ijk[inside]
    base = np.minimum(np.floor(q).astype(int), shape - 2).clip(0)
    frac = q - base
    value = np.zeros(len(q))
    for corner in range(8):
        offset = np.array([(corner >> a) & 1 for a in range(3)])
        weight = np.prod(np.where(offset, frac, 1 - frac), axis=1)
        index = np.minimum(base + offset, shape - 1)
        value += weight * array[index[:, 2], index[:, 1], index[:, 0]]
    result[inside] = value
    return result


def sample_bilinear(image: np.ndarray, rows, columns, outside: float | None = None) -> np.ndarray:
    """``image`` [row, column] sampled bilinearly at fractional ``rows``, ``columns``: clamped to its edge
    (``outside`` None), or with ``outside`` for the corners beyond it."""
    rows, columns = np.asarray(rows, dtype=float), np.asarray(columns, dtype=float)
    if outside is None:
        rows = np.clip(rows, 0, image.shape[0] - 1.001)
        columns = np.clip(columns, 0, image.shape[1] - 1.001)
    r0, c0 = np.floor(rows).astype(int), np.floor(columns).astype(int)
    fr, fc = rows - r0, columns - c0
    total = np.zeros(rows.shape)
    for dr, dc, weight in ((0, 0, (1 - fr) * (1 - fc)), (1, 0, fr * (1 - fc)), (0, 1, (1 - fr) * fc), (1, 1, fr * fc)):
        r, c = r0 + dr, c0 + dc
        inside = (r >= 0) & (r < image.shape[0]) & (c >= 0) & (c < image.shape[1])
        value = image[np.clip(r, 0, image.shape[0] - 1), np.clip(c, 0, image.shape[1] - 1)]
        total += np.where(inside, value, 0.0 if outside is None else outside) * weight
    return total
