"""Issue 23's safety interlock in the workstation: a level count that is not certain is shown and must be
confirmed or shifted before a plan can be suggested, approved or exported."""

from __future__ import annotations

import numpy as np
import pytest

from tests.ui.actions import import_and_open


def test_an_uncertain_count_blocks_planning_until_confirmed(make_window, qtbot, uncertain_demo_study, monkeypatch):
    shown = []
    monkeypatch.setattr("ui.dialogs.show_error", lambda _parent, message: shown.append(message))
    window = make_window("2x2")
    import_and_open(window, qtbot, [uncertain_demo_study / "MR" / "SAG_FROM_L5"], ["SAG T2 from L5"])
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
    assert window.suggest_plan("caudal") is None  # the menu path is guarded too, and says why
    assert shown and "not certain" in shown[-1]
    # confirmed: planning opens, and the plan records who confirmed the level and when
    window.findings.confirm_button.click()
    assert model.levels_confirmed and model.confirmed_by and model.confirmed_at
    assert not window.findings.level_banner.isVisible()
    assert panel.suggest_button.isEnabled() and not panel.blocked.isVisible()
    task = window.suggest_plan("caudal")
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
    import_and_open(window, qtbot, [demo_study / "MR" / "SAG_T2"], ["SAG T2 TSE"])
    qtbot.waitUntil(lambda: window.context.disc is not None and not window._tasks, timeout=60000)
    assert window.context.disc.levels.confidence == "high", window.context.disc.levels.confidence_reasons
    assert not window.findings.level_banner.isVisible()
    assert window.plan_panel.suggest_button.isEnabled()
    assert np.isfinite(window.context.disc.segmentation.volume_ml())
