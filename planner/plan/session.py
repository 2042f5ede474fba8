"""The plan being edited in the GUI: document, safety anatomy, live metrics, saving and crash recovery.

    session = PlanSession(plan, undo_stack, anatomy=anatomy)
    session.document.move_point("T1", "target", point, merge=True)   # a drag step
    session.metrics("T1")                                            # recomputed after each edit (ms)
    session.save("case.plan.json")                                   # atomic; drops the recovery copy
    session.close()                                                  # on quit: unsaved work stays recoverable

Every edit reaches the :class:`~planner.plan.store.Autosaver`, so a crash
loses at most its delay (5 s). Listeners hear ``"plan"`` after each edit and
``"saved"`` after a save.
"""

from __future__ import annotations

from pathlib import Path

from planner.observable import Observable
from planner.plan.anatomy import SafetyAnatomy
from planner.plan.document import PlanDocument
from planner.plan.model import Plan
from planner.plan.store import Autosaver, load_plan, save_plan
from planner.plan.suggest import metrics_for
from planner.plan.trajectory import TrajectoryMetrics
from planner.undo import UndoStack


class PlanSession(Observable):
    def __init__(
        self,
        plan: Plan,
        undo: UndoStack,
        anatomy: SafetyAnatomy | None = None,
        path: str | Path | None = None,
        recovery_dir: str | Path | None = None,
        autosave_delay_s: float = 5.0,
    ) -> None:
        self.document = PlanDocument(plan, undo)
        self.anatomy = anatomy
        self.path = Path(path) if path else None
        self._saved: Plan | None = plan if path else None
        self._metrics: dict[str, TrajectoryMetrics] = {}
        self.autosaver = Autosaver(lambda: self.document.plan, recovery_dir, autosave_delay_s)
        self.document.subscribe(self._changed)
        if path is None:
            self.autosaver.changed()  # a new plan is worth keeping from the start

    @classmethod
    def open(cls, path: str | Path, undo: UndoStack, **kwargs) -> "PlanSession":
        """Open a plan file; :class:`~planner.errors.PlanFormatError` names the field when it is broken."""
        return cls(load_plan(path), undo, path=path, **kwargs)

    @property
    def plan(self) -> Plan:
        return self.document.plan

    @property
    def dirty(self) -> bool:
        return self.plan != self._saved

    def _changed(self, _document=None) -> None:
        self._metrics.clear()
        self.autosaver.changed()
        self._notify("plan")

    def set_anatomy(self, anatomy: SafetyAnatomy | None) -> None:
        self.anatomy = anatomy
        self._metrics.clear()
        self._notify("plan")

    def metrics(self, trajectory_id: str) -> TrajectoryMetrics | None:
        """Length, angles and safety distances of one trajectory (None without anatomy)."""
        if self.anatomy is None:
            return None
        if trajectory_id not in self._metrics:
            trajectory = self.plan.trajectory(trajectory_id)
            self._metrics[trajectory_id] = metrics_for(self.anatomy, self.plan.procedure, trajectory)
        return self._metrics[trajectory_id]

    def save(self, path: str | Path | None = None, evidence: dict | None = None) -> Path:
        """Write the plan atomically to ``path`` (default: where it came from) and drop the recovery copy.

        With safety anatomy the file carries the computed numbers; ``evidence``
        (:func:`planner.plan.evidence.write_evidence`: the disc SEG and the source
        fingerprint) goes into its ``evidence`` section.
        """
        target = Path(path) if path else self.path
        if target is None:
            raise ValueError("the plan has no file yet: give a path")
        plan = self.plan
        computed = None
        if self.anatomy is not None:
            from planner.plan.planning import computed_section  # planning builds on sessions' modules

            computed = computed_section(plan, self.anatomy)
        save_plan(plan, target, computed, evidence)
        self.path, self._saved = target, plan
        self.autosaver.discard()
        self._notify("saved")
        return target

    def close(self) -> None:
        """On quit: unsaved changes are written to the recovery copy (offered at the next start), saved ones dropped."""
        self.document.unsubscribe(self._changed)
        if self.dirty:
            self.autosaver.flush()
        else:
            self.autosaver.discard()
