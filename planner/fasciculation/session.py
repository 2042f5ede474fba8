"""The fasciculation findings of one study: each analysed cine, the physician's edits, the comparison.

The GUI observes one :class:`TwitchSession`; an analysis result is put in with
:meth:`set_findings`; events are added and removed through the shared undo stack.
The muscle compared is the one the sacral roots supply, its control the other
analysed cine of the study (the newest when there are several).
"""

from __future__ import annotations

import numpy as np

from planner.fasciculation.analysis import CineFindings, Event
from planner.fasciculation.interpretation import interpret
from planner.observable import Observable
from planner.undo import Command, UndoStack

#: A twitch marked by hand lasts this long unless the motion says otherwise (s).
MANUAL_DURATION_S = 0.2


class TwitchSession(Observable):
    """Findings by SOP Instance UID; listeners hear ``(sop_instance_uid)`` after every change."""

    def __init__(self, undo_stack: UndoStack | None = None) -> None:
        self.undo_stack = undo_stack or UndoStack()
        self.findings: dict[str, CineFindings] = {}

    def set_findings(self, findings: CineFindings) -> None:
        self.findings.pop(findings.sop_instance_uid, None)
        self.findings[findings.sop_instance_uid] = findings  # newest last
        self._notify(findings.sop_instance_uid)

    def get(self, sop_instance_uid: str) -> CineFindings | None:
        return self.findings.get(sop_instance_uid)

    def add_event(self, sop_instance_uid: str, frame: int) -> Event:
        """Mark a twitch by hand at ``frame`` (undoable); placed where the local motion is largest then."""
        findings = self.findings[sop_instance_uid]
        event = manual_event(findings, frame)
        self.undo_stack.push(
            Command(
                f"Add twitch at {event.time_s:.2f} s",
                redo=lambda: (findings.add_event(event), self._notify(sop_instance_uid)),
                undo=lambda: (findings.remove_event(event), self._notify(sop_instance_uid)),
            )
        )
        return event

    def remove_event(self, sop_instance_uid: str, event: Event) -> None:
        findings = self.findings[sop_instance_uid]
        self.undo_stack.push(
            Command(
                f"Remove twitch at {event.time_s:.2f} s",
                redo=lambda: (findings.remove_event(event), self._notify(sop_instance_uid)),
                undo=lambda: (findings.add_event(event), self._notify(sop_instance_uid)),
            )
        )

    def pair(self) -> tuple[CineFindings | None, CineFindings | None]:
        """(muscle examined, control): the newest sacral-root muscle and the newest other one."""
        ordered = list(self.findings.values())[::-1]
        target = next((f for f in ordered if f.muscle is not None and f.muscle.sacral), None)
        control = next((f for f in ordered if f is not target and not (f.muscle is not None and f.muscle.sacral)), None)
        if target is None and ordered:
            target = ordered[0]
            control = next((f for f in ordered[1:]), None)
        return target, control

    def plan_record(self) -> dict | None:
        """The finding as the plan carries it (:func:`planner.fasciculation.record.plan_record`), None before any analysis."""
        from planner.fasciculation.record import plan_record

        target, control = self.pair()
        return plan_record(target, control) if target is not None else None

    def interpretation(self) -> str:
        target, control = self.pair()
        return interpret(target, control) if target is not None else ""


def manual_event(findings: CineFindings, frame: int) -> Event:
    """An event marked by hand at ``frame``: at the block that moves most then (the analysed area's centre
    when nothing moves), with its displacement when the motion map has one."""
    frame = max(0, min(int(frame), len(findings.frame_times_s) - 1))
    grid = findings.grid
    time_s = float(findings.frame_times_s[frame]) if len(findings.frame_times_s) else 0.0
    x0, y0, x1, y1 = findings.rect_px
    x, y, displacement = (x0 + x1) / 2, (y0 + y1) / 2, None
    if findings.motion_map is not None and grid is not None:
        plane = findings.motion_map[frame].astype(np.float32)
        by, bx = np.unravel_index(int(np.argmax(plane)), plane.shape)
        if plane[by, bx] > 0:
            x, y = grid.block_centre_px(by, bx)
            displacement = float(plane[by, bx]) if findings.calibrated else None
    x_mm = depth_mm = None
    if findings.calibrated and findings.region is not None:
        x_mm, _ = findings.region.physical_mm(x, y)
        depth_mm = findings.region.depth_mm(y)
    radius = grid.block_px * 1.5 if grid is not None else 10.0
    return Event(time_s, MANUAL_DURATION_S, x_mm, depth_mm, displacement, None, frame, x, y, radius, manual=True)


def event_at(findings: CineFindings, frame: int) -> Event | None:
    """The event shown at ``frame``: the one whose duration covers it (the nearest peak if several)."""
    if not findings.events or not len(findings.frame_times_s):
        return None
    t = float(findings.frame_times_s[max(0, min(frame, len(findings.frame_times_s) - 1))])
    covering = [e for e in findings.events if abs(e.time_s - t) <= max(e.duration_s, 0.1) / 2 + 0.05]
    return min(covering, key=lambda e: abs(e.time_s - t)) if covering else None
