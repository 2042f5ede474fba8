"""The displaced material grown again, and the endplate outline drawn again, on an axial series through the disc."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from planner.disc.segmentation.displaced import _displaced
from planner.disc.segmentation.endplates import _between, _bodies_beside, _bodies_over, _fill_surface, body_section
from planner.disc.segmentation.frame import STEP_MM, DiscFrame, DiscSegmentation, endplate_planes_mm
from planner.disc.segmentation.masks import _erode_3d, _fill_holes_2d, _largest_component_2d, _ones_like, _smoothed
from planner.geometry import sample_trilinear
from planner.volume import Volume


def displaced_on_axial(seg: DiscSegmentation, axial: Volume) -> DiscSegmentation | None:
    """``seg`` with its displaced material grown again on an axial series through the disc, or None.

    A sagittal series' slices (3-4 mm) blur the disc's lateral margins, and
    with them every displacement measured there; an axial series angled along
    the disc sees its margins sharp. The endplate outline and surfaces stay
    the sagittal series' (it sees the bodies); the axial image, scaled so that
    the disc has the sagittal series' signal, is searched for displaced
    material between the endplate planes; migration beyond them stays the
    sagittal series' (finer along the spine). None when the axial series
    covers less than 80 % of the disc.

    When the axial series has a slice wholly inside each body near its
    endplate, the endplate outline is found again half-way between the two
    bodies' sections on those slices (:func:`_axial_outline`): their lateral
    margins are sharp where the sagittal slices blurred them 0.5-1 mm inward.
    """
    frame = seg.frame
    covers = frame.sample(_ones_like(axial)) >= 0.999
    covers = _erode_3d(covers, 2)  # interpolation against the outside reaches 1 mm in
    core = seg.core()
    if (core & covers).sum() < 0.8 * core.sum():
        return None
    sagittal_image = (  # as it was grown on, unless another segmenter kept no image
        seg.displacement_image if seg.displacement_series == "sagittal" and seg.displacement_image is not None
        else _smoothed(seg.image, 0.6)
    )
    image = _smoothed(frame.sample(axial), 0.6)
    sharper = _axial_outline(axial, seg, covers.any(axis=0))
    if sharper is not None:
        seg = _with_outline(seg, sharper)
        core = seg.core()
    scale = float(np.median(sagittal_image[core & covers])) / max(float(np.median(image[core & covers])), 1e-6)
    image = np.where(covers, image * scale, 0.0).astype(np.float32)
    covered = np.ones(seg.outline.shape, bool) if seg.covered is None else seg.covered
    in_plane = covers.any(axis=0)
    outline, upper_mm, lower_mm = seg.outline, seg.upper_mm, seg.lower_mm
    bone = _bodies_beside(sagittal_image, outline, upper_mm, lower_mm, covered, frame)
    displaced = _displaced(image, core, outline, upper_mm, lower_mm, frame.axis_mm(0), seg.marrow, bone, in_plane)
    # between the endplate planes from the axial series; migration beyond them is the sagittal series'
    # (its rows are finer along the spine than the axial slices)
    top, bottom = endplate_planes_mm(outline, upper_mm, lower_mm)
    n_grid = frame.axis_mm(0)[:, None, None]
    within = (n_grid <= top) & (n_grid >= bottom)
    displaced = (displaced & within) | (seg.displaced & ~within & ~core)
    return replace(
        seg, disc=core | displaced, displaced=displaced, covered=covered | in_plane,
        displacement_series="axial", displacement_image=image,
    )


def _axial_outline(axial: Volume, seg: DiscSegmentation, covered: np.ndarray) -> np.ndarray | None:
    """The endplate outline half-way between the L5 and S1 sections on an axial series' own slices, or None.

    For each body the slice nearest its endplate that lies wholly inside it
    (its near face at least 1 mm beyond the endplate over the whole outline,
    so no disc in it) is sampled in its own plane and projected along the
    disc's normal. None when the series is tilted more than 15 degrees from
    the disc, has no such slice within 12 mm of an endplate, or the outline
    found differs from the sagittal one by more than a quarter in area or 3 mm
    in centre (one section leaked or was cut).
    """
    frame = seg.frame
    axis = axial.axes_lps[:, 2]
    along = float(axis @ frame.normal)
    if abs(along) < np.cos(np.radians(15.0)):
        return None
    thickness = axial.spacing_mm[2]
    p_mm, l_mm = frame.axis_mm(1), frame.axis_mm(2)
    # where each column meets a slice's plane: n = (offset - p P.a - l L.a) / N.a, offset per slice
    slope = (p_mm[:, None] * float(frame.posterior @ axis) + l_mm[None, :] * float(frame.lateral @ axis)) / along
    offsets = (axial.image_to_lps[:3, 3] + np.arange(axial.shape[0])[:, None] * axial.image_to_lps[:3, 2] - frame.center_lps) @ axis
    half = thickness / 2 / abs(along)  # the slice's half thickness along the normal
    outline = seg.outline
    sections = []
    for surface, sign in ((seg.upper_mm, 1.0), (seg.lower_mm, -1.0)):
        best = None
        for k in np.argsort(sign * offsets):
            n = offsets[k] / along - slope
            beyond = sign * (n - surface) - half  # how far the slice's near face lies inside the body
            inside = beyond[outline]
            if np.nanpercentile(inside, 5) >= 1.0 and np.nanmedian(inside) <= 12.0:
                best = n
                break
        if best is None:
            return None
        sections.append(body_section(_smoothed(_on_surface(axial, frame, best), 0.6), covered, p_mm, l_mm))
    found = _fill_holes_2d(_largest_component_2d(_between(*sections) & covered))
    if not found.any() or not 0.75 <= found.sum() / outline.sum() <= 1.25:
        return None
    if np.linalg.norm(np.argwhere(found).mean(axis=0) - np.argwhere(outline).mean(axis=0)) * STEP_MM > 3.0:
        return None
    return found


def _on_surface(volume: Volume, frame: DiscFrame, n_mm: np.ndarray) -> np.ndarray:
    """[posterior, lateral]: ``volume`` sampled (trilinear, 0 outside) ``n_mm`` [posterior, lateral] along the
    normal from each column of ``frame``."""
    points = frame.to_lps(n_mm, frame.axis_mm(1)[:, None], frame.axis_mm(2)[None, :])
    return sample_trilinear(volume.array, volume.image_to_lps, points, 0.0).astype(np.float32)


def _with_outline(seg: DiscSegmentation, outline: np.ndarray) -> DiscSegmentation:
    """``seg`` with another endplate outline: surfaces extended over it from their neighbours, bodies above and
    below it, the disc its core plus the displaced material beyond it."""
    upper_mm = _fill_surface(np.where(seg.outline, seg.upper_mm, np.nan), outline)
    lower_mm = _fill_surface(np.where(seg.outline, seg.lower_mm, np.nan), outline)
    l5_body, s1_body = _bodies_over(outline, upper_mm, lower_mm, seg.frame.axis_mm(0))
    moved = replace(seg, outline=outline, upper_mm=upper_mm, lower_mm=lower_mm, l5_body=l5_body, s1_body=s1_body)
    core = moved.core()
    displaced = seg.displaced & ~core
    return replace(moved, disc=core | displaced, displaced=displaced)
