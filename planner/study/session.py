"""One study, headless: its series and their roles, the disc analysis, the safety anatomy, the plan (issue 25).

    session = StudySession.from_path("study/")          # or .from_database(db, study_uid)
    analysis = session.analyse(level_shift=0)           # the levels, the L5-S1 disc and its bulge
    session.set_disc(session.adopt(analysis))           # the analysis the user corrects (undoable edits)
    anatomy = session.build_anatomy(analysis)           # bone, crests, sac and roots from the study's MR series
    ref = session.study_ref(analysis)                   # how a plan names the series it stood on
    session.set_plan(PlanSession(plan, session.undo, anatomy=anatomy))
    source = session.export_source()                    # what an export of the plan needs

`main.py analyze` and `main.py plan`, the workstation's analysis and plan, and an
export that must recompute all go through this object, so that one study gives
the same numbers wherever it is opened. Series are loaded when first needed
and kept; a series that cannot be loaded is left out with a sentence in
:attr:`warnings`. The session owns the disc model the user corrects (its level
confirmation included) and the plan being edited; listeners hear ``"disc"`` and
``"plan"`` when another one takes their place. Slow calls are safe from one
worker thread at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

from planner.dicom.header import InstanceHeader
from planner.dicom.loader import load_series, read_path_series
from planner.disc import segmenters
from planner.errors import AnalysisError, PlannerError
from planner.observable import Observable
from planner.progress import CancelToken, ProgressCallback
from planner.study.roles import SeriesRoles, assign_roles, series_name
from planner.undo import UndoStack
from planner.volume import Volume


class StudySession(Observable):
    def __init__(self, series: Mapping[str, Sequence[InstanceHeader]], study_path: str = "",
                 rejected: Sequence[tuple[str, str]] = (), undo: UndoStack | None = None) -> None:
        self.series = {uid: list(headers) for uid, headers in series.items() if headers}
        self.study_path = str(study_path)
        #: (path, reason) of files under the study's folder that are not DICOM images
        self.rejected = list(rejected)
        self._sagittal_uid: str | None = None
        self._roles: SeriesRoles | None = None
        #: the one undo stack of the study's edits (the workstation shares its own)
        self.undo = undo if undo is not None else UndoStack()
        #: the analysis the user corrects (:class:`~planner.disc.model.DiscModel`), and the plan being edited
        #: (:class:`~planner.plan.session.PlanSession`)
        self.disc = None
        self.plan = None
        self._volumes: dict[str, Volume] = {}
        self._load_warnings: dict[str, str] = {}
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ making one

    @classmethod
    def from_path(cls, path, undo: UndoStack | None = None) -> "StudySession":
        """Every DICOM file under ``path`` (a folder, a file, an archive) as one study."""
        series, rejected = read_path_series(path)
        return cls(series, str(path), rejected, undo)

    @classmethod
    def from_database(cls, db, study_instance_uid: str, undo: UndoStack | None = None) -> "StudySession":
        """One study of the study database (headers only; pixels are read when a series is needed)."""
        return cls({uid: db.instances(uid) for uid in db.series_uids(study_instance_uid)}, undo=undo)

    # ------------------------------------------------------------------ what the user works on

    def adopt(self, analysis):
        """A :class:`~planner.disc.model.DiscModel` of ``analysis`` whose edits go on the study's undo stack."""
        from planner.disc.model import DiscModel

        return DiscModel(analysis, self.undo)

    def set_disc(self, model) -> None:
        """Make ``model`` the study's disc analysis (None: none); listeners hear ``"disc"``."""
        if model is not self.disc:
            self.disc = model
            self._notify("disc")

    def set_plan(self, plan_session) -> None:
        """Make ``plan_session`` the plan being edited (None: none); listeners hear ``"plan"``."""
        if plan_session is not self.plan:
            self.plan = plan_session
            self._notify("plan")

    # ------------------------------------------------------------------ series

    @property
    def sagittal_uid(self) -> str | None:
        """The series the user chose to analyse (None: the rule's choice)."""
        return self._sagittal_uid

    @sagittal_uid.setter
    def sagittal_uid(self, uid: str | None) -> None:
        self._sagittal_uid, self._roles = uid, None

    @property
    def roles(self) -> SeriesRoles:
        """The series' roles (:func:`~planner.study.roles.assign_roles`), judged once per set of series."""
        if self._roles is None:
            self._roles = assign_roles(self.series, self._sagittal_uid)
        return self._roles

    @property
    def warnings(self) -> list[str]:
        """A sentence for each MR series of the study that is not used, and why."""
        roles = self.roles
        return list(dict.fromkeys(roles.warnings() + list(self._load_warnings.values())))

    def use_volume(self, volume: Volume, headers: Sequence[InstanceHeader] | None = None) -> None:
        """A series already loaded elsewhere (the workstation's open series): kept instead of read again."""
        with self._lock:
            uid = volume.series_instance_uid
            if headers and uid not in self.series:
                self.series[uid] = list(headers)
                self._roles = None
            self._volumes[uid] = volume

    def volume(self, uid: str) -> Volume | None:
        """The series' volume, loaded once; None (and a sentence in :attr:`warnings`) when it cannot be."""
        with self._lock:
            if uid in self._volumes:
                return self._volumes[uid]
            if uid in self._load_warnings or uid not in self.series:
                return None
            headers = self.series[uid]
            try:
                loaded = load_series(headers)
            except PlannerError as exc:
                self._load_warnings[uid] = f"MR series '{series_name(headers)}' not used: {exc}"
                return None
            if not loaded.volumes:
                self._load_warnings[uid] = f"MR series '{series_name(headers)}' not used: it holds no volume"
                return None
            self._volumes[uid] = loaded.volumes[0]
            return loaded.volumes[0]

    def sagittal(self) -> Volume:
        """The analysed series' volume; :class:`AnalysisError` says why there is none."""
        uid = self.roles.sagittal
        if uid is None:
            raise AnalysisError(f"{self.study_path or 'the study'}: no sagittal MR series (at least 5 slices) "
                                "to find the levels on")
        volume = self.volume(uid)
        if volume is None:
            raise AnalysisError(f"{self.study_path or 'the study'}: {self._load_warnings[uid]}")
        return volume

    # ------------------------------------------------------------------ analysis and anatomy

    def analyse(self, level_shift: int = 0, segmenter: "str | segmenters.Segmenter" = segmenters.DEFAULT,
                progress: ProgressCallback | None = None, cancel: CancelToken | None = None, l5s1_lps=None):
        """The L5-S1 analysis of the sagittal series, its displacement measured on the study's axial series
        through the disc; ``l5s1_lps``: where the user marked the L5-S1 disc (the levels named from there).
        :class:`~planner.errors.DiscAnalysisError` says what was not found."""
        from planner.disc.model import analyze_volume

        volume = self.sagittal()
        roles = self.roles
        with self._lock:
            loaded = [self._volumes[uid] for uid in roles.axials if uid in self._volumes]
            lazy = [self.series[uid] for uid in roles.axials if uid not in self._volumes]
        analysis = analyze_volume(volume, level_shift=level_shift, segmenter=segmenter, progress=progress,
                                  cancel=cancel, axials=loaded, axial_headers=lazy, l5s1_lps=l5s1_lps)
        if analysis.axial is not None:
            self.use_volume(analysis.axial)  # loaded for the measurement: kept for the safety anatomy
        return analysis

    def anatomy_volumes(self) -> list[Volume]:
        """The study's other MR volumes in the analysed series' world: the safety anatomy's inputs."""
        return [v for uid in self.roles.anatomy if (v := self.volume(uid)) is not None]

    def build_anatomy(self, analysis, progress: ProgressCallback | None = None, cancel: CancelToken | None = None):
        from planner.plan.anatomy import build_anatomy

        return build_anatomy(analysis, self.anatomy_volumes(), progress=progress, cancel=cancel)

    def reopen(self, analysis, plan_path, progress: ProgressCallback | None = None, cancel: CancelToken | None = None):
        """For a worker, when a saved plan is opened on this study: (its safety anatomy, what its evidence says:
        the images changed since the save, or the disc shown is not the one saved with the plan)."""
        from planner.plan.evidence import read_evidence, reopen_notes

        anatomy = self.build_anatomy(analysis, progress=progress, cancel=cancel)
        if not plan_path:
            return anatomy, []
        try:
            evidence = read_evidence(plan_path)
        except PlannerError as error:
            return anatomy, [str(error)]
        volume = self.sagittal()
        mask = self.disc.segmentation.series_mask(volume) if self.disc is not None else None
        return anatomy, reopen_notes(plan_path, evidence, volume, mask)

    def axial_series(self, analysis) -> list[str]:
        """The axial series whose slices pass through the L5-S1 disc, the one its displacement was measured on
        first (judged by their headers: none is loaded for this)."""
        from planner.disc.model import slices_cross

        centre = analysis.levels.level("L5-S1").center_lps
        measured = analysis.axial.series_instance_uid if analysis.axial is not None else ""
        through = [uid for uid in self.roles.axials if slices_cross(self.series[uid], centre)]
        return sorted(through, key=lambda uid: uid != measured)

    def export_source(self, instances=None):
        """What an export of the plan being edited needs: the analysed series, the disc mask as corrected, the
        numbers on the live safety anatomy, the finding. ``instances(series_uid)`` finds the plan's ultrasound
        image. :class:`~planner.errors.ExportError` says why there is nothing to export (no plan; another
        study; a level nobody has settled)."""
        from planner.errors import ExportError
        from planner.export.bundle import make_export_source
        from planner.plan.planning import level_blocked

        plan_session, disc_model = self.plan, self.disc
        if plan_session is None:
            raise ExportError("nothing to export: make or open a plan first")
        plan = plan_session.plan
        volume = self.sagittal()
        headers = self.series[self.roles.sagittal]
        if headers[0].study_instance_uid != plan.study.study_instance_uid:
            raise ExportError("the plan belongs to another study than the one open: open its study to export it")
        blocked = level_blocked(disc_model, plan)
        if blocked:
            raise ExportError(blocked)
        mask = disc_model.segmentation.series_mask(volume) if disc_model is not None else None
        metrics = {t.id: m.as_dict() for t in plan.trajectories if (m := plan_session.metrics(t.id)) is not None}
        warnings = list(plan_session.anatomy.warnings) if plan_session.anatomy is not None else []
        warnings += [w for m in metrics.values() for w in m["warnings"]]
        analysis = disc_model.finding.as_dict() if disc_model is not None else None
        return make_export_source(plan, volume, headers, mask, metrics, warnings, analysis, instances=instances)

    def study_ref(self, analysis):
        """How a plan refers to this study: the sagittal series analysed and the axial one measured on."""
        from planner.plan.planning import study_ref

        axials = self.axial_series(analysis)
        others = [("axial", self.series[axials[0]])] if axials else []
        return study_ref(self.series[self.roles.sagittal], others, self.study_path)
