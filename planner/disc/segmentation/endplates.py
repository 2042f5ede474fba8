"""The classical endplate search: the L5 and S1 endplates, the reference outline between the bodies' sections,
and :func:`segment_disc`, which runs the steps in order (package docstring)."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from planner.disc.segmentation.displaced import MIGRATION_MM, _displaced
from planner.disc.segmentation.frame import (
    STEP_MM,
    DiscFrame,
    DiscSegmentation,
    SegmentationFailed,
    endplate_planes_mm,
    fitted_plane_mm,
)
from planner.disc.segmentation.masks import (
    _erode2d,
    _fill_holes_2d,
    _largest_component_2d,
    _smoothed,
    distance_outside_mm,
)
from planner.volume import Volume

CORTEX_MM = 1.0  # the dark endplate line belongs to the body; its thickness where its disc side is unclear


def _first_below(profile: np.ndarray, threshold: float, axis: int = 0) -> np.ndarray:
    """Index of the first element under ``threshold`` along axis 0 (len when none)."""
    below = profile < threshold
    first = np.argmax(below, axis=axis)
    return np.where(below.any(axis=axis), first, profile.shape[axis])


def _disc_side_of_endplate(profile: np.ndarray, first: np.ndarray, end: int) -> np.ndarray:
    """Per column, the index (fractional) where the dark endplate band of ``profile`` gives way to the disc.

    ``profile`` runs from inside the body towards the disc centre (index ``end``);
    ``first`` is where the signal fell half way into the band. The band's
    darkest point lies within ``CORTEX_MM`` + 1 mm of it; the disc begins where the
    signal has risen half way from there to the disc's own level 1.5 mm further
    on (annulus, whether the disc is hydrated or dark). Columns without a clear
    rise keep ``first`` + ``CORTEX_MM``.
    """
    n = profile.shape[0]
    window = int(round((CORTEX_MM + 1.0) / STEP_MM))
    offsets = np.arange(window + 1)[:, None, None]
    rows = np.minimum(first[None] + offsets, n - 1)
    values = np.take_along_axis(profile, rows, axis=0)
    darkest = first + np.argmin(values, axis=0)
    darkest_value = np.min(values, axis=0)
    index = np.arange(n)[:, None, None]
    after = (index > darkest[None]) & (index <= end)
    disc_level = np.take_along_axis(profile, np.minimum(darkest + 3, end)[None], axis=0)[0]
    half = (darkest_value + disc_level) / 2
    rising = after & (profile >= half[None])
    edge = np.where(rising.any(axis=0), np.argmax(rising, axis=0), -1)
    # interpolate between the sample before the crossing and the crossing itself
    before = np.take_along_axis(profile, np.clip(edge - 1, 0, n - 1)[None], axis=0)[0]
    at = np.take_along_axis(profile, np.clip(edge, 0, n - 1)[None], axis=0)[0]
    fraction = np.clip((half - before) / np.maximum(at - before, 1e-6), 0.0, 1.0)
    found = (edge > 0) & (disc_level - darkest_value > 0.1 * np.abs(disc_level)) & (edge - first <= window + 4)
    return np.where(found, edge - 1 + fraction, first + CORTEX_MM / STEP_MM)


def segment_disc(volume: Volume, center_lps, normal_lps, seed_lps=None) -> DiscSegmentation:
    """Segment the disc around ``center_lps`` with normal ``normal_lps`` (superior), from ``volume``.

    ``seed_lps``: a point the user clicked inside the disc; the frame is then
    centred there (keeping the normal) and the disc must contain it.
    """
    center = np.asarray(seed_lps if seed_lps is not None else center_lps, float)
    frame = DiscFrame.around(center, normal_lps)
    raw = frame.sample(volume)
    refined = _fit_disc_plane(_smoothed(raw, 0.6), frame)
    if refined is not None:
        frame = refined
        raw = frame.sample(volume)
    image = _smoothed(raw, 0.6)
    n_mm, p_mm, l_mm = (frame.axis_mm(a) for a in range(3))
    step = STEP_MM

    # marrow level: the bodies 8-16 mm above and below the disc centre, central columns
    central_p = np.abs(p_mm) <= 8.0
    central_l = np.abs(l_mm) <= 8.0
    bodies = (np.abs(n_mm) >= 9.0) & (np.abs(n_mm) <= 17.0)
    marrow = float(np.median(image[np.ix_(bodies, central_p, central_l)]))
    if not marrow > 0:
        raise SegmentationFailed("no vertebral bodies above and below the disc centre (the series does not reach them)")
    zero = int(np.argmin(np.abs(n_mm)))

    # Search from inside each body towards the disc for the edge of the dark endplate band:
    # where the signal has fallen half way from the body's own level (8-14 mm from the
    # centre, which corrects intensity inhomogeneity) to the darkest sample on that side.
    start = int(round(14.0 / step))
    inner = int(round(8.0 / step))
    upper_profile = image[zero + start : zero - 1 : -1]  # from +14 mm down to 0
    lower_profile = image[zero - start : zero + 1]  # from -14 mm up to 0
    covered = frame.covered_columns(volume)
    valid = covered.copy()  # a narrow series (few sagittal slices) cuts the disc's lateral margins off
    surfaces = []
    for profile, sign in ((upper_profile, 1.0), (lower_profile, -1.0)):
        body = profile[: start - inner + 1].mean(axis=0)
        darkest = profile[start - inner :].min(axis=0)
        first = _first_below(profile, (body + darkest) / 2)
        surfaces.append(sign * (14.0 - _disc_side_of_endplate(profile, first, start) * step))
        valid &= (body - darkest > 0.15 * body) & (body > 0.4 * marrow) & (body < 2.0 * marrow) & (first < start)
    upper_mm, lower_mm = surfaces
    height = upper_mm - lower_mm
    valid &= (height >= 1.0) & (height <= 22.0)
    if valid.sum() > 50:  # a column far taller than the disc around it ran into a cortex or vessel
        typical = float(np.median(height[valid]))
        valid &= height <= typical + max(4.0, typical)
    # a disc's height changes slowly: a column far from the height at the very centre (where the disc
    # plane was fitted) found another dark band (the margins of a thick-sliced series, a vessel)
    very_central = valid & (np.abs(p_mm)[:, None] <= 6.0) & (np.abs(l_mm)[None, :] <= 6.0)
    if very_central.sum() >= 20:
        typical = float(np.median(height[very_central]))
        valid &= np.abs(height - typical) <= max(3.0, 0.6 * typical)
    # an endplate is nearly flat: a column far off the plane through the central ones found something
    # else (the lateral margins of a thick-sliced series, a pedicle, a vessel)
    for surface in (upper_mm, lower_mm):
        valid &= _near_plane(surface, valid, p_mm, l_mm)
    # the endplates' outline: the cross-sections of the L5 and S1 bodies just beyond the endplates
    # (bounded by their cortex, so it cannot run into the tissue around them), where the column
    # search found the disc or a neighbour did (a column missed in a thin disc's noise is a notch)
    central = np.ix_(np.abs(p_mm) <= 8.0, np.abs(l_mm) <= 8.0)
    central_valid = valid[central]
    upper_centre = float(np.median(upper_mm[central][central_valid])) if central_valid.any() else 1.0
    lower_centre = float(np.median(lower_mm[central][central_valid])) if central_valid.any() else -1.0
    sections = [
        body_section(image[(n_mm >= a) & (n_mm <= b)].mean(axis=0), covered, p_mm, l_mm)
        for a, b in ((upper_centre + 1.5, upper_centre + 4.5), (lower_centre - 4.5, lower_centre - 1.5))
    ]
    outline = _fill_holes_2d(_largest_component_2d(_between(*sections) & covered))
    if outline.sum() * step * step < 300.0:  # an L5-S1 endplate is about 1000-2000 mm^2
        raise SegmentationFailed("no pair of L5 and S1 endplates found around the disc centre")
    # fill the outline's surfaces where a column failed (noise), from the neighbourhood; an endplate is
    # smooth, so a column more than 1.5 mm off its neighbours' median ran into something else
    for _ in range(2):
        upper_mm = _fill_surface(np.where(valid & outline, upper_mm, np.nan), outline)
        lower_mm = _fill_surface(np.where(valid & outline, lower_mm, np.nan), outline)
        for surface in (upper_mm, lower_mm):
            local = sitk.GetArrayFromImage(sitk.Median(sitk.GetImageFromArray(np.nan_to_num(surface)), [4, 4]))
            valid &= ~(np.abs(surface - local) > 1.5)

    n_grid = n_mm[:, None, None]
    core = outline[None] & (n_grid >= lower_mm[None] - 1e-6) & (n_grid <= upper_mm[None] + 1e-6)
    l5_body, s1_body = _bodies_over(outline, upper_mm, lower_mm, n_mm)

    # the bodies above and below the endplate planes, section by section: material migrating along
    # them lies outside them (a body widens away from its endplate and is disc-like grey on T2)
    bone = _bodies_beside(image, outline, upper_mm, lower_mm, covered, frame)
    # not along the series' lateral edges either: a narrow sagittal series cuts the disc there, and what
    # lies along the cut is not seen beyond the disc's margin
    inside_series = _erode2d(covered, int(round(3.0 / STEP_MM))) if not covered.all() else covered
    displaced = _displaced(image, core, outline, upper_mm, lower_mm, n_mm, marrow, bone, inside_series)
    disc = core | displaced
    warnings: list[str] = []
    if seed_lps is not None and not disc[zero, int(np.argmin(np.abs(p_mm))), int(np.argmin(np.abs(l_mm)))]:
        warnings.append("The clicked point is not inside the segmented disc.")
    return DiscSegmentation(
        frame, raw, marrow, outline, upper_mm, lower_mm, disc, displaced, l5_body, s1_body, warnings, covered,
        displacement_image=image,
    )


RAYS = 90
RAY_MAX_MM = 40.0


def body_section(section: np.ndarray, covered: np.ndarray, p_mm: np.ndarray, l_mm: np.ndarray) -> np.ndarray:
    """[posterior, lateral] mask of the vertebral body in a cross-section through it, around the frame centre.

    A body's cross-section is star-shaped from its centre and bounded by a thin
    dark cortex, so rays are cast from the centre, each stopping where the
    signal drops under 80 % of the body's just behind it (cortex, muscle), rises
    over 2.2 times the centre's (CSF, fat) or leaves the series. A ray that
    slips through a gap in the cortex is outvoted by its neighbours (median over
    +-12 degrees).
    """
    step_px = 1.0 / STEP_MM  # samples per mm along a ray
    p0, l0 = int(np.argmin(np.abs(p_mm))), int(np.argmin(np.abs(l_mm)))
    centre_value = float(np.median(section[np.ix_(np.abs(p_mm) <= 5.0, np.abs(l_mm) <= 5.0)]))
    theta = np.arange(RAYS) * 2 * np.pi / RAYS
    radius = np.arange(int(RAY_MAX_MM * step_px) + 1) * STEP_MM
    rows = np.rint(p0 + np.cos(theta)[:, None] * radius[None] * step_px).astype(int)
    cols = np.rint(l0 + np.sin(theta)[:, None] * radius[None] * step_px).astype(int)
    inside = (rows >= 0) & (rows < section.shape[0]) & (cols >= 0) & (cols < section.shape[1])
    rows, cols = np.clip(rows, 0, section.shape[0] - 1), np.clip(cols, 0, section.shape[1] - 1)
    values = section[rows, cols]
    # the body's signal 1-6 mm behind each sample along its ray
    cumulative = np.concatenate([np.zeros((RAYS, 1)), np.cumsum(values, axis=1)], axis=1)
    near, far = 2, 12
    behind = np.zeros(values.shape)
    k = np.arange(far, values.shape[1])
    behind[:, far:] = (cumulative[:, k - near] - cumulative[:, k - far]) / (far - near)
    stop = ~(inside & covered[rows, cols]) | (values < 0.8 * behind) | (values > 2.2 * centre_value)
    stop[:, :8] = False  # the first 4 mm are the body
    first = np.where(stop.any(axis=1), np.argmax(stop, axis=1), radius.size - 1)
    # the margin is the cortex's outer edge: through the dark band, at most 2.5 mm further
    level = 0.8 * behind[np.arange(RAYS), first]
    after = first[:, None] + np.arange(1, 6)[None]
    dark = (values[np.arange(RAYS)[:, None], np.minimum(after, radius.size - 1)] < level[:, None]) & (after < radius.size)
    through = np.where(dark.all(axis=1), dark.shape[1], np.argmin(dark, axis=1))
    cortex = (values[np.arange(RAYS), first] < level) & inside[np.arange(RAYS), first]
    extent = radius[np.minimum(first + np.where(cortex, through, 0), radius.size - 1)]
    padded = np.concatenate([extent[-3:], extent, extent[:3]])
    extent = np.median(np.lib.stride_tricks.sliding_window_view(padded, 7), axis=1)
    # a body is nearly symmetric about the midsagittal plane: a side reaching far beyond its mirror leaked
    mirror = extent[(-np.arange(RAYS)) % RAYS]
    extent = np.minimum(extent, 1.2 * mirror + 3.0)
    p_grid, l_grid = np.meshgrid(p_mm - p_mm[p0], l_mm - l_mm[l0], indexing="ij")
    angle = np.mod(np.arctan2(l_grid, p_grid), 2 * np.pi)
    limit = np.interp(angle, np.append(theta, 2 * np.pi), np.append(extent, extent[0]))
    return (np.hypot(p_grid, l_grid) <= limit) & covered


def _between(upper: np.ndarray, lower: np.ndarray, agree_mm: float = 3.0) -> np.ndarray:
    """The outline half-way between two body sections (the L5 and S1 endplates' margins).

    The two endplates are rarely the same size or exactly above each other; the
    disc space's margin runs between them, so each point's signed distance is
    the mean of the two sections'. Where they disagree by more than
    ``agree_mm`` one has leaked (into an ala, an osteophyte, a vessel) and the
    smaller one is taken, as an intersection would.
    """
    distances = [distance_outside_mm(mask) for mask in (upper, lower)]
    mean = (distances[0] + distances[1]) / 2
    return np.where(np.abs(distances[0] - distances[1]) <= agree_mm, mean, np.maximum(*distances)) <= 0


def _fit_disc_plane(image: np.ndarray, frame: DiscFrame) -> DiscFrame | None:
    """The frame re-centred and re-tilted onto the disc itself, or None when the disc band is not clear.

    Level finding gives the disc's centre and tilt from a mid-sagittal slab to
    within a few mm and degrees; a thin degenerated disc needs better. In the
    central columns, the disc is where the signal departs from the bodies'
    above and below (darker for a degenerated disc, brighter for a hydrated
    one with dark endplates either side, so the departure is symmetric about
    its middle); a plane fitted robustly through those middles is the disc.
    """
    n_mm, p_mm, l_mm = (frame.axis_mm(a) for a in range(3))
    columns_p = np.abs(p_mm) <= 14.0
    columns_l = np.abs(l_mm) <= 14.0
    near = np.abs(n_mm) <= 9.0
    bodies = (np.abs(n_mm) >= 9.0) & (np.abs(n_mm) <= 14.0)
    block = image[:, columns_p][:, :, columns_l]
    reference = np.median(block[bodies], axis=0)
    departure = np.abs(block[near] - reference[None]) ** 2
    strong = np.sqrt(departure.max(axis=0)) > 0.25 * np.maximum(reference, 1e-6)
    middle = (departure * n_mm[near][:, None, None]).sum(axis=0) / np.maximum(departure.sum(axis=0), 1e-9)
    p_grid, l_grid = np.meshgrid(p_mm[columns_p], l_mm[columns_l], indexing="ij")
    keep = strong.copy()
    if keep.sum() < 100:
        return None
    for _ in range(3):
        design = np.column_stack([np.ones(keep.sum()), p_grid[keep], l_grid[keep]])
        coefficients, *_ = np.linalg.lstsq(design, middle[keep], rcond=None)
        residual = np.abs(middle - (coefficients[0] + coefficients[1] * p_grid + coefficients[2] * l_grid))
        keep = strong & (residual <= max(1.5, float(np.percentile(residual[strong], 70))))
        if keep.sum() < 100:
            return None
    offset, slope_p, slope_l = (float(v) for v in coefficients)
    normal = np.cross(frame.lateral + slope_l * frame.normal, frame.posterior + slope_p * frame.normal)
    normal /= np.linalg.norm(normal)
    if normal @ frame.normal < 0:
        normal = -normal
    if abs(offset) > 6.0 or np.degrees(np.arccos(min(1.0, float(normal @ frame.normal)))) > 20.0:
        return None  # not a small correction: trust level finding
    return DiscFrame.around(frame.center_lps + offset * frame.normal, normal)


def _near_plane(surface: np.ndarray, valid: np.ndarray, p_mm, l_mm, tolerance_mm: float = 2.5) -> np.ndarray:
    """[posterior, lateral]: the valid columns whose ``surface`` lies within ``tolerance_mm`` of a plane.

    The plane is fitted to the central columns (within 10 mm of the centre,
    where the endplate search is surest), then again to every column near it.
    Too few central columns: every valid column is kept.
    """
    p_grid, l_grid = np.meshgrid(p_mm, l_mm, indexing="ij")
    keep = valid & (np.abs(p_grid) <= 10.0) & (np.abs(l_grid) <= 10.0)
    if keep.sum() < 30:
        return valid
    near = valid
    for _ in range(3):
        residual = np.abs(surface - fitted_plane_mm(surface, keep, p_mm, l_mm))
        near = valid & (residual <= tolerance_mm)
        keep = near
    return near


def _fill_surface(surface: np.ndarray, outline: np.ndarray) -> np.ndarray:
    """NaN gaps inside ``outline`` filled with the mean of the known values around them."""
    known = np.isfinite(surface)
    values = np.where(known, surface, 0.0).astype(np.float32)
    weights = known.astype(np.float32)
    for sigma in (2.0, 6.0, 20.0):
        if (outline & ~known).sum() == 0:
            break
        blurred = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(sitk.GetImageFromArray(values), sigma))
        weight = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(sitk.GetImageFromArray(weights), sigma))
        fill = outline & ~known & (weight > 1e-3)
        surface = np.where(fill, blurred / np.maximum(weight, 1e-6), surface)
        known = known | fill
    return np.where(outline, surface, np.nan)


def _bodies_beside(image, outline, upper_mm, lower_mm, covered, frame: DiscFrame) -> np.ndarray:
    """The L5 and S1 bodies beyond the endplate planes, section by section (2 mm slabs, ``MIGRATION_MM`` far)."""
    n_mm, p_mm, l_mm = (frame.axis_mm(a) for a in range(3))
    top, bottom = endplate_planes_mm(outline, upper_mm, lower_mm)
    bone = np.zeros(image.shape, bool)
    for start in np.concatenate([np.arange(top + 1.0, top + MIGRATION_MM, 2.0), np.arange(bottom - MIGRATION_MM, bottom - 1.0, 2.0)]):
        slab = (n_mm >= start) & (n_mm < start + 2.0)
        if slab.any():
            bone[slab] = body_section(image[slab].mean(axis=0), covered, p_mm, l_mm)[None]
    return bone


def _bodies_over(outline, upper_mm, lower_mm, n_mm) -> tuple[np.ndarray, np.ndarray]:
    """(L5, S1): the outline's columns 25 mm beyond each endplate, the bodies as far as the disc frame needs them."""
    n_grid = n_mm[:, None, None]
    l5_body = outline[None] & (n_grid > upper_mm[None]) & (n_grid <= upper_mm[None] + 25.0)
    s1_body = outline[None] & (n_grid < lower_mm[None]) & (n_grid >= lower_mm[None] - 25.0)
    return l5_body, s1_body
