"""Analyse one ultrasound cine for fasciculations: events, rate, quiet intervals, warnings.

    findings = analyse_clip(UltrasoundClip(read_header(path)), progress=..., cancel=...)
    findings.rate_per_min, findings.events, findings.warnings

Frames are decoded one at a time and dropped once tracked: memory holds two
frames and the block motion (a few MB for a minute of cine). The analysed area is
the muscle layer (between the superficial fascia and the deepest aponeurosis,
:mod:`planner.fasciculation.layer`) inside the calibrated 2D region, or a
rectangle the user gives.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

import numpy as np

from planner.errors import DicomInputError
from planner.fasciculation.muscles import Muscle, muscle_from_text
from planner.fasciculation.source import CineFrames, from_clip
from planner.progress import CancelToken, ProgressCallback, check, report
from planner.viewing.us_calibration import UltrasoundRegion

if TYPE_CHECKING:  # the tracking and detection (OpenCV, SciPy) load when a cine is analysed, not with the GUI
    from planner.fasciculation import events as ev
    from planner.fasciculation.motion import Grid, MotionTracker

#: Frames x blocks kept for detection (about 100 bytes each at the peak of detection: ~1 GB at most)
MAX_BLOCK_FRAMES = 10_000_000
#: Fewer seconds than this are not analysed at all (the moving-median baseline needs room either side).
MIN_ANALYSABLE_S = 5.0
#: Fewer seconds than this cannot support a rate (the criterion is counted over 60 s).
MIN_CONCLUSIVE_S = 30.0
#: Global motion faster than this over 0.2 s is a probe slip (mm).
SLIP_MM = 1.5
#: Frames this long either side of a slip are left out (s).
SLIP_MARGIN_S = 1.0
#: A pixel whose colour channels differ by more than this is colour Doppler, not B-mode.
COLOUR_SPREAD = 40
#: Texture below this (grey-level standard deviation in a block) cannot be tracked (anechoic, shadow).
MIN_TEXTURE = 4.0
#: The criterion, cited in every interpretation.
CRITERION_PER_MIN = 2.0
CRITERION_TEXT = "≥ 2 in 60 s"


@dataclass
class Event:
    """One fasciculation. Positions: ``x_mm`` lateral as the scanner's calibration defines it, ``depth_mm``
    below the transducer face; ``x_px``/``y_px`` the image pixel of its centre."""

    time_s: float
    duration_s: float
    x_mm: float | None
    depth_mm: float | None
    displacement_mm: float | None
    area_mm2: float | None
    frame: int
    x_px: float
    y_px: float
    radius_px: float
    manual: bool = False

    def to_json(self) -> dict:
        return {
            "time_s": round(self.time_s, 3),
            "duration_s": round(self.duration_s, 3),
            "x_mm": _round(self.x_mm),
            "depth_mm": _round(self.depth_mm),
            "displacement_mm": _round(self.displacement_mm, 3),
            "area_mm2": _round(self.area_mm2),
            "frame": self.frame,
            "x_px": round(self.x_px, 1),
            "y_px": round(self.y_px, 1),
            "manual": self.manual,
        }


@dataclass
class CineFindings:
    """What one cine shows: its events and rate, and what limits them."""

    sop_instance_uid: str
    description: str
    muscle: Muscle | None
    side: str  # "L", "R" or ""
    events: list[Event]
    duration_s: float
    analysed_s: float
    calibrated: bool
    rect_px: tuple[int, int, int, int]  # the analysed area (x0, y0, x1, y1)
    warnings: list[str] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)  # candidates refused, with the reason
    frame_times_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    motion_map: np.ndarray | None = None  # (frames, ny, nx) float16 mm, for the overlay
    grid: Grid | None = None
    region: UltrasoundRegion | None = None  # the calibrated region positions are measured in

    @property
    def rate_per_min(self) -> float:
        return 60.0 * len(self.events) / self.analysed_s if self.analysed_s > 0 else 0.0

    @property
    def conclusive(self) -> bool:
        return self.analysed_s >= MIN_CONCLUSIVE_S

    @property
    def longest_quiet_s(self) -> float:
        """The longest interval without an event, the cine's start and end included."""
        times = [0.0] + sorted(e.time_s for e in self.events) + [self.duration_s]
        return float(max(b - a for a, b in zip(times, times[1:])))

    @property
    def muscle_name(self) -> str:
        return self.muscle.name if self.muscle else (self.description or "the muscle")

    def summary(self) -> str:
        """One line, as the CLI and the Twitches panel show it."""
        side = f" ({self.side})" if self.side else ""
        return (f"{self.muscle_name}{side}: {len(self.events)} twitches in {self.analysed_s:.0f} s = {self.rate_per_min:.1f}/min; "
                f"longest quiet interval {self.longest_quiet_s:.0f} s")

    def add_event(self, event: Event) -> None:
        self.events.append(event)
        self.events.sort(key=lambda e: e.time_s)

    def remove_event(self, event: Event) -> None:
        self.events.remove(event)

    def to_json(self) -> dict:
        return {
            "events": [e.to_json() for e in self.events],
            "rate_per_min": round(self.rate_per_min, 2),
            "duration_s": round(self.duration_s, 2),
            "analysed_s": round(self.analysed_s, 2),
            "longest_quiet_s": round(self.longest_quiet_s, 2),
            "muscle": self.muscle.key if self.muscle else None,
            "side": self.side,
            "calibrated": self.calibrated,
            "analysed_area_px": list(self.rect_px),
            "warnings": list(self.warnings),
            "rejected": self.rejected,
        }


def analyse_clip(clip, rect: tuple[int, int, int, int] | None = None, muscle: str | None = None, **kwargs) -> CineFindings:
    if clip.n_frames < 2:
        raise DicomInputError(clip.header.path, f"is a single {clip.shape[1]} x {clip.shape[0]} image, not a cine: twitches need frames over time")
    return analyse(from_clip(clip), rect=rect, muscle=muscle, **kwargs)


def analyse(
    cine: CineFrames,
    rect: tuple[int, int, int, int] | None = None,
    muscle: str | None = None,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelToken] = None,
) -> CineFindings:
    """Find the fasciculations of one cine. ``rect`` (x0, y0, x1, y1) overrides the muscle layer."""
    from planner.fasciculation import events as ev
    from planner.fasciculation.layer import find_muscle_layer
    from planner.fasciculation.motion import MotionTracker, make_grid

    if cine.n_frames < 2:
        raise DicomInputError(cine.source, "is a single image, not a cine: twitches need frames over time")
    warnings: list[str] = []
    rows, cols = cine.shape[:2]
    region = cine.region
    calibrated = region is not None
    if calibrated:
        mm_x, mm_y = region.physical_delta_x_mm, region.physical_delta_y_mm
        bounds = region.bounds_px
    else:
        mm_x = mm_y = 0.1
        bounds = (0, 0, cols - 1, rows - 1)
        warnings.append(
            "uncalibrated: the cine has no calibrated 2D region, so positions and displacements are in pixels "
            "(a pixel taken as 0.1 mm for the thresholds)"
        )
    times_s = (cine.times_ms - cine.times_ms[0]) / 1000.0
    dt = float(np.median(np.diff(times_s)))
    duration_s = float(times_s[-1] + dt)

    report(progress, 0, cine.n_frames, "finding the muscle layer")
    first = _grey(cine.frame(0))[0]
    user = None
    if rect is not None:
        # the global motion is fitted over the whole image (a small rectangle would let a twitch bend the
        # fit and echo elsewhere); twitches are looked for inside the rectangle only
        user = _clip_rect(rect, bounds, cine.source)
        tracked = bounds
    else:
        sample = [first] + [_grey(cine.frame(i))[0] for i in np.linspace(0, cine.n_frames - 1, 8).astype(int)[1:]]
        layer = find_muscle_layer(np.mean(sample, axis=0), bounds, mm_y)
        tracked = layer.rect
        if layer.warning:
            warnings.append(layer.warning)
    try:
        grid = make_grid(tracked, mm_x, mm_y)
    except ValueError as exc:
        if tracked == bounds:
            raise DicomInputError(cine.source, str(exc)) from None
        warnings.append("the muscle layer found is too thin to analyse: the whole image analysed")
        try:
            grid = make_grid(bounds, mm_x, mm_y)
        except ValueError as whole:
            raise DicomInputError(cine.source, str(whole)) from None
    texture = _block_texture(first, grid)
    valid = texture >= MIN_TEXTURE
    tracker = MotionTracker(grid, valid.astype(np.float64))
    searched = _blocks_inside(grid, user) if user is not None else np.ones_like(valid)
    if user is not None and (searched.any(axis=0).sum() < 2 or searched.any(axis=1).sum() < 2):
        raise DicomInputError(cine.source, f"the region {','.join(map(str, user))} is too small to analyse: at least 2 x 2 blocks of "
                                           f"{grid.block_px} pixels ({grid.block_px * mm_x:.1f} mm)")
    n_frames = min(cine.n_frames, max(2, MAX_BLOCK_FRAMES // (grid.ny * grid.nx)))
    if n_frames < cine.n_frames:  # the block motion of the whole cine is kept for detection: bound it
        warnings.append(f"only the first {times_s[n_frames - 1]:.0f} s of {duration_s:.0f} s analysed (a longer cine: split it)")
        times_s = times_s[:n_frames]
        duration_s = float(times_s[-1] + dt)
    residual = np.zeros((n_frames, grid.ny, grid.nx, 2), np.float32)
    global_steps = np.zeros((n_frames, 2), np.float32)
    colour_blocks = np.zeros((grid.ny, grid.nx), bool)
    last_report = time.monotonic()
    for i in range(n_frames):
        check(cancel)
        grey, colour = _grey(cine.frame(i))
        if colour is not None:
            colour_blocks |= _blocks_any(colour, grid)
        step = tracker.step(grey)
        if step is not None:
            residual[i] = step
            global_steps[i] = tracker.global_step_mm
        now = time.monotonic()
        if now - last_report >= 0.25:
            report(progress, i + 1, n_frames, f"tracking tissue motion: frame {i + 1} of {n_frames}")
            last_report = now
    check(cancel)
    report(progress, n_frames, n_frames, "detecting twitches")
    if colour_blocks.any():
        warnings.append(f"colour Doppler pixels in {int(colour_blocks.sum())} of {colour_blocks.size} blocks of the analysed area: left out")
        valid &= ~colour_blocks
    if (~valid).sum() > 0.5 * valid.size:
        warnings.append("more than half of the analysed area has too little texture to track (shadow, fluid or an empty image)")
    excluded, slips = _probe_slips(global_steps, times_s, dt)
    for t in slips:
        warnings.append(f"probe slip at {t:.1f} s: {2 * SLIP_MARGIN_S:.0f} s around it left out")
    if duration_s < MIN_ANALYSABLE_S:
        # shorter than the baseline that tells a twitch from slower motion: nothing can be counted
        warnings.append(f"too short to analyse: {duration_s:.1f} s of cine; twitches are told from slower motion over at least {MIN_ANALYSABLE_S:.0f} s")
        excluded[:] = True
    detection = ev.detect(residual, times_s, valid & searched, excluded)
    for by, bx, period in detection.vessel_sites:
        x, y = grid.block_centre_px(by, bx)
        where = _where(region, x, y)
        warnings.append(f"pulsatile motion every {period:.2f} s at {where} (a vessel): left out")
    analysed_s = max(0.0, duration_s - float(excluded.sum()) * dt)
    if analysed_s < MIN_CONCLUSIVE_S and duration_s >= MIN_ANALYSABLE_S:
        warnings.append(f"too short to conclude: {analysed_s:.0f} s analysed; a rate needs at least {MIN_CONCLUSIVE_S:.0f} s (60 s advised)")
    report(progress, n_frames, n_frames, "measuring the twitches")
    for c in detection.events:
        check(cancel)
        c.displacement_mm = _size(cine, tracker, c, dt)
    events = [_event(c, grid, region, calibrated) for c in detection.events]
    rejected = [
        {"time_s": round(c.time_s, 2), "reason": c.rejected, "displacement_mm": round(c.displacement_mm, 3)} for c in detection.candidates if c.rejected
    ]
    found = muscle_from_text(muscle) if muscle else muscle_from_text(cine.description)
    if muscle and found is None:
        warnings.append(f"muscle {muscle!r} is not one the interpretation knows; its root supply is not used")
    return CineFindings(
        sop_instance_uid=cine.sop_instance_uid,
        description=cine.description,
        muscle=found,
        side=cine.side,
        events=events,
        duration_s=duration_s,
        analysed_s=analysed_s,
        calibrated=calibrated,
        rect_px=_searched_rect(grid, searched),
        warnings=warnings,
        rejected=rejected,
        frame_times_s=times_s,
        motion_map=detection.magnitude,
        grid=grid,
        region=region,
    )


def _size(cine: CineFrames, tracker: MotionTracker, c: ev.Candidate, dt: float) -> float:
    """A twitch's peak displacement (mm), measured from just before it starts to its peak in one step: the
    largest local motion among the blocks around its centre (never less than the detector's estimate)."""
    lead = max(3, int(round(1.5 * c.duration_s / dt)))
    start = max(0, c.frame - lead)
    if start == c.frame:
        return c.displacement_mm
    residual = tracker.residual_between(_grey(cine.frame(start))[0], _grey(cine.frame(c.frame))[0])
    y, x = int(round(c.by)), int(round(c.bx))
    near = np.linalg.norm(residual[max(0, y - 1) : y + 2, max(0, x - 1) : x + 2], axis=2)
    return max(c.displacement_mm, float(near.max()))


def _grey(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(grey uint8, colour mask or None). RGB frames: the channel mean; colour pixels flagged."""
    if frame.ndim == 3:
        f = frame.astype(np.int16)
        spread = f.max(axis=2) - f.min(axis=2)
        colour = spread > COLOUR_SPREAD
        return f.mean(axis=2).astype(np.uint8), (colour if colour.any() else None)
    if frame.dtype != np.uint8:
        lo, hi = float(frame.min()), float(frame.max())
        scale = 255.0 / (hi - lo) if hi > lo else 1.0
        return ((frame.astype(np.float32) - lo) * scale).astype(np.uint8), None
    return frame, None


def _blocks_inside(grid: Grid, rect) -> np.ndarray:
    """(ny, nx) blocks lying wholly inside ``rect`` (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = rect
    bx = np.arange(grid.nx) * grid.block_px + grid.x0
    by = np.arange(grid.ny) * grid.block_px + grid.y0
    cols = (bx >= x0) & (bx + grid.block_px - 1 <= x1)
    rows = (by >= y0) & (by + grid.block_px - 1 <= y1)
    return rows[:, None] & cols[None, :]


def _searched_rect(grid: Grid, searched: np.ndarray) -> tuple[int, int, int, int]:
    """The pixel rectangle of the blocks searched for twitches."""
    rows, cols = np.flatnonzero(searched.any(axis=1)), np.flatnonzero(searched.any(axis=0))
    b = grid.block_px
    return (grid.x0 + int(cols[0]) * b, grid.y0 + int(rows[0]) * b, grid.x0 + (int(cols[-1]) + 1) * b - 1, grid.y0 + (int(rows[-1]) + 1) * b - 1)


def _blocks_any(mask: np.ndarray, grid: Grid) -> np.ndarray:
    g = grid
    cut = mask[g.y0 : g.y0 + g.height_px, g.x0 : g.x0 + g.width_px]
    return cut.reshape(g.ny, g.block_px, g.nx, g.block_px).any(axis=(1, 3))


def _block_texture(grey: np.ndarray, grid: Grid) -> np.ndarray:
    g = grid
    cut = grey[g.y0 : g.y0 + g.height_px, g.x0 : g.x0 + g.width_px].astype(np.float32)
    return cut.reshape(g.ny, g.block_px, g.nx, g.block_px).std(axis=(1, 3))


def _clip_rect(rect, bounds, source) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = (int(round(v)) for v in rect)
    if x1 < x0:
        x0, x1 = x1, x0
    if y1 < y0:
        y0, y1 = y1, y0
    bx0, by0, bx1, by1 = bounds
    cx0, cy0, cx1, cy1 = max(x0, bx0), max(y0, by0), min(x1, bx1), min(y1, by1)
    if cx1 <= cx0 or cy1 <= cy0:
        raise DicomInputError(source, f"the region {x0},{y0},{x1},{y1} lies outside the image's calibrated area {bx0},{by0},{bx1},{by1}")
    return cx0, cy0, cx1, cy1


def _probe_slips(global_steps: np.ndarray, times_s: np.ndarray, dt: float) -> tuple[np.ndarray, list[float]]:
    """Frames to leave out around each probe slip, and the slips' times."""
    n = len(global_steps)
    k = max(1, int(round(0.2 / dt)))
    cum = np.cumsum(global_steps, axis=0)
    moved = np.zeros(n)
    moved[k:] = np.linalg.norm(cum[k:] - cum[:-k], axis=1)
    excluded = np.zeros(n, bool)
    slips: list[float] = []
    margin = int(round(SLIP_MARGIN_S / dt))
    i = 0
    while i < n:
        if moved[i] > SLIP_MM:
            j = i
            while j < n and moved[j] > SLIP_MM:
                j += 1
            peak = i + int(np.argmax(moved[i:j]))
            slips.append(float(times_s[peak]))
            excluded[max(0, i - k - margin) : min(n, j + margin)] = True
            i = j
        else:
            i += 1
    return excluded, slips


def _where(region: UltrasoundRegion | None, x: float, y: float) -> str:
    if region is None:
        return f"pixel ({x:.0f}, {y:.0f})"
    lateral, _ = region.physical_mm(x, y)
    return f"{lateral:.0f} mm lateral, {region.depth_mm(y):.0f} mm deep"


def _event(c: ev.Candidate, grid: Grid, region: UltrasoundRegion | None, calibrated: bool) -> Event:
    x, y = grid.block_centre_px(c.by, c.bx)
    radius_px = max(grid.block_px, math.sqrt(c.area_blocks / math.pi) * grid.block_px)
    if calibrated:
        lateral, _ = region.physical_mm(x, y)
        return Event(c.time_s, c.duration_s, lateral, region.depth_mm(y), c.displacement_mm, c.area_blocks * grid.block_area_mm2, c.frame, x, y, radius_px)
    return Event(c.time_s, c.duration_s, None, None, None, None, c.frame, x, y, radius_px)


def _round(value, digits: int = 2):
    return None if value is None else round(float(value), digits)
