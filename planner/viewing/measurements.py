"""Distance and angle measurements on MR views (LPS mm) and ultrasound frames (pixels + calibration).

A :class:`Measurement` is a value object; :class:`MeasurementSet` holds them and
routes every edit (add, move a handle, delete) through the shared
:class:`~planner.undo.UndoStack`. Values are computed here, never in a view:

- ``space == "lps"``: points are LPS mm; a distance is their Euclidean length.
- ``space == "us-pixels"``: points are (x, y) pixel centres of one frame; a
  distance uses the calibrated ultrasound region that contains both points
  (mm), or is given in pixels with ``calibrated == False``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from planner.errors import UncalibratedError
from planner.observable import Observable
from planner.undo import Command, UndoStack
from planner.viewing.us_calibration import UltrasoundRegion, distance_mm, spatial_region_at

KINDS = {"distance": 2, "angle": 3}


@dataclass(frozen=True)
class Measurement:
    """One measurement. ``points`` are LPS mm (space "lps") or pixel (x, y) (space "us-pixels")."""

    id: int
    kind: str
    points: tuple[tuple[float, ...], ...]
    space: str
    series_instance_uid: str = ""
    sop_instance_uid: str = ""
    frame: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown measurement kind {self.kind!r} (distance or angle)")
        if len(self.points) != KINDS[self.kind]:
            raise ValueError(f"a {self.kind} needs {KINDS[self.kind]} points, got {len(self.points)}")
        if self.space not in ("lps", "us-pixels"):
            raise ValueError(f"unknown measurement space {self.space!r}")


@dataclass(frozen=True)
class Value:
    value: float
    unit: str  # "mm", "px" or "deg"
    calibrated: bool
    note: str = ""

    @property
    def text(self) -> str:
        if self.unit == "deg":
            return f"{self.value:.1f}°"
        if self.unit == "px":
            return f"{self.value:.1f} px (not calibrated)"
        return f"{self.value:.1f} mm"


def evaluate(measurement: Measurement, regions: Sequence[UltrasoundRegion] = ()) -> Value:
    """The value of ``measurement``; ultrasound measurements use ``regions`` of their frame."""
    points = [np.asarray(p, dtype=float) for p in measurement.points]
    if measurement.space == "lps":
        if measurement.kind == "distance":
            return Value(float(np.linalg.norm(points[1] - points[0])), "mm", True)
        return Value(_angle_deg(points[0] - points[1], points[2] - points[1]), "deg", True)
    if measurement.kind == "distance":
        try:
            return Value(distance_mm(regions, points[0], points[1]), "mm", True)
        except UncalibratedError as exc:
            return Value(float(np.linalg.norm(points[1] - points[0])), "px", False, str(exc))
    region = spatial_region_at(regions, *points[1])
    scale = np.ones(2)
    if region is not None and all(region.contains(*p) for p in points):
        scale = np.array([region.physical_delta_x_mm, region.physical_delta_y_mm])
    return Value(_angle_deg((points[0] - points[1]) * scale, (points[2] - points[1]) * scale), "deg", True)


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    norms = np.linalg.norm(a) * np.linalg.norm(b)
    if norms == 0:
        return 0.0
    return float(np.degrees(np.arccos(np.clip(a @ b / norms, -1.0, 1.0))))


class MeasurementSet(Observable):
    """The measurements of a session; every edit is one undoable command."""

    def __init__(self, undo: UndoStack) -> None:
        self.undo_stack = undo
        self._items: dict[int, Measurement] = {}
        self._ids = itertools.count(1)

    def __iter__(self):
        return iter(list(self._items.values()))

    def __len__(self) -> int:
        return len(self._items)

    def get(self, measurement_id: int) -> Measurement | None:
        return self._items.get(measurement_id)

    def for_series(self, series_instance_uid: str, frame: int | None = None) -> list[Measurement]:
        return [
            m
            for m in self._items.values()
            if m.series_instance_uid == series_instance_uid and (frame is None or m.frame is None or m.frame == frame)
        ]

    # ------------------------------------------------------------------ edits

    def add(self, kind: str, points, space: str, **where) -> Measurement:
        measurement = Measurement(next(self._ids), kind, tuple(tuple(float(v) for v in p) for p in points), space, **where)
        self.undo_stack.push(
            Command(f"Add {kind}", redo=lambda: self._put(measurement), undo=lambda: self._drop(measurement.id))
        )
        return measurement

    def move_point(self, measurement_id: int, index: int, point) -> None:
        """Move one handle; consecutive moves of the same handle undo as one step."""
        before = self._items[measurement_id]
        moved = list(before.points)
        moved[index] = tuple(float(v) for v in point)
        after = replace(before, points=tuple(moved))
        self.undo_stack.push(
            Command(
                f"Move {before.kind}",
                redo=lambda: self._put(after),
                undo=lambda: self._put(before),
                merge_key=("move", measurement_id, index),
            )
        )

    def remove(self, measurement_id: int) -> None:
        before = self._items[measurement_id]
        self.undo_stack.push(Command(f"Delete {before.kind}", redo=lambda: self._drop(measurement_id), undo=lambda: self._put(before)))

    def _put(self, measurement: Measurement) -> None:
        self._items[measurement.id] = measurement
        self._notify()

    def _drop(self, measurement_id: int) -> None:
        self._items.pop(measurement_id, None)
        self._notify()
