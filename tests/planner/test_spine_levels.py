"""The heights of the spine model's disc parts (planner.spine.levels)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from planner.spine.parts import Part, SpineLabels, _geometry
from planner.spine.grid import SagittalGrid
from planner.spine.levels import disc_height_mm
from planner.spine.model import DISC

#: 1.5 mm pixels, 3 mm between lateral planes; rows run superior to inferior, columns anterior to posterior
GRID = SagittalGrid((-30.0, -60.0, 60.0), (21, 90, 80), 1.5, 3.0)


def _disc(planes: slice) -> Part:
    """A flat disc 10.5 mm tall (7 rows) and 36 mm deep in the lateral ``planes``."""
    mask = np.zeros(GRID.shape, bool)
    mask[planes, 36:43, 14:38] = True
    where = np.nonzero(mask)
    box = tuple(slice(int(w.min()), int(w.max()) + 1) for w in where)
    centre, axis = _geometry(GRID, mask[box], box, "disc")
    return Part("disc", DISC, box, mask[box], centre, axis, 1.0, 0.9)


@pytest.mark.parametrize("planes", [slice(10, 11), slice(3, 18)], ids=["one plane", "fifteen planes"])
def test_a_disc_part_has_a_superior_normal_and_its_height_even_in_one_lateral_plane(planes):
    """A noisy series can leave a disc part the model saw in one sagittal plane only: its normal was then
    the direction across the plane (no spread there), and its height NaN cast to integer cells."""
    disc = _disc(planes)
    spine = SpineLabels(GRID, np.zeros((4, *GRID.shape), np.float32), [disc], "high")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        height = disc_height_mm(spine, disc)
    assert np.allclose(disc.axis_lps, [0.0, 0.0, 1.0], atol=1e-6)
    assert height == pytest.approx(10.5)
