"""Twitches in the ultrasound view: the analysis button, the event timeline, the event list and findings.

Everything shown comes from :class:`planner.fasciculation.session.TwitchSession`
(the context's ``twitches``); the analysis is :func:`planner.fasciculation.analysis.analyse_clip`
run in a worker with a progress bar and Cancel. Adding and removing events goes
through the session and the shared undo stack.
"""

from __future__ import annotations

from html import escape

import numpy as np
from PySide6.QtCore import QEvent, QObject, QRectF, Qt, QThreadPool, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from planner.errors import PlannerError
from planner.fasciculation.analysis import analyse_clip
from planner.fasciculation.session import event_at
from ui.context import ViewerContext
from ui.worker import Task

EVENT = QColor(255, 150, 40)
MANUAL = QColor(120, 200, 255)
CURSOR = QColor(240, 240, 240)


class TwitchTimeline(QWidget):
    """A strip under the frame slider: one tick per event (taller for larger displacement), the current
    frame as a line. A click near an event jumps to its peak; elsewhere to that moment."""

    seek_requested = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.findings = None
        self.times_s = None
        self.frame = 0
        self.setFixedHeight(22)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.setToolTip("Twitches found (orange) and marked by hand (blue); click to jump")

    def set_findings(self, findings) -> None:
        self.findings = findings
        self.times_s = findings.frame_times_s if findings is not None else None
        self.setVisible(findings is not None)
        self.update()

    def set_frame(self, frame: int) -> None:
        self.frame = frame
        self.update()

    def _x(self, t: float) -> float:
        duration = max(self.findings.duration_s, 1e-6)
        return 6 + (self.width() - 12) * t / duration

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(28, 28, 30))
        if self.findings is None:
            painter.end()
            return
        h = self.height()
        painter.setPen(QPen(QColor(70, 70, 75), 1))
        painter.drawLine(6, h // 2, self.width() - 6, h // 2)
        for e in self.findings.events:
            size = 0.3 if e.displacement_mm is None else min(1.0, e.displacement_mm / 0.5)
            half = 3 + (h / 2 - 4) * size
            painter.setPen(QPen(MANUAL if e.manual else EVENT, 3))
            x = self._x(e.time_s)
            painter.drawLine(int(x), int(h / 2 - half), int(x), int(h / 2 + half))
        if self.times_s is not None and len(self.times_s):
            painter.setPen(QPen(CURSOR, 1))
            x = self._x(float(self.times_s[min(self.frame, len(self.times_s) - 1)]))
            painter.drawLine(int(x), 0, int(x), h)
        painter.end()

    def frame_at_x(self, x: float) -> int:
        duration = self.findings.duration_s
        t = (x - 6) / max(1.0, self.width() - 12) * duration
        near = [e for e in self.findings.events if abs(self._x(e.time_s) - x) <= 5]
        if near:
            return min(near, key=lambda e: abs(self._x(e.time_s) - x)).frame
        return int(np.argmin(np.abs(self.times_s - t)))

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self.findings is not None and event.button() == Qt.LeftButton:
            self.seek_requested.emit(self.frame_at_x(event.position().x()))


def paint_twitch_overlay(painter: QPainter, canvas) -> None:
    """On the cine canvas: the region the user drew, the analysed area, the current event's region, and the
    motion map when asked."""
    viewer = canvas.viewer
    clip, context = viewer.clip, viewer.context
    region = viewer.twitch_region
    if region is not None and clip is not None:
        x0, y0, x1, y1 = region
        painter.setPen(QPen(QColor(120, 200, 255), 1.5, Qt.DashLine))
        painter.setBrush(Qt.NoBrush)
        painter.drawRect(QRectF(canvas.to_widget(x0 - 0.5, y0 - 0.5), canvas.to_widget(x1 + 0.5, y1 + 0.5)))
    findings = context.twitches.get(clip.sop_instance_uid) if clip is not None else None
    if findings is None:
        return
    frame = viewer.player.frame
    x0, y0, x1, y1 = findings.rect_px
    a, b = canvas.to_widget(x0 - 0.5, y0 - 0.5), canvas.to_widget(x1 + 0.5, y1 + 0.5)
    painter.setPen(QPen(QColor(255, 255, 255, 120), 1, Qt.DashLine))
    painter.setBrush(Qt.NoBrush)
    painter.drawRect(QRectF(a, b))
    grid = findings.grid
    if context.show_motion_map and findings.motion_map is not None and grid is not None and frame < len(findings.motion_map):
        plane = findings.motion_map[frame]
        painter.setPen(Qt.NoPen)
        for by in range(grid.ny):
            for bx in range(grid.nx):
                value = float(plane[by, bx])
                if value < 0.06:
                    continue
                alpha = int(min(170, 60 + 400 * value))
                painter.setBrush(QColor(255, 90, 30, alpha))
                left, top = grid.x0 + bx * grid.block_px, grid.y0 + by * grid.block_px
                painter.drawRect(QRectF(canvas.to_widget(left - 0.5, top - 0.5), canvas.to_widget(left + grid.block_px - 0.5, top + grid.block_px - 0.5)))
    current = event_at(findings, frame)
    if current is not None:
        centre = canvas.to_widget(current.x_px, current.y_px)
        edge = canvas.to_widget(current.x_px + current.radius_px, current.y_px)
        r = max(6.0, edge.x() - centre.x())
        painter.setPen(QPen(MANUAL if current.manual else EVENT, 2))
        painter.setBrush(Qt.NoBrush)
        painter.drawEllipse(centre, r, r)


class _RegionDrawer(QObject):
    """While the panel's "Draw region" is on, a drag on the cine frame sets the rectangle to analyse."""

    def __init__(self, panel: "TwitchPanel") -> None:
        super().__init__(panel)
        self.panel = panel
        self.start: tuple[float, float] | None = None

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt API
        if not self.panel.region_button.isChecked() or self.panel.cine_view.clip is None:
            return False
        canvas = self.panel.cine_view.canvas
        kind = event.type()
        if kind == QEvent.MouseButtonPress and event.button() == Qt.LeftButton:
            self.start = canvas.to_pixel(event.position().x(), event.position().y())
            return True
        if kind in (QEvent.MouseMove, QEvent.MouseButtonRelease) and self.start is not None:
            end = canvas.to_pixel(event.position().x(), event.position().y())
            rows, columns = self.panel.cine_view.clip.shape
            xs = sorted(min(max(int(round(v)), 0), columns - 1) for v in (self.start[0], end[0]))
            ys = sorted(min(max(int(round(v)), 0), rows - 1) for v in (self.start[1], end[1]))
            self.panel.set_region((xs[0], ys[0], xs[1], ys[1]))
            if kind == QEvent.MouseButtonRelease:
                self.start = None
                self.panel.region_button.setChecked(False)
            return True
        return False


class TwitchPanel(QWidget):
    """The "Twitches" dock: analyse the cine shown, see and edit its events, read the comparison."""

    def __init__(self, context: ViewerContext, cine_view, parent=None) -> None:
        super().__init__(parent)
        self.context = context
        self.cine_view = cine_view
        self.task: Task | None = None
        self.analyse_button = QPushButton("Analyse twitches")
        self.analyse_button.setToolTip("Detect and count fasciculations in the cine shown (muscle layer, or the whole image)")
        self.analyse_button.clicked.connect(self.analyse)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.region_button = QPushButton("Draw region")
        self.region_button.setCheckable(True)
        self.region_button.setToolTip("Drag a rectangle on the frame to analyse only there (e.g. one muscle, away from a vessel)")
        self.clear_region_button = QPushButton("Whole muscle")
        self.clear_region_button.setToolTip("Analyse the muscle layer found in the image again")
        self.clear_region_button.clicked.connect(lambda: self.set_region(None))
        self.motion_box = QCheckBox("Motion map")
        self.motion_box.setToolTip("Overlay the local tissue motion of each frame")
        self.motion_box.toggled.connect(self._toggle_motion_map)
        self.summary = QLabel("Open an ultrasound cine, then Analyse twitches.")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.RichText)
        self.events = QListWidget()
        self.events.itemClicked.connect(self._event_clicked)
        self.add_button = QPushButton("Mark twitch here")
        self.add_button.setToolTip("Add a twitch at the frame shown (where the tissue moves most)")
        self.add_button.clicked.connect(self.add_here)
        self.remove_button = QPushButton("Remove twitch")
        self.remove_button.clicked.connect(self.remove_selected)
        self.plan_button = QPushButton("Put in plan")
        self.plan_button.setToolTip("Record these rates, the control's and the comparison in the plan shown (exported in the SR and the PDF)")
        self.plan_button.clicked.connect(self.put_in_plan)

        top = QHBoxLayout()
        top.addWidget(self.analyse_button)
        top.addWidget(self.cancel_button)
        edit = QHBoxLayout()
        edit.addWidget(self.add_button)
        edit.addWidget(self.remove_button)
        region = QHBoxLayout()
        region.addWidget(self.region_button)
        region.addWidget(self.clear_region_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(region)
        layout.addWidget(self.progress)
        layout.addWidget(self.summary)
        layout.addWidget(self.motion_box)
        layout.addWidget(self.events, 1)
        layout.addLayout(edit)
        layout.addWidget(self.plan_button)
        self._running(False)
        context.twitches.subscribe(lambda _uid: self.refresh())
        cine_view.clip_changed.connect(self.refresh)
        cine_view.frame_changed.connect(lambda _frame: self._sync_selection())
        context.plan_changed.connect(self.refresh)
        context.plan_edited.connect(self.refresh)
        self._drawer = _RegionDrawer(self)
        cine_view.canvas.installEventFilter(self._drawer)
        cine_view.clip_changed.connect(lambda: self.set_region(None))
        self.refresh()

    def set_region(self, rect) -> None:
        """The rectangle (x0, y0, x1, y1) the next analysis is limited to; None: the muscle layer found."""
        self.cine_view.twitch_region = rect
        self.clear_region_button.setEnabled(rect is not None)
        self.cine_view.canvas.update()

    # ------------------------------------------------------------- analysis

    def analyse(self) -> None:
        clip = self.cine_view.clip
        if clip is None or self.task is not None:
            return
        self.task = Task(analyse_clip, clip, rect=self.cine_view.twitch_region)
        self.task.signals.progress.connect(self._progress)
        self.task.signals.finished.connect(self._finished)
        self.task.signals.failed.connect(self._failed)
        self.task.signals.cancelled.connect(self._cancelled)
        self._running(True)
        self.summary.setText("Tracking tissue motion…")
        QThreadPool.globalInstance().start(self.task)

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def _progress(self, done: int, total: int, text: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(text or "%p%")

    def _finished(self, findings) -> None:
        self.task = None
        self._running(False)
        self.context.twitches.set_findings(findings)

    def _failed(self, message: str) -> None:
        self.task = None
        self._running(False)
        self.summary.setText(f"<b>Not analysed:</b> {escape(message)}")

    def _cancelled(self) -> None:
        self.task = None
        self._running(False)
        self.refresh()
        self.summary.setText(self.summary.text() + "<br><i>Analysis cancelled.</i>")

    def _running(self, running: bool) -> None:
        self.analyse_button.setEnabled(not running and self.cine_view.clip is not None and self.cine_view.clip.n_frames > 1)
        self.cancel_button.setVisible(running)
        self.progress.setVisible(running)
        if running:
            self.progress.setRange(0, 0)

    # ------------------------------------------------------------- showing

    def current(self):
        clip = self.cine_view.clip
        return self.context.twitches.get(clip.sop_instance_uid) if clip is not None else None

    def refresh(self, *_args) -> None:
        findings = self.current()
        self.cine_view.timeline.set_findings(findings)
        self.cine_view.canvas.update()
        self._running(self.task is not None)
        self.add_button.setEnabled(findings is not None)
        self.remove_button.setEnabled(findings is not None and bool(findings.events))
        plan = self.context.plan
        self.plan_button.setEnabled(findings is not None and plan is not None and not plan.plan.approved)
        self.plan_button.setToolTip(
            "Open or suggest a plan first" if plan is None else "An approved plan is read-only: reopen it first" if plan.plan.approved
            else "Record these rates, the control's and the comparison in the plan shown (exported in the SR and the PDF)"
        )
        self.events.clear()
        if findings is None:
            clip = self.cine_view.clip
            self.summary.setText(
                "Open an ultrasound cine, then Analyse twitches."
                if clip is None or clip.n_frames < 2
                else "This cine has not been analysed for twitches."
            )
            return
        for e in findings.events:
            where = f"{e.x_mm:+.1f} mm, {e.depth_mm:.1f} mm deep" if e.x_mm is not None else f"pixel {e.x_px:.0f}, {e.y_px:.0f}"
            size = f", {e.displacement_mm:.2f} mm" if e.displacement_mm is not None else ""
            item = QListWidgetItem(f"{e.time_s:6.2f} s   {where}{size}{'   (by hand)' if e.manual else ''}")
            item.setData(Qt.UserRole, e)
            self.events.addItem(item)
        self.summary.setText(self._summary_html(findings))
        self._sync_selection()

    def _summary_html(self, findings) -> str:
        target, control = self.context.twitches.pair()
        lines = []
        for f in (target, control):
            if f is None:
                continue
            lines.append(escape(f.summary()) + (" ◀" if f is findings else ""))
        lines.append(f"<i>{escape(self.context.twitches.interpretation())}</i>")
        lines += [f"<span style='color:#e0a040'>⚠ {escape(w)}</span>" for w in findings.warnings]
        return "<br>".join(lines)

    def _sync_selection(self) -> None:
        findings = self.current()
        if findings is None or self.cine_view.player is None:
            return
        event = event_at(findings, self.cine_view.player.frame)
        for i in range(self.events.count()):
            item = self.events.item(i)
            if item.data(Qt.UserRole) is event:
                self.events.setCurrentItem(item)
                return

    def _event_clicked(self, item) -> None:
        self.cine_view.pause()
        self.cine_view.show_frame(item.data(Qt.UserRole).frame)

    def _toggle_motion_map(self, shown: bool) -> None:
        self.context.show_motion_map = shown
        self.cine_view.canvas.update()

    # ------------------------------------------------------------- editing

    def add_here(self) -> None:
        clip = self.cine_view.clip
        if clip is not None and self.current() is not None:
            self.context.twitches.add_event(clip.sop_instance_uid, self.cine_view.player.frame)

    def put_in_plan(self) -> None:
        plan, record = self.context.plan, self.context.twitches.plan_record()
        if plan is None or record is None:
            return
        try:
            plan.document.set_properties("Record fasciculations in the plan", fasciculation=record)
        except PlannerError as exc:
            self.summary.setText(self.summary.text() + f"<br><b>Not recorded:</b> {escape(str(exc))}")

    def remove_selected(self) -> None:
        item = self.events.currentItem()
        clip = self.cine_view.clip
        if item is not None and clip is not None:
            self.context.twitches.remove_event(clip.sop_instance_uid, item.data(Qt.UserRole))
