"""The main window's study browser and import: the series tree with thumbnails, its filter, opening a series,
importing files and folders (dialogs and drag and drop) in a worker."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, QThreadPool
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QFileDialog, QTreeWidgetItem

from planner.dicom.importer import ImportReport, import_paths
from planner.dicom.thumbnails import series_thumbnail
from ui import dialogs
from ui.worker import Task


class BrowserActions:
    """Mixed into :class:`~ui.main_window.MainWindow`: the browser dock (``self.browser``, ``self.filter``) and imports."""

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

    def import_paths(self, paths: list[str], on_done=None) -> Task:
        def done(report: ImportReport) -> None:
            self.refresh_browser()
            indexed = report.n_indexed + report.n_unchanged
            self.status_text.setText(f"Imported {indexed} files, {len(report.rejected)} rejected")
            if report.rejected:
                dialogs.show_import_report(self, report)
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


def is_dicom(path: str) -> bool:
    try:
        with open(path, "rb") as file:
            return file.read(132)[128:132] == b"DICM"
    except OSError:
        return False


def patient_text(header) -> str:
    when = header.study_date
    date = f"{when[:4]}-{when[4:6]}-{when[6:]}" if len(when) == 8 else when
    return f"{header.patient_name.replace('^', ' ')}\n{header.patient_id}  {date}"


def _icon(pixels: np.ndarray) -> QIcon:
    pixels = np.ascontiguousarray(pixels)
    fmt = QImage.Format_Grayscale8 if pixels.ndim == 2 else QImage.Format_RGB888
    image = QImage(pixels.data, pixels.shape[1], pixels.shape[0], pixels.strides[0], fmt).copy()
    return QIcon(QPixmap.fromImage(image))

