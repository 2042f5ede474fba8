"""Where the application keeps its own files (the study database, plan recovery copies)."""

from __future__ import annotations

import os
from pathlib import Path

APP_FOLDER = "spine-injection-planner"


def data_folder() -> Path:
    """``$XDG_DATA_HOME/spine-injection-planner`` (``~/.local/share/...`` by default); not created here."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / APP_FOLDER
