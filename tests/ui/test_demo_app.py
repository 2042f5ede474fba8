"""``main.py --demo`` keeps the demo in its own folder and database, apart from the user's studies."""

from __future__ import annotations

import os
import subprocess
import sys

from planner.dicom.database import StudyDatabase
from tests.conftest import ROOT


def test_the_demo_has_its_own_database_and_never_mixes_into_the_users(tmp_path):
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    shot = tmp_path / "demo.png"
    subprocess.run([sys.executable, "main.py", "--demo", "--screenshot", str(shot), "--layout", "mr+us"], cwd=ROOT, env=env,
                   capture_output=True, text=True, check=True, timeout=600)
    home = tmp_path / "spine-injection-planner"
    assert shot.exists() and (home / "demo" / "study" / "truth" / "truth.json").exists()
    with StudyDatabase(home / "demo" / "studies.sqlite") as demo:
        assert len(demo.studies()) == 1
    user = home / "studies.sqlite"
    if user.exists():
        with StudyDatabase(user) as db:
            assert db.studies() == []
    # the user's own start: an empty database says how to begin, and the demo stays out of it
    subprocess.run([sys.executable, "main.py", "--screenshot", str(tmp_path / "empty.png")], cwd=ROOT, env=env,
                   capture_output=True, text=True, check=True, timeout=120)
    with StudyDatabase(user) as db:
        assert db.studies() == []
