"""The first window: import in a worker with a report of rejected files; series open and show pixels."""

from __future__ import annotations

import numpy as np
import pytest

from planner.database import StudyDatabase
from tests.conftest import make_stack


@pytest.fixture
def window(qtbot, tmp_path):
    from ui.main_window import MainWindow

    db = StudyDatabase(tmp_path / "db.sqlite")
    w = MainWindow(db, layout="1x3")
    qtbot.addWidget(w)
    w.show()
    yield w
    w.close()
    db.close()


def test_import_with_bad_files_reports_them_and_keeps_good_series(window, qtbot, tmp_path):
    make_stack(tmp_path / "in", 4)
    (tmp_path / "in" / "junk.dcm").write_bytes(b"\x00" * 50)
    reports = []
    window.import_paths([str(tmp_path / "in")], on_done=reports.append)
    qtbot.waitUntil(lambda: bool(reports), timeout=20000)
    assert [r.path.rsplit("/", 1)[-1] for r in reports[0].rejected] == ["junk.dcm"]
    assert window.browser.topLevelItemCount() == 1
    assert window.browser.topLevelItem(0).childCount() == 1


def test_open_demo_series_shows_pixels(window, qtbot, demo_study):
    done = []
    window.import_paths([str(demo_study / "MR" / "SAG_T2")], on_done=done.append)
    qtbot.waitUntil(lambda: bool(done), timeout=30000)
    uid = done[0].series[0].series_instance_uid
    loaded = []
    window.open_series(uid, on_done=loaded.append)
    qtbot.waitUntil(lambda: bool(loaded), timeout=30000)
    image = window.views[0].grab().toImage()
    values = [image.pixelColor(x, y).lightness() for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)]
    assert max(values) > 100  # the slice is drawn, not a black box
    view = window.views[0]
    before = view.slider.value()
    view.slider.setValue(before + 1)
    assert view.slider.value() == before + 1
