"""Classical segmentation of the L5-S1 disc and its endplates (issue 4), in a frame aligned with the disc.

The disc is the tissue between two vertebral endplates, whatever its signal
(bright when hydrated, dark when degenerated), so it is not grown from an
intensity but bounded by bone:

1. :class:`DiscFrame` resamples the series onto a 0.5 mm grid whose axes are
   the patient's left (LPS +x), the disc's posterior direction and its normal
   (superior), centred on the disc that level finding reported.
2. Every column along the normal that starts in L5 marrow above and in S1
   marrow below is searched, from each body towards the disc, for the dark
   cortical endplate; the disc spans between the two, less the cortex. The
   endplate outline (the ring apophyses: the reference outline of Lumbar Disc
   Nomenclature 2.0) runs half-way between the cross-sections of the L5 and S1
   bodies just beyond their endplates (:func:`_between`); each cross-section is found by rays from
   the centre that stop at the body's cortex (:func:`body_section`), so the
   outline cannot run into the tissue around the bodies. Columns where the
   endplate search failed, jumped, found a height far from the centre's or an
   endplate far off a plane get their surfaces from their neighbours.
3. Disc material displaced beyond that outline is grown from the disc's rim
   through tissue of disc-like signal (darker than CSF and fat, brighter than
   ligament and cortex, and like the displaced disc at its base; not within
   1 mm of CSF or fat, whose partial-volume rim looks the same; not part of
   a structure running on above and below the disc, like the psoas or a
   nerve root), connected to the rim in its own plane, within 20 mm of the
   outline posteriorly and laterally (5 mm anteriorly), and 14 mm above or
   below the endplates (migration: along the back of the bodies, under the
   displaced disc, in the canal: :func:`_in_the_canal`).
4. When the study has an axial series through the disc,
   :func:`displaced_on_axial` draws the endplate outline again on its slices
   just beyond each endplate and grows the displaced material again on it:
   its slices lie in the disc's plane, so the margins are sharp where a
   sagittal series' thick slices blur the lateral edges.

The masks live in the disc frame; :meth:`DiscSegmentation.series_mask`
resamples the disc onto the grid of the series it was computed from.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import SimpleITK as sitk

from planner.geometry import sample_trilinear
from planner.levels import sitk_image
from planner.volume import Volume

STEP_MM = 0.5
LATERAL_MM = (-40.0, 40.0)
POSTERIOR_MM = (-38.0, 45.0)
NORMAL_MM = (-26.0, 26.0)
CORTEX_MM = 1.0  # the dark endplate line belongs to the body; its thickness where its disc side is unclear
REACH_MM = 20.0  # how far displaced material may extend beyond the outline, posteriorly and laterally
#: laterally and anteriorly (beyond 60 degrees from posterior) only a bulge's few mm: at L5-S1 herniations
#: there are rare (far-lateral ones lie beyond the S1 root's course), and the psoas and prevertebral tissue
#: against the disc have its signal: on the real healthy volunteers' discs they read as 14-20 mm "bulges"
#: with the limit at 100 degrees
ANTERIOR_REACH_MM = 3.0
ANTERIOR_FROM_DEG = 60.0
#: posteriorly the full reach only in the central canal; beside it the lateral recess and the foramen are about
#: this deep before the facet joints (grey tissue there, the facet capsule and ligamentum flavum, read as
#: 16-22 mm "bulges" on healthy volunteers)
RECESS_REACH_MM = 8.0
CENTRAL_CANAL_HALF_WIDTH_MM = 12.0
MIGRATION_MM = 14.0
#: a free (sequestered) fragment: at most this high along the column (taller tissue runs on: roots, veins),
#: at least this big, centred within this distance of the midline (the anterior epidural space)
FRAGMENT_HEIGHT_MM = 11.0
FRAGMENT_MM3 = 100.0
FRAGMENT_MIDLINE_MM = 8.0
#: no continuity with the disc: this much other tissue between (beyond a partial-volume rim)
FRAGMENT_GAP_MM = 2.0
#: displaced material may overhang the endplate planes by this much; tissue of its signal running on
#: further both above and below is a vertical structure beside the disc
VERTICAL_MARGIN_MM = 3.0
#: the displaced material's base reaches to where its signal falls to this share of its own (brightest tenth)
BASE_EDGE = 0.7
#: displaced material's signal never falls under this share of its base's brightest tenth
SIMILAR_FLOOR = 0.6
#: Displaced material smaller than this beside the disc is noise or partial volume (a 3 mm protrusion on a
#: 12 mm base is about 150 mm^3)
MIN_DISPLACED_MM3 = 60.0
#: A migrated fragment's centre lies within this distance of the midline: the canal between the pedicles.
CANAL_HALF_WIDTH_MM = 15.0


class SegmentationFailed(ValueError):
    """The disc could not be segmented; the message says why."""


@dataclass(frozen=True)
class DiscFrame:
    """A grid aligned with a disc: array index [normal, posterior, lateral], ``STEP_MM`` apart."""

    center_lps: np.ndarray
    lateral: np.ndarray  # patient left (+x), orthogonal to the normal
    posterior: np.ndarray
    normal: np.ndarray  # superior

    @classmethod
    def around(cls, center_lps, normal_lps) -> "DiscFrame":
        normal = np.asarray(normal_lps, float) / np.linalg.norm(normal_lps)
        lateral = np.array([1.0, 0.0, 0.0]) - normal[0] * normal
        lateral /= np.linalg.norm(lateral)
        posterior = np.cross(normal, lateral)  # (n x l): for n = +z, l = +x gives +y, posterior
        return cls(np.asarray(center_lps, float), lateral, posterior, normal)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(round((hi - lo) / STEP_MM)) + 1 for lo, hi in (NORMAL_MM, POSTERIOR_MM, LATERAL_MM))

    def axis_mm(self, axis: int) -> np.ndarray:
        lo, hi = (NORMAL_MM, POSTERIOR_MM, LATERAL_MM)[axis]
        return lo + STEP_MM * np.arange(self.shape[axis])

    def reference(self) -> sitk.Image:
        n, p, l = self.shape
        image = sitk.Image([l, p, n], sitk.sitkUInt8)
        image.SetSpacing([STEP_MM] * 3)
        image.SetDirection(np.column_stack([self.lateral, self.posterior, self.normal]).ravel().tolist())
        origin = self.center_lps + LATERAL_MM[0] * self.lateral + POSTERIOR_MM[0] * self.posterior + NORMAL_MM[0] * self.normal
        image.SetOrigin(origin.tolist())
        return image

    def to_lps(self, n_mm, p_mm, l_mm) -> np.ndarray:
        return (
            self.center_lps
            + np.asarray(n_mm, float)[..., None] * self.normal
            + np.asarray(p_mm, float)[..., None] * self.posterior
            + np.asarray(l_mm, float)[..., None] * self.lateral
        )

    def covered_columns(self, volume: Volume, margin_mm: float = 1.0) -> np.ndarray:
        """[posterior, lateral]: the columns whose disc-plane point lies inside the series, ``margin_mm`` in."""
        p_mm, l_mm = self.axis_mm(1), self.axis_mm(2)
        points = self.to_lps(0.0, p_mm[:, None], l_mm[None, :])
        ijk = (points - volume.image_to_lps[:3, 3]) @ np.linalg.inv(volume.image_to_lps[:3, :3]).T
        spacing = np.asarray(volume.spacing_mm)
        size = np.asarray(volume.shape[::-1], float)
        return np.all((ijk >= -0.5 + margin_mm / spacing) & (ijk <= size - 0.5 - margin_mm / spacing), axis=-1)

    def sample(self, volume: Volume) -> np.ndarray:
        """The series resampled onto this frame (float32, linear; 0 outside the series)."""
        return sitk.GetArrayFromImage(
            sitk.Resample(sitk_image(volume), self.reference(), sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
        )


@dataclass
class DiscSegmentation:
    """The L5-S1 disc in its frame: masks [normal, posterior, lateral] and the endplate surfaces.

    ``upper_mm``/``lower_mm`` [posterior, lateral]: where the disc meets the L5
    and S1 endplates (NaN outside the outline); ``outline`` [posterior,
    lateral]: the endplate outline; ``disc``: the whole disc including
    displaced material; ``displaced``: only what lies beyond the outline.
    """

    frame: DiscFrame
    image: np.ndarray
    marrow: float
    outline: np.ndarray
    upper_mm: np.ndarray
    lower_mm: np.ndarray
    disc: np.ndarray
    displaced: np.ndarray
    l5_body: np.ndarray
    s1_body: np.ndarray
    warnings: list[str] = field(default_factory=list)
    covered: np.ndarray | None = None  # [posterior, lateral]: columns inside the series (None: all)
    displacement_series: str = "sagittal"  # where the displaced material was grown: "sagittal" or "axial"
    #: the image it was grown on, in the frame (smoothed; an axial series scaled to the disc's sagittal signal)
    displacement_image: np.ndarray | None = None

    def series_mask(self, volume: Volume, mask: np.ndarray | None = None) -> np.ndarray:
        """``mask`` (default: the disc) on the grid of ``volume``: bool [k, j, i]."""
        mask = self.disc if mask is None else mask
        source = sitk.GetImageFromArray(mask.astype(np.float32))
        reference = self.frame.reference()
        source.CopyInformation(reference)
        target = sitk.Image(list(volume.shape[::-1]), sitk.sitkFloat32)
        target.SetSpacing(volume.spacing_mm)
        target.SetOrigin(volume.origin_lps)
        target.SetDirection(volume.axes_lps.ravel().tolist())
        resampled = sitk.Resample(source, target, sitk.Transform(), sitk.sitkLinear, 0.0)
        return sitk.GetArrayFromImage(resampled) >= 0.5

    def core(self) -> np.ndarray:
        """The disc within its endplate outline: the columns of the outline, between the two endplates."""
        n_grid = self.frame.axis_mm(0)[:, None, None]
        upper = np.where(self.outline, self.upper_mm, -np.inf)[None]
        lower = np.where(self.outline, self.lower_mm, np.inf)[None]
        return self.outline[None] & (n_grid >= lower - 1e-6) & (n_grid <= upper + 1e-6)

    def set_disc(self, disc: np.ndarray) -> None:
        """Replace the disc mask (an edit); the displaced part is what lies outside the core."""
        if disc.shape != self.disc.shape:
            raise ValueError(f"disc mask shape {disc.shape} is not the frame's {self.disc.shape}")
        self.disc = disc.astype(bool, copy=False)
        self.displaced = self.disc & ~self.core()

    def copy(self) -> "DiscSegmentation":
        """An independent copy of the masks (the image and frame are shared: they never change)."""
        return replace(self, disc=self.disc.copy(), displaced=self.displaced.copy(), warnings=list(self.warnings))

    def endplate_planes_mm(self) -> tuple[float, float]:
        """(upper, lower): where the disc meets L5 and S1 near the rim, along the normal (mm)."""
        return endplate_planes_mm(self.outline, self.upper_mm, self.lower_mm)

    def volume_ml(self) -> float:
        return float(self.disc.sum()) * STEP_MM**3 / 1000.0

    def geometry(self) -> tuple[np.ndarray, np.ndarray, float]:
        """(centre LPS, superior normal LPS, height mm) of the segmented disc space: the centre half way
        between the endplate planes over the outline's centroid, the height the median over the central
        columns (within 8 mm of the midline), finer than the mid-sagittal search that found the level."""
        p_mm, l_mm = self.frame.axis_mm(1), self.frame.axis_mm(2)
        top, bottom = self.endplate_planes_mm()
        rows, cols = np.nonzero(self.outline)
        centre = self.frame.to_lps((top + bottom) / 2, float(p_mm[rows].mean()), float(l_mm[cols].mean()))
        central = self.outline & (np.abs(l_mm) <= 8.0)[None, :]
        heights = (self.upper_mm - self.lower_mm)[central if central.any() else self.outline]
        return np.asarray(centre, float), self.frame.normal.copy(), float(np.median(heights))


def _smoothed(array: np.ndarray, sigma_mm: float) -> np.ndarray:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing([STEP_MM] * array.ndim)
    return sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(image, sigma_mm))


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
        design = np.column_stack([np.ones(keep.sum()), p_grid[keep], l_grid[keep]])
        coefficients, *_ = np.linalg.lstsq(design, surface[keep], rcond=None)
        residual = np.abs(surface - (coefficients[0] + coefficients[1] * p_grid + coefficients[2] * l_grid))
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


def _bodies_over(outline, upper_mm, lower_mm, n_mm) -> tuple[np.ndarray, np.ndarray]:
    """(L5, S1): the outline's columns 25 mm beyond each endplate, the bodies as far as the disc frame needs them."""
    n_grid = n_mm[:, None, None]
    l5_body = outline[None] & (n_grid > upper_mm[None]) & (n_grid <= upper_mm[None] + 25.0)
    s1_body = outline[None] & (n_grid < lower_mm[None]) & (n_grid >= lower_mm[None] - 25.0)
    return l5_body, s1_body


def _ones_like(volume: Volume) -> Volume:
    return replace(volume, array=np.ones(volume.shape, np.float32))


def _erode_3d(mask: np.ndarray, radius: int) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.BinaryErode(sitk.GetImageFromArray(mask.astype(np.uint8)), [radius] * 3)) > 0


def _displaced(image, core, outline, upper_mm, lower_mm, n_mm, marrow, bone, inside_series) -> np.ndarray:
    """Disc-like tissue beyond the outline, connected to the disc's rim."""
    # the endplate planes extended beyond the outline
    top, bottom = endplate_planes_mm(outline, upper_mm, lower_mm)
    n_grid = n_mm[:, None, None]
    distance = distance_outside_mm(outline)
    beyond = (~outline) & (distance <= reach_mm(outline)) & inside_series
    slab = (n_grid <= top + MIGRATION_MM) & (n_grid >= bottom - MIGRATION_MM)
    # disc-like signal: between ligament/cortex and CSF/fat, judged against the disc itself
    disc_values = image[core]
    low = max(0.5 * marrow, float(np.percentile(disc_values, 5)) * 0.9)
    high = min(1.45 * marrow, float(np.percentile(disc_values, 95)) * 1.1)  # a dark disc: darker than marrow
    candidate = beyond[None] & slab & ~bone & (image >= low) & (image <= high)
    # in the canal disc material lies in front of the thecal sac (it indents the sac, it does not pass beside
    # it): grey tissue beside the sac's front is roots, fat and ligament, and read as 14-19 mm bulges on
    # healthy volunteers' discs
    within_slab = (n_mm <= top) & (n_mm >= bottom)
    if within_slab.any():
        candidate &= _in_front_of_the_sac(image[within_slab].mean(axis=0), outline, max(high, 1.3 * marrow))[None]
    # the partial-volume rim of CSF and fat has disc-like signal: not within 1 mm of them (first: the rim
    # along the thecal sac's front would otherwise join grey tissue above the disc to grey tissue below)
    candidate &= ~_morph(image > max(high, 1.3 * marrow), 2, "dilate")
    # disc material lies between the endplate planes (or migrates one way from them): tissue of its
    # signal that runs on above and below the disc is a vertical structure beside it (psoas, nerve
    # root, the thecal sac's wall, ligamentum flavum), not disc; where its column crosses the level
    # with another signal (displaced disc against grey epidural tissue), that stretch is not the structure
    within = (n_grid <= top) & (n_grid >= bottom)
    vertical = _through_the_level(candidate, n_mm, top + VERTICAL_MARGIN_MM, bottom - VERTICAL_MARGIN_MM)
    candidate &= ~(vertical & (~within | _like_the_rest_of_its_run(vertical, image, within)))
    # a bulge's thin layer, found before the opening below removes it
    layer = _bulging_layer(candidate, outline, distance, n_mm, top, bottom, within)
    # displaced material is a compact mass: strands under 3 mm thick (partial volume around the rim,
    # tissue squeezed between the thecal sac and bone) are opened away, the mass's own margin is
    # grown back within the candidate tissue
    opened = _morph(candidate, 3, "open")
    candidate = _morph(opened, 2, "dilate") & candidate
    seeds = _morph(core, 2, "dilate") & candidate
    displaced = _connected_to(candidate, seeds) if seeds.any() else np.zeros_like(core)
    # displaced material has the signal of the displaced disc at its base, not of the grey tissue it
    # abuts (nerve roots, ligament, muscle): keep what is within 0.8-1.45 times the base's signal
    base = displaced & (distance <= 2.0)[None]
    if base.sum() >= 20:
        # its signal: the brightest tenth (the median takes in the partial volume at the endplates and its
        # sides and, in a noisy image, the speckle of grey tissue along the rim that passed as disc-like)
        reference = float(np.median(image[base]))
        signal = float(np.percentile(image[base], 90))
        # similar: down to 0.8 of the median (the partial volume at the material's margin), never under
        # SIMILAR_FLOOR of its signal (that median pulled down by speckle let grey tissue in and, through
        # the upper bound, cut the material itself off); up to 1.45 of its signal (short of CSF and fat)
        similar = (image >= max(0.8 * reference, SIMILAR_FLOOR * signal)) & (image <= 1.45 * signal)
        # the base itself is kept up to its edge (the fringe beyond widened the base): half-way between
        # its signal and the grey tissue beside it (ligament, epidural tissue), or BASE_EDGE of its signal
        edge = BASE_EDGE * signal
        beside = _beside(base, displaced | core, distance)
        if beside.sum() >= 20:
            around = float(np.median(image[beside]))
            if around < 0.8 * signal:  # darker tissue beside it (not CSF or fat)
                edge = max(edge, (signal + around) / 2)
        base &= image >= edge
        displaced = _connected_to(_morph(displaced & similar, 2, "open") | base, seeds)
    displaced |= layer
    # between the endplate planes the disc is squeezed out plane by plane: what counts is connected
    # to the rim in its own plane (not via a structure running up or down the canal)
    rim = _morph(outline, 2, "dilate")
    for k in np.nonzero(within[:, 0, 0])[0]:
        displaced[k] = _connected_to(displaced[k], rim) if displaced[k].any() else displaced[k]
    # a few cubic millimetres beside the rim are noise or partial volume, not a displacement to measure
    displaced = (displaced & ~within) | _at_least(displaced & within, MIN_DISPLACED_MM3)
    # a thin strand held to the rim by a narrow neck, with no wider head, is a root, a vein or the dural sleeve
    displaced &= ~_strands(displaced & within, outline)[None]
    # beyond the endplate planes (migration) only material at least 3 mm thick counts: a ligament,
    # the dural sac's wall or a vessel along the column is thinner
    # and it migrates in the epidural space, behind the bodies: not along their front or sides
    rows = np.arange(outline.shape[0])[:, None]
    margin = np.where(outline.any(axis=0), outline.shape[0] - 1 - np.argmax(outline[::-1], axis=0), outline.shape[0])
    behind = rows >= margin[None, :] - int(round(2.0 / STEP_MM))
    # and along the back of the bodies, under the displaced disc: not in the canal behind it (nerve roots,
    # the partial-volume rim of the thecal sac across thick sagittal slices)
    footprint = _morph((displaced & within).any(axis=0), int(round(2.0 / STEP_MM)), "dilate")
    outside_height = _morph(displaced & ~within & (behind & footprint)[None], 3, "open")
    if outside_height.any():
        outside_height = _connected_to(outside_height, _morph(displaced & within, 2, "dilate"), fully_connected=False)
    # a migrated fragment lies against the back of the body in each of its planes (the anterior
    # epidural space), not free in the canal or the foramen
    for k in np.nonzero(outside_height.any(axis=(1, 2)))[0]:
        wall = _morph(bone[k], int(round(2.0 / STEP_MM)), "dilate")
        outside_height[k] = _connected_to(outside_height[k], wall) if wall.any() else False
    kept = (displaced & within) | _in_the_canal(outside_height, outline)
    return kept | _sequestered(candidate & behind[None] & ~within & ~kept, core | kept, bone, outline, n_mm, top, bottom)


#: tissue seen along the normal narrower than twice this (mm) and running on radially for more than
#: STRAND_RUN_MM is a strand beside the disc (a root, a vein, the dural sleeve), not disc
STRAND_RADIUS_MM = 2.0
STRAND_RUN_MM = 3.0


def _strands(displaced: np.ndarray, outline: np.ndarray) -> np.ndarray:
    """[posterior, lateral]: the parts of ``displaced`` (3D, between the endplate planes) seen along the normal
    that are strands, not herniated disc: narrower than ``2 * STRAND_RADIUS_MM`` (what an opening of that radius
    removes), beyond the first millimetre, and running on radially for more than ``STRAND_RUN_MM``. Herniated
    disc is squeezed out over a base several millimetres wide and its dome narrows only at the apex (under
    2 mm of run, kept); healthy volunteers' discs read as 13-16 mm "bulges" from strands beside the thecal sac."""
    distance = distance_outside_mm(outline)
    seen = displaced.any(axis=0) & ~outline
    if not seen.any():
        return np.zeros_like(outline)
    thick = _morph(seen, int(round(STRAND_RADIUS_MM / STEP_MM)), "open")
    thin = seen & ~thick & (distance > 1.0)
    if not thin.any():
        return np.zeros_like(outline)
    labels = sitk.GetArrayFromImage(sitk.ConnectedComponent(sitk.GetImageFromArray(thin.astype(np.uint8)), True))
    strands = np.zeros_like(outline)
    for label in range(1, int(labels.max()) + 1):
        piece = labels == label
        run = float(distance[piece].max() - distance[piece].min())
        if run > STRAND_RUN_MM and float(distance[piece].max()) > 4.0:
            strands |= piece
    return strands


def _extent_mm(mask: np.ndarray) -> float:
    """The largest distance between two pixels of a 2D mask (mm; 0 when empty)."""
    points = np.argwhere(mask)
    if len(points) < 2:
        return float(len(points)) * STEP_MM
    if len(points) > 400:
        points = points[:: len(points) // 400 + 1]
    differences = points[:, None, :] - points[None, :, :]
    return float(np.sqrt((differences**2).sum(axis=-1)).max()) * STEP_MM + STEP_MM


def _sequestered(candidate, disc, bone, outline, n_mm, top: float, bottom: float) -> np.ndarray:
    """Free fragments of disc-like tissue above or below the disc: no continuity with ``disc`` (FRAGMENT_GAP_MM
    or more from it), at least FRAGMENT_MM3 of compact tissue (``candidate`` is opened: at least 3 mm thick), at
    most FRAGMENT_HEIGHT_MM high (a root or vessel running on is no fragment), where a sequestered fragment
    lies: in the anterior epidural space, against the back of the bodies in half its planes or more, wholly
    behind the outline's posterior margin and starting within 3 mm of it, centred within
    FRAGMENT_MIDLINE_MM of the midline. Grey tissue beside the bodies, in the lateral recesses (roots,
    veins) or free in the canal was taken for fragments on three of the five real studies without these."""
    pieces = _at_least(candidate, FRAGMENT_MM3) if candidate.any() else candidate
    if not pieces.any():
        return pieces
    labels = sitk.GetArrayFromImage(sitk.ConnectedComponent(sitk.GetImageFromArray(pieces.astype(np.uint8)), True))
    fragments = np.zeros_like(pieces)
    within_2mm = int(round(2.0 / STEP_MM))  # of the bodies, plane by plane
    wall = None
    for label in range(1, int(labels.max()) + 1):
        piece = labels == label
        planes = np.nonzero(piece.any(axis=(1, 2)))[0]
        compact = (  # bounded: not cut by the migration slab's ends (tissue running on along the bodies)
            n_mm[planes].max() - n_mm[planes].min() <= FRAGMENT_HEIGHT_MM
            and n_mm[planes].max() < top + MIGRATION_MM - 1.0
            and n_mm[planes].min() > bottom - MIGRATION_MM + 1.0
        )
        if not (compact and where_fragments_lie(piece, outline)) or comes_within(piece, disc, FRAGMENT_GAP_MM):
            continue
        if wall is None:
            wall = sitk.GetArrayFromImage(sitk.BinaryDilate(sitk.GetImageFromArray(bone.astype(np.uint8)), [within_2mm, within_2mm, 0])) > 0
        if np.mean([(piece[k] & wall[k]).any() for k in planes]) >= 0.5:  # against the bodies; its ends taper off
            fragments |= piece
    return fragments


def comes_within(piece: np.ndarray, other: np.ndarray, mm: float) -> bool:
    """Whether ``other`` comes within ``mm`` of ``piece`` (3D masks in the disc frame), on ``piece``'s bounding
    box only (a small piece beside a large mask)."""
    radius = int(round(mm / STEP_MM))
    box = tuple(slice(max(0, int(i.min()) - radius), int(i.max()) + radius + 1) for i in np.nonzero(piece))
    return bool((_morph_array(piece[box], radius, "dilate") & other[box]).any())


def where_fragments_lie(piece: np.ndarray, outline: np.ndarray) -> bool:
    """Whether ``piece`` (3D, in the disc frame) lies where a sequestered fragment does: in the anterior
    epidural space, wholly behind the outline's posterior margin and starting within 3 mm of it, centred
    within FRAGMENT_MIDLINE_MM of the midline."""
    margin = int(np.nonzero(outline.any(axis=1))[0].max())  # the outline's posterior margin (row)
    midline = float(np.argwhere(outline)[:, 1].mean())
    rows, columns = np.nonzero(piece.any(axis=0))
    epidural = margin - 1 <= rows.min() <= margin + int(round(3.0 / STEP_MM))
    return bool(epidural and abs(columns.mean() - midline) * STEP_MM <= FRAGMENT_MIDLINE_MM)


def _beside(base: np.ndarray, taken: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """The tissue beside the displaced material's ``base`` (3D): within 3 mm of it seen along the normal,
    in its planes, in the first 2 mm beyond the outline, not ``taken`` (the disc and displaced material)."""
    footprint = _morph(base.any(axis=0), int(round(3.0 / STEP_MM)), "dilate")
    shell = (distance > 0.0) & (distance <= 2.0)
    return (footprint & shell)[None] & base.any(axis=(1, 2))[:, None, None] & ~taken


def direction_degrees(posterior, lateral) -> np.ndarray:
    """Whole degrees (0-359) of offsets from the disc's centre in its frame: 0 posterior, +90 the patient's
    left, the convention of d(theta)."""
    return np.rint(np.degrees(np.arctan2(lateral, posterior))).astype(int) % 360


def _bulging_layer(candidate, outline, distance, n_mm, top: float, bottom: float, within) -> np.ndarray:
    """The thin layer of a bulge: disc-like tissue hugging the outline over more than 90 degrees.

    A bulging annulus is displaced 2-3 mm along a long stretch of the rim,
    which the opening against partial-volume strands removes. It is told from
    noise and partial volume by being dense: over the middle half of the
    disc's height, at least 80 % of the first 2 mm beyond the outline is
    disc-like (11-degree running mean per direction), where the speckle of
    noise fills under half. Returns the candidate tissue within 2.5 mm of the
    outline, between the endplate planes, in the dense directions; empty when
    they add up to 90 degrees or less (a protrusion's base is dense too).
    """
    shell = (distance > 0.25) & (distance <= 2.0)
    quarter = 0.25 * (top - bottom)
    middle = (n_mm <= top - quarter) & (n_mm >= bottom + quarter)
    if not middle.any() or not shell.any():
        return np.zeros_like(candidate)
    centre = np.argwhere(outline).mean(axis=0)
    rows, columns = np.indices(outline.shape)
    degrees = direction_degrees(rows - centre[0], columns - centre[1])
    fill = candidate[middle][:, shell].mean(axis=0)
    per_degree = np.bincount(degrees[shell], weights=fill, minlength=360) / np.maximum(
        np.bincount(degrees[shell], minlength=360), 1
    )
    running = np.convolve(np.r_[per_degree[-5:], per_degree, per_degree[:5]], np.ones(11) / 11, mode="valid")
    dense = running >= 0.8
    if dense.sum() <= 90:
        return np.zeros_like(candidate)
    return candidate & within & ((distance <= 2.5) & dense[degrees])[None]


def _at_least(mask: np.ndarray, volume_mm3: float) -> np.ndarray:
    """The connected components (26-connected) of ``mask`` of at least ``volume_mm3``."""
    image = sitk.ConnectedComponent(sitk.GetImageFromArray(mask.astype(np.uint8)), True)
    smallest = int(np.ceil(volume_mm3 / STEP_MM**3))
    return sitk.GetArrayFromImage(sitk.RelabelComponent(image, minimumObjectSize=smallest)) > 0


def _in_the_canal(mask: np.ndarray, outline: np.ndarray, half_width_mm: float = CANAL_HALF_WIDTH_MM) -> np.ndarray:
    """The parts of ``mask`` (3D) centred within ``half_width_mm`` of the outline's midline.

    A fragment migrates in the anterior epidural space, between the pedicles;
    tissue of disc signal above or below the disc further out (nerve roots and
    their ganglia in the foramina, the psoas) cannot be told from it on T2 and
    is not counted as migration."""
    if not mask.any():
        return mask
    labels = sitk.GetArrayFromImage(sitk.ConnectedComponent(sitk.GetImageFromArray(mask.astype(np.uint8)), True))
    midline = float(np.argwhere(outline)[:, 1].mean())
    found = labels[mask]
    column = np.bincount(found, weights=np.nonzero(mask)[2]) / np.maximum(np.bincount(found), 1)  # per label
    central = np.abs(column - midline) * STEP_MM <= half_width_mm
    central[0] = False  # the background
    return central[labels]


def _like_the_rest_of_its_run(run: np.ndarray, image: np.ndarray, level: np.ndarray, tolerance: float = 0.25) -> np.ndarray:
    """Voxels of ``run`` (runs along axis 0 through ``level``) whose signal is within ``tolerance`` of the mean
    of their column's run outside ``level``: the same structure all along, not something it passes."""
    outside = run & ~level
    count = outside.sum(axis=0)
    mean = (image * outside).sum(axis=0) / np.maximum(count, 1)
    return run & (np.abs(image - mean[None]) <= tolerance * mean[None]) & (count > 0)[None]


def _through_the_level(mask: np.ndarray, n_mm: np.ndarray, above_mm: float, below_mm: float) -> np.ndarray:
    """The runs of ``mask`` along the normal (axis 0) that reach both above ``above_mm`` and below ``below_mm``."""
    n = mask.shape[0]
    highest = np.full(mask.shape, -1, dtype=np.int32)  # per voxel, the top index of its run
    lowest = np.full(mask.shape, -1, dtype=np.int32)
    highest[n - 1] = np.where(mask[n - 1], n - 1, -1)
    for k in range(n - 2, -1, -1):
        highest[k] = np.where(mask[k], np.where(mask[k + 1], highest[k + 1], k), -1)
    lowest[0] = np.where(mask[0], 0, -1)
    for k in range(1, n):
        lowest[k] = np.where(mask[k], np.where(mask[k - 1], lowest[k - 1], k), -1)
    reaches_up = n_mm[np.maximum(highest, 0)] >= above_mm
    reaches_down = n_mm[np.maximum(lowest, 0)] <= below_mm
    return mask & reaches_up & reaches_down


#: the thecal sac's front is looked for this far behind the disc (mm), and carried this far beside it (mm)
SAC_SEARCH_MM = 25.0
SAC_BESIDE_MM = 8.0


def _in_front_of_the_sac(plane: np.ndarray, outline: np.ndarray, bright: float) -> np.ndarray:
    """[posterior, lateral]: where displaced disc may lie, as far as the thecal sac is concerned. The sac is the
    bright (CSF) region behind the disc's posterior margin nearest the midline, within ``SAC_SEARCH_MM``; in its
    columns displaced disc lies in front of it, in the columns beside it (within ``SAC_BESIDE_MM``) in front of
    its nearest column's front; further out anywhere (the foramina are limited by :func:`reach_mm`).
    ``plane``: the image at the disc's height."""
    allowed = np.ones(outline.shape, bool)
    if not outline.any():
        return allowed
    rows = np.arange(outline.shape[0])[:, None]
    columns = np.arange(outline.shape[1])
    back = int(np.nonzero(outline.any(axis=1))[0].max())  # the disc's posterior margin (row)
    margin = np.where(outline.any(axis=0), outline.shape[0] - 1 - np.argmax(outline[::-1], axis=0), -1)
    search = (rows >= back - int(round(4.0 / STEP_MM))) & (rows <= back + int(round(SAC_SEARCH_MM / STEP_MM)))
    bright_plane = _morph(plane > bright, 1, "open") & search & (rows > margin[None, :])
    if not bright_plane.any():
        return allowed
    labels = sitk.GetArrayFromImage(sitk.ConnectedComponent(sitk.GetImageFromArray(bright_plane.astype(np.uint8)), True))
    centre = np.argwhere(outline).mean(axis=0)
    central = (np.abs(columns - centre[1]) * STEP_MM <= CENTRAL_CANAL_HALF_WIDTH_MM)[None, :]
    counts = np.bincount(labels[bright_plane & central], minlength=labels.max() + 1)
    counts[0] = 0
    if counts.max() < int(round(4.0 / STEP_MM)) ** 2:  # no CSF of a sac's size behind the disc (a T1 series)
        return allowed
    sac = labels == int(np.argmax(counts))
    sac_columns = np.nonzero(sac.any(axis=0))[0]
    front = np.argmax(sac, axis=0)
    limit = np.full(outline.shape[1], outline.shape[0], dtype=float)
    limit[sac_columns] = front[sac_columns]
    beside = int(round(SAC_BESIDE_MM / STEP_MM))
    for column in np.setdiff1d(columns, sac_columns):
        nearest = sac_columns[np.argmin(np.abs(sac_columns - column))]
        if abs(nearest - column) <= beside:
            limit[column] = front[nearest]
    return rows < limit[None, :]


def reach_mm(outline: np.ndarray) -> np.ndarray:
    """[posterior, lateral]: how far beyond ``outline`` displaced material is looked for, by place: within
    ``ANTERIOR_FROM_DEG`` of posterior ``REACH_MM`` in the central canal and ``RECESS_REACH_MM`` beside it (the
    lateral recess, the foramen); elsewhere a bulge's ``ANTERIOR_REACH_MM`` (LDN 2.0: bulges usually extend
    less than 3 mm beyond the apophyses)."""
    rows, columns = np.indices(outline.shape)
    centre = np.argwhere(outline).mean(axis=0)
    cos_from_posterior = (rows - centre[0]) / np.maximum(np.hypot(rows - centre[0], columns - centre[1]), 1e-6)
    central = np.abs(columns - centre[1]) * STEP_MM <= CENTRAL_CANAL_HALF_WIDTH_MM
    posterior = np.where(central, REACH_MM, RECESS_REACH_MM)
    return np.where(cos_from_posterior >= np.cos(np.radians(ANTERIOR_FROM_DEG)), posterior, ANTERIOR_REACH_MM)


def _connected_to(mask: np.ndarray, seeds: np.ndarray, fully_connected: bool = True) -> np.ndarray:
    """The components of ``mask`` that contain a seed (fully connected: 8 in 2D, 26 in 3D; else 4 / 6)."""
    image = sitk.GetImageFromArray(mask.astype(np.uint8))
    labels = sitk.GetArrayFromImage(sitk.ConnectedComponent(image, fully_connected))
    touching = np.unique(labels[seeds & mask])
    return np.isin(labels, touching[touching > 0])


def endplate_planes_mm(outline: np.ndarray, upper_mm: np.ndarray, lower_mm: np.ndarray) -> tuple[float, float]:
    """The median of each endplate surface over the outline's outer 2 mm."""
    rim = outline & ~_erode2d(outline, 4)
    upper, lower = upper_mm[rim], lower_mm[rim]
    if not (np.isfinite(upper).any() and np.isfinite(lower).any()):
        raise SegmentationFailed("no endplate surfaces along the outline's rim (a body is cut by the series' edge?)")
    return float(np.nanmedian(upper)), float(np.nanmedian(lower))


def distance_outside_mm(mask: np.ndarray) -> np.ndarray:
    """Distance (mm) of each pixel from ``mask`` (negative inside)."""
    image = sitk.GetImageFromArray(mask.astype(np.uint8))
    # SimpleITK's default is the squared distance: ask for the distance itself
    distance = sitk.SignedMaurerDistanceMap(image, insideIsPositive=False, squaredDistance=False, useImageSpacing=False)
    return sitk.GetArrayFromImage(distance) * STEP_MM


def _erode2d(mask: np.ndarray, radius: int) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.BinaryErode(sitk.GetImageFromArray(mask.astype(np.uint8)), [radius] * mask.ndim)) > 0
