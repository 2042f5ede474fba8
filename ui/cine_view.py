"""Ultrasound viewer: cine playback at the recorded frame rate, calibrated depth ruler, measurements.

Playback time comes from :class:`planner.viewing.cine.CinePlayer` (frames are skipped
rather than time stretched). Distances and angles are drawn in frame pixels and
measured by :mod:`planner.viewing.measurements` with the clip's calibration regions; an
uncalibrated clip shows a "NOT CALIBRATED" badge and measures in pixels only.
"""

from __future__ import annotations

import time
from collections import OrderedDict

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from planner.errors import PlanLockedError, UncalibratedError
from planner.plan.model import UltrasoundApproach
from planner.plan.us_approach import ultrasound_approach
from planner.viewing.cine import SPEEDS, CinePlayer
from planner.viewing.display import to_display_uint8
from planner.viewing.measurements import evaluate
from planner.viewing.ultrasound import UltrasoundClip
from planner.viewing.us_calibration import depth_ticks
from ui.context import ViewerContext
from ui.twitch_panel import TwitchTimeline, paint_twitch_overlay

MEASURE = QColor(90, 215, 255)
SELECTED = QColor(255, 190, 50)
NEEDLE = QColor(80, 255, 120)
HANDLE_PX = 6
CACHE_FRAMES = 48


class FrameCanvas(QWidget):
    """Paints one frame fitted to the widget, with ruler, badge and measurements; converts mouse to pixels."""

    cursor_moved = Signal(object)  # (x, y) frame pixel or None

    def __init__(self, viewer: "CineView") -> None:
        super().__init__(viewer)
        self.viewer = viewer
        self.image: QImage | None = None
        self.setMouseTracking(True)
        self.setMinimumSize(200, 160)
        self.setFocusPolicy(Qt.StrongFocus)
        self._drag = None
        self._drawing: list[tuple[float, float]] = []
        self._hover: tuple[float, float] | None = None
        self._needle_target: tuple[float, float] | None = None  # first click of a new ultrasound approach
        self._needle_preview: tuple | None = None  # (target, entry) while a handle is dragged

    # geometry: frame pixel centre (x, y) <-> widget position
    def _fit(self) -> tuple[float, float, float]:
        clip = self.viewer.clip
        rows, columns = clip.shape
        scale = min(self.width() / columns, self.height() / rows)
        return scale, (self.width() - columns * scale) / 2, (self.height() - rows * scale) / 2

    def to_widget(self, x: float, y: float) -> QPointF:
        scale, ox, oy = self._fit()
        return QPointF(ox + (x + 0.5) * scale, oy + (y + 0.5) * scale)

    def to_pixel(self, wx: float, wy: float) -> tuple[float, float]:
        scale, ox, oy = self._fit()
        return (wx - ox) / scale - 0.5, (wy - oy) / scale - 0.5

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        painter.fillRect(self.rect(), Qt.black)
        clip = self.viewer.clip
        if clip is None or self.image is None:
            painter.end()
            return
        scale, ox, oy = self._fit()
        rows, columns = clip.shape
        painter.setRenderHint(QPainter.SmoothPixmapTransform)
        painter.drawImage(QRectF(ox, oy, columns * scale, rows * scale), self.image)
        painter.setRenderHint(QPainter.Antialiasing)
        if self.viewer.context.show_annotations:  # off: the image alone (an export without annotations)
            self._paint_ruler(painter)
            self._paint_text(painter)
            self._paint_badge(painter)
            self._paint_measurements(painter)
            self._paint_needle(painter)
            for overlay in self.viewer.overlays:
                overlay(painter, self)
        painter.end()

    def _paint_badge(self, painter: QPainter) -> None:
        if self.viewer.clip.is_calibrated:
            return
        painter.setFont(QFont(self.font().family(), 11, QFont.Bold))
        text = "NOT CALIBRATED - pixels only"
        width = painter.fontMetrics().horizontalAdvance(text) + 16
        box = QRectF(self.width() - width - 8, 8, width, 24)
        painter.fillRect(box, QColor(190, 40, 40, 220))
        painter.setPen(Qt.white)
        painter.drawText(box, Qt.AlignCenter, text)

    def _paint_text(self, painter: QPainter) -> None:
        viewer = self.viewer
        painter.setPen(QColor(220, 220, 220))
        painter.setFont(QFont(self.font().family(), 10))
        player = viewer.player
        seconds = player.time_of(player.frame) / 1000.0
        lines = [viewer.clip.header.series_description or "Ultrasound", f"frame {player.frame + 1}/{player.n_frames}   {seconds:.2f} s"]
        for n, line in enumerate(lines):
            painter.drawText(QPointF(8, 18 + 16 * n), line)

    def _paint_ruler(self, painter: QPainter) -> None:
        """A depth scale in mm beside each calibrated 2D region, on the side with more room (ticks >= 25 px apart)."""
        scale = self._fit()[0]
        for region in self.viewer.clip.regions:
            if not region.is_spatial:
                continue
            x0, y0, x1, y1 = region.bounds_px
            first_row, last_row, ticks = depth_ticks(region, scale)
            painter.setPen(QPen(QColor(230, 230, 230), 1))
            painter.setFont(QFont(self.font().family(), 8))
            left_room = self.to_widget(x0, y0).x()
            right_room = self.width() - self.to_widget(x1, y0).x()
            side = -1 if left_room >= right_room else 1
            top = self.to_widget(x0 if side < 0 else x1, first_row)
            bottom = self.to_widget(x0 if side < 0 else x1, last_row)
            x = top.x() + 6 * side
            painter.drawLine(QPointF(x, top.y()), QPointF(x, bottom.y()))
            for row, depth, is_major in ticks:
                y = self.to_widget(x0, row).y()
                painter.drawLine(QPointF(x, y), QPointF(x + (8 if is_major else 4) * side, y))
                if is_major:
                    label = f"{depth / 10:g} cm" if depth else "0"
                    width = painter.fontMetrics().horizontalAdvance(label)
                    painter.drawText(QPointF(x - 10 - width if side < 0 else x + 10, y + 4), label)

    def _paint_measurements(self, painter: QPainter) -> None:
        viewer = self.viewer
        painter.setFont(QFont(self.font().family(), 10, QFont.Bold))
        for m in viewer.measurements_here():
            color = SELECTED if m.id == viewer.context.selected else MEASURE
            painter.setPen(QPen(color, 2))
            points = [self.to_widget(*p) for p in m.points]
            for a, b in zip(points, points[1:]):
                painter.drawLine(a, b)
            for p in points:
                painter.drawRect(QRectF(p.x() - HANDLE_PX / 2, p.y() - HANDLE_PX / 2, HANDLE_PX, HANDLE_PX))
            anchor = points[-1] if m.kind == "distance" else points[1]
            painter.drawText(anchor + QPointF(8, -8), evaluate(m, viewer.clip.regions).text)
        if self._drawing:
            painter.setPen(QPen(SELECTED, 1.5, Qt.DashLine))
            points = [self.to_widget(*p) for p in self._drawing + ([self._hover] if self._hover else [])]
            for a, b in zip(points, points[1:]):
                painter.drawLine(a, b)

    def _needle_points(self):
        """(target, entry) pixels of the plan's ultrasound approach on this frame (a drag's preview first)."""
        if self._needle_preview is not None:
            return self._needle_preview
        approach = self.viewer.approach_here()
        return None if approach is None else (approach.target_px, approach.entry_px)

    def _paint_needle(self, painter: QPainter) -> None:
        points = self._needle_points()
        if points is None:
            if self._needle_target is not None:
                painter.setPen(QPen(NEEDLE, 2))
                c = self.to_widget(*self._needle_target)
                painter.drawEllipse(c, 7, 7)
            return
        target, entry = (self.to_widget(*p) for p in points)
        try:
            metrics = ultrasound_approach(self.viewer.clip.regions, points[0], points[1])
        except (UncalibratedError, ValueError) as error:
            metrics, problem = None, str(error)
        painter.setPen(QPen(NEEDLE, 2.5))
        painter.drawLine(entry, target)
        painter.drawEllipse(target, 7, 7)
        painter.drawRect(QRectF(entry.x() - HANDLE_PX / 2, entry.y() - HANDLE_PX / 2, HANDLE_PX, HANDLE_PX))
        painter.setFont(QFont(self.font().family(), 10, QFont.Bold))
        if metrics is None:
            painter.setPen(QColor(255, 110, 90))
            painter.drawText(target + QPointF(12, 16), problem)
            return
        insertion = self.to_widget(*metrics.insertion_px)
        painter.setPen(QPen(NEEDLE, 1.5, Qt.DashLine))
        painter.drawLine(entry, insertion)
        painter.setPen(NEEDLE)
        lines = [
            f"target depth {metrics.depth_mm:.1f} mm",
            f"angle to probe {metrics.insertion_angle_deg:.0f}°",
            f"{metrics.probe_edge_distance_mm:.0f} mm from the probe's {metrics.insertion_side} edge",
        ]
        for n, line in enumerate(lines):
            painter.drawText(target + QPointF(12, 16 + 15 * n), line)
        painter.setPen(QColor(255, 110, 90))
        for n, warning in enumerate(metrics.warnings):
            painter.drawText(QPointF(8, self.height() - 12 - 15 * n), warning)

    # ------------------------------------------------------------------ input

    def _handle_at(self, wx: float, wy: float):
        for m in self.viewer.measurements_here():
            for index, p in enumerate(m.points):
                q = self.to_widget(*p)
                if abs(q.x() - wx) <= HANDLE_PX and abs(q.y() - wy) <= HANDLE_PX:
                    return m.id, index
        return None

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.setFocus()
        if self.viewer.clip is None or event.button() != Qt.LeftButton:
            return
        wx, wy = event.position().x(), event.position().y()
        context = self.viewer.context
        if context.tool == "us-needle":
            self._needle_press(wx, wy)
            return
        handle = self._handle_at(wx, wy)
        if handle is not None:
            context.select(handle[0])
            self._drag = {"handle": handle}
            return
        point = self.to_pixel(wx, wy)
        if context.tool == "distance":
            self._drawing = [point]
            self._drag = {"distance": (wx, wy)}
        elif context.tool == "angle":
            self._drawing.append(point)
            if len(self._drawing) == 3:
                self._commit("angle")
        self.update()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self.viewer.clip is None:
            return
        point = self.to_pixel(event.position().x(), event.position().y())
        self.cursor_moved.emit(point)
        if self._drag and "needle" in self._drag:
            target, entry = self._drag["start"]
            self._needle_preview = (point, entry) if self._drag["needle"] == 0 else (target, point)
            self.update()
        elif self._drag and "handle" in self._drag:
            measurement_id, index = self._drag["handle"]
            self.viewer.context.measurements.move_point(measurement_id, index, point)
        elif self._drawing:
            self._hover = point
            self.update()

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 - Qt API
        drag, self._drag = self._drag, None
        if not drag:
            return
        if "needle" in drag:
            preview, self._needle_preview = self._needle_preview, None
            if preview is not None:
                self.viewer.set_approach(*preview)
        elif "handle" in drag:
            self.viewer.context.undo_stack.end_merge()
        elif "distance" in drag and self._drawing:
            wx, wy = event.position().x(), event.position().y()
            if np.hypot(wx - drag["distance"][0], wy - drag["distance"][1]) > 3:
                self._drawing.append(self.to_pixel(wx, wy))
                self._commit("distance")

    def _needle_press(self, wx: float, wy: float) -> None:
        """Ultrasound needle tool: click the target, then a point on the path; drag either end later."""
        points = self._needle_points()
        if points is not None:
            for index, p in enumerate(points):
                q = self.to_widget(*p)
                if abs(q.x() - wx) <= HANDLE_PX + 3 and abs(q.y() - wy) <= HANDLE_PX + 3:
                    self._drag = {"needle": index, "start": points}
                    return
        point = self.to_pixel(wx, wy)
        if self._needle_target is None:
            self._needle_target = point
        else:
            target, self._needle_target = self._needle_target, None
            self.viewer.set_approach(target, point)
        self.update()

    def _commit(self, kind: str) -> None:
        points, self._drawing, self._hover = self._drawing, [], None
        self.viewer.add_measurement(kind, points)

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt API
        key = event.key()
        if key == Qt.Key_Space:
            self.viewer.toggle_play()
        elif key in (Qt.Key_Right, Qt.Key_Left):
            self.viewer.step(1 if key == Qt.Key_Right else -1)
        elif key == Qt.Key_Escape:
            self._drawing, self._hover, self._needle_target = [], None, None
            self.update()
        elif key == Qt.Key_Delete and self.viewer.context.selected is not None:
            if self.viewer.context.measurements.get(self.viewer.context.selected) is not None:
                self.viewer.context.measurements.remove(self.viewer.context.selected)
            self.viewer.context.select(None)
        else:
            super().keyPressEvent(event)

    def leaveEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.cursor_moved.emit(None)
        super().leaveEvent(event)


class CineView(QWidget):
    """Canvas plus transport controls: play/pause, step, loop, speed, frame slider with time.

    With the ultrasound needle tool ("us-needle") the physician clicks the target and
    a point on the in-plane path; the approach (depth, angle to the probe, distance
    from the probe's edge) is stored in the shown plan with this frame's UIDs.
    """

    approach_failed = Signal(str)  # why an ultrasound approach was not stored (a sentence)
    clip_changed = Signal()
    frame_changed = Signal(int)

    def __init__(self, context: ViewerContext, parent=None) -> None:
        super().__init__(parent)
        self.context = context
        self.clip: UltrasoundClip | None = None
        self.player: CinePlayer | None = None
        self._cache: OrderedDict[int, QImage] = OrderedDict()
        self.canvas = FrameCanvas(self)

        self.play_button = QToolButton()
        self.play_button.setText("Play")
        self.play_button.clicked.connect(self.toggle_play)
        back = QToolButton()
        back.setText("<")
        back.setToolTip("Previous frame (Left)")
        back.clicked.connect(lambda: self.step(-1))
        forward = QToolButton()
        forward.setText(">")
        forward.setToolTip("Next frame (Right)")
        forward.clicked.connect(lambda: self.step(1))
        self.loop_box = QCheckBox("Loop")
        self.loop_box.setChecked(True)
        self.loop_box.toggled.connect(self._set_loop)
        self.speed_box = QComboBox()
        for speed in SPEEDS:
            self.speed_box.addItem(f"{speed:g}x", speed)
        self.speed_box.setCurrentIndex(SPEEDS.index(1.0))
        self.speed_box.currentIndexChanged.connect(self._set_speed)
        self.slider = QSlider(Qt.Horizontal)
        self.slider.valueChanged.connect(self._slider_moved)
        self.time_label = QLabel("")
        self.time_label.setMinimumWidth(150)

        controls = QHBoxLayout()
        controls.setContentsMargins(4, 0, 4, 2)
        for widget in (back, self.play_button, forward, self.slider, self.time_label, self.loop_box, self.speed_box):
            controls.addWidget(widget, 1 if widget is self.slider else 0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.canvas, 1)
        layout.addLayout(controls)
        self.timeline = TwitchTimeline()  # the twitches found, under the slider (hidden until analysed)
        self.timeline.setVisible(False)
        self.timeline.seek_requested.connect(self._seek_paused)
        layout.addWidget(self.timeline)
        self.overlays = [paint_twitch_overlay]  # painter(painter, canvas) calls after the measurements
        self.twitch_region: tuple[int, int, int, int] | None = None  # the rectangle a twitch analysis is limited to

        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.PreciseTimer)
        self.timer.timeout.connect(self._tick)
        context.measurements_changed.connect(self.canvas.update)
        context.selection_changed.connect(lambda _id: self.canvas.update())
        context.annotations_changed.connect(lambda _shown: self.canvas.update())
        context.plan_changed.connect(self.canvas.update)
        context.plan_edited.connect(self.canvas.update)

    # ------------------------------------------------------------------ content

    def set_clip(self, clip: UltrasoundClip) -> None:
        self.pause()
        self.clip = clip
        self._cache.clear()
        self.player = CinePlayer(clip.frame_times_ms, loop=self.loop_box.isChecked())
        self.slider.blockSignals(True)
        self.slider.setRange(0, clip.n_frames - 1)
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        self.play_button.setEnabled(clip.n_frames > 1)
        self.show_frame(0)
        self.clip_changed.emit()

    def show_frame(self, index: int) -> None:
        if self.clip is None:
            return
        self.player.seek(index, time.monotonic())
        self.canvas.image = self._image(self.player.frame)
        self._sync_controls()
        self.canvas.update()

    def _image(self, index: int) -> QImage:
        image = self._cache.get(index)
        if image is None:
            pixels = np.ascontiguousarray(to_display_uint8(self.clip.frame(index)))
            fmt = QImage.Format_Grayscale8 if pixels.ndim == 2 else QImage.Format_RGB888
            image = QImage(pixels.data, pixels.shape[1], pixels.shape[0], pixels.strides[0], fmt).copy()
            self._cache[index] = image
            while len(self._cache) > CACHE_FRAMES:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(index)
        return image

    def _sync_controls(self) -> None:
        player = self.player
        self.slider.blockSignals(True)
        self.slider.setValue(player.frame)
        self.slider.blockSignals(False)
        rate = f"  {self.clip.frame_rate_hz:.0f} fps" if self.clip.n_frames > 1 else ""
        self.time_label.setText(f"{player.time_of(player.frame) / 1000:.2f} / {player.duration_ms / 1000:.2f} s{rate}")
        self.play_button.setText("Pause" if player.playing else "Play")
        self.timeline.set_frame(player.frame)
        self.frame_changed.emit(player.frame)

    def measurements_here(self):
        if self.clip is None:
            return []
        return [
            m
            for m in self.context.measurements.for_series(self.clip.header.series_instance_uid, self.player.frame)
            if m.space == "us-pixels" and m.sop_instance_uid == self.clip.sop_instance_uid
        ]

    def approach_here(self):
        """The plan's ultrasound approach when it was planned on this frame of this image."""
        session = self.context.plan
        if session is None or self.clip is None or session.plan.ultrasound is None:
            return None
        approach = session.plan.ultrasound
        if approach.sop_instance_uid != self.clip.sop_instance_uid or approach.frame_number != self.player.frame + 1:
            return None
        return approach

    def set_approach(self, target_px, entry_px) -> None:
        """Store the in-plane approach (target, a point on the path) of this frame in the plan (one undo step)."""
        session = self.context.plan
        if session is None:
            self.approach_failed.emit("Make or open a plan first (Plan panel): the approach is stored in it.")
            return
        try:
            metrics = ultrasound_approach(self.clip.regions, target_px, entry_px)
        except (UncalibratedError, ValueError) as error:
            self.approach_failed.emit(str(error))
            return
        approach = UltrasoundApproach(
            sop_instance_uid=self.clip.sop_instance_uid,
            frame_number=self.player.frame + 1,
            target_px=tuple(float(v) for v in target_px),
            entry_px=tuple(float(v) for v in entry_px),
            series_instance_uid=self.clip.header.series_instance_uid,
            depth_mm=round(metrics.depth_mm, 2),
            insertion_angle_deg=round(metrics.insertion_angle_deg, 1),
            probe_edge_distance_mm=round(metrics.probe_edge_distance_mm, 1),
        )
        try:
            session.document.set_properties("Plan ultrasound approach", ultrasound=approach)
        except PlanLockedError as error:
            self.approach_failed.emit(str(error))

    def add_measurement(self, kind: str, points) -> None:
        measurement = self.context.measurements.add(
            kind,
            points,
            "us-pixels",
            series_instance_uid=self.clip.header.series_instance_uid,
            sop_instance_uid=self.clip.sop_instance_uid,
            frame=self.player.frame,
        )
        self.context.select(measurement.id)

    # ------------------------------------------------------------------ playback

    def toggle_play(self) -> None:
        if self.player is None:
            return
        if self.player.playing:
            self.pause()
        else:
            self.player.play(time.monotonic())
            self._start_timer()
            self._sync_controls()

    def _start_timer(self) -> None:
        """Tick about once per frame interval at the current speed (at least every 100 ms, at most every 10 ms)."""
        player = self.player
        interval_ms = float(np.min(np.diff(player.times_ms))) if player.n_frames > 1 else 33.0
        self.timer.start(int(np.clip(min(interval_ms, 100.0) / player.speed, 10, 100)))

    def pause(self) -> None:
        if self.player is not None:
            self.player.pause()
            self._sync_controls()
        self.timer.stop()

    def step(self, delta: int) -> None:
        if self.player is None:
            return
        self.timer.stop()
        self.player.step(delta)
        self.show_frame(self.player.frame)

    def _tick(self) -> None:
        before = self.player.frame
        frame = self.player.tick(time.monotonic())
        if not self.player.playing:
            self.timer.stop()
        if frame != before or not self.player.playing:
            self.canvas.image = self._image(frame)
            self._sync_controls()
            self.canvas.update()

    def _seek_paused(self, frame: int) -> None:
        self.pause()
        self.show_frame(frame)

    def _slider_moved(self, value: int) -> None:
        self.show_frame(value)

    def _set_loop(self, loop: bool) -> None:
        if self.player is not None:
            self.player.loop = loop

    def _set_speed(self, _index: int) -> None:
        if self.player is not None:
            self.player.set_speed(self.speed_box.currentData(), time.monotonic())
            if self.player.playing:
                self._start_timer()
