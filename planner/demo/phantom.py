"""A synthetic lumbosacral spine defined continuously in patient LPS (mm).

The phantom is a function of world points, so every series (sagittal, oblique
axial) samples the same anatomy in one frame of reference, and ground-truth
masks come from the same shapes as the image. Anatomy (sizes after adult
averages): L1-L5 vertebral bodies 27 mm high, 45 x 34 mm across, discs 9-11 mm
(L5-S1 the most wedge-shaped), lordosis of about 45 degrees, sacral slope 40
degrees, a CSF-filled thecal sac behind the bodies, posterior elements,
paraspinal muscle and subcutaneous fat, the sacral alae and dorsal sacral plate
with its S1 foramina, and both iliac bones whose crests rise to the L4-L5 disc
(``high_crests``: to mid-L4, the case that blocks a posterolateral L5-S1
approach). T2 contrast: CSF and disc nucleus
bright, annulus dark, marrow intermediate, cortical endplates dark.

Origin: the centre of the S1 superior endplate is at (0, 0, 0); +z superior.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LEVELS = ("L5", "L4", "L3", "L2", "L1")
#: Body axis tilt from +z towards anterior (-y), degrees, from L5 upwards: lordosis.
TILT_DEG = {"S1": 40.0, "L5": 35.0, "L4": 12.0, "L3": 2.0, "L2": -6.0, "L1": -12.0}
BODY_HEIGHT_MM = {"L5": 26.0, "L4": 27.0, "L3": 27.0, "L2": 26.0, "L1": 25.0}
DISC_HEIGHT_MM = {"L5-S1": 10.0, "L4-L5": 11.0, "L3-L4": 10.0, "L2-L3": 9.0, "L1-L2": 8.5}
#: Sacral segments: height along their axis (mm), axis tilt (degrees, as TILT_DEG) and cross-section scale.
SACRUM = {
    "S1": (27.0, 40.0, 1.0),
    "S2": (22.0, 36.0, 0.85),
    "S3": (18.0, 28.0, 0.7),
    "S4": (14.0, 18.0, 0.55),
    "S5": (11.0, 6.0, 0.45),
}
SACRAL_REMNANT_MM = 2.0
#: a sequestered fragment's gap below the disc (no continuity with it)
SEQUESTER_GAP_MM = 3.0
LUMBARISED_DISC_MM = 8.0
BODY_HALF_WIDTH_MM = 23.0  # lateral (x)
BODY_HALF_DEPTH_MM = 17.0  # antero-posterior

T2 = {
    "background": 0.0,
    "soft": 0.22,
    "muscle": 0.28,
    "fat": 0.82,
    "marrow": 0.52,
    "cortex": 0.08,
    "nucleus": 0.80,
    "annulus": 0.30,
    "csf": 0.95,
    "root": 0.35,
    "posterior_bone": 0.45,
}
#: S1 dorsal foramen: lateral offset from the midline (mm), as in adults (15-20 mm).
S1_FORAMEN_LATERAL_MM = 16.0
#: Iliac crest height (z, mm above the S1 endplate centre): normal at the L4-L5 disc, high at mid-L4.
CREST_Z_MM = {False: 34.0, True: 62.0}


@dataclass(frozen=True)
class Anatomy:
    """One patient's proportions and one scanner's T2 contrast; the defaults are the demo patient's.

    ``nucleus_mix``: 0 a hydrated nucleus (bright), 1 a degenerated one (as dark as the annulus), per disc;
    discs not named are hydrated.
    """

    body_height_mm: dict = field(default_factory=lambda: dict(BODY_HEIGHT_MM))
    disc_height_mm: dict = field(default_factory=lambda: dict(DISC_HEIGHT_MM))
    tilt_deg: dict = field(default_factory=lambda: dict(TILT_DEG))
    sacrum: dict = field(default_factory=lambda: dict(SACRUM))
    body_half_width_mm: float = BODY_HALF_WIDTH_MM
    body_half_depth_mm: float = BODY_HALF_DEPTH_MM
    t2: dict = field(default_factory=lambda: dict(T2))
    nucleus_mix: dict = field(default_factory=dict)

    @classmethod
    def random(cls, rng: np.random.Generator) -> "Anatomy":
        """Adult proportions and T2 contrasts drawn over realistic ranges (one subject, one scanner).

        Bodies 22-31 mm high and 40-54 x 28-40 mm across; discs 5-14 mm (L5-S1 4-13 mm, thinner
        when degenerated); lordosis 0.6-1.4 times the average with the sacral slope 28-52 degrees; each
        tissue's signal varied independently (marrow from fatty-bright to dark), with the ordering T2
        keeps: CSF and fat bright, cortex darkest.
        """
        mean_body = rng.uniform(23.0, 30.0)
        bodies = {level: float(np.clip(mean_body + rng.normal(0, 1.0), 22.0, 31.0)) for level in LEVELS}
        discs = {name: float(rng.uniform(6.0, 13.0)) for name in DISC_HEIGHT_MM}
        degeneration = {name: float(rng.uniform(0.0, 1.0)) if rng.random() < 0.4 else 0.0 for name in DISC_HEIGHT_MM}
        discs["L5-S1"] = float(rng.uniform(4.0, 7.0) if degeneration["L5-S1"] > 0.5 else rng.uniform(6.0, 13.0))
        lordosis = rng.uniform(0.6, 1.4)
        slope = rng.uniform(28.0, 52.0)
        tilts = {"S1": slope}
        for level in LEVELS:
            tilts[level] = float(TILT_DEG[level] * lordosis + (slope - 40.0) * (0.8 if level == "L5" else 0.3))
        scale_sacrum = rng.uniform(0.85, 1.15)
        sacrum = {}
        for name, (height, tilt, scale) in SACRUM.items():
            sacrum[name] = (height * scale_sacrum, tilt + (slope - 40.0), scale)
        t2 = {
            "background": 0.0,
            "soft": rng.uniform(0.12, 0.3),
            "muscle": rng.uniform(0.18, 0.35),
            "fat": rng.uniform(0.6, 0.95),
            "marrow": rng.uniform(0.3, 0.7),
            "cortex": rng.uniform(0.02, 0.12),
            "nucleus": rng.uniform(0.6, 0.98),
            "annulus": rng.uniform(0.18, 0.35),
            "csf": rng.uniform(0.85, 1.0),
            "root": rng.uniform(0.28, 0.42),
            "posterior_bone": rng.uniform(0.3, 0.6),
        }
        return cls(
            bodies,
            discs,
            tilts,
            sacrum,
            float(rng.uniform(20.0, 27.0)),
            float(rng.uniform(14.0, 20.0)),
            t2,
            degeneration,
        )


@dataclass(frozen=True)
class Finding:
    """The L5-S1 disc finding built into the phantom (Fardon 2014 classes).

    ``classification``: normal | bulge | protrusion | extrusion | sequestration.
    ``side``: left | right | central (LPS +x is the patient's left).
    ``size_mm``: how far displaced material extends beyond the disc margin.
    ``base_width_mm``: width of the herniation where it leaves the disc (a sequestered fragment's width).
    ``migration_mm``: extrusions: caudal extension below the disc; sequestration: how far below the disc
    the free fragment reaches (it starts ``SEQUESTER_GAP_MM`` below it, behind the S1 body).
    """

    classification: str = "protrusion"
    side: str = "left"
    size_mm: float = 5.0
    base_width_mm: float = 14.0
    migration_mm: float = 0.0

    def __post_init__(self) -> None:
        if self.classification not in ("normal", "bulge", "protrusion", "extrusion", "sequestration"):
            raise ValueError(f"unknown finding class {self.classification!r}")
        if self.side not in ("left", "right", "central"):
            raise ValueError(f"unknown side {self.side!r}")
        if not 0 <= self.size_mm <= 15:
            raise ValueError(f"size_mm {self.size_mm} outside 0..15 mm")

    @property
    def lateral_offset_mm(self) -> float:
        return {"left": 9.0, "right": -9.0, "central": 0.0}[self.side]


@dataclass(frozen=True)
class Segment:
    """A body or disc: centre, unit axis (inferior -> superior) and unit posterior direction."""

    name: str
    centre: np.ndarray
    axis: np.ndarray
    posterior: np.ndarray
    half_height: float
    scale: float = 1.0  # cross-section relative to a lumbar body


@dataclass
class SpinePhantom:
    finding: Finding = field(default_factory=Finding)
    dark_disc: bool = False
    high_crests: bool = False
    #: the patient's rotation in the scanner, degrees about L-R (flexion), A-P (lateral tilt) and S-I
    #: (axial rotation), in that order, about the L5-S1 disc centre
    rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    #: transitional anatomy: S1 not fused to S2 but joined by a full disc (``LUMBARISED_DISC_MM`` high)
    lumbarised_s1: bool = False
    anatomy: Anatomy = field(default_factory=Anatomy)

    def __post_init__(self) -> None:
        self.rotation = _rotation(self.rotation_deg)
        self.bodies: dict[str, Segment] = {}
        self.discs: dict[str, Segment] = {}
        top = np.zeros(3)
        below = "S1"
        for level in LEVELS:
            tilt = np.radians(self.anatomy.tilt_deg[level])
            axis = np.array([0.0, -np.sin(tilt), np.cos(tilt)])
            posterior = np.array([0.0, np.cos(tilt), np.sin(tilt)])
            disc_name = f"{level}-{below}"
            disc_h = self.anatomy.disc_height_mm[disc_name]
            self.discs[disc_name] = Segment(disc_name, top + axis * disc_h / 2, axis, posterior, disc_h / 2)
            body_h = self.anatomy.body_height_mm[level]
            self.bodies[level] = Segment(level, top + axis * (disc_h + body_h / 2), axis, posterior, body_h / 2)
            top = top + axis * (disc_h + body_h)
            below = level
        # The sacrum: five fused segments, ever smaller, curving posteriorly (sacral kyphosis),
        # joined by thin dark remnants of discs; S1's superior endplate is the origin.
        # A lumbarised S1 is joined to S2 by a disc instead.
        top = np.zeros(3)
        for name, (height, tilt_deg, scale) in self.anatomy.sacrum.items():
            tilt = np.radians(tilt_deg)
            axis = np.array([0.0, -np.sin(tilt), np.cos(tilt)])
            posterior = np.array([0.0, np.cos(tilt), np.sin(tilt)])
            self.bodies[name] = Segment(name, top - axis * height / 2, axis, posterior, height / 2, scale)
            gap = LUMBARISED_DISC_MM if name == "S1" and self.lumbarised_s1 else SACRAL_REMNANT_MM
            if gap != SACRAL_REMNANT_MM:
                self.discs["S1-S2"] = Segment("S1-S2", top - axis * (height + gap / 2), axis, posterior, gap / 2)
            top = top - axis * (height + gap) + posterior * (1.0 - scale) * 4.0

    # ---------------------------------------------------------------- geometry

    @property
    def l5s1(self) -> Segment:
        return self.discs["L5-S1"]

    def to_patient(self, point) -> np.ndarray:
        """A point of the phantom's own (upright) frame in the patient LPS frame of the images."""
        pivot = self.l5s1.centre
        return pivot + self.rotation @ (np.asarray(point, float) - pivot)

    def to_phantom(self, points_lps: np.ndarray) -> np.ndarray:
        """Patient LPS points (..., 3) in the phantom's own upright frame (the inverse of :meth:`to_patient`)."""
        if self.rotation_deg == (0.0, 0.0, 0.0):
            return points_lps
        pivot = self.l5s1.centre.astype(points_lps.dtype)
        return pivot + (points_lps - pivot) @ self.rotation.astype(points_lps.dtype)

    def direction_to_patient(self, vector) -> np.ndarray:
        return self.rotation @ np.asarray(vector, float)

    def s1_foramen_lps(self, side: str) -> np.ndarray:
        """Centre of the S1 foramen (posterior, where the S1 root exits), LPS mm."""
        return self.to_patient(self._s1_foramen(side))

    def _s1_foramen(self, side: str) -> np.ndarray:
        s1 = self.bodies["S1"]
        sign = 1.0 if side == "left" else -1.0
        return s1.centre + s1.posterior * (self.anatomy.body_half_depth_mm + 14.0) + np.array([sign * S1_FORAMEN_LATERAL_MM, 0, 0]) - s1.axis * 4.5

    def _sacral_bone(self, points: np.ndarray) -> np.ndarray:
        """The alae lateral to S1-S2 and the dorsal sacral plate, holed at the S1 dorsal foramina."""
        bone = np.zeros(points.shape[:-1], dtype=bool)
        for name in ("S1", "S2"):
            body = self.bodies[name]
            x, w, a = self._local(points, body)
            half_w = self.anatomy.body_half_width_mm * body.scale
            ala = (np.abs(x) >= half_w + 3.0) & (np.abs(x) <= half_w + 22.0) & (w > -8.0) & (w < 26.0)
            bone |= ala & (a <= body.half_height - 6.0) & (a >= -body.half_height)
        s1 = self.bodies["S1"]
        for name in ("S1", "S2", "S3"):
            body = self.bodies[name]
            x, w, a = self._local(points, body)
            plate = (np.abs(x) < 40.0 * body.scale) & (w > 35.0) & (w < 41.0)
            bone |= plate & (np.abs(a) <= body.half_height)
        for side in ("left", "right"):  # the S1 dorsal foramen: a 9 mm hole through the plate
            foramen = self._s1_foramen(side)
            d = points - foramen
            across = d - (d @ s1.posterior)[..., None] * s1.posterior
            bone &= ~((np.linalg.norm(across, axis=-1) <= 4.5) & (d @ s1.posterior > -2.0))
        return bone

    def _iliac_bones(self, points: np.ndarray) -> np.ndarray:
        """Both iliac wings: 10 mm plates from the sacroiliac joints sweeping laterally and
        anteriorly, the crest highest laterally and sloping down to the posterior superior spine."""
        x, y, z = points[..., 0], points[..., 1], points[..., 2]
        crest_z = CREST_Z_MM[self.high_crests]
        bone = np.zeros(points.shape[:-1], dtype=bool)
        for sign in (1.0, -1.0):
            start, end = np.array([sign * 38.0, 62.0]), np.array([sign * 112.0, -25.0])  # PSIS to the wing
            along = end - start
            length = np.linalg.norm(along)
            t = ((x - start[0]) * along[0] + (y - start[1]) * along[1]) / length**2
            tc = np.clip(t, 0.0, 1.0)
            distance = np.hypot(x - (start[0] + tc * along[0]), y - (start[1] + tc * along[1]))
            top = -30.0 + (crest_z + 30.0) * np.clip(tc / 0.15, 0.0, 1.0)  # steep from the PSIS
            bone |= (distance <= 5.0) & (t >= 0.0) & (t <= 1.0) & (z <= top) & (z >= -75.0)
        return bone

    def _local(self, points: np.ndarray, segment: Segment) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        d = points - segment.centre
        return d[..., 0], d @ segment.posterior, d @ segment.axis

    def _body(self, points, segment: Segment, scale: float = 1.0):
        x, w, a = self._local(points, segment)
        half_w, half_d = self.anatomy.body_half_width_mm * scale, self.anatomy.body_half_depth_mm * scale
        # kidney-shaped cross-section: the posterior wall is flattened
        ellipse = (x / half_w) ** 2 + (w / half_d) ** 2
        flat = w < half_d * 0.82
        inside = (ellipse <= 1.0) & flat & (np.abs(a) <= segment.half_height)
        cortex = inside & ((ellipse > 0.86) | (np.abs(a) > segment.half_height - 1.5) | (w > half_d * 0.74))
        return inside, cortex

    def disc_mask(self, points: np.ndarray, name: str = "L5-S1") -> tuple[np.ndarray, np.ndarray]:
        """(whole disc including displaced material, nucleus) at ``points``."""
        disc = self.discs[name]
        x, w, a = self._local(points, disc)
        # the disc bulges a little between endplates, like the real annulus
        height_profile = disc.half_height * (1.0 - 0.15 * ((x / self.anatomy.body_half_width_mm) ** 2))
        ellipse = (x / self.anatomy.body_half_width_mm) ** 2 + (w / self.anatomy.body_half_depth_mm) ** 2
        inside = (ellipse <= 1.0) & (w < self.anatomy.body_half_depth_mm * 0.82) & (np.abs(a) <= height_profile)
        nucleus = ((x / (self.anatomy.body_half_width_mm * 0.55)) ** 2 + (w / (self.anatomy.body_half_depth_mm * 0.5)) ** 2 <= 1.0) & (
            np.abs(a) <= disc.half_height * 0.6
        )
        if name == "L5-S1":
            inside = inside | self._displaced(x, w, a, disc)
        return inside, nucleus & inside

    def _displaced(self, x, w, a, disc: Segment) -> np.ndarray:
        f = self.finding
        margin = self.anatomy.body_half_depth_mm * 0.82
        within_height = np.abs(a) <= disc.half_height * 0.9
        if f.classification == "normal" or f.size_mm <= 0:
            return np.zeros_like(x, dtype=bool)
        if f.classification == "bulge":
            # circumferential displacement beyond the endplate outline, most posteriorly
            ellipse = (x / (self.anatomy.body_half_width_mm + f.size_mm)) ** 2 + (
                w / (self.anatomy.body_half_depth_mm + f.size_mm)
            ) ** 2
            return (ellipse <= 1.0) & (w < margin + f.size_mm) & within_height & (w > -self.anatomy.body_half_depth_mm * 0.3)
        x0 = f.lateral_offset_mm
        depth = w - margin
        if f.classification == "protrusion":
            half_base = f.base_width_mm / 2
            dome = ((x - x0) / half_base) ** 2 + (np.maximum(depth, 0) / f.size_mm) ** 2 <= 1.0
            return dome & (depth > -2.0) & within_height
        if f.classification == "sequestration":
            # a free fragment in the anterior epidural space behind the S1 body, 3 mm below the disc
            # (clear of its endplate's margin), from 3.5 mm behind the disc margin (the body's back) to size_mm,
            # paramedian (6 mm off the midline: the ligament's midline septum turns fragments aside)
            x0 = np.sign(x0) * 6.0
            top, low = -disc.half_height - SEQUESTER_GAP_MM, -disc.half_height - f.migration_mm
            centre_a, half_a = (top + low) / 2, (top - low) / 2
            centre_depth, half_depth = (3.5 + f.size_mm) / 2, (f.size_mm - 3.5) / 2
            return (
                ((x - x0) / (f.base_width_mm / 2)) ** 2
                + ((depth - centre_depth) / half_depth) ** 2
                + ((a - centre_a) / half_a) ** 2
                <= 1.0
            )
        # extrusion: a narrow neck and a wider head that also migrates caudally
        neck_half = f.base_width_mm / 2
        head_half = neck_half * 1.6
        neck = (np.abs(x - x0) <= neck_half) & (depth > -2.0) & (depth <= f.size_mm * 0.4) & within_height
        head_centre_depth = f.size_mm * 0.65
        head_radius_depth = f.size_mm * 0.4
        head_a_low = -disc.half_height - f.migration_mm
        head = (
            (((x - x0) / head_half) ** 2 + ((depth - head_centre_depth) / head_radius_depth) ** 2 <= 1.0)
            & (a >= head_a_low)
            & (a <= disc.half_height * 0.9)
        )
        return neck | head

    # ---------------------------------------------------------------- sampling

    def sample(self, points: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """T2 intensity (0..1) and label masks at LPS ``points`` (..., 3)."""
        points = self.to_phantom(points)  # into the phantom's upright frame
        x, y = points[..., 0], points[..., 1]
        t2 = self.anatomy.t2
        image = np.full(points.shape[:-1], t2["background"], dtype=np.float32)
        # the trunk: skin 100 mm behind the S1 endplate centre (about 20 mm beyond the spinous processes)
        body_outline = (x / 160.0) ** 2 + ((y - 0.0) / 100.0) ** 2 <= 1.0
        image[body_outline] = t2["soft"]
        skin_y = 0.0 + 100.0 * np.sqrt(np.clip(1 - (x / 160.0) ** 2, 0, 1))
        fat = body_outline & (y > skin_y - 18.0)
        muscle = body_outline & (y > 28.0) & (y <= skin_y - 18.0) & (np.abs(x) < 75.0)
        image[muscle] = t2["muscle"]
        image[fat] = t2["fat"]
        labels: dict[str, np.ndarray] = {}
        bone = np.zeros(image.shape, dtype=bool)
        for name, body in self.bodies.items():
            inside, cortex = self._body(points, body, body.scale)
            # the thecal sac and posterior elements sit behind each body
            canal_centre_w = self.anatomy.body_half_depth_mm + 10.0
            bx, bw, ba = self._local(points, body)
            reach = body.half_height + 6.0
            canal = ((bx / 11.0) ** 2 + ((bw - canal_centre_w) / 7.5) ** 2 <= 1.0) & (np.abs(ba) <= reach)
            lumbar = body.name.startswith("L")
            lamina = lumbar & (np.abs(bx) < 16.0) & (bw > canal_centre_w + 8.0) & (bw < canal_centre_w + 14.0) & (np.abs(ba) <= body.half_height * 0.7)
            spinous = (np.abs(bx) < 4.0) & (bw >= canal_centre_w + 14.0) & (bw < canal_centre_w + 38.0) & (np.abs(ba) <= body.half_height * 0.55)
            if body.scale < 0.8:  # below S2: no thecal sac, the sacral canal narrows to nothing
                canal &= np.zeros_like(canal)
            image[lamina | spinous] = t2["posterior_bone"]
            bone |= lamina | spinous
            if canal.any():
                image[canal] = t2["csf"]
                labels["thecal_sac"] = labels.get("thecal_sac", np.zeros(image.shape, bool)) | canal
            image[inside] = t2["marrow"]
            image[cortex] = t2["cortex"]
            labels[f"{name}_body"] = inside
            bone |= inside
        sacral = self._sacral_bone(points)
        ilium = self._iliac_bones(points)
        image[sacral] = t2["posterior_bone"]
        image[ilium] = t2["marrow"]
        labels["iliac_crest"] = ilium
        bone |= sacral | ilium
        for name in self.discs:
            disc, nucleus = self.disc_mask(points, name)
            image[disc] = t2["annulus"]
            image[nucleus] = self._nucleus_signal(name)
            if name == "L5-S1":
                displaced_only = disc & ~self.disc_mask_without_finding(points)
                mix = 1.0 if self.dark_disc else self.anatomy.nucleus_mix.get(name, 0.0)
                image[displaced_only] = t2["annulus"] + 0.05 + 0.15 * (1.0 - mix)
                labels["L5-S1_disc"] = disc
            labels[f"{name}_disc"] = disc
        for side in ("left", "right"):
            root = self._s1_root(points, side)
            image[root] = t2["root"]
            labels[f"S1_root_{side}"] = root
        labels["bone"] = bone
        return image, labels

    def _nucleus_signal(self, name: str) -> float:
        t2 = self.anatomy.t2
        if self.dark_disc and name == "L5-S1":
            return t2["annulus"] + 0.1
        mix = self.anatomy.nucleus_mix.get(name, 0.0)
        return (1.0 - mix) * t2["nucleus"] + mix * (t2["annulus"] + 0.1)

    def disc_mask_without_finding(self, points: np.ndarray) -> np.ndarray:
        disc = self.l5s1
        x, w, a = self._local(points, disc)
        height_profile = disc.half_height * (1.0 - 0.15 * ((x / self.anatomy.body_half_width_mm) ** 2))
        ellipse = (x / self.anatomy.body_half_width_mm) ** 2 + (w / self.anatomy.body_half_depth_mm) ** 2
        return (ellipse <= 1.0) & (w < self.anatomy.body_half_depth_mm * 0.82) & (np.abs(a) <= height_profile)

    def _s1_root(self, points: np.ndarray, side: str) -> np.ndarray:
        """The S1 root as a 5 mm tube from the thecal sac at L5-S1 to the S1 foramen."""
        disc = self.l5s1
        sign = 1.0 if side == "left" else -1.0
        start = disc.centre + disc.posterior * (self.anatomy.body_half_depth_mm + 8.0) + np.array([sign * 6.0, 0, 0])
        end = self._s1_foramen(side)
        direction = end - start
        length = np.linalg.norm(direction)
        direction = direction / length
        d = points - start
        t = np.clip(d @ direction, 0, length)
        closest = start + t[..., None] * direction
        return np.linalg.norm(points - closest, axis=-1) <= 2.5


def _rotation(degrees) -> np.ndarray:
    """Rotation matrix of successive rotations about x, y then z (degrees)."""
    ax, ay, az = np.radians(np.asarray(degrees, float))
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx
