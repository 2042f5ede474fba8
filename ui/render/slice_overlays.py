"""What a slice view draws over the image: measurements, the plan's needles and targets with their handles, the
corner text, the level names, the brush outline and the scale bar (VTK 2-D actors in the view's renderer)."""

from __future__ import annotations

import numpy as np
from vtkmodules.vtkRenderingCore import vtkTextActor

from planner.viewing import mpr as mprlib
from planner.viewing.measurements import evaluate

MEASURE_COLOR = (0.35, 0.85, 1.0)
SELECTED_COLOR = (1.0, 0.75, 0.2)
LEVEL_COLOR = (0.9, 0.9, 0.9)
L5S1_COLOR = (1.0, 0.75, 0.2)
BRUSH_COLOR = (0.25, 0.9, 0.55)
ERASER_COLOR = (1.0, 0.4, 0.4)
LEVEL_REACH_MM = 30.0  # level names shown in planes passing this close to the discs' centres
LABEL_MIN_X = 52.0  # px: a level name (right-aligned) ends no nearer the view's left edge than this
CORNER_TEXT_PX = 42.0  # px: the two lines of corner text at the top and bottom of a view
HANDLE_PX = 6
PLAN_SAFE_COLOR = (0.3, 1.0, 0.45)
PLAN_WARN_COLOR = (1.0, 0.35, 0.3)
PLAN_NEAR_MM = 3.0  # a needle's end is drawn (and can be dragged) in planes this close to it
NICE_LENGTHS_MM = (1, 2, 5, 10, 20, 50, 100, 200)


class SliceOverlays:
    """Mixed into :class:`~ui.render.slice_view.SliceView`: its overlays, redrawn by :meth:`SliceView.refresh`."""

    def _visible_measurements(self, plane):
        if self.volume is None:
            return []
        half = self.slab_half_mm() + 1e-3
        frame = self.volume.frame_of_reference_uid
        shown = []
        for m in self.context.measurements:
            if m.space != "lps" or (m.series_instance_uid not in (self.volume.series_instance_uid, frame)):
                continue
            if all(abs(self.widget_xy(p)[2]) <= half for p in m.points):
                shown.append(m)
        return shown

    def _update_measurements(self, plane: mprlib.Plane) -> None:
        for actor in self.labels:
            self.renderer.RemoveViewProp(actor)
        self.labels.clear()
        normal, selected = [], []
        for m in self._visible_measurements(plane):
            xy = [self.widget_xy(p)[:2] for p in m.points]
            segments = [(self._display(*xy[i]), self._display(*xy[i + 1])) for i in range(len(xy) - 1)]
            for x, y in xy:
                h = HANDLE_PX / 2
                box = [(x - h, y - h), (x + h, y - h), (x + h, y + h), (x - h, y + h)]
                segments += [(self._display(*box[i]), self._display(*box[(i + 1) % 4])) for i in range(4)]
            (selected if m.id == self.context.selected else normal).extend(segments)
            label = vtkTextActor()
            label.SetInput(f"{evaluate(m).text}")
            label.GetTextProperty().SetFontSize(14)
            label.GetTextProperty().SetColor(*(SELECTED_COLOR if m.id == self.context.selected else MEASURE_COLOR))
            label.GetTextProperty().SetShadow(True)
            anchor = xy[-1] if m.kind == "distance" else xy[1]
            label.SetDisplayPosition(*(int(v) for v in self._display(anchor[0] + 8, anchor[1] - 8)))
            self.renderer.AddViewProp(label)
            self.labels.append(label)
        self.measure_lines.set_segments(normal)
        self.selected_lines.set_segments(selected)
        drawing = []
        points = list(self._drawing) + ([self._hover] if self._drawing and self._hover is not None else [])
        xy = [self.widget_xy(p)[:2] for p in points]
        drawing = [(self._display(*xy[i]), self._display(*xy[i + 1])) for i in range(len(xy) - 1)]
        self.drawing_lines.set_segments(drawing)
        shown = self.context.show_annotations
        for overlay in (self.measure_lines, self.selected_lines, self.drawing_lines):
            overlay.set_visible(shown)
        for label in self.labels:
            label.SetVisibility(shown)

    def _on_plan_edited(self) -> None:
        """Redraw the needles; while another view drags a needle end, wait for the release (one redraw then),
        so that every mouse move costs one view's redraw, not four."""
        if self.context.dragging_view in (None, self):
            self.refresh()

    def _plan_points(self):
        """(trajectory id, "entry"/"target", LPS point, widget x, y, depth mm) of the shown plan's needle ends."""
        session = self.context.plan
        if session is None or self.volume is None:
            return []
        if session.plan.study.frame_of_reference_uid not in ("", self.volume.frame_of_reference_uid):
            return []
        found = []
        for t in session.plan.trajectories:
            for which, point in (("entry", t.entry_lps), ("target", t.target_lps)):
                x, y, depth = self.widget_xy(point)
                found.append((t.id, which, np.asarray(point), x, y, depth))
        return found

    def _update_plan(self) -> None:
        """Each needle as its projection into this plane, ends marked where the plane passes near them."""
        for actor in self.plan_labels:
            self.renderer.RemoveViewProp(actor)
        self.plan_labels.clear()
        session = self.context.plan
        safe, warn = [], []
        ends = self._plan_points()
        for t in session.plan.trajectories if ends else ():
            metrics = session.metrics(t.id)
            lines = warn if metrics is not None and metrics.warnings else safe
            (_, _, _, ex, ey, ed), (_, _, _, tx, ty, td) = [e for e in ends if e[0] == t.id]
            lines.append((self._display(ex, ey), self._display(tx, ty)))
            for x, y, depth, size in ((tx, ty, td, HANDLE_PX + 2), (ex, ey, ed, HANDLE_PX)):
                if abs(depth) > PLAN_NEAR_MM + self.slab_half_mm():
                    continue
                box = [(x - size, y), (x, y - size), (x + size, y), (x, y + size)]  # a diamond
                lines += [(self._display(*box[i]), self._display(*box[(i + 1) % 4])) for i in range(4)]
            label = vtkTextActor()
            label.SetInput(t.label + (f"  {metrics.length_mm:.0f} mm" if metrics is not None else ""))
            label.GetTextProperty().SetFontSize(13)
            label.GetTextProperty().SetColor(*(PLAN_WARN_COLOR if lines is warn else PLAN_SAFE_COLOR))
            label.GetTextProperty().SetShadow(True)
            label.SetDisplayPosition(*(int(v) for v in self._display(ex + 10, ey - 4)))
            self.renderer.AddViewProp(label)
            self.plan_labels.append(label)
        shown = self.context.show_annotations
        self.plan_safe.set_segments(safe)
        self.plan_warn.set_segments(warn)
        for overlay in (self.plan_safe, self.plan_warn):
            overlay.set_visible(shown)
        for label in self.plan_labels:
            label.SetVisibility(shown)

    def _plan_handle_at(self, x: float, y: float):
        """(trajectory id, "entry"/"target") under the mouse, targets first; None on an approved plan."""
        session = self.context.plan
        if session is None or session.plan.approved:
            return None
        near = PLAN_NEAR_MM + self.slab_half_mm()
        for tid, which, _point, px, py, depth in sorted(self._plan_points(), key=lambda e: e[1] != "target"):
            if abs(depth) <= near and abs(px - x) <= HANDLE_PX + 3 and abs(py - y) <= HANDLE_PX + 3:
                return tid, which
        return None

    def _update_text(self, plane: mprlib.Plane) -> None:
        show = self.context.show_annotations
        volume = self.volume
        letters = plane.edge_letters() if show else {"left": "", "right": "", "top": "", "bottom": ""}
        self.letters.SetText(6, letters["left"])
        self.letters.SetText(5, letters["right"])
        self.letters.SetText(7, letters["top"])
        self.letters.SetText(4, letters["bottom"])
        if not show:
            for corner in range(4):
                self.corners.SetText(corner, "")
            self.scale_bar.set_visible(False)
            self.scale_label.SetVisibility(False)
            return
        k = mprlib.nearest_slice(volume, self.context.mpr.center)
        name = "native" if self.native else self.view.value
        oblique = " (oblique)" if self.context.mpr.is_oblique and not self.native else ""
        depth = float(self.context.mpr.center @ plane.normal)
        self.corners.SetText(2, self.patient_text)
        self.corners.SetText(3, f"{volume.description}\n{name}{oblique}")
        slice_text = f"Im {k + 1}/{volume.shape[0]}" if self.native else f"{depth:+.1f} mm"
        self.corners.SetText(0, f"{slice_text}\nW {self.window_level.width:.0f}  L {self.window_level.center:.0f}")
        self.corners.SetText(1, "")
        self._update_scale_bar()

    def _update_levels(self, plane: mprlib.Plane) -> None:
        """Level names: beside the spine in planes along it, in a corner for planes across it."""
        for actor in self.level_labels:
            self.renderer.RemoveViewProp(actor)
        self.level_labels.clear()
        model = self._disc_model()
        ticks = []
        corner = ""
        if model is not None and self.context.show_annotations:
            levels = model.levels
            if levels.across_spine(plane.normal):  # the disc or body the plane cuts at the crosshair
                corner = levels.structure_at(self.context.mpr.center)
            else:
                mpp = self._mm_per_pixel()
                left = 24.0 / mpp  # names sit 24 mm to the screen-left of the column
                for level in levels.levels:
                    x, y, depth = self.widget_xy(level.center_lps)
                    if abs(depth) <= LEVEL_REACH_MM and self._label_fits(y):
                        color = L5S1_COLOR if level.name == "L5-S1" else LEVEL_COLOR
                        # kept inside the view: a column near its left edge gets a shorter tick
                        at = max(x - left, LABEL_MIN_X)
                        self._add_level_label(level.name, at, y, color, 13, bold=level.name == "L5-S1")
                        if at + 4 < x - 8.0 / mpp:
                            ticks.append((self._display(at + 4, y), self._display(x - 8.0 / mpp, y)))
                for name, centre in levels.bodies():
                    x, y, depth = self.widget_xy(centre)
                    if abs(depth) <= LEVEL_REACH_MM and self._label_fits(y):
                        self._add_level_label(name, max(x - left, LABEL_MIN_X), y, (0.6, 0.75, 0.95), 12, bold=False)
        self.level_ticks.set_segments(ticks)
        self.level_ticks.set_visible(bool(ticks))
        self.corners.SetText(1, corner)

    def _label_fits(self, y: float) -> bool:
        """Whether a level name at height ``y`` stays clear of the corner texts (patient, slice, window)."""
        return CORNER_TEXT_PX <= y <= self.height() - CORNER_TEXT_PX

    def _add_level_label(self, text: str, x: float, y: float, color, size: int, bold: bool) -> None:
        label = vtkTextActor()
        label.SetInput(text)
        prop = label.GetTextProperty()
        prop.SetFontSize(size)
        prop.SetColor(*color)
        prop.SetBold(bold)
        prop.SetShadow(True)
        prop.SetJustificationToRight()
        prop.SetVerticalJustificationToCentered()
        label.SetDisplayPosition(*(int(v) for v in self._display(x, y)))
        self.renderer.AddViewProp(label)
        self.level_labels.append(label)

    def _update_brush(self) -> None:
        """The brush or eraser outline under the cursor."""
        at = self._brush_at
        painting = self.context.tool in ("brush", "eraser") and at is not None and self._disc_model() is not None
        if painting:
            radius = self.context.brush_radius_mm / self._mm_per_pixel()
            angles = np.linspace(0.0, 2 * np.pi, 33)
            ring = [(at[0] + radius * np.cos(a), at[1] + radius * np.sin(a)) for a in angles]
            self.brush_outline.set_segments([(self._display(*ring[i]), self._display(*ring[i + 1])) for i in range(32)])
            self.brush_outline.actor.GetProperty().SetColor(*(BRUSH_COLOR if self.context.tool == "brush" else ERASER_COLOR))
        self.brush_outline.set_visible(painting)

    def _update_scale_bar(self) -> None:
        mpp = self._mm_per_pixel()
        target = self.width() / 5 * mpp
        length = max([v for v in NICE_LENGTHS_MM if v <= target] or [NICE_LENGTHS_MM[0]])
        pixels = length / mpp
        x1, y = self.width() - 16, self.height() - 40
        x0 = x1 - pixels
        segments = [((x0, y), (x1, y)), ((x0, y - 5), (x0, y + 5)), ((x1, y - 5), (x1, y + 5))]
        self.scale_bar.set_segments([(self._display(*a), self._display(*b)) for a, b in segments])
        self.scale_bar.set_visible(True)
        self.scale_label.SetInput(f"{length} mm")
        self.scale_label.SetDisplayPosition(*(int(v) for v in self._display((x0 + x1) / 2, y - 8)))
        self.scale_label.SetVisibility(True)
        self.scale_bar_mm = length
