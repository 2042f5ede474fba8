"""Issue 4 in the workstation: the L5-S1 analysis runs when a sagittal series opens, shows level names, the
disc overlay, the 3D surface and the findings panel; seed click, brush, eraser and level shift are undoable."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QMessageBox
from vtkmodules.util.numpy_support import vtk_to_numpy

from planner.viewing.mpr import View
from tests.conftest import make_stack
from tests.ui.actions import analysed, import_and_open, view_pixels


@pytest.fixture
def analysed_window(make_window, qtbot, demo_study):
    window = make_window("2x2")
    analysed(window, qtbot, demo_study)
    return window


def test_analysis_shows_levels_overlay_surface_and_findings(analysed_window):
    window = analysed_window
    model = window.context.disc
    assert model.finding.classification == "protrusion"
    assert model.analysis.axial is not None  # opened while the analysis ran: it started again with it
    assert model.segmentation.displacement_series == "axial"
    assert window.findings.title.text().startswith("L5-S1: Protrusion")
    assert window.findings.values["side"].text() == "left"
    assert window.findings.values["max_displacement"].text().endswith(" mm")
    # the views went to the disc
    assert np.linalg.norm(window.context.mpr.center - model.segmentation.frame.center_lps) < 1e-6
    # level names beside the spine in the sagittal view, the level in a corner of the axial one
    sagittal = window.slice_views[View.SAGITTAL]
    names = [label.GetInput() for label in sagittal.level_labels]
    assert {"L5-S1", "L4-L5", "L5", "S1"} <= set(names)
    assert window.slice_views[View.AXIAL].corners.GetText(1) == "L5-S1 disc"
    # the overlay: green disc pixels in the axial view through the disc, gone when the model is
    axial = window.slice_views[View.AXIAL]
    with_disc = view_pixels(axial).astype(int)
    window.context.set_disc(None)
    without = view_pixels(axial).astype(int)
    greener = (with_disc[..., 1] - without[..., 1] > 20) & (with_disc[..., 1] > with_disc[..., 0] + 20)
    assert greener.sum() > 200
    window.context.set_disc(model)
    # the 3D surface, coloured by d(theta): the protrusion reaches beyond 3 mm
    surface = window.scene_view.disc_surface
    data = surface.mapper.GetInput()
    assert data.GetNumberOfPoints() > 500
    values = vtk_to_numpy(data.GetPointData().GetScalars())
    assert values.max() > 3.0 and np.median(values) < 1.0


def test_axial_opened_after_the_analysis_measures_again_unless_corrected(make_window, qtbot, demo_study):
    window = make_window("2x2")
    import_and_open(window, qtbot, [demo_study / "MR" / "SAG_T2"], ["SAG T2 TSE"])
    qtbot.waitUntil(lambda: window.context.disc is not None and not window._tasks, timeout=60000)
    sagittal_only = window.context.disc
    assert sagittal_only.analysis.axial is None
    assert sagittal_only.segmentation.displacement_series == "sagittal"
    # measured on the sagittal series reformatted in the disc's plane: the axial view lies in it too
    assert abs(window.context.mpr.plane(View.AXIAL).normal @ sagittal_only.segmentation.frame.normal) > 0.9999
    import_and_open(window, qtbot, [demo_study / "MR" / "AX_T2_L5S1"], ["AX T2 TSE L5-S1"])
    qtbot.waitUntil(lambda: window.context.disc is not sagittal_only and not window._tasks, timeout=60000)
    assert window.context.disc.segmentation.displacement_series == "axial"
    assert window.context.undo_stack.undo_text == "Analyse L5-S1 again"
    window.context.undo_stack.undo()
    assert window.context.disc is sagittal_only
    # a corrected mask is the user's: opening the axial series again does not replace it
    sagittal_only.smooth(1.0)
    assert sagittal_only.corrected
    import_and_open(window, qtbot, [demo_study / "MR" / "AX_T2_L5S1"], ["AX T2 TSE L5-S1"])
    qtbot.wait(200)
    assert window.context.disc is sagittal_only and not window._tasks


def test_the_studys_axial_series_through_l5s1_measures_even_when_another_is_shown(make_window, qtbot, demo_study):
    """The GUI reports what `main.py analyze` does: with the L4-L5 axial block beside the sagittal series, the
    study's L5-S1 block (imported, not open) is where the displaced material is measured."""
    window = make_window("2x2")
    import_and_open(
        window, qtbot, [demo_study / "MR" / "SAG_T2", demo_study / "MR" / "AX_T2_L4L5", demo_study / "MR" / "AX_T2_L5S1"],
        ["SAG T2 TSE", "AX T2 TSE L4-L5"],
    )
    qtbot.waitUntil(lambda: window.context.disc is not None and not window._tasks, timeout=60000)
    model = window.context.disc
    assert model.analysis.axial is not None and model.analysis.axial.description == "AX T2 TSE L5-S1"
    assert model.segmentation.displacement_series == "axial"
    assert window.findings.values["measured_on"].text() == "axial: AX T2 TSE L5-S1"
    # the L4-L5 block misses the disc: the axial view now shows the block it was measured on, at the disc
    assert window.secondary.volume.description == "AX T2 TSE L5-S1"
    assert window.slice_views[View.AXIAL].corners.GetText(3).startswith("AX T2 TSE L5-S1")
    assert np.linalg.norm(window.context.mpr.center - model.segmentation.frame.center_lps) < 1e-6


def test_level_names_stay_inside_the_view_and_clear_of_the_corner_texts(analysed_window):
    """With the spine near the view's left edge, the names are pulled in (their ticks shortened or dropped);
    names that would sit on the patient or slice text at the top or bottom are not drawn."""
    from ui.render.slice_overlays import CORNER_TEXT_PX, LABEL_MIN_X

    window = analysed_window
    view = window.slice_views[View.SAGITTAL]
    centre = np.asarray(window.context.disc.levels.level("L5-S1").center_lps)
    plane = view._compute_plane()
    half_mm = 60.0
    mm_per_px = 2.0 * half_mm / view.height()
    # the disc 20 px from the left edge, the view showing the column above and below it
    view.frame_on(centre + plane.right * (view.width() / 2 - 20) * mm_per_px, half_mm)
    ratio = view.devicePixelRatioF()
    shown = [label for label in view.level_labels]
    assert any(label.GetInput() == "L5-S1" for label in shown)
    for label in shown:
        x, y = label.GetPosition()
        assert x >= LABEL_MIN_X * ratio - 1
        assert CORNER_TEXT_PX * ratio - 1 <= y <= (view.height() - CORNER_TEXT_PX) * ratio + 1


def test_brush_stroke_and_eraser_in_a_view_are_undoable(analysed_window, qtbot):
    window = analysed_window
    model = window.context.disc
    view = window.slice_views[View.SAGITTAL]
    frame = model.segmentation.frame
    before = model.segmentation.disc.sum()
    window.context.set_brush_radius(2.0)
    window.context.set_tool("brush")
    # a stroke 10-16 mm in front of the disc centre (inside the frame, outside the disc)
    start = view.widget_xy(frame.to_lps(0.0, -25.0, 0.0))
    end = view.widget_xy(frame.to_lps(0.0, -31.0, 0.0))
    qtbot.mousePress(view, Qt.LeftButton, pos=QPoint(int(start[0]), int(start[1])))
    qtbot.mouseMove(view, QPoint(int(end[0]), int(end[1])))
    qtbot.mouseRelease(view, Qt.LeftButton, pos=QPoint(int(end[0]), int(end[1])))
    painted = model.segmentation.disc.sum() - before
    assert painted > 100
    assert window.undo_action.text() == "Undo Paint disc"
    window.undo_action.trigger()
    assert model.segmentation.disc.sum() == before
    window.redo_action.trigger()
    assert model.segmentation.disc.sum() == before + painted
    # the eraser takes the centre out; one undo puts it back
    window.context.set_tool("eraser")
    window.findings.radius.setValue(4.0)
    assert window.context.brush_radius_mm == 4.0
    centre = view.widget_xy(frame.center_lps)
    qtbot.mouseClick(view, Qt.LeftButton, pos=QPoint(int(centre[0]), int(centre[1])))
    assert model.segmentation.disc.sum() < before + painted
    assert window.undo_action.text() == "Undo Erase disc"
    window.undo_action.trigger()
    assert model.segmentation.disc.sum() == before + painted


def test_seed_click_resegments_and_is_undoable(analysed_window, qtbot):
    window = analysed_window
    model = window.context.disc
    old = model.segmentation
    window.findings.tool_buttons["seed"].click()
    assert window.context.tool == "seed"
    view = window.slice_views[View.SAGITTAL]
    x, y, _ = view.widget_xy(old.frame.center_lps)
    qtbot.mouseClick(view, Qt.LeftButton, pos=QPoint(int(x), int(y) + 2))
    qtbot.waitUntil(lambda: model.segmentation is not old, timeout=30000)
    assert model.segmentation.disc.any()
    assert window.undo_action.text() == "Undo Segment disc from seed"
    window.undo_action.trigger()
    assert model.segmentation is old


def test_level_shift_reanalyses_and_can_be_taken_back(analysed_window, qtbot):
    window = analysed_window
    first = window.context.disc
    window.findings.lower_button.click()
    qtbot.waitUntil(lambda: window.context.disc is not first and not window._tasks, timeout=60000)
    shifted = window.context.disc
    assert shifted.analysis.level_shift == 1
    assert any("shifted by +1" in warning for warning in shifted.warnings)
    assert "shifted by +1" in window.findings.values["levels"].text()
    window.findings.confirm_button.click()
    assert shifted.levels_confirmed and "confirmed" in window.findings.values["levels"].text()
    window.undo_action.trigger()  # the confirmation
    window.undo_action.trigger()  # the shift
    assert window.context.disc is first


def test_a_series_without_a_spine_reports_why_without_a_dialog(make_window, qtbot, tmp_path):
    window = make_window("1x3")
    folder = tmp_path / "sag"
    make_stack(folder, 8, step=(2.0, 0.0, 0.0), orientation=(0.0, 1.0, 0.0, 0.0, 0.0, -1.0), rows=64, columns=64)
    import_and_open(window, qtbot, [folder])
    qtbot.waitUntil(lambda: "failed" in window.findings.message.text(), timeout=30000)
    assert window.context.disc is None
    assert window.findings.title.text() == "L5-S1: no analysis"
    assert not [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]
