"""The headless CLI, run as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT, make_stack


def run(*args, check=False):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *map(str, args)], capture_output=True, text=True, cwd=ROOT, check=check)


def test_help_lists_every_subcommand():
    out = run("--help", check=True).stdout
    for command in ("import", "info", "demo-data", "analyze", "plan", "export", "pacs", "fasciculations"):
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


def test_fasciculations_json_against_a_control(twitch_cines):
    result = run("fasciculations", twitch_cines["gastrocnemius"], "--control", twitch_cines["control"], "--json", check=True)
    data = json.loads(result.stdout)
    assert len(data["events"]) == 11 and data["rate_per_min"] == pytest.approx(18.33, abs=0.01)
    assert set(data["events"][0]) >= {"time_s", "duration_s", "x_mm", "depth_mm", "displacement_mm"}
    assert data["control"]["events"] == [] and data["control"]["rate_per_min"] == 0
    assert "consistent with S1 root irritation (criterion: ≥ 2 in 60 s)" in data["interpretation"]
    text = run("fasciculations", twitch_cines["gastrocnemius"], check=True).stdout
    assert "11 twitches in 36 s = 18.3/min" in text and "no control muscle compared" in text


def test_fasciculations_refuses_what_is_not_a_cine(demo_study, twitch_cines):
    still = run("fasciculations", demo_study / "US" / "SACRUM")
    assert still.returncode == 1 and "is an ultrasound still image, not a cine" in still.stderr and "Traceback" not in still.stderr
    mr = run("fasciculations", demo_study / "MR" / "SAG_T2" / "IM0001.dcm")
    assert mr.returncode == 1 and "not a cine" in mr.stderr
    bad = run("fasciculations", twitch_cines["gastrocnemius"], "--region", "1,2,3")
    assert bad.returncode == 2 and "--region must be four numbers" in bad.stderr


def test_plan_records_the_fasciculations_of_the_study_cines(demo_study, twitch_cines, tmp_path):
    out = tmp_path / "plan"
    run("plan", demo_study, "--procedure", "transforaminal-s1", "--out", out, "--author", "dr test",
        "--fasciculations", twitch_cines["gastrocnemius"], "--fasciculation-control", twitch_cines["control"], check=True)
    record = json.loads((out / "plan.json").read_text())["fasciculation"]
    assert record["muscle"]["muscle"] == "gastrocnemius_medial" and record["muscle"]["n_events"] == 11
    assert record["control"]["muscle"] == "rectus_femoris" and record["control"]["n_events"] == 0
    assert "consistent with S1 root irritation" in record["interpretation"]
    alone = run("plan", demo_study, "--procedure", "transforaminal-s1", "--out", out, "--fasciculation-control", twitch_cines["control"])
    assert alone.returncode == 2 and "needs --fasciculations" in alone.stderr
