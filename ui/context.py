"""What the views of one window share: the MPR crosshair, the measurements, the L5-S1 disc model, one undo
stack, the tool."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from planner.disc.model import DiscModel
from planner.fasciculation.session import TwitchSession
from planner.study.session import StudySession
from planner.undo import Command, UndoStack
from planner.viewing.measurements import MeasurementSet
from planner.viewing.mpr import MprState

TOOLS = ("crosshair", "window", "pan", "zoom", "rotate", "distance", "angle", "seed", "brush", "eraser", "us-needle")


class ViewerContext(QObject):
    """Planner state shared by the views, plus the UI-only choices (tool, annotations shown)."""

    tool_changed = Signal(str)
    annotations_changed = Signal(bool)
    measurements_changed = Signal()
    selection_changed = Signal(object)  # measurement id or None
    disc_changed = Signal()  # another DiscModel (or none) is shown
    disc_edited = Signal(str)  # the shown DiscModel changed: "mask" or "finding"
    seed_clicked = Signal(object)  # LPS point clicked with the seed tool
    brush_changed = Signal(float)
    plan_changed = Signal()  # another PlanSession (or none) is shown
    plan_edited = Signal()  # the shown plan changed (an edit, undo, save or new anatomy)

    def __init__(self) -> None:
        super().__init__()
        self.mpr = MprState()
        self.undo_stack = UndoStack()
        self.measurements = MeasurementSet(self.undo_stack)
        self.measurements.subscribe(self.measurements_changed.emit)
        self.tool = "crosshair"
        self.show_annotations = True
        self.selected: int | None = None
        self._plane_providers: dict = {}
        #: the study worked on (the primary series'): it owns the disc model and the plan being edited
        self.study = StudySession({}, undo=self.undo_stack)
        self.brush_radius_mm = 3.0
        self.dragging_view = None  # the view whose needle end is being dragged: others redraw throttled
        self.selected_trajectory: str | None = None
        self.twitches = TwitchSession(self.undo_stack)  # fasciculation findings of the study's cines
        self.show_motion_map = False

    def plane_of(self, view):
        """The plane a view shows now: the MPR plane, or the acquired slice of a view showing its own series."""
        provider = self._plane_providers.get(view)
        return provider() if provider is not None else self.mpr.plane(view)

    def provide_plane(self, view, provider) -> None:
        """Let ``provider()`` answer :meth:`plane_of` for ``view`` (None restores the MPR plane)."""
        if provider is None:
            self._plane_providers.pop(view, None)
        else:
            self._plane_providers[view] = provider

    @property
    def disc(self) -> DiscModel | None:
        """The study's disc analysis, as the user corrects it."""
        return self.study.disc

    @property
    def plan(self):
        """The study's plan being edited (a :class:`~planner.plan.session.PlanSession`), or None."""
        return self.study.plan

    def set_study(self, study: StudySession) -> None:
        """Work on ``study`` (another primary series' study): its disc model is shown; the plan being edited
        stays open (it is saved, closed or replaced by the user, not by opening a series)."""
        if study is self.study:
            return
        old_disc, plan = self.study.disc, self.study.plan
        if old_disc is not None:
            old_disc.unsubscribe(self.disc_edited.emit)
        self.study = study
        if study.plan is None:
            study.plan = plan
        if study.disc is not None:
            study.disc.subscribe(self.disc_edited.emit)
        if study.disc is not old_disc:
            self.disc_changed.emit()

    def set_disc(self, model: DiscModel | None, undo_text: str = "") -> None:
        """Show ``model`` (the analysis of the primary series); with ``undo_text`` the change is undoable."""
        old = self.disc
        if undo_text:
            self.undo_stack.push(Command(undo_text, redo=lambda: self._use_disc(model), undo=lambda: self._use_disc(old)))
        else:
            self._use_disc(model)

    def _use_disc(self, model: DiscModel | None) -> None:
        if model is self.disc:
            return
        if self.disc is not None:
            self.disc.unsubscribe(self.disc_edited.emit)
        self.study.set_disc(model)
        if model is not None:
            model.subscribe(self.disc_edited.emit)
        self.disc_changed.emit()

    def set_plan(self, session) -> None:
        """Show ``session`` (a :class:`~planner.plan.session.PlanSession`) in every view and the plan panel."""
        if self.plan is not None:
            self.plan.unsubscribe(self._plan_notified)
        self.study.set_plan(session)
        self.selected_trajectory = session.plan.trajectories[0].id if session and session.plan.trajectories else None
        if session is not None:
            session.subscribe(self._plan_notified)
        self.plan_changed.emit()

    def _plan_notified(self, _what=None) -> None:
        self.plan_edited.emit()

    def set_brush_radius(self, radius_mm: float) -> None:
        if radius_mm != self.brush_radius_mm:
            self.brush_radius_mm = float(radius_mm)
            self.brush_changed.emit(self.brush_radius_mm)

    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}")
        if tool != self.tool:
            self.tool = tool
            self.tool_changed.emit(tool)

    def set_annotations(self, shown: bool) -> None:
        if shown != self.show_annotations:
            self.show_annotations = shown
            self.annotations_changed.emit(shown)

    def select(self, measurement_id: int | None) -> None:
        if measurement_id != self.selected:
            self.selected = measurement_id
            self.selection_changed.emit(measurement_id)
