"""Issue 25's "done when": what the physician approved in the workstation is what the export sends. Shift the
level and take it back, brush the disc mask, confirm the level, plan, approve, save, close; reopen in a new
window; export from the command line: the SEG is the corrected mask voxel for voxel and every metric is the
approved one."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pydicom

from planner.geometry import ijk_to_lps
from planner.plan.evidence import saved_disc_mask
from tests.conftest import ROOT
from tests.ui.actions import import_and_open


def _wait_for_analysis(window, qtbot, shift: int) -> None:
    qtbot.waitUntil(lambda: window.context.disc is not None and window.context.disc.analysis.level_shift == shift
                    and not window._tasks, timeout=120000)


def test_corrected_confirmed_approved_plan_exports_exactly_what_was_approved(make_window, qtbot, demo_study, tmp_path):
    window = make_window("2x2")
    import_and_open(window, qtbot, [demo_study / "MR"], ["SAG T2 TSE"])
    _wait_for_analysis(window, qtbot, 0)
    # the level moved one up with the findings panel's button, then back: both undoable analyses
    window.findings.lower_button.click()
    _wait_for_analysis(window, qtbot, 1)
    window.findings.higher_button.click()
    _wait_for_analysis(window, qtbot, 0)
    model = window.context.disc
    # brush the disc mask 6 columns to the side of its centre
    before = model.analysis.series_masks()["L5-S1 disc"].copy()
    volume = model.volume
    k, j, i = np.argwhere(before).mean(axis=0)
    point = ijk_to_lps(volume.image_to_lps, np.array([[i + 6, j, k]]))[0]
    model.paint(point, volume.axes_lps[:, 2], radius_mm=3.0, depth_mm=4.0, value=True)
    model.end_stroke()
    corrected = model.analysis.series_masks()["L5-S1 disc"].copy()
    assert corrected.sum() > before.sum()
    window.findings.confirm_button.click()
    assert model.levels_confirmed
    # plan, approve, save, close
    window.suggest_plan("transforaminal-s1")
    qtbot.waitUntil(lambda: window.context.plan is not None and not window._tasks, timeout=120000)
    session = window.context.plan
    session.document.approve("Approver^Anna")
    approved = session.plan
    approved_metrics = {t.id: session.metrics(t.id).as_dict() for t in approved.trajectories}
    assert approved.level_check.confirmed_by == model.confirmed_by
    plan_path = tmp_path / "plan.json"
    assert window.save_plan(str(plan_path))
    db_path = window.db.path
    window.close()

    # a new window: the saved plan opens unchanged, on the study analysed again
    again = make_window("2x2")
    import_and_open(again, qtbot, [demo_study / "MR"], ["SAG T2 TSE"])
    _wait_for_analysis(again, qtbot, 0)
    opened = []
    again.open_plan(str(plan_path), on_done=opened.append)
    qtbot.waitUntil(lambda: bool(opened) and not again._tasks, timeout=120000)
    assert again.context.plan.plan == approved
    # the disc on screen is the new analysis, not the brushed one: said, and the export keeps the saved one
    (note,) = again.reopen_notes
    assert "not the one saved with the plan" in note and "plan.disc-seg.dcm" in note

    # the command line exports it: the corrected mask and the approved numbers, nothing recomputed
    out = tmp_path / "export"
    done = subprocess.run([sys.executable, "main.py", "export", str(plan_path), "--out", str(out), "--db", str(db_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    segs = [p for p in out.rglob("*") if p.is_file() and _modality(p) == "SEG"]
    assert len(segs) == 1, [p.name for p in out.rglob("*")]
    assert np.array_equal(saved_disc_mask(segs[0], volume), corrected)
    saved = json.loads(plan_path.read_text())
    assert _json(saved["computed"]["trajectories"]) == _json(approved_metrics)
    assert saved["level_check"]["confirmed_by"] == model.confirmed_by


def _modality(path) -> str:
    try:
        return str(pydicom.dcmread(path, stop_before_pixels=True).get("Modality", ""))
    except Exception:  # noqa: BLE001 - the DICOMDIR's folder holds other files too
        return ""


def _json(value):
    return json.loads(json.dumps(value))
