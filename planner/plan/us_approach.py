"""The in-plane ultrasound-guided needle path on one calibrated frame (issue 5).

The physician marks the target and a second point on the intended needle
path in the image (pixels). The transducer face (the skin) is the row the
region's reference pixel and its physical values put at depth 0
(:meth:`~planner.viewing.us_calibration.UltrasoundRegion.face_row`; the region's top
edge when they are absent, with a warning); the path extended upwards meets it
at the insertion point, usually beyond the probe's end (in-plane technique):

- ``depth_mm``: the target's depth below the transducer face;
- ``insertion_angle_deg``: between the needle and the transducer face;
- ``probe_edge_distance_mm``: from the probe's end (the region's side edge on
  the insertion side) to the insertion point along the skin; negative when
  the insertion point would lie under the probe, which in-plane cannot be;
- ``needle_path_mm``: insertion point to target.

Frames without a calibrated 2D region refuse with :class:`UncalibratedError`
instead of giving millimetres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from planner.errors import UncalibratedError
from planner.viewing.us_calibration import UltrasoundRegion, spatial_region_at


@dataclass(frozen=True)
class UltrasoundApproachMetrics:
    depth_mm: float
    insertion_angle_deg: float
    probe_edge_distance_mm: float
    needle_path_mm: float
    insertion_side: str  # "left" or "right" edge of the image
    insertion_px: tuple[float, float]
    warnings: tuple[str, ...] = ()


def ultrasound_approach(
    regions: Sequence[UltrasoundRegion], target_xy: Sequence[float], path_xy: Sequence[float]
) -> UltrasoundApproachMetrics:
    """Metrics of the in-plane path from ``path_xy`` towards ``target_xy`` (pixel x, y of one frame)."""
    region = spatial_region_at(regions, *target_xy)
    if region is None:
        raise UncalibratedError(
            "the target is not in a calibrated 2D ultrasound region: depth and angles cannot be given in mm"
        )
    if spatial_region_at(regions, *path_xy) not in (region, None):
        raise UncalibratedError("the two points lie in different ultrasound regions")
    sx, sy = region.physical_delta_x_mm, region.physical_delta_y_mm
    x0, _y0, x1, _y1 = region.bounds_px
    face_y = region.face_row()
    tx, ty = float(target_xy[0]), float(target_xy[1])
    px, py = float(path_xy[0]), float(path_xy[1])
    dx_mm, dy_mm = (px - tx) * sx, (py - ty) * sy
    if dy_mm >= -1e-6:
        raise ValueError("the second point must lie above the target (towards the skin) on the needle path")
    depth = region.depth_mm(ty)
    if depth <= 0:
        raise ValueError("the target lies above the transducer face: it must be in the tissue")
    # follow the line from the target up to the transducer face
    scale = depth / -dy_mm
    insertion_x_mm = tx * sx + dx_mm * scale
    insertion_px = (insertion_x_mm / sx, face_y)
    angle = math.degrees(math.atan2(-dy_mm, abs(dx_mm))) if abs(dx_mm) > 1e-9 else 90.0
    side = "left" if dx_mm < 0 else "right"
    edge_mm = (x0 - 0.5) * sx if side == "left" else (x1 + 0.5) * sx
    edge_distance = (edge_mm - insertion_x_mm) if side == "left" else (insertion_x_mm - edge_mm)
    path_mm = math.hypot(dx_mm * scale, depth)
    warnings = []
    if not region.has_reference:
        warnings.append(
            "The ultrasound region gives no reference pixel (or no physical value for it): depths are measured "
            "from the region's top row, which may not be the skin."
        )
    if edge_distance < 0:
        warnings.append(
            f"The insertion point lies {abs(edge_distance):.0f} mm under the probe: an in-plane needle enters "
            "beside the probe; make the path flatter."
        )
    if angle > 60:
        warnings.append(f"The needle is {angle:.0f}° steep to the probe: it will be hard to see (specular reflection).")
    return UltrasoundApproachMetrics(depth, angle, edge_distance, path_mm, side, insertion_px, tuple(warnings))
