"""The disc's endplate surfaces (planner/spine/disc.py): on the disc-side edge of the dark cortex."""

from __future__ import annotations

import numpy as np
import pytest

from planner.disc.segmentation import STEP_MM
from planner.disc.segmentation.masks import dice
from planner.spine.disc import _snap


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


def _layered(grey: float, marrow: float) -> np.ndarray:
    """Nucleus (600) up to 9 mm, then a 1 mm grey layer (the cartilage endplate and inner annulus), the cortex
    10-11 mm, marrow beyond: a hydrated disc on T2."""
    n_mm = np.arange(0.0, 20.0, STEP_MM)
    profile = np.select([n_mm < 9.0, n_mm < 10.0, n_mm < 11.0], [600.0, grey, 50.0], marrow)
    return np.repeat(np.repeat(profile[:, None, None], 4, axis=1), 3, axis=2).astype(np.float32)


def test_the_grey_layer_between_cortex_and_nucleus_is_disc():
    """Half-way from the cortex to the nucleus' signal lies past the grey layer (at 8.8 mm): the disc came out
    a millimetre thin on each endplate (random phantoms' 4-5 mm discs read 3.3-3.8 mm, "not reliable"). It
    begins at the latest half a cortex beyond the darkest point."""
    image = _layered(grey=120.0, marrow=450.0)
    model = np.full(image.shape[1:], 11.5 / STEP_MM)
    snapped = _snap(image, model, +1) * STEP_MM
    assert np.all((snapped >= 9.4) & (snapped <= 10.1)), snapped


def test_on_dark_marrow_the_darkest_point_is_not_taken_for_the_cortex():
    """Fat-suppressed marrow as dark as the cortex: no dark line between brighter tissues, so the edge stays
    half-way to the disc's signal."""
    image = _layered(grey=120.0, marrow=60.0)
    model = np.full(image.shape[1:], 11.5 / STEP_MM)
    snapped = _snap(image, model, +1) * STEP_MM
    assert np.all(snapped < 9.4), snapped


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


def _sagittal(folder):
    from planner.dicom.loader import load_series, read_path_series

    series, _ = read_path_series(folder)
    (headers,) = series.values()
    return load_series(headers).volumes[0]


def test_where_the_classical_disc_agrees_its_sharper_margins_are_used(demo_study):
    """On the demo phantom the classical pipeline finds L5-S1 at the model's junction and a disc the model's
    overlaps: the learned segmenter returns the classical disc (traced on the image's 0.5 mm frame)."""
    from planner.disc.levels import find_levels
    from planner.disc.segmentation import segment_disc
    from planner.spine.disc import segment_from_parts
    from plugins.learned import AGREE_DICE, SEGMENTER

    volume = _sagittal(demo_study / "MR" / "SAG_T2")
    levels = SEGMENTER.find_levels(volume)
    spine = levels.spine
    model = segment_from_parts(volume, spine, spine.part("L5"), spine.part("L5-S1"), spine.part("S1"))
    junction = find_levels(volume).level("L5-S1")
    classical = segment_disc(volume, junction.center_lps, junction.normal_lps)
    whole = {"whole_voxels": True}  # as the segmenter compares them
    assert dice(model.series_mask(volume, **whole), classical.series_mask(volume, **whole)) >= AGREE_DICE
    chosen = SEGMENTER.segment(volume, levels)
    assert np.array_equal(chosen.series_mask(volume), classical.series_mask(volume))


@pytest.mark.shared
def test_where_the_classical_disc_disagrees_the_models_stands():
    """vb2-05 (real, Siemens 1.5 T): the classical disc differs from the model's; the model's is kept."""
    from planner.spine.disc import segment_from_parts
    from plugins.learned import SEGMENTER
    from tests.conftest import LUMBAR, require_shared

    volume = _sagittal(require_shared(LUMBAR) / "vb2-05" / "dicom" / "sag_t2")
    levels = SEGMENTER.find_levels(volume)
    spine = levels.spine
    model = segment_from_parts(volume, spine, spine.part("L5"), spine.part("L5-S1"), spine.part("S1"))
    chosen = SEGMENTER.segment(volume, levels)
    assert np.array_equal(chosen.series_mask(volume), model.series_mask(volume))
