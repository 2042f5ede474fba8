"""The spine model refuses only when the field of view really misses L5 or the sacrum, and says which."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from planner.disc.levels import LevelError
from planner.spine.levels import find_spine_levels
from planner.volume import Volume
from tests.conftest import LUMBAR, require_shared


def _study(case: str):
    from planner.dicom.loader import load_series, read_path_series

    folder = require_shared(LUMBAR) / case
    series, _ = read_path_series(folder / "dicom" / "sag_t2")
    (headers,) = series.values()
    return load_series(headers).volumes[0], np.load(folder / "vertebrae.npz")["labels"]


def _rows(volume: Volume, first: int, stop: int) -> Volume:
    """``volume`` cut to rows [first, stop) (the shared series' rows run superior to inferior)."""
    affine = volume.image_to_lps.copy()
    affine[:3, 3] += affine[:3, 1] * first
    return replace(volume, array=np.ascontiguousarray(volume.array[:, first:stop]), image_to_lps=affine)


def _l5_rows(labels) -> tuple[int, int]:
    rows = np.nonzero((labels == 1).any(axis=(0, 2)))[0]
    return int(rows.min()), int(rows.max())


#: the shipped model, trained on crops whose field of view ends anywhere from mid-L4 down, refuses a series cut
#: just under L5; cut above L5 it finds an "L5" in L4 (and calls the cut edge S1), and on the sacrum alone it
#: names an L5 in S1: both counted with low confidence and the reasons (the next test), not yet refused as these
#: tests ask (issue 23 open)
MISNAMES_CUT_SERIES = pytest.mark.xfail(strict=True, reason="issue 23 open: counted with low confidence, not refused")


def _crops(volume, labels) -> dict[str, Volume]:
    top, bottom = _l5_rows(labels)
    return {
        "ending under L5": _rows(volume, 0, bottom + 2),
        "ending above L5": _rows(volume, 0, top - 12),
        "the sacrum alone": _rows(volume, bottom + 12, volume.shape[1]),
    }


@pytest.mark.shared
def test_a_field_of_view_missing_l5_or_the_sacrum_is_never_counted_with_confidence():
    """What holds today on the three cut series below: refused, or counted with low confidence and the reason
    (the GUI and the CLI then ask the user to confirm or shift the levels before any plan)."""
    volume, labels = _study("vb2-05")
    for name, crop in _crops(volume, labels).items():
        try:
            levels = find_spine_levels(crop)
        except LevelError:
            continue
        assert levels.confidence == "low" and levels.confidence_reasons, f"{name}: counted with high confidence"


@pytest.mark.shared
def test_a_field_of_view_ending_under_l5_is_refused_for_the_sacrum():
    volume, labels = _study("vb2-05")
    _, bottom = _l5_rows(labels)
    with pytest.raises(LevelError, match="the sacrum is outside the field of view"):
        find_spine_levels(_rows(volume, 0, bottom + 2))


@pytest.mark.shared
@MISNAMES_CUT_SERIES
def test_a_field_of_view_ending_above_l5_is_refused_for_l5_and_the_sacrum():
    volume, labels = _study("vb2-05")
    top, _ = _l5_rows(labels)
    with pytest.raises(LevelError, match="the sacrum and L5 are outside the field of view"):
        find_spine_levels(_rows(volume, 0, top - 12))


@pytest.mark.shared
@MISNAMES_CUT_SERIES
def test_a_field_of_view_of_the_sacrum_alone_is_refused_for_l5():
    volume, labels = _study("vb2-05")
    _, bottom = _l5_rows(labels)
    with pytest.raises(LevelError, match="the L5 body is outside the field of view"):
        find_spine_levels(_rows(volume, bottom + 12, volume.shape[1]))


def test_a_series_without_a_spine_is_refused():
    rng = np.random.default_rng(0)
    array = rng.normal(100.0, 10.0, (20, 200, 200)).astype(np.float32)
    affine = np.array([[0, 0, -2.0, 20.0], [1.5, 0, 0, -150.0], [0, -1.5, 0, 150.0], [0, 0, 0, 1]])
    with pytest.raises(LevelError, match="no lumbar spine was recognised"):
        find_spine_levels(Volume(array, affine))


@pytest.mark.shared
def test_the_top_of_the_sacrum_taken_for_l5_at_the_series_edge_is_looked_at_again():
    """vb3-02 ends 15-27 mm into S1. The model trained without VB3 takes that partly seen S1 for L5 at its own
    scale, which would refuse the series for the sacrum; a second look at coarser pixels names it S1, and the
    count from there is right, with a reason saying so, never confident."""
    from bench.real_levels import load_study, place_of
    from planner.errors import SacrumNotSeen
    from planner.spine.anatomy import label_spine
    from planner.spine.grid import SagittalGrid
    from planner.spine.model import PIXEL_MM, SpineModel
    from tests.conftest import ROOT

    require_shared(LUMBAR / "vb3-02")
    volume, labels = load_study("vb3-02")
    left_out = SpineModel(ROOT / "training" / "weights" / "loso-vb3.onnx")
    grid = SagittalGrid.covering(volume, PIXEL_MM)
    with pytest.raises(SacrumNotSeen, match="the sacrum is outside the field of view") as first:
        label_spine(grid, left_out.predict(grid.resample(volume)))
    levels = find_spine_levels(volume, left_out)
    assert place_of(volume, labels, levels.level("L5-S1")) == "ok"
    assert levels.confidence == "low"
    assert levels.confidence_reasons[0].startswith("The body at the series' lower edge was taken for L5 at first")
    l5, s1 = levels.spine.part("L5"), levels.spine.part("S1")
    assert l5.centre_lps[2] - first.value.l5_centre_lps[2] > 20.0  # a level above the body taken for L5 at first
    assert np.linalg.norm(np.subtract(s1.centre_lps, first.value.l5_centre_lps)) < 15.0


def test_the_sacrum_refusal_keeps_its_message_and_place_through_a_pickle():
    """A worker process's error crosses to the GUI pickled: the refusal's sentence and the body's centre stay."""
    import pickle

    from planner.errors import SacrumNotSeen

    refusal = pickle.loads(pickle.dumps(SacrumNotSeen("the sacrum is outside the field of view", (1, 2.5, -3))))
    assert str(refusal) == "the sacrum is outside the field of view" and refusal.l5_centre_lps == (1.0, 2.5, -3.0)
    assert str(pickle.loads(pickle.dumps(SacrumNotSeen("no centre")))) == "no centre"
