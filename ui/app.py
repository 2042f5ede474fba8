"""Start the desktop application (``python main.py [--demo] [--screenshot PNG]``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from planner.database import StudyDatabase, default_database_path

DEMO_ORDER = ("SAG T2 TSE", "AX T2 TSE L5-S1", "US MSK Gastrocnemius medial head, cine", "US Posterior sacrum S1 foramen, transverse")


def demo_folder() -> Path:
    return default_database_path().parent / "demo-study"


def _ensure_demo(progress=None, cancel=None) -> Path:
    from planner.demo import write_demo_study

    folder = demo_folder()
    if not (folder / "truth" / "truth.json").exists():
        write_demo_study(folder)
    return folder


def run_gui(demo: bool = False, screenshot: str | None = None, layout: str = "1x3", db_path: str | None = None) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from ui.main_window import MainWindow
    from ui.worker import Task

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Spine Injection Planner")
    style = Path(__file__).resolve().parent.parent / "resources" / "style.qss"
    if style.exists():
        app.setStyleSheet(style.read_text())
    db = StudyDatabase(db_path)
    window = MainWindow(db, layout=layout)
    window.show()
    first_run = not db.studies()

    def open_demo_series(_report=None) -> None:
        wanted = list(DEMO_ORDER)[: len(window.views)]
        pending = []
        for study in db.studies():
            for uid in db.series_uids(study.study_instance_uid):
                summary = db.series_summary(uid)
                if summary is not None and summary.description in wanted:
                    pending.append((wanted.index(summary.description), uid))
        pending.sort()
        _open_next(pending)

    def _open_next(pending) -> None:
        if not pending:
            if screenshot:
                QTimer.singleShot(300, save_and_quit)
            return
        _, uid = pending.pop(0)
        window.open_series(uid, on_done=lambda _loaded: _open_next(pending))

    def save_and_quit() -> None:
        app.processEvents()
        window.grab().save(screenshot)
        window.close()
        app.quit()

    if demo or first_run:
        window.run_task(Task(_ensure_demo), "Preparing the demo study...", lambda folder: window.import_paths([str(folder / "MR"), str(folder / "US")], on_done=open_demo_series))
    elif screenshot:
        QTimer.singleShot(500, save_and_quit)
    code = app.exec()
    db.close()
    return code
