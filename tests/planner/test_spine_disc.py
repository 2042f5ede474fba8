"""The disc's endplate surfaces (planner/spine/disc.py): on the disc-side edge of the dark cortex."""

from __future__ import annotations

import numpy as np

from planner.spine.disc import _snap
from planner.segmentation import STEP_MM


def _column(disc: float, cortex: float, marrow: float) -> np.ndarray:
    """A profile along the disc's normal at 0.5 mm: disc up to 10 mm, cortex 10-12 mm, marrow beyond."""
    n_mm = np.arange(0.0, 20.0, STEP_MM)
    profile = np.where(n_mm < 10.0, disc, np.where(n_mm < 12.0, cortex, marrow))
    return np.repeat(np.repeat(profile[:, None, None], 4, axis=1), 3, axis=2).astype(np.float32)


def test_the_endplate_moves_onto_the_disc_side_of_the_cortex():
    """The model's 1.5 mm pixels put the L5 endplate anywhere within a pixel or so of the cortex (here on its
    marrow side, 12.5 mm): the disc ends where the dark line begins (10 mm), as a reader draws it."""
    image = _column(disc=600.0, cortex=50.0, marrow=450.0)
    model = np.full(image.shape[1:], 12.5 / STEP_MM)
    snapped = _snap(image, model, +1) * STEP_MM
    assert np.allclose(snapped, 9.75, atol=0.5), snapped


def test_the_lower_endplate_snaps_the_other_way():
    image = _column(disc=600.0, cortex=50.0, marrow=450.0)[::-1].copy()  # the disc above, S1 beneath
    model = np.full(image.shape[1:], (image.shape[0] - 1 - 11.5 / STEP_MM))
    snapped = _snap(image, model, -1) * STEP_MM
    edge = (image.shape[0] - 1) * STEP_MM - 9.75
    assert np.allclose(snapped, edge, atol=0.5), (snapped, edge)


def test_a_dark_disc_against_the_cortex_keeps_the_models_surface():
    """A degenerated disc as dark as the cortex shows no edge between them: the model's surface stands."""
    image = _column(disc=70.0, cortex=50.0, marrow=450.0)
    model = np.full(image.shape[1:], 10.5 / STEP_MM)
    assert np.array_equal(_snap(image, model, +1), model)


def test_columns_the_model_did_not_reach_stay_undefined():
    image = _column(disc=600.0, cortex=50.0, marrow=450.0)
    model = np.full(image.shape[1:], np.nan)
    model[0, 0] = 11.0 / STEP_MM
    snapped = _snap(image, model, +1)
    assert np.isfinite(snapped[0, 0]) and np.isnan(snapped[1:]).all()
