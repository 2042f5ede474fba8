"""Start the desktop application (``python main.py [--demo] [--screenshot PNG] [--layout L]``)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

from planner.dicom.database import StudyDatabase, default_database_path

#: Demo series opened in each layout, in order (series descriptions of the demo study).
DEMO_SERIES = {
    "mr+us": ("SAG T2 TSE", "US MSK Gastrocnemius medial head, cine"),
    "default": ("SAG T2 TSE", "AX T2 TSE L5-S1"),
}
RESOURCES = Path(__file__).resolve().parent.parent / "resources"


def demo_home() -> Path:
    """The demo's own folder in the user data folder: its study files and its own database, so that the
    demo never mixes into the user's studies."""
    return default_database_path().parent / "demo"


def demo_folder() -> Path:
    return demo_home() / "study"


def _ensure_demo(progress=None, cancel=None) -> Path:
    from planner.demo import DEMO_VERSION, write_demo_study

    folder = demo_folder()
    truth = folder / "truth" / "truth.json"
    if not truth.exists() or json.loads(truth.read_text()).get("demo_version") != DEMO_VERSION:
        if folder.exists():
            shutil.rmtree(folder)  # written by an older phantom: the demo must show today's anatomy
        write_demo_study(folder)
    return folder


def run_gui(
    demo: bool = False,
    screenshot: str | None = None,
    layout: str | None = None,
    db_path: str | None = None,
    open_path: str | None = None,
    plan: str | None = None,
) -> int:
    started = time.perf_counter()
    from planner.logs import log_unexpected, setup_logging

    setup_logging()
    previous_hook = sys.excepthook

    def log_and_report(kind, value, traceback) -> None:  # a bug in a Qt slot: logged, not lost
        log_unexpected(value.with_traceback(traceback), "the application")
        previous_hook(kind, value, traceback)

    sys.excepthook = log_and_report
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from ui.main_window import MainWindow
    from ui.snapshot import widget_image
    from ui.worker import Task

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Spine Injection Planner")
    app.setOrganizationName("SpineInjectionPlanner")
    style = RESOURCES / "style.qss"
    if style.exists():
        app.setStyleSheet(style.read_text())
    if demo and db_path is None:
        demo_home().mkdir(parents=True, exist_ok=True)
        db_path = str(demo_home() / "studies.sqlite")
    db = StudyDatabase(db_path)
    # Screenshots must not depend on (or change) the user's saved window state.
    settings = QSettings(str(Path(db.path).parent / "screenshot-settings.ini"), QSettings.IniFormat) if screenshot else None
    window = MainWindow(db, layout=layout, settings=settings)
    if screenshot:
        window.resize(1600, 960)
    window.show()
    first_run = not db.studies()
    if not screenshot:
        QTimer.singleShot(0, window.offer_recovery)  # a plan left unsaved by a crash or a quit

    def open_demo_series(_report=None) -> None:
        wanted = list(DEMO_SERIES.get(window.layout_name, DEMO_SERIES["default"]))
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
            window.status_text.setText(f"Ready ({time.perf_counter() - started:.1f} s from start)")
            if os.environ.get("SPINE_PLANNER_TIMING"):  # read by bench/bench_gui.py
                print(f"first-render-monotonic={time.monotonic()}", flush=True)
            if plan:
                suggest_when_analysed()
            elif screenshot:
                QTimer.singleShot(300, save_and_quit)
            return
        _, uid = pending.pop(0)
        window.open_series(uid, on_done=lambda _loaded: _open_next(pending))

    def open_imported(report) -> None:
        """The imported study's sagittal MR series (the most slices), then its other MR series of that world."""
        mr = [s for s in report.series if s.modality == "MR" and s.is_image]
        sagittal = sorted((s for s in mr if s.orientation == "SAG"), key=lambda s: -s.n_instances)
        others = [s for s in mr if sagittal and s is not sagittal[0] and s.orientation == "AX"]
        pending = [(n, s.series_instance_uid) for n, s in enumerate(sagittal[:1] + others[:1])]
        if not pending and mr:
            pending = [(0, mr[0].series_instance_uid)]
        _open_next(pending)

    def suggest_when_analysed(waited_s: float = 0.0) -> None:
        """--plan: once the L5-S1 analysis is in, suggest that procedure's plan (then screenshot)."""
        if (window.context.disc is None or window._tasks) and waited_s < 120.0:
            QTimer.singleShot(200, lambda: suggest_when_analysed(waited_s + 0.2))
            return
        from planner.plan.planning import level_blocked

        blocked = level_blocked(window.context.disc) if window.context.disc is not None else ""
        if blocked:  # the interlock: no plan; the picture shows the labels and the banner asking for a decision
            print(f"main.py --plan: not suggested: {blocked}", file=sys.stderr)
            if screenshot:
                QTimer.singleShot(300, save_and_quit)
            return
        window.suggest_plan(plan, on_done=(lambda _s: QTimer.singleShot(300, save_and_quit)) if screenshot else None)

    def save_and_quit(waited_s: float = 0.0) -> None:
        if window._tasks and waited_s < 120.0:  # the L5-S1 analysis and thumbnails belong in the picture
            QTimer.singleShot(200, lambda: save_and_quit(waited_s + 0.2))
            return
        app.processEvents()
        widget_image(window).save(screenshot)
        window.close()
        app.quit()

    if open_path:
        window.import_paths([open_path], on_done=open_imported)
    elif demo:
        window.run_task(
            Task(_ensure_demo),
            "Preparing the demo study...",
            lambda folder: window.import_paths([str(folder / "MR"), str(folder / "US")], on_done=open_demo_series),
        )
    else:
        if first_run:
            window.status_text.setText("No studies yet: File > Import (or drop files here); main.py --demo opens the demo study")
        if screenshot:
            QTimer.singleShot(500, save_and_quit)
    code = app.exec()
    db.close()
    return code
