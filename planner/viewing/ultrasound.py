"""Ultrasound image or cine -> :class:`UltrasoundClip`: lazy frames, frame times, calibration.

Frames are decoded on demand (:class:`~planner.dicom.pixels.FrameSource`), so a long
cine is never held compressed and decoded at once; ``frame(i)`` returns what a
viewer shows: RGB uint8 for colour (YBR converted, palette mapped), the stored
grey values otherwise. Calibration comes from every region of
SequenceOfUltrasoundRegions (:mod:`planner.viewing.us_calibration`); a clip without a
spatial region is uncalibrated and measures in pixels only.
"""

from __future__ import annotations

from functools import cached_property
from typing import Sequence

import numpy as np

from planner.dicom.header import InstanceHeader, read_dataset
from planner.dicom.pixels import FrameSource, apply_palette
from planner.errors import DicomInputError
from planner.viewing.us_calibration import UltrasoundRegion, distance_mm, spatial_region_at


class UltrasoundClip:
    """One ultrasound file: a single image or a cine of ``n_frames`` frames."""

    def __init__(self, header: InstanceHeader) -> None:
        if not header.is_image:
            raise DicomInputError(header.path, "is not an ultrasound image")
        self.header = header
        self._source = FrameSource(header)
        self.regions: tuple[UltrasoundRegion, ...] = header.us_regions

    @property
    def n_frames(self) -> int:
        return self.header.n_frames

    @property
    def shape(self) -> tuple[int, int]:
        return self.header.rows, self.header.columns

    @property
    def is_color(self) -> bool:
        return self.header.samples_per_pixel == 3 or self.header.photometric_interpretation == "PALETTE COLOR"

    @property
    def is_calibrated(self) -> bool:
        return any(r.is_spatial for r in self.regions)

    @property
    def sop_instance_uid(self) -> str:
        return self.header.sop_instance_uid

    @cached_property
    def frame_times_ms(self) -> np.ndarray:
        """Start time of each frame in ms from the first (PS3.3 C.7.6.5 Cine module).

        From FrameTimeVector when present, else FrameTime, CineRate or
        RecommendedDisplayFrameRate; a single frame is at 0. Without any timing
        a cine gets 1000/30 ms per frame and ``timing_known`` is False.
        """
        if self.n_frames == 1:
            return np.zeros(1)
        vector = self._dataset.get("FrameTimeVector")
        if vector is not None and len(vector) == self.n_frames:
            increments = np.array([float(v) for v in vector])
            increments[0] = 0.0
            return np.cumsum(increments)
        step = self.header.frame_time_ms or 1000.0 / 30.0
        return np.arange(self.n_frames) * step

    @property
    def timing_known(self) -> bool:
        return self.n_frames == 1 or self.header.frame_time_ms is not None or "FrameTimeVector" in self._dataset

    @property
    def frame_rate_hz(self) -> float:
        if self.n_frames < 2:
            return 0.0
        return 1000.0 * (self.n_frames - 1) / float(self.frame_times_ms[-1]) if self.frame_times_ms[-1] > 0 else 0.0

    @cached_property
    def _dataset(self):
        """The full header, read once when timing vectors or palette LUTs are needed."""
        return read_dataset(self.header.path, stop_before_pixels=True)

    @property
    def laterality(self) -> str:
        """"L", "R" or "" from Laterality or Image Laterality (a limb's side, for muscle cines)."""
        value = str(self._dataset.get("ImageLaterality", "") or self._dataset.get("Laterality", "") or "").strip().upper()
        return value if value in ("L", "R") else ""

    def frame_raw(self, index: int) -> np.ndarray:
        """Stored values of frame ``index`` (palette indices not mapped)."""
        return self._source.frame(index)

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as displayed: (rows, columns) grey or (rows, columns, 3) RGB uint8."""
        raw = self._source.frame(index)
        if self.header.photometric_interpretation == "PALETTE COLOR":
            return apply_palette(raw, self._dataset)
        return raw

    def region_at(self, x: float, y: float) -> UltrasoundRegion | None:
        """The calibrated 2D region containing pixel column ``x``, row ``y``."""
        return spatial_region_at(self.regions, x, y)

    def distance_mm(self, p0_xy: Sequence[float], p1_xy: Sequence[float]) -> float:
        """Calibrated distance between two pixels (x, y).

        Raises:
            UncalibratedError: outside every calibrated region, or across two regions.
        """
        return distance_mm(self.regions, p0_xy, p1_xy)
