"""The L5-S1 disc segmented from the spine model's bodies (the learned segmenter's core).

The model gives the L5 and S1 bodies and the disc space between them on its
1.5 mm sagittal grid. In the disc's own 0.5 mm frame
(:class:`~planner.disc.segmentation.DiscFrame`, centred on the model's disc and
tilted along its normal):

1. the endplate surfaces: per column, where the L5 body's probability crosses
   one half going up from the disc, and the S1 body's split from the disc, each
   then moved within 2.5 mm onto the disc-side edge of the cortex the image
   shows (the model sees 1.5 mm pixels; the image has the series' own);
2. the reference outline of Lumbar Disc Nomenclature 2.0: half-way between the
   two bodies' cross-sections just beyond their endplates
   (:func:`planner.disc.segmentation.endplates._between`), as the classical segmenter draws it,
   but from the model's bodies rather than rays stopped at the cortex;
3. the disc within the outline between the surfaces, and disc material
   displaced beyond it grown as the classical segmenter grows it
   (:func:`planner.disc.segmentation.displaced._displaced`), with the model's bodies as the
   bone it must not enter.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from planner.disc.segmentation import (
    STEP_MM,
    DiscFrame,
    DiscSegmentation,
    SegmentationFailed,
    body_section,
    distance_outside_mm,
)
from planner.disc.segmentation.displaced import _displaced
from planner.disc.segmentation.endplates import _bodies_beside, _fill_surface
from planner.disc.segmentation.frame import fitted_plane_mm
from planner.disc.segmentation.masks import _erode2d, _fill_holes_2d, _largest_component_2d, _morph, _smoothed
from planner.spine.parts import Part, SpineLabels, part_points, part_probability
from planner.spine.grid import SagittalGrid
from planner.spine.model import BODY, DISC, L5
from planner.volume import Volume

#: how far the image may move an endplate from where the model put it (mm)
SNAP_MM = 2.5
#: the disc's signal is weighed this far beyond the cortex (mm)
DISC_SIDE_MM = (1.0, 3.0)
#: the cortex is a dark band: its darkest point under this fraction of the disc's signal beside it
CORTEX_CONTRAST = 0.7
#: the disc begins at the latest this far beyond the cortex's darkest point (mm): half a bony endplate's
#: thickness. Between cortex and a hydrated nucleus lie the cartilage endplate and the inner annulus, grey
#: and disc, whose signal is hardly above the cortex's: half-way to the nucleus' signal lies in or beyond them
CORTEX_HALF_MM = 0.5


def _on_frame(grid: SagittalGrid, array: np.ndarray, frame: DiscFrame) -> np.ndarray:
    source = sitk.GetImageFromArray(np.ascontiguousarray(array, dtype=np.float32))
    source.CopyInformation(grid.reference())
    return sitk.GetArrayFromImage(sitk.Resample(source, frame.reference(), sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32))


def _crossing(profile: np.ndarray, start: int, step: int) -> np.ndarray:
    """Per column, the fractional index from ``start`` going ``step`` (+1/-1) where ``profile`` first reaches
    0.5 (NaN where it never does)."""
    n = profile.shape[0]
    order = np.arange(start, n if step > 0 else -1, step)
    values = profile[order]
    above = values >= 0.5
    found = above.any(axis=0)
    first = np.argmax(above, axis=0)
    before = np.take_along_axis(values, np.maximum(first - 1, 0)[None], axis=0)[0]
    at = np.take_along_axis(values, first[None], axis=0)[0]
    fraction = np.clip((0.5 - before) / np.maximum(at - before, 1e-6), 0.0, 1.0)
    index = order[first] - step * (1.0 - fraction)
    index = np.where(first == 0, order[0], index)
    return np.where(found, index, np.nan)


def _snap(image: np.ndarray, surface_index: np.ndarray, step: int) -> np.ndarray:
    """Each column's endplate moved onto the disc-side edge of the body's cortex, the dark band between disc
    and marrow: within ``SNAP_MM`` of the model's surface the darkest point, then towards the disc the point
    half-way in signal between it and the disc beside it, but, where the cortex is a dark line between
    brighter marrow and the disc, no further than ``CORTEX_HALF_MM`` (the grey cartilage endplate and inner
    annulus between cortex and nucleus are disc). The disc excludes the cortex as a reader's disc mask does.
    ``step`` is the way from the disc into the body (+1 or -1 along axis 0). Columns without a dark band (a
    dark, degenerated disc against the cortex) keep the model's surface."""
    n = image.shape[0]
    reach = int(round(SNAP_MM / STEP_MM))
    near, far = (int(round(v / STEP_MM)) for v in DISC_SIDE_MM)
    valid = np.isfinite(surface_index)
    base = np.where(valid, np.rint(surface_index), 0).astype(int)
    columns = np.indices(base.shape)

    def at(rows: np.ndarray) -> np.ndarray:
        return image[np.clip(rows, 0, n - 1), columns[0], columns[1]]

    def beside(way: int) -> np.ndarray:
        """The median signal DISC_SIDE_MM from the darkest point, ``way`` along axis 0."""
        return np.median(np.stack([at(darkest + way * o) for o in range(near, far + 1)]), axis=0)

    offsets = np.arange(-reach, reach + 1)
    window = np.stack([at(base + step * o) for o in offsets])
    darkest = base + step * offsets[np.argmin(window, axis=0)]
    cortex = at(darkest)
    disc = beside(-step)
    half = (cortex + disc) / 2.0
    # walk from the darkest point towards the disc until the signal reaches half-way
    edge = np.full(base.shape, np.nan)
    previous = cortex
    for o in range(1, far + 1):
        value = at(darkest - step * o)
        crossed = np.isnan(edge) & (value >= half)
        fraction = np.clip((half - previous) / np.maximum(value - previous, 1e-6), 0.0, 1.0)
        edge = np.where(crossed, darkest - step * (o - 1 + fraction), edge)
        previous = value
    banded = valid & np.isfinite(edge) & (cortex < CORTEX_CONTRAST * disc)
    # a cortex line between brighter marrow and the disc (T2, not a fat-suppressed image's dark marrow, where the
    # darkest point may lie in the body): the disc begins at the latest half its thickness beyond it
    line = cortex < CORTEX_CONTRAST * beside(step)
    latest = darkest - step * (CORTEX_HALF_MM / STEP_MM)
    edge = np.where(line & (step * (latest - edge) > 0), latest, edge)  # the one nearer the body
    return np.where(banded, edge, surface_index)


def _steepest_edge(image: np.ndarray, surface_index: np.ndarray, step: int) -> np.ndarray:
    """Each column's endplate moved, within 1.5 mm, onto the steepest change of signal between body and disc
    (where the disc's signal meets the cortex's or the marrow's: the surfaces the displaced-material rules of
    :func:`planner.disc.segmentation.displaced._displaced` were tuned on, the cortex sometimes inside)."""
    reach = int(round(1.5 / STEP_MM))
    n = image.shape[0]
    gradient = np.gradient(image, axis=0) * step  # along the way from the disc into the body
    valid = np.isfinite(surface_index)
    base = np.where(valid, np.rint(surface_index), 0).astype(int)
    offsets = np.arange(-reach, reach + 1)
    rows = np.clip(base[None] + offsets[:, None, None], 0, n - 1)
    values = np.abs(np.take_along_axis(gradient, rows, axis=0))
    best = offsets[np.argmax(values, axis=0)]
    strong = values.max(axis=0) > 1.5 * np.median(values, axis=0)
    return np.where(valid & strong, base + best, surface_index)


def _plane_filled(surface_mm: np.ndarray, p_mm: np.ndarray, l_mm: np.ndarray) -> np.ndarray:
    """``surface_mm`` [posterior, lateral] with the columns where it is not defined (NaN) on the plane fitted
    robustly through the defined ones (3 rounds, residuals over 2 mm dropped)."""
    keep = np.isfinite(surface_mm)
    if keep.sum() < 10:
        return surface_mm
    for _ in range(3):
        plane = fitted_plane_mm(surface_mm, keep, p_mm, l_mm)
        inliers = np.isfinite(surface_mm) & (np.abs(surface_mm - plane) <= 2.0)
        if inliers.sum() < 10:
            break
        keep = inliers
    return np.where(np.isfinite(surface_mm), surface_mm, plane)


def _section_beyond(body_map: np.ndarray, surface_mm: np.ndarray, sign: float, n_mm: np.ndarray) -> np.ndarray:
    """[posterior, lateral]: the body's cross-section 1.5-4.5 mm beyond its endplate ``surface_mm`` (into the
    body: +normal for L5, -normal for S1), each column sampled at its own offsets."""
    values = []
    for offset in (1.5, 2.5, 3.5, 4.5):
        index = (surface_mm + sign * offset - n_mm[0]) / STEP_MM
        index = np.clip(np.nan_to_num(index, nan=-1.0), -1, body_map.shape[0])
        low = np.clip(np.floor(index).astype(int), 0, body_map.shape[0] - 1)
        high = np.clip(low + 1, 0, body_map.shape[0] - 1)
        fraction = np.clip(index - low, 0.0, 1.0)
        rows, columns = np.indices(surface_mm.shape)
        sample = (1 - fraction) * body_map[low, rows, columns] + fraction * body_map[high, rows, columns]
        values.append(np.where((index >= 0) & (index <= body_map.shape[0] - 1), sample, 0.0))
    return np.mean(values, axis=0) >= 0.5


def _plane_only(surface_mm: np.ndarray, p_mm: np.ndarray, l_mm: np.ndarray) -> np.ndarray:
    """The plane fitted robustly through the defined columns of ``surface_mm``, over every column."""
    filled = _plane_filled(surface_mm, p_mm, l_mm)
    keep = np.isfinite(surface_mm) & (np.abs(surface_mm - filled) <= 2.0)
    if keep.sum() < 10:
        return filled
    return fitted_plane_mm(surface_mm, keep, p_mm, l_mm)


def _flattened(surface_mm: np.ndarray, middle: np.ndarray, p_mm: np.ndarray, l_mm: np.ndarray, sign: float) -> np.ndarray:
    """``surface_mm`` kept within :data:`FLAT_MM` of the plane fitted robustly through its ``middle`` columns,
    on its body's side (``sign``: +1 for L5's endplate, which may not run further up into L5; -1 for S1's)."""
    central = np.where(middle, surface_mm, np.nan)
    if np.isfinite(central).sum() < 10:
        return surface_mm
    plane = _plane_only(central, p_mm, l_mm)
    limited = np.minimum(surface_mm, plane + FLAT_MM) if sign > 0 else np.maximum(surface_mm, plane - FLAT_MM)
    return np.where(np.isfinite(surface_mm), limited, surface_mm)


def _kept_flat(upper_mm, lower_mm, middle, behind, p_mm, l_mm) -> tuple[np.ndarray, np.ndarray]:
    """Both endplates :func:`_flattened` about their ``middle`` columns, then L5's lowered where the disc is
    taller ``behind`` its middle (:func:`_no_taller_behind`): columns that ran up L5's rounded posterior corner."""
    upper_mm = _flattened(upper_mm, middle, p_mm, l_mm, +1.0)
    lower_mm = _flattened(lower_mm, middle, p_mm, l_mm, -1.0)
    return _no_taller_behind(upper_mm, lower_mm, middle, behind), lower_mm


def _no_taller_behind(upper_mm: np.ndarray, lower_mm: np.ndarray, middle: np.ndarray, behind: np.ndarray) -> np.ndarray:
    """L5's endplate ``upper_mm`` lowered where, in the ``behind`` columns, the disc is taller than the median
    height of its ``middle`` columns. Lordosis makes L5-S1 taller in front, never behind: a taller column
    behind met L5's endplate too high, up the body's rounded posterior corner."""
    height = upper_mm - lower_mm
    central = height[middle & np.isfinite(height)]
    if central.size < 10:
        return upper_mm
    excess = np.where(behind & np.isfinite(height), height - float(np.median(central)), 0.0)
    return upper_mm - np.clip(excess, 0.0, None)


def _image_beyond(image: np.ndarray, surface_mm: np.ndarray, sign: float, n_mm: np.ndarray) -> np.ndarray:
    """[posterior, lateral]: the image averaged 1.5-4.5 mm beyond the endplate ``surface_mm``, column by column."""
    rows, columns = np.indices(surface_mm.shape)
    values = []
    for offset in (1.5, 2.5, 3.5, 4.5):
        index = np.clip(np.rint((np.nan_to_num(surface_mm) + sign * offset - n_mm[0]) / STEP_MM), 0, image.shape[0] - 1)
        values.append(image[index.astype(int), rows, columns])
    return np.mean(values, axis=0).astype(np.float32)


def _sharpened(model_section: np.ndarray, image_section: np.ndarray, covered, p_mm, l_mm, agree_mm: float = 2.5) -> np.ndarray:
    """The body's cross-section where the image shows its cortex (rays from the centre stopped at it,
    :func:`planner.disc.segmentation.body_section`) within ``agree_mm`` of the model's section (1.5 mm pixels,
    its margin blurred by up to a pixel); the model's where the rays leaked or stopped short."""
    seen = body_section(image_section, covered, p_mm, l_mm)
    if not seen.any():
        return model_section
    distances = [distance_outside_mm(mask) for mask in (model_section, seen)]
    return np.where(np.abs(distances[0] - distances[1]) <= agree_mm, distances[1], distances[0]) <= 0


def _half_way(l5_section: np.ndarray, s1_section: np.ndarray, agree_mm: float = 3.0) -> np.ndarray:
    """The reference outline half-way between the L5 and S1 endplates' margins (their signed distances
    averaged, as :func:`planner.disc.segmentation.endplates._between` draws it); where they disagree by more than
    ``agree_mm``, or when S1's section is under half L5's area, L5's margin (the L5 body is the model's surest
    part; the top of the sacrum is found by the local parts network and is sometimes patchy)."""
    distances = [distance_outside_mm(mask) for mask in (l5_section, s1_section)]
    if s1_section.sum() < 0.5 * l5_section.sum():
        return distances[0] <= 0
    mean = (distances[0] + distances[1]) / 2
    return np.where(np.abs(distances[0] - distances[1]) <= agree_mm, mean, distances[0]) <= 0


#: where the S1 endplate is looked for, under L5's (mm), and how much body beneath it is weighed (mm)
S1_SEARCH_MM = (2.0, 20.0)
S1_BELOW_MM = 8.0
#: a column's evidence for its S1 endplate (disc above, body below: 0-2) counted as strong
STRONG = 0.8
#: how far an endplate column may lie from the plane through the others (mm)
FLAT_MM = 3.0
#: the endplates' middle (mm either way of the disc's centre): their plane, which the margins may not leave
CENTRAL_MM = 12.0
#: the same evidence from the image's signal alone (marrow like L5's beneath, unlike it above)
IMAGE_STRONG = 1.0


def _split(disc_map: np.ndarray, body_map: np.ndarray, upper_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column, the index of the S1 endplate under L5's (``upper_index``): the depth that best splits disc
    above from body below, f(d) = mean(disc - body) over the disc above + mean(body - disc) over 8 mm beneath;
    and that best f (the evidence, -2 to 2). NaN where L5's endplate is not known."""
    n = disc_map.shape[0]
    lo, hi = (int(round(v / STEP_MM)) for v in S1_SEARCH_MM)
    below = int(round(S1_BELOW_MM / STEP_MM))
    valid = np.isfinite(upper_index)
    start = np.where(valid, np.floor(upper_index), 0).astype(int)
    t = np.arange(hi + below + 1)
    rows = np.clip(start[None] - t[:, None, None], 0, n - 1)
    inside = (start[None] - t[:, None, None]) >= 0
    difference = np.take_along_axis(disc_map, rows, axis=0) - np.take_along_axis(body_map, rows, axis=0)
    difference = np.where(inside, difference, 0.0)
    cumulative = np.concatenate([np.zeros((1, *difference.shape[1:])), np.cumsum(difference, axis=0)], axis=0)
    depths = np.arange(lo, hi + 1)
    above = cumulative[depths] / depths[:, None, None]  # mean over [0, d)
    beneath = -(cumulative[depths + below] - cumulative[depths]) / below  # mean of body - disc over [d, d + 8 mm)
    score = above + beneath
    best = np.argmax(score, axis=0)
    evidence = np.take_along_axis(score, best[None], axis=0)[0]
    index = start - depths[best]
    return np.where(valid, index.astype(float), np.nan), np.where(valid, evidence, -np.inf)


def segment_from_parts(
    volume: Volume, spine: SpineLabels, upper: Part, disc: Part | None, lower: Part | None, seed_lps=None
) -> DiscSegmentation:
    """Segment the disc under the ``upper`` body the model found (L5 unless the levels were shifted), down to
    the endplate of the body below it (``lower``: S1, or None when the model did not make it a part: the body
    signal under the disc is weighed all the same). Raises :class:`SegmentationFailed` with a sentence when no
    endplate is found under the upper body."""
    grid = spine.grid
    probabilities = spine.probabilities
    if disc is not None and disc.volume_ml >= 1.0:
        centre, normal = disc.centre_lps, disc.axis_lps
    else:  # a thin disc the model barely saw: just under the upper body, along its axis
        normal = upper.axis_lps
        _, points = part_points(grid, upper)
        depth = (points - upper.centre_lps) @ normal
        centre = upper.centre_lps + (float(np.percentile(depth, 2)) - 4.0) * normal
    if seed_lps is not None:
        centre = np.asarray(seed_lps, float)
    frame = DiscFrame.around(centre, normal)
    upper_map = _on_frame(grid, part_probability(spine, upper), frame)
    others = probabilities[BODY] * (1.0 - probabilities[L5])  # any body but L5: S1, the sacrum
    body_map = _on_frame(grid, others, frame)
    if lower is not None:
        body_map = np.maximum(body_map, _on_frame(grid, part_probability(spine, lower), frame))
    disc_map = _on_frame(grid, probabilities[DISC], frame)
    raw = frame.sample(volume)
    image = _smoothed(raw, 0.6)
    n_mm, p_mm, l_mm = (frame.axis_mm(a) for a in range(3))
    zero = int(np.argmin(np.abs(n_mm)))
    covered = frame.covered_columns(volume)
    # L5's endplate: where its body begins, going up from a little under the disc's middle
    upper_index = _crossing(upper_map, max(zero - int(round(4.0 / STEP_MM)), 0), +1)
    if np.isfinite(upper_index).sum() < 50:
        raise SegmentationFailed("no inferior endplate of the L5 body around the disc centre")
    upper_mm = n_mm[0] + _steepest_edge(image, upper_index, +1) * STEP_MM
    # an endplate is nearly flat (concave by a millimetre or two): a column far off the plane through the
    # others met the body's rounded corner or its posterior wall, not the endplate
    upper_plane = _plane_only(upper_mm, p_mm, l_mm)
    upper_mm = np.where(np.abs(upper_mm - upper_plane) <= FLAT_MM, upper_mm, np.where(np.isfinite(upper_mm), upper_plane, np.nan))
    # S1's endplate: per column the best split of disc above and body below, then a plane through the columns
    # where that split is clear (a column of weak evidence takes the plane)
    lower_index, evidence = _split(disc_map, body_map, upper_index)
    strong = np.isfinite(lower_index) & (evidence >= STRONG)
    if strong.sum() < 200:
        # the model barely saw S1 or the disc here: the image's own evidence, marrow like L5's under a disc
        marrow = float(np.median(image[upper_map >= 0.5])) if (upper_map >= 0.5).any() else float(np.median(image))
        marrow_like = np.exp(-(((image - marrow) / (0.25 * max(marrow, 1e-6))) ** 2)).astype(np.float32)
        image_index, image_evidence = _split(1.0 - marrow_like, marrow_like, upper_index)
        use = ~strong & np.isfinite(image_index) & (image_evidence >= IMAGE_STRONG)
        lower_index = np.where(use, image_index, lower_index)
        strong = strong | use
        warnings_from_image = ["The model barely saw the top of the sacrum: its endplate was found from the image's signal under L5."]
    else:
        warnings_from_image = []
    lower_mm = n_mm[0] + lower_index * STEP_MM
    if strong.sum() < 40:
        raise SegmentationFailed("no S1 endplate was found under the L5 body (the disc and sacrum signal is unclear)")
    plane = _plane_only(np.where(strong, lower_mm, np.nan), p_mm, l_mm)
    keep = strong & (np.abs(lower_mm - plane) <= FLAT_MM)
    lower_mm = np.where(keep, lower_mm, plane)
    lower_mm = np.where(np.isfinite(upper_mm), lower_mm, np.nan)
    lower_mm = n_mm[0] + _steepest_edge(image, (lower_mm - n_mm[0]) / STEP_MM, -1) * STEP_MM
    # the disc itself ends at the cortex (a reader's disc mask excludes the endplates' dark line)
    tight_upper = n_mm[0] + _snap(image, (upper_mm - n_mm[0]) / STEP_MM, +1) * STEP_MM
    tight_lower = n_mm[0] + _snap(image, (lower_mm - n_mm[0]) / STEP_MM, -1) * STEP_MM
    # the endplates are nearly flat: a column far off the plane through their middle, or making the disc taller
    # behind its middle than there, ran up L5's rounded posterior corner; the bodies' sections beyond them
    # would then be taken in the pedicles' bases
    middle = (np.abs(p_mm) <= CENTRAL_MM)[:, None] & (np.abs(l_mm) <= CENTRAL_MM)[None, :]
    behind = (p_mm > 0.0)[:, None]
    upper_mm, lower_mm = _kept_flat(upper_mm, lower_mm, middle, behind, p_mm, l_mm)
    height = upper_mm - lower_mm
    # the outline: half-way between the bodies' sections 1.5-4.5 mm beyond their own endplates, column by
    # column (the L5-S1 endplates are not parallel: a plane parallel to the disc cuts the sacrum's tilted top
    # obliquely and missed its back)
    central = (np.abs(p_mm) <= 8.0)[:, None] & (np.abs(l_mm) <= 8.0)[None, :]
    both = np.isfinite(height) & central
    if both.sum() < 20:
        raise SegmentationFailed("the L5 and S1 bodies found do not face each other across the disc's centre")
    sections = []
    for section_map, surface, sign in ((upper_map, upper_mm, 1.0), (body_map, lower_mm, -1.0)):
        filled = _plane_filled(surface, p_mm, l_mm)
        model_section = _section_beyond(section_map, filled, sign, n_mm)
        sections.append(_sharpened(model_section, _image_beyond(image, filled, sign, n_mm), covered, p_mm, l_mm))
    outline = _fill_holes_2d(_largest_component_2d(_half_way(*sections) & covered))
    # an endplate's margin is smooth: fingers and notches under 4 mm are the model's 1.5 mm pixels and the
    # body's posterior wall, not the ring apophysis
    radius = int(round(2.0 / STEP_MM))
    outline = _morph(_morph(outline, radius, "open"), radius, "close") & covered
    outline = _fill_holes_2d(_largest_component_2d(outline))
    if outline.sum() * STEP_MM**2 < 300.0:
        raise SegmentationFailed("no pair of L5 and S1 endplates found around the disc centre")
    good = np.isfinite(height) & (height > 0.5) & (height < 25.0)
    upper_mm = _fill_surface(np.where(good & outline, upper_mm, np.nan), outline)
    lower_mm = _fill_surface(np.where(good & outline, lower_mm, np.nan), outline)
    tight = np.isfinite(tight_upper) & np.isfinite(tight_lower) & (tight_upper - tight_lower > 0.5)
    tight_upper = _fill_surface(np.where(good & tight & outline, tight_upper, np.nan), outline)
    tight_lower = _fill_surface(np.where(good & tight & outline, tight_lower, np.nan), outline)
    # kept flat here too, within the outline: columns filled or snapped onto the cortex may again run off the
    # plane or up L5's posterior corner (the mask climbed behind L5 in a thin, degenerate disc)
    upper_mm, lower_mm = _kept_flat(upper_mm, lower_mm, middle & outline, behind & outline, p_mm, l_mm)
    tight_upper, tight_lower = _kept_flat(tight_upper, tight_lower, middle & outline, behind & outline, p_mm, l_mm)
    n_grid = n_mm[:, None, None]
    # the space between the edges the displaced-material rules were tuned on (its signal range, its slab)
    core = outline[None] & (n_grid >= lower_mm[None] - 1e-6) & (n_grid <= upper_mm[None] + 1e-6)
    l5_body = (upper_map >= 0.5) & ~core
    s1_body = (body_map >= 0.5) & (n_grid < lower_mm[None]) & (n_grid >= lower_mm[None] - 25.0) & outline[None] & ~core
    # every body the model sees around the disc is bone that displaced material cannot enter
    others = np.maximum(probabilities[L5], probabilities[BODY])
    bone = (_on_frame(grid, others, frame) >= 0.5) | l5_body | s1_body
    # and the bodies' sections the image shows beyond the endplate planes, as the classical rules see them
    bone |= _bodies_beside(image, outline, upper_mm, lower_mm, covered, frame)
    bone &= ~core
    marrow_voxels = image[l5_body | s1_body]
    marrow = float(np.median(marrow_voxels)) if marrow_voxels.size else float(np.median(image[core]))
    inside_series = _erode2d(covered, int(round(3.0 / STEP_MM))) if not covered.all() else covered
    displaced = _displaced(image, core, outline, upper_mm, lower_mm, n_mm, marrow, bone, inside_series)
    disc_mask = (outline[None] & (n_grid >= tight_lower[None] - 1e-6) & (n_grid <= tight_upper[None] + 1e-6)) | displaced
    upper_mm, lower_mm = tight_upper, tight_lower
    warnings: list[str] = list(warnings_from_image)
    if seed_lps is not None and not disc_mask[zero, int(np.argmin(np.abs(p_mm))), int(np.argmin(np.abs(l_mm)))]:
        warnings.append("The clicked point is not inside the segmented disc.")
    return DiscSegmentation(
        frame, raw, marrow, outline, upper_mm, lower_mm, disc_mask, displaced, l5_body, s1_body, warnings, covered,
        displacement_image=image,
    )
