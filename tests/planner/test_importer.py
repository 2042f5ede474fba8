"""Import into the study database: folders, zip, DICOMDIR, idempotence, persistence, progress, cancel."""

from __future__ import annotations

import zipfile

import pytest

from planner.dicom.database import StudyDatabase
from planner.dicom.importer import import_paths
from planner.errors import DicomInputError
from planner.progress import CancelToken
from tests.conftest import SAMPLES, make_stack, require_shared


def test_folder_with_bad_files_keeps_the_good_series(tmp_path):
    make_stack(tmp_path / "in" / "series", 5)
    (tmp_path / "in" / "notes.txt").write_text("not dicom")
    broken = tmp_path / "in" / "series" / "s002.dcm"
    broken.write_bytes(broken.read_bytes()[:-7])
    db = StudyDatabase(tmp_path / "db.sqlite")
    report = import_paths([tmp_path / "in"], db)
    assert {r.path.rsplit("/", 1)[-1] for r in report.rejected} == {"notes.txt", "s002.dcm"}
    assert len(report.series) == 1 and report.series[0].n_instances == 4
    assert report.series[0].kind == "mr-volume"


def test_reimport_is_idempotent_and_a_second_start_needs_no_rescan(tmp_path):
    make_stack(tmp_path / "in", 6)
    db = StudyDatabase(tmp_path / "db.sqlite")
    first = import_paths([tmp_path / "in"], db)
    second = import_paths([tmp_path / "in"], db)
    assert first.n_indexed == 6 and second.n_indexed == 0 and second.n_unchanged == 6
    assert db.count_instances() == 6
    db.close()
    reopened = StudyDatabase(tmp_path / "db.sqlite")
    assert len(reopened.studies()) == 1
    assert reopened.series_summary(first.series[0].series_instance_uid).n_instances == 6


def test_zip_archive(tmp_path):
    files = make_stack(tmp_path / "in", 3)
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in files:
            zf.write(f, f"DICOM/{f.name}")
    db = StudyDatabase(tmp_path / "db.sqlite")
    report = import_paths([archive], db)
    assert report.series[0].n_instances == 3 and not report.rejected


@pytest.mark.shared
def test_dicomdir_finds_its_file_set(tmp_path):
    require_shared(SAMPLES)
    db = StudyDatabase(tmp_path / "db.sqlite")
    report = import_paths([SAMPLES / "other" / "pydicom__dicomdirtests" / "DICOMDIR"], db)
    assert not report.rejected
    assert sum(s.n_instances for s in report.series) == 31
    from planner.dicom.header import read_header

    files = [p for p in (SAMPLES / "other" / "pydicom__dicomdirtests").rglob("*") if p.is_file() and p.name != "DICOMDIR"]
    assert len(db.studies()) == len({read_header(p).study_instance_uid for p in files})


def test_progress_and_cancel(tmp_path):
    make_stack(tmp_path / "in", 150)
    calls = []
    token = CancelToken()

    def progress(done, total, text):
        calls.append((done, total))
        if done >= 64:
            token.cancel()

    db = StudyDatabase(tmp_path / "db.sqlite")
    report = import_paths([tmp_path / "in"], db, progress=progress, cancel=token)
    assert report.cancelled
    assert 0 < db.count_instances() < 150  # what was indexed before cancel is kept
    assert calls and calls[-1][1] == 150


def test_missing_path_stops_before_importing(tmp_path):
    db = StudyDatabase(tmp_path / "db.sqlite")
    with pytest.raises(DicomInputError, match="does not exist"):
        import_paths([tmp_path / "nowhere"], db)


def test_parallel_and_serial_agree(tmp_path):
    make_stack(tmp_path / "in", 130)
    serial = import_paths([tmp_path / "in"], StudyDatabase(tmp_path / "a.sqlite"), workers=1)
    parallel = import_paths([tmp_path / "in"], StudyDatabase(tmp_path / "b.sqlite"), workers=2)
    assert [s.as_json() for s in serial.series] == [s.as_json() for s in parallel.series]


def test_demo_series_are_kept_apart(demo_study, tmp_path):
    db = StudyDatabase(tmp_path / "db.sqlite")
    report = import_paths([demo_study / "MR", demo_study / "US"], db)
    kinds = sorted((s.description, s.kind) for s in report.series)
    assert ("SAG T2 TSE", "mr-volume") in kinds
    assert ("AX T2 TSE L5-S1", "mr-volume") in kinds
    assert ("US MSK Gastrocnemius medial head, cine", "us-cine") in kinds
    assert ("US Posterior sacrum S1 foramen, transverse", "us-single") in kinds
    assert len(report.series) == 6 and not report.rejected
    # the study's series by modality and frame of reference (the GUI's analysis looks for axial MR series so)
    study = db.studies()[0].study_instance_uid
    sagittal = next(s for s in report.series if s.description == "SAG T2 TSE")
    frame = db.instances(sagittal.series_instance_uid)[0].frame_of_reference_uid
    mr = db.series_uids(study, "MR", frame)
    assert {db.series_summary(uid).description for uid in mr} == {"SAG T2 TSE", "AX T2 TSE L4-L5", "AX T2 TSE L5-S1"}
    assert set(db.series_uids(study, "US")) | set(mr) == set(db.series_uids(study))
    assert db.series_uids(study, "MR", "1.2.3.4") == []
    # a second start reads the summaries kept in the file, ultrasound regions and all, without the headers
    summaries = {uid: db.series_summary(uid) for uid in db.series_uids()}  # as the browser lists them
    again = StudyDatabase(tmp_path / "db.sqlite")
    again.instances = lambda uid: pytest.fail("a kept summary was parsed again from the headers")
    assert {uid: again.series_summary(uid) for uid in summaries} == summaries
    assert any(again.series_summary(uid).us_regions for uid in db.series_uids(study, "US"))


def test_series_summaries_are_read_again_only_when_their_instances_change(tmp_path, monkeypatch):
    """The browser refreshes after every import: series an import did not touch are not parsed again."""
    db = StudyDatabase(tmp_path / "db.sqlite")
    import_paths([make_stack(tmp_path / "a", 3)[0].parent], db)
    uid = db.series_uids()[0]
    assert db.series_summary(uid).n_instances == 3
    parsed = []
    original = db.instances
    monkeypatch.setattr(db, "instances", lambda series: parsed.append(series) or original(series))
    assert db.series_summary(uid).n_instances == 3 and parsed == []
    import_paths([make_stack(tmp_path / "b", 5, origin=(0.0, 0.0, 10.0))[0].parent], db)  # five more slices of it
    assert db.series_summary(uid).n_instances == 8 and parsed == [uid]
    # another process's import (a second handle on the file) is seen too
    other = StudyDatabase(tmp_path / "db.sqlite")
    import_paths([make_stack(tmp_path / "c", 1, origin=(0.0, 0.0, 40.0))[0].parent], other)
    assert db.series_summary(uid).n_instances == 9


@pytest.mark.filterwarnings("ignore:Invalid value for VR CS")
@pytest.mark.filterwarnings("ignore:The value length")
def test_dicomdir_references_out_of_its_folder_are_refused_with_a_reason(tmp_path):
    import os

    import pydicom
    from pydicom.fileset import FileSet

    inside = make_stack(tmp_path / "made", 4)
    fileset = FileSet()
    for path in inside:
        ds = pydicom.dcmread(path)
        ds.StudyDate, ds.StudyTime, ds.StudyID = "20260101", "120000", "1"
        ds.PatientID, ds.SeriesNumber = ds.get("PatientID") or "ANON", ds.get("SeriesNumber") or 1
        fileset.add(ds)
    fileset.write(tmp_path / "set")
    (outside,) = make_stack(tmp_path / "outside", 1, series_uid="1.2.826.0.1.3680043.8.498.999")
    os.symlink(tmp_path / "outside", tmp_path / "set" / "LINK")
    dicomdir = tmp_path / "set" / "DICOMDIR"
    ds = pydicom.dcmread(dicomdir)
    images = [r for r in ds.DirectoryRecordSequence if r.DirectoryRecordType == "IMAGE"]
    images[0].ReferencedFileID = ["..", "outside", outside.name]
    images[1].ReferencedFileID = str(outside)  # an absolute path
    images[2].ReferencedFileID = ["LINK", outside.name]  # out through a symbolic link
    ds.save_as(dicomdir)

    db = StudyDatabase(tmp_path / "db.sqlite")
    report = import_paths([dicomdir], db)
    assert sum(s.n_instances for s in report.series) == 1  # the one honest reference
    assert db.count_instances() == 1
    reasons = sorted(r.reason for r in report.rejected)
    assert len(reasons) == 3 and all(r.path == str(dicomdir) for r in report.rejected), reasons
    assert any("'..'" in r and "record" in r for r in reasons)
    assert any("path separator" in r for r in reasons)
    assert any("symbolic link" in r for r in reasons)


def test_a_file_refused_then_mended_leaves_the_refused_list(tmp_path):
    """A file refused on one import and readable on the next is indexed and no longer listed as refused; the
    files that stayed good keep their rows (the refused list is consulted per batch only when it holds any)."""
    files = make_stack(tmp_path / "in", 4)
    good = files[0].read_bytes()
    files[0].write_bytes(b"not a DICOM file at all" * 10)
    db = StudyDatabase(tmp_path / "db.sqlite")
    first = import_paths([tmp_path / "in"], db)
    assert first.n_indexed == 3 and [path for path, _ in db.rejected()] == [str(files[0])]
    files[0].write_bytes(good)
    second = import_paths([tmp_path / "in"], db)
    assert second.n_indexed == 1 and not second.rejected
    assert db.rejected() == [] and db.count_instances() == 4 and len(db.studies()) == 1
