"""The main window's plan actions: suggest, open, save and recover plans, align the views to a needle, approve,
export to a folder or PACS (with the outbox), query and retrieve; each slow step in a worker."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from planner.errors import PlanFormatError, PlannerError
from planner.export.bundle import ExportSource, export_to
from planner.pacs import network
from planner.plan.evidence import IMAGES_CHANGED
from planner.plan.model import SIDED
from planner.plan.planning import (
    anatomy_and_suggestion,
    approval_blocked,
    default_author,
    draft_plan,
    level_blocked,
    plan_side,
)
from planner.plan.session import PlanSession
from planner.plan.store import load_plan, recovery_files
from planner.viewing.mpr import View, axial_looking_along
from ui import dialogs
from ui.window_browser import is_dicom, patient_text
from ui.worker import Task


class PlanActions:
    """Mixed into :class:`~ui.main_window.MainWindow`: the plan panel's actions over the context's plan session."""

    def suggest_plan(self, procedure: str, side: str | None = None, on_done=None) -> Task | None:
        """Estimate the safety anatomy and the suggested needle in a worker; show the new draft plan."""
        model = self.context.disc
        if model is None or self.primary is None:
            dialogs.show_error(self, "Analyse L5-S1 first (Spine > Analyse L5-S1): the plan is built on the disc analysis.")
            return None
        blocked = level_blocked(model)
        if blocked:
            dialogs.show_error(self, blocked)
            return None
        if not model.finding.reliable and procedure in SIDED and not side:
            dialogs.show_error(self, "The disc measurement is not reliable, so the side cannot be taken from it: choose the side.")
            return None
        side = plan_side(model.finding, procedure, side)
        session = self.study_session()  # the safety anatomy from the study's MR series, as `main.py plan` builds it
        self.plan_panel.status.setText("Estimating bone, iliac crests, thecal sac and roots, searching a safe path...")

        def done(result) -> None:
            anatomy, suggestion, problem = result
            if self.context.disc is not model:
                return
            ref = session.study_ref(model.analysis)
            plan = draft_plan(ref, model.finding, procedure, side, default_author(), suggestion, level_check=model.level_check())
            self._use_plan(PlanSession(plan, self.context.undo_stack, anatomy=anatomy))
            self.plan_dock.raise_()
            if problem:
                self.plan_panel.status.setText(problem)
                dialogs.show_error(self, problem)
            else:
                self.status_text.setText(f"Suggested: {suggestion.trajectory.label}; drag its ends to adjust")
                self.align_views_to_needle(suggestion.trajectory.id)
            if on_done:
                on_done(self.context.plan)

        task = Task(anatomy_and_suggestion, session, model.analysis, procedure, side)
        return self.run_task(task, "Planning the needle path...", done)

    def _use_plan(self, session: PlanSession | None) -> None:
        old = self.context.plan
        if old is not None and old is not session:
            old.close()  # unsaved work stays in its recovery copy
        self.context.set_plan(session)

    def align_views_to_needle(self, trajectory_id: str = "") -> None:
        """Axial view down the needle (needle's eye), sagittal and coronal views in its plane, centred on the target."""
        session = self.context.plan
        if session is None or not session.plan.trajectories:
            return
        trajectory = next((t for t in session.plan.trajectories if t.id == trajectory_id), session.plan.trajectories[0])
        entry, target = np.asarray(trajectory.entry_lps), np.asarray(trajectory.target_lps)
        axial = self.slice_views[View.AXIAL]
        if axial.native and self.primary is not None:  # the needle's eye is a reformat, not an acquired slice
            axial.set_volume(self.primary.layer, self.primary.window, patient_text=patient_text(self.primary.loaded.headers[0]))
        self.context.mpr.set_rotation(axial_looking_along(target - entry))
        self.context.mpr.set_center(target)
        half = max(40.0, 0.75 * float(np.linalg.norm(target - entry)))
        for view in self.slice_views.values():
            if not view.native:
                view.frame_on((entry + target) / 2 if view.view != View.AXIAL else target, half)

    def save_plan(self, path: str | None = None, ask: bool = False) -> bool:
        session = self.context.plan
        if session is None:
            return False
        if path is None and (ask or session.path is None):
            suggested = str(session.path or f"{session.plan.procedure}-plan.json")
            path, _ = QFileDialog.getSaveFileName(self, "Save plan", suggested, "Plans (*.json)")
            if not path:
                return False
        try:
            saved = session.save(path, evidence=self._plan_evidence(path or session.path))
        except OSError as error:
            dialogs.show_error(self, f"{path or session.path}: the plan could not be saved ({error.strerror or error}); it is kept in its recovery copy.")
            return False
        self.status_text.setText(f"Plan saved: {saved.name}")
        self.context.plan_edited.emit()
        return True

    def _plan_evidence(self, plan_path) -> dict | None:
        """The corrected disc mask (SEG beside the plan) and the source fingerprint, when the plan's study is
        the one analysed here; else nothing (the plan is saved on its own)."""
        model, shown = self.context.disc, self.primary
        plan = self.context.plan.plan
        if (model is None or shown is None or model.volume.series_instance_uid != shown.volume.series_instance_uid
                or plan.study.study_instance_uid != shown.loaded.headers[0].study_instance_uid):
            return None
        from planner.plan.evidence import write_evidence

        return write_evidence(plan_path, model, shown.loaded.headers)

    def open_plan(self, path: str, on_done=None) -> PlanSession | None:
        """Open a plan file; a broken one is reported (naming the field) and left untouched."""
        try:
            if is_dicom(path):  # a plan report (SR) from PACS or an export folder
                from planner.export.sr import plan_from_sr_file

                session = PlanSession(plan_from_sr_file(path), self.context.undo_stack)
            else:
                session = PlanSession.open(path, self.context.undo_stack)
        except PlannerError as error:
            dialogs.show_error(self, str(error))
            return None
        self._attach_anatomy(session, on_done)
        return session

    def _attach_anatomy(self, session: PlanSession, on_done=None) -> None:
        self._use_plan(session)
        self.plan_dock.raise_()
        model = self.context.disc
        same_world = (
            model is not None
            and self.primary is not None
            and session.plan.study.frame_of_reference_uid in ("", self.primary.volume.frame_of_reference_uid)
        )
        if not same_world:
            self.status_text.setText("Plan opened; open and analyse its study to see the safety distances")
            if on_done:
                on_done(session)
            return
        study = self.study_session()  # the safety anatomy from the study's MR series, as everywhere else

        def done(result) -> None:
            anatomy, notes = result
            if self.context.plan is session:
                session.set_anatomy(anatomy)
                self.reopen_notes = notes
                if notes:  # the images changed since the save, or the disc shown is not the saved one
                    self.status_text.setText(f"Note: {notes[0]}")
                    if IMAGES_CHANGED in notes[0]:
                        dialogs.show_error(self, f"{session.path}: {notes[0]}.")
            if on_done:
                on_done(session)

        task = Task(study.reopen, model.analysis, str(session.path) if session.path else "")
        self.run_task(task, "Estimating the safety anatomy...", done)

    def export_source(self) -> ExportSource | None:
        """The current plan with the images, disc mask and numbers it was planned on (None: say what is missing)."""
        session = self.context.plan
        if session is None or self.primary is None:
            dialogs.show_error(self, "Nothing to export: open a study and make or open a plan first.")
            return None
        plan = session.plan
        try:
            source = self.study_session().export_source(instances=self.db.instances)
        except PlannerError as error:
            dialogs.show_error(self, str(error))
            return None
        if not plan.approved and QMessageBox.question(
            self, "Export a draft",
            f"This plan is a draft (v{plan.version}, not approved). Export it anyway, marked as a draft?",
            QMessageBox.Yes | QMessageBox.No, QMessageBox.No,
        ) != QMessageBox.Yes:
            return None
        return source

    def send_plan_to_pacs(self, node: network.PacsNode | None = None, on_done=None):
        """One action: build the export and send it to the first configured PACS (folder export when none)."""
        if node is None:
            nodes = network.load_nodes()
            if not nodes:
                self.status_text.setText("No PACS configured: exporting to a folder (PACS > PACS settings to add one)")
                return self.export_plan_to_folder(on_done=on_done)
            node = nodes[0]
        source = self.export_source()
        if source is None:
            return None

        def done(result) -> None:
            bundle, _folder, summary = result
            self._update_outbox_button()
            if summary.failed:
                dialogs.show_error(self, f"{summary.sent} of {summary.sent + summary.failed} objects reached {node.label}; the "
                                 f"rest stay in the outbox and are retried: {'; '.join(summary.reasons)}")
            else:
                self.status_text.setText(f"Plan v{bundle.plan.version} sent to {node.label}: {summary.sent} objects "
                                         "in the patient's study")
            if on_done:
                on_done(result)

        return self.run_task(Task(export_to, source, None, node, self.outbox),
                             f"Exporting the plan and sending it to {node.label}...", done)

    def export_plan_to_folder(self, folder: str | None = None, on_done=None):
        source = self.export_source()
        if source is None:
            return None
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Export plan to folder (DICOMDIR)")
            if not folder:
                return None

        def done(result) -> None:
            _bundle, written, _summary = result
            self.status_text.setText(f"Plan exported: {written.dicomdir} and {written.pdf.name}")
            if on_done:
                on_done(result)

        return self.run_task(Task(export_to, source, folder), "Exporting the plan...", done)

    def retry_outbox(self, on_done=None) -> None:
        """Send what is due in the outbox, in the background (the timer's work; quiet unless it fails)."""
        if self.outbox.pending_count() == 0:
            return

        def done(summary) -> None:
            self._update_outbox_button()
            if on_done:
                on_done(summary)

        self.run_task(Task(self.outbox.process), "Sending queued objects to PACS...", done,
                      lambda message: self._update_outbox_button())

    def _update_outbox_button(self) -> None:
        waiting = self.outbox.pending_count()
        self.outbox_button.setText(f"Outbox: {waiting} waiting" if waiting else "")
        self.outbox_button.setVisible(bool(waiting))

    def show_outbox(self) -> None:
        from ui.pacs_dialogs import OutboxDialog

        OutboxDialog(self.outbox, self.run_task, self).exec()
        self._update_outbox_button()

    def _pacs_settings_dialog(self) -> None:
        from ui.pacs_dialogs import PacsSettingsDialog

        PacsSettingsDialog(self.run_task, self).exec()

    def _query_dialog(self) -> None:
        from ui.pacs_dialogs import QueryDialog

        nodes = network.load_nodes()
        if not nodes:
            dialogs.show_error(self, "No PACS configured: add one in PACS > PACS settings.")
            return
        QueryDialog(nodes, self.run_task, self.retrieve_study, self).exec()

    def retrieve_study(self, node: network.PacsNode, study_instance_uid: str, on_done=None):
        """C-GET a study into the user data folder and import it into the study browser, in a worker."""
        from planner.app_paths import data_folder

        folder = data_folder() / "incoming" / study_instance_uid

        def fetch(progress=None, cancel=None):
            files = network.get(node, study_instance_uid, folder, progress=progress, cancel=cancel)
            return files

        def imported(files) -> None:
            self.import_paths([str(folder)], on_done=lambda _report: on_done(len(files)) if on_done else None)

        return self.run_task(Task(fetch), f"Retrieving the study from {node.label}...", imported)

    def _open_plan_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open plan", "", "Plans (*.json *.dcm);;All files (*)")
        if path:
            self.open_plan(path)

    def _approve_dialog(self) -> None:
        session = self.context.plan
        blocked = approval_blocked(self.context.disc, session.plan, session.anatomy)
        if blocked:
            dialogs.show_error(self, blocked)
            return
        name, ok = QInputDialog.getText(self, "Approve plan", "Approved by (name):", text=session.plan.author)
        if ok and name.strip():
            session.document.approve(name.strip())

    def _reopen_dialog(self) -> None:
        session = self.context.plan
        reason, ok = QInputDialog.getText(self, "Reopen plan", "Why is the approved plan reopened?")
        if ok:
            session.document.reopen(default_author(), reason.strip())

    def offer_recovery(self) -> None:
        """After a crash (or a quit with unsaved changes): offer the newest recovery copy of a plan."""
        files = recovery_files()
        if not files:
            return
        newest = files[0]
        answer = QMessageBox.question(
            self,
            "Restore plan",
            f"A plan was not saved when the planner last closed ({newest.name}). Restore it?\n\n"
            "No keeps the copy for later; Discard deletes it.",
            QMessageBox.Yes | QMessageBox.No | QMessageBox.Discard,
            QMessageBox.Yes,
        )
        if answer == QMessageBox.Discard:
            newest.unlink(missing_ok=True)
        elif answer == QMessageBox.Yes:
            try:
                session = PlanSession(load_plan(newest), self.context.undo_stack)
            except PlanFormatError as error:
                dialogs.show_error(self, str(error))
                return
            self._attach_anatomy(session)

