"""The study session and its one rule for the series' roles (issue 25)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from planner.dicom.header import read_header
from planner.disc.analysis import analyze_study_series
from planner.errors import AnalysisError
from planner.plan.planning import other_mr_volumes
from planner.study.roles import assign_roles
from planner.study.session import StudySession
from tests.conftest import make_stack

SAG = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
AX = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
WORLD = "1.2.826.0.1.3680043.8.498.1"


def _series(folder, uid, n, orientation, description, world=WORLD, step=(2.0, 0.0, 0.0)):
    paths = make_stack(folder / uid, n, step=step, orientation=orientation, series_uid=uid, frame_of_reference_uid=world)
    return uid, [replace(read_header(p), series_description=description) for p in paths]


def test_one_rule_gives_every_series_its_role_and_says_why_one_is_left_out(tmp_path):
    series = dict([
        _series(tmp_path, "1.1", 12, SAG, "SAG T1 TSE"),
        _series(tmp_path, "1.2", 9, SAG, "SAG T2 TSE"),  # fewer slices, but T2: counted on
        _series(tmp_path, "1.3", 4, SAG, "SAG T2 localiser"),  # too few slices to count levels on
        _series(tmp_path, "1.4", 10, AX, "AX T2 L5-S1", step=(0.0, 0.0, 3.0)),
        _series(tmp_path, "1.5", 10, AX, "AX T2 other world", world="1.2.3.9", step=(0.0, 0.0, 3.0)),
        _series(tmp_path, "1.6", 10, AX, "AX T2 no world", world="", step=(0.0, 0.0, 3.0)),
    ])
    roles = assign_roles(series)
    assert roles.sagittal == "1.2"
    assert roles.axials == ("1.4",)
    assert set(roles.anatomy) == {"1.1", "1.3", "1.4"}
    assert roles.excluded == {
        "1.5": "MR series 'AX T2 other world' not used: another frame of reference",
        "1.6": "MR series 'AX T2 no world' not used: it has no Frame of Reference UID",
    }
    # the user's choice of the analysed series is kept
    assert assign_roles(series, sagittal="1.1").sagittal == "1.1"
    # without a world of its own, the analysed series shares it with no other series
    blank = dict(series, **dict([_series(tmp_path, "1.7", 15, SAG, "SAG T2 blank", world="")]))
    roles = assign_roles(blank, sagittal="1.7")
    assert roles.anatomy == () and "the analysed series has no Frame of Reference UID" in roles.excluded["1.4"]


def test_a_study_without_a_sagittal_series_says_so(tmp_path):
    session = StudySession(dict([_series(tmp_path, "2.1", 10, AX, "AX T2", step=(0.0, 0.0, 3.0))]), "folder")
    assert session.roles.sagittal is None
    with pytest.raises(AnalysisError, match="folder: no sagittal MR series"):
        session.sagittal()


def test_the_cli_analysis_goes_through_the_session(demo_study):
    study = analyze_study_series(demo_study / "MR")
    session = study.session
    assert study.sagittal.description == "SAG T2 TSE"
    assert {session.series[uid][0].series_description for uid in session.roles.axials} == {
        "AX T2 TSE L5-S1", "AX T2 TSE L4-L5"}
    # the axial series through L5-S1, the one measured on first; the L4-L5 block does not pass through it
    assert [s.description for s in study.axial] == ["AX T2 TSE L5-S1"]
    assert study.analysis.axial is not None and study.analysis.axial.description == "AX T2 TSE L5-S1"
    assert len(other_mr_volumes(study)) == 2 and study.warnings == []


def test_the_export_source_is_the_corrected_mask_and_the_live_numbers(demo_study):
    from dataclasses import replace as replaced

    from planner.errors import ExportError
    from planner.plan.planning import draft_plan
    from planner.plan.session import PlanSession
    from planner.plan.suggest import suggest_trajectory

    session = StudySession.from_path(demo_study / "MR")
    with pytest.raises(ExportError, match="make or open a plan first"):
        session.export_source()
    heard = []
    session.subscribe(heard.append)
    model = session.adopt(session.analyse())
    session.set_disc(model)
    assert model.undo_stack is session.undo  # its corrections undo on the study's stack
    anatomy = session.build_anatomy(model.analysis)
    plan = draft_plan(session.study_ref(model.analysis), model.finding, "transforaminal-s1", "left", "tester",
                      suggest_trajectory(anatomy, "transforaminal-s1", "left"), level_check=model.level_check())
    plans = PlanSession(plan, session.undo, anatomy=anatomy)
    session.set_plan(plans)
    assert heard == ["disc", "plan"]
    source = session.export_source()
    assert np.array_equal(source.disc_mask, model.segmentation.series_mask(session.sagittal()))
    (needle,) = plan.trajectories
    assert source.metrics == {needle.id: plans.metrics(needle.id).as_dict()}
    assert source.headers == session.series[session.roles.sagittal]
    other = PlanSession(replaced(plan, study=replaced(plan.study, study_instance_uid="1.2.3")), session.undo, anatomy=anatomy)
    session.set_plan(other)
    with pytest.raises(ExportError, match="another study"):
        session.export_source()
    plans.close()
    other.close()
