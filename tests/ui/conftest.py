"""GUI test set-up: the Qt platform, and ``make_window`` (a main window on its own database and settings)."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "xcb" if os.environ.get("DISPLAY") else "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402

from planner.dicom.database import StudyDatabase  # noqa: E402


@pytest.fixture(autouse=True)
def no_unexpected_dialog(qapp):
    """A modal dialog no test asked for (an error box from a failed step) would wait for a click forever and
    hang the suite: it is recorded, closed, and fails the test with its text."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    seen: list[str] = []

    def close_modal() -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is not None:
            text = dialog.text() if hasattr(dialog, "text") else ""
            seen.append(f"{type(dialog).__name__} {dialog.windowTitle()!r}: {text}")
            dialog.close()

    timer = QTimer()
    timer.timeout.connect(close_modal)
    timer.start(1000)
    yield
    timer.stop()
    assert not seen, f"an unexpected modal dialog was shown: {seen}"


@pytest.fixture
def make_window(qtbot, tmp_path):
    from ui.main_window import MainWindow

    opened = []

    def make(layout: str = "1x3") -> MainWindow:
        db = StudyDatabase(tmp_path / f"db{len(opened)}.sqlite")
        settings = QSettings(str(tmp_path / f"settings{len(opened)}.ini"), QSettings.IniFormat)
        window = MainWindow(db, layout=layout, settings=settings)
        window.resize(1400, 900)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        opened.append((window, db))
        return window

    yield make
    for window, db in opened:
        window.close()
        db.close()


@pytest.fixture
def planned_window(make_window, qtbot, demo_study, tmp_path, monkeypatch):
    """The demo study analysed in a 2x2 window, with its suggested S1 transforaminal plan."""
    from tests.ui.actions import analysed

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # recovery copies of this test only
    window = make_window("2x2")
    analysed(window, qtbot, demo_study)
    window.suggest_plan("transforaminal-s1")
    qtbot.waitUntil(lambda: window.context.plan is not None and not window._tasks, timeout=60000)
    return window
