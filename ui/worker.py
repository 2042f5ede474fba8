"""Run slow planner functions off the GUI thread, with progress and cancel.

    task = Task(import_paths, paths, db)        # the function gets progress= and cancel=
    task.signals.progress.connect(bar.update)
    task.signals.finished.connect(on_result)
    task.signals.failed.connect(show_error)
    QThreadPool.globalInstance().start(task)
    task.cancel()                               # from the Cancel button
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QRunnable, Signal

from planner.errors import OperationCancelled, PlannerError
from planner.progress import CancelToken


class TaskSignals(QObject):
    progress = Signal(int, int, str)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()


class Task(QRunnable):
    def __init__(self, function, *args, **kwargs) -> None:
        super().__init__()
        self.signals = TaskSignals()
        self.token = CancelToken()
        self._call = (function, args, kwargs)
        self.setAutoDelete(False)

    def cancel(self) -> None:
        self.token.cancel()

    def run(self) -> None:
        function, args, kwargs = self._call
        try:
            result = function(*args, progress=self.signals.progress.emit, cancel=self.token, **kwargs)
        except OperationCancelled:
            self.signals.cancelled.emit()
        except PlannerError as exc:
            self.signals.failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug: its traceback to the log file, a sentence to the user
            from planner.logs import log_unexpected

            path = log_unexpected(exc, getattr(function, "__qualname__", "a background task"))
            self.signals.failed.emit(f"unexpected error ({type(exc).__name__}: {str(exc)[:200]}); the details are in {path}")
        else:
            self.signals.finished.emit(result)
