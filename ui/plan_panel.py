"""The Plan panel: suggest a plan, see each needle's numbers and warnings live, approve, save.

The panel only shows the context's :class:`~planner.plan.session.PlanSession`
and asks the main window (signals) for work that takes time: suggesting a plan
(safety anatomy + path search, in a worker), opening and saving files.
"""

from __future__ import annotations

from dataclasses import replace
from html import escape

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from planner.errors import PlanLockedError
from planner.plan.model import INJECTATES, Needle
from planner.plan.planning import level_blocked
from planner.plan.suggest import STANDARD_NEEDLES_MM
from ui.context import ViewerContext

PROCEDURE_LABELS = {
    "transforaminal-s1": "S1 transforaminal epidural",
    "interlaminar-l5s1": "L5-S1 interlaminar epidural",
    "caudal": "Caudal epidural",
    "intradiscal-l5s1": "L5-S1 intradiscal (posterolateral)",
}
SIDE_LABELS = {"": "Side of the herniation", "left": "Left", "right": "Right"}


class PlanPanel(QWidget):
    suggest_requested = Signal(str, str)  # procedure, side ("" = the herniation's)
    align_requested = Signal(str)  # trajectory id: in-plane and needle's-eye views
    approve_requested = Signal()
    reopen_requested = Signal()
    save_requested = Signal()
    open_requested = Signal()
    send_requested = Signal()  # export the plan into the patient's study on the PACS
    error = Signal(str)

    def __init__(self, context: ViewerContext, parent=None) -> None:
        super().__init__(parent)
        self.context = context
        self.procedure_box = QComboBox()
        for key, label in PROCEDURE_LABELS.items():
            self.procedure_box.addItem(label, key)
        self.side_box = QComboBox()
        for key, label in SIDE_LABELS.items():
            self.side_box.addItem(label, key)
        self.suggest_button = QPushButton("Suggest plan")
        self.suggest_button.setToolTip("Find the target and the safest straight path from the disc analysis")
        self.suggest_button.clicked.connect(
            lambda: self.suggest_requested.emit(self.procedure_box.currentData(), self.side_box.currentData())
        )
        self.status = QLabel("No plan yet. Analyse L5-S1, then suggest a plan.")
        self.status.setWordWrap(True)
        self.blocked = QLabel("")
        self.blocked.setWordWrap(True)
        self.blocked.setObjectName("levelBlocked")
        self.blocked.setStyleSheet("color: #ffb347; font-weight: bold;")
        self.blocked.hide()

        self.metrics = QLabel("")
        self.metrics.setWordWrap(True)
        self.metrics.setObjectName("planMetrics")
        self.warnings = QLabel("")
        self.warnings.setWordWrap(True)
        self.warnings.setStyleSheet("color: #ff7a66;")

        self.needle_length = QComboBox()
        for length in STANDARD_NEEDLES_MM:
            self.needle_length.addItem(f"{length:g} mm", length)
        self.needle_length.activated.connect(self._needle_changed)
        self.needle_gauge = QSpinBox()
        self.needle_gauge.setRange(14, 30)
        self.needle_gauge.setSuffix(" G")
        self.needle_gauge.editingFinished.connect(self._needle_changed)
        self.injectate = QComboBox()
        for kind in INJECTATES:
            self.injectate.addItem(kind.replace("-", " "), kind)
        self.injectate.activated.connect(self._injectate_changed)
        self.volume = QDoubleSpinBox()
        self.volume.setRange(0.1, 50.0)
        self.volume.setSingleStep(0.5)
        self.volume.setSuffix(" mL")
        self.volume.editingFinished.connect(self._injectate_changed)
        self.ultrasound = QLabel("")
        self.ultrasound.setWordWrap(True)
        for box in (self.procedure_box, self.side_box, self.needle_length, self.injectate):
            # long item texts must not widen the dock (and narrow the views)
            box.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(8)

        self.align_button = QPushButton("Views along the needle")
        self.align_button.setToolTip("Axial view: needle's eye; sagittal and coronal views: in the needle's plane")
        self.align_button.clicked.connect(lambda: self.align_requested.emit(self.context.selected_trajectory or ""))
        self.approve_button = QPushButton("Approve...")
        self.approve_button.clicked.connect(self._approve_or_reopen)
        save = QPushButton("Save")
        save.clicked.connect(self.save_requested.emit)
        open_button = QPushButton("Open...")
        open_button.clicked.connect(self.open_requested.emit)
        self.send_button = QPushButton("Send to PACS")
        self.send_button.setToolTip("SR, SEG, key images, key objects and the PDF report into the MR study "
                                    "(to a folder with a DICOMDIR when no PACS is configured)")
        self.send_button.clicked.connect(self.send_requested.emit)

        form = QFormLayout()
        form.addRow("Procedure", self.procedure_box)
        form.addRow("Side", self.side_box)
        needle = QHBoxLayout()
        needle.addWidget(self.needle_gauge)
        needle.addWidget(self.needle_length, 1)
        injectate = QHBoxLayout()
        injectate.addWidget(self.injectate, 1)
        injectate.addWidget(self.volume)
        properties = QFormLayout()
        properties.addRow("Needle", needle)
        properties.addRow("Injectate", injectate)
        buttons = QGridLayout()
        buttons.addWidget(self.align_button, 0, 0, 1, 2)
        buttons.addWidget(self.approve_button, 1, 0, 1, 2)
        buttons.addWidget(save, 2, 0)
        buttons.addWidget(open_button, 2, 1)
        buttons.addWidget(self.send_button, 3, 0, 1, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.blocked)
        layout.addWidget(self.suggest_button)
        layout.addWidget(self.status)
        layout.addWidget(self.metrics)
        layout.addWidget(self.warnings)
        layout.addLayout(properties)
        layout.addWidget(self.ultrasound)
        layout.addLayout(buttons)
        layout.addStretch(1)
        context.plan_changed.connect(self.refresh)
        context.plan_edited.connect(self.refresh)
        context.disc_changed.connect(self.refresh)
        context.disc_edited.connect(lambda what: what == "finding" and self.refresh())
        self.refresh()

    # ------------------------------------------------------------------ showing

    def refresh(self) -> None:
        session = self.context.plan
        has_plan = session is not None and bool(session.plan.trajectories)
        for widget in (self.needle_length, self.needle_gauge, self.injectate, self.volume, self.align_button):
            widget.setEnabled(has_plan and not session.plan.approved)
        # the safety interlock: nothing is suggested, approved or exported on a level nobody is sure of
        disc = self.context.disc
        suggest_blocked = level_blocked(disc) if disc is not None else ""
        plan_blocked = level_blocked(disc, session.plan) if session is not None else ""
        self.suggest_button.setEnabled(not suggest_blocked)
        self.approve_button.setEnabled(session is not None and (session.plan.approved or not plan_blocked))
        self.send_button.setEnabled(session is None or not plan_blocked)
        reason = suggest_blocked or plan_blocked
        self.blocked.setText(f"⚠ {reason}" if reason else "")
        self.blocked.setVisible(bool(reason))
        if session is None:
            if not self.status.text().startswith("Estimating"):  # a suggestion under way keeps its line
                self.status.setText("No plan yet. Choose the procedure, then Suggest plan." if disc is not None
                                    else "No plan yet. Analyse L5-S1, then suggest a plan.")
            self.metrics.setText("")
            self.warnings.setText("")
            self.ultrasound.setText("")
            return
        plan = session.plan
        state = (
            f"<b>Approved</b> by {escape(plan.approval.name)} at {plan.approval.time[:16].replace('T', ' ')}"
            f" (version {plan.version}; reopen to edit)"
            if plan.approved
            else f"Draft, version {plan.version}" + (" - unsaved changes" if session.dirty else " - saved")
        )
        self.status.setText(f"{PROCEDURE_LABELS[plan.procedure]}, {plan.side}. {state}")
        self.approve_button.setText("Reopen..." if plan.approved else "Approve...")
        trajectory = next((t for t in plan.trajectories if t.id == self.context.selected_trajectory), None)
        if trajectory is None and plan.trajectories:
            trajectory = plan.trajectories[0]
        if trajectory is None:
            self.metrics.setText("No needle in the plan.")
            self.warnings.setText("")
        else:
            self._show_needle(session, trajectory)
        injectate = plan.injectate
        self.injectate.setCurrentIndex(max(0, self.injectate.findData(injectate.kind)))
        self.volume.setValue(injectate.volume_ml)
        us = plan.ultrasound
        self.ultrasound.setText(
            "Ultrasound approach: not planned (US needle tool on a calibrated frame)."
            if us is None
            else f"Ultrasound approach (frame {us.frame_number}): target depth {us.depth_mm:.1f} mm, "
            f"{us.insertion_angle_deg:.0f}° to the probe, insertion {us.probe_edge_distance_mm:.0f} mm from its edge."
        )

    def _show_needle(self, session, trajectory) -> None:
        needle = trajectory.needle
        self.needle_length.setCurrentIndex(max(0, self.needle_length.findData(float(needle.length_mm))))
        self.needle_gauge.setValue(int(needle.gauge))
        metrics = session.metrics(trajectory.id)
        entry = ", ".join(f"{v:.1f}" for v in trajectory.entry_lps)
        target = ", ".join(f"{v:.1f}" for v in trajectory.target_lps)
        rows = [f"<b>{escape(trajectory.label)}</b> ({trajectory.origin})", f"Target (LPS mm): {target}", f"Entry: {entry}"]
        if metrics is None:
            rows.append("Safety distances need the disc analysis of this study.")
            self.metrics.setText("<br>".join(rows))
            self.warnings.setText("")
            return
        rows += [
            f"Length {metrics.length_mm:.1f} mm, depth {metrics.depth_mm:.1f} mm",
            f"Craniocaudal {metrics.craniocaudal_deg:+.1f}°, mediolateral {metrics.mediolateral_deg:+.1f}°",
            f"C-arm: {metrics.carm_text}",
        ]
        if metrics.disc_plane_deg is not None:
            rows.append(f"To the disc plane {metrics.disc_plane_deg:.1f}°")
        rows.append(f"Needle {escape(needle.text)}: {metrics.needle_margin_mm:.0f} mm to spare")
        closest = sorted((d for d in metrics.distances if d.kind != "unimaged"), key=lambda d: d.distance_mm)[:4]
        rows += [f"{escape(d.name)}: {max(d.distance_mm, 0.0):.1f} mm at {d.depth_mm:.0f} mm depth" for d in closest]
        self.metrics.setText("<br>".join(rows))
        self.warnings.setText("<br>".join(escape(w) for w in metrics.warnings) or "No safety warnings.")
        self.warnings.setStyleSheet("color: #ff7a66;" if metrics.warnings else "color: #7bdc8b;")

    # ------------------------------------------------------------------ editing

    def _edit(self, action) -> None:
        try:
            action()
        except PlanLockedError as error:
            self.error.emit(str(error))
            self.refresh()

    def _needle_changed(self) -> None:
        session, tid = self.context.plan, self.context.selected_trajectory
        if session is None or tid is None:
            return
        current = session.plan.trajectory(tid).needle
        needle = Needle(int(self.needle_gauge.value()), float(self.needle_length.currentData()), current.tip)
        if needle != current:
            self._edit(lambda: session.document.set_trajectory(tid, "Change needle", needle=needle))

    def _injectate_changed(self) -> None:
        session = self.context.plan
        if session is None:
            return
        current = session.plan.injectate
        injectate = replace(current, kind=self.injectate.currentData(), volume_ml=round(self.volume.value(), 2))
        if injectate != current:
            self._edit(lambda: session.document.set_properties("Change injectate", injectate=injectate))

    def _approve_or_reopen(self) -> None:
        session = self.context.plan
        if session is None:
            return
        (self.reopen_requested if session.plan.approved else self.approve_requested).emit()
