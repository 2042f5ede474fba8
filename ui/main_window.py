"""The main window: study browser on the left, image views on the right, long work in workers."""

from __future__ import annotations

from PySide6.QtCore import QThreadPool, Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QWidget,
)

from planner.database import StudyDatabase
from planner.errors import PlannerError
from planner.importer import ImportReport, import_paths
from planner.loader import LoadedSeries, load_series
from ui.image_view import ImageView
from ui.worker import Task

LAYOUT_VIEWS = {"1x1": 1, "1x3": 3, "2x2": 4, "mr+us": 2}


class MainWindow(QMainWindow):
    """Observes the study database; every slow call runs in a :class:`~ui.worker.Task`."""

    series_loaded = Signal(object)

    def __init__(self, db: StudyDatabase, layout: str = "1x3") -> None:
        super().__init__()
        self.db = db
        self.setWindowTitle("Spine Injection Planner")
        self.resize(1500, 900)
        self._tasks: set[Task] = set()
        self._current_task: Task | None = None

        self.browser = QTreeWidget()
        self.browser.setHeaderLabels(["Study / series", "Kind", "Images", "Frames"])
        self.browser.setColumnWidth(0, 260)
        self.browser.itemDoubleClicked.connect(self._open_item)

        self.views = [ImageView() for _ in range(LAYOUT_VIEWS.get(layout, 3))]
        grid_widget = QWidget()
        grid = QGridLayout(grid_widget)
        grid.setContentsMargins(0, 0, 0, 0)
        columns = 2 if layout in ("2x2", "mr+us") else len(self.views)
        for n, view in enumerate(self.views):
            grid.addWidget(view, n // columns, n % columns)
        self._next_view = 0

        splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(self.browser)
        splitter.addWidget(grid_widget)
        splitter.setSizes([380, 1120])
        self.setCentralWidget(splitter)

        self.progress = QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self._cancel)
        self.status_text = QLabel("")
        self.statusBar().addWidget(self.status_text, 1)
        self.statusBar().addPermanentWidget(self.progress)
        self.statusBar().addPermanentWidget(self.cancel_button)

        menu = self.menuBar().addMenu("&File")
        menu.addAction("Import folder...", self._import_folder_dialog)
        menu.addAction("Import files...", self._import_files_dialog)
        menu.addSeparator()
        menu.addAction("Quit", self.close)
        self.setAcceptDrops(True)
        self.refresh_browser()

    # ------------------------------------------------------------ study browser

    def refresh_browser(self) -> None:
        self.browser.clear()
        for study in self.db.studies():
            label = f"{study.study_date or '-'}  {study.description or 'study'}"
            study_item = QTreeWidgetItem([label, "", "", ""])
            self.browser.addTopLevelItem(study_item)
            for uid in self.db.series_uids(study.study_instance_uid):
                summary = self.db.series_summary(uid)
                if summary is None:
                    continue
                text = f"{summary.series_number or ''} {summary.description or summary.modality}".strip()
                item = QTreeWidgetItem([text, summary.kind, str(summary.n_instances), str(summary.n_frames)])
                item.setData(0, Qt.UserRole, uid)
                study_item.addChild(item)
            study_item.setExpanded(True)

    def _open_item(self, item: QTreeWidgetItem) -> None:
        uid = item.data(0, Qt.UserRole)
        if uid:
            self.open_series(uid)

    # ------------------------------------------------------------------- tasks

    def run_task(self, task: Task, text: str, on_done) -> Task:
        self._tasks.add(task)
        self._current_task = task
        self.status_text.setText(text)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.cancel_button.show()

        def finish(result):
            self._end_task(task)
            self.status_text.setText("Ready")
            on_done(result)  # may replace "Ready" with its own message

        def fail(message):
            self._end_task(task)
            show_error(self, message)

        task.signals.progress.connect(self._on_progress)
        task.signals.finished.connect(finish)
        task.signals.failed.connect(fail)
        task.signals.cancelled.connect(lambda: (self._end_task(task), self.status_text.setText("Cancelled")))
        QThreadPool.globalInstance().start(task)
        return task

    def _on_progress(self, done: int, total: int, text: str) -> None:
        self.progress.setRange(0, total if total > 0 else 0)
        self.progress.setValue(done)
        if text:
            self.status_text.setText(text)

    def _end_task(self, task: Task) -> None:
        self._tasks.discard(task)
        if self._current_task is task:
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
        view = self.views[self._next_view % len(self.views)]
        self._next_view += 1
        header = loaded.headers[0]
        if loaded.volumes:
            volume = loaded.volumes[0]
            title = f"{header.series_description}  {volume.orientation}  {volume.shape[2]}x{volume.shape[1]}x{volume.shape[0]}"
            view.set_source(title, volume.shape[0], lambda k, v=volume: v.array[k])
        else:
            clip = loaded.clips[0]
            calibration = "calibrated" if clip.is_calibrated else "NOT CALIBRATED"
            title = f"{header.series_description}  {clip.n_frames} frames  {calibration}"
            view.set_source(title, clip.n_frames, clip.frame, start=0)
        for warning in loaded.warnings[:3]:
            self.status_text.setText(f"Note: {warning}")

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        for task in list(self._tasks):
            task.cancel()
        QThreadPool.globalInstance().waitForDone(5000)
        super().closeEvent(event)


def show_error(parent, message: str) -> None:
    """The one place where errors become dialogs."""
    QMessageBox.warning(parent, "Spine Injection Planner", message)


def show_import_report(parent, report: ImportReport) -> None:
    lines = [f"{r.path}\n    {r.reason}" for r in report.rejected[:30]]
    more = f"\n... and {len(report.rejected) - 30} more" if len(report.rejected) > 30 else ""
    box = QMessageBox(parent)
    box.setWindowTitle("Import report")
    box.setText(f"{len(report.rejected)} file(s) could not be imported. The other files were imported.")
    box.setDetailedText("\n".join(lines) + more)
    box.setModal(False)
    box.show()
