"""Issue 23 in the workstation: when the levels cannot be counted, the panel says why and offers the Seed tool;
a click on the L5-S1 disc names the levels from there, to be confirmed; Higher / Lower keep the mark."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from planner.viewing.mpr import View
from tests.conftest import ROOT
from tests.ui.actions import import_and_open


@pytest.mark.shared
def test_a_refused_series_is_analysed_at_the_disc_the_user_clicks(make_window, qtbot, monkeypatch, tmp_path):
    from planner.spine.model import SpineModel
    from plugins import learned
    from tests.planner.test_marked_level import cut_under_l5

    # vb3-01 cut 6 mm under L5, which the model trained without VB3 refuses for the sacrum, as a model may refuse
    # a series from a scanner it never saw
    monkeypatch.setattr(learned.SEGMENTER, "model", SpineModel(ROOT / "training" / "weights" / "loso-vb3.onnx"))
    _, _, mark = cut_under_l5(tmp_path / "cut")
    window = make_window("2x2")
    import_and_open(window, qtbot, [tmp_path / "cut"])
    qtbot.waitUntil(lambda: "failed" in window.findings.message.text() and not window._tasks, timeout=60000)
    findings = window.findings
    assert window.context.disc is None
    assert "the sacrum is outside the field of view" in findings.message.text()
    assert "mark it by hand: the Seed tool" in findings.message.text()
    seed = findings.tool_buttons["seed"]
    assert seed.isEnabled() and not findings.lower_button.isEnabled() and not findings.confirm_button.isEnabled()

    seed.click()
    assert window.context.tool == "seed"
    window.context.mpr.set_center(mark)
    view = window.slice_views[View.SAGITTAL]
    x, y, _ = view.widget_xy(mark)
    qtbot.mouseClick(view, Qt.LeftButton, pos=QPoint(int(round(x)), int(round(y))))
    qtbot.waitUntil(lambda: window.context.disc is not None and not window._tasks, timeout=60000)
    model = window.context.disc
    assert np.linalg.norm(np.subtract(model.analysis.marked_lps, mark)) < 2.0  # within the click's pixel
    assert not model.level_settled  # Suggest plan, Approve and export wait for Confirm
    assert findings.values["levels"].text().startswith("marked by hand (not certain)")
    assert not findings.level_banner.isHidden() and "marked by hand" in findings.level_banner.text()
    names = [label.GetInput() for label in view.level_labels]
    assert {"L4-L5", "L5", "L5-S1"} <= set(names)  # no sacrum in this series

    findings.higher_button.click()  # the disc above the marked one is L5-S1
    qtbot.waitUntil(lambda: window.context.disc is not model and not window._tasks, timeout=60000)
    higher = window.context.disc
    assert higher.analysis.marked_lps == model.analysis.marked_lps and higher.analysis.level_shift == -1
    assert findings.values["levels"].text().startswith("marked by hand, shifted by -1")
    window.undo_action.trigger()
    assert window.context.disc is model
