"""Fasciculation analysis on real DICOM cines written from phantoms with known twitches."""

from __future__ import annotations

import datetime
import json
import threading

import numpy as np
import pydicom
import pytest

from planner.demo import DEMO_PATIENT
from planner.demo import muscle_cine as mc
from planner.demo.writer import DemoWriter
from planner.errors import DicomInputError, OperationCancelled
from planner.fasciculation.analysis import analyse_clip
from planner.fasciculation.interpretation import comparison_json, interpret
from planner.fasciculation.muscles import MUSCLES, muscle_from_text
from planner.fasciculation.source import open_cine
from planner.progress import CancelToken


def _lateral_from_left(geometry, x_mm):
    """Event x (from the face centre, the demo's reference pixel) -> mm from the region's left edge."""
    x0, _, x1, _ = geometry.region
    return x_mm + (x1 - x0) // 2 * geometry.delta_mm


def _matched(truth, events, geometry):
    found = 0
    for tw in truth:
        if any(
            abs(e.time_s - tw.time_s) <= 0.3 and np.hypot(_lateral_from_left(geometry, e.x_mm) - tw.x_mm, e.depth_mm - tw.depth_mm) <= 6.0
            for e in events
        ):
            found += 1
    return found


@pytest.fixture(scope="module")
def gastrocnemius(twitch_cines):
    return analyse_clip(open_cine(twitch_cines["gastrocnemius"]))


@pytest.fixture(scope="module")
def control(twitch_cines):
    return analyse_clip(open_cine(twitch_cines["control"]))


def test_every_known_twitch_is_found_where_and_when_it_happened(twitch_cines, gastrocnemius):
    truth = twitch_cines["twitches"]
    assert len(truth) == 11
    assert _matched(truth, gastrocnemius.events, twitch_cines["geometry"]) == len(truth)
    assert len(gastrocnemius.events) == len(truth)  # and nothing else
    assert gastrocnemius.muscle.key == "gastrocnemius_medial" and gastrocnemius.side == "L"
    assert gastrocnemius.duration_s == pytest.approx(36.0, abs=0.05)
    assert gastrocnemius.rate_per_min == pytest.approx(60 * 11 / 36.0, rel=0.01)
    for event in gastrocnemius.events:
        assert 0.03 <= event.duration_s <= 1.0
        assert 0.05 <= event.displacement_mm <= 1.2
        assert 5.3 < event.depth_mm < 24.3  # inside the muscle layer
    assert gastrocnemius.longest_quiet_s == pytest.approx(max(np.diff([0.0] + [t.time_s for t in truth] + [36.0])), abs=0.2)
    assert gastrocnemius.warnings == []


def test_the_calm_control_has_no_twitch_and_its_artery_is_named(control):
    assert control.events == []
    assert control.muscle.key == "rectus_femoris"
    assert any("pulsatile motion" in w and "a vessel" in w for w in control.warnings), control.warnings
    assert control.longest_quiet_s == pytest.approx(36.0, abs=0.05)


def test_the_comparison_sentence_cites_the_criterion_and_is_not_a_diagnosis(gastrocnemius, control):
    sentence = interpret(gastrocnemius, control)
    assert sentence.startswith("gastrocnemius (medial head) 18/min (11 in 36 s), rectus femoris 0/min (0 in 36 s)")
    assert "consistent with S1 root irritation" in sentence and "(criterion: ≥ 2 in 60 s)" in sentence
    assert "diagnos" not in sentence
    both = comparison_json(gastrocnemius, control)
    assert set(both) >= {"events", "rate_per_min", "duration_s", "control", "interpretation", "warnings"}
    assert set(both["events"][0]) >= {"time_s", "duration_s", "x_mm", "depth_mm", "displacement_mm"}
    assert both["control"]["events"] == [] and both["rate_ratio"] is None
    json.dumps(both)
    assert "below the criterion" in interpret(control)


def _short_cine(tmp_path, encoding, twitches, seconds=12.0, colour_box=False, frame_time_vector=False, calibrated=True):
    geometry = mc.Geometry(rows=400, columns=512, region=(56, 30, 455, 379), delta_mm=0.1)
    scenario = mc.Scenario(duration_s=seconds, geometry=geometry, twitches=twitches, seed=5, drift_mm_per_s=0.2, tremor_mm=0.04,
                           fascia_mm=5.3, aponeurosis_mm=24.3)
    writer = DemoWriter(tmp_path, seed=5, patient=DEMO_PATIENT, study_date=datetime.date(2026, 11, 2))
    path = writer.write_us_cine("SHORT", "US MSK Soleus, cine", 3, mc.frames(scenario), scenario.frame_time_ms, geometry, encoding)
    if colour_box or frame_time_vector or not calibrated:
        ds = pydicom.dcmread(path)
        if colour_box:
            pixels = ds.pixel_array.copy()
            pixels[:, 200:240, 300:360] = (200, 40, 30)  # a colour Doppler box, red
            ds.PixelData = pixels.tobytes()
        if frame_time_vector:
            ds.FrameIncrementPointer = pydicom.tag.Tag("FrameTimeVector")
            ds.FrameTimeVector = [0] + [f"{1000 / 30:.3f}"] * (int(ds.NumberOfFrames) - 1)
            del ds.FrameTime
        if not calibrated:
            del ds.SequenceOfUltrasoundRegions
        ds.save_as(path, enforce_file_format=True)
    return path, scenario


def test_rgb_cine_with_frame_time_vector_and_a_colour_doppler_box(tmp_path):
    twitches = [mc.Twitch(3.0, 0.3, 12.0, 14.0, 0.6, 3.0), mc.Twitch(7.5, 0.2, 28.0, 17.0, 0.4, 3.0)]
    path, scenario = _short_cine(tmp_path, "rgb", twitches, colour_box=True, frame_time_vector=True)
    findings = analyse_clip(open_cine(path))
    assert [round(e.time_s, 1) for e in findings.events] == [3.0, 7.5]
    assert findings.muscle.key == "soleus"
    assert any(w.startswith("colour Doppler pixels in") for w in findings.warnings)
    assert any(w.startswith("too short to conclude: 12 s analysed") for w in findings.warnings)
    assert "too short to conclude" in interpret(findings)


def test_uncalibrated_cine_is_analysed_in_pixels_and_says_so(tmp_path):
    path, _ = _short_cine(tmp_path, "native", [mc.Twitch(4.0, 0.3, 20.0, 14.0, 0.7, 3.0)], seconds=8.0, calibrated=False)
    findings = analyse_clip(open_cine(path))
    assert any(w.startswith("uncalibrated:") for w in findings.warnings)
    assert len(findings.events) == 1 and findings.events[0].x_mm is None and findings.events[0].displacement_mm is None
    assert findings.events[0].to_json()["x_px"] > 0


def test_a_user_region_limits_the_analysis(twitch_cines):
    # the left third of the image only: the twitches there and no others
    findings = analyse_clip(open_cine(twitch_cines["gastrocnemius"]), rect=(56, 60, 190, 280))
    truth = [t for t in twitch_cines["twitches"] if t.x_mm < 12.0 and 6.0 < t.depth_mm < 23.0]
    assert findings.rect_px[0] >= 56 and findings.rect_px[2] <= 190
    assert _matched(truth, findings.events, twitch_cines["geometry"]) == len(truth) >= 2
    with pytest.raises(DicomInputError, match="lies outside the image's calibrated area"):
        analyse_clip(open_cine(twitch_cines["gastrocnemius"]), rect=(0, 0, 20, 10))


def test_cancel_stops_the_analysis_promptly(twitch_cines):
    token = CancelToken()
    outcome = []

    def work():
        try:
            analyse_clip(open_cine(twitch_cines["control"]), cancel=token)
        except OperationCancelled:
            outcome.append("cancelled")

    thread = threading.Thread(target=work)
    thread.start()
    threading.Event().wait(0.5)
    token.cancel()
    thread.join(timeout=5)
    assert not thread.is_alive() and outcome == ["cancelled"]


def test_what_is_not_a_cine_gets_a_sentence(demo_study, tmp_path):
    with pytest.raises(DicomInputError, match="is an ultrasound still image, not a cine"):
        open_cine(demo_study / "US" / "SACRUM")
    with pytest.raises(DicomInputError, match="is a MR image series, not a cine"):
        open_cine(demo_study / "MR" / "SAG_T2")
    (tmp_path / "note.txt").write_text("not DICOM")
    with pytest.raises(DicomInputError):
        open_cine(tmp_path / "note.txt")


def test_muscle_names_from_descriptions():
    assert muscle_from_text("US MSK Gastrocnemius medial head, cine").key == "gastrocnemius_medial"
    assert muscle_from_text("Lat. gastroc L").key == "gastrocnemius_lateral"
    assert muscle_from_text("TIB ANT R").key == "tibialis_anterior"
    assert muscle_from_text("tibialis_anterior").key == "tibialis_anterior"
    assert muscle_from_text("Abdomen") is None and muscle_from_text(None, "") is None
    assert MUSCLES["soleus"].sacral and not MUSCLES["tibialis_anterior"].sacral


def test_every_shared_ultrasound_sample_is_analysed_or_refused_with_a_sentence():
    from tests.conftest import SAMPLES, require_shared

    folder = require_shared(SAMPLES) / "ultrasound"
    outcomes = {}
    for path in sorted(folder.iterdir()):
        try:
            findings = analyse_clip(open_cine(path))
        except DicomInputError as exc:
            assert str(path.name) in str(exc) or str(folder) in str(exc), exc
            outcomes[path.name] = "refused"
        else:
            assert findings.warnings, path  # every sample is short: at least "too short" is said
            if findings.duration_s < 5.0:
                assert findings.events == [] and any(w.startswith("too short to analyse") for w in findings.warnings)
            outcomes[path.name] = "analysed"
    assert list(outcomes.values()).count("analysed") >= 5 and "refused" in outcomes.values()


def test_a_cine_too_long_for_memory_is_analysed_in_part_and_says_so(twitch_cines, gastrocnemius, monkeypatch):
    from planner.fasciculation import analysis

    blocks = gastrocnemius.grid.ny * gastrocnemius.grid.nx
    monkeypatch.setattr(analysis, "MAX_BLOCK_FRAMES", blocks * 400)  # 400 frames = 13.3 s of the 36 s
    findings = analyse_clip(open_cine(twitch_cines["gastrocnemius"]))
    assert findings.duration_s == pytest.approx(400 / 30, abs=0.05)
    assert "only the first 13 s of 36 s analysed (a longer cine: split it)" in findings.warnings
    assert [round(e.time_s, 1) for e in findings.events] == [0.8, 2.1, 3.6, 7.4, 11.2]  # the known ones before 13.3 s
