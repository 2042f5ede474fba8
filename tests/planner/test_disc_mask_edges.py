"""The disc mask's surfaces lie where its endplates were found, on the series and in its volume, whether an
endplate falls on a voxel centre of the disc's 0.5 mm frame or between two."""

import numpy as np
import pytest

from planner.disc.segmentation import DiscFrame, DiscSegmentation
from planner.volume import Volume

RADIUS_MM = 15.0
HEIGHT_MM = 6.0
SERIES_STEP_MM = 0.1  # along the column: fine enough to read the mask's surfaces to 0.1 mm


def _flat_disc(lower_mm: float) -> DiscSegmentation:
    """A round disc RADIUS_MM wide with flat endplates at ``lower_mm`` and HEIGHT_MM above it, segmented as the
    voxels of its frame whose centres lie between them (inclusive, as the segmenters do)."""
    frame = DiscFrame.around((0.0, 0.0, 0.0), (0.0, 0.0, 1.0))
    p, l = frame.axis_mm(1)[:, None], frame.axis_mm(2)[None, :]
    outline = p**2 + l**2 <= RADIUS_MM**2
    upper = np.where(outline, lower_mm + HEIGHT_MM, np.nan)
    lower = np.where(outline, lower_mm, np.nan)
    n = frame.axis_mm(0)[:, None, None]
    disc = outline[None] & (n >= lower[None] - 1e-6) & (n <= upper[None] + 1e-6)
    empty = np.zeros_like(disc)
    image = np.zeros(disc.shape, np.float32)
    return DiscSegmentation(frame, image, 500.0, outline, upper, lower, disc, empty, empty, empty)


def _column_series() -> Volume:
    """A thin series along the disc's axis through its centre: 3 x 3 voxels of 1 mm, SERIES_STEP_MM high."""
    affine = np.diag([1.0, 1.0, SERIES_STEP_MM, 1.0])
    affine[:3, 3] = (-1.0, -1.0, -10.0)
    return Volume(np.zeros((int(20.0 / SERIES_STEP_MM) + 1, 3, 3), np.float32), affine)


@pytest.mark.parametrize("lower_mm", [-3.0, -3.2, -2.85], ids=["on voxel centres", "between", "near a quarter"])
def test_the_series_mask_and_the_volume_end_at_the_endplates_found(lower_mm):
    seg = _flat_disc(lower_mm)
    volume = _column_series()
    column = seg.series_mask(volume)[:, 1, 1]
    z = volume.origin_lps[2] + SERIES_STEP_MM * np.nonzero(column)[0]
    # the mask's surfaces within a quarter of a frame voxel of the endplates (whole voxels put them up to a
    # quarter beyond each when the endplates fell on voxel centres: 6.5 mm instead of 6)
    assert z.min() == pytest.approx(lower_mm, abs=0.15)
    assert z.max() == pytest.approx(lower_mm + HEIGHT_MM, abs=0.15)
    expected_ml = np.pi * RADIUS_MM**2 * HEIGHT_MM / 1000.0
    assert seg.volume_ml() == pytest.approx(expected_ml, rel=0.02)


def test_an_edited_mask_keeps_its_own_voxels_whole():
    """A brushed-in voxel off the surfaces (above the upper endplate) and one brushed out inside the disc are
    taken as the user left them."""
    seg = _flat_disc(-3.0)
    disc = seg.disc.copy()
    n = seg.frame.axis_mm(0)
    centre = (int(np.argmin(np.abs(seg.frame.axis_mm(1)))), int(np.argmin(np.abs(seg.frame.axis_mm(2)))))
    above = np.nonzero((n > 3.4) & (n <= 5.0))[0]
    disc[above, centre[0] - 2 : centre[0] + 3, centre[1] - 2 : centre[1] + 3] = True
    seg.set_disc(disc)
    column = seg.series_mask(_column_series())[:, 1, 1]
    z = -10.0 + SERIES_STEP_MM * np.nonzero(column)[0]
    assert z.max() == pytest.approx(5.0, abs=0.3)
    erased = seg.disc.copy()
    erased[:, centre[0] - 4 : centre[0] + 5, centre[1] - 4 : centre[1] + 5] = False
    seg.set_disc(erased)
    assert not seg.series_mask(_column_series())[:, 1, 1].any()
