"""Export of a plan (issue 6): SR, SEG, key images, KOS, PDF; validity, re-import, stable UIDs, the folder and the CLI."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

from planner.errors import ExportError, PlanFormatError
from planner.export.bundle import build_export, load_export_source, write_export_folder
from planner.export.sr import is_plan_sr, plan_from_sr, sr_geometry
from planner.plan.document import PlanDocument
from planner.plan.model import plan_to_dict

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def exported(approved_source, tmp_path_factory):
    bundle = build_export(approved_source)
    folder = write_export_folder(bundle, tmp_path_factory.mktemp("export"))
    return bundle, folder


def dciodvfy_errors(path: Path) -> list[str]:
    run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    return [line for line in (run.stdout + run.stderr).splitlines() if line.startswith("Error")]


def test_every_exported_object_validates_and_belongs_to_the_mr_study(exported, approved_source):
    bundle, folder = exported
    mr = pydicom.dcmread(approved_source.headers[0].path, stop_before_pixels=True)
    assert len(folder.files) == len(bundle.datasets) == 7  # SEG, 3 key images (2 MR + US), SR, KOS, PDF
    series = set()
    for path in [*folder.files, folder.dicomdir]:
        assert dciodvfy_errors(path) == [], path
    for path in folder.files:
        ds = pydicom.dcmread(path)
        for keyword in ("StudyInstanceUID", "PatientID", "PatientName", "PatientBirthDate", "AccessionNumber", "StudyDate"):
            assert ds.get(keyword) == mr.get(keyword), (path, keyword)
        assert ds.SeriesInstanceUID != mr.SeriesInstanceUID
        series.add((ds.Modality, ds.SeriesInstanceUID))
    assert {m for m, _ in series} == {"SR", "SEG", "OT", "KO", "DOC"}
    assert len(series) == 5  # one new series per kind of object
    for ds in bundle.key_images:
        assert ds.BurnedInAnnotation == "YES"


def test_sr_content_parses_with_dcmtk_and_highdicom(exported):
    bundle, folder = exported
    sr_path = next(p for p in folder.files if pydicom.dcmread(p, stop_before_pixels=True).Modality == "SR")
    dump = subprocess.run(["dsrdump", str(sr_path)], capture_output=True, text=True)
    assert dump.returncode == 0, dump.stderr
    assert "SCOORD3D" in dump.stdout and "POLYLINE" in dump.stdout and "POINT" in dump.stdout
    assert "Disc protrusion" in dump.stdout and "S1 transforaminal epidural injection" in dump.stdout
    # the fasciculation finding: TID 1500 numeric measurements, the muscle and its side coded
    assert "Muscle fasciculations on ultrasound" in dump.stdout and "Gastrocnemius muscle, medial head" in dump.stdout
    assert "Rectus femoris muscle" in dump.stdout and "/min" in dump.stdout
    def content(items):
        for item in items:
            yield item
            yield from content(item.get("ContentSequence", []))

    rates = [
        float(item.MeasuredValueSequence[0].NumericValue)
        for item in content(pydicom.dcmread(sr_path).ContentSequence)
        if "MeasuredValueSequence" in item and item.ConceptNameCodeSequence[0].CodeMeaning == "Fasciculation rate"
    ]
    assert rates == [pytest.approx(18.33, abs=0.01), 0.0]
    report = hd.sr.srread(sr_path)
    groups = report.content.get_planar_roi_measurement_groups()
    assert len(groups) == 2 * len(bundle.plan.trajectories)
    region = [g for g in groups if g.reference_type == hd.sr.CodedConcept("111030", "DCM", "Image Region")]
    assert region and all(g.roi.ReferencedFrameOfReferenceUID == bundle.plan.study.frame_of_reference_uid for g in region)
    names = {m.name.meaning for g in groups for m in g.get_measurements()}
    assert {"Length", "Depth", "Craniocaudal needle angle", "Needle Gauge", "Minimum distance from the needle path"} <= names
    # every code meaning fits a DICOM LO
    for item in pydicom.dcmread(sr_path).iterall():
        if item.keyword == "CodeMeaning":
            assert len(item.value) <= 64
    seg = hd.seg.segread(next(p for p in folder.files if pydicom.dcmread(p, stop_before_pixels=True).Modality == "SEG"))
    assert seg.SegmentationType == "BINARY"


def test_reimported_sr_restores_the_plan(exported):
    bundle, folder = exported
    sr_path = next(p for p in folder.files if pydicom.dcmread(p, stop_before_pixels=True).Modality == "SR")
    ds = pydicom.dcmread(sr_path)
    assert is_plan_sr(ds)
    restored = plan_from_sr(ds, str(sr_path))
    assert plan_to_dict(restored) == plan_to_dict(bundle.plan)
    geometry = sr_geometry(ds)
    for t in bundle.plan.trajectories:
        assert np.linalg.norm(geometry[t.id]["target"] - t.target_lps) < 0.01
        assert np.linalg.norm(geometry[t.id]["entry"] - t.entry_lps) < 0.01


def test_an_sr_edited_elsewhere_is_refused_with_the_trajectory_named(exported):
    bundle, _folder = exported
    ds = pydicom.dcmread(io.BytesIO(_encode(bundle.sr)))
    def items(sequence):
        for item in sequence:
            yield item
            yield from items(getattr(item, "ContentSequence", []))

    points = [i for i in items(ds.ContentSequence) if i.ValueType == "SCOORD3D" and i.GraphicType == "POINT"]
    assert points
    for item in points:
        item.GraphicData = [v + 1.0 for v in item.GraphicData]
    with pytest.raises(PlanFormatError, match="trajectory T1 target"):
        plan_from_sr(ds)


def _encode(ds) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def test_same_plan_version_same_uids_new_version_new_uids(approved_source, exported):
    bundle, _ = exported
    again = build_export(approved_source)
    assert [d.SOPInstanceUID for d in again.datasets] == [d.SOPInstanceUID for d in bundle.datasets]
    assert [d.SeriesInstanceUID for d in again.datasets] == [d.SeriesInstanceUID for d in bundle.datasets]
    document = PlanDocument(approved_source.plan)
    document.reopen("Approver^Anna", "move the target")
    newer = build_export(dataclasses.replace(approved_source, plan=document.plan))
    assert newer.plan.version == bundle.plan.version + 1
    old = {d.SOPInstanceUID for d in bundle.datasets if d.Modality != "SEG"} | {d.SeriesInstanceUID for d in bundle.datasets
                                                                              if d.Modality != "SEG"}
    new = {d.SOPInstanceUID for d in newer.datasets} | {d.SeriesInstanceUID for d in newer.datasets}
    assert not old & new  # the disc SEG is the same mask of the same series: the same object, kept once


def test_pdf_report_reads_as_a_procedure_plan(exported, tmp_path):
    bundle, folder = exported
    assert folder.pdf.read_bytes()[:5] == b"%PDF-"
    text = subprocess.run(["pdftotext", "-layout", str(folder.pdf), "-"], capture_output=True, text=True).stdout
    plan, t = bundle.plan, bundle.plan.trajectories[0]
    for expected in ("S1 transforaminal epidural injection", "APPROVED", "Approver^Anna", "DEMO LUMBAR",
                     "protrusion", "Platelet lysate, 2 mL", "target depth 31.5 mm", "42° to the transducer face",
                     f"({t.target_lps[0]:.1f}, {t.target_lps[1]:.1f}, {t.target_lps[2]:.1f})", "22 G 127 mm quincke",
                     "Key images", "Warnings", "Test: left S1, 2 mL", "Fasciculations on ultrasound",
                     "gastrocnemius (medial head)", "11 in 36 s", "18.3/min", "rectus femoris (control)",
                     "consistent with S1 root irritation", "pulsatile motion"):
        assert expected in text, expected
    encapsulated = bundle.pdf_document
    assert encapsulated.MIMETypeOfEncapsulatedDocument == "application/pdf"
    assert bytes(encapsulated.EncapsulatedDocument)[: len(bundle.pdf)] == bundle.pdf
    assert plan.approval.name in text


def test_export_refuses_a_plan_of_another_study(approved_source):
    other = dataclasses.replace(approved_source.plan, study=dataclasses.replace(approved_source.plan.study,
                                                                                 study_instance_uid="1.2.3.4"))
    with pytest.raises(ExportError, match="wrong study"):
        build_export(dataclasses.replace(approved_source, plan=other))


def test_cli_export_writes_a_dicomdir_folder_the_importer_reads(planned, tmp_path):
    out = tmp_path / "export"
    command = [str(ROOT / ".venv/bin/python"), str(ROOT / "main.py"), "export", str(planned), "--out", str(out)]
    refused = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)  # a draft needs --draft
    assert refused.returncode == 2 and "draft" in refused.stderr and str(planned) in refused.stderr
    assert not out.exists()
    run = subprocess.run(command + ["--draft"], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert (out / "DICOMDIR").exists() and list(out.glob("injection-plan-*.pdf"))
    from pydicom.fileset import FileSet

    fileset = FileSet(pydicom.dcmread(out / "DICOMDIR"))
    assert sorted({i.Modality for i in fileset}) == ["DOC", "KO", "OT", "SEG", "SR"]
    from planner.dicom.database import StudyDatabase
    from planner.dicom.importer import import_paths

    with StudyDatabase(tmp_path / "db.sqlite") as db:
        report = import_paths([str(out / "DICOMDIR")], db)
    assert not report.rejected
    assert report.n_indexed == len(fileset)
    plan = json.loads(planned.read_text())
    assert plan["study"]["study_instance_uid"] in run.stdout


def test_cli_export_names_a_missing_plan_file(tmp_path):
    run = subprocess.run([str(ROOT / ".venv/bin/python"), str(ROOT / "main.py"), "export", str(tmp_path / "nope.json"),
                          "--out", str(tmp_path / "o")], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 1
    assert "nope.json" in run.stderr and "cannot be read" in run.stderr


def test_the_report_describes_a_sequestration_as_a_free_fragment():
    """A sequestered fragment has no base and no arc: the report says its reach, width and where it lies."""
    from planner.export.report_pdf import _finding_table, _styles

    analysis = {
        "classification": "sequestration", "side": "left", "zone": "central", "max_displacement_mm": 8.0,
        "displaced_arc_deg": 0.0, "base_width_mm": 0.0, "dome_width_mm": 12.0, "migration_mm": 13.0,
        "migration_direction": "caudal",
    }
    table = _finding_table({}, analysis, _styles())
    rows = {row[0].text: row[1].text for row in table._cellvalues}
    assert rows["Displacement"] == "a free fragment reaching 8.0 mm beyond the endplates' margin"
    assert rows["Fragment width"] == "12.0 mm"
    assert rows["Fragment's far end"] == "13.0 mm caudal to the disc"
    assert "Base / dome width" not in rows and "Migration" not in rows


def test_a_broken_analysis_beside_the_plan_is_refused_naming_it(planned, tmp_path):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(planned.parent, folder)
    analysis = folder / "analysis.json"
    analysis.write_text('{"classification": "protrusion", ')
    before = analysis.read_bytes(), (folder / "plan.json").read_bytes()
    with pytest.raises(ExportError) as raised:
        load_export_source(folder / "plan.json")
    assert str(analysis) in str(raised.value) and "not valid JSON" in str(raised.value)
    assert (analysis.read_bytes(), (folder / "plan.json").read_bytes()) == before
