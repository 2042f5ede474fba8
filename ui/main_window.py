"""The main window: study browser, view layouts (MPR, 3D, ultrasound), measurements, long work in workers.

Where things are:
- study browser (left dock): :meth:`MainWindow.refresh_browser`, thumbnails in a background task;
- views (centre): three :class:`~ui.render.slice_view.SliceView`, one
  :class:`~ui.render.scene_view.SceneView`, one :class:`~ui.cine_view.CineView`,
  arranged by :meth:`MainWindow.set_layout`;
- what the views share: :class:`~ui.context.ViewerContext` (crosshair, measurements, undo stack, tool);
- measurements (right dock): :class:`~ui.measurement_panel.MeasurementPanel`;
- the L5-S1 analysis (right dock, beside measurements): :class:`~ui.findings_widget.FindingsWidget`,
  run by :meth:`MainWindow.run_disc_analysis` (automatically when a sagittal MR series is opened);
- the injection plan (right dock): :class:`~ui.plan_panel.PlanPanel` over the context's
  :class:`~planner.plan_session.PlanSession`; :meth:`MainWindow.suggest_plan`,
  :meth:`MainWindow.open_plan`, :meth:`MainWindow.save_plan`, :meth:`MainWindow.offer_recovery`.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, QSize, QThreadPool, QTimer, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QIcon, QImage, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QGridLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from planner.database import StudyDatabase
from planner.disc_model import DiscModel, analyze_volume, resegment_from_seed
from planner.display import PRESETS, WindowLevel, auto_window, window_preset
from planner.importer import ImportReport, import_paths
from planner.loader import LoadedSeries, load_series
from planner.errors import PlanFormatError, PlannerError
from planner.export.bundle import ExportSource, export_to, make_export_source
from planner.pacs import network
from planner.pacs.outbox import Outbox
from planner.mpr import View, axial_looking_along, contains, volume_center
from planner.plan_session import PlanSession
from planner.plan_store import load_plan, recovery_files
from planner.plan import SIDED
from planner.planning import anatomy_and_suggestion, default_author, draft_plan, level_blocked, plan_side, study_ref
from planner.series_index import summarize
from planner.thumbnails import series_thumbnail
from planner.volume import Volume
from ui import gc_guard
from ui.cine_view import CineView
from ui.context import TOOLS, ViewerContext
from ui.findings_widget import FindingsWidget
from ui.measurement_panel import MeasurementPanel
from ui.plan_panel import PlanPanel
from ui.render.scene_view import SceneView
from ui.render.slice_view import SliceView
from ui.render.vtk_image import VtkVolume
from ui.snapshot import widget_image
from ui.worker import Task

DISC_VIEW_HALF_MM = 60.0  # after the analysis the views show the disc with its neighbours, 120 mm high
LAYOUTS = {"1x1": "One view", "1x3": "Three MPR views", "2x2": "MPR + 3D", "mr+us": "MR beside ultrasound"}
TOOL_LABELS = {
    "crosshair": "Crosshair",
    "window": "Window/level",
    "pan": "Pan",
    "zoom": "Zoom",
    "rotate": "Rotate planes",
    "distance": "Distance",
    "angle": "Angle",
    "seed": "Disc seed",
    "brush": "Brush",
    "eraser": "Eraser",
    "us-needle": "US needle",
}


class _Shown:
    """A volume on screen: its VTK image and the window shared by the views showing it."""

    def __init__(self, loaded: LoadedSeries) -> None:
        self.loaded = loaded
        self.volume = loaded.volumes[0]
        self.layer = VtkVolume(self.volume)
        sample = self.volume.array[:, ::4, ::4]
        self.window = WindowLevel(*auto_window(sample))


class MainWindow(QMainWindow):
    """Observes the study database and the viewer context; every slow call runs in a :class:`~ui.worker.Task`."""

    series_shown = Signal(object)

    def __init__(self, db: StudyDatabase, layout: str | None = None, settings: QSettings | None = None) -> None:
        super().__init__()
        gc_guard.install(QApplication.instance())  # workers never finalise GUI objects
        self.db = db
        self.settings = settings or QSettings("SpineInjectionPlanner", "Workstation")
        self.setWindowTitle("Spine Injection Planner")
        self.resize(1500, 900)
        self._tasks: set[Task] = set()
        self._analysis_task: Task | None = None  # the running L5-S1 analysis: a newer one replaces it
        self._disc_rotation = np.eye(3)  # the plane rotation the last analysis set (onto its disc)
        self._current_task: Task | None = None  # the task on the status bar: the newest running
        self._task_progress: dict[Task, tuple[int, int, str]] = {}  # running tasks, oldest first: done, total, text
        self.context = ViewerContext()
        self.primary: _Shown | None = None
        self.secondary: _Shown | None = None

        # views: created once, arranged by set_layout
        self.slice_views = {view: SliceView(view, self.context) for view in (View.AXIAL, View.SAGITTAL, View.CORONAL)}
        self.scene_view = SceneView(self.context)
        self.cine_view = CineView(self.context)
        for view in self.slice_views.values():
            view.cursor_moved.connect(self._show_cursor)
        self.cine_view.canvas.cursor_moved.connect(self._show_us_cursor)
        self.view_area = QWidget()
        self.grid = QGridLayout(self.view_area)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(2)
        self.setCentralWidget(self.view_area)

        self._build_browser()
        self.measurement_panel = MeasurementPanel(self.context, self._regions_for)
        dock = QDockWidget("Measurements", self)
        dock.setObjectName("measurements")
        dock.setWidget(self.measurement_panel)
        self.addDockWidget(Qt.RightDockWidgetArea, dock)
        self.measurement_dock = dock
        self.findings = FindingsWidget(self.context)
        self.findings.analyse_requested.connect(lambda shift: self.run_disc_analysis(shift))
        self.findings_dock = self._scrolled_dock("L5-S1 disc", "findings", self.findings, self.measurement_dock)
        self.context.seed_clicked.connect(self.resegment_from_seed)
        self.plan_panel = PlanPanel(self.context)
        self.plan_panel.suggest_requested.connect(lambda procedure, side: self.suggest_plan(procedure, side or None))
        self.plan_panel.align_requested.connect(self.align_views_to_needle)
        self.plan_panel.approve_requested.connect(self._approve_dialog)
        self.plan_panel.reopen_requested.connect(self._reopen_dialog)
        self.plan_panel.save_requested.connect(lambda: self.save_plan())
        self.plan_panel.open_requested.connect(self._open_plan_dialog)
        self.plan_panel.send_requested.connect(lambda: self.send_plan_to_pacs())
        self.plan_panel.error.connect(lambda message: self.status_text.setText(message))
        self.cine_view.approach_failed.connect(lambda message: show_error(self, message))
        self.plan_dock = self._scrolled_dock("Plan", "plan", self.plan_panel, self.findings_dock)
        self.findings_dock.raise_()

        self.outbox = Outbox()
        self._build_status_bar()
        self._build_actions()
        self.setAcceptDrops(True)
        self._outbox_timer = QTimer(self)
        self._outbox_timer.setInterval(60_000)  # retry what a PACS has not confirmed (each item has its back-off)
        self._outbox_timer.timeout.connect(self.retry_outbox)
        self._outbox_timer.start()

        self.layout_name = ""
        self.set_layout(layout or str(self.settings.value("layout", "2x2")))
        geometry = self.settings.value("geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        state = self.settings.value("state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        self.refresh_browser()

    # ------------------------------------------------------------ construction

    def _scrolled_dock(self, title: str, name: str, widget: QWidget, beside: QDockWidget) -> QDockWidget:
        """A right-hand dock holding ``widget`` in a vertical scroll area, as a tab beside ``beside``."""
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        scroll = QScrollArea()
        scroll.setWidget(widget)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        dock.setWidget(scroll)
        self.addDockWidget(Qt.RightDockWidgetArea, dock)
        self.tabifyDockWidget(beside, dock)
        return dock

    def _build_browser(self) -> None:
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter: patient, description, modality...")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self._apply_filter)
        self.browser = QTreeWidget()
        self.browser.setHeaderLabels(["Study / series", "Modality", "Kind", "Images", "Frames"])
        self.browser.setColumnWidth(0, 250)
        self.browser.setIconSize(QSize(48, 48))
        self.browser.itemDoubleClicked.connect(self._open_item)
        panel = QWidget()
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.filter_edit)
        layout.addWidget(self.browser, 1)
        dock = QDockWidget("Studies", self)
        dock.setObjectName("studies")
        dock.setWidget(panel)
        self.addDockWidget(Qt.LeftDockWidgetArea, dock)
        self.browser_dock = dock

    def _build_status_bar(self) -> None:
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self._cancel)
        self.status_text = QLabel("")
        self.cursor_text = QLabel("")
        self.cursor_text.setMinimumWidth(380)
        self.outbox_button = QPushButton("")
        self.outbox_button.setFlat(True)
        self.outbox_button.clicked.connect(self.show_outbox)
        self.statusBar().addWidget(self.status_text, 1)
        self.statusBar().addPermanentWidget(self.outbox_button)
        self._update_outbox_button()
        self.statusBar().addPermanentWidget(self.cursor_text)
        self.statusBar().addPermanentWidget(self.progress)
        self.statusBar().addPermanentWidget(self.cancel_button)

    def _build_actions(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction("Import folder...", self._import_folder_dialog)
        file_menu.addAction("Import files...", self._import_files_dialog)
        file_menu.addSeparator()
        file_menu.addAction("Export view as PNG...", lambda: self._export_dialog(True))
        file_menu.addAction("Export view as PNG without annotations...", lambda: self._export_dialog(False))
        file_menu.addSeparator()
        file_menu.addAction("Quit", QKeySequence.Quit, self.close)

        edit_menu = self.menuBar().addMenu("&Edit")
        self.undo_action = edit_menu.addAction("Undo", QKeySequence("Ctrl+Z"), self.context.undo_stack.undo)
        self.redo_action = edit_menu.addAction("Redo", QKeySequence("Ctrl+Shift+Z"), self.context.undo_stack.redo)
        edit_menu.addAction("Delete measurement", QKeySequence.Delete, self.measurement_panel.delete_selected)
        self.context.undo_stack.subscribe(self._update_undo_actions)
        self._update_undo_actions()

        toolbar = self.addToolBar("Tools")
        toolbar.setObjectName("tools")
        self.tool_actions: dict[str, QAction] = {}
        group = QActionGroup(self)
        for tool in TOOLS:
            action = QAction(TOOL_LABELS[tool], self, checkable=True)
            action.triggered.connect(lambda _checked, t=tool: self.context.set_tool(t))
            group.addAction(action)
            toolbar.addAction(action)
            self.tool_actions[tool] = action
        self.tool_actions["crosshair"].setChecked(True)
        self.context.tool_changed.connect(lambda t: self.tool_actions[t].setChecked(True))
        toolbar.addSeparator()
        self.preset_box = QComboBox()
        self.preset_box.addItems(PRESETS)
        self.preset_box.setToolTip("Window preset")
        self.preset_box.activated.connect(lambda _i: self.apply_preset(self.preset_box.currentText()))
        toolbar.addWidget(self.preset_box)
        self.layout_box = QComboBox()
        for key, label in LAYOUTS.items():
            self.layout_box.addItem(label, key)
        self.layout_box.activated.connect(lambda _i: self.set_layout(self.layout_box.currentData()))
        toolbar.addWidget(self.layout_box)

        view_menu = self.menuBar().addMenu("&View")
        self.annotations_action = view_menu.addAction("Show annotations")
        self.annotations_action.setCheckable(True)
        self.annotations_action.setChecked(True)
        self.annotations_action.setShortcut(QKeySequence("Ctrl+T"))
        self.annotations_action.toggled.connect(self.context.set_annotations)
        view_menu.addAction("Reset views", QKeySequence("Ctrl+R"), self.reset_views)
        view_menu.addAction("Reset plane rotation", self.context.mpr.reset_rotation)
        view_menu.addSeparator()
        for key, label in LAYOUTS.items():
            view_menu.addAction(label, lambda k=key: self.set_layout(k))
        view_menu.addSeparator()
        view_menu.addAction(self.browser_dock.toggleViewAction())
        view_menu.addAction(self.measurement_dock.toggleViewAction())
        view_menu.addAction(self.findings_dock.toggleViewAction())
        view_menu.addAction(self.plan_dock.toggleViewAction())

        spine_menu = self.menuBar().addMenu("&Spine")
        spine_menu.addAction("Analyse L5-S1", QKeySequence("Ctrl+L"), lambda: self.run_disc_analysis(0))
        spine_menu.addAction("Smooth disc", self.findings.smooth_disc)
        spine_menu.addAction("Confirm levels", self.findings.confirm_levels)

        plan_menu = self.menuBar().addMenu("&Plan")
        plan_menu.addAction(
            "Suggest plan", QKeySequence("Ctrl+P"),
            lambda: self.suggest_plan(self.plan_panel.procedure_box.currentData(), self.plan_panel.side_box.currentData() or None),
        )
        plan_menu.addAction("Open plan...", QKeySequence("Ctrl+O"), self._open_plan_dialog)
        plan_menu.addAction("Save plan", QKeySequence("Ctrl+S"), lambda: self.save_plan())
        plan_menu.addAction("Save plan as...", lambda: self.save_plan(ask=True))
        plan_menu.addSeparator()
        plan_menu.addAction("Views along the needle", lambda: self.align_views_to_needle(self.context.selected_trajectory or ""))
        plan_menu.addAction("Approve or reopen...", self.plan_panel._approve_or_reopen)

    # ------------------------------------------------------------ layouts

        pacs_menu = self.menuBar().addMenu("P&ACS")
        pacs_menu.addAction("Send plan to PACS", QKeySequence("Ctrl+Shift+E"), lambda: self.send_plan_to_pacs())
        pacs_menu.addAction("Export plan to folder (DICOMDIR + PDF)...", lambda: self.export_plan_to_folder())
        pacs_menu.addSeparator()
        pacs_menu.addAction("Query and retrieve...", self._query_dialog)
        pacs_menu.addAction("Outbox...", self.show_outbox)
        pacs_menu.addAction("PACS settings...", self._pacs_settings_dialog)

    def set_layout(self, name: str) -> None:
        """Arrange the views: "1x1", "1x3", "2x2" (three MPR + 3D) or "mr+us"."""
        if name not in LAYOUTS:
            name = "2x2"
        axial, sagittal, coronal = (self.slice_views[v] for v in (View.AXIAL, View.SAGITTAL, View.CORONAL))
        main_view = self._main_slice_view()
        placements = {
            "1x1": [(main_view, 0, 0)],
            "1x3": [(axial, 0, 0), (sagittal, 0, 1), (coronal, 0, 2)],
            "2x2": [(axial, 0, 0), (sagittal, 0, 1), (coronal, 1, 0), (self.scene_view, 1, 1)],
            "mr+us": [(main_view, 0, 0), (self.cine_view, 0, 1)],
        }[name]
        for widget in (*self.slice_views.values(), self.scene_view, self.cine_view):
            self.grid.removeWidget(widget)
            widget.hide()
        for row in range(3):
            self.grid.setRowStretch(row, 0)
            self.grid.setColumnStretch(row, 0)
        for widget, row, column in placements:
            self.grid.addWidget(widget, row, column)
            self.grid.setRowStretch(row, 1)
            self.grid.setColumnStretch(column, 1)
            widget.show()
        self.layout_name = name
        self.layout_box.setCurrentIndex(list(LAYOUTS).index(name))
        self.settings.setValue("layout", name)
        for widget, _, _ in placements:
            if isinstance(widget, SliceView):
                widget.refresh()

    def _main_slice_view(self) -> SliceView:
        """The view in the acquisition plane of the primary series (sagittal for a spine study)."""
        if self.primary is not None:
            label = self.primary.volume.orientation
            return self.slice_views[{"AX": View.AXIAL, "COR": View.CORONAL}.get(label, View.SAGITTAL)]
        return self.slice_views[View.SAGITTAL]

    def visible_views(self) -> list[QWidget]:
        return [w for w in (*self.slice_views.values(), self.scene_view, self.cine_view) if w.isVisible()]

    def reset_views(self) -> None:
        for view in self.slice_views.values():
            view.reset_view()
        self.scene_view.reset_view()

    # ------------------------------------------------------------ study browser

    def refresh_browser(self) -> None:
        self.browser.clear()
        missing: list[str] = []
        for study in self.db.studies():
            label = f"{study.study_date or '-'}  {study.description or 'study'}"
            study_item = QTreeWidgetItem([label, "", "", "", ""])
            study_item.setData(0, Qt.UserRole + 1, f"{study.patient_name} {study.patient_id} {label}".lower())
            self.browser.addTopLevelItem(study_item)
            for uid in self.db.series_uids(study.study_instance_uid):
                summary = self.db.series_summary(uid)
                if summary is None:
                    continue
                text = f"{summary.series_number or ''} {summary.description or summary.modality}".strip()
                item = QTreeWidgetItem([text, summary.modality, summary.kind, str(summary.n_instances), str(summary.n_frames)])
                item.setData(0, Qt.UserRole, uid)
                item.setData(0, Qt.UserRole + 1, f"{text} {summary.modality} {summary.kind}".lower())
                thumbnail = self.db.thumbnail(uid)
                if thumbnail is not None:
                    item.setIcon(0, _icon(thumbnail))
                elif summary.is_image:
                    missing.append(uid)
                study_item.addChild(item)
            study_item.setExpanded(True)
        self._apply_filter(self.filter_edit.text())
        if missing:
            task = Task(self._make_thumbnails, missing)
            task.signals.finished.connect(lambda _r, t=task: (self._tasks.discard(t), self._show_thumbnails()))
            task.signals.failed.connect(lambda _m, t=task: self._tasks.discard(t))  # a preview is optional
            self._tasks.add(task)
            QThreadPool.globalInstance().start(task)

    def _make_thumbnails(self, uids: list[str], progress=None, cancel=None) -> None:
        for uid in uids:
            if cancel is not None and cancel.cancelled:
                return
            try:
                pixels = series_thumbnail(self.db.instances(uid))
            except Exception:  # noqa: BLE001 - an undecodable series just has no preview
                continue
            if pixels is not None:
                self.db.set_thumbnail(uid, pixels)

    def _show_thumbnails(self) -> None:
        for n in range(self.browser.topLevelItemCount()):
            study = self.browser.topLevelItem(n)
            for m in range(study.childCount()):
                item = study.child(m)
                if item.icon(0).isNull():
                    thumbnail = self.db.thumbnail(item.data(0, Qt.UserRole))
                    if thumbnail is not None:
                        item.setIcon(0, _icon(thumbnail))

    def _apply_filter(self, text: str) -> None:
        words = text.lower().split()
        for n in range(self.browser.topLevelItemCount()):
            study = self.browser.topLevelItem(n)
            study_text = study.data(0, Qt.UserRole + 1) or ""
            any_shown = False
            for m in range(study.childCount()):
                item = study.child(m)
                haystack = f"{study_text} {item.data(0, Qt.UserRole + 1)}"
                shown = all(w in haystack for w in words)
                item.setHidden(not shown)
                any_shown |= shown
            study.setHidden(not any_shown)

    def _open_item(self, item: QTreeWidgetItem) -> None:
        uid = item.data(0, Qt.UserRole)
        if uid:
            self.open_series(uid)

    # ------------------------------------------------------------------- tasks

    def run_task(self, task: Task, text: str, on_done, on_fail=None) -> Task:
        """Run ``task`` in the pool with the progress bar and Cancel button; ``on_fail(message)`` replaces the
        error dialog. The bar shows the newest running task; when it ends, the one started before it."""
        self._tasks.add(task)
        self._task_progress[task] = (0, 0, text)
        self._show_task(task)

        def finish(result):
            self._end_task(task)
            if self._current_task is None:
                self.status_text.setText("Ready")
            on_done(result)  # may replace "Ready" with its own message

        def fail(message):
            self._end_task(task)
            self.status_text.setText("Failed: see the message")
            (on_fail or (lambda text: show_error(self, text)))(message)

        def cancelled():
            self._end_task(task)
            if self._current_task is None:
                self.status_text.setText("Cancelled")

        task.signals.progress.connect(lambda done, total, note: self._on_progress(task, done, total, note))
        task.signals.finished.connect(finish)
        task.signals.failed.connect(fail)
        task.signals.cancelled.connect(cancelled)
        QThreadPool.globalInstance().start(task)
        return task

    def _on_progress(self, task: Task, done: int, total: int, text: str) -> None:
        if task not in self._task_progress:
            return  # a late signal of an ended task
        self._task_progress[task] = (done, total, text or self._task_progress[task][2])
        if task is self._current_task:
            self._show_task(task)

    def _show_task(self, task: Task) -> None:
        """Put ``task``'s progress, text and Cancel button on the status bar."""
        self._current_task = task
        done, total, text = self._task_progress[task]
        self.progress.setRange(0, total if total > 0 else 0)
        self.progress.setValue(done)
        self.status_text.setText(text)
        self.progress.show()
        self.cancel_button.show()

    def _end_task(self, task: Task) -> None:
        self._tasks.discard(task)
        self._task_progress.pop(task, None)
        if self._current_task is task:
            if self._task_progress:  # the newest of those still running
                self._show_task(next(reversed(self._task_progress)))
            else:
                self._current_task = None
                self.progress.hide()
                self.cancel_button.hide()

    def _cancel(self) -> None:
        if self._current_task is not None:
            self._current_task.cancel()

    # ------------------------------------------------------------------ import

    def import_paths(self, paths: list[str], on_done=None) -> Task:
        def done(report: ImportReport) -> None:
            self.refresh_browser()
            indexed = report.n_indexed + report.n_unchanged
            self.status_text.setText(f"Imported {indexed} files, {len(report.rejected)} rejected")
            if report.rejected:
                show_import_report(self, report)
            if on_done:
                on_done(report)

        return self.run_task(Task(import_paths, paths, self.db), "Importing...", done)

    def _import_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Import DICOM folder")
        if folder:
            self.import_paths([folder])

    def _import_files_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Import DICOM files or zip archives")
        if files:
            self.import_paths(files)

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt API
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            self.import_paths(paths)

    # ------------------------------------------------------------------- views

    def open_series(self, series_instance_uid: str, on_done=None) -> Task:
        headers = self.db.instances(series_instance_uid)

        def done(loaded: LoadedSeries) -> None:
            self.show_series(loaded)
            if on_done:
                on_done(loaded)

        return self.run_task(Task(load_series, headers), "Loading series...", done)

    def show_series(self, loaded: LoadedSeries) -> None:
        """Put a loaded series on screen.

        The first MR/CT series fills the MPR and 3D views. A second series of
        the same frame of reference in another plane (an axial beside a
        sagittal) replaces the reformat in the view of its plane and snaps to
        its own slices as the crosshair moves. Ultrasound goes to the cine view.
        """
        header = loaded.headers[0]
        if loaded.clips:
            self.cine_view.set_clip(loaded.clips[0])
            if self.layout_name != "mr+us":
                self.set_layout("mr+us")
        else:
            shown = _Shown(loaded)
            volume = shown.volume
            same_world = (
                self.primary is not None
                and volume.frame_of_reference_uid
                and volume.frame_of_reference_uid == self.primary.volume.frame_of_reference_uid
                and volume.orientation != self.primary.volume.orientation
            )
            patient = _patient_text(header)
            if same_world:
                self.secondary = shown
                view = self.slice_views[{"SAG": View.SAGITTAL, "COR": View.CORONAL}.get(volume.orientation, View.AXIAL)]
                view.set_volume(shown.layer, shown.window, native=True, patient_text=patient)
                # Go to the new series (its middle slice); every view redraws where that slice cuts it.
                self.context.mpr.set_center(volume_center(volume))
                for other in self.slice_views.values():
                    other.refresh()
                if self._measures_better_on(volume):
                    model = self.context.disc
                    self.run_disc_analysis(model.analysis.level_shift if model else 0, automatic=True)
            else:
                self.primary, self.secondary = shown, None
                self.context.set_disc(None)
                self.context.mpr.reset_rotation()
                self.context.mpr.set_center(volume_center(volume))
                for view in self.slice_views.values():
                    view.set_volume(shown.layer, shown.window, patient_text=patient)
                self.scene_view.set_volume(shown.layer, shown.window)
                if self.layout_name in ("1x1", "mr+us"):
                    self.set_layout(self.layout_name)  # the main view follows the acquisition plane
                if volume.modality == "MR" and volume.orientation == "SAG" and volume.shape[0] >= 5:
                    self.run_disc_analysis(0, automatic=True)
        for warning in loaded.warnings[:3]:
            self.status_text.setText(f"Note: {warning}")
        self.series_shown.emit(loaded)

    # ---------------------------------------------------------------- L5-S1

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

    def run_disc_analysis(self, level_shift: int = 0, automatic: bool = False, on_done=None) -> Task | None:
        """Analyse L5-S1 on the primary series in a worker; the result replaces the shown disc model (undoably
        when one was shown: a level shift can be taken back). ``automatic``: failures go to the panel only."""
        if self.primary is None:
            if not automatic:
                show_error(self, "Open a sagittal MR series first: the levels are counted on it.")
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
            model = DiscModel(analysis, self.context.undo_stack)
            old = self.context.disc
            if old is None:
                undo_text = ""
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
            if not automatic:
                show_error(self, message)

        # an axial series through L5-S1 measures the displaced material (sharper lateral margins): the one open
        # beside it, else any of the study's, as `main.py analyze` does, so that both report the same figures
        axials = [self.secondary.volume] if self.secondary is not None else []
        if self._analysis_task is not None:
            self._analysis_task.cancel()  # its result would be replaced by this one's
        task = Task(analyze_volume, volume, level_shift=level_shift, axials=axials, axial_headers=self._study_axials())
        self._analysis_task = task
        task.signals.cancelled.connect(lambda: self._analysis_ended(task))
        return self.run_task(task, "Analysing L5-S1...", done, on_fail=failed)

    def _go_to_disc(self, disc_center) -> None:
        self.context.mpr.set_center(disc_center)
        for view in self.slice_views.values():
            view.frame_on(disc_center, DISC_VIEW_HALF_MM)

    def _study_axials(self) -> list[list]:
        """The headers of the primary series' study's other axial MR series in its frame of reference."""
        primary = self.primary.volume
        header = self.primary.loaded.headers[0]
        shown = {primary.series_instance_uid, self.secondary.volume.series_instance_uid if self.secondary else ""}
        if not primary.frame_of_reference_uid:
            return []  # no world shared with any other series
        found = []
        for uid in self.db.series_uids(header.study_instance_uid, "MR", primary.frame_of_reference_uid):
            if uid in shown:
                continue  # the sagittal series itself, and the axial one passed as a volume
            headers = self.db.instances(uid)
            if headers and summarize(headers).orientation in ("AX", "OBL"):
                found.append(headers)
        return found

    def _analysis_ended(self, task: Task) -> bool:
        """Forget ``task`` as the running analysis; False when a newer one had already replaced it."""
        if task is not self._analysis_task:
            return False
        self._analysis_task = None
        return True

    def resegment_from_seed(self, point_lps, on_done=None) -> Task | None:
        """Segment the disc again from a point clicked inside it (seed tool), in a worker; undoable."""
        model = self.context.disc
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

    # ---------------------------------------------------------------- plan

    def suggest_plan(self, procedure: str, side: str | None = None, on_done=None) -> Task | None:
        """Estimate the safety anatomy and the suggested needle in a worker; show the new draft plan."""
        model = self.context.disc
        if model is None or self.primary is None:
            show_error(self, "Analyse L5-S1 first (Spine > Analyse L5-S1): the plan is built on the disc analysis.")
            return None
        blocked = level_blocked(model)
        if blocked:
            show_error(self, blocked)
            return None
        if not model.finding.reliable and procedure in SIDED and not side:
            show_error(self, "The disc measurement is not reliable, so the side cannot be taken from it: choose the side.")
            return None
        side = plan_side(model.finding, procedure, side)
        others = [self.secondary.volume] if self.secondary is not None else []
        self.plan_panel.status.setText("Estimating bone, iliac crests, thecal sac and roots, searching a safe path...")

        def done(result) -> None:
            anatomy, suggestion, problem = result
            if self.context.disc is not model:
                return
            ref_others = [("axial", self.secondary.loaded.headers)] if self.secondary is not None else []
            ref = study_ref(self.primary.loaded.headers, ref_others)
            plan = draft_plan(ref, model.finding, procedure, side, default_author(), suggestion, level_check=model.level_check())
            self._use_plan(PlanSession(plan, self.context.undo_stack, anatomy=anatomy))
            self.plan_dock.raise_()
            if problem:
                self.plan_panel.status.setText(problem)
                show_error(self, problem)
            else:
                self.status_text.setText(f"Suggested: {suggestion.trajectory.label}; drag its ends to adjust")
                self.align_views_to_needle(suggestion.trajectory.id)
            if on_done:
                on_done(self.context.plan)

        task = Task(anatomy_and_suggestion, model.analysis, others, procedure, side)
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
            axial.set_volume(self.primary.layer, self.primary.window, patient_text=_patient_text(self.primary.loaded.headers[0]))
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
            saved = session.save(path)
        except OSError as error:
            show_error(self, f"{path or session.path}: the plan could not be saved ({error.strerror or error}); it is kept in its recovery copy.")
            return False
        self.status_text.setText(f"Plan saved: {saved.name}")
        self.context.plan_edited.emit()
        return True

    def open_plan(self, path: str, on_done=None) -> PlanSession | None:
        """Open a plan file; a broken one is reported (naming the field) and left untouched."""
        try:
            if _is_dicom(path):  # a plan report (SR) from PACS or an export folder
                from planner.export.sr import plan_from_sr_file

                session = PlanSession(plan_from_sr_file(path), self.context.undo_stack)
            else:
                session = PlanSession.open(path, self.context.undo_stack)
        except PlannerError as error:
            show_error(self, str(error))
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
        from planner.anatomy import build_anatomy

        others = [self.secondary.volume] if self.secondary is not None else []

        def done(anatomy) -> None:
            if self.context.plan is session:
                session.set_anatomy(anatomy)
            if on_done:
                on_done(session)

        self.run_task(Task(build_anatomy, model.analysis, others), "Estimating the safety anatomy...", done)

    # ---------------------------------------------------------------- export and PACS

    def export_source(self) -> ExportSource | None:
        """The current plan with the images, disc mask and numbers it was planned on (None: say what is missing)."""
        session = self.context.plan
        if session is None or self.primary is None:
            show_error(self, "Nothing to export: open a study and make or open a plan first.")
            return None
        plan = session.plan
        if self.primary.loaded.headers[0].study_instance_uid != plan.study.study_instance_uid:
            show_error(self, "The plan belongs to another study than the one shown: open its study to export it.")
            return None
        model = self.context.disc
        blocked = level_blocked(model, plan)
        if blocked:
            show_error(self, blocked)
            return None
        mask = model.segmentation.series_mask(self.primary.volume) if model is not None else None
        metrics = {t.id: m.as_dict() for t in plan.trajectories if (m := session.metrics(t.id)) is not None}
        warnings = list(session.anatomy.warnings) if session.anatomy is not None else []
        warnings += [w for m in metrics.values() for w in m["warnings"]]
        analysis = model.finding.as_dict() if model is not None else None
        return make_export_source(plan, self.primary.volume, self.primary.loaded.headers, mask, metrics, warnings,
                                  analysis, instances=self.db.instances)

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
                show_error(self, f"{summary.sent} of {summary.sent + summary.failed} objects reached {node.label}; the "
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
            show_error(self, "No PACS configured: add one in PACS > PACS settings.")
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
        blocked = level_blocked(self.context.disc, session.plan)
        if blocked:
            show_error(self, blocked)
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
                show_error(self, str(error))
                return
            self._attach_anatomy(session)

    def apply_preset(self, name: str) -> None:
        for shown in (self.primary, self.secondary):
            if shown is not None:
                array = shown.volume.array
                pixels = array if name == "Full range" else array[:, ::4, ::4]  # percentiles: a sample is enough
                shown.window.set(*window_preset(name, pixels, shown.volume.modality))

    def _regions_for(self, measurement):
        clip = self.cine_view.clip
        if measurement.space == "us-pixels" and clip is not None and clip.sop_instance_uid == measurement.sop_instance_uid:
            return clip.regions
        return ()

    def _show_cursor(self, point, value) -> None:
        if point is None:
            self.cursor_text.setText("")
            return
        text = f"LPS {point[0]:7.1f} {point[1]:7.1f} {point[2]:7.1f} mm"
        self.cursor_text.setText(text + (f"   value {value:g}" if value is not None else "   outside"))

    def _show_us_cursor(self, pixel) -> None:
        clip = self.cine_view.clip
        if pixel is None or clip is None:
            self.cursor_text.setText("")
            return
        x, y = pixel
        region = clip.region_at(x, y)
        where = "not calibrated" if region is None else f"region {region.spatial_format_name}"
        self.cursor_text.setText(f"pixel ({x:.0f}, {y:.0f})  {where}")

    def _update_undo_actions(self) -> None:
        stack = self.context.undo_stack
        self.undo_action.setEnabled(stack.can_undo)
        self.redo_action.setEnabled(stack.can_redo)
        self.undo_action.setText(f"Undo {stack.undo_text}".strip())
        self.redo_action.setText(f"Redo {stack.redo_text}".strip())

    # ------------------------------------------------------------------ export

    def view_image(self, widget: QWidget, annotations: bool = True) -> QImage:
        """The current picture of one view, with or without annotations."""
        shown = self.context.show_annotations
        self.context.set_annotations(annotations)
        try:
            return widget_image(widget)
        finally:
            self.context.set_annotations(shown)

    def active_view(self) -> QWidget:
        focused = self.focusWidget()
        for widget in self.visible_views():
            if focused is not None and (widget is focused or widget.isAncestorOf(focused)):
                return widget
        return self.visible_views()[0]

    def _export_dialog(self, annotations: bool) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export view as PNG", "view.png", "PNG images (*.png)")
        if path:
            if not self.view_image(self.active_view(), annotations).save(path, "PNG"):
                show_error(self, f"{path}: the image could not be written")

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("state", self.saveState())
        self.settings.setValue("layout", self.layout_name)
        for task in list(self._tasks):
            task.cancel()
        QThreadPool.globalInstance().waitForDone(5000)
        if self.context.plan is not None:
            self.context.plan.close()  # unsaved changes go to the recovery copy, offered at the next start
        self.cine_view.pause()
        for view in (*self.slice_views.values(), self.scene_view):
            view.detach()
            view.Finalize()
        super().closeEvent(event)


def _is_dicom(path: str) -> bool:
    try:
        with open(path, "rb") as file:
            return file.read(132)[128:132] == b"DICM"
    except OSError:
        return False


def _patient_text(header) -> str:
    when = header.study_date
    date = f"{when[:4]}-{when[4:6]}-{when[6:]}" if len(when) == 8 else when
    return f"{header.patient_name.replace('^', ' ')}\n{header.patient_id}  {date}"


def _icon(pixels: np.ndarray) -> QIcon:
    pixels = np.ascontiguousarray(pixels)
    fmt = QImage.Format_Grayscale8 if pixels.ndim == 2 else QImage.Format_RGB888
    image = QImage(pixels.data, pixels.shape[1], pixels.shape[0], pixels.strides[0], fmt).copy()
    return QIcon(QPixmap.fromImage(image))


def show_error(parent, message: str) -> None:
    """The one place where errors become dialogs."""
    QMessageBox.warning(parent, "Spine Injection Planner", message)


def show_import_report(parent, report: ImportReport) -> None:
    lines = [f"{r.path}\n    {r.reason}" for r in report.rejected[:30]]
    more = f"\n... and {len(report.rejected) - 30} more" if len(report.rejected) > 30 else ""
    box = QMessageBox(parent)
    box.setObjectName("import-report")
    box.setWindowTitle("Import report")
    box.setText(f"{len(report.rejected)} file(s) could not be imported. The other files were imported.")
    box.setDetailedText("\n".join(lines) + more)
    box.setModal(False)
    box.show()
