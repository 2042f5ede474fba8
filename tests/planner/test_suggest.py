"""Issue 5: safety anatomy and suggested trajectories on phantoms with known truth, and the plan CLI.

Truth is the phantom itself: every suggested path is sampled against the
phantom's own bone, iliac, thecal sac and root masks (not against our estimate).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict

import numpy as np
import pytest

from planner.demo import write_demo_study
from planner.demo.phantom import Finding, SpinePhantom
from planner.disc.analysis import analyze_study_series
from planner.plan.anatomy import build_anatomy
from planner.plan.model import plan_from_dict
from planner.plan.planning import other_mr_volumes
from planner.plan.suggest import NoSafePathError, suggest_trajectory
from planner.plan.trajectory import path_points

PHANTOMS = {
    "protrusion-left": (Finding("protrusion", "left", 5.0, 14.0), False),
    "extrusion-right": (Finding("extrusion", "right", 6.0, 10.0, migration_mm=4.0), False),
    "bulge": (Finding("bulge", "central", 3.0), False),
    "normal-high-crests": (Finding("normal", "central", 0.0), True),
}


@pytest.fixture(scope="module", params=sorted(PHANTOMS))
def planned(request, tmp_path_factory):
    finding, high = PHANTOMS[request.param]
    out = tmp_path_factory.mktemp(request.param)
    truth = write_demo_study(out, finding=finding, high_crests=high, ultrasound=False)
    study = analyze_study_series(out)
    anatomy = build_anatomy(study.analysis, other_mr_volumes(study))
    phantom = SpinePhantom(finding=finding, high_crests=high)
    return request.param, truth, anatomy, phantom


def _truth_along(phantom: SpinePhantom, trajectory, skip_last_mm: float = 0.0) -> dict[str, bool]:
    """Which phantom structures the straight path touches (sampled every 0.5 mm)."""
    points, depth = path_points(trajectory.entry_lps, trajectory.target_lps)
    points = points[depth <= depth[-1] - skip_last_mm]
    _, labels = phantom.sample(points.astype(np.float32))
    return defaultdict(bool, {name: bool(mask.any()) for name, mask in labels.items()})


@pytest.mark.parametrize("side", ["left", "right"])
def test_transforaminal_target_is_the_s1_foramen_and_the_path_misses_bone(planned, side):
    name, truth, anatomy, phantom = planned
    suggestion = suggest_trajectory(anatomy, "transforaminal-s1", side)
    t = suggestion.trajectory
    assert np.linalg.norm(np.subtract(t.target_lps, truth["s1_foramen_lps"][side])) < 3.0
    touched = _truth_along(phantom, t)
    assert not touched["bone"], f"{name}: the suggested {side} path crosses bone"
    assert not touched["thecal_sac"]
    assert not touched[f"S1_root_{'right' if side == 'left' else 'left'}"]
    # the entry is on the skin: just outside, a millimetre further out, is air
    outward = np.subtract(t.entry_lps, t.target_lps)
    outward /= np.linalg.norm(outward)
    image, _ = phantom.sample(np.array([np.add(t.entry_lps, 3.0 * outward)], np.float32))
    assert image[0] == 0.0
    assert suggestion.metrics.needle_ok and not suggestion.metrics.warnings


def test_interlaminar_target_is_behind_the_thecal_sac(planned):
    name, truth, anatomy, phantom = planned
    t = suggest_trajectory(anatomy, "interlaminar-l5s1", "left").trajectory
    _, at_target = phantom.sample(np.array([t.target_lps], np.float32))
    assert not at_target.get("thecal_sac", [False])[0] and not at_target["bone"][0]
    # within 5 mm behind the sac: step 5 mm towards the disc and meet CSF
    disc = np.asarray(truth["levels"]["L5-S1"]["center_lps"])
    towards = (disc - np.asarray(t.target_lps)) / np.linalg.norm(disc - np.asarray(t.target_lps))
    steps = np.asarray(t.target_lps) + np.linspace(0, 5, 11)[:, None] * towards
    assert phantom.sample(steps.astype(np.float32))[1]["thecal_sac"].any()
    assert not _truth_along(phantom, t, skip_last_mm=0.5)["bone"]
    assert t.entry_lps[0] > t.target_lps[0] + 2.0  # a left paramedian entry (+x is the patient's left)


def test_intradiscal_is_blocked_by_high_crests_and_otherwise_parallel_to_the_disc(planned):
    name, truth, anatomy, phantom = planned
    side = "left"
    if name == "normal-high-crests":
        for side in ("left", "right"):
            with pytest.raises(NoSafePathError, match="iliac crest"):
                suggest_trajectory(anatomy, "intradiscal-l5s1", side)
        return
    if name == "extrusion-right":
        side = "right"
    suggestion = suggest_trajectory(anatomy, "intradiscal-l5s1", side)
    t = suggestion.trajectory
    _, at_target = phantom.sample(np.array([t.target_lps], np.float32))
    assert at_target["L5-S1_disc"][0]
    touched = _truth_along(phantom, t, skip_last_mm=0.0)
    assert not touched["iliac_crest"] and not touched["thecal_sac"]
    assert suggestion.metrics.disc_plane_deg <= 9.0
    # the needle enters from the chosen side
    assert (t.entry_lps[0] - t.target_lps[0]) * (1 if side == "left" else -1) > 30.0


def test_anatomy_finds_the_iliac_crests_and_the_sac(planned):
    name, truth, anatomy, phantom = planned
    ijk = np.argwhere(anatomy.masks["iliac crest"])[:, ::-1]
    points = ijk * 1.5 + anatomy.image_to_lps[:3, 3]
    sample = points[:: max(1, len(points) // 2000)]
    _, labels = phantom.sample(sample.astype(np.float32))
    assert len(points) > 2000
    assert labels["iliac_crest"].mean() > 0.8  # what we call iliac crest is the ilium
    sac = np.argwhere(anatomy.masks["thecal sac"])[:, ::-1] * 1.5 + anatomy.image_to_lps[:3, 3]
    assert phantom.sample(sac.astype(np.float32))[1]["thecal_sac"].mean() > 0.8


def test_plan_cli_writes_a_valid_plan_and_refuses_a_blocked_path(demo_study, tmp_path):
    out = tmp_path / "plan"
    run = subprocess.run(
        [sys.executable, "main.py", "plan", str(demo_study), "--procedure", "transforaminal-s1", "--out", str(out), "--author", "dr test"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    data = json.loads((out / "plan.json").read_text())
    plan = plan_from_dict(data, "plan.json")
    assert plan.procedure == "transforaminal-s1" and plan.side == "left"  # the demo's herniation is on the left
    assert plan.study.study_instance_uid and plan.study.series_uid("sagittal")
    assert plan.finding["classification"] == "protrusion" and plan.finding["analysis_file"] == "analysis.json"
    metrics = data["computed"]["trajectories"][plan.trajectories[0].id]
    for key in ("length_mm", "depth_mm", "craniocaudal_deg", "mediolateral_deg", "c_arm", "needle_long_enough", "distances"):
        assert key in metrics
    assert {d["kind"] for d in metrics["distances"]} >= {"bone", "iliac crest", "dura", "nerve root", "disc"}
    assert (out / "analysis.json").exists() and (out / "l5s1_disc_seg.dcm").exists()
    patient = json.loads(json.dumps(plan.study.patient_name))
    assert patient not in run.stdout + run.stderr  # no patient names in the output


def test_plan_cli_says_when_no_safe_path_exists(tmp_path):
    study = tmp_path / "study"
    write_demo_study(study, finding=Finding("normal", "central", 0.0), high_crests=True, ultrasound=False)
    out = tmp_path / "plan"
    run = subprocess.run(
        [sys.executable, "main.py", "plan", str(study), "--procedure", "intradiscal-l5s1", "--side", "left", "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1
    assert "No straight path" in run.stderr and "iliac crest" in run.stderr
    assert not (out / "plan.json").exists()


@pytest.mark.parametrize("planned", ["protrusion-left"], indirect=True)
def test_a_target_outside_what_its_procedure_names_blocks_approve(planned):
    """Issue 24: an intradiscal target dragged out of the disc, an epidural one into the thecal sac, a
    transforaminal one away from the foramen: error-level warnings, and Approve waits for them."""
    import dataclasses

    from planner.plan.planning import approval_blocked
    from planner.plan.suggest import metrics_for

    _name, _truth, anatomy, _phantom = planned
    intradiscal = suggest_trajectory(anatomy, "intradiscal-l5s1", "left")
    assert not intradiscal.metrics.errors
    plan = _plan_with(intradiscal.trajectory, "intradiscal-l5s1")
    assert approval_blocked(None, plan, anatomy) == ""
    # dragged 15 mm backwards, behind the disc
    moved = dataclasses.replace(intradiscal.trajectory,
                                target_lps=tuple(np.add(intradiscal.trajectory.target_lps, anatomy.disc_posterior_lps * 15.0)))
    metrics = metrics_for(anatomy, "intradiscal-l5s1", moved)
    assert metrics.errors and "outside the L5-S1 disc" in metrics.errors[0] and metrics.errors[0] in metrics.warnings
    assert "outside the L5-S1 disc" in approval_blocked(None, _plan_with(moved, "intradiscal-l5s1"), anatomy)
    # an interlaminar target inside the thecal sac: intrathecal
    sac = np.argwhere(anatomy.masks["thecal sac"])[len(np.argwhere(anatomy.masks["thecal sac"])) // 2]
    inside = tuple((anatomy.image_to_lps @ np.r_[sac[::-1], 1.0])[:3])
    interlaminar = suggest_trajectory(anatomy, "interlaminar-l5s1", "left").trajectory
    errors = metrics_for(anatomy, "interlaminar-l5s1", dataclasses.replace(interlaminar, target_lps=inside)).errors
    assert any("intrathecal" in e for e in errors)
    # a transforaminal target 25 mm cranial of the S1 foramen
    foramen = suggest_trajectory(anatomy, "transforaminal-s1", "left").trajectory
    high = dataclasses.replace(foramen, target_lps=tuple(np.add(foramen.target_lps, anatomy.disc_normal_lps * 25.0)))
    assert any("S1 foramen" in e for e in metrics_for(anatomy, "transforaminal-s1", high).errors)


@pytest.mark.parametrize("planned", ["protrusion-left"], indirect=True)
def test_a_path_at_the_edge_of_the_imaged_volume_is_warned(planned):
    import dataclasses

    from planner.plan.suggest import metrics_for

    _name, _truth, anatomy, _phantom = planned
    t = suggest_trajectory(anatomy, "transforaminal-s1", "left").trajectory
    covered = np.argwhere(anatomy.covered)
    # an entry 1 mm inside the covered region's left edge (LPS +x), at the entry's height
    edge_x = (anatomy.image_to_lps @ np.r_[covered[:, 2].max(), 0, 0, 1.0])[0]
    entry = (edge_x - 1.0, t.entry_lps[1], t.entry_lps[2])
    metrics = metrics_for(anatomy, "transforaminal-s1", dataclasses.replace(t, entry_lps=entry))
    assert any("edge of the imaged volume" in w or "outside the imaged volume" in w for w in metrics.warnings)


def _plan_with(trajectory, procedure):
    from planner.plan.model import Plan, StudyRef

    return Plan(study=StudyRef("1.2.3", "1.2.3.4"), procedure=procedure, side="left",
                trajectories=(trajectory,), author="Test")
