"""``main.py plan``: the suggested plan for one study, with every metric and warning (issue 5).

    study = analyze_study_series("study/")
    anatomy = build_anatomy(study.analysis, other_mr_volumes(study))
    plan, metrics = suggested_plan(study, anatomy, "transforaminal-s1", "left", author="dr.k")
    write_plan_json(plan, anatomy, "out/plan.json", analysis_file="out/analysis.json")

:func:`plan_study` does all of it for the CLI; a study with no safe straight
path raises :class:`~planner.suggest.NoSafePathError` and writes no plan.
"""

from __future__ import annotations

import json
from pathlib import Path

from planner.anatomy import SafetyAnatomy, build_anatomy
from planner.analysis import StudyAnalysis, analyze_study_series, write_analysis
from planner.plan import SIDED, Plan, StudyRef, now_iso, plan_to_dict
from planner.plan_store import atomic_write_text
from planner.suggest import Suggestion, metrics_for, suggest_trajectory
from planner.trajectory import TrajectoryMetrics
from planner.volume import Volume


def other_mr_volumes(study: StudyAnalysis) -> list[Volume]:
    """The study's other MR volumes in the analysed series' frame of reference (for the safety anatomy)."""
    reference = study.sagittal.volume.frame_of_reference_uid
    return [
        s.volume
        for s in study.series
        if s is not study.sagittal and (not reference or s.volume.frame_of_reference_uid in ("", reference))
    ]


def study_ref(study: StudyAnalysis, study_path="") -> StudyRef:
    """How the plan refers to its study: UIDs first, the path only as a hint."""
    first = study.sagittal.headers[0]
    series = [("sagittal", study.sagittal.uid, study.sagittal.description, "MR")]
    series += [("axial", s.uid, s.description, "MR") for s in study.axial[:1]]
    return StudyRef(
        study_instance_uid=first.study_instance_uid,
        frame_of_reference_uid=first.frame_of_reference_uid,
        patient_id=first.patient_id,
        patient_name=first.patient_name,
        study_path=str(study_path),
        series=tuple(series),
    )


def finding_summary(study: StudyAnalysis, analysis_file: str = "") -> dict:
    finding = study.analysis.finding
    summary = {
        "classification": finding.classification,
        "side": finding.side,
        "zone": finding.zone,
        "max_displacement_mm": round(float(finding.max_displacement_mm), 2),
        "displaced_arc_deg": round(float(finding.displaced_arc_deg), 1),
    }
    if analysis_file:
        summary["analysis_file"] = str(analysis_file)
    return summary


def default_side(study: StudyAnalysis, procedure: str) -> str:
    """The side of the herniation for sided procedures (left when central or bilateral), midline otherwise."""
    if procedure == "caudal":
        return "midline"
    side = study.analysis.finding.side
    if side in ("left", "right"):
        return side
    return "left" if procedure in SIDED else "midline"


def suggested_plan(
    study: StudyAnalysis, anatomy: SafetyAnatomy, procedure: str, side: str, author: str, study_path="", analysis_file=""
) -> tuple[Plan, Suggestion]:
    """A draft plan holding the suggested trajectory; :class:`NoSafePathError` when there is none."""
    search_side = side if side in ("left", "right") else "midline"
    suggestion = suggest_trajectory(anatomy, procedure, search_side)
    plan = Plan(
        study=study_ref(study, study_path),
        procedure=procedure,
        side=side,
        author=author,
        trajectories=(suggestion.trajectory,),
        finding=finding_summary(study, analysis_file),
    )
    return plan, suggestion


def plan_metrics(plan: Plan, anatomy: SafetyAnatomy) -> dict[str, TrajectoryMetrics]:
    return {t.id: metrics_for(anatomy, plan.procedure, t) for t in plan.trajectories}


def plan_json(plan: Plan, anatomy: SafetyAnatomy | None, analysis_file: str = "") -> dict:
    """The plan's JSON with a ``computed`` section: every metric and warning per trajectory."""
    data = plan_to_dict(plan)
    if anatomy is not None:
        metrics = plan_metrics(plan, anatomy)
        data["computed"] = {
            "computed_at": now_iso(),
            "analysis_file": str(analysis_file),
            "trajectories": {tid: m.as_dict() for tid, m in metrics.items()},
            "warnings": list(anatomy.warnings) + [w for m in metrics.values() for w in m.warnings],
        }
    return data


def plan_study(study_path, procedure: str, side: str | None, out_dir, author: str, level_shift: int = 0) -> dict:
    """Analyse the study, build the suggested plan and write ``out_dir/analysis.json`` and ``plan.json``."""
    out = Path(out_dir)
    study = analyze_study_series(study_path, level_shift=level_shift)
    write_analysis(study, out)
    analysis_file = out / "analysis.json"
    anatomy = build_anatomy(study.analysis, other_mr_volumes(study))
    side = side or default_side(study, procedure)
    if procedure == "caudal":
        side = "midline"
    plan, _ = suggested_plan(study, anatomy, procedure, side, author, study_path, analysis_file.name)
    data = plan_json(plan, anatomy, analysis_file.name)
    atomic_write_text(out / "plan.json", json.dumps(data, indent=1))
    return data


def anatomy_and_suggestion(analysis, other_volumes, procedure: str, side: str, progress=None, cancel=None):
    """For a worker: (anatomy, suggestion or None, why there is none) of one analysed series."""
    from planner.suggest import NoSafePathError

    anatomy = build_anatomy(analysis, list(other_volumes), progress=progress, cancel=cancel)
    try:
        return anatomy, suggest_trajectory(anatomy, procedure, side), ""
    except NoSafePathError as error:
        return anatomy, None, str(error)


def study_ref_from_headers(sagittal_headers, others=()) -> StudyRef:
    """:class:`StudyRef` of a series on screen (GUI): ``others`` are (role, headers) of further series."""
    first = sagittal_headers[0]
    series = [("sagittal", first.series_instance_uid, first.series_description, first.modality)]
    series += [(role, h[0].series_instance_uid, h[0].series_description, h[0].modality) for role, h in others]
    return StudyRef(
        study_instance_uid=first.study_instance_uid,
        frame_of_reference_uid=first.frame_of_reference_uid,
        patient_id=first.patient_id,
        patient_name=first.patient_name,
        study_path="",
        series=tuple(series),
    )
