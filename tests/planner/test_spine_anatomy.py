"""Naming the model's parts (planner/spine/anatomy.py) and shaping the disc between them (planner/spine/disc.py)
on hand-made maps, where the right answer is known."""

from __future__ import annotations

import numpy as np

from planner.spine.anatomy import DISC_DEPTH_MM, SIDE_PIECE_MM, _under, label_spine
from planner.spine.parts import Part, _geometry, _split_at_necks, part_points, part_probability
from planner.spine.disc import _no_taller_behind
from planner.spine.grid import SagittalGrid
from planner.spine.model import BODY, DISC, L5

#: 1.5 mm pixels, 3 mm between lateral planes; rows run superior to inferior, columns anterior to posterior
GRID = SagittalGrid((-30.0, -60.0, 60.0), (21, 90, 80), 1.5, 3.0)


def _part(mask: np.ndarray, label: int, kind: str) -> Part:
    where = np.nonzero(mask)
    box = tuple(slice(int(w.min()), int(w.max()) + 1) for w in where)
    part_mask = mask[box]
    centre, axis = _geometry(GRID, part_mask, box, kind)
    volume = float(part_mask.sum()) * GRID.pixel_mm**2 * GRID.lateral_mm / 1000.0
    return Part(kind, label, box, part_mask, centre, axis, volume, 0.95)


def _l5_and_disc(tail: bool) -> tuple[Part, Part]:
    """An L5 body (24 mm tall, 36 mm deep, 45 mm wide), the disc under it (10.5 mm), and, with ``tail``, grey
    tissue joined to the disc's front running 30 mm down in front of the sacrum, as the model's disc output
    sometimes does."""
    l5 = np.zeros(GRID.shape, bool)
    l5[3:18, 20:36, 14:38] = True
    disc = np.zeros(GRID.shape, bool)
    disc[3:18, 36:43, 14:38] = True
    if tail:
        disc[3:18, 43:64, 8:18] = True
    return _part(l5, L5, "body"), _part(disc, DISC, "disc")


def test_tissue_joined_to_the_disc_below_its_space_is_cut_off():
    l5, joined = _l5_and_disc(tail=True)
    _, alone = _l5_and_disc(tail=False)
    disc = _under(GRID, joined, l5)
    below = (l5.centre_lps - disc.centre_lps) @ l5.axis_lps
    assert disc.volume_ml < 0.8 * joined.volume_ml
    # what is kept lies in the disc space: its centre within 3 mm of the disc's own (the tail pulled it 10 mm
    # and more down and forward), its plane tilted by a few degrees where the tail tilted it by tens
    assert np.linalg.norm(joined.centre_lps - alone.centre_lps) > 10.0
    assert np.linalg.norm(disc.centre_lps - alone.centre_lps) < 3.0, (disc.centre_lps, alone.centre_lps)
    tilt = [np.degrees(np.arccos(min(abs(part.axis_lps @ alone.axis_lps), 1.0))) for part in (disc, joined)]
    assert tilt[0] < 12.0 and tilt[1] > 30.0, tilt
    assert 15.0 < below < 25.0
    # nothing deeper than the disc space under the body is kept
    depth = (l5.centre_lps - part_points(GRID, disc)[1]) @ l5.axis_lps
    assert depth.max() <= 12.0 + DISC_DEPTH_MM + 1.5
    untouched = _under(GRID, alone, l5)
    assert untouched is alone


def test_a_disc_part_beside_the_body_is_not_kept():
    """Disc output outside L5's footprint (a psoas, bowel) is not part of the disc space under it."""
    l5, disc = _l5_and_disc(tail=False)
    mask = np.zeros(GRID.shape, bool)
    mask[3:18, 36:43, 60:75] = True  # 33 mm behind the body's back
    mask |= disc.full_mask(GRID.shape)
    trimmed = _under(GRID, _part(mask, DISC, "disc"), l5)
    assert np.array_equal(trimmed.full_mask(GRID.shape), disc.full_mask(GRID.shape))


def test_the_disc_is_no_taller_behind_its_middle_than_there():
    """A thin disc whose L5 endplate was met up the body's rounded posterior corner (columns 12 mm tall behind
    a 5 mm middle): the endplate comes down onto the middle's height there, and nowhere else."""
    p_mm = np.arange(-20.0, 20.5, 0.5)
    l_mm = np.arange(-20.0, 20.5, 0.5)
    lower = np.full((len(p_mm), len(l_mm)), -2.5)
    upper = np.full_like(lower, 2.5)
    upper[p_mm > 10.0] = 9.5
    middle = (np.abs(p_mm) <= 8.0)[:, None] & (np.abs(l_mm) <= 8.0)[None, :]
    behind = np.broadcast_to((p_mm > 0.0)[:, None], lower.shape)
    lowered = _no_taller_behind(upper, lower, middle, behind)
    assert np.allclose(lowered - lower, 5.0)
    wedge = upper.copy()
    wedge[p_mm < -10.0] = 9.5  # taller in front: lordosis, kept
    assert np.array_equal(_no_taller_behind(wedge, lower, middle, behind)[p_mm < -10.0], wedge[p_mm < -10.0])



def _column_maps() -> tuple[np.ndarray, dict[str, tuple[slice, slice]]]:
    """The model's maps of a column of hand-made parts (rows, columns within planes 3-17): L4, the L4-L5 disc, L5,
    the L5-S1 disc and the top of the sacrum, each body in the body output, each disc in the disc output."""
    rows = {"L4": slice(5, 21), "L4-L5": slice(21, 27), "L5": slice(27, 43), "L5-S1": slice(43, 49), "S1": slice(49, 75)}
    maps = np.zeros((3,) + GRID.shape, np.float32)
    for name, row in rows.items():
        maps[DISC if "-" in name else BODY][3:18, row, 14:38] = 0.95
    return maps, rows


def _but_its_corners(box: np.ndarray) -> np.ndarray:
    """A box-shaped body without its four axial edges' corners (SIDE_PIECE_MM square): a real body's axial
    section has rounded corners, and the side-piece opening rounds a box's."""
    planes, columns = np.nonzero(box.any(axis=1))[0], np.nonzero(box.any(axis=(0, 1)))[0]
    lateral = np.arange(GRID.shape[0])[:, None, None]
    column = np.arange(GRID.shape[2])[None, None, :]
    near_side = (np.minimum(lateral - planes.min(), planes.max() - lateral) + 0.5) * GRID.lateral_mm < SIDE_PIECE_MM
    near_front_back = (np.minimum(column - columns.min(), columns.max() - column) + 0.5) * GRID.pixel_mm < SIDE_PIECE_MM
    return box & ~(near_side & near_front_back)


def test_l5_is_the_whole_body_when_the_model_marks_l5_in_part():
    """The L5 output marks only the back half of the body (its marrow on one side, as on a real study left out
    of training) while the body output marks all of it: L5 is the whole body, counted from the sacrum."""
    maps, rows = _column_maps()
    maps[L5][3:18, rows["L5"], 26:38] = 0.95
    spine = label_spine(GRID, maps)
    l5 = spine.part("L5")
    whole = np.zeros(GRID.shape, bool)
    whole[3:18, rows["L5"], 14:38] = True
    for found in (l5.full_mask(GRID.shape), part_probability(spine, l5) >= 0.5):
        assert not (found & ~whole).any()
        assert not (_but_its_corners(whole) & ~found).any()
    assert [p.name for p in spine.parts] == ["S1", "L5-S1", "L5", "L4-L5", "L4"]
    assert spine.confidence == "high", spine.reasons


def test_l5_does_not_take_in_the_body_above_across_a_disc():
    """The L5 output runs on, in the outer planes, over the L4-L5 disc into L4: the rest of L4 (body output,
    touching that L5 component and centred within its height) lies across the disc and stays L4."""
    maps, rows = _column_maps()
    maps[L5][3:18, rows["L5"], 14:38] = 0.95
    maps[L5][3:6, 5:43, 14:38] = 0.95  # L4, the disc and L5 in the outer three planes
    spine = label_spine(GRID, maps)
    l5 = spine.part("L5").full_mask(GRID.shape)
    assert not l5[6:18, rows["L4"]].any()
    body = np.zeros(GRID.shape, bool)
    body[3:18, rows["L5"], 14:38] = True
    assert not (_but_its_corners(body)[6:18] & ~l5[6:18]).any()


def test_l5_signal_joined_to_a_slice_of_l4_through_a_neck_is_two_bodies():
    """As on vb2-13 left out: the L5 output marks L5 and the back of L4, joined by a 3 mm neck across the L4-L5
    disc in a few planes. The neck is no bone: L5 is the body under it, and the L5-like signal in L4 makes the
    count doubtful."""
    maps, rows = _column_maps()
    maps[L5][3:18, rows["L5"], 14:38] = 0.95
    maps[L5][3:18, rows["L4"], 30:38] = 0.95  # the back of L4
    maps[L5][8:11, rows["L4-L5"], 36:38] = 0.95  # the neck
    spine = label_spine(GRID, maps)
    l5 = spine.part("L5").full_mask(GRID.shape)
    assert not l5[:, rows["L4"]].any()
    body = np.zeros(GRID.shape, bool)
    body[3:18, rows["L5"], 14:38] = True
    assert not (_but_its_corners(body) & ~l5).any()
    assert spine.part("L5-S1") is not None and spine.part("S1") is not None
    assert any("two places" in r for r in spine.reasons), spine.reasons


def test_pieces_beside_l5_a_few_planes_thick_are_not_l5():
    """The model, seeing each sagittal plane alone, calls body what lies beside L5 in its two outer planes (6 mm:
    the pedicle's root running back, the psoas): beyond the body's section, not L5."""
    maps, rows = _column_maps()
    maps[L5][3:16, rows["L5"], 14:38] = 0.95
    maps[L5][16:18, 24:47, 30:50] = 0.95  # beside the body's back, taller than it, running on behind it
    spine = label_spine(GRID, maps)
    l5 = spine.part("L5").full_mask(GRID.shape)
    assert not l5[16:18, :27].any() and not l5[16:18, 43:].any()  # above and below the body
    assert not l5[16:18, :, 41:].any()  # behind it, beyond 4 mm
    body = np.zeros(GRID.shape, bool)
    body[3:16, rows["L5"], 14:38] = True
    assert not (_but_its_corners(body) & ~l5).any()


def test_a_whole_body_is_not_split():
    body = np.zeros(GRID.shape, bool)
    body[3:18, 27:43, 14:38] = True
    body[3:6, 20:27, 30:38] = True  # a broad lip: no neck
    (piece,) = _split_at_necks(GRID, body)
    assert np.array_equal(piece, body)


def test_the_count_runs_along_the_column_when_l5_is_taller_than_deep():
    """An L5 33 mm tall and 24 mm deep: its least spread direction points forward, not up. Above and below are
    told along the column (the bodies' and discs' longest spread), so the disc under it is L5-S1, the one above
    L4-L5, and the count is sure."""
    rows = {"L4": slice(2, 20), "L4-L5": slice(20, 26), "L5": slice(26, 48), "L5-S1": slice(48, 54), "S1": slice(54, 80)}
    maps = np.zeros((3,) + GRID.shape, np.float32)
    for name, row in rows.items():
        maps[DISC if "-" in name else BODY][3:18, row, 14:38] = 0.95
    maps[BODY][3:18, rows["L5"]] = 0.0
    maps[BODY][3:18, rows["L5"], 20:36] = 0.95
    maps[L5][3:18, rows["L5"], 20:36] = 0.95
    spine = label_spine(GRID, maps)
    l5 = spine.part("L5")
    assert abs(l5.axis_lps[2]) < 0.5  # the body's own least spread direction: forward
    assert [p.name for p in spine.parts] == ["S1", "L5-S1", "L5", "L4-L5", "L4"]
    assert spine.confidence == "high", spine.reasons
    below = {p.name: float((l5.centre_lps - p.centre_lps) @ np.array([0.0, 0.0, 1.0])) for p in spine.parts}
    assert below["L5-S1"] > 0 > below["L4-L5"]


def _counted_without(output: int, name: str):
    """The hand-made column, L5 marked, counted with the model's ``output`` map blank over the part ``name``."""
    maps, rows = _column_maps()
    maps[L5][3:18, rows["L5"], 14:38] = 0.95
    maps[output][:, rows[name]] = 0.0
    return label_spine(GRID, maps)


def test_no_disc_seen_between_l5_and_the_sacrum_is_said_and_asked_about():
    """A thin, dark or fused L5-S1 disc the model does not mark: S1 is still the body under L5, the junction lies
    between them, and the count is not confident, with a reason that does not contradict the disc drawn there."""
    spine = _counted_without(DISC, "L5-S1")
    assert spine.part("S1") is not None and spine.part("L5-S1") is None
    assert spine.confidence == "low"
    assert any(r.startswith("The model saw no disc between the L5 body and the sacrum") for r in spine.reasons), spine.reasons


def test_a_disc_above_l5_with_no_body_above_it_is_said_as_it_is():
    """The L4-L5 disc is seen but not L4 (a series ending there, or L4 missed): the reason names what is missing,
    not the disc shown on the sagittal view."""
    spine = _counted_without(BODY, "L4")
    assert spine.part("L4-L5") is not None and spine.part("L4") is None
    assert spine.confidence == "low"
    assert "No L4 body was recognised above the L4-L5 disc: the count cannot be checked against it." in spine.reasons
    assert not any("No L4-L5 disc" in r for r in spine.reasons), spine.reasons
