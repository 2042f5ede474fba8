"""Issue 23's safety interlock in the workstation: a level count that is not certain is shown and must be
confirmed or shifted before a plan can be suggested, approved or exported."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import LUMBAR, require_shared, write_volume_series
from tests.planner.test_spine_refusals import _l5_rows, _rows, _study
from tests.ui.test_workstation import _import_and_open


@pytest.fixture(scope="module")
def uncertain_study(tmp_path_factory):
    """vb2-05 with its field of view starting just above L5: the L4 body above it is not in view, so the count
    from the sacrum cannot be checked against it."""
    require_shared(LUMBAR)
    volume, labels = _study("vb2-05")
    top, _ = _l5_rows(labels)
    folder = tmp_path_factory.mktemp("uncertain") / "SAG"
    return write_volume_series(_rows(volume, top - 8, volume.shape[1]), folder, "SAG T2 from L5")


@pytest.mark.shared
def test_an_uncertain_count_blocks_planning_until_confirmed(make_window, qtbot, uncertain_study):
    window = make_window("2x2")
    _import_and_open(window, qtbot, [uncertain_study], ["SAG T2 from L5"])
    qtbot.waitUntil(lambda: window.context.disc is not None and not window._tasks, timeout=60000)
    model = window.context.disc
    assert model.levels.confidence == "low"
    assert any("L4" in reason for reason in model.levels.confidence_reasons)
    # the labels are on the sagittal view, the banner asks for a decision, planning waits
    assert window.findings.level_banner.isVisible()
    assert "not certain" in window.findings.level_banner.text()
    names = {label.GetInput() for view in window.slice_views.values() for label in view.level_labels}
    assert {"L5-S1", "L5", "S1"} & names
    panel = window.plan_panel
    assert not panel.suggest_button.isEnabled() and panel.blocked.isVisible()
    assert window.suggest_plan("interlaminar-l5s1") is None  # the menu path is guarded too
    # confirmed: planning opens, and the plan records who confirmed the level and when
    window.findings.confirm_button.click()
    assert model.levels_confirmed and model.confirmed_by and model.confirmed_at
    assert not window.findings.level_banner.isVisible()
    assert panel.suggest_button.isEnabled() and not panel.blocked.isVisible()
    task = window.suggest_plan("interlaminar-l5s1")
    assert task is not None
    qtbot.waitUntil(lambda: window.context.plan is not None and not window._tasks, timeout=60000)
    check = window.context.plan.plan.level_check
    assert check.confidence == "low" and check.confirmed_by == model.confirmed_by and check.settled
    # undoing the confirmation closes planning again (the open plan keeps its own record)
    window.context.undo_stack.undo()
    while model.levels_confirmed:
        window.context.undo_stack.undo()
    assert not panel.suggest_button.isEnabled()


@pytest.mark.shared
def test_a_sure_count_needs_no_confirmation(make_window, qtbot, demo_study):
    window = make_window("2x2")
    _import_and_open(window, qtbot, [demo_study / "MR" / "SAG_T2"], ["SAG T2 TSE"])
    qtbot.waitUntil(lambda: window.context.disc is not None and not window._tasks, timeout=60000)
    assert window.context.disc.levels.confidence == "high", window.context.disc.levels.confidence_reasons
    assert not window.findings.level_banner.isVisible()
    assert window.plan_panel.suggest_button.isEnabled()
    assert np.isfinite(window.context.disc.segmentation.volume_ml())
