"""Fasciculation events from the local block motion of a whole cine.

The residual block motion is summed over time into a displacement per block,
and everything slower than a twitch is taken away (a moving median over 2 s):
what remains is the brief local displacement of a fasciculation, measured in mm.
A block moves when its displacement exceeds both an absolute floor and a
multiple of its own noise; connected moving blocks in space and time form one
candidate. Candidates are refused when they last too long (a voluntary
contraction), cover most of the muscle (global motion the affine fit did not
take), fall in a probe slip, or recur at one site at a regular heart-beat
interval (a pulsating vessel; that site is then left out of the whole cine).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

#: What counts as a twitch (Harding et al. 2016: about 0.2–1 s; the issue's phantoms 0.1–0.5 s).
MAX_DURATION_S = 1.2
#: Slower motion than this is voluntary or postural, removed before detection.
BASELINE_WINDOW_S = 2.0
#: Displacement floor (mm) and noise multiple a block must exceed to count as moving.
FLOOR_MM = 0.05
NOISE_K = 6.0
#: A candidate covering more than this share of the analysed blocks is global motion.
MAX_AREA_SHARE = 0.4
#: A candidate smaller than this share of another one within this time is that one's echo.
ECHO_SHARE = 0.35
ECHO_WINDOW_S = 0.12
#: Two candidates at the same moment closer than this (blocks) are one twitch.
SPLIT_BLOCKS = 3.0
#: Heart-beat periods (s) a pulsating vessel may have.
PULSE_PERIOD_S = (0.4, 1.6)


@dataclass
class Candidate:
    frame: int  # the frame of peak displacement
    time_s: float
    duration_s: float
    by: float  # block coordinates of the displaced patch's centre at peak
    bx: float
    displacement_mm: float
    area_blocks: int
    rejected: str = ""  # why it is not a fasciculation ("" when it is)


@dataclass
class Detection:
    candidates: list[Candidate]
    magnitude: np.ndarray  # (frames, ny, nx) float16 band-passed displacement, mm (the motion map)
    noise_mm: np.ndarray  # (ny, nx)
    threshold_mm: np.ndarray  # (ny, nx)
    vessel_sites: list[tuple[float, float, float]] = field(default_factory=list)  # (by, bx, period_s)

    @property
    def events(self) -> list[Candidate]:
        return [c for c in self.candidates if not c.rejected]


def detect(
    residual: np.ndarray,
    times_s: np.ndarray,
    valid: np.ndarray,
    excluded_frames: np.ndarray | None = None,
) -> Detection:
    """``residual``: (frames, ny, nx, 2) local motion in mm since the previous frame (row 0 zeros);
    ``times_s``: frame times; ``valid``: (ny, nx) blocks to analyse; ``excluded_frames``: bool per frame
    (probe slips)."""
    n = residual.shape[0]
    dt = float(np.median(np.diff(times_s))) if n > 1 else 1.0 / 30
    displacement = np.cumsum(residual.astype(np.float64), axis=0)
    window = max(3, int(round(BASELINE_WINDOW_S / dt)) | 1)
    baseline = _moving_median(displacement, window)
    band = displacement - baseline
    band = ndimage.gaussian_filter(band, sigma=(0.0, 0.7, 0.7, 0.0), mode="nearest")
    magnitude = np.linalg.norm(band, axis=3)  # smoothed across blocks, for detection
    magnitude[:, ~valid] = 0.0
    if excluded_frames is not None and excluded_frames.any():
        magnitude[excluded_frames] = 0.0
    noise = 1.4826 * np.median(magnitude, axis=0) / 1.1774 + 1e-6  # Rayleigh median -> sigma
    threshold = np.maximum(FLOOR_MM, NOISE_K * noise)
    threshold[~valid] = np.inf
    high = magnitude > threshold
    low = magnitude > 0.5 * threshold
    labels, count = ndimage.label(low, structure=np.ones((3, 3, 3), bool))
    candidates: list[Candidate] = []
    n_valid = max(1, int(valid.sum()))
    if count:
        objects = ndimage.find_objects(labels)
        for index, box in enumerate(objects, start=1):
            if box is None:
                continue
            member = labels[box] == index
            if not (high[box] & member).any():
                continue
            candidates.append(_candidate(magnitude, box, member, times_s, dt, n_valid))
    detection = Detection(candidates, magnitude.astype(np.float16), noise.astype(np.float32), threshold.astype(np.float32))
    _reject_echoes(candidates, dt)
    _reject_vessels(detection, valid)
    return detection


def _candidate(magnitude, box, member, times_s, dt, n_valid) -> Candidate:
    values = np.where(member, magnitude[box], 0.0)
    t_rel, y_rel, x_rel = np.unravel_index(int(np.argmax(values)), values.shape)
    peak = float(values[t_rel, y_rel, x_rel])
    frame = int(box[0].start + t_rel)
    # duration: how long the peak block stays above half its peak (within this candidate)
    series = values[:, y_rel, x_rel]
    above = series >= 0.5 * peak
    start = t_rel
    while start > 0 and above[start - 1]:
        start -= 1
    end = t_rel
    while end < len(series) - 1 and above[end + 1]:
        end += 1
    # the band-pass makes a displacement rise and fall: the half-height width is the twitch's width
    duration = (end - start + 1) * dt
    plane = values[t_rel]
    spot = plane >= 0.5 * peak
    area = int(spot.sum())
    weights = np.where(spot, plane, 0.0)
    yy, xx = np.mgrid[0 : plane.shape[0], 0 : plane.shape[1]]
    by = float((weights * yy).sum() / weights.sum()) + box[1].start
    bx = float((weights * xx).sum() / weights.sum()) + box[2].start
    candidate = Candidate(frame, float(times_s[frame]), duration, by, bx, peak, area)
    if duration > MAX_DURATION_S:
        candidate.rejected = "slow (a voluntary contraction or posture)"
    elif area > MAX_AREA_SHARE * n_valid:
        candidate.rejected = "widespread (global motion)"
    return candidate


def _reject_echoes(candidates: list[Candidate], dt: float) -> None:
    """A small candidate at the same moment as a much larger one elsewhere is the larger twitch leaking
    through the global-motion fit, not a second twitch; two at the same moment side by side are one twitch
    split in two (by the edge of the analysed area, or a weak block between)."""
    for c in candidates:
        if c.rejected:
            continue
        for other in candidates:
            if other is c or other.rejected or abs(other.frame - c.frame) * dt > ECHO_WINDOW_S:
                continue
            if c.displacement_mm < ECHO_SHARE * other.displacement_mm:
                c.rejected = "echo of a larger twitch at the same moment"
                break
            near = np.hypot(c.by - other.by, c.bx - other.bx) <= SPLIT_BLOCKS
            if near and (c.displacement_mm, id(c)) < (other.displacement_mm, id(other)):
                c.rejected = "part of a larger twitch beside it"
                break


def _moving_median(values: np.ndarray, window: int) -> np.ndarray:
    """Moving median along axis 0, computed on a 3-fold decimated series for speed and interpolated back."""
    n = values.shape[0]
    step = 3 if n > 6 * window else 1
    coarse = values[::step]
    med = ndimage.median_filter(coarse, size=(max(3, (window // step) | 1),) + (1,) * (values.ndim - 1), mode="nearest")
    if step == 1:
        return med
    src = np.arange(0, n, step, dtype=np.float64)
    dst = np.arange(n, dtype=np.float64)
    flat = med.reshape(med.shape[0], -1)
    out = np.empty((n, flat.shape[1]))
    idx = np.searchsorted(src, dst, side="right") - 1
    idx = np.clip(idx, 0, len(src) - 2)
    frac = ((dst - src[idx]) / step)[:, None]
    out[:] = flat[idx] * (1 - frac) + flat[idx + 1] * frac
    return out.reshape(values.shape)


def _reject_vessels(detection: Detection, valid: np.ndarray, radius_blocks: float = 2.5) -> None:
    """Sites where candidates recur at a regular heart-beat period are vessels. A candidate there is
    refused when it comes in time with the beat and is no bigger than the beats; a twitch beside a vessel,
    out of step or larger, is kept."""
    pending = [c for c in detection.candidates if not c.rejected]
    used: set[int] = set()
    for i, seed in enumerate(pending):
        if i in used:
            continue
        group = [j for j, c in enumerate(pending) if np.hypot(c.by - seed.by, c.bx - seed.bx) <= radius_blocks]
        if len(group) < 5:
            continue
        times = np.sort([pending[j].time_s for j in group])
        intervals = np.diff(times)
        period = float(np.median(intervals))
        if not (PULSE_PERIOD_S[0] <= period <= PULSE_PERIOD_S[1]):
            continue
        # how many intervals are one or a few beats long (a weak beat may be missed)
        beats = intervals / period
        regular = np.abs(beats - np.round(beats)) < 0.2
        if regular.mean() < 0.7:
            continue
        site_times = times
        in_step = [j for j in group if _beat_chained(pending[j].time_s, site_times, period)]
        beat_size = float(np.median([pending[j].displacement_mm for j in in_step])) if in_step else 0.0
        by = float(np.mean([pending[j].by for j in in_step or group]))
        bx = float(np.mean([pending[j].bx for j in in_step or group]))
        detection.vessel_sites.append((by, bx, period))
        for c in detection.candidates:
            near = np.hypot(c.by - by, c.bx - bx) <= radius_blocks + 1.0
            if not c.rejected and near and _beat_chained(c.time_s, site_times, period) and c.displacement_mm <= 2.0 * beat_size:
                c.rejected = "pulsatile (a vessel)"
        used.update(group)


def _beat_chained(t: float, site_times: np.ndarray, period: float) -> bool:
    """True when another candidate at the site lies one or two beats before or after ``t`` (within 20 %
    of a beat): the local rhythm of a pulse, which survives a heart rate that drifts over the minute."""
    gaps = np.abs(site_times - t)
    gaps = gaps[gaps > 0.5 * period]
    for k in (1, 2):
        if np.any(np.abs(gaps - k * period) < 0.2 * period):
            return True
    return False
