"""L5-S1 found on the real studies of ../shared/lumbar-mri (issue 23): at least 30 of 31 right, none wrong without
the level warning, none refused, the L5 body matching its label; with the shipped model and with each study
scored by the model trained without its source. The whole analysis runs, as bench.real_levels runs it (the
warning a user sees comes from the analysis: the count's checks and the disc's)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.real_levels import LOSO, analyse
from tests.conftest import LUMBAR, require_shared


@pytest.fixture(scope="module")
def rows():
    from planner.spine.model import SpineModel
    from plugins.learned import LearnedSegmenter

    studies = sorted(p.name for p in require_shared(LUMBAR).iterdir() if (p / "vertebrae.npz").exists())
    assert len(studies) == 31
    shipped = LearnedSegmenter(SpineModel.default())
    held_out = {source: LearnedSegmenter(SpineModel(LOSO / f"loso-{source}.onnx")) for source in ("vb1", "vb2", "vb3")}
    return {
        "shipped": {study: analyse(study, shipped) for study in studies},
        "leave-one-source-out": {study: analyse(study, held_out[study[:3]]) for study in studies},
    }


#: issue 23's target the leave-one-source-out models do not meet yet (bench.real_levels, README): the
#: assertion stands unchanged and runs in CI; strict, so that meeting it fails until the mark is removed
NOT_MET_YET = pytest.mark.xfail(
    strict=True,
    reason="issue 23 open: leave one source out, L5 Dice 0.836 / min 0.736 (python -m bench.real_levels)",
)


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.parametrize("run", ["shipped", "leave-one-source-out"])
def test_no_study_is_at_a_wrong_level_without_the_level_warning(rows, run):
    """The safety half of the target, met in both runs: a study counted wrong always asks the user."""
    silent = {s: (row.place, row.confidence) for s, row in rows[run].items() if row.silent_wrong}
    assert not silent, f"{run}: at a wrong level without the level warning: {silent}"


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.parametrize("run", ["shipped", "leave-one-source-out"])
def test_l5_s1_is_found_on_the_real_studies(rows, run):
    found = rows[run]
    right = [s for s, row in found.items() if row.right]
    silent = [s for s, row in found.items() if row.silent_wrong]
    refused = {s: row.warnings for s, row in found.items() if row.place == "refused"}
    elsewhere = {s: (row.place, row.confidence) for s, row in found.items() if not row.right}
    assert len(right) >= 30, f"{run}: L5-S1 right in {len(right)} of 31; elsewhere: {elsewhere}"
    assert not silent, f"{run}: at a wrong level without the level warning: {silent}"
    assert not refused, f"{run}: refused although L5 and the sacrum are in view: {refused}"


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.parametrize("run", ["shipped", pytest.param("leave-one-source-out", marks=NOT_MET_YET)])
def test_the_l5_body_matches_its_label(rows, run):
    dice = {s: row.dice_l5 for s, row in rows[run].items()}
    values = np.array(list(dice.values()))
    worst = min(dice, key=lambda s: dice[s])
    assert np.nanmean(values) >= 0.85, f"{run}: L5 Dice mean {np.nanmean(values):.3f}"
    assert np.nanmin(values) >= 0.7, f"{run}: L5 Dice {dice[worst]:.3f} on {worst}"
