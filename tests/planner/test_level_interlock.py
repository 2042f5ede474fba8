"""Issue 23's safety interlock on the command line: no plan on a level count that is not certain unless the
author confirms or shifts it, and the plan, its report and its SR say who did and when."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from planner.plan.model import plan_from_dict


def _plan(study, out, *extra):
    return subprocess.run(
        [sys.executable, "main.py", "plan", str(study), "--procedure", "caudal", "--out", str(out), *extra],
        capture_output=True, text=True,
    )


def test_analyze_says_the_count_is_not_certain(uncertain_demo_study, tmp_path):
    run = subprocess.run([sys.executable, "main.py", "analyze", str(uncertain_demo_study), "--out", str(tmp_path)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "level count: NOT CERTAIN" in run.stdout
    result = json.loads((tmp_path / "analysis.json").read_text())
    assert result["level_confidence"] == "low"
    assert any("L4" in reason for reason in result["level_confidence_reasons"])


def test_no_plan_without_confirmation_then_the_plan_records_who_confirmed(uncertain_demo_study, tmp_path):
    refused = _plan(uncertain_demo_study, tmp_path / "refused")
    assert refused.returncode == 1
    assert "level count from the sacrum is not certain" in refused.stderr and "--confirm-level" in refused.stderr
    assert not (tmp_path / "refused" / "plan.json").exists()
    assert (tmp_path / "refused" / "analysis.json").exists()  # the labels to check are written

    out = tmp_path / "confirmed"
    confirmed = _plan(uncertain_demo_study, out, "--confirm-level", "--author", "Dr Test")
    assert confirmed.returncode == 0, confirmed.stderr
    plan = plan_from_dict(json.loads((out / "plan.json").read_text()), "plan.json")
    check = plan.level_check
    assert check.confidence == "low" and check.confirmed_by == "Dr Test" and check.confirmed_at
    assert check.settled and check.level_shift == 0


def test_a_level_shift_is_the_authors_decision(uncertain_demo_study, tmp_path):
    out = tmp_path / "shifted"
    shifted = _plan(uncertain_demo_study, out, "--level-shift", "-1", "--author", "Dr Test")
    if shifted.returncode != 0:  # the study may not show a disc above L5 to shift onto, or only a sliver of L4:
        # then it says so in a sentence (no traceback)
        assert "Traceback" not in shifted.stderr, shifted.stderr
        assert ("moves L5-S1" in shifted.stderr) or ("could not be segmented: " in shifted.stderr), shifted.stderr
        return
    plan = plan_from_dict(json.loads((out / "plan.json").read_text()), "plan.json")
    assert plan.level_check.level_shift == -1 and plan.level_check.confirmed_by == "Dr Test"


def test_the_sr_and_report_record_the_level_confirmation():
    from planner.export.report_pdf import level_sentence
    from planner.plan.model import LevelCheck, Plan, StudyRef

    plan = Plan(
        StudyRef("1.2.3"), "interlaminar-l5s1", "midline", "dr a",
        level_check=LevelCheck("low", ("No L4-L5 disc and L4 body were recognised above L5.",), 0, "Dr B", "2026-12-01T10:00:00+00:00"),
    )
    assert "confirmed by Dr B" in level_sentence(plan) and "not certain" in level_sentence(plan)
    from planner.export.sr import _level_confirmation

    items = _level_confirmation(plan)
    assert items[0].TextValue == "Dr B" and str(items[1].DateTime).startswith("20261201100000")
    with pytest.raises(ValueError, match="who confirmed and when"):
        LevelCheck("low", (), 0, "Dr B", "")


def test_a_level_marked_by_hand_is_planned_only_when_confirmed(demo_study, tmp_path):
    truth = json.loads((demo_study / "truth" / "truth.json").read_text())["levels"]
    mark = ",".join(f"{v:.1f}" for v in truth["L5-S1"]["center_lps"])
    refused = _plan(demo_study, tmp_path / "refused", f"--l5s1-at={mark}")
    assert refused.returncode == 1
    assert "marked by hand" in refused.stderr and "--confirm-level" in refused.stderr
    out = tmp_path / "confirmed"
    confirmed = _plan(demo_study, out, f"--l5s1-at={mark}", "--confirm-level", "--author", "Dr Test")
    assert confirmed.returncode == 0, confirmed.stderr
    plan = plan_from_dict(json.loads((out / "plan.json").read_text()), "plan.json")
    assert plan.level_check.confirmed_by == "Dr Test"
    assert any("marked by hand" in reason for reason in plan.level_check.reasons)
    analysis = json.loads((out / "analysis.json").read_text())
    assert analysis["l5s1_marked_lps"] == pytest.approx(truth["L5-S1"]["center_lps"], abs=0.05)


def test_a_mark_that_is_not_a_point_is_a_usage_error(demo_study, tmp_path):
    run = subprocess.run([sys.executable, "main.py", "analyze", str(demo_study), "--out", str(tmp_path), "--l5s1-at", "1,2"],
                         capture_output=True, text=True)
    assert run.returncode == 2
    assert "'1,2' is not X,Y,Z: three numbers in millimetres" in run.stderr
