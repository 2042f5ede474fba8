"""The L5-S1 analysis of one sagittal series as the user sees and corrects it (issue 4, GUI side).

:func:`analyze_volume` runs level finding, segmentation and bulge analysis on a
:class:`~planner.volume.Volume` (with progress and cancel, for a worker).
:class:`DiscModel` holds the result and every correction the user makes, each
one a command on the shared :class:`~planner.undo.UndoStack`:

    model = DiscModel(analyze_volume(volume), undo_stack)
    model.paint(point_lps, plane_normal_lps, radius_mm=3.0, depth_mm=4.0, value=True)  # brush...
    model.end_stroke()                                                                 # ...one undo step
    model.smooth()
    model.replace_segmentation(segment_disc(volume, ..., seed_lps=click))              # seed click
    model.finding                                                                      # re-analysed after each

The masks live in the disc-aligned frame (0.5 mm, :class:`~planner.disc.segmentation.DiscFrame`):
:meth:`DiscModel.label_volume` is that grid as a :class:`~planner.volume.Volume` of
labels (:data:`LABELS`) for display; its array is updated in place after every
change. Listeners hear ``"mask"`` (labels changed) and ``"finding"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import SimpleITK as sitk

from planner.dicom.header import InstanceHeader
from planner.dicom.loader import load_series
from planner.disc import segmenters
from planner.disc.bulge import BulgeFinding, analyse_bulge, ray_extent_mm
from planner.disc.levels import Level, LevelError, LevelResult, levels_at_mark
from planner.disc.segmentation import (
    STEP_MM,
    DiscSegmentation,
    SegmentationFailed,
    direction_degrees,
    displaced_on_axial,
)
from planner.errors import DiscAnalysisError, PlannerError
from planner.observable import Observable
from planner.progress import CancelToken, ProgressCallback, check, report
from planner.undo import Command, UndoStack
from planner.volume import Volume

#: Label values of :meth:`DiscModel.label_volume`.
LABELS = {"disc": 1, "displaced": 2, "L5 body": 3, "S1 body": 4}


@dataclass
class DiscAnalysis:
    """What :func:`analyze_volume` found on one series."""

    volume: Volume
    levels: LevelResult
    segmentation: DiscSegmentation
    finding: BulgeFinding
    segmenter: str = segmenters.DEFAULT
    level_shift: int = 0
    axial: Volume | None = None  # the axial series the displaced material was measured on, if any
    plugin: object | None = None  # the segmenter object itself (seed clicks use it again)
    marked_lps: tuple[float, float, float] | None = None  # where the user marked L5-S1, when the levels are theirs

    def series_masks(self) -> dict[str, np.ndarray]:
        """The disc and the bodies above and below it on the analysed series' voxels [k, j, i] (the SEG's
        segments): the model's bodies when it found them, else the segmentation's."""
        volume, seg = self.volume, self.segmentation
        masks = {"L5-S1 disc": seg.series_mask(volume)}
        spine = self.levels.spine
        for name, key, frame_mask in (("L5", "L5 body", seg.l5_body), ("S1", "S1 body", seg.s1_body)):
            part = spine.part(name) if spine is not None else None
            if part is not None:
                from planner.spine.parts import part_on_series

                masks[key] = part_on_series(spine, part, volume) & ~masks["L5-S1 disc"]
            else:
                masks[key] = seg.series_mask(volume, frame_mask)
        return {name: mask for name, mask in masks.items() if mask.any()}


#: what a user can do when the levels cannot be counted: say where L5-S1 is
MARK_HINT = (". Where the L5-S1 disc is in view, mark it by hand: the Seed tool on the sagittal view, or "
             "main.py analyze/plan --l5s1-at X,Y,Z")


def analyze_volume(
    volume: Volume,
    level_shift: int = 0,
    segmenter: "str | segmenters.Segmenter" = segmenters.DEFAULT,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    axials: Sequence[Volume] = (),
    axial_headers: Sequence[Sequence[InstanceHeader]] = (),
    l5s1_lps=None,
) -> DiscAnalysis:
    """Find the levels on a sagittal ``volume``, segment L5-S1 and analyse its bulge.

    ``l5s1_lps``: a point the user marked inside the L5-S1 disc (where the
    levels could not be counted, or were counted wrong): the levels are then
    named from there (:func:`~planner.disc.levels.levels_at_mark`, never with
    confidence) and the disc is segmented around it.

    ``axials``: the study's axial series; the one best aligned with the disc
    that covers it is used to measure the displaced material
    (:func:`~planner.disc.segmentation.displaced_on_axial`). ``axial_headers``:
    more axial series, not loaded yet; those whose slices pass through the
    L5-S1 disc are loaded and join ``axials`` (a series that cannot be loaded
    is left out, as when it does not cover the disc). Raises
    :class:`DiscAnalysisError` with a sentence when the levels, the sacrum or
    the disc cannot be found, or the segmenter is not installed.
    """
    try:
        plugin = segmenters.load(segmenter) if isinstance(segmenter, str) else segmenter
    except segmenters.SegmenterNotFound as exc:
        raise DiscAnalysisError(str(exc)) from exc
    segmenter = segmenter if isinstance(segmenter, str) else getattr(plugin, "name", "custom")
    report(progress, 0, 3, "Finding the lumbar levels...")
    try:
        if l5s1_lps is None:
            levels = plugin.find_levels(volume, level_shift=level_shift, cancel=cancel)
        elif hasattr(plugin, "levels_at_mark"):
            levels = plugin.levels_at_mark(volume, l5s1_lps, level_shift=level_shift, cancel=cancel)
        else:  # a segmenter that cannot name levels from a mark: the classical disc chain does
            levels = levels_at_mark(volume, l5s1_lps, level_shift=level_shift)
    except LevelError as exc:
        hint = MARK_HINT if l5s1_lps is None else ""
        raise DiscAnalysisError(f"{volume.description or 'the series'}: {exc}{hint}") from exc
    check(cancel)
    report(progress, 1, 3, "Segmenting the L5-S1 disc...")
    try:
        # around the mark when the user marked the disc and no model part stands for it (nor a shift moved L5-S1)
        marked_only = l5s1_lps is not None and not level_shift and levels.spine is None
        seed = np.asarray(l5s1_lps, float) if marked_only else None
        seg = plugin.segment(volume, levels, seed_lps=seed)
    except SegmentationFailed as exc:
        where = " at the marked point" if seed is not None else ""
        raise DiscAnalysisError(f"the L5-S1 disc could not be segmented{where}: {exc}") from exc
    check(cancel)
    centre, normal, height = seg.geometry()
    crossing = [headers for headers in axial_headers if slices_cross(headers, centre)]
    seg, axial = _on_axial(seg, [*axials, *_loaded(crossing, cancel)])
    check(cancel)
    report(progress, 2, 3, "Classifying the disc...")
    finding = analyse_bulge(seg)
    if not finding.reliable and levels.confidence == "high":
        # what was named L5-S1 does not look like a disc between two bodies: the count that named it is in doubt
        # too (leave-one-source-out, a count two levels high on vb2-06 came with such a mask and no doubt)
        from dataclasses import replace as _replace

        levels = _replace(levels, confidence="low", confidence_reasons=[
            *levels.confidence_reasons,
            "The disc found at L5-S1 is not disc-like (" + "; ".join(finding.problems) + "): check the level.",
        ])
    if finding.reliable:
        # the segmentation sees the whole disc space: its centre, normal and height replace the level finder's
        # (a mask that is not disc-like does not move the level the finder counted)
        levels = levels.with_level(Level("L5-S1", tuple(map(float, centre)), tuple(map(float, normal)), height))
    report(progress, 3, 3, "")
    marked = tuple(float(v) for v in l5s1_lps) if l5s1_lps is not None else None
    return DiscAnalysis(volume, levels, seg, finding, segmenter, level_shift, axial, plugin, marked)


def slices_cross(headers: Sequence[InstanceHeader], point_lps) -> bool:
    """Whether the slices of ``headers`` pass through ``point_lps``: it lies within their stack (gaps between
    slices included, half a slice beyond the outer ones) and inside the image of the slice nearest it."""
    point = np.asarray(point_lps, float)
    slices = [h for h in headers if h.is_image and h.image_orientation and h.image_position_lps and h.pixel_spacing_mm]
    if not slices:
        return False
    row, column = np.asarray(slices[0].image_orientation[:3], float), np.asarray(slices[0].image_orientation[3:6], float)
    normal = np.cross(row, column)
    depths = np.array([(point - np.asarray(h.image_position_lps, float)) @ normal for h in slices])
    half = max(slices[0].slice_thickness_mm or 1.0, 1.0) / 2
    if not (depths.min() - half <= 0.0 <= depths.max() + half):
        return False
    nearest = slices[int(np.argmin(np.abs(depths)))]
    offset = point - np.asarray(nearest.image_position_lps, float)
    x, y = float(offset @ row), float(offset @ column)  # along the rows (a column index) and down the columns
    dy, dx = nearest.pixel_spacing_mm  # PixelSpacing is (between rows, between columns)
    return 0.0 <= x <= nearest.columns * dx and 0.0 <= y <= nearest.rows * dy


def _loaded(series: Sequence[Sequence[InstanceHeader]], cancel: CancelToken | None) -> list[Volume]:
    """The first volume of each of ``series`` that loads (one that cannot is not measured on)."""
    volumes = []
    for headers in series:
        check(cancel)
        try:
            loaded = load_series(headers)
        except PlannerError:
            continue
        volumes.extend(loaded.volumes[:1])
    return volumes


def _on_axial(seg: DiscSegmentation, axials: Sequence[Volume]) -> tuple[DiscSegmentation, Volume | None]:
    """``seg`` with its displaced material from the axial series most parallel to the disc that covers it."""
    normal = seg.frame.normal
    for axial in sorted(axials, key=lambda v: -abs(float(v.axes_lps[:, 2] @ normal))):
        if abs(float(axial.axes_lps[:, 2] @ normal)) < np.cos(np.radians(30.0)):
            break  # not an axial series of this disc
        on_axial = displaced_on_axial(seg, axial)
        if on_axial is not None:
            return on_axial, axial
    return seg, None


def resegment_from_seed(analysis: DiscAnalysis, seed_lps, progress=None, cancel=None) -> DiscSegmentation:
    """The disc segmented again around a point the user clicked inside it (same level normal)."""
    plugin = analysis.plugin or segmenters.load(analysis.segmenter)
    report(progress, 0, 1, "Segmenting from the clicked point...")
    try:
        seg = plugin.segment(analysis.volume, analysis.levels, seed_lps=np.asarray(seed_lps, float))
    except SegmentationFailed as exc:
        raise DiscAnalysisError(f"no disc around the clicked point: {exc}") from exc
    check(cancel)
    if analysis.axial is not None:
        seg, _ = _on_axial(seg, [analysis.axial])
    return seg


class DiscModel(Observable):
    """An analysis the user corrects: brush, eraser, smoothing, seed re-segmentation, all undoable."""

    def __init__(self, analysis: DiscAnalysis, undo_stack: UndoStack) -> None:
        self.analysis = analysis
        self.undo_stack = undo_stack
        self._stroke_before: np.ndarray | None = None
        self.levels_confirmed = False  # the user has checked the count from the sacrum
        self.confirmed_by = ""  # who, and when (ISO time), for the plan and its SR
        self.confirmed_at = ""
        self.corrected = False  # the user has painted, smoothed or re-seeded the mask
        self.labels = np.zeros(analysis.segmentation.disc.shape, dtype=np.uint8)
        self._update_labels()

    # -------------------------------------------------------------- reading

    @property
    def volume(self) -> Volume:
        return self.analysis.volume

    @property
    def levels(self) -> LevelResult:
        return self.analysis.levels

    @property
    def segmentation(self) -> DiscSegmentation:
        return self.analysis.segmentation

    @property
    def finding(self) -> BulgeFinding:
        return self.analysis.finding

    @property
    def warnings(self) -> list[str]:
        return self.levels.warnings + self.segmentation.warnings + self.finding.warnings

    def label_volume(self) -> Volume:
        """The labels on the disc frame's grid, placed in LPS (shares :attr:`labels`)."""
        frame = self.segmentation.frame
        reference = frame.reference()
        affine = np.eye(4)
        affine[:3, :3] = np.column_stack([frame.lateral, frame.posterior, frame.normal]) * STEP_MM
        affine[:3, 3] = reference.GetOrigin()
        return Volume(
            self.labels,
            affine,
            frame_of_reference_uid=self.volume.frame_of_reference_uid,
            modality="SEG",
            description="L5-S1 disc",
        )

    def displacement_at(self, points_lps) -> np.ndarray:
        """d(theta) (mm) of the direction of each point (N x 3 LPS) from the outline's centre.

        Points within the outline, more than 2 mm inside its margin, get 0: the colour map shows the
        displacement on the disc's rim, not across its endplate faces.
        """
        seg = self.segmentation
        frame = seg.frame
        points = np.atleast_2d(np.asarray(points_lps, float)) - frame.center_lps
        p_mm, l_mm = points @ frame.posterior, points @ frame.lateral
        p_axis, l_axis = frame.axis_mm(1), frame.axis_mm(2)
        centre = np.argwhere(seg.outline).mean(axis=0)
        centre_p = p_axis[0] + centre[0] * STEP_MM
        centre_l = l_axis[0] + centre[1] * STEP_MM
        dp, dl = p_mm - centre_p, l_mm - centre_l
        degrees = direction_degrees(dp, dl)
        profile = np.asarray(self.finding.profile_mm)
        radius = np.hypot(dp, dl)
        rim = ray_extent_mm(seg.outline, centre, np.radians(np.arange(360.0)))[degrees]
        return np.where(radius >= rim - 2.0, profile[degrees], 0.0)

    # -------------------------------------------------------------- editing

    def paint(self, points_lps, plane_normal_lps, radius_mm: float, depth_mm: float, value: bool) -> None:
        """Set (``value`` True: brush) or clear (eraser) discs of ``radius_mm`` centred on each of
        ``points_lps`` (one point or N x 3), in the plane with normal ``plane_normal_lps``, ``depth_mm``
        thick (the view's slice). Listeners hear ``"mask"`` once.

        Consecutive calls are one stroke; :meth:`end_stroke` makes it one undo step.
        """
        seg = self.segmentation
        if self._stroke_before is None:
            self._stroke_before = seg.disc.copy()
        normal = np.asarray(plane_normal_lps, float)
        normal = normal / np.linalg.norm(normal)
        changed = False
        for point in np.atleast_2d(np.asarray(points_lps, float)):
            changed |= self._dab(point, normal, radius_mm, depth_mm, value)
        if changed:
            seg.set_disc(seg.disc)
            self._update_labels()
            self._notify("mask")

    def _dab(self, point: np.ndarray, normal: np.ndarray, radius_mm: float, depth_mm: float, value: bool) -> bool:
        seg = self.segmentation
        frame = seg.frame
        offset = point - frame.center_lps
        local = np.array([offset @ frame.normal, offset @ frame.posterior, offset @ frame.lateral])
        lows = np.array([frame.axis_mm(a)[0] for a in range(3)])
        centre = (local - lows) / STEP_MM
        reach = int(np.ceil((radius_mm + depth_mm / 2) / STEP_MM)) + 1
        lo = np.maximum(np.floor(centre).astype(int) - reach, 0)
        hi = np.minimum(np.ceil(centre).astype(int) + reach + 1, seg.disc.shape)
        if np.any(hi <= lo):
            return False  # outside the frame: nothing to paint
        grids = np.meshgrid(*(np.arange(lo[a], hi[a]) for a in range(3)), indexing="ij")
        d = [(grids[a] - centre[a]) * STEP_MM for a in range(3)]
        world = d[0][..., None] * frame.normal + d[1][..., None] * frame.posterior + d[2][..., None] * frame.lateral
        along = world @ normal
        across = np.linalg.norm(world - along[..., None] * normal, axis=-1)
        brush = (across <= radius_mm) & (np.abs(along) <= max(depth_mm / 2, STEP_MM / 2))
        region = seg.disc[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
        if not brush.any() or np.all(region[brush] == value):
            return False
        region[brush] = value
        return True

    def summary(self) -> str:
        """One line for a status bar: the finding, and the level's state when it needs the user."""
        f = self.finding
        text = (
            "L5-S1: not assessable (the disc measurement is not reliable)"
            if not f.reliable
            else f"L5-S1: {f.classification}, max displacement {f.max_displacement_mm:.1f} mm"
        )
        if not self.level_settled:
            text += " - level count not certain: confirm or shift the labels before planning"
        return text

    @property
    def level_settled(self) -> bool:
        """Whether plans may be built on the level: the count from the sacrum is sure, or the user confirmed it."""
        return self.levels.confidence == "high" or self.levels_confirmed

    def level_check(self):
        """The plan's :class:`~planner.plan.model.LevelCheck` of this analysis (confidence, who confirmed and when)."""
        from planner.plan.model import LevelCheck

        levels = self.levels
        return LevelCheck(
            levels.confidence, tuple(levels.confidence_reasons), levels.level_shift,
            self.confirmed_by if self.levels_confirmed else "", self.confirmed_at if self.levels_confirmed else "",
        )

    def confirm_levels(self, by: str = "") -> None:
        """Record that the user ``by`` checked the level count, now (undoable)."""
        from planner.plan.model import now_iso
        from planner.plan.planning import default_author

        who, when = by or default_author(), now_iso()

        def use(confirmed: bool) -> None:
            self.levels_confirmed = confirmed
            self.confirmed_by, self.confirmed_at = (who, when) if confirmed else ("", "")
            self._notify("finding")

        if not self.levels_confirmed:
            self.undo_stack.push(Command("Confirm levels", redo=lambda: use(True), undo=lambda: use(False)))

    def end_stroke(self, text: str = "Paint disc") -> None:
        """Close the stroke painted since the last call: one undo step, and the finding re-analysed."""
        if self._stroke_before is None:
            return
        before, self._stroke_before = self._stroke_before, None
        self._push_mask(before, self.segmentation.disc.copy(), text)

    def smooth(self, radius_mm: float = 1.0) -> None:
        """Smooth the disc mask: binary opening then closing with a ball of ``radius_mm`` (undoable)."""
        seg = self.segmentation
        radius = max(1, int(round(radius_mm / STEP_MM)))
        if not seg.disc.any():
            return
        found = np.argwhere(seg.disc)
        lo = np.maximum(found.min(axis=0) - 2 * radius - 1, 0)
        hi = np.minimum(found.max(axis=0) + 2 * radius + 2, seg.disc.shape)
        box = tuple(slice(a, b) for a, b in zip(lo, hi))  # the disc's box: 10x faster than the frame
        image = sitk.GetImageFromArray(seg.disc[box].astype(np.uint8))
        image = sitk.BinaryMorphologicalClosing(sitk.BinaryMorphologicalOpening(image, [radius] * 3), [radius] * 3)
        after = seg.disc.copy()
        after[box] = sitk.GetArrayFromImage(image) > 0
        self._push_mask(seg.disc.copy(), after, "Smooth disc")

    def replace_segmentation(self, segmentation: DiscSegmentation, text: str = "Segment disc from seed") -> None:
        """Put a new segmentation in place (e.g. from a seed click), undoably."""
        old = self.analysis.segmentation, self.analysis.finding
        new = segmentation, analyse_bulge(segmentation)

        self.corrected = True

        def use(pair):
            self.analysis.segmentation, self.analysis.finding = pair
            self._update_labels()
            self._notify("mask")
            self._notify("finding")

        self.undo_stack.push(Command(text, redo=lambda: use(new), undo=lambda: use(old)))

    def _push_mask(self, before: np.ndarray, after: np.ndarray, text: str) -> None:
        changed = np.flatnonzero(before.ravel() != after.ravel())
        if not len(changed):
            return
        old_values, new_values = before.ravel()[changed], after.ravel()[changed]
        self.corrected = True
        seg = self.segmentation

        def apply(values):
            disc = seg.disc.copy()
            disc.ravel()[changed] = values
            seg.set_disc(disc)
            self.analysis.finding = analyse_bulge(seg)
            self._update_labels()
            self._notify("mask")
            self._notify("finding")

        self.undo_stack.push(Command(text, redo=lambda: apply(new_values), undo=lambda: apply(old_values)))

    def _update_labels(self) -> None:
        seg = self.segmentation
        labels = np.zeros(self.labels.shape, dtype=np.uint8)
        labels[seg.l5_body] = LABELS["L5 body"]
        labels[seg.s1_body] = LABELS["S1 body"]
        labels[seg.disc] = LABELS["disc"]
        labels[seg.displaced] = LABELS["displaced"]
        np.copyto(self.labels, labels)  # in place: views share the buffer
