"""PACS (issue 6) against a real Orthanc: echo, store + read back, find + get, outbox across an outage, refusals."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pydicom
import pytest

from planner.errors import PacsError
from planner.export.bundle import build_export
from planner.export.sr import plan_from_sr
from planner.pacs.network import PacsNode, echo, find, get, store
from planner.pacs.outbox import Outbox
from planner.plan.model import plan_to_dict


@pytest.fixture(scope="module")
def bundle(approved_source):  # noqa: F811
    return build_export(approved_source)


def dataset_body(data: bytes) -> bytes:
    """A Part 10 file's bytes after its File Meta Information (what the PACS must keep unchanged)."""
    assert data[128:132] == b"DICM"
    group_length = int.from_bytes(data[140:144], "little")  # (0002,0000) UL, explicit VR: tag 4 + VR 2 + len 2
    return data[144 + group_length:]


def encoded(ds) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def test_echo_and_a_clear_message_when_nothing_listens(orthanc):
    assert echo(orthanc.node) > 0
    closed = PacsNode("NOBODY", "127.0.0.1", 1, timeout_s=3)
    with pytest.raises(PacsError, match="cannot connect to 127.0.0.1:1"):
        echo(closed)


def test_store_the_export_and_read_it_back_byte_for_byte(orthanc, bundle, tmp_path):
    outbox = Outbox(tmp_path / "outbox")
    outbox.enqueue(orthanc.node, bundle.datasets)
    summary = outbox.process()
    assert (summary.sent, summary.failed) == (len(bundle.datasets), 0)
    assert outbox.pending_count() == 0
    for ds in bundle.datasets:
        stored = orthanc.instance_file(ds.SOPInstanceUID)
        assert dataset_body(stored) == dataset_body(encoded(ds)), ds.Modality
    # inside the original study, not a new one
    studies = orthanc.rest("/studies?expand")
    assert [s["MainDicomTags"]["StudyInstanceUID"] for s in studies] == [bundle.plan.study.study_instance_uid]


def test_find_and_get_a_study_then_open_the_plan_from_it(orthanc, bundle, approved_source, tmp_path):
    mr_files = [h.path for h in approved_source.headers]
    assert all(r.ok for r in store(orthanc.node, mr_files + bundle.datasets))
    studies = find(orthanc.node, "STUDY", {"PatientID": approved_source.headers[0].patient_id})
    assert [s.StudyInstanceUID for s in studies] == [bundle.plan.study.study_instance_uid]
    patients = find(orthanc.node, "PATIENT", {"PatientID": approved_source.headers[0].patient_id})
    assert len(patients) == 1
    series = find(orthanc.node, "SERIES", {"StudyInstanceUID": studies[0].StudyInstanceUID})
    assert {s.Modality for s in series} == {"MR", "SR", "SEG", "OT", "KO", "DOC"}
    progress = []
    files = get(orthanc.node, studies[0].StudyInstanceUID, tmp_path / "got", progress=lambda d, t, s: progress.append(d))
    assert len(files) == len(mr_files) + len(bundle.datasets)
    assert progress and progress[-1] == len(files)
    from planner.dicom.database import StudyDatabase
    from planner.dicom.importer import import_paths

    with StudyDatabase(tmp_path / "db.sqlite") as db:
        report = import_paths([str(tmp_path / "got")], db)
    assert not report.rejected
    sr = next(pydicom.dcmread(f) for f in files if pydicom.dcmread(f, stop_before_pixels=True).Modality == "SR")
    assert plan_to_dict(plan_from_sr(sr)) == plan_to_dict(bundle.plan)


def test_pacs_stopped_mid_export_keeps_the_rest_queued_and_sends_each_once_after_restart(orthanc, bundle, tmp_path):
    outbox = Outbox(tmp_path / "outbox")
    outbox.enqueue(orthanc.node, bundle.datasets)
    total = len(bundle.datasets)

    def stop_after_two(done, _total, _text):
        if done == 2:
            orthanc.stop()

    first = outbox.process(progress=stop_after_two)
    assert first.sent == 2 and first.failed == total - 2
    waiting = outbox.items(pending_only=True)
    assert len(waiting) == total - 2
    assert all(i.last_error and i.attempts == 1 for i in waiting)
    assert all(i.next_attempt > time.time() for i in waiting)  # backed off, not hammering
    sent_first = {i.sop_instance_uid: i.sent for i in outbox.items() if i.state == "sent"}

    # a restart of the application: a new Outbox on the same folder still has them
    outbox = Outbox(tmp_path / "outbox")
    assert outbox.process().sent == 0  # not due yet
    orthanc.start()
    second = outbox.process(due_only=False)
    assert (second.sent, second.failed) == (total - 2, 0)
    assert outbox.pending_count() == 0
    after = {i.sop_instance_uid: i.sent for i in outbox.items()}
    assert all(after[uid] == when for uid, when in sent_first.items())  # the first two were not sent again
    assert sorted(orthanc.rest("/instances?expand") and [i["MainDicomTags"]["SOPInstanceUID"]
                                                          for i in orthanc.rest("/instances?expand")]) == \
        sorted(ds.SOPInstanceUID for ds in bundle.datasets)


def test_a_refused_sop_class_shows_its_reason_in_the_outbox(orthanc, bundle, tmp_path):
    unknown = pydicom.dcmread(io.BytesIO(encoded(bundle.key_images[0])))
    private_class = "1.2.826.0.1.3680043.8.498.99.1"  # a vendor's private storage class, unknown to the PACS
    unknown.SOPClassUID = unknown.file_meta.MediaStorageSOPClassUID = private_class
    unknown.SOPInstanceUID = unknown.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    outbox = Outbox(tmp_path / "outbox")
    outbox.enqueue(orthanc.node, [bundle.sr, unknown])
    summary = outbox.process()
    assert (summary.sent, summary.failed) == (1, 1)
    [item] = outbox.items(pending_only=True)
    assert "refused the presentation context" in item.last_error
    assert private_class in item.last_error and item.sop_instance_uid == unknown.SOPInstanceUID


def _mr_datasets(folder, n):
    from tests.conftest import make_stack

    return [pydicom.dcmread(p) for p in make_stack(folder, n)]


def test_two_senders_at_once_never_send_an_item_twice(orthanc, tmp_path):
    import threading

    datasets = _mr_datasets(tmp_path / "mr", 40)
    Outbox(tmp_path / "outbox").enqueue(orthanc.node, datasets)
    start = threading.Barrier(2)
    summaries = []

    def sender():
        outbox = Outbox(tmp_path / "outbox")  # its own connection, as a second window or the CLI would have
        start.wait()
        summaries.append(outbox.process(due_only=False))

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(summaries) == 2
    assert sum(s.sent for s in summaries) == 40 and sum(s.failed for s in summaries) == 0, summaries
    outbox = Outbox(tmp_path / "outbox")
    assert outbox.pending_count() == 0
    assert len(orthanc.rest("/instances")) == 40
    assert not list((tmp_path / "outbox" / "files").iterdir())  # each copy deleted once confirmed


def test_a_missing_queued_copy_fails_that_item_alone_and_can_be_discarded(orthanc, tmp_path, monkeypatch, capsys):
    import stat

    from planner.cli import main as cli

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    outbox = Outbox()  # in the user data folder, as the CLI's
    assert outbox.folder.is_relative_to(tmp_path / "data")
    datasets = _mr_datasets(tmp_path / "mr", 5)
    ids = outbox.enqueue(orthanc.node, datasets)
    for path in [outbox.folder, outbox.folder / "files", outbox.path, *(outbox.folder / "files").iterdir()]:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path  # patient data: the user's alone
    missing = next(i for i in outbox.items() if i.id == ids[2])
    Path(missing.path).unlink()

    summary = outbox.process(due_only=False)
    assert (summary.sent, summary.failed) == (4, 1)
    assert any(missing.path in reason for reason in summary.reasons)
    (waiting,) = outbox.items(pending_only=True)
    assert waiting.id == ids[2] and waiting.state == "failed" and missing.path in waiting.last_error
    assert outbox.process(due_only=False).sent == 0  # not retried for ever: the user decides
    assert len(orthanc.rest("/instances")) == 4

    assert cli(["pacs", "outbox"]) == 0
    assert f"{ids[2]}  " in capsys.readouterr().out
    assert cli(["pacs", "outbox", "--discard", str(ids[2])]) == 0
    assert outbox.pending_count() == 0
    assert cli(["pacs", "outbox", "--discard", str(ids[2])]) == 2
    assert "no such item" in capsys.readouterr().err
    assert cli(["pacs", "outbox", "--discard", str(ids[0])]) == 2  # confirmed by the PACS: not discardable


def test_the_backoff_runs_from_the_failure_not_from_the_start_of_a_long_batch(tmp_path, monkeypatch):
    """A batch that takes longer than the first backoff (a PACS going down mid-export, a slow network) left its
    failed items due again at once: the backoff was counted from the batch's start."""
    import planner.pacs.outbox as outbox_module

    def slow_then_down(node, datasets, progress=None, cancel=None, on_result=None):
        time.sleep(1.0)
        raise PacsError(f"{node.label}: connection refused")

    monkeypatch.setattr(outbox_module, "BACKOFF_FIRST_S", 0.5)
    monkeypatch.setattr(outbox_module, "store", slow_then_down)
    outbox = Outbox(tmp_path / "outbox")
    outbox.enqueue(PacsNode("NOBODY", "127.0.0.1", 1), _mr_datasets(tmp_path / "mr", 2))
    summary = outbox.process(due_only=False)
    assert summary.failed == 2
    assert all(i.next_attempt > time.time() for i in outbox.items(pending_only=True))
