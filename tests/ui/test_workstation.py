"""The workstation as a user drives it: linked MPR views, window/level, measurements, undo, cine, screenshot."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, QSettings, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from planner.dicom.database import StudyDatabase
from planner.viewing.mpr import View
from tests.conftest import SAMPLES, make_stack, require_shared
from tests.ui.actions import import_and_open, rgb_array, view_pixels


def _wheel(widget, steps: int) -> None:
    center = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(center, widget.mapToGlobal(center), QPoint(0, 0), QPoint(0, 120 * steps),
                        Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_scrolling_moves_the_slice_and_the_crosshair_in_the_other_views(make_window, qtbot, demo_study):
    window = make_window("1x3")
    import_and_open(window, qtbot, [demo_study / "MR" / "SAG_T2"])
    sagittal, axial = window.slice_views[View.SAGITTAL], window.slice_views[View.AXIAL]
    center_before = window.context.mpr.center.copy()
    line_before = np.array(axial.crosshair[View.SAGITTAL].points.GetPoint(0))
    pixels_before = view_pixels(sagittal)

    _wheel(sagittal, 2)

    moved = window.context.mpr.center - center_before
    assert np.allclose(moved, 2 * 4.0 * sagittal.plane.normal, atol=1e-6)  # two 4 mm sagittal slices
    line_after = np.array(axial.crosshair[View.SAGITTAL].points.GetPoint(0))
    assert abs(line_after[0] - line_before[0]) > 5  # the sagittal line moved sideways in the axial view
    assert not np.array_equal(view_pixels(sagittal), pixels_before)  # another slice is shown


def test_second_series_of_the_frame_of_reference_snaps_to_its_nearest_slice(make_window, qtbot, demo_study):
    window = make_window("1x3")
    import_and_open(window, qtbot, [demo_study / "MR"], ["SAG T2 TSE", "AX T2 TSE L5-S1"])
    axial = window.slice_views[View.AXIAL]
    assert axial.native and axial.volume.description == "AX T2 TSE L5-S1"
    volume = axial.volume
    target = volume.image_to_lps[:3, :3] @ np.array([160.0, 160.0, 5.0]) + volume.image_to_lps[:3, 3]
    window.context.mpr.set_center(target + 0.3 * axial.plane.normal)  # near slice 5, not on it
    assert axial.current_slice() == 5
    depth = axial.plane.to_plane(target)[2]
    assert abs(depth) < 1e-6  # the view shows slice 5 itself
    # the sagittal view draws where that oblique slice cuts it: a tilted line, as steep as the series
    sagittal = window.slice_views[View.SAGITTAL]
    (xa, ya, _), (xb, yb, _) = (sagittal.crosshair[View.AXIAL].points.GetPoint(i) for i in (0, 1))
    drawn_tilt = np.degrees(np.arctan2(abs(yb - ya), abs(xb - xa)))
    series_tilt = np.degrees(np.arccos(abs(axial.plane.normal @ np.array([0.0, 0.0, 1.0]))))
    assert series_tilt > 5 and drawn_tilt == pytest.approx(series_tilt, abs=0.5)


def test_window_level_changes_the_displayed_pixels(make_window, qtbot, demo_study):
    window = make_window("1x3")
    import_and_open(window, qtbot, [demo_study / "MR" / "SAG_T2"])
    view = window.slice_views[View.SAGITTAL]
    before = view_pixels(view).astype(int)
    window_level = view.window_level
    center, width = window_level.center, window_level.width
    qtbot.mousePress(view, Qt.RightButton, pos=QPoint(200, 200))
    qtbot.mouseMove(view, QPoint(260, 150))
    qtbot.mouseRelease(view, Qt.RightButton, pos=QPoint(260, 150))
    assert window_level.width > width and window_level.center > center  # right drag: wider and brighter level
    after = view_pixels(view).astype(int)
    shown = before.sum(axis=-1) > 30  # the patient, not the black around it (its share depends on the phantom)
    assert np.abs(after - before)[shown].mean() > 2
    window.apply_preset("Full range")
    array = view.volume.array
    assert window_level.width == pytest.approx(float(array.max()) - float(array.min()))


def test_distance_across_n_voxels_reads_n_times_the_spacing(make_window, qtbot, tmp_path):
    make_stack(tmp_path / "stack", 6, rows=64, columns=64, spacing=(0.7, 0.7))
    window = make_window("1x1")
    import_and_open(window, qtbot, [tmp_path / "stack"])
    view = window._main_slice_view()
    assert view.view == View.AXIAL
    window.context.set_tool("distance")
    volume = view.volume
    n = 40
    p0 = volume.image_to_lps @ np.array([10.0, 20.0, 2.0, 1.0])
    p1 = volume.image_to_lps @ np.array([10.0 + n, 20.0, 2.0, 1.0])
    window.context.mpr.set_center(p0[:3])
    x0, y0, _ = view.widget_xy(p0[:3])
    x1, y1, _ = view.widget_xy(p1[:3])
    qtbot.mousePress(view, Qt.LeftButton, pos=QPoint(round(x0), round(y0)))
    qtbot.mouseRelease(view, Qt.LeftButton, pos=QPoint(round(x1), round(y1)))
    (measurement,) = list(window.context.measurements)
    from planner.viewing.measurements import evaluate

    value = evaluate(measurement)
    assert value.unit == "mm"
    assert value.value == pytest.approx(n * 0.7, abs=1.5 * view._mm_per_pixel())
    assert f"{value.value:.1f} mm" in window.measurement_panel.values()[0]
    (xa, _, _), (xb, _, _) = (view.scale_bar.points.GetPoint(i) for i in (0, 1))
    assert abs(xb - xa) * view._mm_per_pixel() / view.devicePixelRatioF() == pytest.approx(view.scale_bar_mm)


def test_undo_and_redo_restore_measurements(make_window, qtbot, demo_study):
    window = make_window("1x3")
    import_and_open(window, qtbot, [demo_study / "MR" / "SAG_T2"])
    view = window.slice_views[View.SAGITTAL]
    window.context.set_tool("distance")
    qtbot.mousePress(view, Qt.LeftButton, pos=QPoint(100, 100))
    qtbot.mouseRelease(view, Qt.LeftButton, pos=QPoint(180, 140))
    (m,) = list(window.context.measurements)
    original = m.points
    # drag the second handle: many moves, one undo step
    x, y, _ = view.widget_xy(m.points[1])
    qtbot.mousePress(view, Qt.LeftButton, pos=QPoint(round(x), round(y)))
    for dx in range(5, 40, 5):
        qtbot.mouseMove(view, QPoint(round(x) + dx, round(y)))
    qtbot.mouseRelease(view, Qt.LeftButton, pos=QPoint(round(x) + 35, round(y)))
    moved = window.context.measurements.get(m.id).points
    assert moved != original
    window.measurement_panel.delete_selected()
    assert len(window.context.measurements) == 0

    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)  # shortcuts act in the active window
    view.setFocus()
    qtbot.keyClick(view, Qt.Key_Z, Qt.ControlModifier)  # undo delete
    assert window.context.measurements.get(m.id).points == moved
    qtbot.keyClick(view, Qt.Key_Z, Qt.ControlModifier)  # undo the whole drag
    assert window.context.measurements.get(m.id).points == original
    qtbot.keyClick(view, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)  # redo the drag
    assert window.context.measurements.get(m.id).points == moved
    window.context.undo_stack.undo()
    window.context.undo_stack.undo()
    assert len(window.context.measurements) == 0


def test_calibrated_ultrasound_distance_uses_physical_delta(make_window, qtbot, demo_study):
    window = make_window("mr+us")
    import_and_open(window, qtbot, [demo_study / "US" / "GASTROCNEMIUS"])
    cine = window.cine_view
    assert cine.clip.is_calibrated
    region = cine.clip.regions[0]
    window.context.set_tool("distance")
    a, b = cine.canvas.to_widget(100, 200), cine.canvas.to_widget(300, 200)
    qtbot.mousePress(cine.canvas, Qt.LeftButton, pos=a.toPoint())
    qtbot.mouseRelease(cine.canvas, Qt.LeftButton, pos=b.toPoint())
    (m,) = list(window.context.measurements)
    from planner.viewing.measurements import evaluate

    value = evaluate(m, cine.clip.regions)
    (x0, y0), (x1, y1) = m.points
    assert value.unit == "mm"
    assert value.value == pytest.approx(np.hypot((x1 - x0) * region.physical_delta_x_mm, (y1 - y0) * region.physical_delta_y_mm))
    assert value.value == pytest.approx(200 * region.physical_delta_x_mm, abs=2 * region.physical_delta_x_mm / min(1.0, cine.canvas._fit()[0]))


def test_vendor_cines_play_in_colour_and_an_uncalibrated_clip_measures_in_pixels(make_window, qtbot):
    samples = require_shared(SAMPLES)
    window = make_window("mr+us")
    import_and_open(window, qtbot, [samples / "ultrasound" / "pydicom-data__color3d_jpeg_baseline.dcm"])
    cine = window.cine_view
    assert cine.clip.n_frames == 120 and cine.clip.is_calibrated
    image = cine.canvas.image.convertToFormat(cine.canvas.image.Format.Format_RGB888)
    assert not image.isGrayscale()
    cine.toggle_play()
    qtbot.waitUntil(lambda: cine.player.frame > 3, timeout=5000)
    cine.pause()
    assert cine.time_label.text().startswith(f"{cine.player.time_of(cine.player.frame) / 1000:.2f}")

    import_and_open(window, qtbot, [samples / "ultrasound" / "dcm4che__US-PAL-8-10x-echo"])
    assert not cine.clip.is_calibrated
    cine.add_measurement("distance", [(10.0, 10.0), (40.0, 50.0)])
    m = [m for m in window.context.measurements if m.sop_instance_uid == cine.clip.sop_instance_uid][0]
    from planner.viewing.measurements import evaluate

    value = evaluate(m, cine.clip.regions)
    assert (value.unit, value.calibrated) == ("px", False) and value.value == pytest.approx(50.0)
    assert "not calibrated" in value.text


def test_import_with_bad_files_reports_them_and_keeps_good_series(make_window, qtbot, tmp_path):
    make_stack(tmp_path / "in", 4)
    (tmp_path / "in" / "junk.dcm").write_bytes(b"\x00" * 50)
    window = make_window("1x3")
    reports = []
    window.import_paths([str(tmp_path / "in")], on_done=reports.append)
    qtbot.waitUntil(lambda: bool(reports), timeout=20000)
    assert [r.path.rsplit("/", 1)[-1] for r in reports[0].rejected] == ["junk.dcm"]
    boxes = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.objectName() == "import-report"]
    assert boxes and "junk.dcm" in boxes[-1].detailedText() and "not a DICOM file" in boxes[-1].detailedText()
    assert window.browser.topLevelItem(0).childCount() == 1
    window.filter_edit.setText("no such series")
    assert window.browser.topLevelItem(0).isHidden()
    window.filter_edit.setText("")
    assert not window.browser.topLevelItem(0).isHidden()


def test_two_by_two_screenshot_has_image_content_in_every_view(make_window, qtbot, demo_study, tmp_path):
    from ui.snapshot import widget_image

    window = make_window("2x2")
    import_and_open(window, qtbot, [demo_study / "MR"], ["SAG T2 TSE", "AX T2 TSE L5-S1"])
    image = widget_image(window)
    path = tmp_path / "shot.png"
    assert image.save(str(path))
    for view in window.visible_views():
        assert view.isVisible()
        top_left = view.mapTo(window, QPoint(0, 0))
        crop = image.copy(top_left.x(), top_left.y(), view.width(), view.height()).convertToFormat(image.Format.Format_Grayscale8)
        values = np.frombuffer(crop.constBits(), dtype=np.uint8, count=crop.sizeInBytes()).reshape(crop.height(), crop.bytesPerLine())
        assert values.std() > 10, f"{type(view).__name__} looks empty"
    assert len(window.visible_views()) == 4


def test_layout_is_restored_on_the_next_start(qtbot, tmp_path):
    from ui.main_window import MainWindow

    settings_path = str(tmp_path / "settings.ini")
    db = StudyDatabase(tmp_path / "db.sqlite")
    first = MainWindow(db, settings=QSettings(settings_path, QSettings.IniFormat))
    qtbot.addWidget(first)
    first.set_layout("mr+us")
    first.close()
    second = MainWindow(db, settings=QSettings(settings_path, QSettings.IniFormat))
    qtbot.addWidget(second)
    assert second.layout_name == "mr+us"
    second.close()
    db.close()


def test_view_export_with_and_without_annotations(make_window, qtbot, demo_study, tmp_path):
    window = make_window("1x3")
    import_and_open(window, qtbot, [demo_study / "MR" / "SAG_T2"])
    view = window.slice_views[View.SAGITTAL]
    window.context.measurements.add("distance", [window.context.mpr.center, window.context.mpr.center + [0, 20, 0]], "lps",
                                    series_instance_uid=view.volume.series_instance_uid)

    def colourful(image) -> int:  # overlays are coloured, the MR is grey
        return int((np.ptp(rgb_array(image).astype(int), axis=2) > 40).sum())

    with_annotations = window.view_image(view, annotations=True)
    without = window.view_image(view, annotations=False)
    assert colourful(with_annotations) > 200 and colourful(without) == 0
    assert window.context.show_annotations  # the on-screen choice is restored after the export
    assert without.save(str(tmp_path / "clean.png"))


def test_the_progress_bar_goes_back_to_a_task_still_running_when_a_newer_one_ends(make_window, qtbot):
    """Two tasks at once: the newer one is on the status bar; when it ends, the older one's progress, text
    and Cancel button come back, and Cancel stops it."""
    import threading

    from planner.progress import check, report
    from ui.worker import Task

    window = make_window()
    release = threading.Event()
    ended = []

    def slow(progress=None, cancel=None):
        report(progress, 3, 10, "Older work...")
        while not release.wait(0.02):
            check(cancel)
        return "slow"

    def quick(progress=None, cancel=None):
        report(progress, 1, 2, "Newer work...")
        return "quick"

    older = window.run_task(Task(slow), "Older work...", ended.append, on_fail=ended.append)
    qtbot.waitUntil(lambda: window.progress.maximum() == 10, timeout=5000)
    older.signals.cancelled.connect(lambda: ended.append("cancelled"))
    window.run_task(Task(quick), "Newer work...", ended.append)
    qtbot.waitUntil(lambda: "quick" in ended, timeout=5000)
    assert window._current_task is older
    assert window.progress.isVisible() and window.cancel_button.isVisible()
    assert (window.progress.value(), window.progress.maximum()) == (3, 10)
    assert window.status_text.text() == "Older work..."
    window.cancel_button.click()
    qtbot.waitUntil(lambda: "cancelled" in ended, timeout=5000)
    assert not window.progress.isVisible() and not window.cancel_button.isVisible()
    assert window.status_text.text() == "Cancelled" and not window._tasks
    release.set()
