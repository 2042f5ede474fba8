"""Lumbar disc localisation on a sagittal T2 series (first stage of level finding, issue 4).

Work in progress: this module finds the chain of intervertebral discs in the
mid-sagittal plane. On the five real studies in ../shared/lumbar-mri it finds
the discs from the lower thoracic spine down to L3-L4 or L4-L5, but not yet
the strongly tilted, often degenerated L4-L5 and L5-S1 discs, whose edge
scores are weak; labelling the levels (counting up from the sacrum) builds on
it and is not done yet.

How it works, in the patient frame whatever the series' row/column order:

1. :func:`midsagittal` resamples a slab around the series centre onto a 1 mm
   grid whose rows run superior -> inferior and columns anterior -> posterior,
   and divides by a heavily smoothed copy (intensity inhomogeneity).
2. :func:`disc_candidates` scores, for endplate tilts from -50 to +50 degrees,
   a pair of opposite edges 4-16 mm apart along the tilt's normal, smoothed
   along the endplate: a disc differs from the bodies above and below it,
   brighter (hydrated) or darker (degenerated), with the same sign rule.
3. :func:`disc_chain` links candidates by dynamic programming into the chain a
   spine makes: consecutive discs 22-52 mm apart, each step nearly along the
   discs' normals, smooth in direction, tilt and spacing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from planner.volume import Volume

TILTS_DEG = tuple(range(-50, 51, 10))
DISC_HEIGHTS_MM = tuple(range(4, 17, 2))
PIXEL_MM = 1.0


@dataclass(frozen=True)
class MidSagittal:
    """A mid-sagittal image: ``pixels[row, column]``, rows S -> I, columns A -> P, ``PIXEL_MM`` apart.

    ``to_lps(row, column)`` gives the LPS point of a pixel (x = the slab centre).
    """

    pixels: np.ndarray
    x_mm: float
    top_z_mm: float
    anterior_y_mm: float

    def to_lps(self, row: float, column: float) -> np.ndarray:
        return np.array([self.x_mm, self.anterior_y_mm + column * PIXEL_MM, self.top_z_mm - row * PIXEL_MM])


@dataclass(frozen=True)
class DiscCandidate:
    """A disc found in the mid-sagittal image: centre (row, column), tilt (degrees) and score."""

    row: float
    column: float
    tilt_deg: float
    score: float

    def normal_rc(self) -> np.ndarray:
        """Unit normal (row, column) of the disc plane, pointing inferior."""
        angle = np.radians(self.tilt_deg)
        return np.array([np.cos(angle), -np.sin(angle)])


def _sitk_volume(volume: Volume) -> sitk.Image:
    image = sitk.GetImageFromArray(np.ascontiguousarray(volume.array, dtype=np.float32))
    image.SetSpacing(volume.spacing_mm)
    image.SetOrigin(volume.origin_lps)
    image.SetDirection(volume.axes_lps.ravel().tolist())
    return image


def midsagittal(volume: Volume, slab_mm: float = 6.0) -> MidSagittal:
    """The bias-normalised mean of a ``slab_mm`` slab through the centre of ``volume``, in the patient frame."""
    k, j, i = volume.shape
    grid = np.array([[a, b, c] for a in (0, i - 1) for b in (0, j - 1) for c in (0, k - 1)], dtype=float)
    corners = grid @ volume.image_to_lps[:3, :3].T + volume.image_to_lps[:3, 3]
    center = corners.mean(axis=0)
    y0, y1 = corners[:, 1].min(), corners[:, 1].max()
    z0, z1 = corners[:, 2].min(), corners[:, 2].max()
    n_x = max(1, int(round(slab_mm)))
    reference = sitk.Image([int((y1 - y0) / PIXEL_MM) + 1, int((z1 - z0) / PIXEL_MM) + 1, n_x], sitk.sitkFloat32)
    # output index axes: column -> +y (posterior), row -> -z (inferior), slab -> +x
    reference.SetDirection([0, 0, 1, 1, 0, 0, 0, -1, 0])
    reference.SetSpacing([PIXEL_MM, PIXEL_MM, 1.0])
    reference.SetOrigin([center[0] - (n_x - 1) / 2, y0, z1])
    slab = sitk.GetArrayFromImage(sitk.Resample(_sitk_volume(volume), reference, sitk.Transform(), sitk.sitkLinear, 0.0))
    image = slab.mean(axis=0)
    smooth = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(sitk.GetImageFromArray(image), 20.0))
    floor = 0.2 * float(np.percentile(image, 50)) + 1e-6
    normalised = image / (smooth + floor)
    normalised /= max(float(np.percentile(normalised, 99)), 1e-6)
    return MidSagittal(normalised.astype(np.float32), float(center[0]), float(z1), float(y0))


def _rotated(pixels: np.ndarray, degrees: float) -> np.ndarray:
    image = sitk.GetImageFromArray(pixels.astype(np.float32))
    center = image.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2 for s in image.GetSize()])
    transform = sitk.Euler2DTransform()
    transform.SetCenter(center)
    transform.SetAngle(np.radians(degrees))
    return sitk.GetArrayFromImage(sitk.Resample(image, image, transform, sitk.sitkLinear, 0.0))


def disc_score_maps(pixels: np.ndarray, tilts=TILTS_DEG) -> np.ndarray:
    """Disc score per tilt: array [len(tilts), rows, columns] (see the module docstring)."""
    order = sitk.RecursiveGaussianImageFilter
    maps = np.zeros((len(tilts), *pixels.shape), dtype=np.float32)
    for n, tilt in enumerate(tilts):
        turned = sitk.GetImageFromArray(_rotated(pixels, tilt))
        edges = sitk.RecursiveGaussian(turned, 1.5, False, order.FirstOrder, 1)  # across the endplate
        edges = sitk.GetArrayFromImage(sitk.RecursiveGaussian(edges, 8.0, False, order.ZeroOrder, 0))  # along it
        score = np.zeros_like(edges)
        for height in DISC_HEIGHTS_MM:
            upper = np.roll(edges, height // 2, axis=0)
            lower = np.roll(edges, -(height - height // 2), axis=0)
            score = np.maximum(score, np.where(upper * lower < 0, np.minimum(np.abs(upper), np.abs(lower)), 0.0))
        maps[n] = _rotated(score, -tilt)
    return maps


def disc_score(pixels: np.ndarray, tilts=TILTS_DEG) -> tuple[np.ndarray, np.ndarray]:
    """Best disc score over ``tilts`` per pixel, and the tilt (degrees) that gives it."""
    maps = disc_score_maps(pixels, tilts)
    best = maps.argmax(axis=0)
    return np.take_along_axis(maps, best[None], axis=0)[0], np.asarray(tilts, dtype=np.float32)[best]


def disc_candidates(pixels: np.ndarray, radius_px: int = 7, limit: int = 150) -> list[DiscCandidate]:
    """Local maxima of :func:`disc_score` (one per ``radius_px``), strongest first."""
    score, tilt = disc_score(pixels)
    dilated = sitk.GetArrayFromImage(sitk.GrayscaleDilate(sitk.GetImageFromArray(score), [radius_px] * 2, sitk.sitkBall))
    peaks = np.argwhere((score >= dilated - 1e-9) & (score > np.percentile(score, 90)))
    values = score[peaks[:, 0], peaks[:, 1]]
    order = np.argsort(-values)[:limit]
    return [DiscCandidate(float(r), float(c), float(tilt[r, c]), float(score[r, c])) for r, c in peaks[order]]


def disc_chain(
    candidates: list[DiscCandidate],
    spacing_mm: tuple[float, float] = (22.0, 52.0),
    max_axis_angle_deg: float = 25.0,
    max_tilt_change_deg: float = 25.0,
    max_turn_deg: float = 30.0,
) -> list[DiscCandidate]:
    """The best-scoring chain of discs, superior to inferior (dynamic programming over candidates)."""
    ordered = sorted(candidates, key=lambda c: c.row)
    n = len(ordered)
    if n == 0:
        return []
    points = np.array([[c.row, c.column] for c in ordered]) * PIXEL_MM
    normals = np.array([c.normal_rc() for c in ordered])
    total = np.array([c.score for c in ordered])
    previous = -np.ones(n, dtype=int)
    cos_axis, cos_turn = np.cos(np.radians(max_axis_angle_deg)), np.cos(np.radians(max_turn_deg))
    for b in range(n):
        for a in range(b):
            step = points[b] - points[a]
            distance = float(np.hypot(*step))
            if not spacing_mm[0] <= distance <= spacing_mm[1] or step[0] <= 0:
                continue
            direction = step / distance
            if abs(direction @ normals[a]) < cos_axis or abs(direction @ normals[b]) < cos_axis:
                continue
            if abs(ordered[a].tilt_deg - ordered[b].tilt_deg) > max_tilt_change_deg:
                continue
            if previous[a] >= 0:
                before = points[a] - points[previous[a]]
                length = float(np.hypot(*before))
                if direction @ before / length < cos_turn or not 0.7 < distance / length < 1.45:
                    continue
            if total[a] + ordered[b].score > total[b]:
                total[b] = total[a] + ordered[b].score
                previous[b] = a
    end = int(np.argmax(total))
    chain = []
    while end >= 0:
        chain.append(ordered[end])
        end = int(previous[end])
    return chain[::-1]


def find_disc_chain(volume: Volume) -> tuple[MidSagittal, list[DiscCandidate]]:
    """Mid-sagittal image and the chain of discs found in it (superior to inferior)."""
    image = midsagittal(volume)
    return image, disc_chain(disc_candidates(image.pixels))
