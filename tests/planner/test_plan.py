"""The plan document (issue 5): schema, undo of every edit, approval lock, atomic saves, autosave and recovery."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest

from planner.errors import PlanFormatError, PlanLockedError
from planner.plan.document import PlanDocument
from planner.plan.model import (
    Injectate,
    Needle,
    Plan,
    StudyRef,
    Trajectory,
    UltrasoundApproach,
    plan_from_dict,
    plan_schema,
    plan_to_dict,
)
from planner.plan.store import Autosaver, load_plan, recovery_files, save_plan


def make_plan(**changes) -> Plan:
    plan = Plan(
        study=StudyRef(
            "1.2.826.0.1.3680043.8.498.1",
            "1.2.826.0.1.3680043.8.498.2",
            series=(("sagittal", "1.2.826.0.1.3680043.8.498.3", "SAG T2", "MR"),),
        ),
        procedure="transforaminal-s1",
        side="left",
        author="Dr Planner",
        trajectories=(Trajectory("t1", "S1 left", (30.0, 60.0, -10.0), (20.0, 20.0, 0.0), origin="suggested"),),
        injectate=Injectate("platelet-lysate", 2.5),
        finding={"classification": "protrusion", "side": "left", "zone": "subarticular"},
        ultrasound=UltrasoundApproach("1.2.826.0.1.3680043.8.498.4", 1, (100.0, 200.0), (20.0, 40.0), depth_mm=41.0),
        fasciculation=FASCICULATION,
    )
    return replace(plan, **changes)


def _cine_record(muscle, rate, events):
    return {
        "sop_instance_uid": "1.2.826.0.1.3680043.8.498.5", "muscle": muscle, "muscle_name": muscle.replace("_", " "), "side": "L",
        "rate_per_min": rate, "n_events": len(events), "analysed_s": 60.0, "duration_s": 60.0, "longest_quiet_s": 12.5,
        "events": [{"time_s": t, "duration_s": 0.2, "x_mm": 1.5, "depth_mm": 12.0, "displacement_mm": 0.3, "manual": False} for t in events],
        "warnings": [],
    }


FASCICULATION = {
    "muscle": _cine_record("gastrocnemius_medial", 3.0, [4.0, 20.5, 47.25]),
    "control": _cine_record("tibialis_anterior", 0.0, []),
    "interpretation": "gastrocnemius 3/min, tibialis anterior 0/min: fasciculations in an S1 muscle (criterion: ≥ 2 in 60 s).",
}


def test_plan_round_trips_through_json_and_validates_against_the_schema():
    plan = make_plan()
    data = json.loads(json.dumps(plan_to_dict(plan)))
    jsonschema.Draft202012Validator(plan_schema()).validate(data)
    assert plan_from_dict(data) == plan


@pytest.mark.parametrize(
    "path, value, field",
    [
        (("trajectories", 0, "needle", "gauge"), 40, "trajectories[0].needle.gauge"),
        (("procedure",), "epidural", "procedure"),
        (("trajectories", 0, "target_lps"), [1, 2], "trajectories[0].target_lps"),
        (("injectate", "volume_ml"), -1, "injectate.volume_ml"),
        (("study", "study_instance_uid"), "not a uid", "study.study_instance_uid"),
        (("fasciculation", "muscle", "rate_per_min"), -2.0, "fasciculation.muscle.rate_per_min"),
        (("fasciculation", "muscle", "events", 0, "displacement_mm"), 500.0, "fasciculation.muscle.events[0].displacement_mm"),
        (("fasciculation", "muscle", "side"), "left", "fasciculation.muscle.side"),
    ],
)
def test_a_plan_file_that_breaks_the_schema_names_the_field_and_stays_untouched(tmp_path, path, value, field):
    data = plan_to_dict(make_plan())
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    broken = tmp_path / "broken.plan.json"
    broken.write_text(json.dumps(data))
    before = broken.read_bytes()
    with pytest.raises(PlanFormatError) as raised:
        load_plan(broken)
    assert raised.value.field == field
    assert str(broken) in str(raised.value) and field in str(raised.value)
    assert broken.read_bytes() == before


def test_not_json_and_newer_schema_are_refused_with_a_sentence(tmp_path):
    garbage = tmp_path / "garbage.plan.json"
    garbage.write_text('{"schema_version": 1, ')
    with pytest.raises(PlanFormatError, match="not valid JSON"):
        load_plan(garbage)
    newer = tmp_path / "newer.plan.json"
    newer.write_text(json.dumps({**plan_to_dict(make_plan()), "schema_version": 7}))
    with pytest.raises(PlanFormatError, match="newer version"):
        load_plan(newer)


def _text_with(replacement_of_notes: str) -> str:
    """A valid plan's JSON text whose notes value is replaced by raw JSON text."""
    text = json.dumps({**plan_to_dict(make_plan()), "notes": "NOTES"})
    return text.replace('"NOTES"', replacement_of_notes)


@pytest.mark.parametrize(
    "name, text, says",
    [
        ("nan", json.dumps(plan_to_dict(make_plan())).replace("30.0", "NaN", 1), "NaN"),
        ("infinity", json.dumps(plan_to_dict(make_plan())).replace("30.0", "-Infinity", 1), "Infinity"),
        ("far", json.dumps(plan_to_dict(make_plan())).replace("30.0", "1e300", 1), "trajectories[0].entry_lps[0]"),
        ("digits", _text_with("1" + "0" * 5000), "5001 digits"),
        ("deep", _text_with("[" * 100000 + "]" * 100000), "nested too deep"),
        ("nesting", _text_with("[" * 40 + "]" * 40), "nests deeper"),
        ("long notes", _text_with(json.dumps("x" * 30000)), "notes"),
        ("huge", _text_with(json.dumps("x" * (5 * 2**20))), "MB"),
        ("not an object", json.dumps("a plan"), "not a plan object"),
        ("computed", json.dumps({**plan_to_dict(make_plan()), "computed": {"trajectories": {"t1": {"x": {"a": [1] * 10}}}}}),
         "computed.trajectories.t1.x"),
    ],
)
def test_hostile_plan_files_are_refused_naming_the_file_and_left_unchanged(tmp_path, name, text, says):
    path = tmp_path / f"{name}.plan.json"
    path.write_text(text)
    before = path.stat().st_mtime_ns, path.read_bytes()
    started = time.perf_counter()
    with pytest.raises(PlanFormatError) as raised:
        load_plan(path)
    assert time.perf_counter() - started < 10.0
    assert str(path) in str(raised.value) and says in str(raised.value), str(raised.value)[:300]
    assert (path.stat().st_mtime_ns, path.read_bytes()) == before


def test_a_sided_procedure_needs_a_side():
    with pytest.raises(ValueError, match="needs a side"):
        make_plan(side="midline")
    data = plan_to_dict(make_plan())
    data["side"] = "midline"
    with pytest.raises(PlanFormatError, match="needs a side"):
        plan_from_dict(data)


def test_the_plan_side_is_the_herniations_or_the_one_s1_root_it_reaches():
    """A bilateral finding (displaced material at both margins) plans on the side of the one root it reaches."""
    from types import SimpleNamespace

    from planner.plan.planning import plan_side

    def finding(side, left=False, right=False):
        return SimpleNamespace(side=side, s1_root_contact={"left": left, "right": right})

    assert plan_side(finding("right"), "transforaminal-s1") == "right"
    assert plan_side(finding("bilateral", right=True), "transforaminal-s1") == "right"
    assert plan_side(finding("bilateral", left=True, right=True), "transforaminal-s1") == "left"
    assert plan_side(finding("central"), "intradiscal-l5s1") == "left"
    assert plan_side(finding("bilateral", right=True), "interlaminar-l5s1") == "midline"
    assert plan_side(finding("left"), "caudal") == "midline"
    assert plan_side(finding("left"), "transforaminal-s1", "right") == "right"


def test_every_edit_undoes_and_redoes():
    document = PlanDocument(make_plan())
    states = [document.plan]
    document.add_trajectory(Trajectory("t2", "second", (0, 50, 0), (0, 10, 0)))
    states.append(document.plan)
    for position in ((21.0, 20.0, 0.0), (22.0, 20.0, 0.0), (23.0, 20.0, 0.0)):  # one drag
        document.move_point("t1", "target", position, merge=True)
    document.end_drag()
    states.append(document.plan)
    document.set_trajectory("t2", needle=Needle(25, 120.0, "whitacre"))
    states.append(document.plan)
    document.set_properties(injectate=Injectate("culture-expanded-cells", 1.0), notes="check INR")
    states.append(document.plan)
    document.remove_trajectory("t2")
    states.append(document.plan)
    document.approve("Dr Approver")
    states.append(document.plan)
    assert document.plan.trajectory("t1").target_lps == (23.0, 20.0, 0.0)
    for expected in reversed(states[:-1]):
        assert document.undo.undo()
        assert document.plan == expected
    assert not document.undo.can_undo  # the drag was one step
    for expected in states[1:]:
        assert document.undo.redo()
        assert document.plan == expected


def test_an_approved_plan_is_read_only_until_reopened_which_is_recorded():
    document = PlanDocument(make_plan())
    document.approve("Dr Approver")
    plan = document.plan
    assert plan.approved and plan.approval.name == "Dr Approver"
    for edit in (
        lambda: document.move_point("t1", "entry", (0, 0, 0)),
        lambda: document.remove_trajectory("t1"),
        lambda: document.set_properties(notes="changed"),
        lambda: document.add_trajectory(Trajectory("t9", "x", (0, 1, 0), (0, 0, 0))),
    ):
        with pytest.raises(PlanLockedError):
            edit()
    assert document.plan == plan
    document.reopen("Dr Second", reason="target moved 2 mm")
    assert document.plan.status == "draft" and document.plan.version == 2
    assert [e.event for e in document.plan.history] == ["approved", "reopened"]
    assert document.plan.history[-1].reason == "target moved 2 mm"
    document.move_point("t1", "entry", (0, 0, 0))  # editable again


def test_save_is_atomic_a_failed_write_leaves_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "case.plan.json"
    first = make_plan()
    save_plan(first, path)
    assert load_plan(path) == first

    def full_disk(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError):
        save_plan(replace(first, notes="never written"), path)
    monkeypatch.undo()
    assert load_plan(path) == first
    assert [p.name for p in tmp_path.iterdir()] == ["case.plan.json"]  # no temporary left behind


def test_autosave_writes_within_the_delay_and_on_flush(tmp_path):
    document = PlanDocument(make_plan())
    saver = Autosaver(lambda: document.plan, folder=tmp_path, delay_s=0.3)
    document.subscribe(saver.changed)
    document.move_point("t1", "target", (1.0, 2.0, 3.0))
    assert not saver.path.exists()
    deadline = time.monotonic() + 5
    while not saver.path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert load_plan(saver.path) == document.plan
    document.set_properties(notes="last words")
    saver.flush()  # quit
    assert load_plan(saver.path).notes == "last words"
    assert recovery_files(tmp_path) == [saver.path]
    saver.discard()
    assert recovery_files(tmp_path) == []


def test_kill_9_mid_edit_loses_at_most_the_last_5_seconds(tmp_path):
    """A child process edits continuously with the real 5 s autosave; SIGKILL; the recovery file is recent and valid."""
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from tests.planner.test_plan import make_plan
        from planner.plan.document import PlanDocument
        from planner.plan.store import Autosaver
        document = PlanDocument(make_plan())
        saver = Autosaver(lambda: document.plan, folder={str(tmp_path)!r}, delay_s=5.0)
        document.subscribe(saver.changed)
        print("editing", flush=True)
        while True:
            document.set_properties(notes=repr(time.time()))  # when this edit was made
            time.sleep(0.05)
        """
    )
    # 12 s of editing from when the child has started (its imports took over 7 s on a loaded 2-core machine)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "editing"
        time.sleep(12.0)
        killed_at = time.time()
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
        child.stdout.close()
    (recovered,) = recovery_files(tmp_path)
    plan = load_plan(recovered)  # complete and valid despite the kill
    edited_until = float(plan.notes)
    assert killed_at - edited_until <= 5.0 + 1.0  # 5 s autosave window, 1 s for scheduling jitter
