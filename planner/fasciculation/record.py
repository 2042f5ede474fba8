"""The fasciculation finding as the plan carries it (the ``fasciculation`` field of a plan file).

    plan = replace(plan, fasciculation=plan_record(target, control))

A plain JSON object, so the plan file, its SR copy and the report read the same
numbers: per cine the muscle, side, rate, count, analysed time, longest quiet
interval and the events; the control the same way; the interpretation sentence.
"""

from __future__ import annotations

from planner.fasciculation.analysis import CineFindings
from planner.fasciculation.interpretation import interpret

#: The most events a plan keeps per cine (the schema's bound).
MAX_EVENTS = 2000


def _cine(f: CineFindings) -> dict:
    return {
        "sop_instance_uid": f.sop_instance_uid,
        "muscle": f.muscle.key if f.muscle else "",
        "muscle_name": f.muscle_name[:64],
        "side": f.side,
        "rate_per_min": round(f.rate_per_min, 2),
        "n_events": len(f.events),
        "analysed_s": round(f.analysed_s, 2),
        "duration_s": round(f.duration_s, 2),
        "longest_quiet_s": round(f.longest_quiet_s, 2),
        "events": [
            {k: v for k, v in e.to_json().items() if k in ("time_s", "duration_s", "x_mm", "depth_mm", "displacement_mm", "manual")}
            for e in f.events[:MAX_EVENTS]
        ],
        "warnings": [w[:300] for w in f.warnings[:20]],
    }


def plan_record(target: CineFindings, control: CineFindings | None = None) -> dict:
    return {
        "muscle": _cine(target),
        "control": _cine(control) if control is not None else None,
        "interpretation": interpret(target, control)[:1000],
    }
