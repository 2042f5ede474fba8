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


#: the series cut this far under the labelled L5 body's lowest row: a few mm of the L5-S1 disc in view, none of
#: the sacrum (the model trained without VB3 refuses vb3-01 cut 1-5 mm under it, and counts it from 6 mm)
CUT_UNDER_L5_MM = 3


def cut_under_l5(folder, study: str = "vb3-01"):
    """A copy of ``study``'s sagittal series in ``folder``, cut CUT_UNDER_L5_MM under its labelled L5 body (the
    rows run superior to inferior: each slice keeps its first rows, so its position stands), with new series and
    instance UIDs; and the cut series' volume, its labels, and a point 2 mm under the middle of the L5 body's
    lowest rows in its middle slice: inside the L5-S1 disc. The model trained without VB3 refuses it (the
    sacrum is outside the field of view) at both of its looks."""
    import pydicom
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    from bench.real_levels import load_study
    from planner.dicom.loader import load_series, read_path_series

    source = require_shared(LUMBAR / study) / "dicom" / "sag_t2"
    _, labels = load_study(study)
    voxels = np.argwhere(labels == 1)  # k, j, i
    stop = int(voxels[:, 1].max()) + 1 + CUT_UNDER_L5_MM  # 1 mm rows
    series_uid = generate_uid()
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.iterdir()):
        ds = pydicom.dcmread(path)
        pixels = np.ascontiguousarray(ds.pixel_array[:stop])
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.PixelData, ds.Rows = pixels.tobytes(), stop
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.save_as(folder / path.name, enforce_file_format=True)
    series, _ = read_path_series(folder)
    (headers,) = series.values()
    volume = load_series(headers).volumes[0]
    labels = labels[:, :stop]
    k = int(np.median(voxels[:, 0]))
    middle = voxels[voxels[:, 0] == k]
    bottom = middle[:, 1].max()
    i = float(np.median(middle[middle[:, 1] >= bottom - 2][:, 2]))
    mark = (volume.image_to_lps @ np.array([i, bottom + 2.0 / volume.spacing_mm[1], k, 1.0]))[:3]
    return volume, labels, mark


@pytest.mark.shared
def test_a_series_the_model_refuses_is_analysed_at_the_disc_the_user_marks(tmp_path):
    """vb3-01 cut 6 mm under L5: the model trained without VB3 refuses it (the sacrum is outside the field of
    view); the refusal says how to go on, and with the disc marked the levels are right and must be confirmed."""
    from bench.real_levels import place_of
    from planner.spine.model import SpineModel
    from plugins.learned import LearnedSegmenter

    volume, labels, mark = cut_under_l5(tmp_path / "cut")
    left_out = LearnedSegmenter(SpineModel(ROOT / "training" / "weights" / "loso-vb3.onnx"))
    with pytest.raises(DiscAnalysisError, match="the sacrum is outside the field of view") as refusal:
        analyze_volume(volume, segmenter=left_out)
    assert "mark it by hand: the Seed tool on the sagittal view, or main.py" in str(refusal.value)
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
