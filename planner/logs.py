"""The application's log: a file in the user data folder, with patient names and IDs kept out (issue 25).

    path = setup_logging()                  # once, at start (GUI and CLI)
    protect(header.patient_name, header.patient_id)   # values never to be written
    log_unexpected(exc, "import")           # a bug's traceback to the file; returns the file's path

Every record passes :class:`PatientDataFilter`: the names and IDs of every study read so far are replaced
by ``<patient>``, and so is anything shaped like a DICOM person name (``FAMILY^GIVEN``). Library loggers
(pydicom's quotes the values it cannot parse) go through the same filter and are kept at warnings.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

from planner.app_paths import data_folder

LOGGER = "spine_planner"
LOG_FILE = "planner.log"
#: a DICOM person name: components separated by carets
_PERSON_NAME = re.compile(r"[^\s^'\"=,;:()\[\]{}]+\^[^\s'\"=,;:()\[\]{}]*")
_protected: set[str] = set()
_lock = threading.Lock()
_handler: logging.Handler | None = None


def protect(*values: str) -> None:
    """Never write these values (patient names, IDs) to the log; empty and very short values are ignored."""
    with _lock:
        for value in values:
            value = str(value or "").strip()
            if len(value) >= 3:
                _protected.add(value)
                _protected.update(part for part in re.split(r"[\^ ]", value) if len(part) >= 3)


def redact(text: str) -> str:
    """``text`` with every protected value and person-name-shaped word replaced by ``<patient>``."""
    text = _PERSON_NAME.sub("<patient>", text)
    with _lock:
        values = sorted(_protected, key=len, reverse=True)
    lowered = text.lower()
    for value in values:
        if value.lower() in lowered:
            text = re.sub(re.escape(value), "<patient>", text, flags=re.IGNORECASE)
            lowered = text.lower()
    return text


class PatientDataFilter(logging.Filter):
    """Replaces patient names and IDs in a record's message (and its traceback) before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = redact(message), None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.exc_info = None  # formatted (and redacted) above
        return True


def log_path(folder: Path | None = None) -> Path:
    return (folder or data_folder() / "logs") / LOG_FILE


def setup_logging(folder: Path | None = None) -> Path:
    """Write the application's and its libraries' warnings and errors to the log file (rotated at 2 MB, 3 kept);
    idempotent. The file's path."""
    global _handler
    path = log_path(folder)
    if _handler is not None:
        return Path(_handler.baseFilename)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=2 * 2**20, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(PatientDataFilter())
    for name, level in ((LOGGER, logging.INFO), ("pydicom", logging.WARNING), ("pynetdicom", logging.WARNING)):
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.addHandler(handler)
        logger.propagate = False  # never to the terminal unfiltered
    _handler = handler
    return path


def reset_logging() -> None:
    """Detach the log file (tests; a new :func:`setup_logging` may then choose another folder)."""
    global _handler
    if _handler is None:
        return
    for name in (LOGGER, "pydicom", "pynetdicom"):
        logging.getLogger(name).removeHandler(_handler)
    _handler.close()
    _handler = None


def logger() -> logging.Logger:
    return logging.getLogger(LOGGER)


def log_unexpected(exc: BaseException, context: str) -> Path:
    """Write an unexpected error's traceback to the log file (set up if it is not); the file's path."""
    path = setup_logging()
    logger().error("unexpected error in %s: %s: %s", context, type(exc).__name__, exc, exc_info=(type(exc), exc, exc.__traceback__))
    _handler.flush()
    return path


_native_lock = threading.Lock()


@contextmanager
def native_output_to_log(what: str):
    """What C libraries (OpenJPEG: "Stream too short, expected SOT") print to the process's standard error while
    the block runs goes to the log, not to the terminal; the block's own exceptions still say what failed."""
    with _native_lock:
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                sink.seek(0)
                text = sink.read(8192).decode("utf-8", "replace").strip()
                if text:
                    logger().info("%s: decoder messages: %s", what, " | ".join(text.splitlines()))
