"""The model's maps as 3D parts: each connected body or disc on the model's grid, its voxels and geometry.

:func:`find_parts` turns the spine model's probability maps (:mod:`planner.spine.model`) into
:class:`Part` objects (an L5 component split where it runs on into a neighbour through a neck);
:mod:`planner.spine.anatomy` names them, and :class:`SpineLabels` holds the named parts of a series.
:func:`part_probability` and :func:`part_on_series` put a part back on the model's grid or a series.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from planner.spine.grid import SagittalGrid
from planner.spine.model import BODY, DISC, L5

#: parts smaller than this are noise (ml); a lumbar body is 25-60 ml, a disc 4-20 ml
MIN_BODY_ML = 2.0
MIN_DISC_ML = 0.3


@dataclass(eq=False)
class Part:
    """A body or disc the model found: its voxels on the grid (a box and a mask within it) and geometry."""

    kind: str  # "body" or "disc"
    label: int  # the model output it was found in (L5, BODY or DISC): its probability map
    box: tuple[slice, slice, slice]
    mask: np.ndarray
    centre_lps: np.ndarray
    axis_lps: np.ndarray  # unit, superior: a body's long axis, a disc's normal
    volume_ml: float
    probability: float  # mean probability of its class over its voxels
    name: str = ""
    #: the outputs whose highest probability is the part's map (:func:`part_probability`); () is ``(label,)``
    outputs: tuple[int, ...] = ()

    def full_mask(self, shape) -> np.ndarray:
        out = np.zeros(shape, bool)
        out[self.box] = self.mask
        return out


@dataclass
class SpineLabels:
    """The named parts of one series (``parts``: inferior first) and how sure the count is."""

    grid: SagittalGrid
    probabilities: np.ndarray  # float32 [class, lateral, row, column]
    parts: list[Part]
    confidence: str
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def part(self, name: str) -> Part | None:
        return next((p for p in self.parts if p.name == name), None)

    @property
    def discs(self) -> list[Part]:
        return [p for p in self.parts if p.kind == "disc"]

    @property
    def bodies(self) -> list[Part]:
        return [p for p in self.parts if p.kind == "body"]


def _components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    image = sitk.ConnectedComponent(sitk.GetImageFromArray(mask.astype(np.uint8)), True)
    image = sitk.RelabelComponent(image)  # largest first
    labels = sitk.GetArrayFromImage(image)
    return labels, int(labels.max())


def _lps(grid: SagittalGrid, index: np.ndarray) -> np.ndarray:
    """LPS points (mm) of grid indices [lateral, row, column]."""
    return (np.c_[index[:, 2], index[:, 1], index[:, 0], np.ones(len(index))] @ grid.index_to_lps.T)[:, :3]


def _geometry(grid: SagittalGrid, mask: np.ndarray, box, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(centre LPS, superior unit axis): a body's least spread direction or a disc's normal, from its voxels."""
    points = _lps(grid, np.argwhere(mask).astype(float) + np.array([b.start for b in box], float))
    centre = points.mean(axis=0)
    if len(points) < 4:
        return centre, np.array([0.0, 0.0, 1.0])
    values, vectors = np.linalg.eigh(np.cov((points - centre).T))
    axis = vectors[:, 0]
    if len(np.unique(np.argwhere(mask)[:, 0])) == 1:
        # seen in one lateral plane: no spread across it, so its least spread direction lies within the plane
        plane = vectors[:, 1:]  # the plane's two directions (the zero-spread one, across it, was vectors[:, 0])
        _, within_plane = np.linalg.eigh(np.cov(((points - centre) @ plane).T))
        axis = plane @ within_plane[:, 0]
    return centre, axis if axis[2] >= 0 else -axis


def find_parts(grid: SagittalGrid, probabilities: np.ndarray) -> list[Part]:
    """Every L5 body, other body and disc in the model's maps (each voxel in one: L5 before body before
    disc, at probability one half), largest first within each."""
    l5 = probabilities[L5] >= 0.5
    body = (probabilities[BODY] >= 0.5) & ~l5
    disc = (probabilities[DISC] >= 0.5) & ~l5 & ~body
    voxel_ml = grid.pixel_mm**2 * grid.lateral_mm / 1000.0
    parts = []
    for label, kind, mask, smallest in ((L5, "body", l5, MIN_BODY_ML), (BODY, "body", body, MIN_BODY_ML), (DISC, "disc", disc, MIN_DISC_ML)):
        labels, count = _components(mask)
        # each component's size and box in one pass over the grid each (not a pass per component)
        sizes = np.bincount(labels.ravel(), minlength=count + 1)
        boxes = ndimage.find_objects(labels)
        for n in range(1, count + 1):
            volume = int(sizes[n]) * voxel_ml
            if volume < smallest:
                break  # relabelled largest first
            box = boxes[n - 1]
            part_mask = labels[box] == n
            pieces = _split_at_necks(grid, part_mask) if label == L5 else [part_mask]
            for piece in pieces[:1] + [p for p in pieces[1:] if p.sum() * voxel_ml >= smallest]:
                centre, axis = _geometry(grid, piece, box, kind)
                probability = float(probabilities[label][box][piece].mean())
                parts.append(Part(kind, label, box, piece, centre, axis, float(piece.sum()) * voxel_ml, probability))
    # within each output largest first (a split L5 component's pieces among the rest)
    order = {L5: 0, BODY: 1, DISC: 2}
    return sorted(parts, key=lambda p: (order[p.label], -p.volume_ml))


#: the model's L5 output can run on from the L5 body into a neighbouring one through a neck of partial volume
#: across the disc (on vb2-13 left out, L5 took in a slice of L4: 1.6 of its 36 ml): pieces of an L5 component
#: that an erosion of this radius (mm) separates are separate bodies; a body is a compact bone, some 30 mm
#: across, that such an erosion leaves whole
NECK_MM = 3.0
#: a piece the erosion leaves at least this big (ml) is a body; smaller ones are the rim of the others
PIECE_ML = 1.0


def _split_at_necks(grid: SagittalGrid, mask: np.ndarray) -> list[np.ndarray]:
    """``mask`` (one connected component of L5 signal) split where an erosion by ``NECK_MM`` separates it into
    pieces of at least ``PIECE_ML``: each voxel goes with the nearest piece, largest first. ``[mask]`` when it
    holds one body."""
    spacing = np.array([grid.lateral_mm, grid.pixel_mm, grid.pixel_mm])
    eroded = ndimage.binary_erosion(mask, _ellipsoid(NECK_MM / spacing))
    labels, count = ndimage.label(eroded, structure=np.ones((3, 3, 3)))
    if count < 2:
        return [mask]
    voxel_ml = float(np.prod(spacing)) / 1000.0
    sizes = ndimage.sum(eroded, labels, range(1, count + 1)) * voxel_ml
    kept = [n + 1 for n in np.argsort(-sizes) if sizes[n] >= PIECE_ML]
    if len(kept) < 2:
        return [mask]
    seeds = np.where(np.isin(labels, kept), labels, 0)
    _, nearest = ndimage.distance_transform_edt(seeds == 0, sampling=spacing, return_indices=True)
    owner = seeds[tuple(nearest)]
    return [mask & (owner == n) for n in kept]


def _ellipsoid(radius: np.ndarray) -> np.ndarray:
    """A structuring element: the voxels within ``radius`` (voxels, per axis) of the centre."""
    reach = np.ceil(radius).astype(int)
    offsets = np.mgrid[tuple(slice(-r, r + 1) for r in reach)]
    return sum((o / max(r, 1e-6)) ** 2 for o, r in zip(offsets, radius)) <= 1.0


def part_points(grid: SagittalGrid, part: Part) -> tuple[np.ndarray, np.ndarray]:
    """(grid indices [lateral, row, column], LPS points) of ``part``'s voxels."""
    index = np.argwhere(part.mask) + np.array([b.start for b in part.box])
    return index, _lps(grid, index)


def _remasked(grid: SagittalGrid, part: Part, box, mask: np.ndarray, outputs: tuple[int, ...]) -> Part:
    """``part`` with the voxels ``mask`` within ``box`` (and the outputs its map is taken from), its geometry and
    volume recomputed."""
    centre, axis = _geometry(grid, mask, box, part.kind)
    voxel_ml = grid.pixel_mm**2 * grid.lateral_mm / 1000.0
    return Part(part.kind, part.label, box, mask, centre, axis, float(mask.sum()) * voxel_ml, part.probability, outputs=outputs)


def _subset(grid: SagittalGrid, part: Part, index: np.ndarray, keep: np.ndarray) -> Part:
    """``part`` with only its voxels ``index[keep]`` (itself when all or none are kept), geometry recomputed."""
    if keep.all() or not keep.any():
        return part
    mask = np.zeros_like(part.mask)
    kept = index[keep] - np.array([b.start for b in part.box])
    mask[tuple(kept.T)] = True
    return _remasked(grid, part, part.box, mask, part.outputs)


def part_probability(spine: SpineLabels, part: Part) -> np.ndarray:
    """The model's probability map of ``part``'s output on the whole grid, kept within the part and one voxel
    around it (so that resampling keeps the one-half crossing where it is), 0 elsewhere."""
    probability = np.zeros(spine.grid.shape, np.float32)
    lo = [max(b.start - 1, 0) for b in part.box]
    hi = [min(b.stop + 1, n) for b, n in zip(part.box, spine.grid.shape)]
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    mask = np.zeros(tuple(b - a for a, b in zip(lo, hi)), bool)
    mask[tuple(slice(b.start - a, b.stop - a) for b, a in zip(part.box, lo))] = part.mask
    grown = sitk.GetArrayFromImage(sitk.BinaryDilate(sitk.GetImageFromArray(mask.astype(np.uint8)), [1, 1, 1])) > 0
    within = np.max([spine.probabilities[output][box] for output in part.outputs or (part.label,)], axis=0)
    probability[box] = np.where(grown, within, 0.0)
    return probability


def part_on_series(spine: SpineLabels, part: Part, volume) -> np.ndarray:
    """``part`` on ``volume``'s voxels [k, j, i]: its probability resampled (linear) from the model's grid, at
    least one half."""
    # only the series' voxels around the part are resampled (the whole series took 0.1 s a part on 77 x 381 x 381)
    corners = np.array([[c, r, l, 1.0] for l in (part.box[0].start - 1, part.box[0].stop)
                        for r in (part.box[1].start - 1, part.box[1].stop) for c in (part.box[2].start - 1, part.box[2].stop)])
    out = np.zeros(volume.shape, bool)
    window = volume.window((corners @ spine.grid.index_to_lps.T)[:, :3], margin=2)
    if window is not None:
        slices, sub = window
        out[slices] = spine.grid.to_series(part_probability(spine, part), sub) >= 0.5
    return out


#: a point within this distance of a disc part's voxels lies in that disc (mm; the model's 1.5 mm pixels)
IN_DISC_MM = 4.0


def distance_to_part_mm(grid: SagittalGrid, part: Part, point_lps) -> float:
    """How far ``point_lps`` lies from ``part``'s nearest voxel centre (mm)."""
    _, points = part_points(grid, part)
    return float(np.min(np.linalg.norm(points - np.asarray(point_lps, float), axis=1))) if len(points) else np.inf
