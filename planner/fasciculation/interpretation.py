"""One sentence on a muscle's fasciculation rate, against its control when there is one.

The sentence states rates and the criterion it applies (≥ 2 fasciculations in
60 s; Tsao 2003, and the usual practice of observing at least 60 s per muscle),
says what the pattern is consistent with, and never makes a diagnosis.
"""

from __future__ import annotations

from planner.fasciculation.analysis import CRITERION_PER_MIN, CRITERION_TEXT, CineFindings


def _rate(f: CineFindings) -> str:
    return f"{f.muscle_name} {f.rate_per_min:.0f}/min ({len(f.events)} in {f.analysed_s:.0f} s)"


def interpret(target: CineFindings, control: CineFindings | None = None) -> str:
    """The finding in words, for the panel, the CLI and the report."""
    criterion = f"(criterion: {CRITERION_TEXT})"
    if not target.conclusive:
        return f"{_rate(target)}: too short to conclude, at least 60 s of cine are needed {criterion}."
    positive = target.rate_per_min >= CRITERION_PER_MIN
    roots = "/".join(target.muscle.roots) if target.muscle else ""
    sacral = target.muscle is not None and target.muscle.sacral
    where = f"an {roots[:2]} muscle" if sacral else (f"a muscle supplied by {roots}" if roots else "this muscle")
    if control is None:
        if positive:
            tail = ", consistent with S1 root irritation" if sacral else ""
            return f"{_rate(target)}: fasciculations in {where}{tail}; no control muscle compared {criterion}."
        return f"{_rate(target)}: fasciculations below the criterion {criterion}; no control muscle compared."
    both = f"{_rate(target)}, {_rate(control)}"
    if not control.conclusive:
        return f"{both}: the control cine is too short to compare {criterion}."
    control_positive = control.rate_per_min >= CRITERION_PER_MIN
    if positive and not control_positive:
        tail = ", consistent with S1 root irritation" if sacral else f", not in the control {control.muscle_name}"
        return f"{both}: fasciculations in {where}{tail} {criterion}."
    if positive and control_positive:
        return f"{both}: fasciculations in both muscles, not specific to one root {criterion}."
    if control_positive:
        return f"{both}: fasciculations in the control muscle only {criterion}."
    return f"{both}: no fasciculations above the criterion in either muscle {criterion}."


def comparison_json(target: CineFindings, control: CineFindings | None) -> dict:
    """The CLI's JSON: the target's keys, ``control`` with the same keys or null, the sentence."""
    out = target.to_json()
    out["control"] = control.to_json() if control is not None else None
    if control is not None:
        out["rate_ratio"] = round(target.rate_per_min / control.rate_per_min, 2) if control.rate_per_min > 0 else None
    out["interpretation"] = interpret(target, control)
    return out
