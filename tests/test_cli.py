"""The headless CLI, run as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT, make_stack


def run(*args, check=False):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *map(str, args)], capture_output=True, text=True, cwd=ROOT, check=check)


def test_help_lists_every_subcommand():
    out = run("--help", check=True).stdout
    for command in ("import", "info", "demo-data", "analyze", "plan", "export", "pacs"):
        assert command in out


def test_import_json(tmp_path, demo_study):
    (tmp_path / "bad.dcm").write_text("garbage")
    result = run("import", demo_study / "US", tmp_path / "bad.dcm", "--db", tmp_path / "db.sqlite", "--json", check=True)
    data = json.loads(result.stdout)
    assert data["rejected"] == [{"path": str(tmp_path / "bad.dcm"), "reason": "not a DICOM file: no preamble/DICM and no valid data element at offset 0"}]
    cine = next(s for s in data["series"] if s["kind"] == "us-cine" and "Gastrocnemius" in s["description"])
    assert cine["n_frames"] == 40 and cine["modality"] == "US"
    assert cine["us_regions"][0]["physical_delta_x_mm"] == 0.1
    assert set(cine) >= {"series_instance_uid", "study_instance_uid", "kind", "description", "n_instances", "n_frames", "files", "us_regions"}
    assert "DEMO" not in result.stdout + result.stderr  # no patient names or IDs


def test_import_missing_path_fails_with_one_line(tmp_path):
    result = run("import", tmp_path / "nope", "--db", tmp_path / "db.sqlite")
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "does not exist" in result.stderr


def test_import_unwritable_database_fails_with_one_line(tmp_path):
    make_stack(tmp_path / "in", 2)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run("import", tmp_path / "in", "--db", blocker / "db.sqlite")
    assert result.returncode == 1 and "cannot open the study database" in result.stderr


def test_info_json(demo_study):
    data = json.loads(run("info", demo_study / "MR" / "SAG_T2", "--json", check=True).stdout)
    assert data["orientation"] == "SAG" and data["shape"] == [15, 384, 384]
    assert data["spacing_mm"] == [0.78125, 0.78125, 4.0]
    cine = json.loads(run("info", demo_study / "US" / "GASTROCNEMIUS", "--json", check=True).stdout)
    assert cine["calibrated"] and cine["frame_rate_hz"] == 30.0
