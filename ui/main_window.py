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
  :class:`~planner.plan.session.PlanSession`; :meth:`MainWindow.suggest_plan`,
  :meth:`MainWindow.open_plan`, :meth:`MainWindow.save_plan`, :meth:`MainWindow.offer_recovery`.

The window's actions live in mixins by concern: :class:`~ui.window_browser.BrowserActions` (browser and
import), :class:`~ui.window_analysis.AnalysisActions` (the L5-S1 analysis), :class:`~ui.window_plan.PlanActions`
(plans, export, PACS); this module builds the window, its layouts, tasks and views.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QImage, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QGridLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QTreeWidget,
    QVBoxLayout,
    QWidget,
)

from planner.dicom.database import StudyDatabase
from planner.dicom.loader import LoadedSeries, load_series
from planner.pacs.outbox import Outbox
from planner.viewing.display import PRESETS, WindowLevel, auto_window, window_preset
from planner.viewing.mpr import View, volume_center
from ui import dialogs, gc_guard
from ui.cine_view import CineView
from ui.context import TOOLS, ViewerContext
from ui.findings_widget import FindingsWidget
from ui.measurement_panel import MeasurementPanel
from ui.plan_panel import PlanPanel
from ui.render.scene_view import SceneView
from ui.render.slice_view import SliceView
from ui.render.vtk_image import VtkVolume
from ui.snapshot import widget_image
from ui.twitch_panel import TwitchPanel
from ui.window_analysis import AnalysisActions
from ui.window_browser import BrowserActions, patient_text
from ui.window_plan import PlanActions
from ui.worker import Task

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


class MainWindow(BrowserActions, AnalysisActions, PlanActions, QMainWindow):
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
        self._study_key = None  # the primary series whose StudySession the context holds (window_analysis.study_session)
        self.reopen_notes: list[str] = []  # what the last reopened plan's evidence says (images changed, another disc)
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
        self.findings.shift_requested.connect(lambda shift: self.run_disc_analysis(shift, l5s1_lps=self._marked_l5s1()))
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
        self.cine_view.approach_failed.connect(lambda message: dialogs.show_error(self, message))
        self.plan_dock = self._scrolled_dock("Plan", "plan", self.plan_panel, self.findings_dock)
        self.twitch_panel = TwitchPanel(self.context, self.cine_view)
        self.twitch_dock = self._scrolled_dock("Twitches", "twitches", self.twitch_panel, self.plan_dock)
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
            (on_fail or (lambda text: dialogs.show_error(self, text)))(message)

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
            if loaded.clips[0].n_frames > 1:
                self.twitch_dock.raise_()
        else:
            shown = _Shown(loaded)
            volume = shown.volume
            same_world = (
                self.primary is not None
                and volume.frame_of_reference_uid
                and volume.frame_of_reference_uid == self.primary.volume.frame_of_reference_uid
                and volume.orientation != self.primary.volume.orientation
            )
            patient = patient_text(header)
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
                    shift = model.analysis.level_shift if model else 0
                    self.run_disc_analysis(shift, automatic=True, l5s1_lps=self._marked_l5s1())
            else:
                self.primary, self.secondary = shown, None
                self.context.set_disc(None)
                self.findings.offer_mark(False)
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

    # ---------------------------------------------------------------- plan

    # ---------------------------------------------------------------- export and PACS

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
                dialogs.show_error(self, f"{path}: the image could not be written")

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


