"""The plan being edited: one :class:`~planner.plan.model.Plan` value behind the shared undo stack.

Every edit (add, move, delete, property change, approve, reopen) replaces the
plan value through one :class:`~planner.undo.Command`, so undo and redo
round-trip every edit, and listeners (views, the autosaver) hear each change:

    document = PlanDocument(plan, undo_stack)
    document.subscribe(on_change)            # on_change(document)
    document.move_point("t1", "target", (1.0, 2.0, 3.0), merge=True)   # a drag: one undo step
    document.approve("Dr Example")

An approved plan is read-only: editing it raises :class:`PlanLockedError`
until :meth:`PlanDocument.reopen` (recorded in the plan's history).
"""

from __future__ import annotations

import itertools
from dataclasses import replace

from planner.errors import PlanLockedError
from planner.observable import Observable
from planner.plan.model import Approval, HistoryEvent, Plan, Trajectory, now_iso, with_trajectory
from planner.undo import Command, UndoStack


class PlanDocument(Observable):
    """The editable plan; ``plan`` is the current value."""

    def __init__(self, plan: Plan, undo: UndoStack | None = None) -> None:
        self._plan = plan
        self.undo = undo if undo is not None else UndoStack()
        self._drag = itertools.count(1)
        self._drag_id = 0

    @property
    def plan(self) -> Plan:
        return self._plan

    # --- edits ---------------------------------------------------------------------------------

    def _set(self, plan: Plan) -> None:
        self._plan = plan
        self._notify(self)

    def _edit(self, text: str, plan: Plan, merge_key=None, *, locked_ok: bool = False) -> None:
        if self._plan.approved and not locked_ok:
            raise PlanLockedError("the plan is approved and read-only: reopen it to edit")
        before = self._plan
        after = replace(plan, modified=now_iso())
        self.undo.push(Command(text, redo=lambda: self._set(after), undo=lambda: self._set(before), merge_key=merge_key))

    def add_trajectory(self, trajectory: Trajectory, text: str = "Add trajectory") -> None:
        if any(t.id == trajectory.id for t in self._plan.trajectories):
            raise ValueError(f"a trajectory {trajectory.id!r} is already in the plan")
        self._edit(text, replace(self._plan, trajectories=self._plan.trajectories + (trajectory,)))

    def remove_trajectory(self, trajectory_id: str) -> None:
        self._plan.trajectory(trajectory_id)  # KeyError when missing
        kept = tuple(t for t in self._plan.trajectories if t.id != trajectory_id)
        self._edit("Delete trajectory", replace(self._plan, trajectories=kept))

    def move_point(self, trajectory_id: str, which: str, point_lps, merge: bool = False) -> None:
        """Move the ``"entry"`` or ``"target"`` of a trajectory; ``merge`` folds a drag into one undo step.

        Call :meth:`end_drag` when the mouse button is released.
        """
        if which not in ("entry", "target"):
            raise ValueError(f"a trajectory has an entry and a target, not {which!r}")
        trajectory = self._plan.trajectory(trajectory_id)
        moved = replace(trajectory, **{f"{which}_lps": tuple(float(v) for v in point_lps)})
        key = ("move", trajectory_id, which, self._drag_id) if merge else None
        self._edit(f"Move {which}", with_trajectory(self._plan, moved), key)

    def end_drag(self) -> None:
        self.undo.end_merge()
        self._drag_id = next(self._drag)

    def set_trajectory(self, trajectory_id: str, text: str = "Change trajectory", **changes) -> None:
        """Change a trajectory's properties (``needle``, ``guidance``, ``label``)."""
        trajectory = replace(self._plan.trajectory(trajectory_id), **changes)
        self._edit(text, with_trajectory(self._plan, trajectory))

    def set_properties(self, text: str = "Change plan", **changes) -> None:
        """Change plan-level properties (``procedure``, ``side``, ``injectate``, ``notes``, ``ultrasound``, ...)."""
        forbidden = {"status", "approval", "history", "version", "plan_uid"} & set(changes)
        if forbidden:
            raise ValueError(f"{', '.join(sorted(forbidden))} change only by approving or reopening")
        self._edit(text, replace(self._plan, **changes))

    def approve(self, name: str) -> None:
        """Approve the plan as ``name`` (now); it becomes read-only. Undoable like any edit."""
        if not name.strip():
            raise ValueError("approving needs the approver's name")
        if self._plan.approved:
            raise PlanLockedError("the plan is already approved")
        time = now_iso()
        plan = replace(
            self._plan,
            status="approved",
            approval=Approval(name.strip(), time),
            history=self._plan.history + (HistoryEvent("approved", name.strip(), time, self._plan.version),),
        )
        self._edit("Approve plan", plan, locked_ok=True)

    def reopen(self, name: str, reason: str = "") -> None:
        """Make an approved plan editable again as a new version; recorded in the history."""
        if not self._plan.approved:
            raise ValueError("the plan is not approved")
        if not name.strip():
            raise ValueError("reopening needs the name of who reopens it")
        time = now_iso()
        plan = replace(
            self._plan,
            status="draft",
            approval=None,
            version=self._plan.version + 1,
            history=self._plan.history + (HistoryEvent("reopened", name.strip(), time, self._plan.version + 1, reason),),
        )
        self._edit("Reopen plan", plan, locked_ok=True)
