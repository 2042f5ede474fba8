"""From the model's maps to named vertebral bodies and discs, counted up from the sacrum.

The model (:mod:`planner.spine.model`) marks, on every sagittal slice, the L5
body (an identity, as TotalSpineSeg marks landmark discs, Warszawer et al.
2025), vertebral bodies and discs. :func:`~planner.spine.parts.find_parts` turns its maps into 3D
parts (:mod:`planner.spine.parts`) and :func:`label_spine` chains them along the column: the body under L5
(S1, the top of the sacrum), the disc between them (L5-S1), L5, then
alternately a disc and a body upwards, each touching the one below.

How sure the count is (:class:`SpineLabels.confidence`): "high" only when every
check below holds; otherwise "low", each failed check a sentence in
``reasons`` (the GUI asks the user to confirm or shift the labels; the CLI
will not plan without ``--confirm-level`` or ``--level-shift``):

- one L5 body, the model sure of it (mean probability at least 0.8), the
  runner-up component of L5 signal at most a fifth of it;
- the top of the sacrum below it, joined to it by the L5-S1 disc;
- a disc and then a body above it (L4-L5, L4);
- no disc-like junction below S1 (a lumbarised S1: six lumbar-type bodies).

A refusal (:class:`SpineNotFound`) says which of L5 and the sacrum the field of
view does not show.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from planner.disc.levels import marked_by_hand
from planner.errors import SacrumNotSeen, SpineNotFound
from planner.spine.grid import SagittalGrid
from planner.spine.model import BODY, DISC, L5
from planner.spine.parts import (
    IN_DISC_MM,
    Part,
    SpineLabels,
    _ellipsoid,
    _lps,
    _remasked,
    _subset,
    distance_to_part_mm,
    find_parts,
    part_points,
)

#: a neighbour in the column lies within this distance of a part (mm, surface to surface)
TOUCH_MM = 6.0
SURE = 0.8
#: a second L5 component this share of the first's size makes the count doubtful
RIVAL_SHARE = 0.2
#: S1 is the top of the sacrum: the body part under L5-S1 is kept this far below the disc (mm)
S1_DEPTH_MM = 35.0
#: a series ending less than this under L5 shows nothing of the junction: refused
SACRUM_MIN_MM = 3.0
#: the series must reach this far under L5 (the L5-S1 disc and the first sacral segment) for S1 to count as seen
SACRUM_SEEN_MM = 45.0
#: the L5-S1 disc space reaches at most this far under L5 (its anterior height, the promontory's tilt: mm)
DISC_DEPTH_MM = 18.0
#: L4 counts as seen when at least this share of L5's volume is in view
L4_SEEN = 0.5
LUMBAR_BODIES = ("L5", "L4", "L3", "L2", "L1", "T12", "T11", "T10", "T9", "T8", "T7", "T6")


def _gap_mm(grid: SagittalGrid, a: Part, b: Part) -> float:
    """Shortest distance between two parts' voxels (mm), on their boxes' union (0 when touching)."""
    lo = [min(x.start, y.start) for x, y in zip(a.box, b.box)]
    hi = [max(x.stop, y.stop) for x, y in zip(a.box, b.box)]
    box = tuple(slice(l, h) for l, h in zip(lo, hi))
    shape = tuple(h - l for l, h in zip(lo, hi))
    first = np.zeros(shape, np.uint8)
    first[tuple(slice(s.start - l, s.stop - l) for s, l in zip(a.box, lo))] = a.mask
    second = np.zeros(shape, bool)
    second[tuple(slice(s.start - l, s.stop - l) for s, l in zip(b.box, lo))] = b.mask
    image = sitk.GetImageFromArray(first)
    image.SetSpacing([grid.pixel_mm, grid.pixel_mm, grid.lateral_mm])
    distance = sitk.GetArrayFromImage(sitk.SignedMaurerDistanceMap(image, insideIsPositive=False, squaredDistance=False, useImageSpacing=True))
    del box
    return float(max(distance[second].min(), 0.0)) if second.any() else np.inf


def _next_up(grid: SagittalGrid, part: Part, candidates: list[Part]) -> Part | None:
    """The candidate touching ``part`` on its superior side (nearest along its axis), or None."""
    best, best_along = None, np.inf
    for other in candidates:
        offset = other.centre_lps - part.centre_lps
        along = float(offset @ part.axis_lps)
        if along <= 2.0 or along > 60.0:
            continue
        if np.linalg.norm(offset - along * part.axis_lps) > 25.0:  # not in the column
            continue
        if _gap_mm(grid, part, other) > TOUCH_MM:
            continue
        if along < best_along:
            best, best_along = other, along
    return best


def _below(part: Part, l5: Part) -> float:
    """How far ``part``'s centre lies below L5's along L5's axis (mm; negative: above)."""
    return float((l5.centre_lps - part.centre_lps) @ l5.axis_lps)


def _in_column(part: Part, l5: Part, across_mm: float = 30.0) -> bool:
    offset = part.centre_lps - l5.centre_lps
    along = float(offset @ l5.axis_lps)
    return bool(np.linalg.norm(offset - along * l5.axis_lps) <= across_mm)


def _whole_body(grid: SagittalGrid, l5: Part, bodies: list[Part], discs: list[Part]) -> tuple[Part, list[Part]]:
    """L5 with the vertebral-body parts that are the rest of the same bone: touching it (within a voxel), their
    centre within its superior-inferior extent, no disc between (a disc touching both with its centre between
    theirs: an L5 output that ran on over a disc into L4). Returns the whole L5 and the parts it took in.

    The model's L5 output can mark only part of the body (its marrow on one side) while its body output marks
    the rest: on vb3-05 left out, L5 was a 9 ml patch of a 26 ml body, its geometry and the disc under it
    taken from the patch."""
    _, points = part_points(grid, l5)
    low, high = float(points[:, 2].min()), float(points[:, 2].max())

    def between(disc: Part, body: Part) -> bool:
        ends = sorted((float(l5.centre_lps[2]), float(body.centre_lps[2])))
        return ends[0] < float(disc.centre_lps[2]) < ends[1] and max(_gap_mm(grid, disc, l5), _gap_mm(grid, disc, body)) <= TOUCH_MM

    taken = [
        b for b in bodies
        if b.label == BODY and low <= float(b.centre_lps[2]) <= high and _gap_mm(grid, l5, b) <= 1.01 * max(grid.pixel_mm, grid.lateral_mm)
        and not any(between(d, b) for d in discs)
    ]
    if not taken:
        return l5, []
    lo = [min(p.box[a].start for p in (l5, *taken)) for a in range(3)]
    hi = [max(p.box[a].stop for p in (l5, *taken)) for a in range(3)]
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    mask = np.zeros(tuple(b - a for a, b in zip(lo, hi)), bool)
    for p in (l5, *taken):
        mask[tuple(slice(s.start - a, s.stop - a) for s, a in zip(p.box, lo))] |= p.mask
    return _remasked(grid, l5, box, mask, (L5, BODY)), taken


#: the model sees each sagittal plane alone: beside the body it takes for body, in a few planes, pieces of what
#: lies there (the pedicle's root, the transverse process, the psoas: on the studies left out L5 grew in the
#: outer planes where the labelled body ends or shrinks). In an axial plane a lumbar body is some 35 x 45 mm:
#: an opening by a disc of this radius (mm) removes what is narrower than twice it and keeps the body
SIDE_PIECE_MM = 4.0


def _without_side_pieces(grid: SagittalGrid, part: Part) -> Part:
    """``part`` opened in each axial plane (lateral x anteroposterior) by a disc of ``SIDE_PIECE_MM``: pieces
    narrower than twice that, a few sagittal planes thick, dropped. ``part`` itself when nothing is dropped or
    nothing would be left."""
    disc = _ellipsoid(np.array([SIDE_PIECE_MM / grid.lateral_mm, 0.0, SIDE_PIECE_MM / grid.pixel_mm]))  # one row
    pad = [(r // 2, r // 2) for r in disc.shape]
    opened = ndimage.binary_opening(np.pad(part.mask, pad), disc)
    opened = opened[tuple(slice(a, n - b) for (a, b), n in zip(pad, opened.shape))]
    if not opened.any() or np.array_equal(opened, part.mask):
        return part
    # what the opening takes is a side piece where, in its axial plane, it is at least as large as the disc; the
    # slivers it shaves off the body's corners and margin (a few mm² each) stay: the disc's outline is drawn from
    # this section, and with its corners rounded the disc's own corners read as displaced
    dropped = part.mask & ~opened
    in_plane = np.zeros((3, 3, 3), bool)
    in_plane[:, 1, :] = True
    labels, _ = ndimage.label(dropped, structure=in_plane)
    area_mm2 = np.bincount(labels.ravel()) * grid.lateral_mm * grid.pixel_mm
    large = area_mm2 >= np.pi * SIDE_PIECE_MM**2
    large[0] = False
    kept = part.mask & ~large[labels]
    if np.array_equal(kept, part.mask):
        return part
    return _remasked(grid, part, part.box, kept, part.outputs)


def _top_of(spine_grid: SagittalGrid, part: Part, below_of: Part, depth_mm: float) -> Part:
    """``part`` cut to its voxels within ``depth_mm`` under the centre of ``below_of`` (along ``below_of``'s
    axis): the top of the sacrum, not the whole bone."""
    index, points = part_points(spine_grid, part)
    depth = (below_of.centre_lps - points) @ below_of.axis_lps
    return _subset(spine_grid, part, index, depth <= depth_mm)


def _under(grid: SagittalGrid, disc: Part, body: Part, depth_mm: float = DISC_DEPTH_MM, margin_mm: float = 3.0) -> Part:
    """``disc`` cut to the disc space under ``body``: its voxels under the body's footprint (``margin_mm``
    wider), at most ``depth_mm`` under the body's lowest voxel there, each column along the body's axis.

    The model's disc output runs on, in some series, into the grey tissue in front of the sacrum: joined to
    the L5-S1 disc, it tilted the disc's plane and moved its centre (a level one or two high by the labels)."""
    axis = body.axis_lps
    e1 = np.cross(axis, [0.0, 1.0, 0.0] if abs(axis[1]) < 0.99 else [1.0, 0.0, 0.0])  # any pair across the axis
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(axis, e1)
    cell = grid.pixel_mm

    def columns(points):
        offset = points - body.centre_lps
        return np.floor(np.c_[offset @ e1, offset @ e2] / cell).astype(int), offset @ axis

    _, body_points = part_points(grid, body)
    body_cells, body_along = columns(body_points)
    index, disc_points = part_points(grid, disc)
    disc_cells, disc_along = columns(disc_points)
    lo = np.minimum(body_cells.min(axis=0), disc_cells.min(axis=0))
    shape = np.maximum(body_cells.max(axis=0), disc_cells.max(axis=0)) - lo + 1
    lowest = np.full(shape, np.inf)  # the body's lowest point, column by column
    np.minimum.at(lowest, tuple((body_cells - lo).T), body_along)
    reach = int(np.ceil(margin_mm / cell))
    offsets = np.arange(-reach, reach + 1)
    disk = offsets[:, None] ** 2 + offsets[None, :] ** 2 <= reach * reach
    footprint = ndimage.minimum_filter(lowest, footprint=disk, mode="constant", cval=np.inf)
    floor = footprint[tuple((disc_cells - lo).T)]
    keep = np.isfinite(floor) & (disc_along >= floor - depth_mm)
    return _subset(grid, disc, index, keep)


#: a body's least spread direction further than this off the column's is not its axis (degrees)
AXIS_OFF_DEG = 45.0
#: the column around a body, for its superior direction: voxels within this radius of its centre (mm), and this
#: far to either side of it (mm: a body's half width; the sacral ala and the psoas kept out)
COLUMN_RADIUS_MM = 45.0
COLUMN_HALF_WIDTH_MM = 25.0


def _column_axis(grid: SagittalGrid, probabilities: np.ndarray, body: Part) -> np.ndarray:
    """The superior direction of the spinal column at ``body``: the longest spread of the bodies' and discs'
    voxels within COLUMN_RADIUS_MM of its centre (the body, half of each neighbour and the discs between: some
    90 mm long, 35 deep, 45 wide). A body's own least spread direction is not reliable: L5 is about as tall as
    it is deep, and on 4 of the 31 shared studies left out it pointed 47-74 degrees off the column (79 on a
    random phantom, whose L5-S1 disc was then found above L5 and named L4-L5)."""
    to_index = np.linalg.inv(grid.index_to_lps)
    centre = (to_index @ np.r_[body.centre_lps, 1.0])[:3]  # (column, row, lateral)
    reach = np.array([COLUMN_RADIUS_MM / grid.pixel_mm, COLUMN_RADIUS_MM / grid.pixel_mm, COLUMN_HALF_WIDTH_MM / grid.lateral_mm])
    lo = np.maximum(np.floor(centre - reach), 0).astype(int)
    hi = np.minimum(np.ceil(centre + reach) + 1, [grid.shape[2], grid.shape[1], grid.shape[0]]).astype(int)
    box = (slice(lo[2], hi[2]), slice(lo[1], hi[1]), slice(lo[0], hi[0]))
    tissue = (probabilities[BODY][box] >= 0.5) | (probabilities[DISC][box] >= 0.5) | (probabilities[L5][box] >= 0.5)
    points = _lps(grid, np.argwhere(tissue) + np.array([lo[2], lo[1], lo[0]]))
    offset = points - body.centre_lps
    points = points[(np.linalg.norm(offset, axis=1) <= COLUMN_RADIUS_MM) & (np.abs(offset[:, 0]) <= COLUMN_HALF_WIDTH_MM)]
    if len(points) < 100:
        return body.axis_lps
    _, vectors = np.linalg.eigh(np.cov((points - points.mean(axis=0)).T))
    axis = vectors[:, -1]
    return axis if axis[2] >= 0 else -axis


def label_spine(grid: SagittalGrid, probabilities: np.ndarray) -> SpineLabels:
    """Name the parts the model found, counting up from the sacrum; raises :class:`SpineNotFound` when the
    field of view does not show L5 or the top of the sacrum."""
    parts = find_parts(grid, probabilities)
    reasons: list[str] = []
    warnings: list[str] = []
    l5s = [p for p in parts if p.label == L5]
    if not l5s:
        raise SpineNotFound(_missing_l5(grid, parts))
    l5 = l5s[0]
    if len(l5s) > 1 and l5s[1].volume_ml > RIVAL_SHARE * l5.volume_ml:
        reasons.append("The model sees L5-like signal in two places: the count from the sacrum is doubtful.")
    if l5.probability < SURE:
        reasons.append(f"The model is not sure of the L5 body (mean probability {l5.probability:.2f}).")
    discs = [p for p in parts if p.label == DISC]
    bodies = [p for p in parts if p.label == BODY]
    l5, taken = _whole_body(grid, l5, bodies, discs)
    l5 = _without_side_pieces(grid, l5)
    # above and below are told along the column (L5's own axis, its least spread direction, can point forward);
    # the disc part is cut under L5 (_under) along the body's own axis, as it was tuned, unless that is plainly
    # not the body's axis (more than AXIS_OFF_DEG off the column's)
    up = replace(l5, axis_lps=_column_axis(grid, probabilities, l5))
    off = np.degrees(np.arccos(min(abs(float(up.axis_lps @ l5.axis_lps)), 1.0)))
    cut_along = up if off > AXIS_OFF_DEG else l5
    # another component of L5 signal is another body (S1, say, when the model called it L5 in part)
    bodies = [b for b in bodies if b not in taken] + l5s[1:]
    # the L5-S1 disc touches L5 from below; S1 is the body under it (or right under L5 when no disc was seen)
    under = [d for d in discs if _below(d, up) > 0 and _in_column(d, up) and _gap_mm(grid, d, l5) <= TOUCH_MM]
    disc = None
    if under:
        chosen = max(under, key=lambda d: d.volume_ml)
        disc = _under(grid, chosen, cut_along)
        discs[discs.index(chosen)] = disc
    candidates = [b for b in bodies if _below(b, up) > 0 and _in_column(b, up, 40.0)]
    if disc is not None:
        touching = [b for b in candidates if _gap_mm(grid, b, disc) <= TOUCH_MM and _below(b, up) > _below(disc, up)]
    else:
        touching = [b for b in candidates if _gap_mm(grid, b, l5) <= 18.0]
    s1 = max(touching, key=lambda b: b.volume_ml) if touching else None
    if s1 is None:
        sacrum_edge = _fov_below_mm(grid, l5)
        if sacrum_edge < SACRUM_MIN_MM:
            raise SacrumNotSeen(
                f"the sacrum is outside the field of view: the series ends {max(sacrum_edge, 0.0):.0f} mm below the "
                "body called L5 (unless that body is the top of the sacrum, taken for L5 at the series' edge), so "
                "the levels cannot be counted from S1",
                l5.centre_lps,
            )
        if sacrum_edge < 15.0:
            reasons.append(
                f"The sacrum is only partly in the field of view (the series ends {sacrum_edge:.0f} mm under the body "
                "called L5): check the count."
            )
        else:
            reasons.append("The top of the sacrum was not recognised below the L5 body.")
    else:
        s1 = _top_of(grid, s1, disc if disc is not None else l5, S1_DEPTH_MM if disc is not None else S1_DEPTH_MM + 15.0)
        # the model has only seen series that show the sacrum: with a field of view ending at L5 or L4 it calls
        # the lowest body in view S1. A body cut by the series' edge cannot be told from the sacrum
        seen = _fov_below_mm(grid, l5)
        if seen < SACRUM_SEEN_MM:
            reasons.append(
                f"Too little of the sacrum is in view to be sure that the body called S1 is the sacrum (the series "
                f"ends {seen:.0f} mm under the body called L5): check the count."
            )
    if disc is None:
        reasons.append(
            "The model saw no disc between the L5 body and the sacrum (a thin, dark or fused L5-S1 disc?), so the "
            "junction is placed between the two bodies: check the count."
            if s1 is not None
            else "The model saw no L5-S1 disc under the L5 body, so the junction is placed under it by the body's "
            "size: check the count."
        )
    named: list[Part] = []
    if s1 is not None:
        s1.name = "S1"
        named.append(s1)
        # a disc-like junction under S1: a lumbarised S1 (six lumbar-type bodies) or a transitional segment
        lower = [d for d in discs if d is not disc and _below(d, up) > _below(s1, up) and _gap_mm(grid, d, s1) <= TOUCH_MM]
        if any(d.volume_ml >= 1.5 for d in lower):
            warnings.append(
                "A disc-like junction lies below S1 (a possible lumbarised S1: six lumbar-type bodies): confirm the "
                "level count on a whole-spine localiser."
            )
            reasons.append("A disc-like junction lies below S1.")
            junction = max(lower, key=lambda d: d.volume_ml)
            junction.name = "S1-S2"
            named.insert(0, junction)
    if disc is not None:
        disc.name = "L5-S1"
        named.append(disc)
        discs.remove(disc)
    l5.name = "L5"
    named.append(l5)
    if s1 is not None and s1 in bodies:
        bodies.remove(s1)
    bodies = [b for b in bodies if b not in named and (s1 is None or b is not s1)]
    _name_upwards(grid, up, discs, bodies, named)
    l4 = next((p for p in named if p.name == "L4"), None)
    if not any(p.name == "L4-L5" for p in named):
        reasons.append("No L4-L5 disc and L4 body were recognised above L5.")
    elif l4 is None:
        reasons.append("No L4 body was recognised above the L4-L5 disc: the count cannot be checked against it.")
    elif l4.volume_ml < L4_SEEN * l5.volume_ml:
        # a sliver of L4 at the series' edge does not show that the body above L5 is a lumbar body
        reasons.append("Only part of L4 is in view above L5: the count cannot be checked against it.")
    confidence = "high" if not reasons else "low"
    return SpineLabels(grid, probabilities, named, confidence, reasons, warnings)


def _name_upwards(grid: SagittalGrid, up: Part, discs: list[Part], bodies: list[Part], named: list[Part]) -> None:
    """From L5 (``up``: its part with the column's axis) upwards: a disc, then a body, each touching the last,
    named L4-L5, L4, ... and appended to ``named``."""
    current, n = up, 0
    while True:
        up_disc = _next_up(grid, current, [d for d in discs if d not in named])
        if up_disc is None:
            break
        upper_name = LUMBAR_BODIES[n + 1] if n + 1 < len(LUMBAR_BODIES) else f"body {n + 2}"
        up_disc.name = f"{upper_name}-{LUMBAR_BODIES[n]}"
        named.append(up_disc)
        up_body = _next_up(grid, up_disc, [b for b in bodies if b not in named])
        if up_body is None:
            break
        up_body.name = upper_name
        named.append(up_body)
        current, n = up_body, n + 1


def label_spine_at(grid: SagittalGrid, probabilities: np.ndarray, mark_lps) -> SpineLabels:
    """Name the parts the model found from the L5-S1 disc the user marked (a point in it, LPS mm) instead of
    counting from the sacrum: where the count was refused (a field of view the model cannot count on) or is
    wrong. The disc part at the mark is L5-S1, the body touching it from above L5 and from below S1, and the
    discs and bodies above are named upwards as :func:`label_spine` names them. Never "high": the count is the
    user's, to be confirmed. Raises :class:`SpineNotFound` when the model saw no disc at the mark or no body
    above it."""
    mark = np.asarray(mark_lps, float)
    where = f"({', '.join(f'{v:.0f}' for v in mark)}) mm"
    parts = find_parts(grid, probabilities)
    discs = [p for p in parts if p.label == DISC]
    bodies = [p for p in parts if p.label in (BODY, L5)]
    distances = [distance_to_part_mm(grid, d, mark) for d in discs]
    if not distances or min(distances) > IN_DISC_MM:
        nearest = f" (the nearest disc the model saw is {min(distances):.0f} mm away)" if distances else ""
        raise SpineNotFound(f"the model saw no intervertebral disc at the marked point {where}{nearest}")
    chosen = discs[int(np.argmin(distances))]
    l5 = _next_up(grid, chosen, bodies)
    if l5 is None:
        raise SpineNotFound(f"the model saw no vertebral body above the disc marked at {where}")
    bodies.remove(l5)
    taken: list[Part] = []
    if l5.label == L5:  # the model's L5 signal may mark part of the body: taken whole, as when counting
        l5, taken = _whole_body(grid, l5, [b for b in bodies if b.label == BODY], discs)
    l5 = _without_side_pieces(grid, l5)
    up = replace(l5, axis_lps=_column_axis(grid, probabilities, l5))
    off = np.degrees(np.arccos(min(abs(float(up.axis_lps @ l5.axis_lps)), 1.0)))
    disc = _under(grid, chosen, up if off > AXIS_OFF_DEG else l5)
    discs[discs.index(chosen)] = disc
    bodies = [b for b in bodies if b not in taken]
    reasons = [marked_by_hand(mark)]
    touching = [
        b for b in bodies
        if _below(b, up) > _below(disc, up) and _in_column(b, up, 40.0) and _gap_mm(grid, b, disc) <= TOUCH_MM
    ]
    named: list[Part] = []
    if touching:
        s1 = _top_of(grid, max(touching, key=lambda b: b.volume_ml), disc, S1_DEPTH_MM)
        bodies = [b for b in bodies if b is not s1 and b not in touching]
        s1.name = "S1"
        named.append(s1)
    else:
        reasons.append("The model saw no body under the marked disc.")
    disc.name = "L5-S1"
    l5.name = "L5"
    named += [disc, l5]
    _name_upwards(grid, up, discs, bodies, named)
    return SpineLabels(grid, probabilities, named, "low", reasons, [])


def _fov_below_mm(grid: SagittalGrid, l5: Part) -> float:
    """How far the grid reaches below the L5 body along its axis (mm; 0 when L5 touches the lower edge)."""
    index = np.argwhere(l5.mask) + np.array([b.start for b in l5.box])
    lowest_row = int(index[:, 1].max())
    return (grid.shape[1] - 1 - lowest_row) * grid.pixel_mm


def _missing_l5(grid: SagittalGrid, parts: list[Part]) -> str:
    """Why there is no L5: what the field of view shows instead."""
    if not parts:
        return "no lumbar spine was recognised in the sagittal series (no vertebral bodies or discs)"
    lowest = max(int(np.argwhere(p.mask)[:, 1].max()) + p.box[1].start for p in parts)
    if (grid.shape[1] - 1 - lowest) * grid.pixel_mm <= 6.0:
        return (
            "the sacrum and L5 are outside the field of view (it shows vertebral bodies but ends above the "
            "lumbosacral junction), so the levels cannot be counted from S1"
        )
    return "the L5 body is outside the field of view (it starts below L5), so the levels cannot be counted"
