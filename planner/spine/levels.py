"""Lumbar levels of a sagittal series from the spine model (the learned segmenter's level finder).

    levels = find_spine_levels(volume)            # LevelResult, levels.spine = the named parts
    levels.level("L5-S1").center_lps, levels.confidence, levels.confidence_reasons

``level_shift`` moves every name by that many levels, as the classical finder
does (+1: the disc called L5-S1 becomes L4-L5, and the junction below it
L5-S1); the bodies' names move with the discs'.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from planner.disc.levels import Level, LevelError, LevelResult
from planner.errors import SacrumNotSeen
from planner.progress import CancelToken, ProgressCallback, check, report
from planner.spine.anatomy import LUMBAR_BODIES, SpineNotFound, label_spine, label_spine_at
from planner.spine.parts import Part, SpineLabels, distance_to_part_mm, part_points
from planner.spine.grid import SagittalGrid
from planner.spine.model import PIXEL_MM, SpineModel
from planner.volume import Volume

SACRAL_BODIES = ("S1", "S2", "S3")
#: the pixels of a second, coarser look at a series whose first look was refused because the body called L5 meets
#: the series' lower edge (mm; the model's own are PIXEL_MM)
SECOND_LOOK_PIXEL_MM = 1.75
#: the second look is taken only when it names that body S1 (its centre within this of S1: mm) and finds L5 this far
#: above it (mm: half a level)
SECOND_LOOK_IN_S1_MM = 10.0
SECOND_LOOK_ABOVE_MM = 15.0


def disc_height_mm(spine: SpineLabels, disc: Part, central_mm: float = 8.0) -> float:
    """A disc part's height: its thickness along its normal, median over the columns within ``central_mm``
    of its centre (the model's 1.5 mm pixels: about a pixel either way)."""
    grid = spine.grid
    _, points = part_points(grid, disc)
    offset = points - disc.centre_lps
    along = offset @ disc.axis_lps
    across = offset - along[:, None] * disc.axis_lps
    helper = np.eye(3)[int(np.argmin(np.abs(disc.axis_lps)))]  # the frame axis furthest from the normal
    e1 = helper - (helper @ disc.axis_lps) * disc.axis_lps
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(disc.axis_lps, e1)
    cells = np.floor(np.c_[across @ e1, across @ e2] / 2.0).astype(int)
    central = np.linalg.norm(across, axis=1) <= central_mm
    if not central.any():
        return float(np.ptp(along))
    keys, inverse = np.unique(cells[central], axis=0, return_inverse=True)
    lows = np.full(len(keys), np.inf)
    highs = np.full(len(keys), -np.inf)
    np.minimum.at(lows, inverse.ravel(), along[central])
    np.maximum.at(highs, inverse.ravel(), along[central])
    return float(np.median(highs - lows) + grid.pixel_mm)


DISC_NAMES = tuple(f"{upper}-{lower}" for upper, lower in zip(LUMBAR_BODIES[1:], LUMBAR_BODIES))
LUMBAR_DISCS = ("L5-S1",) + DISC_NAMES
SACRAL_DISCS = ("S1-S2", "S2-S3", "S3-S4")
#: every name, inferior first: a shift of +1 gives each part the name of the one above it
DISC_SEQUENCE = tuple(reversed(SACRAL_DISCS)) + LUMBAR_DISCS
BODY_SEQUENCE = tuple(reversed(SACRAL_BODIES)) + LUMBAR_BODIES


def _shifted(name: str, sequence: tuple[str, ...], shift: int) -> str:
    index = sequence.index(name) + shift
    return sequence[index] if 0 <= index < len(sequence) else f"{name}{shift:+d}"


def levels_from_spine(spine: SpineLabels, level_shift: int = 0) -> LevelResult:
    """The named levels of ``spine`` with every name moved by ``level_shift`` (+1: the disc called L5-S1
    becomes L4-L5, the junction below it L5-S1)."""
    if level_shift:
        for part in spine.parts:
            sequence = DISC_SEQUENCE if part.kind == "disc" else BODY_SEQUENCE
            if part.name in sequence:
                part.name = _shifted(part.name, sequence, level_shift)
    discs, bodies = spine.discs, spine.bodies
    levels = []
    shifted_onto_estimate = False
    for name in LUMBAR_DISCS:
        part = next((d for d in discs if d.name == name), None)
        if part is None:
            if name == "L5-S1":
                if level_shift and spine.part("L5") is None:
                    raise LevelError(f"a level shift of {level_shift:+d} moves L5-S1 below the bodies the model found")
                levels.append(_junction_between(spine))
                if level_shift:
                    shifted_onto_estimate = True
                continue
            break
        levels.append(Level(name, tuple(map(float, part.centre_lps)), tuple(map(float, part.axis_lps)), disc_height_mm(spine, part)))
    warnings = list(spine.warnings)
    if level_shift:
        warnings.append(f"Levels shifted by {level_shift:+d} by the user.")
    if shifted_onto_estimate:
        warnings.append(
            "The model saw no disc at the shifted L5-S1 junction (a fused or rudimentary disc?): its place is "
            "estimated under the body above it. Check it on the images."
        )
    return LevelResult(
        levels,
        warnings=warnings,
        confidence=spine.confidence,
        confidence_reasons=list(spine.reasons),
        body_centres=[(b.name, b.centre_lps.copy()) for b in bodies],
        spine=spine,
        level_shift=level_shift,
    )


def _junction_between(spine: SpineLabels) -> Level:
    """L5-S1 when the model saw no disc there (a thin or fused disc): under L5, towards S1 when it was seen."""
    l5, s1 = spine.part("L5"), spine.part("S1")
    if l5 is None:
        raise LevelError("the L5-S1 junction was not found under the L5 body")
    if s1 is not None:
        centre = (l5.centre_lps + s1.centre_lps) / 2
        normal = l5.centre_lps - s1.centre_lps
        normal /= np.linalg.norm(normal)
    else:
        half = float(np.cbrt(l5.volume_ml * 1000.0)) / 2  # about half the body's height
        normal = l5.axis_lps
        centre = l5.centre_lps - normal * (half + 4.0)
    return Level("L5-S1", tuple(map(float, centre)), tuple(map(float, normal)), 0.0)


def find_spine_levels(
    volume: Volume,
    model: SpineModel | None = None,
    level_shift: int = 0,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> LevelResult:
    """Find, name and check the lumbar levels of a sagittal series with the spine model.

    Raises :class:`~planner.disc.levels.LevelError` with a sentence when the field of
    view does not show what the count needs (L5, the sacrum) or the shift
    moves L5-S1 off the discs found.
    """
    grid, probabilities = _predicted(volume, model, progress, cancel)
    try:
        spine = label_spine(grid, probabilities)
    except SacrumNotSeen as exc:
        spine = _second_look(volume, model, exc, progress, cancel)
    except SpineNotFound as exc:
        raise LevelError(str(exc)) from exc
    return levels_from_spine(spine, level_shift)


def _second_look(
    volume: Volume, model: SpineModel | None, refusal: SacrumNotSeen, progress, cancel
) -> SpineLabels:
    """The count of a series whose body called L5 meets its lower edge, looked at again at SECOND_LOOK_PIXEL_MM:
    such a body is L5 cut by the edge, or the top of the sacrum taken for L5. Left out of training, the model
    took the partly seen top of the sacrum for L5 on two water-fat series at its own scale and named it S1 at the
    coarser one; on the shared studies cut 1 or 7 mm under L5 the second look was never taken
    (docs/spine-model.md). Taken only when it names that body S1 with an L5 above it, and never with confidence;
    otherwise the first refusal stands (:class:`~planner.disc.levels.LevelError`)."""
    if refusal.l5_centre_lps is None:
        raise LevelError(str(refusal)) from refusal
    grid, probabilities = _predicted(volume, model, progress, cancel, SECOND_LOOK_PIXEL_MM)
    try:
        spine = label_spine(grid, probabilities)
    except SpineNotFound:
        raise LevelError(str(refusal)) from refusal
    l5, s1 = spine.part("L5"), spine.part("S1")
    edge_body = np.asarray(refusal.l5_centre_lps)
    if (
        l5 is None
        or s1 is None
        or distance_to_part_mm(grid, s1, edge_body) > SECOND_LOOK_IN_S1_MM
        or l5.centre_lps[2] - edge_body[2] < SECOND_LOOK_ABOVE_MM
    ):
        raise LevelError(str(refusal)) from refusal
    reason = (
        "The body at the series' lower edge was taken for L5 at first; a second look at coarser pixels "
        f"({SECOND_LOOK_PIXEL_MM:g} mm) names it the top of the sacrum (S1) and counts from there: check the count."
    )
    return replace(spine, confidence="low", reasons=[reason, *spine.reasons])


def find_spine_levels_at(
    volume: Volume,
    mark_lps,
    model: SpineModel | None = None,
    level_shift: int = 0,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> LevelResult:
    """The levels of a sagittal series named from the L5-S1 disc the user marked (``mark_lps``, a point in it)
    with the spine model's parts (:func:`~planner.spine.anatomy.label_spine_at`): never with confidence.
    Raises :class:`~planner.disc.levels.LevelError` when the model saw no disc there or no body above it."""
    grid, probabilities = _predicted(volume, model, progress, cancel)
    try:
        spine = label_spine_at(grid, probabilities, mark_lps)
    except SpineNotFound as exc:
        raise LevelError(str(exc)) from exc
    return levels_from_spine(spine, level_shift)


def _predicted(
    volume: Volume, model: SpineModel | None, progress, cancel, pixel_mm: float = PIXEL_MM
) -> tuple[SagittalGrid, np.ndarray]:
    """The model's grid over ``volume`` (``pixel_mm`` pixels) and its probabilities there."""
    model = model or SpineModel.default()
    grid = SagittalGrid.covering(volume, pixel_mm)
    check(cancel)
    stack = grid.resample(volume)
    report(progress, 0, grid.shape[0], "Finding the vertebrae...")
    probabilities = model.predict(stack, progress=progress, cancel=cancel)
    check(cancel)
    return grid, probabilities
