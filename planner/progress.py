"""Progress reporting and cooperative cancellation for long planner functions.

A long function takes ``progress: ProgressCallback | None`` and
``cancel: CancelToken | None``. It calls ``report(progress, done, total, text)``
now and then and ``check(cancel)`` between units of work; ``check`` raises
:class:`~planner.errors.OperationCancelled`. The GUI runs such a function in a
worker thread, forwards progress to a progress bar and sets the token from its
Cancel button; the CLI passes nothing.
"""

from __future__ import annotations

import threading
from typing import Callable, Optional

from planner.errors import OperationCancelled

#: ``progress(done, total, text)``; ``total`` may be 0 when unknown.
ProgressCallback = Callable[[int, int, str], None]


class CancelToken:
    """A thread-safe flag that a worker polls; set it from any thread."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


def check(cancel: Optional[CancelToken]) -> None:
    """Raise OperationCancelled if ``cancel`` has been set."""
    if cancel is not None and cancel.cancelled:
        raise OperationCancelled("cancelled by the user")


def report(progress: Optional[ProgressCallback], done: int, total: int, text: str = "") -> None:
    """Call ``progress`` if there is one."""
    if progress is not None:
        progress(done, total, text)
