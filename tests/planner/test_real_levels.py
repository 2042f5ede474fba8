"""L5-S1 found on the real studies of ../shared/lumbar-mri (issue 23): at least 30 of 31 right, none wrong without
the level warning, with the shipped model and with each study scored by the model trained without its source."""

from __future__ import annotations

import numpy as np
import pytest

from bench.real_levels import LOSO, load_study, place_of
from planner.levels import LevelError
from planner.spine.levels import find_spine_levels
from planner.spine.model import SpineModel
from tests.conftest import LUMBAR, require_shared


@pytest.fixture(scope="module")
def placements():
    studies = sorted(p.name for p in require_shared(LUMBAR).iterdir() if (p / "vertebrae.npz").exists())
    assert len(studies) == 31
    found = {"shipped": {}, "leave-one-source-out": {}}
    for study in studies:
        volume, labels = load_study(study)
        for run, model in (("shipped", SpineModel.default()), ("leave-one-source-out", SpineModel(LOSO / f"loso-{study[:3]}.onnx"))):
            try:
                levels = find_spine_levels(volume, model)
            except LevelError as exc:
                found[run][study] = ("refused", "", str(exc), np.nan)
                continue
            truth = labels == 1
            part = levels.spine.part("L5")
            from planner.spine.anatomy import part_on_series

            mask = part_on_series(levels.spine, part, volume)
            dice = 2.0 * (mask & truth).sum() / (mask.sum() + truth.sum())
            found[run][study] = (place_of(volume, labels, levels.level("L5-S1")), levels.confidence, "", dice)
    return found


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.parametrize("run", ["shipped", "leave-one-source-out"])
def test_l5_s1_is_found_on_the_real_studies(placements, run):
    found = placements[run]
    right = [s for s, (place, *_rest) in found.items() if place == "ok"]
    silent = [s for s, (place, confidence, *_rest) in found.items() if place not in ("ok", "refused") and confidence == "high"]
    refused = {s: why for s, (place, _c, why, _d) in found.items() if place == "refused"}
    summary = {s: (place, confidence) for s, (place, confidence, *_rest) in found.items() if place != "ok"}
    assert len(right) >= 30, f"{run}: L5-S1 right in {len(right)} of 31; elsewhere: {summary}"
    assert not silent, f"{run}: at a wrong level without the level warning: {silent}"
    assert not refused, f"{run}: refused although L5 and the sacrum are in view: {refused}"


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.parametrize("run", ["shipped", "leave-one-source-out"])
def test_the_l5_body_matches_its_label(placements, run):
    dice = {s: d for s, (_p, _c, _w, d) in placements[run].items()}
    values = np.array(list(dice.values()))
    assert np.nanmean(values) >= 0.85, f"{run}: L5 Dice mean {np.nanmean(values):.3f}"
    worst = min(dice, key=lambda s: dice[s])
    assert np.nanmin(values) >= 0.7, f"{run}: L5 Dice {dice[worst]:.3f} on {worst}"
