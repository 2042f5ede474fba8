"""One study, the same numbers in the workstation and on the command line (issue 25): both go through the
study session, so the series' roles, the analysis and the safety anatomy are the same."""

from __future__ import annotations

import json

import numpy as np
import pytest

from planner.plan.planning import plan_metrics, plan_study
from tests.conftest import SHARED, require_shared
from tests.ui.actions import import_and_open

REAL_STUDY = SHARED / "lumbar-mri" / "vb1-02" / "dicom"


def _json(value):
    return json.loads(json.dumps(value))


def _workstation(window, qtbot, study, sagittal: str, procedure: str):
    """Import the study's folder, open its sagittal series (analysed on opening), confirm the levels as the
    CLI's --confirm-level does, suggest the plan."""
    report = import_and_open(window, qtbot, [study], [sagittal])
    assert len(report.series) >= 1, "nothing imported"
    qtbot.waitUntil(lambda: window.context.disc is not None and not window._tasks, timeout=120000)
    model = window.context.disc
    if not model.level_settled:
        model.confirm_levels("tester")
    window.suggest_plan(procedure)
    qtbot.waitUntil(lambda: window.context.plan is not None and not window._tasks, timeout=120000)
    return model, window.context.plan


def _assert_same(model, session, out):
    analysis = json.loads((out / "analysis.json").read_text())
    cli_plan = json.loads((out / "plan.json").read_text())
    finding = _json(model.finding.as_dict())
    assert finding == {key: analysis[key] for key in finding}
    assert round(model.segmentation.volume_ml(), 2) == analysis["disc_volume_ml"]
    assert [lv.name for lv in model.levels.levels] == [lv["name"] for lv in analysis["levels"]]
    for level, saved in zip(model.levels.levels, analysis["levels"]):
        assert np.allclose(level.center_lps, saved["center_lps"], atol=0.006)
    assert model.segmentation.displacement_series == analysis["displacement_series"]
    # the same series stood for the plan, and the same needle with the same safety numbers
    gui_plan = session.plan
    assert {role: uid for role, uid, *_ in gui_plan.study.series} == {
        role: ref["series_instance_uid"] for role, ref in cli_plan["study"]["series"].items()}
    (gui_needle,) = gui_plan.trajectories
    (cli_needle,) = cli_plan["trajectories"]
    assert np.allclose(gui_needle.entry_lps, cli_needle["entry_lps"], atol=1e-6)
    assert np.allclose(gui_needle.target_lps, cli_needle["target_lps"], atol=1e-6)
    gui_metrics = _json({tid: m.as_dict() for tid, m in plan_metrics(gui_plan, session.anatomy).items()})
    assert gui_metrics == cli_plan["computed"]["trajectories"]


def test_the_demo_study_gives_the_same_numbers_in_the_workstation_and_the_cli(make_window, qtbot, demo_study, tmp_path):
    model, session = _workstation(make_window("2x2"), qtbot, demo_study / "MR", "SAG T2 TSE", "transforaminal-s1")
    plan_study(demo_study / "MR", "transforaminal-s1", None, tmp_path / "cli", author="tester")
    _assert_same(model, session, tmp_path / "cli")


@pytest.mark.shared
def test_a_real_study_gives_the_same_numbers_in_the_workstation_and_the_cli(make_window, qtbot, tmp_path):
    study = require_shared(REAL_STUDY)
    # caudal: since the cut-FOV spine model (2026-12-02) the bone estimated around the disc leaves no
    # interlaminar or intradiscal path on vb1-02 (both refuse with the same sentence); the caudal plan still
    # stands on the same finding, levels and anatomy, which is what this test compares
    model, session = _workstation(make_window("2x2"), qtbot, study, "SAG T2 TSE (resampled 1 mm)", "caudal")
    plan_study(study, "caudal", None, tmp_path / "cli", author="tester", confirm_level=True)
    _assert_same(model, session, tmp_path / "cli")
