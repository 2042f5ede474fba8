"""What the GUI tests do as a user would, shared by several test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import numpy as np


def import_and_open(window, qtbot, paths, descriptions=None):
    reports = []
    window.import_paths([str(p) for p in paths], on_done=reports.append)
    qtbot.waitUntil(lambda: bool(reports), timeout=60000)
    series = [s for s in reports[0].series if descriptions is None or s.description in descriptions]
    if descriptions is not None:
        series.sort(key=lambda s: descriptions.index(s.description))
    for summary in series:
        loaded = []
        window.open_series(summary.series_instance_uid, on_done=loaded.append)
        qtbot.waitUntil(lambda: bool(loaded), timeout=60000)
    return reports[0]


def rgb_array(image) -> np.ndarray:
    """``image`` (a QImage) as a height x width x 3 array of its own.

    Copied while the converted image is alive: an array over ``constBits()`` of a temporary QImage reads freed
    memory once Python drops the image, and two such arrays can then compare equal whatever was drawn."""
    rgb = image.convertToFormat(image.Format.Format_RGB888)
    data = np.frombuffer(rgb.constBits(), dtype=np.uint8, count=rgb.sizeInBytes())
    rows = data.reshape(rgb.height(), rgb.bytesPerLine())[:, : rgb.width() * 3]
    return rows.reshape(rgb.height(), rgb.width(), 3).copy()


def view_pixels(view) -> np.ndarray:
    from ui.snapshot import vtk_widget_image

    return rgb_array(vtk_widget_image(view))


def analysed(window, qtbot, study) -> None:
    import_and_open(window, qtbot, [study / "MR" / "SAG_T2", study / "MR" / "AX_T2_L5S1"], ["SAG T2 TSE", "AX T2 TSE L5-S1"])
    qtbot.waitUntil(lambda: window.context.disc is not None and not window._tasks, timeout=60000)
