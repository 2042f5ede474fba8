"""Mask helpers shared by the segmentation steps: smoothing, 2-D and 3-D morphology, components, distances."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import SimpleITK as sitk

from planner.volume import Volume

#: the disc frame's grid step (mm): every mask and distance here is on it
STEP_MM = 0.5


def _smoothed(array: np.ndarray, sigma_mm: float) -> np.ndarray:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing([STEP_MM] * array.ndim)
    return sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(image, sigma_mm))


def _largest_component_2d(mask: np.ndarray) -> np.ndarray:
    if not mask.any():
        return mask
    labels = sitk.GetArrayFromImage(sitk.RelabelComponent(sitk.ConnectedComponent(sitk.GetImageFromArray(mask.astype(np.uint8)))))
    return labels == 1


def _fill_holes_2d(mask: np.ndarray) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.BinaryFillhole(sitk.GetImageFromArray(mask.astype(np.uint8)))) > 0


def _morph(mask: np.ndarray, radius: int, operation: str) -> np.ndarray:
    """Binary opening, closing or dilation by a ball of ``radius`` voxels, on the mask's bounding box only."""
    if not mask.any():
        return np.zeros(mask.shape, bool)
    nonzero = np.nonzero(mask)
    box = tuple(slice(max(0, int(i.min()) - 2 * radius - 1), int(i.max()) + 2 * radius + 2) for i in nonzero)
    result = np.zeros(mask.shape, bool)
    result[box] = _morph_array(mask[box], radius, operation)
    return result


def _morph_array(mask: np.ndarray, radius: int, operation: str) -> np.ndarray:
    image = sitk.GetImageFromArray(mask.astype(np.uint8))
    dims = mask.ndim
    if operation == "open":
        image = sitk.BinaryMorphologicalOpening(image, [radius] * dims)
    elif operation == "close":
        image = sitk.BinaryMorphologicalClosing(image, [radius] * dims)
    elif operation == "dilate":
        image = sitk.BinaryDilate(image, [radius] * dims)
    return sitk.GetArrayFromImage(image) > 0


def _ones_like(volume: Volume) -> Volume:
    return replace(volume, array=np.ones(volume.shape, np.float32))


def _erode_3d(mask: np.ndarray, radius: int) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.BinaryErode(sitk.GetImageFromArray(mask.astype(np.uint8)), [radius] * 3)) > 0


def _extent_mm(mask: np.ndarray) -> float:
    """The largest distance between two pixels of a 2D mask (mm; 0 when empty)."""
    points = np.argwhere(mask)
    if len(points) < 2:
        return float(len(points)) * STEP_MM
    if len(points) > 400:
        points = points[:: len(points) // 400 + 1]
    differences = points[:, None, :] - points[None, :, :]
    return float(np.sqrt((differences**2).sum(axis=-1)).max()) * STEP_MM + STEP_MM


def comes_within(piece: np.ndarray, other: np.ndarray, mm: float) -> bool:
    """Whether ``other`` comes within ``mm`` of ``piece`` (3D masks in the disc frame), on ``piece``'s bounding
    box only (a small piece beside a large mask)."""
    radius = int(round(mm / STEP_MM))
    box = tuple(slice(max(0, int(i.min()) - radius), int(i.max()) + radius + 1) for i in np.nonzero(piece))
    return bool((_morph_array(piece[box], radius, "dilate") & other[box]).any())


def _at_least(mask: np.ndarray, volume_mm3: float) -> np.ndarray:
    """The connected components (26-connected) of ``mask`` of at least ``volume_mm3``."""
    image = sitk.ConnectedComponent(sitk.GetImageFromArray(mask.astype(np.uint8)), True)
    smallest = int(np.ceil(volume_mm3 / STEP_MM**3))
    return sitk.GetArrayFromImage(sitk.RelabelComponent(image, minimumObjectSize=smallest)) > 0


def _connected_to(mask: np.ndarray, seeds: np.ndarray, fully_connected: bool = True) -> np.ndarray:
    """The components of ``mask`` that contain a seed (fully connected: 8 in 2D, 26 in 3D; else 4 / 6)."""
    image = sitk.GetImageFromArray(mask.astype(np.uint8))
    labels = sitk.GetArrayFromImage(sitk.ConnectedComponent(image, fully_connected))
    touching = np.unique(labels[seeds & mask])
    return np.isin(labels, touching[touching > 0])


def distance_outside_mm(mask: np.ndarray) -> np.ndarray:
    """Distance (mm) of each pixel from ``mask`` (negative inside)."""
    image = sitk.GetImageFromArray(mask.astype(np.uint8))
    # SimpleITK's default is the squared distance: ask for the distance itself
    distance = sitk.SignedMaurerDistanceMap(image, insideIsPositive=False, squaredDistance=False, useImageSpacing=False)
    return sitk.GetArrayFromImage(distance) * STEP_MM


def ray_pixels(shape, centre, angles: np.ndarray, radii_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, columns, inside), each [ray, sample]: the nearest pixel of a [posterior, lateral] plane of ``shape``
    at ``radii_mm`` from ``centre`` (row, column index) along each of ``angles`` (radians, 0 posterior, +pi/2
    the patient's left), and whether it lies in the plane (rows and columns are not clipped)."""
    rows = np.rint(centre[0] + radii_mm[None, :] / STEP_MM * np.cos(angles)[:, None]).astype(int)
    columns = np.rint(centre[1] + radii_mm[None, :] / STEP_MM * np.sin(angles)[:, None]).astype(int)
    inside = (rows >= 0) & (rows < shape[0]) & (columns >= 0) & (columns < shape[1])
    return rows, columns, inside


def _erode2d(mask: np.ndarray, radius: int) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.BinaryErode(sitk.GetImageFromArray(mask.astype(np.uint8)), [radius] * mask.ndim)) > 0


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """The Dice overlap of two boolean masks on the same grid (0 when both are empty)."""
    return 2.0 * float((a & b).sum()) / max(float(a.sum() + b.sum()), 1.0)
