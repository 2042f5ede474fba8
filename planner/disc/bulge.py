"""Bulge analysis of the segmented L5-S1 disc by Lumbar Disc Nomenclature 2.0 (Fardon et al. 2014).

In the disc frame (:mod:`planner.disc.segmentation`), the reference outline is the
endplate outline; the displacement profile d(theta) is how far disc tissue
reaches beyond it (perpendicular to it) in each direction from the outline's
centre, theta = 0 pointing posterior and +90 degrees to the patient's left. From that profile and the
displaced material itself:

* normal: nothing displaced by more than ``THRESHOLD_MM``;
* bulge: displaced over more than 25 % (90 degrees) of the circumference,
  circumferential (> 270 degrees, side bilateral) or asymmetric;
* protrusion: localized, displaced material no wider than its base;
* extrusion: wider than its base (the dome), or reaching above/below the
  endplates (migration, with direction and distance);
* sequestration: displaced material with no continuity with the disc (a piece
  of the mask 2 mm or more from the disc and from displaced material at the
  level, where fragments lie: the anterior epidural space); the classical
  segmenter keeps such fragments only when compact, bounded and paramedian
  (:func:`planner.disc.segmentation.where_fragments_lie`), and a user may brush one.

Arcs between 90 and 180 degrees are flagged: the literature disagrees there.

d(theta) is read off the mask, except at the dome's top where the material
abuts CSF or fat with no dark line between: there it reaches the edge seen
in the image, half way from the material's signal to the CSF's (the mask
keeps off the CSF's partial-volume rim).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from planner.disc.segmentation import (
    FRAGMENT_GAP_MM,
    FRAGMENT_MM3,
    STEP_MM,
    DiscSegmentation,
    comes_within,
    direction_degrees,
    distance_outside_mm,
    where_fragments_lie,
)
from planner.disc.segmentation.frame import fitted_plane_mm
from planner.disc.segmentation.masks import _connected_to, _erode2d, ray_pixels
from planner.disc.surroundings import disc_heights, root_contact, thecal_sac
from planner.geometry import sample_bilinear

THRESHOLD_MM = 1.5
#: displaced material is measured in the disc's height less this share at either endplate
MIDDLE_MARGIN = 0.2
NOT_ASSESSABLE = "not assessable"
#: a disc-like mask (issue 23): volume (ml), height over the central columns (mm), antero-posterior depth (mm)
DISC_VOLUME_ML = (3.0, 25.0)
DISC_HEIGHT_RANGE_MM = (4.0, 18.0)
DISC_DEPTH_MM = (25.0, 55.0)
ZONES_MM = ((8.0, "central"), (16.0, "subarticular"), (26.0, "foraminal"))
#: a dome this much wider than its base is wider in fact, by the series the widths were measured on: beyond
#: the partial volume at both lateral edges (an axial series' in-plane pixels; a sagittal series' slices)
WIDER_MM = {"axial": 2.0, "sagittal": 3.0}
#: a bulge reaching further than this is warned of (LDN 2.0: bulges typically extend under 3 mm)
DEEPEST_BULGE_MM = 5.0
#: how far beyond the segmented tip the edge against CSF or fat is looked for
EDGE_SEARCH_MM = 3.0
#: how far beyond a displaced chord's ends (base and dome widths) its edge is looked for; the tissue beside
#: it is read in the last millimetre
EDGE_ACROSS_MM = 3.0


@dataclass
class BulgeFinding:
    classification: str
    side: str
    zone: str
    focal: str | None
    max_displacement_mm: float
    displaced_arc_deg: float
    base_width_mm: float
    dome_width_mm: float
    migration_mm: float
    migration_direction: str | None
    disc_height_mm: dict
    canal: dict
    s1_root_contact: dict
    profile_mm: list[float]
    warnings: list[str] = field(default_factory=list)
    #: why the disc mask is not disc-like (empty: reliable); then no class or displacement is given
    problems: list[str] = field(default_factory=list)
    #: what was measured on a mask that is not reliable (for review only)
    measured: "BulgeFinding | None" = None

    @property
    def reliable(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict:
        if not self.reliable:
            return {
                "classification": NOT_ASSESSABLE,
                "reliable": False,
                "not_reliable_because": list(self.problems),
                "disc_height_mm": {k: round(v, 2) for k, v in self.disc_height_mm.items()},
                "canal": {k: (round(v, 1) if v is not None else None) for k, v in self.canal.items()},
                "measured_on_unreliable_mask": self.measured.as_dict() if self.measured is not None else None,
            }
        return {
            "reliable": True,
            "classification": self.classification,
            "side": self.side,
            "zone": self.zone,
            "focal": self.focal,
            "max_displacement_mm": round(self.max_displacement_mm, 2),
            "displaced_arc_deg": round(self.displaced_arc_deg, 1),
            "base_width_mm": round(self.base_width_mm, 2),
            "dome_width_mm": round(self.dome_width_mm, 2),
            "migration_mm": round(self.migration_mm, 2),
            "migration_direction": self.migration_direction,
            "disc_height_mm": {k: round(v, 2) for k, v in self.disc_height_mm.items()},
            "canal": {k: (round(v, 1) if v is not None else None) for k, v in self.canal.items()},
            "s1_root_contact": self.s1_root_contact,
            "displacement_profile_mm": [round(v, 2) for v in self.profile_mm],
        }


def ray_extent_mm(mask: np.ndarray, centre: np.ndarray, angles: np.ndarray, max_mm: float = 60.0) -> np.ndarray:
    """Distance (mm) from ``centre`` (p, l index) to the last mask pixel along each ray."""
    radii = np.arange(0.0, max_mm, STEP_MM / 2)
    p, l, inside = ray_pixels(mask.shape, centre, angles, radii)
    hit = np.zeros_like(inside)
    hit[inside] = mask[p[inside], l[inside]]
    last = np.where(hit.any(axis=1), hit.shape[1] - 1 - np.argmax(hit[:, ::-1], axis=1), 0)
    return radii[last]


def displacement_profile_mm(disc2d: np.ndarray, outline: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """d(theta), one value per degree: how far (mm, perpendicular to the outline) the disc reaches beyond it.

    Each pixel of ``disc2d`` outside ``outline`` has its distance from the
    outline; theta is its direction from ``centre`` (0 posterior, +90 the
    patient's left). A direction's value is the largest distance within
    +-2 degrees (pixels far out are sparse in angle). Measured along the
    perpendicular, not along the ray from the centre, which overstates an
    off-centre herniation crossing the outline obliquely.
    """
    beyond = disc2d & ~outline
    profile = np.zeros(360)
    if not beyond.any():
        return profile
    rows, cols = np.nonzero(beyond)
    distance = distance_outside_mm(outline)[rows, cols]
    degrees = direction_degrees(rows - centre[0], cols - centre[1])
    np.maximum.at(profile, degrees, distance)
    padded = np.concatenate([profile[-2:], profile, profile[:2]])
    return np.lib.stride_tricks.sliding_window_view(padded, 5).max(axis=1)


def disc_problems(seg: DiscSegmentation) -> list[str]:
    """Why the segmented disc is not disc-like (empty when it is): its volume, its height over the central
    columns, its antero-posterior depth, and whether it lies in the space between the two bodies."""
    problems = []
    volume = seg.volume_ml()
    if not DISC_VOLUME_ML[0] <= volume <= DISC_VOLUME_ML[1]:
        problems.append(f"disc volume {volume:.1f} ml outside {DISC_VOLUME_ML[0]:.0f}-{DISC_VOLUME_ML[1]:.0f} ml")
    if seg.outline.any():
        _, _, height = seg.geometry()
        if not DISC_HEIGHT_RANGE_MM[0] <= height <= DISC_HEIGHT_RANGE_MM[1]:
            problems.append(
                f"disc height {height:.1f} mm outside {DISC_HEIGHT_RANGE_MM[0]:.0f}-{DISC_HEIGHT_RANGE_MM[1]:.0f} mm"
            )
        rows = np.nonzero(seg.outline.any(axis=1))[0]
        depth = (rows.max() - rows.min() + 1) * STEP_MM
        if not DISC_DEPTH_MM[0] <= depth <= DISC_DEPTH_MM[1]:
            problems.append(f"disc depth {depth:.1f} mm outside {DISC_DEPTH_MM[0]:.0f}-{DISC_DEPTH_MM[1]:.0f} mm")
        departure, half = _middle_off_the_slab_mm(seg)
        if departure > half:
            problems.append(
                f"the disc's middle runs {departure:.1f} mm off the middle of the slab its displacement is measured "
                f"in at its margin, beyond the endplate planes ({half:.1f} mm either side): the disc lies tilted in "
                "the measuring frame"
            )
    else:
        problems.append("no endplate outline")
    if not seg.l5_body.any() or not seg.s1_body.any():
        problems.append("no vertebral body on one side of the disc")
    elif (seg.core() & (seg.l5_body | seg.s1_body)).sum() > 0.05 * max(seg.core().sum(), 1):
        problems.append("the disc mask runs into the vertebral bodies")
    return problems


def _middle_off_the_slab_mm(seg: DiscSegmentation) -> tuple[float, float]:
    """(how far the disc's middle departs from the middle of the slab that displacement is measured in, at most
    along the outline's rim; half the distance between the endplate planes), mm.

    Displaced material is measured in the middle of the disc's height, in planes across the frame's normal
    between the endplate planes (less MIDDLE_MARGIN of the height at each). When the disc lies tilted in the
    frame (its normal taken from the model's disc, 17.5 degrees off the endplates found on a healthy
    volunteer's disc, vb3-08), its middle leaves that slab towards the margins; where it runs further off than
    half the height, the slab there lies beyond an endplate plane, and what is measured is the tissue along the
    bodies' corners and behind them (a 20 mm "bulge" on vb3-08). The disc's middle is the plane fitted
    half-way between its endplate surfaces.
    """
    top, bottom = seg.endplate_planes_mm()
    middle = (seg.upper_mm + seg.lower_mm) / 2
    known = seg.outline & np.isfinite(middle)
    if known.sum() < 10:
        return 0.0, (top - bottom) / 2
    plane = fitted_plane_mm(middle, known, seg.frame.axis_mm(1), seg.frame.axis_mm(2))
    rim = seg.outline & ~_erode2d(seg.outline, 1)
    return float(np.abs(plane[rim] - (top + bottom) / 2).max()), float((top - bottom) / 2)


def analyse_bulge(seg: DiscSegmentation) -> BulgeFinding:
    """The LDN 2.0 finding of ``seg``; when its mask is not disc-like (:func:`disc_problems`), a finding
    "not assessable" that says why and gives no class or displacement."""
    finding = _analyse(seg)
    problems = disc_problems(seg)
    if not problems:
        return finding
    warning = (
        "The disc measurement is not reliable (" + "; ".join(problems) + "): no class or displacement is given. "
        "Check the level and correct the disc mask (seed click, brush), or read the images directly."
    )
    return BulgeFinding(
        NOT_ASSESSABLE, "", "", None, 0.0, 0.0, 0.0, 0.0, 0.0, None, finding.disc_height_mm, finding.canal,
        {"left": False, "right": False}, [0.0] * 360, [warning, *finding.warnings], problems, finding,
    )


def _analyse(seg: DiscSegmentation) -> BulgeFinding:
    frame = seg.frame
    n_mm, p_mm, l_mm = (frame.axis_mm(a) for a in range(3))
    outline = seg.outline
    top, bottom = seg.endplate_planes_mm()
    within = (n_mm <= top + 1.0) & (n_mm >= bottom - 1.0)
    # the disc seen along its normal; beyond the outline only where displaced material is at least 2 mm high
    # within the middle 60 % of the disc's height: disc is squeezed out between the endplates and fills its
    # base's height, where tissue touching the rim near an endplate (the ring apophysis' partial volume, epidural
    # veins, a root against the body) does not: on healthy volunteers' discs such tissue read as 12-20 mm bulges
    free = _free_fragments(seg)  # sequestered: no continuity with the disc
    margin = MIDDLE_MARGIN * (top - bottom)
    middle = (n_mm <= top - margin) & (n_mm >= bottom + margin)
    if not middle.any():
        middle = within
    disc2d = ((seg.disc & ~free)[middle].sum(axis=0) * STEP_MM >= min(2.0, 0.5 * middle.sum() * STEP_MM)) | outline
    # displaced disc is continuous with the disc at its base: a piece the projection shows apart from the outline
    # (grey tissue in the epidural fat that passed as disc-like in another slice) is not its reach
    disc2d = _connected_to(disc2d, outline)
    centre = np.argwhere(outline).mean(axis=0)
    angles = np.radians(np.arange(360.0))
    profile = displacement_profile_mm(disc2d, outline, centre)
    warnings: list[str] = []
    unseen = _unseen_directions(seg, centre, angles)
    if unseen.any():
        profile[unseen] = 0.0  # not measurable: the series ends at the outline there
        sides = sorted({"left" if np.sin(a) > 0 else "right" for a in angles[unseen]})
        warnings.append(
            f"The series does not cover the disc's {' and '.join(sides)} margin ({int(unseen.sum())} degrees of the "
            "circumference): displacement there cannot be assessed; add slices laterally or use the axial series."
        )
    displaced = profile >= THRESHOLD_MM
    middle_image = _middle_height_image(seg)
    profile = np.where(displaced, _to_the_edge_against_brighter_tissue(seg, middle_image, disc2d, centre, profile), profile)
    arc = float(displaced.sum())
    max_d = float(profile.max()) if displaced.any() else 0.0

    # migration: displaced material beyond the endplate planes
    beyond = seg.displaced & ~free & ~within[:, None, None]
    migration, direction = 0.0, None
    if beyond.any():
        n_idx = np.nonzero(beyond.any(axis=(1, 2)))[0]
        up, down = n_mm[n_idx].max() - top, bottom - n_mm[n_idx].min()
        if max(up, down) > 2.0:
            migration, direction = (float(up), "cranial") if up >= down else (float(down), "caudal")
        if migration and not displaced.any():
            # nothing displaced at the level to have migrated from: not classified as migration
            warnings.append(
                f"Tissue of disc signal {migration:.0f} mm {direction} to the disc behind the body, with no displaced "
                "disc at the level: a sequestered fragment, a vein or a nerve root? Not classified; review the images."
            )
            migration, direction = 0.0, None

    # the displaced material in the axial projection: base on the outline, dome beyond it
    beyond_outline = disc2d & ~outline
    l_grid = np.broadcast_to(l_mm[None, :], outline.shape)
    p_grid = np.broadcast_to(p_mm[:, None], outline.shape)
    base_width = dome_width = 0.0
    side, zone, focal = "central", "central", None
    if displaced.any():
        # separate pieces of localized displaced material (one at each lateral margin, say) are described by
        # the one reaching farthest beyond the outline: its side, zone, base and dome; a base or dome spanning
        # two pieces means nothing (a 48 mm "base" across both margins). A bulge's thin layer is one finding
        # however its projection breaks up.
        from_outline = distance_outside_mm(outline)
        pieces = _pieces(beyond_outline, from_outline) if arc <= 90.0 else []
        principal = pieces[0] if pieces else beyond_outline
        in_principal = np.zeros(360, dtype=bool)
        rows, columns = np.nonzero(principal)
        in_principal[direction_degrees(rows - centre[0], columns - centre[1])] = True
        weights = profile * displaced * _widened(in_principal)
        if not weights.any():
            weights = profile * displaced
        # side from the displacement's direction (theta 0 posterior, +90 the patient's left) and place
        mean_sin = float((weights * np.sin(angles)).sum() / weights.sum())
        centre_l = float(l_mm[int(round(centre[1]))])
        offset = float(l_grid[principal].mean()) - centre_l
        across_the_midline = [float(l_grid[piece].mean()) - centre_l for piece in pieces[1:]]
        if arc > 270:
            side = "bilateral"
        elif abs(offset) < 4.0 and abs(mean_sin) < 0.35:
            side = "central"
        elif any(abs(other) >= 4.0 and np.sign(other) != np.sign(offset) for other in across_the_midline):
            side = "bilateral"  # a second piece on the other side
        else:
            side = "left" if offset > 0 else "right"
        if len(pieces) > 1:
            warnings.append(
                f"Displaced tissue in {len(pieces)} separate pieces beyond the outline: the widths and zone are "
                "those of the one reaching farthest. Review the overlay: a piece may be grey tissue beside the disc."
            )
        # base: the displaced stretch of the outline; dome: widest chord of the material parallel to it,
        # both across the displacement's mean direction and out to the edges seen in the image
        mean_direction = np.array([(weights * np.cos(angles)).sum(), (weights * np.sin(angles)).sum()])
        across = np.array([-mean_direction[1], mean_direction[0]]) / max(np.linalg.norm(mean_direction), 1e-9)
        widths = []
        for distance in np.arange(0.5, max_d + 0.01, STEP_MM):
            ring = principal & (from_outline >= distance) & (from_outline < distance + STEP_MM)
            if ring.any():
                widths.append(_width_across(ring, across, p_grid, l_grid, middle_image))
        base_width = widths[0] if widths else 0.0
        dome_width = max(widths) if widths else 0.0
        # focal (under 45 degrees) or broad-based: the described piece's own arc
        focal = "focal" if (displaced & in_principal).sum() < 45 else "broad-based"
        zone = _zone(offset)
        posterior_share = float((weights * np.cos(angles)).sum() / weights.sum())
        if posterior_share < -0.3:
            zone = "anterior"

    if free.any():
        # LDN 2.0: an extrusion that has lost all continuity with the disc; described by the fragment
        classification, focal = "sequestration", None
        side, zone, fragment_width, reach, migration, direction = _fragment(free, seg, centre, l_grid, top, bottom)
        base_width, dome_width, max_d = 0.0, fragment_width, max(max_d, reach)
    elif not displaced.any():
        classification = "normal"
    elif arc > 90.0:
        classification = "bulge"
        focal = None
        if 90.0 < arc < 180.0:
            warnings.append(
                f"Displaced arc {arc:.0f} degrees: between 90 and 180 degrees, where bulge and broad-based "
                "protrusion are told apart differently in the literature."
            )
        if migration:
            # on the shared healthy volunteers' discs, all six such readings were grey tissue along the bodies
            warnings.append(
                f"Tissue of disc signal {migration:.0f} mm {direction} to the disc behind the body, joined to a bulge: "
                "a bulge does not migrate. An extrusion beside the bulge, or a vein, the ligament or a nerve root "
                "along the body? Not measured as migration; review the overlay."
            )
            migration, direction = 0.0, None
        if max_d > DEEPEST_BULGE_MM:
            warnings.append(
                f"A bulge reaching {max_d:.1f} mm beyond the endplates' margins: bulges seldom reach beyond "
                f"{DEEPEST_BULGE_MM:.0f} mm; grey tissue beside the disc (roots, veins, ligament) may have been "
                "taken for disc. Review the overlay."
            )
    elif migration > 0 or dome_width > base_width + WIDER_MM[seg.displacement_series]:
        classification = "extrusion"
    else:
        classification = "protrusion"

    heights = disc_heights(seg, l_mm)
    canal = thecal_sac(seg, top, bottom)
    contact = root_contact(beyond_outline, p_grid, l_grid, float(l_mm[int(round(centre[1]))]), seg)
    return BulgeFinding(
        classification, side, zone, focal, max_d, arc, base_width, dome_width, migration, direction,
        heights, canal, contact, profile.tolist(), warnings,
    )


def _to_the_edge_against_brighter_tissue(seg: DiscSegmentation, image, disc2d, centre, profile) -> np.ndarray:
    """d(theta) at the dome's top carried out to the edge seen in the image where it abuts CSF or fat directly.

    The segmentation keeps 1 mm off bright tissue (the partial-volume rim of
    CSF against grey tissue has disc signal), and an axial series' thick
    slices blur the thecal sac's front over the material's tip: a herniation
    pressing into the sac was measured 2-2.5 mm short. From the farthest
    pixels (within 0.25 mm of the farthest), straight out of the material
    (averaged over the disc's middle half height and 2 mm across), the edge
    is where the signal has risen half way from the material's to the bright
    tissue's (:func:`_half_way_out`). Never moves a direction inward.
    ``image``: the material's image over the disc's middle half height
    (:func:`_middle_height_image`; None: the profile as it is).
    """
    beyond = disc2d & ~seg.outline
    if image is None or not beyond.any():
        return profile
    distance = distance_outside_mm(seg.outline)
    rows, columns = np.nonzero(beyond)
    farthest = distance[rows, columns] >= distance[rows, columns].max() - STEP_MM / 2
    rows, columns = rows[farthest], columns[farthest]
    # straight out of the material: its surface's normal (the outline's would run along a dome's flank)
    surface = sitk.SmoothingRecursiveGaussian(sitk.GetImageFromArray(distance_outside_mm(disc2d)), 1.0 / STEP_MM)
    grad_rows, grad_columns = np.gradient(sitk.GetArrayFromImage(surface))
    out = np.stack([grad_rows[rows, columns], grad_columns[rows, columns]], axis=1)
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)
    across = np.stack([-out[:, 1], out[:, 0]], axis=1)
    steps = np.arange(-2.0, EDGE_SEARCH_MM + 1.0 + 1e-6, STEP_MM)  # mm from the tip, outward
    offsets = np.arange(-1.0, 1.0 + 1e-6, STEP_MM)
    along = steps[None, :, None, None] * out[:, None, None, :] + offsets[None, None, :, None] * across[:, None, None, :]
    at = np.stack([rows, columns], axis=1)[:, None, None, :] + along / STEP_MM  # [tip, step, offset, (row, column)]
    signal = sample_bilinear(image, at[..., 0], at[..., 1], 0.0).mean(axis=2)
    crossing = _half_way_out(signal, steps)
    edge = np.isfinite(crossing)
    edge_distance = sample_bilinear(  # the edge's own distance from the outline
        distance, rows[edge] + crossing[edge] * out[edge, 0] / STEP_MM, columns[edge] + crossing[edge] * out[edge, 1] / STEP_MM, 0.0
    )
    reached = np.zeros(360)
    np.maximum.at(reached, direction_degrees(rows[edge] - centre[0], columns[edge] - centre[1]), edge_distance)
    padded = np.concatenate([reached[-2:], reached, reached[:2]])  # the same +-2 degrees as the profile
    return np.maximum(profile, np.lib.stride_tricks.sliding_window_view(padded, 5).max(axis=1))


def _half_way_out(signal: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Per profile (rows of ``signal`` at ``steps`` mm from a tip, outward): where it has risen half way from
    the material's signal (its highest in the last 2 mm before the tip) to the brighter tissue beyond, in mm
    from the tip; NaN where that is not an edge against CSF or fat: beyond under 1.5 times the material (other
    grey tissue), a dip under 0.9 of it on the way (a ligament, the dura, a fat plane: the material ends at that
    dark line, as segmented), a rise that has not started 1 mm out (grey tissue between), or no crossing
    within ``EDGE_SEARCH_MM``."""
    material = signal[:, steps < 0.0].max(axis=1)
    after = steps >= 0.0
    bright = signal[:, after].max(axis=1)
    half = (material + bright) / 2
    reached = (signal >= half[:, None]) & after[None, :]
    first = np.argmax(reached, axis=1)  # the first sample at or beyond the half-way level
    index = np.arange(len(first))
    rise = np.maximum(signal[index, first] - signal[index, first - 1], 1e-6)
    crossing = steps[first] - STEP_MM * (signal[index, first] - half) / rise
    on_the_way = (steps[None, :] >= -1.0) & (steps[None, :] <= steps[first][:, None])
    darkest = np.where(on_the_way, signal, np.inf).min(axis=1)
    at_1mm = signal[:, int(np.argmin(np.abs(steps - 1.0)))]
    edge = (
        reached.any(axis=1)
        & (bright >= 1.5 * material)
        & (darkest >= 0.9 * material)
        & (at_1mm >= material + 0.15 * (bright - material))
        & (crossing > 0.0)
        & (crossing <= EDGE_SEARCH_MM)
    )
    return np.where(edge, crossing, np.nan)


def _unseen_directions(seg: DiscSegmentation, centre: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Directions whose outline margin lies within 2 mm of the series' edge (bool per angle)."""
    if seg.covered is None or seg.covered.all():
        return np.zeros(len(angles), dtype=bool)
    reach = ray_extent_mm(seg.outline, centre, angles)
    p = np.rint(centre[0] + (reach + 2.0) / STEP_MM * np.cos(angles)).astype(int)
    l = np.rint(centre[1] + (reach + 2.0) / STEP_MM * np.sin(angles)).astype(int)
    inside = (p >= 0) & (p < seg.covered.shape[0]) & (l >= 0) & (l < seg.covered.shape[1])
    unseen = ~inside
    unseen[inside] = ~seg.covered[p[inside], l[inside]]
    return unseen


def _free_fragments(seg: DiscSegmentation) -> np.ndarray:
    """The displaced material with no continuity with the disc: its 26-connected pieces of FRAGMENT_MM3 or more
    that come no nearer than FRAGMENT_GAP_MM to the disc space or to displaced material between the endplate
    planes, where fragments lie (:func:`~planner.disc.segmentation.where_fragments_lie`); a segmenter's or the
    user's. Other separate pieces (migrated material whose connecting planes were filtered away) stay
    migration."""
    if not seg.displaced.any():
        return np.zeros_like(seg.displaced)
    labels = sitk.GetArrayFromImage(sitk.ConnectedComponent(sitk.GetImageFromArray(seg.displaced.astype(np.uint8)), True))
    n_mm = seg.frame.axis_mm(0)
    top, bottom = seg.endplate_planes_mm()
    level = ((n_mm <= top) & (n_mm >= bottom))[:, None, None]
    at_the_level = seg.core() | (seg.displaced & level)
    attached = set(np.unique(labels[seg.displaced & level]).tolist())  # displaced at the level itself
    volumes = np.bincount(labels.ravel()) * STEP_MM**3
    free = [
        label for label in range(1, int(labels.max()) + 1)
        if label not in attached
        and volumes[label] >= FRAGMENT_MM3
        and where_fragments_lie(labels == label, seg.outline)
        and not comes_within(labels == label, at_the_level, FRAGMENT_GAP_MM)
    ]
    return np.isin(labels, free)


def _fragment(free, seg, centre, l_grid, top: float, bottom: float) -> tuple:
    """A sequestered fragment's side, zone, width across, reach beyond the outline (mm: out to the edge seen
    against CSF or fat, as the disc's own profile), and how far and which way it lies from the endplate planes
    (its far end)."""
    n_mm = seg.frame.axis_mm(0)
    seen = free.any(axis=0)
    offset = float(l_grid[seen].mean()) - float(l_grid[0, int(round(centre[1]))])
    side = "central" if abs(offset) < 4.0 else ("left" if offset > 0 else "right")
    zone = _zone(offset)
    width = float(l_grid[seen].max() - l_grid[seen].min() + STEP_MM)
    reach = float(distance_outside_mm(seg.outline)[seen].max())
    planes = np.nonzero(free.any(axis=(1, 2)))[0]
    if seg.displacement_image is not None:
        # a fragment lying in the thecal sac's front is segmented 1 mm off the CSF, and the slices blur the sac's
        # front over its tip: its reach read 5.6 mm for 7.5 (the phantom's central fragment)
        quarter = len(planes) // 4
        image = seg.displacement_image[planes[quarter : len(planes) - quarter]].mean(axis=0)
        edge = _to_the_edge_against_brighter_tissue(seg, image, seen | seg.outline, centre, np.zeros(360))
        reach = max(reach, float(edge.max()))
    up, down = float(n_mm[planes].max() - top), float(bottom - n_mm[planes].min())
    migration, direction = (up, "cranial") if up >= down else (down, "caudal")
    return side, zone, width, reach, migration, direction


def _pieces(beyond_outline: np.ndarray, from_outline: np.ndarray) -> list[np.ndarray]:
    """The separate pieces (8-connected) of ``beyond_outline`` reaching at least THRESHOLD_MM beyond the
    outline, the farthest-reaching first."""
    labels = sitk.GetArrayFromImage(sitk.ConnectedComponent(sitk.GetImageFromArray(beyond_outline.astype(np.uint8)), True))
    reach = np.zeros(labels.max() + 1)
    np.maximum.at(reach, labels[beyond_outline], from_outline[beyond_outline])
    order = [int(k) for k in np.argsort(-reach) if k > 0 and reach[k] >= THRESHOLD_MM]
    return [labels == k for k in order]


def _widened(degrees: np.ndarray) -> np.ndarray:
    """``degrees`` (bool per degree) and the two on either side of each (as d(theta) takes +-2 degrees)."""
    return np.convolve(np.r_[degrees[-2:], degrees, degrees[:2]].astype(float), np.ones(5), mode="valid") > 0


def _zone(offset_mm: float) -> str:
    """The axial zone of material ``offset_mm`` off the midline (either side)."""
    return next((name for limit, name in ZONES_MM if abs(offset_mm) < limit), "extraforaminal")


def _middle_height_image(seg: DiscSegmentation) -> np.ndarray | None:
    """The image the displaced material was grown on, averaged over the disc's middle half height (its
    endplates' partial volume left out); None without one."""
    n_mm = seg.frame.axis_mm(0)
    top, bottom = seg.endplate_planes_mm()
    quarter = 0.25 * (top - bottom)
    middle = (n_mm <= top - quarter) & (n_mm >= bottom + quarter)
    if seg.displacement_image is None or not middle.any():
        return None
    return seg.displacement_image[middle].mean(axis=0)


def _width_across(ring, across, p_grid, l_grid, image=None) -> float:
    """Extent (mm) of ``ring`` along the unit vector ``across`` (p, l), each end carried out to the edge seen in
    ``image``.

    The mask keeps 1 mm off CSF, and the opening against partial-volume
    strands trims the thin overhang of a low-contrast (dark) disc's extruded
    head: a dome's sides were cut 1-1.5 mm short each, and a dark disc's
    extrusion read as a protrusion. From each end of the chord, along
    ``across``, the edge is where the signal has gone half way from the ring's
    (its median) to the tissue beside it (``EDGE_ACROSS_MM`` out, its last
    millimetre), when that differs from the ring's by a quarter or more (the
    material ends against other tissue there, not in a gradual fringe); never
    inward. Base and dome are measured alike, so their difference keeps its
    meaning.
    """
    rows, columns = np.nonzero(ring)
    coordinates = p_grid[ring] * across[0] + l_grid[ring] * across[1]
    width = float(coordinates.max() - coordinates.min() + STEP_MM)
    if image is None:
        return width
    material = float(np.median(image[ring]))
    steps = np.arange(0.0, EDGE_ACROSS_MM + 1e-6, STEP_MM / 2)
    for end, sign in ((int(np.argmin(coordinates)), -1.0), (int(np.argmax(coordinates)), 1.0)):
        signal = sample_bilinear(
            image, rows[end] + sign * steps / STEP_MM * across[0], columns[end] + sign * steps / STEP_MM * across[1], 0.0
        )
        beyond = float(signal[steps >= EDGE_ACROSS_MM - 1.0].mean())
        if abs(beyond - material) < 0.25 * material:
            continue
        gone = (signal - (material + beyond) / 2) * np.sign(beyond - material)  # >= 0: past half way
        if gone[0] >= 0 or not (gone >= 0).any():
            continue
        k = int(np.argmax(gone >= 0))
        crossing = steps[k - 1] + (steps[k] - steps[k - 1]) * -gone[k - 1] / (gone[k] - gone[k - 1])
        width += max(0.0, crossing - STEP_MM / 2)  # the end pixel itself counts half a step out
    return width
