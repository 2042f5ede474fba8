"""One MPR plane of a volume, rendered by VTK, linked to the others through the shared MprState.

Mouse (Slicer/Horos habits): left button = the active tool (crosshair,
window/level, pan, zoom, rotate, distance, angle, seed, brush, eraser; a
measurement handle under the cursor is dragged whatever the tool), right drag = window/level, middle drag =
pan, wheel = next/previous slice, Ctrl+wheel = zoom. Keys: Up/Down and
PageUp/PageDown scroll, R resets the view, Esc abandons a measurement being drawn.

When the context holds an L5-S1 disc model, its labels are drawn over the
image and the level names beside the spine (with annotations on).

The view computes nothing clinical: points are converted to LPS here and handed
to planner objects, which hold and measure them.
"""

from __future__ import annotations

import numpy as np
import vtkmodules.vtkRenderingFreeType  # noqa: F401  (text)
import vtkmodules.vtkRenderingOpenGL2  # noqa: F401  (registers the OpenGL backend)
from PySide6.QtCore import Qt, Signal
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkInteractionStyle import vtkInteractorStyleUser
from vtkmodules.vtkRenderingAnnotation import vtkCornerAnnotation
from vtkmodules.vtkRenderingCore import (
    vtkActor2D,
    vtkImageSlice,
    vtkPolyDataMapper2D,
    vtkRenderer,
    vtkTextActor,
)
from vtkmodules.vtkRenderingImage import vtkImageResliceMapper, vtkImageStack

from planner.viewing import mpr as mprlib
from planner.viewing.display import WindowLevel
from planner.viewing.mpr import View
from ui.context import ViewerContext
from ui.render.disc_layers import LabelSlice
from ui.render.slice_overlays import (
    BRUSH_COLOR,
    HANDLE_PX,
    LEVEL_COLOR,
    MEASURE_COLOR,
    PLAN_SAFE_COLOR,
    PLAN_WARN_COLOR,
    SELECTED_COLOR,
    SliceOverlays,
)
from ui.render.vtk_image import VtkVolume

#: Line colours of the planes, as in 3D Slicer: axial red, sagittal yellow, coronal green.
PLANE_COLORS = {View.AXIAL: (0.93, 0.33, 0.33), View.SAGITTAL: (0.95, 0.85, 0.35), View.CORONAL: (0.43, 0.75, 0.43)}


class _Overlay:
    """A set of 2D line segments in display coordinates, one colour."""

    def __init__(self, renderer: vtkRenderer, color, width: float = 1.5) -> None:
        self.points = vtkPoints()
        self.lines = vtkCellArray()
        self.data = vtkPolyData()
        self.data.SetPoints(self.points)
        self.data.SetLines(self.lines)
        mapper = vtkPolyDataMapper2D()
        mapper.SetInputData(self.data)
        self.actor = vtkActor2D()
        self.actor.SetMapper(mapper)
        self.actor.GetProperty().SetColor(*color)
        self.actor.GetProperty().SetLineWidth(width)
        renderer.AddViewProp(self.actor)

    def set_segments(self, segments: list[tuple[tuple[float, float], tuple[float, float]]]) -> None:
        self.points.Reset()
        self.lines.Reset()
        for a, b in segments:
            i = self.points.InsertNextPoint(a[0], a[1], 0.0)
            j = self.points.InsertNextPoint(b[0], b[1], 0.0)
            self.lines.InsertNextCell(2)
            self.lines.InsertCellPoint(i)
            self.lines.InsertCellPoint(j)
        self.points.Modified()
        self.lines.Modified()
        self.data.Modified()

    def set_visible(self, visible: bool) -> None:
        self.actor.SetVisibility(visible)


class SliceView(SliceOverlays, QVTKRenderWindowInteractor):
    """A 2D reslice of one volume in the plane ``view`` of the shared MPR (or the volume's own plane).

    With annotations off (View menu, Ctrl+T, or a PNG export without them) only the image is drawn:
    no crosshair, text, letters, scale bar or measurements.
    """

    cursor_moved = Signal(object, object)  # LPS point (ndarray) or None, voxel value or None
    activated = Signal(object)  # this view, when the user clicks into it

    def __init__(self, view: View, context: ViewerContext, parent=None) -> None:
        super().__init__(parent)
        self.view = view
        self.context = context
        self.native = False  # True: the volume's acquired slices (snapping), not a patient-frame reformat
        self.layer: VtkVolume | None = None
        self.window_level: WindowLevel | None = None
        self.patient_text = ""
        self._focus = np.zeros(3)  # LPS point at the centre of the widget (pan)
        self._scale = 100.0  # half the view height in mm (zoom)
        self._plane: mprlib.Plane | None = None
        self._drag: dict | None = None
        self._drawing: list[np.ndarray] = []  # points of a measurement being drawn
        self._hover: np.ndarray | None = None
        self._brush_at: tuple[float, float] | None = None  # widget position of the brush outline
        self.scale_bar_mm = 0  # length of the scale bar shown, mm

        self.setMinimumSize(160, 160)
        self.setFocusPolicy(Qt.StrongFocus)
        self.setMouseTracking(True)
        window = self.GetRenderWindow()
        self.renderer = vtkRenderer()
        self.renderer.SetBackground(0.0, 0.0, 0.0)
        window.AddRenderer(self.renderer)
        window.SetMultiSamples(0)  # no MSAA for 2D images: it costs more than the image itself on software GL
        self.GetRenderWindow().GetInteractor().SetInteractorStyle(vtkInteractorStyleUser())
        camera = self.renderer.GetActiveCamera()
        camera.ParallelProjectionOn()

        self.mapper = vtkImageResliceMapper()
        self.mapper.SliceFacesCameraOn()
        self.mapper.SliceAtFocalPointOn()
        self.mapper.BorderOn()
        self.mapper.ResampleToScreenPixelsOff()  # reslice at image resolution; cached while the plane stays
        self.image_actor = vtkImageSlice()
        self.image_actor.SetMapper(self.mapper)
        self.image_actor.GetProperty().SetInterpolationTypeToLinear()
        self.image_actor.SetVisibility(False)
        self.image_actor.GetProperty().SetLayerNumber(0)
        self.disc_labels = LabelSlice()
        self.stack = vtkImageStack()  # the image, then the disc labels over it, resliced in one plane
        self.stack.AddImage(self.image_actor)
        self.stack.AddImage(self.disc_labels.actor)
        self.stack.SetActiveLayer(0)
        self.renderer.AddViewProp(self.stack)
        self._disc_layer: VtkVolume | None = None
        self.level_labels: list[vtkTextActor] = []

        self.crosshair = {other: _Overlay(self.renderer, PLANE_COLORS[other], 1.0) for other in View if other != view}
        self.measure_lines = _Overlay(self.renderer, MEASURE_COLOR, 2.0)
        self.selected_lines = _Overlay(self.renderer, SELECTED_COLOR, 2.5)
        self.drawing_lines = _Overlay(self.renderer, SELECTED_COLOR, 1.5)
        self.brush_outline = _Overlay(self.renderer, BRUSH_COLOR, 1.5)
        self.level_ticks = _Overlay(self.renderer, LEVEL_COLOR, 1.0)
        self.scale_bar = _Overlay(self.renderer, (0.9, 0.9, 0.9), 2.0)
        self.plan_safe = _Overlay(self.renderer, PLAN_SAFE_COLOR, 2.0)
        self.plan_warn = _Overlay(self.renderer, PLAN_WARN_COLOR, 2.0)
        self.plan_labels: list[vtkTextActor] = []
        self.scale_label = vtkTextActor()
        self.scale_label.GetTextProperty().SetFontSize(13)
        self.scale_label.GetTextProperty().SetColor(0.9, 0.9, 0.9)
        self.scale_label.GetTextProperty().SetJustificationToCentered()
        self.renderer.AddViewProp(self.scale_label)
        self.labels: list[vtkTextActor] = []
        self.corners = vtkCornerAnnotation()
        self.corners.SetMinimumFontSize(13)
        self.corners.SetMaximumFontSize(15)
        self.corners.GetTextProperty().SetColor(0.85, 0.85, 0.85)
        self.renderer.AddViewProp(self.corners)
        self.letters = vtkCornerAnnotation()
        self.letters.SetMinimumFontSize(16)
        self.letters.SetMaximumFontSize(18)
        self.letters.GetTextProperty().SetColor(1.0, 0.85, 0.3)
        self.letters.GetTextProperty().BoldOn()
        self.renderer.AddViewProp(self.letters)

        context.mpr.subscribe(self._on_mpr)
        context.measurements_changed.connect(self.refresh)
        context.selection_changed.connect(lambda _id: self.refresh())
        context.annotations_changed.connect(lambda _shown: self.refresh())
        context.disc_changed.connect(self._on_disc_changed)
        context.disc_edited.connect(self._on_disc_edited)
        context.tool_changed.connect(lambda _tool: self.refresh())
        context.brush_changed.connect(lambda _radius: self.refresh())
        context.plan_changed.connect(self.refresh)
        context.plan_edited.connect(self._on_plan_edited)

    # ----------------------------------------------------------------- content

    def set_volume(self, layer: VtkVolume, window: WindowLevel, native: bool = False, patient_text: str = "") -> None:
        """Show ``layer``: in the plane ``self.view`` of the shared MPR, or (``native``) in its own slices."""
        self.layer = layer
        self.native = native
        self.patient_text = patient_text
        if self.window_level is not None:
            self.window_level.unsubscribe(self._on_window)
        self.window_level = window
        window.subscribe(self._on_window)
        self.context.provide_plane(self.view, self._compute_plane if native else None)
        self.mapper.SetInputData(layer.image)
        self.image_actor.SetUserMatrix(layer.matrix)
        self.image_actor.SetVisibility(True)
        self._apply_window()
        self.reset_view()

    def _on_disc_changed(self) -> None:
        """Another disc model (or none): reslice its labels in this view."""
        model = self.context.disc
        self._disc_layer = VtkVolume(model.label_volume()) if model is not None else None
        self.disc_labels.set_layer(self._disc_layer)
        self.refresh()

    def _on_disc_edited(self, what: str) -> None:
        if what == "mask":
            self.disc_labels.update()
        self.refresh()

    def _disc_model(self):
        """The context's disc model when it belongs to the world of this view's volume, else None."""
        model = self.context.disc
        volume = self.volume
        if model is None or volume is None:
            return None
        if model.volume.frame_of_reference_uid != volume.frame_of_reference_uid:
            return None
        return model

    def clear(self) -> None:
        self.context.provide_plane(self.view, None)
        self.layer = None
        self.image_actor.SetVisibility(False)
        self.refresh()

    @property
    def volume(self):
        return self.layer.volume if self.layer is not None else None

    @property
    def plane(self) -> mprlib.Plane | None:
        return self._plane

    def current_slice(self) -> int | None:
        """Index of the acquired slice shown (native mode) or nearest to the plane (reformat)."""
        if self.volume is None:
            return None
        return mprlib.nearest_slice(self.volume, self.context.mpr.center)

    def reset_view(self) -> None:
        """Fit the volume, centred, at 100 % of the view height."""
        if self.layer is None:
            return
        plane = self._compute_plane()
        corners = self.layer.bounds_corners_lps
        u = (corners - plane.origin) @ plane.right
        v = (corners - plane.origin) @ plane.up
        center = plane.to_world((u.max() + u.min()) / 2, (v.max() + v.min()) / 2)
        self._focus = center
        aspect = max(self.width(), 1) / max(self.height(), 1)
        self._scale = max((v.max() - v.min()) / 2, (u.max() - u.min()) / 2 / aspect, 1.0) * 1.05
        self.refresh()

    def frame_on(self, point_lps, half_height_mm: float) -> None:
        """Centre the view on ``point_lps`` with ``half_height_mm`` above and below it (e.g. on the disc)."""
        self._focus = np.asarray(point_lps, float).copy()
        self._scale = float(np.clip(half_height_mm, 2.0, 2000.0))
        self.refresh()

    # ----------------------------------------------------------------- geometry

    def _compute_plane(self) -> mprlib.Plane:
        center = self.context.mpr.center
        if self.native and self.volume is not None:
            return mprlib.native_plane(self.volume, mprlib.nearest_slice(self.volume, center), center)
        return self.context.mpr.plane(self.view)

    def _mm_per_pixel(self) -> float:
        return 2.0 * self._scale / max(self.height(), 1)

    def world_at(self, x: float, y: float) -> np.ndarray:
        """LPS point under widget position (x, y) on the current plane."""
        plane = self._plane or self._compute_plane()
        mpp = self._mm_per_pixel()
        focus = self._focus_on(plane)
        return focus + (x - self.width() / 2) * mpp * plane.right + (self.height() / 2 - y) * mpp * plane.up

    def widget_xy(self, point_lps) -> tuple[float, float, float]:
        """(x, y) widget position of an LPS point and its distance from the plane (mm)."""
        plane = self._plane or self._compute_plane()
        mpp = self._mm_per_pixel()
        d = np.asarray(point_lps, dtype=float) - self._focus_on(plane)
        return self.width() / 2 + (d @ plane.right) / mpp, self.height() / 2 - (d @ plane.up) / mpp, float(d @ plane.normal)

    def _display(self, x: float, y: float) -> tuple[float, float]:
        """Widget (Qt, top-left origin, logical px) -> VTK display (bottom-left origin, device px)."""
        ratio = self.devicePixelRatioF()
        return x * ratio, (self.height() - y) * ratio

    def _focus_on(self, plane: mprlib.Plane) -> np.ndarray:
        return self._focus - ((self._focus - plane.origin) @ plane.normal) * plane.normal

    def slab_half_mm(self) -> float:
        if self.volume is None:
            return 0.5
        normal = (self._plane or self._compute_plane()).normal
        return mprlib.slice_step_mm(self.volume, normal) / 2

    # ----------------------------------------------------------------- updates

    def _on_mpr(self, _what: str) -> None:
        self.refresh()

    def _on_window(self) -> None:
        self._apply_window()
        self.refresh()

    def _apply_window(self) -> None:
        if self.window_level is not None:
            prop = self.image_actor.GetProperty()
            prop.SetColorWindow(self.window_level.width)
            prop.SetColorLevel(self.window_level.center)

    def refresh(self) -> None:
        """Recompute camera and overlays from the shared state and render."""
        if self.layer is None:
            for overlay in (
                *self.crosshair.values(), self.measure_lines, self.selected_lines, self.drawing_lines, self.scale_bar,
                self.brush_outline, self.level_ticks,
            ):
                overlay.set_visible(False)
            for actor in self.level_labels:
                actor.SetVisibility(False)
            self.corners.SetText(2, "")
            self.letters.SetText(4, "")
            self._render()
            return
        plane = self._compute_plane()
        self._plane = plane
        focus = self._focus_on(plane)
        self._focus = focus
        camera = self.renderer.GetActiveCamera()
        camera.SetFocalPoint(*focus)
        camera.SetPosition(*(focus - 1000.0 * plane.normal))
        camera.SetViewUp(*plane.up)
        camera.SetParallelScale(self._scale)
        self.renderer.ResetCameraClippingRange()
        self.disc_labels.actor.SetVisibility(self._disc_layer is not None and self._disc_model() is not None)
        self._update_crosshair(plane)
        self._update_measurements(plane)
        self._update_plan()
        self._update_text(plane)
        self._update_levels(plane)
        self._update_brush()
        self._render()

    def _render(self) -> None:
        if self.isVisible():
            self.GetRenderWindow().Render()

    def _line_across(self, point, direction) -> tuple[tuple[float, float], tuple[float, float]] | None:
        x, y, _ = self.widget_xy(point)
        plane = self._plane
        du, dv = float(direction @ plane.right), float(-(direction @ plane.up))
        norm = np.hypot(du, dv)
        if norm < 1e-6:
            return None
        du, dv = du / norm, dv / norm
        reach = 4.0 * (self.width() + self.height())
        a = self._display(x - reach * du, y - reach * dv)
        b = self._display(x + reach * du, y + reach * dv)
        return a, b

    def _update_crosshair(self, plane: mprlib.Plane) -> None:
        """Draw where each other view's plane cuts this one (an acquired oblique slice shows tilted)."""
        show = self.context.show_annotations
        for other, overlay in self.crosshair.items():
            segment = None
            if show:
                line = plane.intersection(self.context.plane_of(other))
                if line is not None:
                    segment = self._line_across(*line)
            overlay.set_segments([segment] if segment else [])
            overlay.set_visible(segment is not None)

    # ----------------------------------------------------------------- input

    def _handle_at(self, x: float, y: float):
        if self._plane is None:
            return None
        for m in self._visible_measurements(self._plane):
            for index, p in enumerate(m.points):
                px, py, _ = self.widget_xy(p)
                if abs(px - x) <= HANDLE_PX and abs(py - y) <= HANDLE_PX:
                    return m.id, index
        return None

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.setFocus()
        self.activated.emit(self)
        if self.layer is None:
            return
        x, y = event.position().x(), event.position().y()
        button = event.button()
        tool = self.context.tool
        if button == Qt.RightButton:
            tool = "window"
        elif button == Qt.MiddleButton:
            tool = "pan"
        elif button == Qt.LeftButton:
            needle = self._plan_handle_at(x, y)
            if needle is not None:
                self.context.selected_trajectory = needle[0]
                self.context.dragging_view = self
                self._drag = {"tool": "needle", "needle": needle}
                return
            handle = self._handle_at(x, y)
            if handle is not None:
                self.context.select(handle[0])
                self._drag = {"tool": "handle", "handle": handle}
                return
        else:
            return
        self._drag = {"tool": tool, "x": x, "y": y, "scale": self._scale, "focus": self._focus.copy()}
        if self.window_level is not None:
            self._drag["window"] = (self.window_level.center, self.window_level.width)
        point = self.world_at(x, y)
        if tool == "crosshair":
            self.context.mpr.set_center(point)
        elif tool == "seed":
            self._drag = None
            self.context.seed_clicked.emit(point)
        elif tool in ("brush", "eraser"):
            self._paint_to(point, tool)
        elif tool == "distance":
            self._drawing = [point]
            self._hover = point
        elif tool == "angle":
            self._drawing.append(point)
            if len(self._drawing) == 3:
                self._commit("angle")

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self.layer is None:
            return
        x, y = event.position().x(), event.position().y()
        point = self.world_at(x, y)
        self.cursor_moved.emit(point, mprlib.value_at(self.volume, point))
        self._brush_at = (x, y)
        drag = self._drag
        if drag is None:
            if self.context.tool in ("brush", "eraser"):
                self.refresh()
            if self._drawing:
                self._hover = point
                self.refresh()
            return
        tool = drag["tool"]
        dx, dy = x - drag.get("x", x), y - drag.get("y", y)
        if tool == "handle":
            measurement_id, index = drag["handle"]
            self.context.measurements.move_point(measurement_id, index, point)
        elif tool == "needle" and self.context.plan is not None:
            trajectory_id, which = drag["needle"]
            self.context.plan.document.move_point(trajectory_id, which, point, merge=True)
        elif tool == "crosshair":
            self.context.mpr.set_center(point)
        elif tool == "window" and self.window_level is not None:
            center, width = drag["window"]
            gain = width / max(self.height(), 1)
            self.window_level.set(center - dy * gain, max(width + dx * gain * 2, 1e-3))
        elif tool == "pan":
            mpp = self._mm_per_pixel()
            plane = self._plane
            self._focus = drag["focus"] - dx * mpp * plane.right + dy * mpp * plane.up
            self.refresh()
        elif tool == "zoom":
            self._scale = float(np.clip(drag["scale"] * np.exp(dy / 200.0), 2.0, 2000.0))
            self.refresh()
        elif tool == "rotate" and not self.native:
            self.context.mpr.rotate(self.view, -(dx - drag.get("rotated", 0.0)) * 0.25)
            drag["rotated"] = dx
        elif tool in ("brush", "eraser"):
            self._paint_to(point, tool)
        elif tool == "distance" and self._drawing:
            self._hover = point
            self.refresh()

    def _paint_to(self, point: np.ndarray, tool: str) -> None:
        """Paint (brush) or erase from the last painted point of this stroke to ``point``, in dabs."""
        model = self._disc_model()
        if model is None:
            return
        radius = self.context.brush_radius_mm
        last = self._drag.get("painted") if self._drag else None
        steps = 1 if last is None else max(1, int(np.ceil(np.linalg.norm(point - last) / (radius / 2))))
        start = point if last is None else last
        normal = self._plane.normal if self._plane is not None else self._compute_plane().normal
        dabs = [start + t * (point - start) for t in np.linspace(1.0 / steps, 1.0, steps)]
        model.paint(dabs, normal, radius, 2 * self.slab_half_mm(), tool == "brush")
        if self._drag is not None:
            self._drag["painted"] = point

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 - Qt API
        drag, self._drag = self._drag, None
        if drag is None:
            return
        if drag["tool"] == "handle":
            self.context.undo_stack.end_merge()
        elif drag["tool"] == "needle":
            self.context.dragging_view = None
            if self.context.plan is not None:
                self.context.plan.document.end_drag()
                self.context.plan_edited.emit()  # the throttled views catch up now
        elif drag["tool"] in ("brush", "eraser") and self._disc_model() is not None:
            self._disc_model().end_stroke("Paint disc" if drag["tool"] == "brush" else "Erase disc")
        elif drag["tool"] == "distance" and self._drawing:
            x, y = event.position().x(), event.position().y()
            if np.hypot(x - drag["x"], y - drag["y"]) > 3:
                self._drawing.append(self.world_at(x, y))
                self._commit("distance")

    def _commit(self, kind: str) -> None:
        points, self._drawing, self._hover = self._drawing, [], None
        volume = self.volume
        measurement = self.context.measurements.add(
            kind, points, "lps", series_instance_uid=volume.series_instance_uid, sop_instance_uid=""
        )
        self.context.select(measurement.id)

    def wheelEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self.layer is None:
            return
        steps = event.angleDelta().y() / 120.0
        if event.modifiers() & Qt.ControlModifier:
            self._scale = float(np.clip(self._scale * (0.85 ** steps), 2.0, 2000.0))
            self.refresh()
            return
        self.scroll(int(np.sign(steps)) if abs(steps) < 1 else int(round(steps)))

    def scroll(self, steps: int) -> None:
        """Move the shared crosshair ``steps`` slices along this view's normal."""
        if self.volume is None or steps == 0:
            return
        plane = self._plane or self._compute_plane()
        step = mprlib.slice_step_mm(self.volume, plane.normal)
        center = self.context.mpr.center + steps * step * plane.normal
        if self.native:  # snap onto an acquired slice
            k = int(np.clip(mprlib.nearest_slice(self.volume, self.context.mpr.center) + steps * self._native_direction(), 0, self.volume.shape[0] - 1))
            center = mprlib.native_plane(self.volume, k, self.context.mpr.center).origin
        self.context.mpr.set_center(center)

    def _native_direction(self) -> int:
        """+1 when increasing slice index moves along the plane normal, else -1."""
        k_axis = self.volume.image_to_lps[:3, 2]
        return 1 if k_axis @ self._plane.normal >= 0 else -1

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt API
        key = event.key()
        if key in (Qt.Key_Up, Qt.Key_PageUp):
            self.scroll(1 if key == Qt.Key_Up else 5)
        elif key in (Qt.Key_Down, Qt.Key_PageDown):
            self.scroll(-1 if key == Qt.Key_Down else -5)
        elif key == Qt.Key_R:
            self.reset_view()
        elif key == Qt.Key_Escape:
            self._drawing, self._hover = [], None
            self.refresh()
        elif key == Qt.Key_Delete and self.context.selected is not None:
            if self.context.measurements.get(self.context.selected) is not None:
                self.context.measurements.remove(self.context.selected)
            self.context.select(None)
        else:
            super().keyPressEvent(event)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        if self.layer is not None:
            self.refresh()

    def leaveEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.cursor_moved.emit(None, None)
        self._brush_at = None
        if self.context.tool in ("brush", "eraser"):
            self.refresh()
        super().leaveEvent(event)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.context.mpr.unsubscribe(self._on_mpr)
        self.Finalize()
        super().closeEvent(event)

    def detach(self) -> None:
        """Stop observing the shared state (before the widget is deleted)."""
        self.context.mpr.unsubscribe(self._on_mpr)
