"""Training data for the spine model: the shared lumbar MRIs (and phantoms) on a 1 mm canonical grid.

Each study of ``../shared/lumbar-mri`` is resampled onto
:class:`planner.spine.grid.SagittalGrid` at 1 mm (rows S->I, columns A->P,
lateral towards the left), with its vertebral-body labels (1 = L5, 2 = L4, ...).
:func:`targets` turns them into the model's three outputs (:data:`OUTPUTS`):

- L5 (label 1), known everywhere;
- vertebral bodies: every labelled body;
- discs between two labelled bodies: in each column along the two bodies' axis,
  the voxels between the lower body's top and the upper body's bottom;
- where the labels say nothing (the sacrum, whose S1 is a body, and the L5-S1
  disc; the unlabelled bodies above the highest labelled one), bodies and discs
  are left unsupervised (``IGNORE``), while L5 stays known.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from planner.spine.grid import SagittalGrid
from planner.spine.model import BODY, DISC, L5, OUTPUTS  # noqa: F401 (one list of outputs)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "lumbar-mri"
CACHE = ROOT / "training" / ".cache"

IGNORE = 255
#: sources whose body labels may be drawn inside the cortex (``--inner-labels`` of the training script): VB1's L5
#: labels hold 22-24 ml against VB2's and VB3's 27-49 ml, and their inferior margin lies 2-3 mm above the L5
#: endplate the analysis finds, against 0.3-1.5 mm on VB2 and VB3. Taught as background, that rim may shrink the
#: bodies a model sees elsewhere (trained without VB3, its L5 sections on VB3 lie 1-2.5 mm inside the labels just
#: above the L5-S1 disc). Not used by the shipped models.
INNER_LABELS_VB1 = {"vb1": 2}


@dataclass
class Case:
    """One study on the 1 mm canonical grid: ``image`` float32 and ``labels`` uint8 [lateral, row, column]."""

    name: str
    source: str
    image: np.ndarray
    labels: np.ndarray


def source_of(name: str) -> str:
    return name.split("-")[0]


#: studies that are byte-for-byte copies of another (trained on once; scored in the bench like the rest)
DUPLICATES = {"vb3-19": "vb3-18"}


def case_names(include_duplicates: bool = False) -> list[str]:
    names = sorted(p.name for p in SHARED.iterdir() if (p / "vertebrae.npz").exists())
    return names if include_duplicates else [n for n in names if n not in DUPLICATES]


def save_cache(path: Path, **arrays) -> None:
    """``arrays`` to ``path`` (.npz) whole or not at all: written aside, then renamed (runs started together
    read each other's cache)."""
    partial = path.with_name(f".{path.stem}.{os.getpid()}.npz")
    np.savez_compressed(partial, **arrays)
    os.replace(partial, path)


def load_case(name: str, use_cache: bool = True) -> Case:
    """The study ``name`` on the canonical 1 mm grid (cached in ``training/.cache``), its labels in one
    convention (:func:`bench.shared_labels.corrected`: 1 = L5 upwards, ``S1`` where S1 is labelled)."""
    from bench.shared_labels import corrected

    cached = CACHE / f"{name}.npz"
    if use_cache and cached.exists():
        with np.load(cached) as data:
            return Case(name, source_of(name), data["image"], corrected(name, data["labels"]))
    from dataclasses import replace

    from planner.dicom.loader import load_series, read_path_series

    series, _ = read_path_series(SHARED / name / "dicom" / "sag_t2")
    (headers,) = series.values()
    volume = load_series(headers).volumes[0]
    labels = np.load(SHARED / name / "vertebrae.npz")["labels"]
    if labels.shape != volume.shape:
        raise ValueError(f"{name}: labels {labels.shape} do not match the series {volume.shape}")
    grid = SagittalGrid.covering(volume, pixel_mm=1.0, min_lateral_mm=1.0, max_lateral_mm=1.0)
    image = grid.resample(volume)
    label_grid = grid.resample(replace(volume, array=labels), labels=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    save_cache(cached, image=image, labels=label_grid)
    return Case(name, source_of(name), image, corrected(name, label_grid))


def _frame(points: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """(s, a, b): coordinates of ``points`` (N x 3, mm) along ``axis`` and two directions across it."""
    helper = np.array([1.0, 0.0, 0.0]) if abs(axis[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = helper - (helper @ axis) * axis
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(axis, e1)
    return np.stack([points @ axis, points @ e1, points @ e2], axis=1)


def body_axis(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(centroid, unit axis pointing superior) of a body mask on the canonical grid (index units = mm).

    A lumbar body is wider (left-right) and deeper (front-back) than it is tall:
    its axis is the direction of least spread. Superior is decreasing row.
    """
    points = np.argwhere(mask).astype(float)
    centre = points.mean(axis=0)
    values, vectors = np.linalg.eigh(np.cov((points - centre).T))
    axis = vectors[:, 0]
    return centre, (axis if axis[1] < 0 else -axis)


def disc_between(upper: np.ndarray, lower: np.ndarray, max_gap_mm: float = 25.0) -> np.ndarray:
    """The disc space between two body masks: per column along the line joining their centroids, the
    voxels between the lower body's top and the upper body's bottom (both bodies present)."""
    cu, cl = (np.argwhere(m).astype(float).mean(axis=0) for m in (upper, lower))
    axis = (cu - cl) / np.linalg.norm(cu - cl)
    both = upper | lower
    box = tuple(slice(max(0, int(i.min()) - 2), int(i.max()) + 3) for i in np.nonzero(both))
    offset = np.array([b.start for b in box], float)
    sub_u, sub_l = upper[box], lower[box]
    su, sl = _frame(np.argwhere(sub_u) + offset, axis), _frame(np.argwhere(sub_l) + offset, axis)
    lo = np.floor(np.minimum(su[:, 1:].min(axis=0), sl[:, 1:].min(axis=0))).astype(int) - 1
    shape = tuple(np.ceil(np.maximum(su[:, 1:].max(axis=0), sl[:, 1:].max(axis=0))).astype(int) - lo + 2)
    bottom = np.full(shape, np.inf)
    top = np.full(shape, -np.inf)
    iu = np.round(su[:, 1:]).astype(int) - lo
    il = np.round(sl[:, 1:]).astype(int) - lo
    np.minimum.at(bottom, (iu[:, 0], iu[:, 1]), su[:, 0])
    np.maximum.at(top, (il[:, 0], il[:, 1]), sl[:, 0])
    # columns missed by the rounding: the neighbours' values
    bottom = np.where(np.isinf(bottom), ndimage.minimum_filter(bottom, 3), bottom)
    top = np.where(np.isinf(top), ndimage.maximum_filter(top, 3), top)
    grid = np.argwhere(np.ones(sub_u.shape, bool)) + offset
    coords = _frame(grid, axis)
    index = np.round(coords[:, 1:]).astype(int) - lo
    inside = np.all((index >= 0) & (index < np.array(shape)), axis=1)
    s = coords[:, 0]
    b = np.full(len(s), np.inf)
    t = np.full(len(s), -np.inf)
    b[inside] = bottom[index[inside, 0], index[inside, 1]]
    t[inside] = top[index[inside, 0], index[inside, 1]]
    disc = (s > t) & (s < b) & (b - t <= max_gap_mm) & np.isfinite(b) & np.isfinite(t)
    disc = disc.reshape(sub_u.shape) & ~sub_u & ~sub_l
    disc = ndimage.binary_closing(disc, iterations=1) & ~sub_u & ~sub_l
    out = np.zeros(upper.shape, bool)
    out[box] = disc
    return out


def below_l5(labels: np.ndarray, depth_mm: float = 35.0, margin_mm: float = 8.0) -> np.ndarray:
    """The region under the L5 body where S1 and the L5-S1 disc lie: within ``depth_mm`` of L5's inferior
    endplate plane along L5's axis, over L5's footprint widened by ``margin_mm``."""
    l5 = labels == 1
    centre, axis = body_axis(l5)
    points = np.argwhere(l5).astype(float)
    coords = _frame(points - centre, axis)
    bottom = coords[:, 0].min()
    spread = coords[:, 1:]
    lo, hi = spread.min(axis=0) - margin_mm, spread.max(axis=0) + margin_mm
    grid = np.argwhere(np.ones(labels.shape, bool)).astype(float)
    c = _frame(grid - centre, axis)
    # the endplate plane: a plane fitted through the lowest point of each column
    columns = np.round(spread).astype(int)
    key = columns[:, 0] * 10000 + columns[:, 1]
    order = np.lexsort((coords[:, 0], key))
    first = np.r_[True, key[order][1:] != key[order][:-1]]
    low = order[first]
    design = np.c_[spread[low], np.ones(len(low))]
    plane, *_ = np.linalg.lstsq(design, coords[low, 0], rcond=None)
    surface = c[:, 1:] @ plane[:2] + plane[2]
    region = (
        np.all((c[:, 1:] >= lo) & (c[:, 1:] <= hi), axis=1)
        & (c[:, 0] <= surface + 2.0)
        & (c[:, 0] >= min(surface.min(), bottom) - depth_mm)
        & (c[:, 0] >= surface - depth_mm)
    )
    return region.reshape(labels.shape) & ~l5


def grown(labels: np.ndarray, voxels: int) -> np.ndarray:
    """``labels`` each grown by ``voxels`` into the unlabelled voxels around it (the nearest label wins)."""
    background = labels == 0
    distance, nearest = ndimage.distance_transform_edt(background, return_indices=True)
    near = background & (distance <= voxels)
    out = labels.copy()
    out[near] = labels[tuple(index[near] for index in nearest)]
    return out


def targets(
    case: Case, inner_labels: dict[str, int] | None = None, outer_labels: dict[str, int] | None = None
) -> np.ndarray:
    """The model's three targets for ``case``: uint8 [output, lateral, row, column], 1 / 0 / ``IGNORE``.

    - L5: known everywhere (the sacrum and every other body are not L5);
    - vertebral body: the labelled bodies (S1 too where labelled: VB1); unknown
      above the highest labelled one and in the rest of the sacrum;
    - disc: the space between consecutive labelled bodies (L5-S1 too where S1
      is labelled); unknown above the highest labelled body and in the sacrum.

    ``inner_labels`` {source: voxels}: for those sources the rim that many voxels outside the labels is left
    unsupervised in every output (labels drawn inside the cortex, :data:`INNER_LABELS_VB1`). ``outer_labels``
    {source: voxels}: those sources' labels are grown by that many voxels first (out to the cortex), the discs
    between them shrinking as much.

    A phantom's labels (:mod:`training.phantoms`) are its targets already.
    """
    if case.source == "phantom":
        return case.labels
    from bench.shared_labels import S1

    labels = case.labels
    if outer_labels and case.source in outer_labels:
        labels = grown(labels, outer_labels[case.source])
    lumbar = np.where(labels == S1, 0, labels)  # 1 = L5, 2 = L4, ...
    out = np.zeros((len(OUTPUTS),) + labels.shape, np.uint8)
    out[L5] = labels == 1
    out[BODY] = labels >= 1  # S1 too where it is labelled (VB1)
    top_label = int(lumbar.max())
    for n in range(1, top_label):
        if (lumbar == n).any() and (lumbar == n + 1).any():
            out[DISC][disc_between(lumbar == n + 1, lumbar == n)] = 1
    if (labels == S1).any():  # the L5-S1 disc, where S1 is labelled
        out[DISC][disc_between(labels == 1, labels == S1)] = 1
    # above the highest labelled body the bodies and discs are not labelled
    rows = np.nonzero((lumbar == top_label).any(axis=(0, 2)))[0]
    above = np.zeros(labels.shape, bool)
    above[:, : rows.min() + 4] = True
    for output in (BODY, DISC):
        out[output][above & (out[output] == 0) & (labels == 0)] = IGNORE
    # the sacrum: bodies (S1) and discs (L5-S1) that the labels do not mark (what they do mark stays known)
    sacrum = below_l5(lumbar, depth_mm=120.0, margin_mm=25.0) & (labels == 0)
    out[BODY][sacrum & (out[BODY] == 0)] = IGNORE
    out[DISC][sacrum & (out[DISC] == 0)] = IGNORE
    if inner_labels and case.source in inner_labels:
        # a source whose labels stop short of the cortex: just outside them is neither body nor not body
        rim = ndimage.binary_dilation(labels > 0, iterations=inner_labels[case.source]) & (labels == 0)
        for output in (L5, BODY, DISC):
            out[output][rim] = IGNORE
    return out


def summary() -> str:
    return json.dumps({name: source_of(name) for name in case_names()})
