"""Garbage collection only on the GUI thread.

Python's cyclic garbage collector runs in whichever thread happens to
allocate when a generation fills up. A worker thread reading DICOM headers
then finalises Qt and VTK objects that belong to the GUI thread, while that
thread renders: VTK and Qt are not thread-safe, and the test suite crashed
once in such a worker (a segmentation fault inside pydicom's reader). So
automatic collection is switched off for the application's lifetime and the
GUI thread collects on a timer, generation by generation as the thresholds
say (the approach pyqtgraph takes for the same reason).

    install(app)        # once; again is a no-op
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QCoreApplication, QObject, QTimer

INTERVAL_MS = 500


class _Collector(QObject):
    def __init__(self, app: QCoreApplication) -> None:
        super().__init__(app)
        self.setObjectName("gui_thread_garbage_collector")
        gc.disable()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.collect)
        self._timer.start(INTERVAL_MS)
        app.aboutToQuit.connect(gc.enable)

    def collect(self) -> None:
        """Collect the generations whose thresholds have been passed, as automatic collection would."""
        counts, thresholds = gc.get_count(), gc.get_threshold()
        for generation in (2, 1, 0):
            if counts[generation] > thresholds[generation]:
                gc.collect(generation)
                return


def install(app: QCoreApplication) -> None:
    """Collect garbage only on ``app``'s (the GUI) thread, from now until it quits."""
    if app.findChild(_Collector, "gui_thread_garbage_collector") is None:
        _Collector(app)
