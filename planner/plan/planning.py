"""``main.py plan``: the suggested plan for one study, with every metric and warning (issue 5).

    study = analyze_study_series("study/")
    anatomy = study.session.build_anatomy(study.analysis)   # the study's MR series in its world
    suggestion = suggest_trajectory(anatomy, "transforaminal-s1", "left")
    plan = draft_plan(study_ref(study.sagittal.headers), study.analysis.finding, "transforaminal-s1", "left",
                      "dr.k", suggestion)
    data = plan_json(plan, anatomy)     # plan.json's content, with every metric and warning

:func:`plan_study` does all of it for the CLI; a study with no safe straight
path raises :class:`~planner.plan.suggest.NoSafePathError` and writes no plan.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from planner.disc.analysis import StudyAnalysis, analyze_study_series, write_analysis
from planner.errors import LevelNotConfirmed, PlannerError
from planner.plan.anatomy import SafetyAnatomy
from planner.plan.model import SIDED, LevelCheck, Plan, StudyRef, now_iso, plan_to_dict
from planner.plan.store import save_plan
from planner.plan.suggest import NoSafePathError, Suggestion, metrics_for, suggest_trajectory
from planner.plan.trajectory import TrajectoryMetrics
from planner.volume import Volume


def other_mr_volumes(study: StudyAnalysis) -> list[Volume]:
    """The study's other MR volumes in the analysed series' world (the safety anatomy's inputs); a series left
    out is said in ``study.warnings``."""
    return study.session.anatomy_volumes()


def default_author() -> str:
    """Who plans when nobody said: the login name."""
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no login name (containers): a plan still needs an author
        return "planner user"


def study_ref(sagittal_headers, others=(), study_path="") -> StudyRef:
    """How the plan refers to its study: UIDs first, the path only as a hint.

    ``others``: (role, headers) of further series shown or used (e.g. the axial one).
    """
    first = sagittal_headers[0]
    series = [("sagittal", first.series_instance_uid, first.series_description, first.modality)]
    series += [(role, h[0].series_instance_uid, h[0].series_description, h[0].modality) for role, h in others]
    return StudyRef(
        study_instance_uid=first.study_instance_uid,
        frame_of_reference_uid=first.frame_of_reference_uid,
        patient_id=first.patient_id,
        patient_name=first.patient_name,
        study_path=str(study_path),
        series=tuple(series),
    )


def level_check(levels, confirmed_by: str = "") -> LevelCheck:
    """How the level of an analysis (its :class:`~planner.disc.levels.LevelResult`) stands: its confidence, and
    ``confirmed_by`` (now) when a person confirmed the labels or shifted them."""
    return LevelCheck(
        levels.confidence,
        tuple(levels.confidence_reasons),
        levels.level_shift,
        confirmed_by,
        now_iso() if confirmed_by else "",
    )


def require_settled(check: LevelCheck, how: str) -> None:
    """Raise :class:`LevelNotConfirmed` (saying ``how`` to confirm) when ``check`` does not allow a plan."""
    if not check.settled:
        reasons = " ".join(check.reasons)
        raise LevelNotConfirmed(f"the level count from the sacrum is not certain ({reasons}) {how}")


def level_blocked(model=None, plan: Plan | None = None) -> str:
    """Why Suggest plan, Approve and export must wait (empty when they need not): the level count from the
    sacrum is not certain and nobody has confirmed or shifted it. ``model``: the shown
    :class:`~planner.disc.model.DiscModel`; ``plan``: the open plan, whose own record decides when it has one."""
    check = plan.level_check if plan is not None and plan.level_check is not None else None
    if check is None and model is not None:
        check = model.level_check()
    if check is None or check.settled:
        return ""
    return (
        "The level count from the sacrum is not certain: " + " ".join(check.reasons)
        + " Check the level labels on the sagittal view, then Confirm them or shift them (Higher/Lower)."
    )


def approval_blocked(model=None, plan: Plan | None = None, anatomy: SafetyAnatomy | None = None) -> str:
    """Why Approve must wait (empty when it need not): the level count (:func:`level_blocked`), then any
    trajectory whose target lies outside what its procedure names (error-level warnings)."""
    blocked = level_blocked(model, plan)
    if blocked or plan is None or anatomy is None:
        return blocked
    errors = [f"{t.label or t.id}: {e}" if len(plan.trajectories) > 1 else e
              for t in plan.trajectories for e in metrics_for(anatomy, plan.procedure, t).errors]
    return " ".join(errors)


def finding_summary(finding, analysis_file: str = "") -> dict:
    """The plan's link to the disc finding (a :class:`~planner.disc.bulge.BulgeFinding`)."""
    if not getattr(finding, "reliable", True):
        summary = {"classification": None, "reliable": False, "not_reliable_because": list(finding.problems)}
        if analysis_file:
            summary["analysis_file"] = str(analysis_file)
        return summary
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


def plan_side(finding, procedure: str, side: str | None = None) -> str:
    """The plan's side: midline for caudal, else the one asked for, else the herniation's; central or bilateral:
    the one S1 root the displaced material reaches, else left."""
    if procedure == "caudal":
        return "midline"
    if side:
        return side
    if finding.side in ("left", "right"):
        return finding.side
    if procedure not in SIDED:
        return "midline"
    touched = [root for root, reached in (finding.s1_root_contact or {}).items() if reached]
    return touched[0] if len(touched) == 1 else "left"


def draft_plan(
    ref: StudyRef, finding, procedure: str, side: str, author: str, suggestion: Suggestion | None, analysis_file="",
    level_check: LevelCheck | None = None,
) -> Plan:
    """A draft plan holding the suggested trajectory (none when no safe path was found)."""
    return Plan(
        level_check=level_check,
        study=ref,
        procedure=procedure,
        side=side,
        author=author,
        trajectories=(suggestion.trajectory,) if suggestion is not None else (),
        finding=finding_summary(finding, analysis_file),
    )


def plan_metrics(plan: Plan, anatomy: SafetyAnatomy) -> dict[str, TrajectoryMetrics]:
    return {t.id: metrics_for(anatomy, plan.procedure, t) for t in plan.trajectories}


def computed_section(plan: Plan, anatomy: SafetyAnatomy, analysis_file: str = "") -> dict:
    """A plan file's ``computed`` section: every metric and warning per trajectory, and when."""
    metrics = plan_metrics(plan, anatomy)
    return {
        "computed_at": now_iso(),
        "analysis_file": str(analysis_file),
        "trajectories": {tid: m.as_dict() for tid, m in metrics.items()},
        "warnings": list(anatomy.warnings) + [w for m in metrics.values() for w in m.warnings],
    }


def plan_json(plan: Plan, anatomy: SafetyAnatomy | None, analysis_file: str = "") -> dict:
    """The plan's JSON with a ``computed`` section: every metric and warning per trajectory."""
    data = plan_to_dict(plan)
    if anatomy is not None:
        data["computed"] = computed_section(plan, anatomy, analysis_file)
    return data


def plan_study(
    study_path, procedure: str, side: str | None, out_dir, author: str, level_shift: int = 0, confirm_level: bool = False,
    fasciculation: dict | None = None, l5s1_lps=None,
) -> dict:
    """Analyse the study, build the suggested plan and write ``out_dir/analysis.json`` and ``plan.json``.

    When the level count is not certain (``confidence`` low), no plan is written
    (:class:`LevelNotConfirmed`) unless ``confirm_level`` or a ``level_shift``
    says that ``author`` checked the labels; the plan records who and when.
    ``l5s1_lps``: where the author marked the L5-S1 disc (levels named from
    there, never certain: ``confirm_level`` is still needed).
    """
    out = Path(out_dir)
    study = analyze_study_series(study_path, level_shift=level_shift, l5s1_lps=l5s1_lps)
    write_analysis(study, out)
    analysis_file = out / "analysis.json"
    check = level_check(study.analysis.levels, author if (confirm_level or level_shift) else "")
    require_settled(
        check,
        f"Check the level labels ({analysis_file}, or in the workstation) and run again with --confirm-level if "
        "they are right, or --level-shift N if they are N levels off.",
    )
    finding = study.analysis.finding
    if not finding.reliable and procedure in SIDED and not side:
        raise PlannerError(
            f"the L5-S1 disc measurement is not reliable ({'; '.join(finding.problems)}), so the side cannot be "
            "taken from it: give --side"
        )
    anatomy = study.session.build_anatomy(study.analysis)
    side = plan_side(finding, procedure, side)
    suggestion = suggest_trajectory(anatomy, procedure, side)  # NoSafePathError: no plan is written
    ref = study.session.study_ref(study.analysis)
    plan = draft_plan(ref, finding, procedure, side, author, suggestion, analysis_file.name, check)
    if fasciculation is not None:  # planner.fasciculation.record.plan_record of the study's muscle cines
        plan = replace(plan, fasciculation=fasciculation)
    from planner.plan.evidence import source_evidence

    computed = computed_section(plan, anatomy, analysis_file.name)
    evidence = source_evidence(study.sagittal.volume)  # an export checks that the images are these
    save_plan(plan, out / "plan.json", computed, evidence)
    return {**plan_to_dict(plan), "computed": computed, "evidence": evidence}


def anatomy_and_suggestion(session, analysis, procedure: str, side: str, progress=None, cancel=None):
    """For a worker: (anatomy, suggestion or None, why there is none) of one analysed series of a
    :class:`~planner.study.session.StudySession`."""
    anatomy = session.build_anatomy(analysis, progress=progress, cancel=cancel)
    try:
        return anatomy, suggest_trajectory(anatomy, procedure, side), ""
    except NoSafePathError as error:
        return anatomy, None, str(error)
