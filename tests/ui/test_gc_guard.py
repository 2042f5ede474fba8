"""Garbage is collected on the GUI thread only (ui/gc_guard.py)."""

from __future__ import annotations

import gc
import threading
import weakref

from PySide6.QtWidgets import QApplication


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_cycles_made_anywhere_are_collected_on_the_gui_thread(make_window, qtbot):
    """A worker thread allocating never runs the collector (it would finalise Qt and VTK objects there, while
    the GUI thread renders); the GUI thread's timer collects the cycles it leaves."""
    make_window()
    assert not gc.isenabled()
    collected_on = []
    probe = _Cycle()
    weakref.finalize(probe, lambda: collected_on.append(threading.current_thread()))
    del probe

    def allocate() -> None:  # far past the youngest generation's threshold
        junk = [_Cycle() for _ in range(5 * gc.get_threshold()[0])]
        del junk

    worker = threading.Thread(target=allocate)
    worker.start()
    worker.join()
    assert collected_on == []
    qtbot.waitUntil(lambda: bool(collected_on), timeout=5000)
    assert collected_on == [threading.main_thread()]
    assert QApplication.instance() is not None
