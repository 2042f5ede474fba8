"""Fixtures the planner tests share: the demo plan, approved with an ultrasound approach and the calf's twitches."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from planner.dicom.loader import read_path_series
from planner.export.bundle import ExportSource, load_export_source
from planner.plan.document import PlanDocument
from planner.plan.model import UltrasoundApproach
from planner.viewing.ultrasound import UltrasoundClip


@pytest.fixture(scope="module")
def planned(demo_study, tmp_path_factory) -> Path:
    """``main.py plan`` on the demo study: plan.json, analysis.json and the disc SEG in one folder."""
    from planner.plan.planning import plan_study

    out = tmp_path_factory.mktemp("planned")
    plan_study(demo_study, "transforaminal-s1", None, out, author="Kim^Lee")
    return out / "plan.json"


@pytest.fixture(scope="module")
def fasciculation_record(twitch_cines) -> dict:
    from planner.fasciculation.analysis import analyse_clip
    from planner.fasciculation.record import plan_record
    from planner.fasciculation.source import open_cine

    return plan_record(analyse_clip(open_cine(twitch_cines["gastrocnemius"])), analyse_clip(open_cine(twitch_cines["control"])))


@pytest.fixture(scope="module")
def approved_source(planned, demo_study, fasciculation_record) -> ExportSource:
    """The demo plan with an ultrasound approach on the sacral image and the calf's fasciculations, approved."""
    source = load_export_source(planned)
    series, _ = read_path_series(demo_study / "US" / "SACRUM")
    header = next(iter(series.values()))[0]
    approach = UltrasoundApproach(
        sop_instance_uid=header.sop_instance_uid, frame_number=1, target_px=(320.0, 260.0), entry_px=(200.0, 150.0),
        series_instance_uid=header.series_instance_uid, depth_mm=31.5, insertion_angle_deg=42.0,
        probe_edge_distance_mm=11.0,
    )
    document = PlanDocument(dataclasses.replace(source.plan, ultrasound=approach, notes="Test: left S1, 2 mL",
                                                fasciculation=fasciculation_record))
    document.approve("Approver^Anna")
    return dataclasses.replace(source, plan=document.plan, ultrasound_header=header,
                               ultrasound_frame=UltrasoundClip(header).frame(0))
