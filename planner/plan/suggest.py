"""Suggested targets and needle paths from the disc analysis and the safety anatomy (issue 5).

    suggestion = suggest_trajectory(anatomy, "transforaminal-s1", "left")
    suggestion.trajectory, suggestion.metrics     # accept, move or discard in the plan

The target comes from the anatomy's landmarks (S1 dorsal foramen, posterior
epidural space, the disc towards the bulge, the sacral canal). The entry is
searched: every straight direction within ``MAX_DEVIATION_DEG`` of the
procedure's textbook direction is followed from the target out to the skin,
and a direction is kept only when the whole path clears every structure by
its threshold, stays inside the imaged volume and fits a standard needle
(with :data:`~planner.plan.trajectory.NEEDLE_MARGIN_MM` to spare). The kept direction
closest to the textbook one wins. When none is kept, :class:`NoSafePathError`
says what blocked the paths (e.g. the iliac crest) instead of drawing an
impossible one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

import numpy as np

from planner.errors import NoSafePathError
from planner.plan.anatomy import SafetyAnatomy
from planner.plan.model import Needle, Trajectory
from planner.plan.trajectory import DEFAULT_THRESHOLDS_MM, NEEDLE_MARGIN_MM, TrajectoryMetrics, trajectory_metrics

#: spinal needle lengths on the shelf (3.5, 5, 6 and 7 inch), mm
STANDARD_NEEDLES_MM = (90.0, 127.0, 152.0, 178.0)
MAX_DEVIATION_DEG = 50.0
STEP_DEG = 2.0
MARCH_MM = 1.0
IN_DISC_PLANE_DEG = 8.0  # an intradiscal needle runs parallel to the endplates
SKIN_RUN_MM = 5.0  # the path has left the body when this much air follows
#: a suggested path keeps this much further from estimated bone than the physician's margin: bone is
#: estimated from MR series with 3-4 mm slices, whose thin plates (a lamina's edge at the interlaminar
#: window) come out up to 2 mm short; the physician's own paths are checked against the margin alone
ESTIMATE_MARGIN_MM = {"bone": 1.0}

#: what each procedure aims at, how it is done and what the last millimetres before the target may touch
PROCEDURE_SPECS = {
    "transforaminal-s1": {
        "label": "S1 transforaminal",
        "target": "S1 foramen {side}",
        "needle": (22, "quincke"),
        "ignore_last_mm": {"nerve root": 6.0},
    },
    "interlaminar-l5s1": {
        "label": "L5-S1 interlaminar",
        "target": "posterior epidural",
        "needle": (20, "tuohy"),
        "ignore_last_mm": {"dura": 4.0},
    },
    "caudal": {
        "label": "Caudal",
        "target": "sacral canal",
        "needle": (22, "quincke"),
        "ignore_last_mm": {"bone": 30.0},
    },
    "intradiscal-l5s1": {
        "label": "L5-S1 intradiscal",
        "target": "intradiscal",
        "needle": (22, "chiba"),
        "ignore_last_mm": {"disc": 1000.0},
    },
}


@dataclass(frozen=True)
class Suggestion:
    trajectory: Trajectory
    metrics: TrajectoryMetrics
    n_directions: int
    n_safe: int


def textbook_direction(anatomy: SafetyAnatomy, procedure: str, side: str) -> np.ndarray:
    """The unit needle direction (entry -> target) a textbook gives for ``procedure`` on ``side``."""
    posterior, lateral, normal = anatomy.disc_posterior_lps, anatomy.disc_lateral_lps, anatomy.disc_normal_lps
    sign = 1.0 if side == "left" else -1.0 if side == "right" else 0.0
    if procedure == "transforaminal-s1":
        direction = -posterior  # down the S1 dorsal foramen, perpendicular to the dorsal sacrum
    elif procedure == "interlaminar-l5s1":
        direction = -posterior - 0.15 * sign * lateral + 0.35 * normal  # paramedian on ``side``, tip towards the midline
    elif procedure == "caudal":
        direction = normal - 0.5 * posterior  # up the sacral canal from the hiatus
    else:  # intradiscal: in the disc plane, 45 degrees oblique from the side (Kambin's triangle)
        direction = -posterior - sign * lateral
    return direction / np.linalg.norm(direction)


def _directions(centre: np.ndarray, max_deg: float, step_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors on a cap around ``centre`` (rings every ``step_deg``) and their angle from it."""
    centre = centre / np.linalg.norm(centre)
    helper = np.array([1.0, 0.0, 0.0]) if abs(centre[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(centre, helper)
    u /= np.linalg.norm(u)
    v = np.cross(centre, u)
    vectors, angles = [centre], [0.0]
    for tilt in np.arange(step_deg, max_deg + 1e-9, step_deg):
        n = max(6, int(round(2 * np.pi * np.sin(np.radians(tilt)) / np.radians(step_deg))))
        for phi in np.linspace(0.0, 2 * np.pi, n, endpoint=False):
            t = np.radians(tilt)
            vectors.append(np.cos(t) * centre + np.sin(t) * (np.cos(phi) * u + np.sin(phi) * v))
            angles.append(tilt)
    return np.array(vectors), np.array(angles)


def _lookup(volume: np.ndarray, affine: np.ndarray, points: np.ndarray, outside) -> np.ndarray:
    """Nearest-voxel values of ``volume`` [k, j, i] at LPS ``points`` (..., 3); ``outside`` beyond the grid."""
    ijk = np.rint((points - affine[:3, 3]) / np.diag(affine)[:3]).astype(np.int32)
    shape = np.array(volume.shape[::-1])
    inside = np.all((ijk >= 0) & (ijk < shape), axis=-1)
    ijk = np.where(inside[..., None], ijk, 0)
    values = volume[ijk[..., 2], ijk[..., 1], ijk[..., 0]]
    return np.where(inside, values, outside)


def suggest_trajectory(
    anatomy: SafetyAnatomy,
    procedure: str,
    side: str,
    thresholds_mm: dict | None = None,
    trajectory_id: str = "T1",
    max_needle_mm: float = STANDARD_NEEDLES_MM[-1],
) -> Suggestion:
    """The safest textbook-like path to the procedure's target; :class:`NoSafePathError` when there is none."""
    spec = PROCEDURE_SPECS[procedure]
    key = spec["target"].format(side=side)
    target = np.asarray(anatomy.landmarks[key], float)
    thresholds = {**DEFAULT_THRESHOLDS_MM, **(thresholds_mm or {})}
    ignore = spec["ignore_last_mm"]
    preferred = textbook_direction(anatomy, procedure, side)
    needle_dirs, deviation = _directions(preferred, MAX_DEVIATION_DEG, STEP_DEG)
    if procedure == "intradiscal-l5s1":  # parallel to the endplates
        in_plane = np.degrees(np.arcsin(np.abs(needle_dirs @ anatomy.disc_normal_lps))) <= IN_DISC_PLANE_DEG
        needle_dirs, deviation = needle_dirs[in_plane], deviation[in_plane]

    reach = max_needle_mm - NEEDLE_MARGIN_MM
    s = np.arange(0.0, reach + MARCH_MM, MARCH_MM)
    points = target[None, None, :] - s[None, :, None] * needle_dirs[:, None, :]  # [direction, step, 3]: outwards
    affine = anatomy.image_to_lps
    in_body = _lookup(anatomy.masks["body"], affine, points, False)
    covered = _lookup(anatomy.covered, affine, points, False)
    # the skin: the first sample followed by SKIN_RUN_MM of air
    run = int(SKIN_RUN_MM / MARCH_MM)
    air = ~in_body & covered  # where nothing was imaged, the skin is unknown, not air
    air_run = np.ones_like(air)
    for shift in range(run):
        air_run[:, : air.shape[1] - shift] &= air[:, shift:]
        air_run[:, air.shape[1] - shift :] = False
    air_run[:, :3] = False  # never at the target itself
    found = air_run.any(axis=1)
    skin = np.where(found, np.argmax(air_run, axis=1), len(s) - 1)
    on_path = np.arange(len(s))[None, :] <= skin[:, None]

    # Each direction is judged on its imaged part (from the target out to the skin or to where the
    # images end); a failed direction counts for every obstacle it meets there (often several), and
    # for "leaves the imaged volume" only when nothing blocked it before.
    imaged = np.logical_and.accumulate(covered, axis=1) & on_path
    unimaged = (on_path & ~covered).any(axis=1)
    ok = found & ~unimaged
    met = np.zeros(len(needle_dirs), bool)
    reasons = Counter()
    for structure in anatomy.structures:
        if structure.kind == "unimaged":
            continue
        distance = _lookup(structure.distance_mm, affine, points, np.inf)
        judged = imaged & (s[None, :] >= ignore.get(structure.kind, 0.0))
        limit = thresholds.get(structure.kind, 0.0) + ESTIMATE_MARGIN_MM.get(structure.kind, 0.0)
        hit = ((distance < limit) & judged).any(axis=1)
        reasons[f"pass within {limit:g} mm of the {structure.name}"] += int(hit.sum())
        met |= hit
    ok &= ~met
    reasons["leave the imaged volume before reaching the skin"] = int((unimaged & ~met).sum())
    reasons[f"need a needle longer than {max_needle_mm:g} mm"] = int((~found & ~unimaged & ~met).sum())
    if not ok.any():
        top = [f"{n} {why}" for why, n in reasons.most_common() if n > 0][:3]
        raise NoSafePathError(
            f"No straight path from the skin to the {key} target clears the safety margins "
            f"(of {len(needle_dirs)} directions within {MAX_DEVIATION_DEG:g} degrees of the usual approach, "
            + "; ".join(top)
            + "). Plan this one by hand or choose another approach."
        )
    best = int(np.argmin(np.where(ok, deviation, np.inf)))
    entry = target - s[skin[best]] * needle_dirs[best]
    length = float(np.linalg.norm(target - entry))
    needle_mm = next(n for n in STANDARD_NEEDLES_MM if n - length >= NEEDLE_MARGIN_MM)
    gauge, tip = spec["needle"]
    needle = Needle(gauge=gauge, length_mm=needle_mm, tip=tip)
    trajectory = Trajectory(
        trajectory_id,
        f"{spec['label']} {side}" if side in ("left", "right") else spec["label"],
        tuple(float(v) for v in entry),
        tuple(float(v) for v in target),
        needle,
        origin="suggested",
    )
    return Suggestion(trajectory, metrics_for(anatomy, procedure, trajectory, thresholds), len(needle_dirs), int(ok.sum()))


def metrics_for(anatomy: SafetyAnatomy, procedure: str, trajectory: Trajectory, thresholds_mm: dict | None = None) -> TrajectoryMetrics:
    """Live metrics of one trajectory against the anatomy (what the GUI recomputes while a point is dragged),
    with the target checked against the structure its procedure names (:func:`target_errors`)."""
    metrics = trajectory_metrics(
        trajectory.entry_lps,
        trajectory.target_lps,
        trajectory.needle,
        disc_normal_lps=anatomy.disc_normal_lps,
        structures=anatomy.structures,
        thresholds_mm=thresholds_mm,
        ignore_last_mm=PROCEDURE_SPECS[procedure]["ignore_last_mm"],
    )
    errors = target_errors(anatomy, procedure, trajectory.target_lps)
    if not errors:
        return metrics
    return replace(metrics, warnings=tuple(errors) + metrics.warnings, errors=tuple(errors))


#: a transforaminal target lies within this distance of an S1 root (mm; the S1 foramen is about 8 mm wide)
FORAMEN_REACH_MM = 8.0


def target_errors(anatomy: SafetyAnatomy, procedure: str, target_lps) -> list[str]:
    """Why the target does not lie in the structure its procedure names (each blocks Approve): an intradiscal
    target outside the L5-S1 disc, an epidural one inside the thecal sac (intrathecal) or in bone, a
    transforaminal one away from the S1 foramen, any target outside the imaged volume."""
    point = np.asarray(target_lps, float)[None]
    by_name = {s.name: s for s in anatomy.structures}
    errors: list[str] = []

    def distance(name: str) -> float:
        structure = by_name.get(name)
        return float(structure.sample(point)[0]) if structure is not None else float("inf")

    if distance("area outside the imaged volume") <= 0:
        return ["The target lies outside the imaged volume: nothing there can be checked."]
    if procedure == "intradiscal-l5s1":
        outside = distance("L5-S1 disc")
        if outside > 0:
            errors.append(f"The target lies {outside:.1f} mm outside the L5-S1 disc: an intradiscal injection must "
                          "end inside the disc.")
        return errors
    if distance("thecal sac") < 0:
        errors.append("The target lies inside the thecal sac: an epidural injection there would be intrathecal.")
    if procedure == "interlaminar-l5s1" and distance("bone") < -1.0:
        errors.append("The target lies inside bone: an epidural injection must end in the epidural space.")
    if procedure == "transforaminal-s1":
        roots = [distance(name) for name in by_name if name.startswith("S1 root")]
        nearest = min(roots) if roots else float("inf")
        if np.isfinite(nearest) and nearest > FORAMEN_REACH_MM:
            errors.append(f"The target lies {nearest:.0f} mm from the S1 root: a transforaminal injection must end at "
                          f"the S1 foramen (within {FORAMEN_REACH_MM:g} mm of the root).")
    return errors
