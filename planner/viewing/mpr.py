"""Linked multiplanar reformatting (MPR): three orthogonal planes through one point, in LPS mm.

The model is the state a radiology workstation shares between its views: a
crosshair point and an orientation. Views observe it; none owns it.

    mpr = MprState.centered_on(volume)
    plane = mpr.plane(View.AXIAL)          # origin, right, up, normal (unit vectors in LPS)
    mpr.scroll(View.AXIAL, +1, volume)     # one slice towards the head
    mpr.rotate(View.SAGITTAL, 12.0)        # tilt axial and coronal together, e.g. onto the L5-S1 disc

Screen conventions are the radiological ones: an axial plane is seen from the
feet (patient's right on the screen's left, anterior up), a coronal plane from
the front (right on the left, superior up), a sagittal plane from the
patient's left (anterior on the left, superior up). ``rotation`` turns all
three planes together, so they stay orthogonal when one is made oblique;
each view's picture stays as upright as its plane allows.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from planner.geometry import direction_letters, lps_to_ijk
from planner.observable import Observable


class View(enum.Enum):
    AXIAL = "axial"
    SAGITTAL = "sagittal"
    CORONAL = "coronal"


#: (right, up) screen directions of each plane before any rotation, in LPS.
_SCREEN_AXES = {
    View.AXIAL: ((1.0, 0.0, 0.0), (0.0, -1.0, 0.0)),
    View.CORONAL: ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    View.SAGITTAL: ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
}


@dataclass(frozen=True)
class Plane:
    """A view plane: ``origin`` (the crosshair) and unit ``right``/``up``/``normal`` in LPS.

    The camera looks along ``normal`` (into the screen), so ``right x up = -normal``.
    """

    origin: np.ndarray
    right: np.ndarray
    up: np.ndarray
    normal: np.ndarray

    def to_world(self, u_mm: float, v_mm: float) -> np.ndarray:
        """The LPS point ``u_mm`` to the right and ``v_mm`` up from the origin."""
        return self.origin + u_mm * self.right + v_mm * self.up

    def to_plane(self, point_lps) -> tuple[float, float, float]:
        """(right, up, depth) of ``point_lps`` relative to the origin, mm."""
        d = np.asarray(point_lps, dtype=float) - self.origin
        return float(d @ self.right), float(d @ self.up), float(d @ self.normal)

    def intersection(self, other: "Plane") -> tuple[np.ndarray, np.ndarray] | None:
        """Where ``other`` cuts this plane: (a point on the line, its unit direction), None when parallel."""
        direction = np.cross(self.normal, other.normal)
        norm = float(np.linalg.norm(direction))
        if norm <= 1e-6:
            return None
        direction = direction / norm
        across = np.cross(direction, self.normal)  # in this plane, perpendicular to the line
        offset = -float(other.normal @ (self.origin - other.origin)) / float(other.normal @ across)
        return self.origin + offset * across, direction

    def edge_letters(self) -> dict[str, str]:
        """Patient-direction letters at the left, right, top and bottom edges."""
        return {
            "left": direction_letters(-self.right),
            "right": direction_letters(self.right),
            "top": direction_letters(self.up),
            "bottom": direction_letters(-self.up),
        }


class MprState(Observable):
    """Crosshair point and plane rotation shared by linked views.

    Listeners are called with "center" or "rotation" after each change.
    """

    def __init__(self, center_lps=(0.0, 0.0, 0.0), rotation: np.ndarray | None = None) -> None:
        self.center = np.asarray(center_lps, dtype=float).copy()
        self.rotation = np.eye(3) if rotation is None else np.asarray(rotation, dtype=float).copy()

    @classmethod
    def centered_on(cls, volume) -> "MprState":
        return cls(volume_center(volume))

    # ------------------------------------------------------------ geometry

    def plane(self, view: View) -> Plane:
        native_right, native_up = (np.asarray(v, dtype=float) for v in _SCREEN_AXES[view])
        normal = self.rotation @ np.cross(native_up, native_right)  # camera looks along this (module docstring)
        # the plane turns with the rotation, its picture stays as upright as it can: the unrotated right
        # direction laid into the plane (a view turned about its own normal keeps its image still, and its
        # crosshair lines turn, as in Slicer and Horos); past 60 degrees about the view's up, the turned one
        right = native_right - (native_right @ normal) * normal
        if np.linalg.norm(right) < 0.5:
            right = self.rotation @ native_right
        right /= np.linalg.norm(right)
        up = np.cross(right, normal)
        return Plane(self.center.copy(), right, up, normal)

    # ------------------------------------------------------------ changes

    def set_center(self, point_lps) -> None:
        point = np.asarray(point_lps, dtype=float)
        if not np.all(np.isfinite(point)):
            raise ValueError(f"crosshair position must be finite, got {point_lps}")
        if not np.allclose(point, self.center, atol=1e-9):
            self.center = point.copy()
            self._notify("center")

    def scroll(self, view: View, steps: float, volume=None, step_mm: float | None = None) -> None:
        """Move the crosshair ``steps`` slices along ``view``'s normal (towards the viewer's back for +)."""
        if step_mm is None:
            step_mm = slice_step_mm(volume, self.plane(view).normal) if volume is not None else 1.0
        self.set_center(self.center + steps * step_mm * self.plane(view).normal)

    def rotate(self, view: View, degrees: float) -> None:
        """Turn every plane about ``view``'s normal through the crosshair (in-plane rotation of ``view``)."""
        axis = self.plane(view).normal
        self.rotation = rotation_about(axis, np.radians(degrees)) @ self.rotation
        self._notify("rotation")

    def set_rotation(self, rotation) -> None:
        rotation = np.asarray(rotation, dtype=float)
        if rotation.shape != (3, 3) or not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-6):
            raise ValueError("an MPR rotation must be a 3x3 orthonormal matrix")
        self.rotation = rotation.copy()
        self._notify("rotation")

    def reset_rotation(self) -> None:
        if not np.allclose(self.rotation, np.eye(3)):
            self.rotation = np.eye(3)
            self._notify("rotation")

    @property
    def is_oblique(self) -> bool:
        return not np.allclose(self.rotation, np.eye(3), atol=1e-6)


def axial_looking_along(direction_lps) -> np.ndarray:
    """The smallest plane rotation that makes the axial view look along ``direction_lps``: down a needle (its
    eye; the sagittal and coronal views then both contain it), or along a disc's normal (the axial view in
    its plane, as an axial block angled along the disc)."""
    d = np.asarray(direction_lps, float)
    d = d / np.linalg.norm(d)
    z = np.array([0.0, 0.0, 1.0])  # the unrotated axial view's normal
    axis = np.cross(z, d)
    sin, cos = np.linalg.norm(axis), float(z @ d)
    if sin < 1e-9:
        return np.eye(3) if cos > 0 else rotation_about((1.0, 0.0, 0.0), np.pi)
    return rotation_about(axis / sin, float(np.arctan2(sin, cos)))


def rotation_about(axis, angle_rad: float) -> np.ndarray:
    """Rotation matrix of ``angle_rad`` about the unit vector ``axis`` (Rodrigues)."""
    x, y, z = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    k = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    return np.eye(3) + s * k + (1 - c) * (k @ k)


def volume_center(volume) -> np.ndarray:
    """LPS centre of the voxel grid."""
    k, j, i = volume.shape
    return volume.image_to_lps[:3, :3] @ (np.array([i, j, k], dtype=float) - 1) / 2 + volume.image_to_lps[:3, 3]


def slice_step_mm(volume, normal) -> float:
    """The distance along ``normal`` that moves one voxel in the grid direction closest to it.

    For a plane parallel to the acquisition this is the slice spacing; for
    reformatted planes it is the finest voxel step seen along the normal.
    """
    axes = volume.image_to_lps[:3, :3]
    spacing = np.linalg.norm(axes, axis=0)
    n = np.asarray(normal, dtype=float)
    cosines = np.abs((axes / spacing).T @ n)
    best = int(np.argmax(cosines))
    return float(spacing[best] / max(cosines[best], 1e-6))


def nearest_slice(volume, point_lps) -> int:
    """Index k of ``volume``'s slice nearest to ``point_lps`` (clamped into the volume)."""
    k = lps_to_ijk(volume.image_to_lps, np.asarray(point_lps, dtype=float))[2]
    return int(np.clip(np.rint(k), 0, volume.shape[0] - 1))


def native_plane(volume, k: int, center_lps) -> Plane:
    """The plane of acquired slice ``k`` of ``volume`` with the crosshair projected onto it.

    Screen axes follow the rows and columns as stored (i to the right, j down),
    which is how a series is shown in its own plane.
    """
    affine = volume.image_to_lps
    i_axis = affine[:3, 0] / np.linalg.norm(affine[:3, 0])
    j_axis = affine[:3, 1] / np.linalg.norm(affine[:3, 1])
    normal = np.cross(-j_axis, i_axis)
    on_slice = affine[:3, :3] @ np.array([0.0, 0.0, float(k)]) + affine[:3, 3]
    center = np.asarray(center_lps, dtype=float)
    origin = center - ((center - on_slice) @ normal) * normal
    return Plane(origin, i_axis, -j_axis, normal)


def value_at(volume, point_lps) -> float | None:
    """The stored value of the voxel containing ``point_lps`` (nearest neighbour); None outside."""
    ijk = np.rint(lps_to_ijk(volume.image_to_lps, np.asarray(point_lps, dtype=float))).astype(int)
    k, j, i = volume.shape
    if not (0 <= ijk[0] < i and 0 <= ijk[1] < j and 0 <= ijk[2] < k):
        return None
    value = volume.array[ijk[2], ijk[1], ijk[0]]
    return float(value) if np.ndim(value) == 0 else float(np.mean(value))


def contains(volume, point_lps, margin_voxels: float = 0.5) -> bool:
    ijk = lps_to_ijk(volume.image_to_lps, np.asarray(point_lps, dtype=float))
    k, j, i = volume.shape
    upper = np.array([i, j, k], dtype=float) - 1 + margin_voxels
    return bool(np.all(ijk >= -margin_voxels) and np.all(ijk <= upper))
