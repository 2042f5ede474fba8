"""Level finding on a sagittal T2 series (issue 4): the disc chain, followed into the sacrum, labelled from S1.

How it works, in the patient frame whatever the series' row/column order:

1. :func:`midsagittal` resamples a slab around the series centre onto a 1 mm
   grid whose rows run superior -> inferior and columns anterior -> posterior,
   and divides by a heavily smoothed copy (intensity inhomogeneity).
2. :func:`disc_candidates` scores, for endplate tilts from -50 to +50 degrees,
   a pair of opposite edges 4-16 mm apart along the tilt's normal, smoothed
   along the endplate: a disc differs from the bodies above and below it,
   brighter (hydrated) or darker (degenerated), with the same sign rule.
3. :func:`disc_chain` links candidates by dynamic programming into the chain a
   spine makes: consecutive discs 22-52 mm apart, each step nearly along the
   discs' normals, smooth in direction, tilt and spacing.
4. :func:`track_caudally` follows the column below the chain junction by
   junction into the sacrum (the lowest discs are steep and often thin), and
   :func:`refine_disc` sets each junction's centre and tilt to the degree.
5. :func:`find_levels` names the junction where the column stops bending
   (:func:`lumbosacral_scores`) L5-S1 and counts upwards; when two junctions
   bend alike, the one with the taller disc space wins (the sacral junctions
   below S1 are fused remnants), and the count is said to be doubtful.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import SimpleITK as sitk

from planner.errors import LevelError  # noqa: F401 - re-exported where it was defined
from planner.geometry import sample_bilinear
from planner.viewing.mpr import contains
from planner.volume import Volume

TILTS_DEG = tuple(range(-50, 51, 10))
#: Tilts for following the column caudally: the lowest lumbar discs and the sacrum turn further.
STEEP_TILTS_DEG = tuple(range(-80, 51, 5))
#: junctions whose lumbosacral score is within this share of the best one's are told apart by their disc space
RIVAL_SHARE = 0.6
LUMBAR_NAMES = ("L5-S1", "L4-L5", "L3-L4", "L2-L3", "L1-L2", "T12-L1", "T11-T12", "T10-T11", "T9-T10", "T8-T9")
DISC_HEIGHTS_MM = tuple(range(4, 17, 2))
PIXEL_MM = 1.0


@dataclass(frozen=True)
class MidSagittal:
    """A mid-sagittal image: ``pixels[row, column]``, rows S -> I, columns A -> P, ``PIXEL_MM`` apart.

    ``to_lps(row, column)`` gives the LPS point of a pixel (x = the slab centre).
    """

    pixels: np.ndarray
    x_mm: float
    top_z_mm: float
    anterior_y_mm: float

    def to_lps(self, row: float, column: float) -> np.ndarray:
        return np.array([self.x_mm, self.anterior_y_mm + column * PIXEL_MM, self.top_z_mm - row * PIXEL_MM])


@dataclass(frozen=True)
class DiscCandidate:
    """A disc found in the mid-sagittal image: centre (row, column), tilt (degrees) and score."""

    row: float
    column: float
    tilt_deg: float
    score: float

    def normal_rc(self) -> np.ndarray:
        """Unit normal (row, column) of the disc plane, pointing inferior."""
        angle = np.radians(self.tilt_deg)
        return np.array([np.cos(angle), -np.sin(angle)])


def sitk_image(volume: Volume) -> sitk.Image:
    """``volume`` as a float32 SimpleITK image with its patient geometry."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(volume.array, dtype=np.float32))
    image.SetSpacing(volume.spacing_mm)
    image.SetOrigin(volume.origin_lps)
    image.SetDirection(volume.axes_lps.ravel().tolist())
    return image


def midsagittal(volume: Volume, slab_mm: float = 6.0, x_mm: float | None = None) -> MidSagittal:
    """The bias-normalised mean of a ``slab_mm`` slab at ``x_mm`` (default: the centre of ``volume``), in the patient frame."""
    k, j, i = volume.shape
    grid = np.array([[a, b, c] for a in (0, i - 1) for b in (0, j - 1) for c in (0, k - 1)], dtype=float)
    corners = grid @ volume.image_to_lps[:3, :3].T + volume.image_to_lps[:3, 3]
    center = corners.mean(axis=0)
    y0, y1 = corners[:, 1].min(), corners[:, 1].max()
    z0, z1 = corners[:, 2].min(), corners[:, 2].max()
    if x_mm is not None:
        center[0] = x_mm
    n_x = max(1, int(round(slab_mm)))
    reference = sitk.Image([int((y1 - y0) / PIXEL_MM) + 1, int((z1 - z0) / PIXEL_MM) + 1, n_x], sitk.sitkFloat32)
    # output index axes: column -> +y (posterior), row -> -z (inferior), slab -> +x
    reference.SetDirection([0, 0, 1, 1, 0, 0, 0, -1, 0])
    reference.SetSpacing([PIXEL_MM, PIXEL_MM, 1.0])
    reference.SetOrigin([center[0] - (n_x - 1) / 2, y0, z1])
    slab = sitk.GetArrayFromImage(sitk.Resample(sitk_image(volume), reference, sitk.Transform(), sitk.sitkLinear, 0.0))
    image = slab.mean(axis=0)
    smooth = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(sitk.GetImageFromArray(image), 20.0))
    floor = 0.2 * float(np.percentile(image, 50)) + 1e-6
    normalised = image / (smooth + floor)
    normalised /= max(float(np.percentile(normalised, 99)), 1e-6)
    return MidSagittal(normalised.astype(np.float32), float(center[0]), float(z1), float(y0))


def _rotated(pixels: np.ndarray, degrees: float) -> np.ndarray:
    image = sitk.GetImageFromArray(pixels.astype(np.float32))
    center = image.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2 for s in image.GetSize()])
    transform = sitk.Euler2DTransform()
    transform.SetCenter(center)
    transform.SetAngle(np.radians(degrees))
    return sitk.GetArrayFromImage(sitk.Resample(image, image, transform, sitk.sitkLinear, 0.0))


def disc_score_maps(pixels: np.ndarray, tilts=TILTS_DEG) -> np.ndarray:
    """Disc score per tilt: array [len(tilts), rows, columns] (see the module docstring)."""
    order = sitk.RecursiveGaussianImageFilter
    maps = np.zeros((len(tilts), *pixels.shape), dtype=np.float32)
    for n, tilt in enumerate(tilts):
        turned = sitk.GetImageFromArray(_rotated(pixels, tilt))
        edges = sitk.RecursiveGaussian(turned, 1.5, False, order.FirstOrder, 1)  # across the endplate
        edges = sitk.GetArrayFromImage(sitk.RecursiveGaussian(edges, 8.0, False, order.ZeroOrder, 0))  # along it
        score = np.zeros_like(edges)
        for height in DISC_HEIGHTS_MM:
            upper = np.roll(edges, height // 2, axis=0)
            lower = np.roll(edges, -(height - height // 2), axis=0)
            score = np.maximum(score, np.where(upper * lower < 0, np.minimum(np.abs(upper), np.abs(lower)), 0.0))
        maps[n] = _rotated(score, -tilt)
    return maps


def disc_score(pixels: np.ndarray, tilts=TILTS_DEG) -> tuple[np.ndarray, np.ndarray]:
    """Best disc score over ``tilts`` per pixel, and the tilt (degrees) that gives it."""
    maps = disc_score_maps(pixels, tilts)
    best = maps.argmax(axis=0)
    return np.take_along_axis(maps, best[None], axis=0)[0], np.asarray(tilts, dtype=np.float32)[best]


def disc_candidates(pixels: np.ndarray, radius_px: int = 7, limit: int = 150) -> list[DiscCandidate]:
    """Local maxima of :func:`disc_score` (one per ``radius_px``), strongest first."""
    score, tilt = disc_score(pixels)
    dilated = sitk.GetArrayFromImage(sitk.GrayscaleDilate(sitk.GetImageFromArray(score), [radius_px] * 2, sitk.sitkBall))
    peaks = np.argwhere((score >= dilated - 1e-9) & (score > np.percentile(score, 90)))
    values = score[peaks[:, 0], peaks[:, 1]]
    order = np.argsort(-values)[:limit]
    return [DiscCandidate(float(r), float(c), float(tilt[r, c]), float(score[r, c])) for r, c in peaks[order]]


def disc_chain(
    candidates: list[DiscCandidate],
    spacing_mm: tuple[float, float] = (22.0, 52.0),
    max_axis_angle_deg: float = 25.0,
    max_tilt_change_deg: float = 25.0,
    max_turn_deg: float = 30.0,
) -> list[DiscCandidate]:
    """The best-scoring chain of discs, superior to inferior (dynamic programming over candidates)."""
    ordered = sorted(candidates, key=lambda c: c.row)
    n = len(ordered)
    if n == 0:
        return []
    points = np.array([[c.row, c.column] for c in ordered]) * PIXEL_MM
    normals = np.array([c.normal_rc() for c in ordered])
    total = np.array([c.score for c in ordered])
    previous = -np.ones(n, dtype=int)
    cos_axis, cos_turn = np.cos(np.radians(max_axis_angle_deg)), np.cos(np.radians(max_turn_deg))
    for b in range(n):
        for a in range(b):
            step = points[b] - points[a]
            distance = float(np.hypot(*step))
            if not spacing_mm[0] <= distance <= spacing_mm[1] or step[0] <= 0:
                continue
            direction = step / distance
            if abs(direction @ normals[a]) < cos_axis or abs(direction @ normals[b]) < cos_axis:
                continue
            if abs(ordered[a].tilt_deg - ordered[b].tilt_deg) > max_tilt_change_deg:
                continue
            if previous[a] >= 0:
                before = points[a] - points[previous[a]]
                length = float(np.hypot(*before))
                if direction @ before / length < cos_turn or not 0.7 < distance / length < 1.45:
                    continue
            if total[a] + ordered[b].score > total[b]:
                total[b] = total[a] + ordered[b].score
                previous[b] = a
    end = int(np.argmax(total))
    chain = []
    while end >= 0:
        chain.append(ordered[end])
        end = int(previous[end])
    return chain[::-1]


def find_disc_chain(volume: Volume) -> tuple[MidSagittal, list[DiscCandidate]]:
    """Mid-sagittal image and the chain of discs found in it (superior to inferior)."""
    image = midsagittal(volume)
    return image, disc_chain(disc_candidates(image.pixels))


def track_caudally(
    chain: list[DiscCandidate], maps: np.ndarray, tilts=STEEP_TILTS_DEG, max_steps: int = 8, stop_ratio: float = 0.15
) -> list[DiscCandidate]:
    """Follow the column below the last disc of ``chain``, one junction at a time, to where it ends.

    Each step looks for the best disc score in a window along the last disc's
    normal (0.65-1.3 times the last spacing, 12 mm either side), with a tilt
    no more than 40 degrees steeper or 15 degrees flatter than the last one:
    the lumbosacral junction and the sacral segments below it turn
    progressively, and their (often degenerated, thin) discs score weakly,
    too weakly for the chain's global search. Stops when the score falls
    under ``stop_ratio`` of the chain's median or the window leaves the image.
    """
    chain = list(chain)
    if len(chain) < 2:
        return chain
    tilts = np.asarray(tilts, dtype=float)
    floor = stop_ratio * float(np.median([c.score for c in chain]))
    rows, columns = maps.shape[1:]
    for _ in range(max_steps):
        last, before = chain[-1], chain[-2]
        spacing = float(np.hypot(last.row - before.row, last.column - before.column))
        normal = last.normal_rc()
        across = np.array([-normal[1], normal[0]])
        allowed = (tilts >= last.tilt_deg - 40) & (tilts <= last.tilt_deg + 15)
        along = np.arange(0.65 * spacing, 1.3 * spacing, 1.0)
        side = np.arange(-12.0, 12.5, 1.0)
        points = np.array([last.row, last.column]) + along[:, None, None] * normal + side[None, :, None] * across
        r = np.rint(points[..., 0]).astype(int).ravel()
        c = np.rint(points[..., 1]).astype(int).ravel()
        inside = (r >= 0) & (r < rows) & (c >= 0) & (c < columns)
        if not inside.any():
            break
        r, c = r[inside], c[inside]
        scores = np.where(allowed[:, None], maps[:, r, c], -1.0)
        k, m = np.unravel_index(int(np.argmax(scores)), scores.shape)
        if scores[k, m] < floor:
            break
        chain.append(DiscCandidate(float(r[m]), float(c[m]), float(tilts[k]), float(scores[k, m])))
    return chain


@dataclass(frozen=True)
class Level:
    """One labelled disc: name, centre and unit normal (pointing superior) in LPS mm, height in mm."""

    name: str
    center_lps: tuple[float, float, float]
    normal_lps: tuple[float, float, float]
    height_mm: float


#: a point farther than this from every disc and body centre is named by none
STRUCTURE_REACH_MM = 40.0


@dataclass
class LevelResult:
    """The labelled discs (inferior first) and how they were found.

    ``confidence``: "high" when the count from the sacrum passed every check of
    the method that made it, else "low" with ``confidence_reasons`` (the GUI and
    the CLI then ask the user to confirm or shift the labels before planning).
    The classical disc chain fills ``image``, ``chain`` and
    ``lumbosacral_index``; the spine model fills ``spine`` (its named parts)
    and ``body_centres``.
    """

    levels: list[Level]
    image: MidSagittal | None = None
    chain: list[DiscCandidate] = field(default_factory=list)
    lumbosacral_index: int = 0
    warnings: list[str] = field(default_factory=list)
    confidence: str = "low"
    confidence_reasons: list[str] = field(default_factory=list)
    body_centres: list[tuple[str, np.ndarray]] | None = None
    spine: object | None = None
    level_shift: int = 0

    def level(self, name: str) -> Level | None:
        return next((level for level in self.levels if level.name == name), None)

    def with_level(self, level: Level) -> "LevelResult":
        """A copy with the level of ``level.name`` replaced (e.g. by the segmentation's finer one)."""
        levels = [level if old.name == level.name else old for old in self.levels]
        return replace(self, levels=levels)

    def bodies(self) -> list[tuple[str, np.ndarray]]:
        """(name, centre LPS) of each vertebral body between the labelled discs, and of S1 below L5-S1.

        From the model's bodies when it found them; otherwise a body's centre is
        half way between its two discs and S1's is as far below L5-S1 as L5's is
        above it.
        """
        if self.body_centres is not None:
            return list(self.body_centres)
        found = []
        for lower, upper in zip(self.levels, self.levels[1:]):
            found.append((lower.name.split("-")[0], (np.asarray(lower.center_lps) + np.asarray(upper.center_lps)) / 2))
        first = self.levels[0]
        if first.name.endswith("-S1") and len(self.levels) > 1:
            centre = np.asarray(first.center_lps)
            l5_offset = (np.asarray(self.levels[1].center_lps) - centre) / 2
            found.insert(0, ("S1", centre - np.linalg.norm(l5_offset) * np.asarray(first.normal_lps)))
        return found

    def across_spine(self, plane_normal) -> bool:
        """Whether a plane with this normal cuts across the column (an axial plane, or one tilted onto the
        lowest labelled disc) rather than along it."""
        normal = np.asarray(plane_normal, float)
        return bool(self.levels) and max(abs(normal[2]), abs(float(normal @ np.asarray(self.levels[0].normal_lps)))) > 0.7

    def structure_at(self, point_lps, reach_mm: float = STRUCTURE_REACH_MM) -> str:
        """The disc ("L5-S1 disc") or body ("S1 body") at ``point_lps``, or "" when none is within ``reach_mm``:
        a disc when the point lies within half its height (at least 3 mm) of its mid-plane."""
        point = np.asarray(point_lps, float)
        for level in self.levels:
            centre = np.asarray(level.center_lps)
            depth = abs(float((point - centre) @ np.asarray(level.normal_lps)))
            if depth <= max(level.height_mm / 2, 3.0) and np.linalg.norm(point - centre) < reach_mm:
                return f"{level.name} disc"
        bodies = self.bodies()
        if not bodies:
            return ""
        name, centre = min(bodies, key=lambda body: float(np.linalg.norm(point - body[1])))
        return f"{name} body" if np.linalg.norm(point - centre) < reach_mm else ""


def _direction(a: DiscCandidate, b: DiscCandidate) -> float:
    return float(np.degrees(np.arctan2(b.column - a.column, b.row - a.row)))


def lumbosacral_scores(chain: list[DiscCandidate]) -> np.ndarray:
    """How much each junction of ``chain`` looks like the lumbosacral one (NaN where it cannot be judged).

    The column bends towards posterior ever more steeply down the lordosis,
    and at the lumbosacral junction the bend stops: the sacrum below runs on
    as one piece. The score is the turn into a junction (change of step
    direction plus the change of disc tilt: the wedge of the body above)
    minus the turn out of it. It needs two junctions above and one below.
    """
    scores = np.full(len(chain), np.nan)
    for k in range(2, len(chain) - 1):
        turn_in = _direction(chain[k - 1], chain[k]) - _direction(chain[k - 2], chain[k - 1])
        turn_in += chain[k - 1].tilt_deg - chain[k].tilt_deg
        turn_out = _direction(chain[k], chain[k + 1]) - _direction(chain[k - 1], chain[k])
        turn_out += chain[k].tilt_deg - chain[k + 1].tilt_deg
        scores[k] = turn_in - turn_out
    return scores


def _across_disc(image: MidSagittal, disc: DiscCandidate, half_length_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """(t, samples[t, s]): the image along the disc's normal (t mm, + inferior, 0.5 mm steps, to
    +-``half_length_mm``) on 13 lines 1 mm apart across its central 12 mm."""
    normal = disc.normal_rc()
    across = np.array([-normal[1], normal[0]])
    t = np.arange(-half_length_mm, half_length_mm + 0.01, 0.5)
    s = np.arange(-6.0, 6.1, 1.0)
    points = np.array([disc.row, disc.column]) + t[:, None, None] * normal + s[None, :, None] * across
    return t, sample_bilinear(image.pixels, points[..., 0], points[..., 1])


def _disc_height_mm(image: MidSagittal, disc: DiscCandidate) -> float:
    """Full width at half contrast of the disc along its normal, over its central 12 mm."""
    t, samples = _across_disc(image, disc, 16.0)
    profile = samples.mean(axis=1)
    base = float(np.median(np.r_[profile[:8], profile[-8:]]))
    centre = slice(len(t) // 2 - 6, len(t) // 2 + 7)
    k = centre.start + int(np.argmax(np.abs(profile[centre] - base)))
    deviation = (profile - base) * np.sign(profile[k] - base)
    half = abs(profile[k] - base) / 2
    lo = hi = k
    while lo > 0 and deviation[lo - 1] > half:
        lo -= 1
    while hi < len(t) - 1 and deviation[hi + 1] > half:
        hi += 1
    return float((hi - lo + 1) * 0.5)


def refine_disc(disc: DiscCandidate, maps: np.ndarray, tilts=STEEP_TILTS_DEG, radius_px: int = 4) -> DiscCandidate:
    """``disc`` moved to the best score within ``radius_px`` and within 12 degrees of its tilt, the tilt
    interpolated between the ``tilts`` of ``maps`` (the coarse search steps 5-10 degrees; the turn of
    the column at the lumbosacral junction is measured from these tilts)."""
    tilts = np.asarray(tilts, dtype=float)
    r0, c0 = int(round(disc.row)), int(round(disc.column))
    rows = slice(max(0, r0 - radius_px), r0 + radius_px + 1)
    columns = slice(max(0, c0 - radius_px), c0 + radius_px + 1)
    window = np.where((np.abs(tilts - disc.tilt_deg) <= 12.0)[:, None, None], maps[:, rows, columns], -1.0)
    k, r, c = np.unravel_index(int(np.argmax(window)), window.shape)
    tilt = float(tilts[k])
    if 0 < k < len(tilts) - 1:  # parabola through the scores at the neighbouring tilts
        before, best, after = window[k - 1, r, c], window[k, r, c], window[k + 1, r, c]
        curvature = before - 2 * best + after
        if before >= 0 and after >= 0 and curvature < 0:
            tilt += 0.5 * (before - after) / curvature * (tilts[k + 1] - tilts[k])
    return DiscCandidate(float(rows.start + r), float(columns.start + c), tilt, float(window[k, r, c]))


def _endplate_gap_mm(image: MidSagittal, disc: DiscCandidate) -> float:
    """Height of the space between the marrow of the bodies above and below ``disc``, central 12 mm.

    Along the normal, outwards from the centre, to where the signal is back
    within 20 % of the body's own (11-17 mm away) for 1.5 mm: the disc and both
    endplates, whatever the disc's signal. A fused sacral junction is a few mm.
    """
    t, samples = _across_disc(image, disc, 18.0)
    profile = np.median(samples, axis=1)
    centre = len(t) // 2
    gap = 0.0
    for sign in (-1, 1):
        body = float(np.median(profile[(sign * t >= 11.0) & (sign * t <= 17.0)]))
        k, run = centre, 0
        while abs(t[k + sign]) < 11.0:
            k += sign
            run = run + 1 if abs(profile[k] - body) <= 0.2 * abs(body) else 0
            if run == 3:
                k -= 2 * sign
                break
        gap += abs(t[k])
    return gap


def _disc_like(image: MidSagittal, junction: DiscCandidate, lumbosacral: DiscCandidate) -> bool:
    """Whether the junction below the lumbosacral disc looks like a disc rather than a fused remnant.

    Either its signal band scores like the disc above and is as high, or the
    space between the marrow above and below it is a disc space (at least 8 mm
    and 60 % of the lumbosacral one), where a fused S1-S2 junction is a few mm.
    """
    if junction.score >= lumbosacral.score and _disc_height_mm(image, junction) >= max(
        6.0, 0.8 * _disc_height_mm(image, lumbosacral)
    ):
        return True
    return _endplate_gap_mm(image, junction) >= max(8.0, 0.6 * _endplate_gap_mm(image, lumbosacral))


def find_levels(volume: Volume, level_shift: int = 0) -> LevelResult:
    """Find and label the lumbar discs of a sagittal series, counting up from the sacrum.

    ``level_shift`` moves every label by that many levels (+1: what was
    called L5-S1 becomes L4-L5), for the user who counts differently
    (transitional anatomy). Raises :class:`LevelError` when there is no
    column of discs or no sacrum to count from.
    """
    image = midsagittal(volume)
    maps = disc_score_maps(image.pixels, STEEP_TILTS_DEG)
    chain = disc_chain(disc_candidates(image.pixels))
    if len(chain) < 2:
        raise LevelError("no column of intervertebral discs found in the mid-sagittal plane of the sagittal series")
    full = [refine_disc(disc, maps) for disc in track_caudally(chain, maps)]
    scores = lumbosacral_scores(full)
    # The sacral slope tilts the lumbosacral disc further towards posterior-inferior than the
    # discs of the lordosis above; and the junction needs the sacrum below it: two more
    # junctions when the column shows them.
    tilts = np.array([disc.tilt_deg for disc in full])
    # (against the median of the discs above each junction: the chain's own may run on into the sacrum)
    above = np.array([np.median(tilts[:k]) if k else np.inf for k in range(len(full))])
    steep = tilts <= above - 20.0
    eligible = np.isfinite(scores) & steep & (np.arange(len(full)) <= len(full) - 3) & (scores > 0)
    warnings: list[str] = []
    if not eligible.any():
        eligible = np.isfinite(scores) & steep & (scores > 0)
        if eligible.any():
            warnings.append("The sacrum is only partly in the field of view: the level count is doubtful.")
    if not eligible.any():
        raise LevelError(
            "the sacrum was not found below the lumbar discs (the column does not turn into a sacrum "
            "in the field of view), so the levels cannot be counted from S1"
        )
    ranked = np.argsort(np.where(eligible, scores, -np.inf))[::-1]
    index = int(ranked[0])
    close = [int(k) for k in ranked if eligible[k] and scores[k] > RIVAL_SHARE * scores[index]]
    if len(close) > 1:
        # the turn alone cannot tell: the lumbosacral disc is the last mobile one, a full disc space
        # between the L5 and S1 endplates, where the sacral junctions below are thin fused remnants
        gaps = {k: _endplate_gap_mm(image, full[k]) for k in close}
        widest = max(close, key=gaps.get)
        if gaps[widest] > 1.5 * gaps[index]:
            index = widest
        # settled when one is a disc space and every other at most half as high (fused junctions)
        settled = index == widest and gaps[index] >= 8.0 and all(gaps[k] <= 0.5 * gaps[index] for k in close if k != index)
        if not settled:
            apart = min((k for k in close if k != index), key=lambda k: abs(k - index)) - index
            where = {-1: "one level above", 1: "one level below"}.get(
                apart, f"{abs(apart)} levels {'above' if apart < 0 else 'below'}"
            )
            warnings.append(
                f"Counting is doubtful: the junction {where} also looks lumbosacral (transitional anatomy?); "
                "confirm or shift the labels."
            )
    if index + 1 < len(full) and _disc_like(image, full[index + 1], full[index]):
        warnings.append(
            "The S1-S2 junction looks disc-like (a possible lumbarised S1: six lumbar-type bodies, the lowest "
            "squared, with a disc below it): confirm the level count on a whole-spine localiser."
        )
    lumbosacral = index + level_shift
    if not 0 <= lumbosacral < len(full):
        raise LevelError(f"a level shift of {level_shift} moves L5-S1 outside the discs found")
    if level_shift:
        warnings.append(f"Levels shifted by {level_shift:+d} by the user.")
    reasons = [
        "Levels were counted by the classical disc chain, which has not been validated on other scanners' "
        "images: confirm or shift the labels."
    ]
    levels = _named(image, full, lumbosacral)
    return LevelResult(levels, image, full, lumbosacral, warnings, "low", reasons, level_shift=level_shift)


def _named(image: MidSagittal, chain: list[DiscCandidate], lumbosacral: int) -> list[Level]:
    """The discs of ``chain`` named upwards from ``chain[lumbosacral]``, the L5-S1 disc."""
    levels = []
    for n, name in enumerate(LUMBAR_NAMES):
        k = lumbosacral - n
        if k < 0:
            break
        disc = chain[k]
        normal_rc = -disc.normal_rc()  # superior
        normal = np.array([0.0, normal_rc[1], -normal_rc[0]])
        center = image.to_lps(disc.row, disc.column)
        levels.append(
            Level(name, tuple(float(v) for v in center), tuple(float(v) for v in normal), _disc_height_mm(image, disc))
        )
    return levels


#: a disc of the chain within this distance of the user's mark is the disc marked (mm)
MARK_REACH_MM = 10.0
#: the height given to a marked disc that the chain did not find, until the segmentation measures it (mm)
MARKED_HEIGHT_MM = 10.0


def marked_by_hand(mark_lps) -> str:
    """The confidence reason of levels named from the user's mark (the one sentence every segmenter gives)."""
    where = ", ".join(f"{v:.0f}" for v in mark_lps)
    return f"L5-S1 was marked by hand at ({where}) mm: the levels were not counted by the software; confirm the level."


def levels_at_mark(volume: Volume, mark_lps, level_shift: int = 0) -> LevelResult:
    """The levels with L5-S1 where the user marked it (a point inside that disc, LPS mm), for a series on which
    the levels could not be counted, or were counted wrong. Never counted with confidence: the count is the user's,
    to be confirmed before any plan.

    The disc of the classical chain nearest the mark (within ``MARK_REACH_MM``, in a slab through the mark) gives
    the plane and the names upwards from it; with none there, L5-S1 alone, at the mark, in the plane of the
    disc-like band nearest it (else across the series' superior axis; the segmentation then finds the plane).
    ``level_shift`` moves the names along the chain as Higher / Lower do after a count. Raises
    :class:`LevelError` when the mark lies outside the series or a shift leaves the discs found."""
    mark = np.asarray(mark_lps, float)
    if mark.shape != (3,) or not np.isfinite(mark).all():
        raise LevelError(f"the marked L5-S1 point {mark_lps!r} is not three coordinates in millimetres")
    if not contains(volume, mark):
        raise LevelError(
            f"the marked L5-S1 point ({', '.join(f'{v:.1f}' for v in mark)}) mm lies outside the series "
            f"{volume.description or ''}".rstrip()
        )
    reasons = [marked_by_hand(mark)]
    warnings = [f"Levels shifted by {level_shift:+d} by the user."] if level_shift else []
    image = midsagittal(volume, x_mm=float(mark[0]))
    maps = disc_score_maps(image.pixels, STEEP_TILTS_DEG)
    candidates = disc_candidates(image.pixels)
    chain = disc_chain(candidates)
    chain = [refine_disc(disc, maps) for disc in track_caudally(chain, maps)] if chain else []

    def near(discs: list[DiscCandidate]) -> list[DiscCandidate]:
        return [d for d in discs if np.linalg.norm(image.to_lps(d.row, d.column)[1:] - mark[1:]) <= MARK_REACH_MM]

    if near(chain):
        nearest = min(near(chain), key=lambda d: np.linalg.norm(image.to_lps(d.row, d.column)[1:] - mark[1:]))
        marked = chain.index(nearest) + level_shift
        if not 0 <= marked < len(chain):
            raise LevelError(f"a level shift of {level_shift} moves L5-S1 outside the discs found around the mark")
        levels = _named(image, chain, marked)
        if not level_shift:  # the chain's disc plane and height, at the point the user marked
            levels[0] = replace(levels[0], center_lps=tuple(float(v) for v in mark))
        return LevelResult(levels, image, chain, marked, warnings, "low", reasons, level_shift=level_shift)
    if level_shift:
        raise LevelError("no column of discs was found around the marked point, so the levels cannot be shifted: "
                         "mark the L5-S1 disc instead")
    level = Level("L5-S1", tuple(float(v) for v in mark), (0.0, 0.0, 1.0), MARKED_HEIGHT_MM)
    if near(candidates):
        (banded,) = _named(image, [refine_disc(max(near(candidates), key=lambda d: d.score), maps)], 0)
        level = replace(level, normal_lps=banded.normal_lps, height_mm=banded.height_mm)
    return LevelResult([level], image, [], 0, warnings, "low", reasons)
