"""The one listener mechanism of planner objects that views observe (crosshair, window, measurements, undo).

Planner code never imports Qt, so it cannot emit signals; a view subscribes a
callable instead and is called after every change:

    state.subscribe(view.refresh_from)   # later: state.unsubscribe(view.refresh_from)
"""

from __future__ import annotations

from typing import Callable


class Observable:
    """Mixin: ``subscribe``/``unsubscribe`` listeners; subclasses call ``_notify(*args)`` after a change."""

    def subscribe(self, listener: Callable[..., None]) -> None:
        self.__dict__.setdefault("_listeners", []).append(listener)

    def unsubscribe(self, listener: Callable[..., None]) -> None:
        listeners = self.__dict__.get("_listeners", [])
        if listener in listeners:
            listeners.remove(listener)

    def _notify(self, *args) -> None:
        for listener in list(self.__dict__.get("_listeners", ())):
            listener(*args)
