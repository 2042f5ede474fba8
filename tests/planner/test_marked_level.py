"""L5-S1 marked by hand: where the levels cannot be counted (or are counted wrong) the user says which disc is
L5-S1; the levels are named from there, never with confidence, and the refusal says that this can be done."""

from __future__ import annotations

import json

import numpy as np
import pytest

from planner.disc.analysis import analyze_study_series
from planner.disc.levels import LevelError, levels_at_mark
from planner.disc.model import analyze_volume
from planner.errors import AnalysisError, DiscAnalysisError
from tests.conftest import LUMBAR, ROOT, require_shared


def _truth(study) -> dict:
    return json.loads((study / "truth" / "truth.json").read_text())


def _off_mm(level, centre) -> float:
    return float(np.linalg.norm(np.subtract(level.center_lps, centre)))


def test_the_marked_disc_is_l5_s1_and_the_count_is_never_confident(demo_study):
    truth = _truth(demo_study)["levels"]
    study = analyze_study_series(demo_study, l5s1_lps=truth["L5-S1"]["center_lps"])
    analysis = study.analysis
    levels = analysis.levels
    assert levels.confidence == "low"
    assert any("marked by hand" in reason for reason in levels.confidence_reasons)
    assert _off_mm(levels.level("L5-S1"), truth["L5-S1"]["center_lps"]) < 4.0
    assert _off_mm(levels.level("L4-L5"), truth["L4-L5"]["center_lps"]) < 4.0
    assert analysis.marked_lps == tuple(truth["L5-S1"]["center_lps"])
    assert analysis.finding.classification == "protrusion" and analysis.finding.side == "left"  # the demo's finding


def test_a_disc_marked_one_level_high_is_named_l5_s1_as_the_user_says(demo_study):
    truth = _truth(demo_study)["levels"]
    levels = analyze_study_series(demo_study, l5s1_lps=truth["L4-L5"]["center_lps"]).analysis.levels
    assert _off_mm(levels.level("L5-S1"), truth["L4-L5"]["center_lps"]) < 4.0
    assert _off_mm(levels.level("L4-L5"), truth["L3-L4"]["center_lps"]) < 4.0
    assert levels.confidence == "low"


def test_a_mark_where_the_model_saw_no_disc_is_refused_with_the_place(demo_study):
    truth = _truth(demo_study)["levels"]
    l5s1, l4l5 = (np.asarray(truth[name]["center_lps"]) for name in ("L5-S1", "L4-L5"))
    body = (l5s1 + l4l5) / 2  # the middle of the L5 body
    with pytest.raises(AnalysisError, match=r"the model saw no intervertebral disc at the marked point \("):
        analyze_study_series(demo_study, l5s1_lps=body)


def test_a_mark_outside_the_series_is_refused_by_the_classical_chain(demo_study):
    from planner.dicom.loader import load_series, read_path_series

    series, _ = read_path_series(demo_study / "MR" / "SAG_T2")
    volume = load_series(next(iter(series.values()))).volumes[0]
    with pytest.raises(LevelError, match="lies outside the series"):
        levels_at_mark(volume, (500.0, 0.0, 0.0))
    with pytest.raises(LevelError, match="not three coordinates"):
        levels_at_mark(volume, (1.0, 2.0))


def _vb3_02():
    """vb3-02 (a water-fat series ending 15-27 mm into S1), its labels, and a point 4 mm under the middle of the
    labelled L5 body's lowest rows in its middle slice: inside the L5-S1 disc."""
    from bench.real_levels import load_study

    require_shared(LUMBAR / "vb3-02")
    volume, labels = load_study("vb3-02")
    voxels = np.argwhere(labels == 1)  # k, j, i
    k = int(np.median(voxels[:, 0]))
    middle = voxels[voxels[:, 0] == k]
    bottom = middle[:, 1].max()
    i = float(np.median(middle[middle[:, 1] >= bottom - 2][:, 2]))
    mark = (volume.image_to_lps @ np.array([i, bottom + 4.0 / volume.spacing_mm[1], k, 1.0]))[:3]
    return volume, labels, mark


@pytest.mark.shared
def test_a_series_the_model_refuses_is_analysed_at_the_disc_the_user_marks():
    """The model trained without VB3 refuses vb3-02 (it takes the partly seen S1 for a cut L5: issue 23); the
    refusal says how to go on, and with the disc marked the levels are right and must be confirmed."""
    from bench.real_levels import place_of
    from planner.spine.model import SpineModel
    from plugins.learned import LearnedSegmenter

    volume, labels, mark = _vb3_02()
    left_out = LearnedSegmenter(SpineModel(ROOT / "training" / "weights" / "loso-vb3.onnx"))
    with pytest.raises(DiscAnalysisError, match="mark it by hand: the Seed tool on the sagittal view, or main.py"):
        analyze_volume(volume, segmenter=left_out)
    analysis = analyze_volume(volume, segmenter=left_out, l5s1_lps=mark)
    assert place_of(volume, labels, analysis.levels.level("L5-S1")) == "ok"
    assert analysis.levels.confidence == "low"
    assert [level.name for level in analysis.levels.levels[:2]] == ["L5-S1", "L4-L5"]
    l5 = analysis.series_masks()["L5 body"]
    truth = labels == 1
    assert 2 * (l5 & truth).sum() / (l5.sum() + truth.sum()) > 0.75
    # Higher / Lower after a mark move L5-S1 along the model's discs from the marked one
    higher = analyze_volume(volume, segmenter=left_out, l5s1_lps=mark, level_shift=-1)
    assert place_of(volume, labels, higher.levels.level("L5-S1")) == "1 high"
    assert higher.marked_lps == tuple(mark) and higher.levels.level_shift == -1
