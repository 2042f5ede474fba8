"""The spine model sees every series upright and facing left, whatever order the scanner stored it in."""

from __future__ import annotations

import numpy as np

from planner.spine.grid import SagittalGrid
from planner.volume import Volume


def _sagittal(flip_rows=False, flip_columns=False, flip_slices=False) -> Volume:
    """A 12 x 60 x 50 sagittal series (rows S->I, columns A->P, slices towards the left) whose signal is a
    function of the patient position, stored in the asked order."""
    k, j, i = np.mgrid[0:12, 0:60, 0:50].astype(float)
    affine = np.array([[0.0, 0.0, 3.0, -18.0], [1.2, 0.0, 0.0, -30.0], [0.0, -1.2, 0.0, 36.0], [0.0, 0.0, 0.0, 1.0]])
    points = np.stack([i, j, k, np.ones_like(i)], axis=-1) @ affine.T
    array = (100 + points[..., 0] * 2 + points[..., 1] + 3 * points[..., 2]).astype(np.float32)
    for axis, flip in ((0, flip_slices), (1, flip_rows), (2, flip_columns)):
        if flip:
            array = np.flip(array, axis=axis)
            n = array.shape[axis]
            column = 2 - axis  # the affine's column for this array axis
            affine = affine.copy()
            affine[:3, 3] += affine[:3, column] * (n - 1)
            affine[:3, column] *= -1
    return Volume(np.ascontiguousarray(array), affine)


def test_the_grid_is_the_same_whatever_the_storage_order():
    reference = _sagittal()
    grid = SagittalGrid.covering(reference, pixel_mm=1.5)
    stack = grid.resample(reference)
    assert grid.shape[0] == 12 and abs(grid.lateral_mm - 3.0) < 1e-9  # one plane through each thick slice
    for flips in ((True, False, False), (False, True, False), (False, False, True), (True, True, True)):
        other = _sagittal(*flips)
        again = SagittalGrid.covering(other, pixel_mm=1.5)
        assert again.shape == grid.shape and np.allclose(again.origin_lps, grid.origin_lps)
        assert np.allclose(again.resample(other), stack, atol=1e-3)


def test_the_grid_runs_superior_to_inferior_and_anterior_to_posterior():
    volume = _sagittal()
    grid = SagittalGrid.covering(volume, pixel_mm=1.5)
    affine = grid.index_to_lps
    assert affine[2, 1] < 0 and affine[1, 0] > 0 and affine[0, 2] > 0  # rows down (-z), columns back (+y), planes left
    stack = grid.resample(volume)
    # the signal rises 3 per mm superiorly, 1 per mm posteriorly: down the rows it falls, along the columns it rises
    assert np.all(np.diff(stack[5, 5:-5, 20]) < 0) and np.all(np.diff(stack[5, 20, 5:-5]) > 0)


def test_resampling_back_onto_the_series_returns_the_mask():
    volume = _sagittal()
    grid = SagittalGrid.covering(volume, pixel_mm=1.5)
    mask = np.zeros(grid.shape, np.float32)
    mask[4:8, 10:30, 10:30] = 1.0
    back = grid.to_series(mask, volume) >= 0.5
    k, j, i = np.nonzero(back)
    lps = np.c_[i, j, k, np.ones(len(i))] @ volume.image_to_lps.T
    index = np.linalg.solve(grid.index_to_lps, lps.T).T  # (column, row, lateral)
    assert back.sum() > 100
    assert np.all((index[:, 2] > 3.4) & (index[:, 2] < 7.6) & (index[:, 1] > 9.4) & (index[:, 0] < 29.6))
