"""What the views of one window share: the MPR crosshair, the measurements, one undo stack, the tool."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from planner.measurements import MeasurementSet
from planner.mpr import MprState
from planner.undo import UndoStack

TOOLS = ("crosshair", "window", "pan", "zoom", "rotate", "distance", "angle")


class ViewerContext(QObject):
    """Planner state shared by the views, plus the UI-only choices (tool, annotations shown)."""

    tool_changed = Signal(str)
    annotations_changed = Signal(bool)
    measurements_changed = Signal()
    selection_changed = Signal(object)  # measurement id or None

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
