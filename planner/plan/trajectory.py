"""Needle trajectory geometry and safety (issue 5): the numbers shown while a point is dragged.

All inputs are LPS mm. For a prone patient the needle runs from a posterior
skin entry forwards; the angles are:

- ``craniocaudal_deg``: the needle's tilt in the sagittal plane from straight
  anterior, positive when the tip points cranially (the C-arm tilt that looks
  down the needle, "cranial"/"caudal").
- ``mediolateral_deg``: its tilt in the axial plane from straight anterior,
  positive when the tip points to the patient's left (the C-arm obliquity:
  rotate the beam by that much towards the entry side).
- ``disc_plane_deg``: the angle between the needle and the disc's mid-plane
  (0 = parallel, the ideal intradiscal approach), and ``craniocaudal_to_disc_deg``
  the needle's craniocaudal tilt measured from the disc plane instead of the axial plane.

Safety: :class:`Structure` holds a signed distance map (mm, negative inside)
of an anatomical mask; :func:`trajectory_metrics` samples it along the path
every 0.5 mm, so a drag costs microseconds per structure, not a distance
transform.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from planner.geometry import sample_trilinear
from planner.plan.model import Needle

SAMPLE_MM = 0.5
POSTERIOR = np.array([0.0, 1.0, 0.0])
LEFT = np.array([1.0, 0.0, 0.0])
SUPERIOR = np.array([0.0, 0.0, 1.0])

#: default warning thresholds (mm): warn when the path passes closer than this
DEFAULT_THRESHOLDS_MM = {
    "dura": 3.0,
    "nerve root": 2.0,
    "bone": 1.0,
    "iliac crest": 3.0,
    "disc": 1.0,
    "unimaged": 3.0,  # the edge of what the series cover: nothing beyond it is checked
}
#: the needle must be at least this much longer than the path (the hub stays outside the skin)
NEEDLE_MARGIN_MM = 10.0


@dataclass(frozen=True)
class Structure:
    """An anatomical structure as a signed distance map (mm, negative inside) on a grid with ``image_to_lps``.

    ``kind`` is one of the threshold keys ("dura", "nerve root", "bone",
    "iliac crest", "disc"); ``name`` is what a warning calls it ("S1 root left").
    """

    name: str
    kind: str
    distance_mm: np.ndarray  # [k, j, i]
    image_to_lps: np.ndarray  # 4x4, index (i, j, k) -> LPS

    @classmethod
    def from_mask(cls, name: str, kind: str, mask: np.ndarray, image_to_lps: np.ndarray) -> "Structure":
        """Build from a boolean mask [k, j, i] on the grid ``image_to_lps`` (distance in mm, any spacing)."""
        mask = np.asarray(mask, bool)
        spacing = [float(s) for s in np.linalg.norm(np.asarray(image_to_lps)[:3, :3], axis=0)]
        if not mask.any():
            return cls(name, kind, np.full(mask.shape, np.inf, np.float32), np.asarray(image_to_lps, float))

        def distance_to(region: np.ndarray) -> np.ndarray:  # from each voxel to the nearest centre in region
            image = sitk.GetImageFromArray(region.astype(np.uint8))
            image.SetSpacing(spacing)
            distance = sitk.SignedMaurerDistanceMap(image, insideIsPositive=False, squaredDistance=False, useImageSpacing=True)
            return np.maximum(sitk.GetArrayFromImage(distance), 0.0)

        # the surface lies half a voxel beyond the outermost voxel centres
        half = 0.5 * min(spacing)
        outside = distance_to(mask) - half
        inside = distance_to(~mask) - half if (~mask).any() else np.full(mask.shape, np.inf)
        distance = np.where(mask, -inside, outside).astype(np.float32)
        return cls(name, kind, distance, np.asarray(image_to_lps, float))

    def sample(self, points_lps: np.ndarray) -> np.ndarray:
        """Signed distance (mm) at each point, trilinear; +inf outside the grid."""
        points = np.atleast_2d(np.asarray(points_lps, float))
        return sample_trilinear(self.distance_mm, self.image_to_lps, points, np.inf)


@dataclass(frozen=True)
class StructureDistance:
    """The closest the path comes to one structure: ``distance_mm`` (negative: it passes through)."""

    name: str
    kind: str
    distance_mm: float
    depth_mm: float  # along the needle from the entry, where it is closest
    threshold_mm: float

    @property
    def warning(self) -> str | None:
        if self.kind == "unimaged":
            if self.distance_mm <= 0:
                return f"Part of the path (at {self.depth_mm:.0f} mm depth) lies outside the imaged volume: nothing is checked there."
            if self.distance_mm < self.threshold_mm:
                return (
                    f"The path comes within {self.distance_mm:.1f} mm of the edge of the imaged volume at "
                    f"{self.depth_mm:.0f} mm depth (margin {self.threshold_mm:g} mm): anatomy beyond the edge is not checked."
                )
            return None
        if self.distance_mm <= 0:
            return f"The path passes through the {self.name} at {self.depth_mm:.0f} mm depth."
        if self.distance_mm < self.threshold_mm:
            return (
                f"The path passes {self.distance_mm:.1f} mm from the {self.name} at {self.depth_mm:.0f} mm depth "
                f"(threshold {self.threshold_mm:g} mm)."
            )
        return None


@dataclass(frozen=True)
class TrajectoryMetrics:
    length_mm: float
    depth_mm: float  # how far anterior of the skin entry the target lies
    craniocaudal_deg: float
    mediolateral_deg: float
    disc_plane_deg: float | None
    craniocaudal_to_disc_deg: float | None
    needle_length_mm: float
    needle_margin_mm: float
    distances: tuple[StructureDistance, ...] = ()
    warnings: tuple[str, ...] = field(default=())
    #: the subset of ``warnings`` that blocks Approve (a target outside what its procedure names)
    errors: tuple[str, ...] = field(default=())

    @property
    def needle_ok(self) -> bool:
        return self.needle_margin_mm >= NEEDLE_MARGIN_MM

    @property
    def carm_text(self) -> str:
        """The C-arm position that looks down the needle, e.g. "12° caudal, 25° left oblique"."""
        tilt = f"{abs(self.craniocaudal_deg):.0f}° {'cranial' if self.craniocaudal_deg > 0 else 'caudal'}"
        if abs(self.mediolateral_deg) < 0.5:
            return f"{tilt}, no obliquity"
        side = "left" if self.mediolateral_deg < 0 else "right"  # the beam tilts towards the entry side
        return f"{tilt}, {abs(self.mediolateral_deg):.0f}° {side} oblique"

    def as_dict(self) -> dict:
        return {
            "length_mm": round(self.length_mm, 2),
            "depth_mm": round(self.depth_mm, 2),
            "craniocaudal_deg": round(self.craniocaudal_deg, 1),
            "mediolateral_deg": round(self.mediolateral_deg, 1),
            "disc_plane_deg": None if self.disc_plane_deg is None else round(self.disc_plane_deg, 1),
            "craniocaudal_to_disc_deg": None
            if self.craniocaudal_to_disc_deg is None
            else round(self.craniocaudal_to_disc_deg, 1),
            "c_arm": self.carm_text,
            "needle_length_mm": self.needle_length_mm,
            "needle_margin_mm": round(self.needle_margin_mm, 1),
            "needle_long_enough": self.needle_ok,
            "distances": [
                {
                    "structure": d.name,
                    "kind": d.kind,
                    "min_distance_mm": None if not np.isfinite(d.distance_mm) else round(d.distance_mm, 2),
                    "at_depth_mm": round(d.depth_mm, 1),
                    "threshold_mm": d.threshold_mm,
                }
                for d in self.distances
            ],
            "warnings": list(self.warnings),
            "errors": list(self.errors),
        }


def path_points(entry_lps, target_lps, step_mm: float = SAMPLE_MM) -> tuple[np.ndarray, np.ndarray]:
    """Points every ``step_mm`` from entry to target (both included) and their depth along the needle (mm)."""
    entry, target = np.asarray(entry_lps, float), np.asarray(target_lps, float)
    length = float(np.linalg.norm(target - entry))
    depth = np.linspace(0.0, length, max(2, int(np.ceil(length / step_mm)) + 1))
    direction = (target - entry) / length if length > 0 else np.zeros(3)
    return entry + depth[:, None] * direction, depth


def trajectory_metrics(
    entry_lps,
    target_lps,
    needle: Needle,
    disc_normal_lps=None,
    structures: tuple[Structure, ...] = (),
    thresholds_mm: dict | None = None,
    ignore_last_mm: dict | None = None,
) -> TrajectoryMetrics:
    """Length, angles, needle fit and closest approach to each structure for one trajectory.

    ``ignore_last_mm``: per structure kind, how much of the path before the
    target not to judge (an intradiscal needle must end in the disc; a
    transforaminal one ends beside the root it is aimed at).
    """
    entry, target = np.asarray(entry_lps, float), np.asarray(target_lps, float)
    vector = target - entry
    length = float(np.linalg.norm(vector))
    if length < 1e-6:
        raise ValueError("the entry and the target are the same point")
    direction = vector / length
    forward = -(direction @ POSTERIOR)  # anterior component
    craniocaudal = float(np.degrees(np.arctan2(direction @ SUPERIOR, forward)))
    mediolateral = float(np.degrees(np.arctan2(direction @ LEFT, forward)))
    disc_plane = cc_to_disc = None
    if disc_normal_lps is not None:
        normal = np.asarray(disc_normal_lps, float)
        normal = normal / np.linalg.norm(normal)
        disc_plane = float(np.degrees(np.arcsin(np.clip(abs(direction @ normal), 0.0, 1.0))))
        # the disc's own "anterior" in the sagittal plane: superior x normal's sagittal part
        sagittal_normal = normal - (normal @ LEFT) * LEFT
        sagittal_normal /= np.linalg.norm(sagittal_normal)
        disc_forward = np.cross(LEFT, sagittal_normal)  # for a normal +S: -P, anterior along the disc
        cc_to_disc = float(np.degrees(np.arctan2(direction @ sagittal_normal, direction @ disc_forward)))
    thresholds = {**DEFAULT_THRESHOLDS_MM, **(thresholds_mm or {})}
    points, depth = path_points(entry, target)
    distances = []
    for structure in structures:
        values = structure.sample(points)
        keep = depth <= length - (ignore_last_mm or {}).get(structure.kind, 0.0) + 1e-9
        if not keep.any():
            continue
        k = int(np.argmin(np.where(keep, values, np.inf)))
        distances.append(
            StructureDistance(structure.name, structure.kind, float(values[k]), float(depth[k]), thresholds.get(structure.kind, 0.0))
        )
    margin = float(needle.length_mm) - length
    warnings = [w for w in (d.warning for d in distances) if w]
    if margin < NEEDLE_MARGIN_MM:
        warnings.insert(
            0,
            f"The {needle.length_mm:g} mm needle is too short: the path is {length:.0f} mm and needs "
            f"{NEEDLE_MARGIN_MM:g} mm to spare.",
        )
    return TrajectoryMetrics(
        length, float(entry @ POSTERIOR - target @ POSTERIOR), craniocaudal, mediolateral, disc_plane, cc_to_disc,
        float(needle.length_mm), margin, tuple(distances), tuple(warnings),
    )
