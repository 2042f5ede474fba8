"""Where displaced disc material may lie behind the disc, as far as CSF and fat are concerned
(``planner.disc.segmentation.displaced._in_front_of_the_sac``), and what ends as a sequestered fragment
does (``_runs_on_as_a_layer``, ``_sac_behind``)."""

from __future__ import annotations

import numpy as np

from planner.disc.segmentation.displaced import _in_front_of_the_sac, _runs_on_as_a_layer, _sac_behind
from planner.disc.segmentation.frame import STEP_MM

SHAPE = (167, 161)  # [posterior, lateral] on the disc frame's 0.5 mm grid
CENTRE = (83, 80)
GREY, BRIGHT = 100.0, 300.0


def _plane_and_outline():
    """A 40 x 48 mm elliptical disc section on grey tissue; its posterior margin at row 123."""
    rows, columns = np.indices(SHAPE)
    outline = ((rows - CENTRE[0]) / 40.0) ** 2 + ((columns - CENTRE[1]) / 48.0) ** 2 <= 1.0
    return np.full(SHAPE, GREY, np.float32), outline


def _mm(rows: int) -> int:
    return int(round(rows / STEP_MM))


def test_material_may_not_lie_behind_the_thecal_sac_even_when_fat_further_back_is_larger():
    plane, outline = _plane_and_outline()
    back = int(np.nonzero(outline.any(axis=1))[0].max())
    sac_front = back + _mm(3)
    plane[sac_front : sac_front + _mm(6), CENTRE[1] - _mm(6) : CENTRE[1] + _mm(6)] = BRIGHT  # CSF: 12 x 6 mm
    plane[back + _mm(15) : back + _mm(24), CENTRE[1] - _mm(12) : CENTRE[1] + _mm(12)] = BRIGHT  # fat: 24 x 9 mm
    allowed = _in_front_of_the_sac(plane, outline, 200.0)
    assert allowed[sac_front - 1, CENTRE[1]]  # between the disc and the sac: a herniation's place
    assert not allowed[sac_front + 1 :, CENTRE[1]].any()  # in and behind the sac
    assert not allowed[back + _mm(10), CENTRE[1] + _mm(4)]  # between the sac and the fat behind it


def test_material_may_not_lie_behind_csf_or_fat_in_its_own_column_beside_the_sac():
    plane, outline = _plane_and_outline()
    back = int(np.nonzero(outline.any(axis=1))[0].max())
    plane[back + _mm(3) : back + _mm(9), CENTRE[1] - _mm(5) : CENTRE[1] + _mm(5)] = BRIGHT  # the sac
    column = CENTRE[1] + _mm(16)  # 16 mm to the side: beyond the columns the sac's front limits
    margin = int(np.nonzero(outline[:, column])[0].max())
    fat_front = margin + _mm(4)
    plane[fat_front : fat_front + _mm(4), column - _mm(2) : column + _mm(2)] = BRIGHT
    allowed = _in_front_of_the_sac(plane, outline, 200.0)
    assert allowed[fat_front - 1, column]
    assert not allowed[fat_front:, column].any()
    assert allowed[fat_front + _mm(6), column + _mm(6)]  # a column with nothing bright behind the disc


def test_a_series_without_bright_csf_or_fat_limits_nothing():
    plane, outline = _plane_and_outline()
    assert _in_front_of_the_sac(plane, outline, 200.0).all()


def _behind_the_body(layer: float, fragment: float, fragment_planes: slice):
    """[normal, posterior, lateral] on the 0.5 mm grid, 30 mm along the normal: grey tissue of signal ``layer``
    along the bodies' backs, and a 6 x 4 mm piece of signal ``fragment`` over ``fragment_planes``."""
    n_mm = np.arange(60) * STEP_MM - 15.0
    image = np.full((60, 40, 40), layer, np.float32)
    piece = np.zeros(image.shape, bool)
    piece[fragment_planes, 10:18, 14:26] = True
    image[piece] = fragment
    return image, piece, n_mm, np.nonzero(piece.any(axis=(1, 2)))[0]


def test_a_patch_of_a_layer_running_on_beyond_both_its_ends_is_no_fragment():
    """random-9001-8 (a bulge) read as a sequestration: a threshold had cut a 6.5 mm patch out of the
    epidural fat along L5's back, whose signal beyond both of the patch's ends was its own."""
    image, piece, n_mm, planes = _behind_the_body(250.0, 252.0, slice(30, 43))
    assert _runs_on_as_a_layer(piece, planes, image, n_mm)


def test_a_fragment_that_ends_in_other_tissue_is_one():
    image, piece, n_mm, planes = _behind_the_body(100.0, 250.0, slice(30, 43))
    assert not _runs_on_as_a_layer(piece, planes, image, n_mm)
    image[:30] = 250.0  # the same signal above it, other tissue below: it ends below
    assert not _runs_on_as_a_layer(piece, planes, image, n_mm)


def test_a_piece_at_the_end_of_the_image_is_not_called_a_layer():
    image, piece, n_mm, planes = _behind_the_body(250.0, 250.0, slice(50, 60))
    assert not _runs_on_as_a_layer(piece, planes, image, n_mm)


def test_a_plane_below_the_disc_where_no_sac_is_seen_allows_no_fragment():
    """Beyond the endplate planes a fragment is looked for in front of its own plane's sac: a plane where none is
    seen (the canal under the sac's end, a T1 series) holds none."""
    plane, outline = _plane_and_outline()
    assert not _in_front_of_the_sac(plane, outline, 200.0, seen=True).any()
    back = int(np.nonzero(outline.any(axis=1))[0].max())
    plane[back + _mm(8) : back + _mm(14), CENTRE[1] - _mm(6) : CENTRE[1] + _mm(6)] = BRIGHT  # the sac pushed back
    allowed = _in_front_of_the_sac(plane, outline, 200.0, seen=True)
    assert allowed[back + _mm(7), CENTRE[1]] and not allowed[back + _mm(9), CENTRE[1]]


def _fragment_and_csf(csf_behind: bool):
    """A 6 x 4 mm piece of grey tissue ([normal, posterior, lateral]) and the sac's CSF: 1.5 mm behind it
    (a fragment pushing the sac back), or above it (grey tissue under the sac's caudal end)."""
    image, piece, n_mm, planes = _behind_the_body(100.0, 250.0, slice(30, 43))
    if csf_behind:
        image[28:45, 21:30, 12:28] = 900.0
    else:
        image[5:28, 6:20, 12:28] = 900.0
    return piece, image


def test_a_fragment_lies_in_front_of_the_sac_not_under_it():
    """vb1-06 (a 3.4 mm protrusion) read as a 20 mm sequestration when the sac's front was looked for in each
    plane below the disc: the grey roots under the sac's caudal end lay in front of nothing bright."""
    assert _sac_behind(*_fragment_and_csf(csf_behind=True), bright=500.0)
    assert not _sac_behind(*_fragment_and_csf(csf_behind=False), bright=500.0)


def _disc_with_tissue_behind(dark_line: bool):
    """[normal, posterior, lateral], 12 planes 0.5 mm apart between the endplate planes: the disc section at
    disc signal, and displaced-looking tissue of the same signal in the 8 mm behind its posterior margin
    (12 mm wide); with ``dark_line``, a 1 mm dark line (a third darker) crosses it 3 mm behind the margin."""
    plane, outline = _plane_and_outline()
    back = int(np.nonzero(outline.any(axis=1))[0].max())
    columns = slice(CENTRE[1] - _mm(6), CENTRE[1] + _mm(6))
    tissue = np.zeros(SHAPE, bool)
    tissue[back + 1 : back + 1 + _mm(8), columns] = True
    plane[outline | tissue] = BRIGHT
    if dark_line:
        plane[back + 1 + _mm(3) : back + 1 + _mm(4), columns] = 0.65 * BRIGHT
    n_mm = np.arange(12) * STEP_MM - 2.75
    image = np.repeat(plane[None], 12, axis=0)
    displaced = np.repeat(tissue[None], 12, axis=0)
    return image, outline, displaced, n_mm, back


def test_tissue_beyond_a_dark_line_behind_the_disc_is_not_displaced_disc():
    """The epidural veins behind healthy volunteers' discs, beyond the annulus' and ligament's dark line, read
    as 10-14 mm bulges on their water images: the material is trimmed at the line."""
    from planner.disc.segmentation.displaced import _beyond_a_dark_line

    image, outline, displaced, n_mm, back = _disc_with_tissue_behind(dark_line=True)
    beyond = _beyond_a_dark_line(displaced, image, outline, np.ones(len(n_mm), bool), n_mm, n_mm[-1], n_mm[0])
    column = beyond[:, CENTRE[1]]
    assert not column[: back + 1 + _mm(3)].any()  # the material up to the line is kept
    assert column[back + 1 + _mm(4) : back + 1 + _mm(8)].all()  # and what lies beyond it is not


def test_material_with_no_dark_line_across_it_is_kept_whole():
    """A herniation pushes the annulus and the ligament ahead of it: no line crosses its base, and it stays."""
    from planner.disc.segmentation.displaced import _beyond_a_dark_line

    image, outline, displaced, n_mm, _ = _disc_with_tissue_behind(dark_line=False)
    assert not _beyond_a_dark_line(displaced, image, outline, np.ones(len(n_mm), bool), n_mm, n_mm[-1], n_mm[0]).any()
