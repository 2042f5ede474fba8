"""Saving plans so that no crash, kill or full disk ever leaves a corrupt one (issue 5).

- :func:`save_plan` writes atomically: a temporary file in the same folder,
  flushed and fsync'ed, then renamed over the target (and the folder
  fsync'ed). A failure at any point leaves the previous file as it was.
- :func:`load_plan` validates against the schema; a broken file raises
  :class:`PlanFormatError` naming the field and is never modified.
- :class:`Autosaver` keeps a recovery copy of the open plan: written at most
  ``delay_s`` (5 s) after the first unsaved change, and on :meth:`flush`
  (quit). :func:`recovery_files` lists what a crashed session left behind.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path

from planner.app_paths import data_folder
from planner.errors import PlanFormatError
from planner.plan.model import Plan, plan_from_dict, plan_to_dict

RECOVERY_SUFFIX = ".recovery.plan.json"


def atomic_write_text(path: str | Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically (temporary file, fsync, rename, fsync of the folder)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def save_plan(plan: Plan, path: str | Path, computed: dict | None = None, evidence: dict | None = None) -> None:
    """Write ``plan`` as JSON to ``path`` atomically, with its ``computed`` and ``evidence`` sections when given."""
    data = plan_to_dict(plan)
    if computed:
        data["computed"] = computed
    if evidence:
        data["evidence"] = evidence
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


#: a plan is a few kilobytes; anything this large is not one (a 100 MB "notes" field)
MAX_PLAN_BYTES = 4 * 2**20
#: JSON nested deeper than this is not a plan (the deepest plan field is 5 levels down)
MAX_PLAN_DEPTH = 12
#: an integer with more digits than this is not a plan's number
MAX_INT_DIGITS = 15


def _no_constant(name: str):
    raise ValueError(f"holds {name}, which is not a number a plan can hold (coordinates must be finite)")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"holds an integer of {len(text.lstrip('-'))} digits")
    return int(text)


def _depth(value, limit: int) -> int:
    """How deeply ``value`` nests (iteratively, so that a hostile file cannot exhaust the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > limit:
            return depth
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def read_json_file(path: str | Path, what: str = "plan", allow_nan: bool = False) -> dict:
    """A plan (or analysis) file's JSON object, read defensively: size, encoding, JSON syntax, non-finite
    numbers, huge integers and nesting are each refused with :class:`PlanFormatError` naming the file. The
    file is only read, never changed. ``allow_nan``: NaN stands for "not measured" (an analysis may hold it)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_PLAN_BYTES:
            raise PlanFormatError(path, "(the file)", f"is {size / 2**20:.1f} MB: a {what} file is a few kB (refused)")
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise PlanFormatError(path, "(the file)", f"cannot be read ({error.strerror or error})") from error
    except UnicodeDecodeError as error:
        raise PlanFormatError(path, "(the file)", f"is not UTF-8 text (not a {what} file?)") from error
    try:
        data = json.loads(text, parse_constant=(lambda name: float(name)) if allow_nan else _no_constant,
                          parse_int=_bounded_int)
    except json.JSONDecodeError as error:
        raise PlanFormatError(path, f"line {error.lineno} column {error.colno}", f"is not valid JSON ({error.msg})") from error
    except ValueError as error:
        raise PlanFormatError(path, "(a number)", str(error)) from error
    except RecursionError as error:
        raise PlanFormatError(path, "(the document)", "is nested too deeply to be a plan (refused)") from error
    if _depth(data, MAX_PLAN_DEPTH) > MAX_PLAN_DEPTH:
        raise PlanFormatError(path, "(the document)", f"nests deeper than {MAX_PLAN_DEPTH} levels: not a {what} file")
    if not isinstance(data, dict):
        raise PlanFormatError(path, "(the document)", f"is a JSON {type(data).__name__}, not a {what} object")
    return data


def load_plan(path: str | Path) -> Plan:
    """Read a plan file; :class:`PlanFormatError` names the file and the field when it is not a valid plan."""
    return plan_from_dict(read_json_file(path), source=str(path))


def recovery_folder(base: str | Path | None = None) -> Path:
    """Where recovery copies live: ``recovery`` in the application's data folder unless given."""
    return Path(base) if base is not None else data_folder() / "recovery"


def recovery_files(folder: str | Path | None = None) -> list[Path]:
    """Recovery copies left by sessions that did not close their plan (newest first)."""
    folder = recovery_folder(folder)
    if not folder.is_dir():
        return []
    return sorted(folder.glob(f"*{RECOVERY_SUFFIX}"), key=lambda p: p.stat().st_mtime, reverse=True)


class Autosaver:
    """Writes the document's plan to a recovery file at most ``delay_s`` after a change.

    Give it a callable returning the current plan; call :meth:`changed` after
    every edit (a :class:`~planner.plan.document.PlanDocument` listener does),
    :meth:`flush` on quit and :meth:`discard` once the plan is saved or closed
    on purpose. Writes happen on a timer thread; the plan value is immutable,
    so it is read safely there.
    """

    def __init__(self, current_plan, folder: str | Path | None = None, delay_s: float = 5.0) -> None:
        self._current = current_plan
        self.folder = recovery_folder(folder)
        self.delay_s = delay_s
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self.last_error: str = ""

    @property
    def path(self) -> Path:
        return self.folder / f"{self._current().plan_uid}{RECOVERY_SUFFIX}"

    def changed(self, *_args) -> None:
        """Schedule a write ``delay_s`` after the first change since the last write (later ones ride along)."""
        with self._lock:
            if self._timer is None:
                self._timer = threading.Timer(self.delay_s, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        """Write the recovery copy now (and cancel a pending write)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            try:
                save_plan(self._current(), self.path)
                self.last_error = ""
            except OSError as error:  # a full disk must not take the session down; the next change retries
                self.last_error = f"autosave to {self.path} failed: {error.strerror or error}"

    def discard(self) -> None:
        """Stop and delete the recovery copy (the plan was saved or closed on purpose)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        self.path.unlink(missing_ok=True)
