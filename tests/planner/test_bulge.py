"""The bulge measurement on a hand-made disc: where the displaced material's edge is taken (issue 4)."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from planner.disc.bulge import analyse_bulge
from planner.disc.segmentation import DiscFrame, DiscSegmentation

DISC, SOFT, DARK, CSF = 400.0, 200.0, 150.0, 900.0
OUTLINE_DEPTH_MM = 15.0  # the outline's posterior margin at the midline
SEGMENTED_MM = 5.0  # how far beyond it the segmented material reaches


def _disc(material_mm: float, between: float | None = None, sac_mm: float | None = None) -> DiscSegmentation:
    """A 10 mm high disc, elliptic outline 30 x 40 mm, with a central dome of disc signal 10 mm wide reaching
    ``material_mm`` beyond it, segmented to 5 mm; a layer of signal ``between`` over the dome out to ``sac_mm``
    (None: none) and the thecal sac's CSF behind (None: soft tissue); blurred like a scanner's image (0.7 mm)."""
    frame = DiscFrame.around((0.0, 0.0, 0.0), (0.0, 0.0, 1.0))
    n, p, l = np.meshgrid(*(frame.axis_mm(a) for a in range(3)), indexing="ij")
    outline = ((frame.axis_mm(1)[:, None] / OUTLINE_DEPTH_MM) ** 2 + (frame.axis_mm(2)[None, :] / 20.0) ** 2) <= 1.0
    within = np.abs(n) <= 5.0
    depth = p - OUTLINE_DEPTH_MM

    def dome(reach_mm, around_mm=0.0):
        half_width, reach = 5.0 + around_mm, reach_mm + around_mm
        return within & ((l / half_width) ** 2 + (np.maximum(depth, 0.0) / reach) ** 2 <= 1.0) & (depth > -1.0)

    image = np.full(n.shape, SOFT, np.float32)
    if sac_mm is not None:
        image[within & (np.abs(l) <= 12.0) & (depth >= 2.0)] = CSF
        if between is not None:
            image[dome(material_mm, around_mm=sac_mm - material_mm)] = between
    image[(within & outline[None]) | dome(material_mm)] = DISC
    image = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(sitk.GetImageFromArray(image), 0.7 / 0.5))
    core = outline[None] & within
    displaced = dome(SEGMENTED_MM + 0.25) & ~core
    return DiscSegmentation(
        frame, image, 500.0, outline, np.where(outline, 5.0, np.nan), np.where(outline, -5.0, np.nan),
        core | displaced, displaced, *_bodies(outline, n), displacement_image=image.astype(np.float32),
    )


def _bodies(outline: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The L5 and S1 bodies over the outline, beyond the endplates at +-5 mm (to +-20 mm)."""
    return outline[None] & (n > 5.0) & (n <= 20.0), outline[None] & (n < -5.0) & (n >= -20.0)


@pytest.mark.parametrize(
    "disc, want_mm",
    [
        # the material runs on 1 mm beyond the segmented tip (kept off the CSF's rim), into the thecal sac
        (dict(material_mm=6.25, sac_mm=6.25), 6.25),
        # a dark line (ligament, dura) between the material and the sac: the material ends there
        (dict(material_mm=SEGMENTED_MM + 0.25, between=DARK, sac_mm=6.25), SEGMENTED_MM),
        # grey tissue around the material (a root, epidural tissue), the sac 3 mm on: not the material's edge
        (dict(material_mm=SEGMENTED_MM + 0.25, between=DISC, sac_mm=8.25), SEGMENTED_MM),
        # soft tissue behind it, no sac: the segmented tip is its edge
        (dict(material_mm=SEGMENTED_MM + 0.25), SEGMENTED_MM),
    ],
    ids=["against CSF", "dark line between", "grey tissue between", "soft tissue behind"],
)
def test_the_maximum_displacement_reaches_the_edge_seen_against_csf(disc, want_mm):
    finding = analyse_bulge(_disc(**disc))
    assert finding.classification == "protrusion"
    assert finding.max_displacement_mm == pytest.approx(want_mm, abs=0.3), finding.max_displacement_mm



NECK_MM = 8.5  # widths on the 0.5 mm grid: whole pixels


def _head_on_a_neck(head_mm: float, cut_mm: float, material: float) -> DiscSegmentation:
    """A 10 mm high disc (outline as above) with material of signal ``material`` in soft tissue: a neck
    NECK_MM wide reaching 2 mm beyond the outline and a head ``head_mm`` wide from 2 to 7 mm; segmented with
    the head's sides ``cut_mm`` short each (the mask keeps off CSF, the opening trims a dark disc's overhang);
    blurred like a scanner's image (0.7 mm)."""
    frame = DiscFrame.around((0.0, 0.0, 0.0), (0.0, 0.0, 1.0))
    n, p, l = np.meshgrid(*(frame.axis_mm(a) for a in range(3)), indexing="ij")
    outline = ((frame.axis_mm(1)[:, None] / OUTLINE_DEPTH_MM) ** 2 + (frame.axis_mm(2)[None, :] / 20.0) ** 2) <= 1.0
    within = np.abs(n) <= 5.0
    depth = p - OUTLINE_DEPTH_MM

    def material_across(head_width):
        neck = (np.abs(l) < NECK_MM / 2) & (depth > -1.0) & (depth <= 2.0)
        head = (np.abs(l) < head_width / 2) & (depth > 2.0) & (depth <= 7.0)
        return within & (neck | head)

    image = np.full(n.shape, SOFT, np.float32)
    image[(within & outline[None]) | material_across(head_mm)] = material
    image = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(sitk.GetImageFromArray(image), 0.7 / 0.5))
    core = outline[None] & within
    displaced = material_across(head_mm - 2 * cut_mm) & ~core
    return DiscSegmentation(
        frame, image, 500.0, outline, np.where(outline, 5.0, np.nan), np.where(outline, -5.0, np.nan),
        core | displaced, displaced, *_bodies(outline, n), displacement_image=image.astype(np.float32),
    )


@pytest.mark.parametrize("material", [DISC, 300.0], ids=["bright disc", "dark disc"])
def test_base_and_dome_widths_reach_the_edges_seen_in_the_image(material):
    """A 12.5 mm head on an 8.5 mm neck, its sides segmented 1.25 mm short: read on the mask (10 on 8.5) it was
    a protrusion (the dark central extrusion of the accuracy bench); the widths reach the visible edges."""
    finding = analyse_bulge(_head_on_a_neck(12.5, cut_mm=1.25, material=material))
    assert finding.base_width_mm == pytest.approx(NECK_MM, abs=0.5)
    assert finding.dome_width_mm == pytest.approx(12.5, abs=0.5)
    assert finding.classification == "extrusion"


def test_a_dome_no_wider_than_its_base_stays_a_protrusion_when_its_edges_are_read():
    """The same measurement on a protrusion (as wide as its base throughout, segmented 1 mm short at the
    sides) does not make its dome wider than its base."""
    finding = analyse_bulge(_head_on_a_neck(NECK_MM, cut_mm=1.0, material=300.0))
    assert finding.classification == "protrusion"
    assert abs(finding.dome_width_mm - finding.base_width_mm) <= 0.5, finding


def _two_pieces(right_mm: float | None, left_mm: float | None) -> DiscSegmentation:
    """The disc above with separate domes of disc signal 8 mm wide, centred 11 mm right and left of the
    midline, reaching ``right_mm`` / ``left_mm`` beyond the outline (None: no dome), segmented as seen."""
    frame = DiscFrame.around((0.0, 0.0, 0.0), (0.0, 0.0, 1.0))
    n, p, l = np.meshgrid(*(frame.axis_mm(a) for a in range(3)), indexing="ij")
    outline = ((frame.axis_mm(1)[:, None] / OUTLINE_DEPTH_MM) ** 2 + (frame.axis_mm(2)[None, :] / 20.0) ** 2) <= 1.0
    within = np.abs(n) <= 5.0
    material = np.zeros(n.shape, bool)
    for reach, centre_l in ((right_mm, -11.0), (left_mm, 11.0)):
        if reach:
            edge = OUTLINE_DEPTH_MM * np.sqrt(1.0 - (centre_l / 20.0) ** 2)
            depth = p - edge
            material |= within & (((l - centre_l) / 4.0) ** 2 + (np.maximum(depth, 0.0) / reach) ** 2 <= 1.0) & (depth > -2.0)
    image = np.full(n.shape, SOFT, np.float32)
    image[(within & outline[None]) | material] = DISC
    image = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(sitk.GetImageFromArray(image), 0.7 / 0.5))
    core = outline[None] & within
    displaced = material & ~core
    return DiscSegmentation(
        frame, image, 500.0, outline, np.where(outline, 5.0, np.nan), np.where(outline, -5.0, np.nan),
        core | displaced, displaced, *_bodies(outline, n), displacement_image=image.astype(np.float32),
    )


@pytest.mark.parametrize(
    "right_mm, left_mm, side", [(4.0, 3.0, "bilateral"), (4.0, None, "right"), (None, 4.0, "left")]
)
def test_separate_pieces_are_described_by_the_farthest_and_make_the_side_bilateral(right_mm, left_mm, side):
    """Displaced material at both posterolateral margins: its base and dome were measured across both pieces
    (a real study read a 48 mm base), its side was the mean's and focal or broad-based their arc together; the
    widths and arc are the farthest piece's (8 mm), a second piece on the other side makes it bilateral."""
    finding = analyse_bulge(_two_pieces(right_mm, left_mm))
    assert finding.side == side
    assert finding.max_displacement_mm == pytest.approx(4.0, abs=0.5)
    assert finding.base_width_mm == pytest.approx(8.0, abs=1.0)
    assert finding.focal == "focal"
    assert finding.dome_width_mm <= finding.base_width_mm + 1.0
    assert finding.classification == "protrusion"
    assert any("2 separate pieces" in warning for warning in finding.warnings) == (side == "bilateral")


def test_a_bulge_deeper_than_bulges_reach_is_warned_of():
    """Disc signal 6 mm deep all around the posterior half: a bulge by its arc, but one no disc makes (grey
    tissue taken for disc, on real studies): said in a warning."""
    from planner.disc.segmentation import distance_outside_mm

    seg = _two_pieces(None, None)
    n_mm, p_mm = seg.frame.axis_mm(0), seg.frame.axis_mm(1)
    layer = (distance_outside_mm(seg.outline) <= 6.0) & ~seg.outline & (p_mm[:, None] > 0.0)
    displaced = (np.abs(n_mm) <= 5.0)[:, None, None] & layer[None]
    seg.set_disc(seg.disc | displaced)
    finding = analyse_bulge(seg)
    assert finding.classification == "bulge"
    assert any("bulges seldom reach" in warning for warning in finding.warnings), finding.warnings


def _with_a_fragment(gap_mm: float, lateral_mm: float = 0.0) -> DiscSegmentation:
    """The disc above, nothing displaced at the level, and a fragment of disc signal 8 mm wide, 4 mm deep and
    6 mm high behind the outline's posterior margin, ``gap_mm`` below the disc, ``lateral_mm`` off the midline
    (+ the patient's left), segmented as seen."""
    seg = _two_pieces(None, None)
    n, p, l = np.meshgrid(*(seg.frame.axis_mm(a) for a in range(3)), indexing="ij")
    top_of_fragment = -5.0 - gap_mm
    fragment = (
        (np.abs(l - lateral_mm) < 4.0)
        & (p > OUTLINE_DEPTH_MM + 0.5) & (p < OUTLINE_DEPTH_MM + 4.5)
        & (n < top_of_fragment) & (n > top_of_fragment - 6.0)
    )
    seg.set_disc(seg.disc | fragment)
    return seg


@pytest.mark.parametrize("lateral_mm, side", [(0.0, "central"), (6.0, "left"), (-6.0, "right")])
def test_a_fragment_without_continuity_with_the_disc_is_a_sequestration(lateral_mm, side):
    """LDN 2.0: an extrusion that has lost all continuity with the disc. Described by the fragment: its side,
    how far it lies below the disc (its far end) and how far behind the outline (4.5 mm at the midline, where
    the elliptic outline is flat)."""
    finding = analyse_bulge(_with_a_fragment(gap_mm=4.0, lateral_mm=lateral_mm))
    assert finding.classification == "sequestration"
    assert finding.side == side
    assert finding.migration_direction == "caudal"
    assert finding.migration_mm == pytest.approx(10.0, abs=0.6)
    if side == "central":
        assert finding.max_displacement_mm == pytest.approx(4.5, abs=0.5)


@pytest.mark.parametrize(
    "gap_mm, lateral_mm",
    [(1.0, 0.0), (4.0, 12.0)],
    ids=["continuous with the disc: migration", "in the lateral recess: a root or vein more likely"],
)
def test_material_near_the_disc_or_aside_is_no_sequestration(gap_mm, lateral_mm):
    finding = analyse_bulge(_with_a_fragment(gap_mm, lateral_mm))
    assert finding.classification != "sequestration"


def _plain_disc(height_mm: float = 10.0, depth_mm: float = 30.0, with_bodies: bool = True) -> DiscSegmentation:
    """An elliptic disc ``depth_mm`` deep and 40 mm wide, ``height_mm`` high, nothing displaced."""
    frame = DiscFrame.around((0.0, 0.0, 0.0), (0.0, 0.0, 1.0))
    n, p, l = np.meshgrid(*(frame.axis_mm(a) for a in range(3)), indexing="ij")
    outline = ((frame.axis_mm(1)[:, None] / (depth_mm / 2)) ** 2 + (frame.axis_mm(2)[None, :] / 20.0) ** 2) <= 1.0
    half = height_mm / 2
    core = outline[None] & (np.abs(n) <= half)
    image = np.where(core, DISC, SOFT).astype(np.float32)
    l5, s1 = outline[None] & (n > half) & (n <= half + 15), outline[None] & (n < -half) & (n >= -half - 15)
    if not with_bodies:
        l5, s1 = np.zeros_like(core), np.zeros_like(core)
    return DiscSegmentation(
        frame, image, 500.0, outline, np.where(outline, half, np.nan), np.where(outline, -half, np.nan),
        core, np.zeros_like(core), l5, s1, displacement_image=image,
    )


def test_a_disc_like_mask_is_classified():
    finding = analyse_bulge(_plain_disc())
    assert finding.reliable and finding.classification == "normal"
    assert finding.as_dict()["reliable"] is True


@pytest.mark.parametrize(
    "disc, problem",
    [
        (dict(height_mm=2.0), "disc height 2.0 mm outside 4-18 mm"),
        (dict(height_mm=20.0), "disc height 20.0 mm outside 4-18 mm"),
        (dict(depth_mm=18.0), "disc depth 18.5 mm outside 25-55 mm"),
        (dict(depth_mm=60.0, height_mm=14.0), "disc volume"),
        (dict(with_bodies=False), "no vertebral body on one side of the disc"),
    ],
    ids=["too thin", "too high", "too shallow", "too large", "no bodies"],
)
def test_a_mask_that_is_not_disc_like_gives_no_class_or_displacement(disc, problem):
    """Healthy volunteers' discs read as 19.7 mm 'bulges' with 22.8 ml and 14 mm heights beside believable
    numbers (issue 23): a mask outside the ranges a disc has says it is not reliable, and gives no class."""
    finding = analyse_bulge(_plain_disc(**disc))
    assert not finding.reliable
    assert any(p.startswith(problem) for p in finding.problems), finding.problems
    data = finding.as_dict()
    assert data["classification"] == "not assessable" and data["reliable"] is False
    assert "max_displacement_mm" not in data and "side" not in data
    assert any("not reliable" in w for w in finding.warnings)


def test_a_bulge_is_given_no_migration_and_the_tissue_beyond_the_endplates_is_named_for_review():
    """LDN 2.0 gives migration to extrusions only. On the shared healthy volunteers' discs, every "bulge" with
    material beyond the endplate planes (six readings, 3.6-14 mm) was grey tissue along the bodies' backs; the
    panel had shown "Bulge ... Migration 14.0 mm cranial"."""
    seg = _plain_disc()
    n, p, l = np.meshgrid(*(seg.frame.axis_mm(a) for a in range(3)), indexing="ij")
    rim = (((p / 17.0) ** 2 + (l / 22.0) ** 2) <= 1.0) & (np.abs(n) <= 5.0)  # 2 mm all round: a bulge
    tail = (np.abs(l) < 5.0) & (p > 14.0) & (p < 19.0) & (n <= -5.0) & (n > -13.0)  # 8 mm down behind S1
    seg.set_disc(seg.disc | rim | tail)
    finding = analyse_bulge(seg)
    assert finding.classification == "bulge"
    assert finding.migration_mm == 0.0 and finding.migration_direction is None
    assert any("a bulge does not migrate" in w and "caudal" in w for w in finding.warnings)


def _tilted_disc(degrees: float) -> DiscSegmentation:
    """:func:`_plain_disc` (10 mm high, 30 mm deep) whose endplates, and the bodies beyond them, rise
    posteriorly by ``degrees`` in the frame: a frame whose normal lies that far off the disc's."""
    seg = _plain_disc()
    n, p, l = np.meshgrid(*(seg.frame.axis_mm(a) for a in range(3)), indexing="ij")
    rise = np.tan(np.radians(degrees)) * seg.frame.axis_mm(1)[:, None]  # [posterior, 1]
    outline = seg.outline
    local = n - rise[None]
    core = outline[None] & (np.abs(local) <= 5.0)
    l5, s1 = outline[None] & (local > 5.0) & (local <= 20.0), outline[None] & (local < -5.0) & (local >= -20.0)
    image = np.where(core, DISC, SOFT).astype(np.float32)
    return DiscSegmentation(
        seg.frame, image, 500.0, outline, np.where(outline, 5.0 + rise, np.nan), np.where(outline, -5.0 + rise, np.nan),
        core, np.zeros_like(core), l5, s1, displacement_image=image,
    )


@pytest.mark.parametrize("degrees, reliable", [(0.0, True), (12.0, True), (25.0, False)])
def test_a_disc_lying_tilted_in_the_measuring_frame_is_not_measured(degrees, reliable):
    """Displacement is measured in the middle of the disc's height, in planes across the frame's normal. With the
    frame's normal 17.5 degrees off the endplates (vb3-08, a healthy volunteer), the disc's middle ran 6.3 mm off
    that slab's middle at the disc's margin, beyond the endplate planes (5.5 mm either side), and the tissue along
    the bodies' corners read as a 20 mm "bulge". Here the disc is 30 mm deep and 10 mm high: at 12 degrees its
    middle runs 3.2 mm off at the margin, inside the 5 mm; at 25 degrees 7.0 mm, beyond an endplate plane."""
    finding = analyse_bulge(_tilted_disc(degrees))
    assert finding.reliable is reliable, finding.problems
    if not reliable:
        assert any(p.startswith("the disc's middle runs") and "tilted in the measuring frame" in p for p in finding.problems)
        assert finding.as_dict()["classification"] == "not assessable"
    else:
        assert finding.classification == "normal"
