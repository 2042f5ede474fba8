"""Ultrasound region calibration (DICOM PS3.3 C.8.5.5, US Region Calibration Module).

An ultrasound image carries zero or more regions (SequenceOfUltrasoundRegions).
Each region is a rectangle of pixels with its own physical scale: a 2D B-mode
sector in cm per pixel, a Doppler strip in seconds x cm/s, a colour bar with
none. A pixel is measured with the region that contains it, never with a scale
borrowed from elsewhere; an image without a spatial region is uncalibrated and
says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from planner.errors import UncalibratedError

#: PhysicalUnitsX/YDirection (0018,6024/6026), PS3.3 C.8.5.5.1.15.
PHYSICAL_UNITS = {
    0x0000: "none",
    0x0001: "percent",
    0x0002: "dB",
    0x0003: "cm",
    0x0004: "seconds",
    0x0005: "hertz",
    0x0006: "dB/seconds",
    0x0007: "cm/sec",
    0x0008: "cm2",
    0x0009: "cm2/sec",
    0x000A: "cm3",
    0x000B: "cm3/sec",
    0x000C: "degrees",
}

#: RegionSpatialFormat (0018,6012), PS3.3 C.8.5.5.1.1.
SPATIAL_FORMATS = {0: "none", 1: "2D", 2: "M-mode", 3: "spectral", 4: "waveform", 5: "graphics"}

UNITS_CM = 0x0003


@dataclass(frozen=True)
class UltrasoundRegion:
    """One calibrated region of an ultrasound image.

    ``bounds_px`` = (x0, y0, x1, y1): RegionLocationMinX0, MinY0, MaxX1, MaxY1,
    inclusive pixel columns/rows. ``physical_delta_x_mm``/``_y_mm`` are the
    magnitudes of PhysicalDeltaX/Y converted to mm when the unit is cm, and
    None otherwise (``raw_delta_x``/``raw_delta_y`` keep the stored value in
    ``units_x``/``units_y``). A negative stored delta only says that the axis
    runs the other way; the scale is its magnitude and ``flipped_x``/``_y``
    records the direction.

    ``reference_pixel`` is Reference Pixel X0/Y0: an offset from Region Location
    Min X0/Y0, not an image coordinate (PS3.3 C.8.5.5.1.16); for a 2D tissue
    region usually the centre of the transducer face, on curved probes often the
    virtual apex above the image (a negative Y0). ``reference_physical_mm`` is
    its Reference Pixel Physical Value X/Y in mm (cm units only). Every pixel's
    physical position and depth comes from :meth:`physical_mm` and
    :meth:`depth_mm`; nothing else reads these fields.
    """

    region_spatial_format: int
    region_data_type: int
    bounds_px: tuple[int, int, int, int]
    units_x: str
    units_y: str
    raw_delta_x: float
    raw_delta_y: float
    reference_pixel: tuple[int, int] | None = None
    reference_physical_mm: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        x0, y0, x1, y1 = self.bounds_px
        if x1 < x0 or y1 < y0:
            raise ValueError(f"region bounds {self.bounds_px} are not ordered (x0 <= x1, y0 <= y1)")

    @property
    def physical_delta_x_mm(self) -> float | None:
        return abs(self.raw_delta_x) * 10.0 if self.units_x == "cm" else None

    @property
    def physical_delta_y_mm(self) -> float | None:
        return abs(self.raw_delta_y) * 10.0 if self.units_y == "cm" else None

    @property
    def flipped_x(self) -> bool:
        return self.raw_delta_x < 0

    @property
    def flipped_y(self) -> bool:
        return self.raw_delta_y < 0

    @property
    def is_spatial(self) -> bool:
        """True for a 2D region measured in cm along both axes (a B-mode image)."""
        return (
            self.region_spatial_format == 1
            and self.physical_delta_x_mm is not None
            and self.physical_delta_y_mm is not None
            and self.physical_delta_x_mm > 0
            and self.physical_delta_y_mm > 0
        )

    def physical_mm(self, x: float, y: float) -> tuple[float, float]:
        """The physical (x, y) in mm of image pixel (x, y) (pixel-centre coordinates) as the scanner defines
        them: the reference pixel's physical values plus the signed deltas. Without a reference pixel the
        region's first pixel is taken as (0, 0) (:attr:`has_reference` says so)."""
        if not self.is_spatial:
            raise UncalibratedError("the region is not a calibrated 2D region: no physical coordinates")
        x0, y0, _x1, _y1 = self.bounds_px
        rx, ry = self.reference_pixel or (0, 0)
        vx, vy = self.reference_physical_mm or (0.0, 0.0)
        sx = math.copysign(self.physical_delta_x_mm, self.raw_delta_x)
        sy = math.copysign(self.physical_delta_y_mm, self.raw_delta_y)
        return vx + (x - (x0 + rx)) * sx, vy + (y - (y0 + ry)) * sy

    @property
    def has_reference(self) -> bool:
        """True when the reference pixel and both its physical values are given (the depth origin is known)."""
        return self.reference_pixel is not None and self.reference_physical_mm is not None

    def face_row(self) -> float:
        """The image row (fractional) of the transducer face, where depths start: the row of physical
        Y = 0 when it lies within the region (a linear probe's reference at the face), else the region's
        top edge (a curved probe's apex above the image, or no reference pixel given)."""
        if not self.is_spatial:
            raise UncalibratedError("the region is not a calibrated 2D region: no depth")
        x0, y0, _x1, y1 = self.bounds_px
        if self.has_reference and self.raw_delta_y > 0:
            vy = self.reference_physical_mm[1]
            zero = y0 + self.reference_pixel[1] - vy / self.physical_delta_y_mm
            if y0 - 0.5 <= zero <= y1 + 0.5:
                return zero
        return y0 - 0.5

    def depth_mm(self, y: float) -> float:
        """Depth in mm of image row ``y`` below the transducer face (:meth:`face_row`)."""
        return (y - self.face_row()) * self.physical_delta_y_mm

    def row_at_depth(self, depth_mm: float) -> float:
        """The image row (fractional) ``depth_mm`` below the transducer face."""
        return self.face_row() + depth_mm / self.physical_delta_y_mm

    def contains(self, x: float, y: float) -> bool:
        x0, y0, x1, y1 = self.bounds_px
        return x0 <= x <= x1 and y0 <= y <= y1

    @property
    def spatial_format_name(self) -> str:
        return SPATIAL_FORMATS.get(self.region_spatial_format, f"unknown ({self.region_spatial_format})")

    def as_json(self) -> dict:
        return {
            "region_spatial_format": self.region_spatial_format,
            "region_data_type": self.region_data_type,
            "physical_delta_x_mm": self.physical_delta_x_mm,
            "physical_delta_y_mm": self.physical_delta_y_mm,
            "units_x": self.units_x,
            "units_y": self.units_y,
            "bounds": list(self.bounds_px),
        }


def spatial_region_at(regions: Sequence[UltrasoundRegion], x: float, y: float) -> UltrasoundRegion | None:
    """The calibrated 2D region containing pixel (x, y), the smallest if several do."""
    candidates = [r for r in regions if r.is_spatial and r.contains(x, y)]
    if not candidates:
        return None

    def area(region: UltrasoundRegion) -> int:
        x0, y0, x1, y1 = region.bounds_px
        return (x1 - x0 + 1) * (y1 - y0 + 1)

    return min(candidates, key=area)


def distance_mm(regions: Sequence[UltrasoundRegion], p0_xy: Sequence[float], p1_xy: Sequence[float]) -> float:
    """Distance in mm between two pixels of one calibrated region.

    Raises:
        UncalibratedError: if either point lies outside every spatial region, or
            the two points lie in different regions (a dual-view image).
    """
    region0 = spatial_region_at(regions, *p0_xy)
    region1 = spatial_region_at(regions, *p1_xy)
    if region0 is None or region1 is None:
        raise UncalibratedError("no calibrated 2D ultrasound region contains both points: measure in pixels only")
    if region0 != region1:
        raise UncalibratedError("the points lie in different ultrasound regions; a distance across them has no meaning")
    dx = (p1_xy[0] - p0_xy[0]) * region0.physical_delta_x_mm
    dy = (p1_xy[1] - p0_xy[1]) * region0.physical_delta_y_mm
    return float(np.hypot(dx, dy))


def depth_ticks(region: UltrasoundRegion, screen_px_per_pixel: float, min_gap_px: float = 25.0):
    """A depth scale for ``region`` drawn at ``screen_px_per_pixel``: (first row, last row, ticks) with each
    tick (image row, depth mm below the transducer face, major). Majors are 1, 2, 5 or 10 cm apart, the
    first spacing at least ``min_gap_px`` on screen; minors halve them."""
    _x0, y0, _x1, y1 = region.bounds_px
    dy = region.physical_delta_y_mm
    major = next((mm for mm in (10, 20, 50, 100) if mm / dy * screen_px_per_pixel >= min_gap_px), 100)
    minor = major / 2
    first_row = max(region.face_row(), y0 - 0.5)
    depth = math.ceil(max(0.0, region.depth_mm(first_row)) / minor - 1e-9) * minor
    ticks = []
    while depth <= region.depth_mm(y1 + 0.5) + 1e-6:
        ticks.append((region.row_at_depth(depth), depth, abs(depth / major - round(depth / major)) < 1e-6))
        depth += minor
    return first_row, y1 + 0.5, ticks


def regions_from_dataset(ds) -> tuple[UltrasoundRegion, ...]:
    """Parse SequenceOfUltrasoundRegions of a pydicom data set (empty when absent).

    Items missing a Type 1 attribute are skipped; they are not calibration.
    """
    sequence = ds.get("SequenceOfUltrasoundRegions")
    if not sequence:
        return ()
    regions = []
    for item in sequence:
        try:
            regions.append(
                UltrasoundRegion(
                    region_spatial_format=int(item.RegionSpatialFormat),
                    region_data_type=int(item.RegionDataType),
                    bounds_px=(
                        int(item.RegionLocationMinX0),
                        int(item.RegionLocationMinY0),
                        int(item.RegionLocationMaxX1),
                        int(item.RegionLocationMaxY1),
                    ),
                    units_x=PHYSICAL_UNITS.get(int(item.PhysicalUnitsXDirection), "unknown"),
                    units_y=PHYSICAL_UNITS.get(int(item.PhysicalUnitsYDirection), "unknown"),
                    raw_delta_x=float(item.PhysicalDeltaX),
                    raw_delta_y=float(item.PhysicalDeltaY),
                    reference_pixel=_reference_pixel(item),
                    reference_physical_mm=_reference_physical_mm(item),
                )
            )
        except (AttributeError, TypeError, ValueError):
            continue
    return tuple(regions)


def _reference_pixel(item) -> tuple[int, int] | None:
    if "ReferencePixelX0" not in item or "ReferencePixelY0" not in item:
        return None
    try:
        return int(item.ReferencePixelX0), int(item.ReferencePixelY0)
    except (TypeError, ValueError):
        return None


def _reference_physical_mm(item) -> tuple[float, float] | None:
    """Reference Pixel Physical Value X/Y in mm: only for cm axes (other units are not positions)."""
    if "ReferencePixelPhysicalValueX" not in item or "ReferencePixelPhysicalValueY" not in item:
        return None
    try:
        unit_x, unit_y = int(item.PhysicalUnitsXDirection), int(item.PhysicalUnitsYDirection)
        vx, vy = float(item.ReferencePixelPhysicalValueX), float(item.ReferencePixelPhysicalValueY)
    except (AttributeError, TypeError, ValueError):
        return None
    if unit_x != UNITS_CM or unit_y != UNITS_CM or not (math.isfinite(vx) and math.isfinite(vy)):
        return None
    return vx * 10.0, vy * 10.0
