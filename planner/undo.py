"""One undo stack for every edit: measurements now, segmentation and plan edits later.

An edit is a :class:`Command` with ``redo``/``undo``. Pushing runs it. A command
may merge into the one before it (``merge_key``), so dragging a handle through a
hundred mouse positions is undone in one step, as users expect.

    stack = UndoStack()
    stack.push(Command("Add distance", redo=lambda: ..., undo=lambda: ...))
    stack.undo(); stack.redo()
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Hashable

from planner.observable import Observable


@dataclass
class Command:
    """An undoable edit. ``merge_key``: consecutive commands with an equal key merge into one."""

    text: str
    redo: Callable[[], None]
    undo: Callable[[], None]
    merge_key: Hashable | None = None


class UndoStack(Observable):
    """Linear history of commands; listeners hear every change (to enable menu items)."""

    def __init__(self, limit: int = 500) -> None:
        self._done: list[Command] = []
        self._undone: list[Command] = []
        self._limit = limit

    def push(self, command: Command) -> None:
        """Run ``command`` and record it (merging it into the previous one when their keys match)."""
        command.redo()
        previous = self._done[-1] if self._done else None
        if previous is not None and command.merge_key is not None and previous.merge_key == command.merge_key:
            self._done[-1] = Command(previous.text, command.redo, previous.undo, previous.merge_key)
        else:
            self._done.append(command)
            del self._done[: -self._limit]
        self._undone.clear()
        self._notify()

    def end_merge(self) -> None:
        """Stop merging into the last command (e.g. when the mouse button is released)."""
        if self._done and self._done[-1].merge_key is not None:
            last = self._done[-1]
            self._done[-1] = Command(last.text, last.redo, last.undo, None)

    def undo(self) -> bool:
        if not self._done:
            return False
        command = self._done.pop()
        command.undo()
        self._undone.append(command)
        self._notify()
        return True

    def redo(self) -> bool:
        if not self._undone:
            return False
        command = self._undone.pop()
        command.redo()
        self._done.append(command)
        self._notify()
        return True

    @property
    def can_undo(self) -> bool:
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    @property
    def undo_text(self) -> str:
        return self._done[-1].text if self._done else ""

    @property
    def redo_text(self) -> str:
        return self._undone[-1].text if self._undone else ""

    def clear(self) -> None:
        self._done.clear()
        self._undone.clear()
        self._notify()
