"""Synthetic B-mode cines of a calf or thigh muscle, with known fasciculations.

The speckle belongs to the tissue: one scatterer field is made per cine and every
frame samples it through the tissue's displacement at that moment, so speckle
moves with the muscle instead of being redrawn (as a real probe sees it, apart
from a little electronic noise and decorrelation added per frame). Motions, each
optional and recorded in the scenario:

* fasciculations: a local displacement (Gaussian in space, sin² in time) of a
  given peak size, duration, site and radius;
* probe drift (a slow random walk), hand tremor (8–11 Hz), a probe slip (a
  lateral jump of a few millimetres within 0.1 s);
* a pulsating artery (radial wall motion at the heart rate, decaying outward);
* a voluntary contraction (the muscle shortens and thickens over about a second,
  holds and relaxes).

``frames(scenario)`` yields uint8 frames lazily: a 60 s cine at 30 frames/s is
never in memory at once. The scenario is the ground truth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

try:  # OpenCV is a dependency of the app; keep the import error readable
    import cv2
except ImportError as exc:  # pragma: no cover
    raise ImportError("opencv-python-headless is required for the ultrasound cines") from exc


@dataclass(frozen=True)
class Twitch:
    """One fasciculation: peak at ``time_s``, lasting ``duration_s`` in all."""

    time_s: float
    duration_s: float
    x_mm: float  # lateral, from the region's left edge
    depth_mm: float  # from the transducer face
    displacement_mm: float  # peak displacement at the centre
    radius_mm: float = 3.0  # Gaussian sigma of the displaced patch
    angle_deg: float = 90.0  # direction of the displacement; 90 = deeper

    @property
    def start_s(self) -> float:
        return self.time_s - self.duration_s / 2


@dataclass(frozen=True)
class Artery:
    x_mm: float
    depth_mm: float
    radius_mm: float = 2.0
    pulse_mm: float = 0.3  # wall excursion at systole
    rate_hz: float = 1.15


@dataclass(frozen=True)
class Contraction:
    start_s: float
    ramp_s: float = 1.0
    hold_s: float = 2.0
    strain: float = 0.04  # lateral shortening at full contraction


@dataclass(frozen=True)
class Slip:
    time_s: float
    shift_mm: float = 4.0


@dataclass
class Geometry:
    rows: int = 480
    columns: int = 640
    region: tuple[int, int, int, int] = (40, 30, 599, 469)  # x0, y0, x1, y1 inclusive
    delta_mm: float = 0.08

    @property
    def width_mm(self) -> float:
        return (self.region[2] - self.region[0] + 1) * self.delta_mm

    @property
    def depth_mm(self) -> float:
        return (self.region[3] - self.region[1] + 1) * self.delta_mm


@dataclass
class Scenario:
    """Everything that happens in one cine; the ground truth of a phantom."""

    duration_s: float = 60.0
    frame_rate_hz: float = 30.0
    geometry: Geometry = field(default_factory=Geometry)
    twitches: list[Twitch] = field(default_factory=list)
    drift_mm_per_s: float = 0.0
    tremor_mm: float = 0.0
    artery: Artery | None = None
    contraction: Contraction | None = None
    slip: Slip | None = None
    noise: float = 0.06
    pennation_deg: float = 20.0
    seed: int = 0
    #: where the muscle layer lies (depth from the face, mm)
    fascia_mm: float = 5.5
    aponeurosis_mm: float = 27.0
    #: the scanner: speckle size (lateral, axial Gaussian sigma of the point-spread function, mm),
    #: overall gain and log-compression-like gamma
    speckle_mm: tuple[float, float] = (0.25, 0.12)
    gain: float = 1.0
    gamma: float = 0.6

    @property
    def n_frames(self) -> int:
        return int(round(self.duration_s * self.frame_rate_hz))

    @property
    def frame_time_ms(self) -> float:
        return 1000.0 / self.frame_rate_hz


def random_twitches(
    rng: np.random.Generator,
    rate_per_min: float,
    duration_s: float,
    geometry: Geometry,
    fascia_mm: float = 5.5,
    aponeurosis_mm: float = 27.0,
    displacement_mm: tuple[float, float] = (0.15, 1.0),
    twitch_duration_s: tuple[float, float] = (0.1, 0.5),
) -> list[Twitch]:
    """Twitches at random times (at least 1.2 s apart), sites and sizes inside the muscle layer."""
    n = int(round(rate_per_min * duration_s / 60.0))
    times: list[float] = []
    attempts = 0
    while len(times) < n and attempts < 10000:
        attempts += 1
        t = float(rng.uniform(1.0, duration_s - 1.0))
        if all(abs(t - s) >= 1.2 for s in times):
            times.append(t)
    out = []
    for t in sorted(times):
        out.append(
            Twitch(
                time_s=t,
                duration_s=float(rng.uniform(*twitch_duration_s)),
                x_mm=float(rng.uniform(6.0, geometry.width_mm - 6.0)),
                depth_mm=float(rng.uniform(fascia_mm + 3.0, aponeurosis_mm - 3.0)),
                displacement_mm=float(rng.uniform(*displacement_mm)),
                radius_mm=float(rng.uniform(2.0, 4.5)),
                angle_deg=float(rng.uniform(45.0, 135.0)) * (1 if rng.random() < 0.5 else -1),
            )
        )
    return out


# ---------------------------------------------------------------- the tissue

_MARGIN_MM = 8.0  # tissue beyond each side of the region (drift, slip)


class _Tissue:
    """Echogenicity times speckle on a canvas in tissue millimetres, sampled per frame."""

    def __init__(self, scenario: Scenario) -> None:
        g = scenario.geometry
        self.scenario = scenario
        self.px_mm = g.delta_mm
        self.margin_px = int(math.ceil(_MARGIN_MM / g.delta_mm))
        h = (g.region[3] - g.region[1] + 1) + 2 * self.margin_px
        w = (g.region[2] - g.region[0] + 1) + 2 * self.margin_px
        rng = np.random.default_rng(scenario.seed)
        depth = (np.arange(h, dtype=np.float32)[:, None] - self.margin_px) * self.px_mm
        lateral = (np.arange(w, dtype=np.float32)[None, :] - self.margin_px) * self.px_mm
        depth = np.broadcast_to(depth, (h, w))
        lateral = np.broadcast_to(lateral, (h, w))
        echo = np.full((h, w), 0.35, dtype=np.float32)
        fa, ap = scenario.fascia_mm, scenario.aponeurosis_mm
        echo[depth < 0.5] = 1.4  # skin
        fat = (depth >= 0.5) & (depth < fa - 0.4)
        septa = (np.cos(2 * np.pi * (depth * 0.8 + 0.15 * lateral) / 3.1) > 0.93).astype(np.float32)
        echo[fat] = (0.22 + 0.5 * septa)[fat]
        echo[np.abs(depth - fa) < 0.4] = 1.5  # superficial fascia
        angle = math.radians(scenario.pennation_deg)
        phase = (lateral * math.sin(angle) + depth * math.cos(angle)) / 1.3
        fibres = 0.38 + 0.45 * (np.cos(2 * np.pi * phase) > 0.8)
        muscle = (depth >= fa + 0.4) & (depth < ap - 0.5)
        echo[muscle] = fibres[muscle]
        echo[np.abs(depth - ap) < 0.5] = 1.4  # deep aponeurosis
        deep = depth >= ap + 0.5
        phase2 = (lateral * math.sin(-angle) + depth * math.cos(angle)) / 1.5
        echo[deep] = (0.34 + 0.38 * (np.cos(2 * np.pi * phase2) > 0.8))[deep]
        if scenario.artery is not None:
            a = scenario.artery
            r = np.hypot(lateral - a.x_mm, depth - a.depth_mm)
            echo[r < a.radius_mm + 0.35] = 1.2
            echo[r < a.radius_mm] = 0.02
        echo = cv2.GaussianBlur(echo, (0, 0), 0.6 / self.px_mm)
        # speckle: a complex scatterer field through an anisotropic point-spread function
        re = rng.standard_normal((h, w)).astype(np.float32)
        im = rng.standard_normal((h, w)).astype(np.float32)
        sx, sy = scenario.speckle_mm[0] / self.px_mm, scenario.speckle_mm[1] / self.px_mm  # lateral PSF wider than axial
        re = cv2.GaussianBlur(re, (0, 0), sigmaX=sx, sigmaY=sy)
        im = cv2.GaussianBlur(im, (0, 0), sigmaX=sx, sigmaY=sy)
        speckle = np.hypot(re, im)
        speckle /= float(speckle.mean())
        self.canvas = (echo * speckle).astype(np.float32)
        self.attenuation = np.exp(-0.018 * np.maximum((np.arange(g.region[3] - g.region[1] + 1) * g.delta_mm), 0)).astype(np.float32)[:, None]
        rows, cols = g.region[3] - g.region[1] + 1, g.region[2] - g.region[0] + 1
        self.y_mm = (np.arange(rows, dtype=np.float32)[:, None] * g.delta_mm) * np.ones((1, cols), np.float32)
        self.x_mm = (np.arange(cols, dtype=np.float32)[None, :] * g.delta_mm) * np.ones((rows, 1), np.float32)


def _smooth_walk(rng: np.random.Generator, n: int, dt: float, speed_mm_s: float) -> np.ndarray:
    """A slow random walk of typical speed ``speed_mm_s`` (2 components, mm), smooth over ~2 s."""
    if speed_mm_s <= 0:
        return np.zeros((n, 2), np.float32)
    steps = rng.standard_normal((n, 2)) * speed_mm_s * dt
    walk = np.cumsum(steps, axis=0)
    k = max(1, min(n, int(2.0 / dt)))
    kernel = np.ones(k) / k
    out = np.stack([np.convolve(walk[:, i], kernel, mode="same") for i in range(2)], axis=1)
    # keep the probe within a few mm: a soft pull back to the start
    out -= np.linspace(0, 1, n)[:, None] * out[-1:]
    return np.clip(out, -_MARGIN_MM / 2, _MARGIN_MM / 2).astype(np.float32)


def frames(scenario: Scenario) -> Iterator[np.ndarray]:
    """Yield the cine's frames, (rows, columns) uint8, one at a time."""
    g = scenario.geometry
    tissue = _Tissue(scenario)
    rng = np.random.default_rng(scenario.seed + 1)
    n, dt = scenario.n_frames, 1.0 / scenario.frame_rate_hz
    walk = _smooth_walk(rng, n, dt, scenario.drift_mm_per_s)
    tremor_f = rng.uniform(8.0, 11.0, size=2)
    tremor_p = rng.uniform(0, 2 * np.pi, size=2)
    x0, y0, x1, y1 = g.region
    rows, cols = y1 - y0 + 1, x1 - x0 + 1
    m = tissue.margin_px
    for i in range(n):
        t = i * dt
        # where in the tissue (mm) each pixel of the region looks at time t
        ux = np.zeros((rows, cols), np.float32)
        uy = np.zeros((rows, cols), np.float32)
        gx, gy = float(walk[i, 0]), float(walk[i, 1])
        if scenario.tremor_mm > 0:
            gx += scenario.tremor_mm * math.sin(2 * np.pi * tremor_f[0] * t + tremor_p[0])
            gy += 0.5 * scenario.tremor_mm * math.sin(2 * np.pi * tremor_f[1] * t + tremor_p[1])
        if scenario.slip is not None:
            s = scenario.slip
            gx += s.shift_mm * float(np.clip((t - s.time_s) / 0.1, 0.0, 1.0))
        if scenario.contraction is not None:
            c = scenario.contraction
            level = _contraction_level(t, c)
            if level > 0:
                w = np.clip((tissue.y_mm - scenario.fascia_mm) / 4.0, 0, 1) * np.clip((scenario.aponeurosis_mm + 6 - tissue.y_mm) / 6.0, 0, 1)
                cx, cy = g.width_mm / 2, (scenario.fascia_mm + scenario.aponeurosis_mm) / 2
                ux -= c.strain * level * (tissue.x_mm - cx) * w
                uy += 0.5 * c.strain * level * (tissue.y_mm - cy) * w
        if scenario.artery is not None:
            a = scenario.artery
            phase = (t * a.rate_hz) % 1.0
            pulse = a.pulse_mm * (math.sin(np.pi * phase / 0.35) ** 2 if phase < 0.35 else 0.0)
            if pulse > 0:
                dx, dy = tissue.x_mm - a.x_mm, tissue.y_mm - a.depth_mm
                r = np.maximum(np.hypot(dx, dy), 1e-3)
                mag = pulse * np.minimum(1.0, a.radius_mm / r) ** 2 * np.clip(r / a.radius_mm, 0, 1)
                ux += mag * dx / r
                uy += mag * dy / r
        for tw in scenario.twitches:
            if tw.start_s <= t <= tw.start_s + tw.duration_s:
                amp = tw.displacement_mm * math.sin(np.pi * (t - tw.start_s) / tw.duration_s) ** 2
                _add_bump(ux, uy, tissue, tw, amp)
        # a pixel shows the tissue that moved there: sample at (pixel - displacement)
        map_x = (tissue.x_mm - ux + gx) / g.delta_mm + m
        map_y = (tissue.y_mm - uy + gy) / g.delta_mm + m
        sample = cv2.remap(tissue.canvas, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        sample *= tissue.attenuation
        if scenario.noise > 0:
            sample *= 1.0 + scenario.noise * rng.standard_normal(sample.shape).astype(np.float32)
            sample += 0.02 * np.abs(rng.standard_normal(sample.shape)).astype(np.float32)
        image = 255.0 * np.power(np.clip(scenario.gain * sample / 2.2, 0, 1), scenario.gamma)
        frame = np.zeros((g.rows, g.columns), np.uint8)
        frame[y0 : y1 + 1, x0 : x1 + 1] = np.clip(image, 0, 255).astype(np.uint8)
        yield frame


def _contraction_level(t: float, c: Contraction) -> float:
    u = t - c.start_s
    if u <= 0 or u >= 2 * c.ramp_s + c.hold_s:
        return 0.0
    if u < c.ramp_s:
        return 0.5 - 0.5 * math.cos(math.pi * u / c.ramp_s)
    if u < c.ramp_s + c.hold_s:
        return 1.0
    v = u - c.ramp_s - c.hold_s
    return 0.5 + 0.5 * math.cos(math.pi * v / c.ramp_s)


def _add_bump(ux: np.ndarray, uy: np.ndarray, tissue: _Tissue, tw: Twitch, amp: float) -> None:
    d = tissue.px_mm
    half = int(math.ceil(3.5 * tw.radius_mm / d))
    cx, cy = int(round(tw.x_mm / d)), int(round(tw.depth_mm / d))
    ys, ye = max(0, cy - half), min(ux.shape[0], cy + half + 1)
    xs, xe = max(0, cx - half), min(ux.shape[1], cx + half + 1)
    if ys >= ye or xs >= xe:
        return
    gx = tissue.x_mm[ys:ye, xs:xe] - tw.x_mm
    gy = tissue.y_mm[ys:ye, xs:xe] - tw.depth_mm
    bump = amp * np.exp(-(gx * gx + gy * gy) / (2 * tw.radius_mm**2))
    a = math.radians(tw.angle_deg)
    ux[ys:ye, xs:xe] += bump * math.cos(a)
    uy[ys:ye, xs:xe] += bump * math.sin(a)


def scenario_truth(scenario: Scenario) -> dict:
    """The ground truth as JSON-able data (times in s, positions in mm from the region's top left)."""
    return {
        "duration_s": scenario.duration_s,
        "frame_rate_hz": scenario.frame_rate_hz,
        "twitches": [
            {"time_s": t.time_s, "duration_s": t.duration_s, "x_mm": t.x_mm, "depth_mm": t.depth_mm, "displacement_mm": t.displacement_mm}
            for t in scenario.twitches
        ],
        "artery": None if scenario.artery is None else vars(scenario.artery),
        "contraction": None if scenario.contraction is None else vars(scenario.contraction),
        "slip": None if scenario.slip is None else vars(scenario.slip),
        "drift_mm_per_s": scenario.drift_mm_per_s,
        "tremor_mm": scenario.tremor_mm,
    }
