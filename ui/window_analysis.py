"""The main window's L5-S1 analysis: run it (automatically on a sagittal MR series) in a worker with the study's
axial series, frame the views on the disc, re-segment from a clicked seed."""

from __future__ import annotations

import numpy as np

from planner.disc.model import resegment_from_seed
from planner.study.session import StudySession
from planner.viewing.mpr import axial_looking_along, contains, volume_center
from planner.volume import Volume
from ui import dialogs
from ui.worker import Task

DISC_VIEW_HALF_MM = 60.0  # after the analysis the views show the disc with its neighbours, 120 mm high


class AnalysisActions:
    """Mixed into :class:`~ui.main_window.MainWindow`: the disc analysis shown in the findings dock."""

    def _measures_better_on(self, axial: Volume) -> bool:
        """Whether the automatic analysis should run again now that ``axial`` is open beside the sagittal
        series: it measures the displaced material there. Not when the user has corrected the mask."""
        primary = self.primary.volume if self.primary is not None else None
        if axial.orientation not in ("AX", "OBL") or primary is None or (primary.modality, primary.orientation) != ("MR", "SAG"):
            return False
        model = self.context.disc
        if model is None:
            return self._analysis_task is not None  # one is running, without this series: start it again
        return model.analysis.axial is None and not model.corrected

    def _marked_l5s1(self):
        """Where the user marked L5-S1 for the analysis shown (None when its levels were counted)."""
        model = self.context.disc
        return model.analysis.marked_lps if model is not None else None

    def run_disc_analysis(self, level_shift: int = 0, automatic: bool = False, on_done=None, l5s1_lps=None) -> Task | None:
        """Analyse L5-S1 on the primary series in a worker; the result replaces the shown disc model (undoably
        when one was shown: a level shift can be taken back). ``automatic``: failures go to the panel only.
        ``l5s1_lps``: where the user marked the L5-S1 disc (the levels named from there, not counted)."""
        if self.primary is None:
            if not automatic:
                dialogs.show_error(self, "Open a sagittal MR series first: the levels are counted on it.")
            return None
        volume = self.primary.volume
        self.findings.set_message("Analysing L5-S1...")
        # where the program put the crosshair (not the user): now, or the middle of a series opened beside
        programmed = [self.context.mpr.center.copy()]

        def done(analysis) -> None:
            if not self._analysis_ended(task):
                return  # a newer analysis replaced this one
            if self.primary is None or self.primary.volume is not volume:
                return  # another series was opened meanwhile
            model = session.adopt(analysis)  # its edits on the study's (the window's) undo stack
            old = self.context.disc
            if old is None:
                undo_text = ""
            elif l5s1_lps is not None and old.analysis.marked_lps != analysis.marked_lps:
                undo_text = "Mark L5-S1"
            elif old.analysis.level_shift != level_shift:
                undo_text = "Shift levels"
            else:
                undo_text = "Analyse L5-S1 again"
            self.context.set_disc(model, undo_text=undo_text)
            if self.secondary is not None:
                programmed.append(volume_center(self.secondary.volume))
            if any(np.allclose(self.context.mpr.center, c) for c in programmed):  # go to the disc unless the user moved
                disc_center = analysis.segmentation.frame.center_lps
                measured_on = analysis.axial
                mpr = self.context.mpr
                if measured_on is None and (not mpr.is_oblique or np.allclose(mpr.rotation, self._disc_rotation)):
                    # measured on the sagittal series reformatted in the disc's plane: so is the axial view
                    # (unless the user turned the planes)
                    self._disc_rotation = axial_looking_along(analysis.segmentation.frame.normal)
                    mpr.set_rotation(self._disc_rotation)
                self._go_to_disc(disc_center)
                if measured_on is not None and (self.secondary is None or not contains(self.secondary.volume, disc_center)):
                    # the axial view shows the series the disc was measured on, not a block that misses it
                    self.open_series(measured_on.series_instance_uid, on_done=lambda _loaded: self._go_to_disc(disc_center))
            self.status_text.setText(model.summary())
            if on_done:
                on_done(model)

        def failed(message: str) -> None:
            if not self._analysis_ended(task):
                return
            self.findings.set_message(f"The analysis failed: {message}")
            self.findings.offer_mark(self.context.disc is None)  # the Seed tool can then say where L5-S1 is
            if not automatic:
                dialogs.show_error(self, message)

        # the study session gives the series their roles (the axial ones the displaced material is measured on,
        # sharper lateral margins) by the rule `main.py analyze` follows, so that both report the same figures
        session = self.study_session()
        if self._analysis_task is not None:
            self._analysis_task.cancel()  # its result would be replaced by this one's
        task = Task(session.analyse, level_shift=level_shift, l5s1_lps=l5s1_lps)
        self._analysis_task = task
        task.signals.cancelled.connect(lambda: self._analysis_ended(task))
        return self.run_task(task, "Analysing L5-S1...", done, on_fail=failed)

    def _go_to_disc(self, disc_center) -> None:
        self.context.mpr.set_center(disc_center)
        for view in self.slice_views.values():
            view.frame_on(disc_center, DISC_VIEW_HALF_MM)

    def study_session(self) -> StudySession:
        """The headless session of the primary series' study (its series from the database), with the series on
        screen lent to it, worked on by the views (``context.study``); made again when another series becomes
        the primary one."""
        primary = self.primary
        key = (primary.volume.series_instance_uid, id(primary.volume))
        if self._study_key != key:
            headers = primary.loaded.headers
            study = StudySession.from_database(self.db, headers[0].study_instance_uid, undo=self.context.undo_stack)
            study.use_volume(primary.volume, headers)
            study.sagittal_uid = primary.volume.series_instance_uid
            self._study_key = key
            self.context.set_study(study)
        study = self.context.study
        if self.secondary is not None:
            study.use_volume(self.secondary.volume, self.secondary.loaded.headers)
        return study

    def _analysis_ended(self, task: Task) -> bool:
        """Forget ``task`` as the running analysis; False when a newer one had already replaced it."""
        if task is not self._analysis_task:
            return False
        self._analysis_task = None
        return True

    def resegment_from_seed(self, point_lps, on_done=None) -> Task | None:
        """Segment the disc again from a point clicked inside it (seed tool), in a worker; undoable. With no
        analysis, after one failed: the clicked disc is L5-S1 and the levels are named from it (to be
        confirmed)."""
        model = self.context.disc
        if model is None and self.findings.mark_offered:
            return self.run_disc_analysis(0, on_done=on_done, l5s1_lps=tuple(float(v) for v in point_lps))
        if model is None:
            self.status_text.setText("No L5-S1 analysis to re-segment: run Spine > Analyse L5-S1 first")
            return None

        def done(segmentation) -> None:
            if self.context.disc is model:
                model.replace_segmentation(segmentation)
                self.status_text.setText("; ".join(segmentation.warnings) or "Disc segmented from the clicked point")
            if on_done:
                on_done(segmentation)

        task = Task(resegment_from_seed, model.analysis, np.asarray(point_lps, float))
        return self.run_task(task, "Segmenting from the clicked point...", done)

