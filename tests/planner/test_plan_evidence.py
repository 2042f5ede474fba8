"""A saved plan keeps what the physician approved: the corrected disc mask and the images it stood on (issue 25)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pydicom
import pytest

from planner.dicom.loader import load_series, read_path_series
from planner.disc.model import DiscModel, analyze_volume
from planner.errors import ExportError
from planner.export.bundle import load_export_source
from planner.geometry import ijk_to_lps
from planner.plan.anatomy import build_anatomy
from planner.plan.evidence import seg_file_name, source_changed, source_fingerprint, write_evidence
from planner.plan.session import PlanSession
from planner.undo import UndoStack


@pytest.fixture(scope="module")
def study_copy(demo_study, tmp_path_factory):
    """The demo's MR series in a folder of their own (read only; a test that changes them copies them)."""
    out = tmp_path_factory.mktemp("study")
    shutil.copytree(demo_study / "MR", out / "MR")
    return out


def _corrected_save(study, out):
    """main.py plan, then the workstation's edit and save: brush the disc mask, save with the evidence."""
    from planner.plan.planning import plan_study

    plan_study(study, "transforaminal-s1", None, out, author="Kim^Lee")
    plan_path = out / "plan.json"
    series, _ = read_path_series(study / "MR" / "SAG_T2")
    headers = next(iter(series.values()))
    volume = load_series(headers).volumes[0]
    undo = UndoStack()
    model = DiscModel(analyze_volume(volume), undo)
    before = model.analysis.series_masks()["L5-S1 disc"].copy()
    centre = np.argwhere(before).mean(axis=0)  # k, j, i
    point = ijk_to_lps(volume.image_to_lps, np.array([[centre[2] + 6, centre[1], centre[0]]]))[0]
    model.paint(point, volume.axes_lps[:, 2], radius_mm=3.0, depth_mm=4.0, value=True)
    model.end_stroke()
    corrected = model.analysis.series_masks()["L5-S1 disc"]
    assert corrected.sum() > before.sum()
    session = PlanSession.open(plan_path, undo)
    session.set_anatomy(build_anatomy(model.analysis, []))  # as the workstation attaches it
    session.save(plan_path, evidence=write_evidence(plan_path, model, headers))
    return plan_path, corrected, volume


def test_export_uses_the_saved_corrected_mask_and_the_saved_numbers(study_copy, tmp_path):
    plan_path, corrected, volume = _corrected_save(study_copy, tmp_path / "plan")
    data = json.loads(plan_path.read_text())
    assert data["schema_version"] == 2
    assert data["evidence"]["disc_seg_file"] == seg_file_name(plan_path) == "plan.disc-seg.dcm"
    assert data["evidence"]["source"] == source_fingerprint(volume) and data["evidence"]["saved_at"]
    source = load_export_source(plan_path)
    assert np.array_equal(source.disc_mask, corrected)  # voxel for voxel, not a fresh segmentation
    assert source.metrics == data["computed"]["trajectories"]


def test_changed_source_pixels_are_said_never_silently_recomputed(study_copy, tmp_path):
    study = tmp_path / "study"  # this test changes a pixel: in its own copy
    shutil.copytree(study_copy, study)
    plan_path, _corrected, volume = _corrected_save(study, tmp_path / "plan")
    data = json.loads(plan_path.read_text())
    assert source_changed(data["evidence"]["source"], volume) == ""
    first = sorted((study / "MR" / "SAG_T2").iterdir())[7]
    ds = pydicom.dcmread(first)
    pixels = ds.pixel_array.copy()
    pixels[10, 10] += 1
    ds.PixelData = pixels.tobytes()
    ds.save_as(first)
    with pytest.raises(ExportError, match="changed since the plan was saved; open the study, check the plan and save it again"):
        load_export_source(plan_path)

def test_a_version_1_plan_file_is_read_and_exported_with_its_evidence_and_left_unchanged(study_copy, tmp_path):
    """Version 1 kept the disc SEG and the source fingerprint inside `computed`: read, migrated in memory,
    exported with that SEG; the file on disk stays as it was; the next save writes version 2."""
    plan_path, corrected, volume = _corrected_save(study_copy, tmp_path / "plan")
    data = json.loads(plan_path.read_text())
    evidence = data.pop("evidence")
    data["schema_version"] = 1
    data["computed"].update(disc_seg_file=evidence["disc_seg_file"], source=evidence["source"])
    old = tmp_path / "plan" / "v1.json"
    shutil.copy(plan_path.parent / evidence["disc_seg_file"], plan_path.parent / "v1.disc-seg.dcm")
    data["computed"]["disc_seg_file"] = "v1.disc-seg.dcm"
    old.write_text(json.dumps(data, indent=1))
    text = old.read_text()
    source = load_export_source(old)
    assert np.array_equal(source.disc_mask, corrected)
    assert source.metrics == data["computed"]["trajectories"]
    session = PlanSession.open(old, UndoStack())
    assert session.plan.level_check == PlanSession.open(plan_path, UndoStack()).plan.level_check
    assert old.read_text() == text  # reading never changes the file
    session.save(tmp_path / "plan" / "v2.json")
    assert json.loads((tmp_path / "plan" / "v2.json").read_text())["schema_version"] == 2


def test_reopening_says_when_the_images_or_the_disc_are_not_the_saved_ones(study_copy, tmp_path):
    from planner.plan.evidence import read_evidence, reopen_notes, saved_disc_mask

    plan_path, corrected, volume = _corrected_save(study_copy, tmp_path / "plan")
    evidence = read_evidence(plan_path)
    assert reopen_notes(plan_path, evidence, volume, corrected) == []  # as saved
    fresh = saved_disc_mask(plan_path.parent / evidence["disc_seg_file"], volume).copy()
    fresh[fresh.nonzero()[0][0]] = False  # another disc on screen
    (note,) = reopen_notes(plan_path, evidence, volume, fresh)
    assert "not the one saved with the plan (Dice 0.9" in note
    changed = dict(evidence, source=dict(evidence["source"], pixels_sha256="0" * 64))
    (note,) = reopen_notes(plan_path, changed, volume, corrected)
    assert "changed since the plan was saved" in note and "do not stand for these images" in note
