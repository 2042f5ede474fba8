"""Analyse twitches in the ultrasound view: worker, timeline, jump, edit with undo, side-by-side findings."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt

from tests.ui.actions import import_and_open, rgb_array


def _analyse(window, qtbot):
    panel = window.twitch_panel
    assert panel.analyse_button.isEnabled()
    qtbot.mouseClick(panel.analyse_button, Qt.LeftButton)
    assert panel.cancel_button.isVisibleTo(panel) and panel.progress.isVisibleTo(panel)
    qtbot.waitUntil(lambda: panel.task is None, timeout=120000)
    return window.context.twitches.get(window.cine_view.clip.sop_instance_uid)


def test_analyse_twitches_marks_the_known_events_and_compares_with_the_control(make_window, qtbot, twitch_cines, tmp_path):
    window = make_window("mr+us")
    import_and_open(window, qtbot, [twitch_cines["gastrocnemius"]])
    cine, panel = window.cine_view, window.twitch_panel
    assert not cine.timeline.isVisibleTo(cine)  # nothing analysed yet
    findings = _analyse(window, qtbot)
    truth = twitch_cines["twitches"]
    assert findings is not None and len(findings.events) == len(truth) == 11
    for event, twitch in zip(findings.events, truth):
        assert abs(event.time_s - twitch.time_s) <= 0.3
    assert cine.timeline.isVisibleTo(cine) and panel.events.count() == 11
    assert "18.3/min" in panel.summary.text()

    # a click on the timeline at the fourth event jumps to its peak and outlines it
    fourth = findings.events[3]
    x = int(cine.timeline._x(fourth.time_s))
    qtbot.mouseClick(cine.timeline, Qt.LeftButton, pos=QPoint(x, cine.timeline.height() // 2))
    assert cine.player.frame == fourth.frame and panel.events.currentRow() == 3
    image = cine.canvas.grab().toImage()
    centre = cine.canvas.to_widget(fourth.x_px, fourth.y_px)
    assert not image.isNull() and centre.x() > 0

    # remove it, mark one by hand elsewhere, undo both
    panel.events.setCurrentRow(3)
    qtbot.mouseClick(panel.remove_button, Qt.LeftButton)
    assert len(findings.events) == 10 and panel.events.count() == 10
    cine.show_frame(600)
    qtbot.mouseClick(panel.add_button, Qt.LeftButton)
    assert len(findings.events) == 11 and any(e.manual and e.frame == 600 for e in findings.events)
    window.context.undo_stack.undo()
    window.context.undo_stack.undo()
    assert [e.time_s for e in findings.events] == sorted(e.time_s for e in findings.events) and len(findings.events) == 11
    assert not any(e.manual for e in findings.events) and fourth in findings.events

    # the control cine of the same study: analysed, then both rates side by side with the comparison
    import_and_open(window, qtbot, [twitch_cines["control"]])
    control = _analyse(window, qtbot)
    assert control.events == []
    text = panel.summary.text()
    assert "gastrocnemius (medial head)" in text and "rectus femoris" in text
    assert "consistent with S1 root irritation" in text and "criterion: ≥ 2 in 60 s" in text

    # recorded in the plan shown (undoable), as the SR and the PDF export it
    from planner.plan.model import Plan, StudyRef
    from planner.plan.session import PlanSession

    assert not panel.plan_button.isEnabled()  # no plan yet
    plan = Plan(StudyRef("1.2.3"), "transforaminal-s1", "left", "Kim^Lee")
    window.context.set_plan(PlanSession(plan, window.context.undo_stack, recovery_dir=tmp_path))
    assert panel.plan_button.isEnabled()
    qtbot.mouseClick(panel.plan_button, Qt.LeftButton)
    record = window.context.plan.plan.fasciculation
    assert record["muscle"]["n_events"] == 11 and record["control"]["muscle"] == "rectus_femoris"
    assert "consistent with S1 root irritation" in record["interpretation"]
    window.context.undo_stack.undo()
    assert window.context.plan.plan.fasciculation is None
    window.context.undo_stack.redo()

    # the motion map paints on the frame of a twitch
    import_and_open(window, qtbot, [twitch_cines["gastrocnemius"]])
    cine.show_frame(fourth.frame)
    plain = rgb_array(cine.canvas.grab().toImage())
    panel.motion_box.setChecked(True)
    shown = rgb_array(cine.canvas.grab().toImage())
    assert (plain != shown).sum() > 100


def test_a_region_drawn_on_the_frame_limits_the_analysis(make_window, qtbot, twitch_cines):
    window = make_window("mr+us")
    import_and_open(window, qtbot, [twitch_cines["gastrocnemius"]])
    cine, panel = window.cine_view, window.twitch_panel
    panel.region_button.setChecked(True)
    a, b = cine.canvas.to_widget(56, 60), cine.canvas.to_widget(190, 280)
    qtbot.mousePress(cine.canvas, Qt.LeftButton, pos=a.toPoint())
    qtbot.mouseMove(cine.canvas, pos=b.toPoint())
    qtbot.mouseRelease(cine.canvas, Qt.LeftButton, pos=b.toPoint())
    x0, y0, x1, y1 = cine.twitch_region
    assert abs(x0 - 56) <= 2 and abs(x1 - 190) <= 2 and abs(y0 - 60) <= 2 and abs(y1 - 280) <= 2
    assert not panel.region_button.isChecked() and window.context.measurements.get_all() == [] if hasattr(window.context.measurements, "get_all") else True
    findings = _analyse(window, qtbot)
    fx0, fy0, fx1, fy1 = findings.rect_px
    assert x0 <= fx0 and fx1 <= x1 and y0 <= fy0 and fy1 <= y1
    # every twitch centred in the region is found, each once; nothing else (one at its edge may count too)
    delta, (rx0, ry0) = 0.1, (56, 30)
    inside = [t for t in twitch_cines["twitches"] if x0 <= rx0 + t.x_mm / delta <= x1 and y0 <= ry0 + t.depth_mm / delta <= y1]
    edge = [t for t in twitch_cines["twitches"] if x0 - 45 <= rx0 + t.x_mm / delta <= x1 + 45 and y0 - 45 <= ry0 + t.depth_mm / delta <= y1 + 45]
    times = [round(e.time_s, 1) for e in findings.events]
    assert len(times) == len(set(times))
    assert {round(t.time_s, 1) for t in inside} <= set(times) <= {round(t.time_s, 1) for t in edge}
    assert len(inside) >= 2
    qtbot.mouseClick(panel.clear_region_button, Qt.LeftButton)
    assert cine.twitch_region is None


def test_cancel_stops_the_analysis_and_keeps_the_view_usable(make_window, qtbot, twitch_cines):
    window = make_window("mr+us")
    import_and_open(window, qtbot, [twitch_cines["control"]])
    panel = window.twitch_panel
    qtbot.mouseClick(panel.analyse_button, Qt.LeftButton)
    qtbot.wait(300)
    qtbot.mouseClick(panel.cancel_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: panel.task is None, timeout=5000)
    assert "cancelled" in panel.summary.text() and window.context.twitches.findings == {}
    assert panel.analyse_button.isEnabled() and not panel.progress.isVisibleTo(panel)
    window.cine_view.step(1)
    assert window.cine_view.player.frame == 1
