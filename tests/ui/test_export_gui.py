"""Issue 6 in the workstation, the "done when" path: an approved S1 transforaminal plan on the demo study goes to a
real Orthanc in one action, lands inside the original MR study, and opens back into the app unchanged."""

from __future__ import annotations

from pathlib import Path

import pydicom

from planner.pacs.network import save_nodes, store
from planner.plan.model import plan_to_dict


def test_approved_plan_to_orthanc_in_one_action_and_back_unchanged(planned_window, orthanc, qtbot, tmp_path):  # noqa: F811
    window = planned_window
    headers = window.primary.loaded.headers
    assert all(r.ok for r in store(orthanc.node, [h.path for h in headers]))  # the MR study is already in PACS
    window.context.plan.document.approve("Approver^Anna")
    plan = window.context.plan.plan
    save_nodes([orthanc.node])

    results = []
    window.plan_panel.send_button.click()  # the one action
    qtbot.waitUntil(lambda: not window._tasks, timeout=60000)
    assert "sent to test Orthanc" in window.status_text.text()
    assert not window.outbox_button.isVisible()

    # inside the original study: one study, the MR series plus the export's own series
    studies = orthanc.rest("/studies?expand")
    assert [s["MainDicomTags"]["StudyInstanceUID"] for s in studies] == [plan.study.study_instance_uid]
    modalities = sorted(orthanc.rest(f"/series/{sid}")["MainDicomTags"]["Modality"] for sid in studies[0]["Series"])
    assert modalities == ["DOC", "KO", "MR", "OT", "SEG", "SR"]

    # retrieve the study from PACS into the app and open the plan from its SR: unchanged
    window.retrieve_study(orthanc.node, plan.study.study_instance_uid, on_done=results.append)
    qtbot.waitUntil(lambda: bool(results) and not window._tasks, timeout=60000)
    folder = Path(tmp_path / "data" / "spine-injection-planner" / "incoming" / plan.study.study_instance_uid)
    sr_file = next(f for f in folder.iterdir() if pydicom.dcmread(f, stop_before_pixels=True).Modality == "SR")
    window.context.set_plan(None)
    opened = []
    window.open_plan(str(sr_file), on_done=opened.append)
    qtbot.waitUntil(lambda: bool(opened) and not window._tasks, timeout=60000)
    assert plan_to_dict(window.context.plan.plan) == plan_to_dict(plan)
    assert window.context.plan.plan.approved  # and still read-only until reopened
    # the report in PACS is the PDF the app made
    pdf_file = next(f for f in folder.iterdir() if pydicom.dcmread(f, stop_before_pixels=True).Modality == "DOC")
    assert bytes(pydicom.dcmread(pdf_file).EncapsulatedDocument).startswith(b"%PDF-")
