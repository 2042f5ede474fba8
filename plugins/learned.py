"""The built-in learned segmenter: the spine model (ONNX, CPU) finds and names the levels and the L5 and S1
bodies; the disc is the space between them, with displaced material grown beyond its outline. Where the
classical pipeline finds the same disc, its margins (traced at the image's resolution) are used instead.

Registered as ``learned`` in the entry-point group ``spine_planner.segmenters``
(pyproject.toml), exactly as a third-party package would register its own.
The model, its training data and scores: docs/spine-model.md.
"""

from __future__ import annotations

import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from planner.disc.levels import LevelError, find_levels
from planner.disc.segmentation import DiscSegmentation, SegmentationFailed, segment_disc
from planner.disc.segmentation.masks import dice
from planner.spine.disc import segment_from_parts
from planner.spine.levels import find_spine_levels, find_spine_levels_at
from planner.spine.model import SpineModel
from planner.spine.parts import IN_DISC_MM, distance_to_part_mm

#: the classical search's disc replaces the model's when the two masks overlap at least this much (Dice)
AGREE_DICE = 0.85
#: ... when the classical disc chain found L5-S1 this close to the model's (mm)
SAME_JUNCTION_MM = 5.0


class LearnedSegmenter:
    name = "learned"

    def __init__(self, model: SpineModel | None = None) -> None:
        self.model = model

    def find_levels(self, volume, level_shift: int = 0, progress=None, cancel=None):
        return find_spine_levels(volume, self.model, level_shift=level_shift, progress=progress, cancel=cancel)

    def levels_at_mark(self, volume, mark_lps, level_shift: int = 0, progress=None, cancel=None):
        """The levels named from the L5-S1 disc the user marked, with the model's parts."""
        return find_spine_levels_at(volume, mark_lps, self.model, level_shift=level_shift, progress=progress, cancel=cancel)

    def segment(self, volume, levels, seed_lps=None) -> DiscSegmentation:
        """The disc between the bodies named L5 and S1 (after any shift).

        A seed click inside it centres the disc frame there; a click in another
        disc the model named is refused (the levels are shifted with
        Higher/Lower, not by clicking); a click where the model saw no disc
        runs the classical endplate search from that point. Where the model
        found no body on one side (a shift past the top of the sacrum), the
        classical search runs at the junction.
        """
        spine = levels.spine
        l5s1 = levels.level("L5-S1")
        if spine is None:
            return segment_disc(volume, l5s1.center_lps, l5s1.normal_lps, seed_lps=seed_lps)
        upper, disc, lower = spine.part("L5"), spine.part("L5-S1"), spine.part("S1")
        if seed_lps is not None:
            seed = np.asarray(seed_lps, float)
            inside = _disc_at(spine, seed)
            if inside is None:
                seg = segment_disc(volume, seed, l5s1.normal_lps, seed_lps=seed)
                seg.warnings.append("The model saw no disc at the clicked point: the disc was searched from there classically.")
                return seg
            if inside.name != "L5-S1":
                raise SegmentationFailed(
                    f"the clicked point lies in the {inside.name} disc; to analyse that disc as L5-S1, shift the "
                    "levels (Higher/Lower) instead"
                )
        if upper is None:
            seg = segment_disc(volume, l5s1.center_lps, l5s1.normal_lps, seed_lps=seed_lps)
            seg.warnings.append("The model found no body above this junction: its endplates were searched classically.")
            return seg

        def model_path() -> DiscSegmentation:
            try:
                return segment_from_parts(volume, spine, upper, disc, lower, seed_lps=seed_lps)
            except SegmentationFailed as exc:
                return _fallback(volume, spine, upper, disc, lower, l5s1, seed_lps, exc)

        stood = _STOOD.get(volume, {}).get(_part_key(upper), _UNKNOWN)
        if seed_lps is not None and stood is not _UNKNOWN:
            # a seed click on the disc analysed before: only the answer that stood then is segmented again
            if stood is None:
                return model_path()
            classical = _classical_disc(volume, l5s1, seed_lps)
            if classical is not None and dice(stood, classical.series_mask(volume, whole_voxels=True)) >= AGREE_DICE:
                return classical
            return model_path()
        # the classical pipeline's answer (see _sharper_if_agreeing) is computed beside the model's, on the other core
        with ThreadPoolExecutor(max_workers=1) as pool:
            classical = pool.submit(_classical_disc, volume, l5s1, seed_lps)
            try:
                model_seg = segment_from_parts(volume, spine, upper, disc, lower, seed_lps=seed_lps)
            except SegmentationFailed as exc:
                return _fallback(volume, spine, upper, disc, lower, l5s1, seed_lps, exc)
            seg, model_mask = _sharper_if_agreeing(volume, model_seg, classical.result())
        if seed_lps is None:
            _STOOD.setdefault(volume, {})[_part_key(upper)] = model_mask if seg is not model_seg else None
        return seg


def _fallback(volume, spine, upper, disc, lower, l5s1, seed_lps, failure: SegmentationFailed) -> DiscSegmentation:
    """The level stands (the model counted it) when the disc between its parts cannot be segmented. A
    wedge-shaped or patchy disc part can tilt the frame built on it: the frame along L5's own axis, just under
    it; then the classical endplate search at the junction. Raises ``failure`` when neither works."""
    attempts = [] if disc is None else [(
        lambda: segment_from_parts(volume, spine, upper, None, lower, seed_lps=seed_lps),
        "the disc was segmented along the L5 body's axis instead",
    )]
    attempts.append((
        lambda: segment_disc(volume, l5s1.center_lps, l5s1.normal_lps, seed_lps=seed_lps),
        "the endplates were searched classically at the junction",
    ))
    for attempt, how in attempts:
        try:
            seg = attempt()
        except SegmentationFailed:
            continue
        seg.warnings.append(f"Around the model's disc {failure}: {how}.")
        return seg
    raise failure


#: the classical disc chain's L5-S1 per series (None: it found none), so that seed clicks do not repeat it
_JUNCTIONS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


#: per series and body above the disc, which answer stood when the disc was analysed: the model's disc mask on the series
#: grid when the classical disc agreed with it and was used, None when the model's disc stood. A seed click on
#: that disc segments only the answer that stood (the classical one checked against the model's mask of then):
#: computing both again made a click take 1.0-1.3 s instead of 0.6-0.9 on two cores
_STOOD: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_UNKNOWN = object()


def _part_key(upper) -> tuple:
    """The body above the disc (the levels' L5-S1 centre moves once the disc is segmented; L5 does not)."""
    return tuple(np.round(np.asarray(upper.centre_lps, float), 2))


def _classical_disc(volume, l5s1, seed_lps) -> DiscSegmentation | None:
    """The classical pipeline's disc (its disc chain, :func:`planner.disc.levels.find_levels`, and endplate search,
    :func:`planner.disc.segmentation.segment_disc`) when its L5-S1 lies within ``SAME_JUNCTION_MM`` of the model's;
    None otherwise or when it fails."""
    if volume not in _JUNCTIONS:
        try:
            _JUNCTIONS[volume] = find_levels(volume).level("L5-S1")
        except (LevelError, SegmentationFailed):
            _JUNCTIONS[volume] = None
    junction = _JUNCTIONS[volume]
    if junction is None or np.linalg.norm(np.subtract(junction.center_lps, l5s1.center_lps)) > SAME_JUNCTION_MM:
        return None
    try:
        return segment_disc(volume, junction.center_lps, junction.normal_lps, seed_lps=seed_lps)
    except SegmentationFailed:
        return None


def _sharper_if_agreeing(volume, seg: DiscSegmentation, classical: DiscSegmentation | None) -> tuple:
    """The classical pipeline traces the endplates and margins at the image's own resolution, where the model
    sees 1.5 mm pixels. Where it found L5-S1 at the model's junction (:func:`_classical_disc`) and its disc
    agrees with the model's (Dice >= ``AGREE_DICE`` on the series grid, the frames' voxels taken whole as
    when it was set), it is the sharper of two answers to the same question and is used. Where either
    differs (every shared real study so far: Dice 0.48-0.72, the classical rules misled by real marrow and
    endplate signal), the model's disc stands. Returns the disc that stands and the model's disc mask on the
    series grid, its voxels whole (None when there was nothing to compare)."""
    if classical is None:
        return seg, None
    model_mask = seg.series_mask(volume, whole_voxels=True)
    agree = dice(model_mask, classical.series_mask(volume, whole_voxels=True)) >= AGREE_DICE
    return (classical if agree else seg), model_mask


def _disc_at(spine, point_lps: np.ndarray):
    """The named disc part within ``IN_DISC_MM`` of ``point_lps``, or None."""
    return next((d for d in spine.discs if distance_to_part_mm(spine.grid, d, point_lps) <= IN_DISC_MM), None)


SEGMENTER = LearnedSegmenter()
