"""The frames an analysis reads: from a DICOM cine (lazily) or from any frame function (phantoms, tests).

``open_cine(path)`` accepts a cine file or a folder holding exactly one cine, and
says plainly when the path is not a cine (a still image, an MR series, several
cines, nothing readable).
"""

from __future__ import annotations

import os
from typing import Callable, Sequence

import numpy as np

from planner.errors import DicomInputError
from planner.viewing.us_calibration import UltrasoundRegion


class CineFrames:
    """What the analysis needs of a cine; :func:`from_clip` makes one from an :class:`UltrasoundClip`."""

    def __init__(
        self,
        n_frames: int,
        times_ms: Sequence[float],
        frame: Callable[[int], np.ndarray],
        shape: tuple[int, int],
        region: UltrasoundRegion | None = None,
        description: str = "",
        side: str = "",
        sop_instance_uid: str = "",
        source: str = "",
    ) -> None:
        self.n_frames = n_frames
        self.times_ms = np.asarray(times_ms, dtype=np.float64)
        self.frame = frame
        self.shape = shape
        self.region = region
        self.description = description
        self.side = side
        self.sop_instance_uid = sop_instance_uid
        self.source = source


def from_clip(clip) -> CineFrames:
    """The analysis input of an :class:`~planner.viewing.ultrasound.UltrasoundClip` (its largest calibrated 2D region)."""
    spatial = [r for r in clip.regions if r.is_spatial]
    region = max(spatial, key=lambda r: (r.bounds_px[2] - r.bounds_px[0]) * (r.bounds_px[3] - r.bounds_px[1])) if spatial else None
    header = clip.header
    return CineFrames(
        clip.n_frames,
        clip.frame_times_ms,
        clip.frame,
        clip.shape,
        region,
        header.series_description,
        clip.laterality,
        header.sop_instance_uid,
        str(header.path),
    )




def open_cine(path: str | os.PathLike):
    """The one ultrasound cine at ``path`` (a file, or a folder or archive holding one)."""
    from planner.dicom.loader import read_path_series
    from planner.viewing.ultrasound import UltrasoundClip

    series, rejected = read_path_series(path)
    headers = [h for group in series.values() for h in group if h.is_image]
    if not headers:
        reason = rejected[0][1] if rejected else "holds no DICOM image"
        raise DicomInputError(rejected[0][0] if rejected else path, reason)
    cines = [h for h in headers if h.n_frames > 1]
    if not cines:
        h = headers[0]
        what = "an ultrasound still image" if h.modality == "US" else f"a {h.modality or 'DICOM'} image series"
        raise DicomInputError(path, f"is {what}, not a cine: twitches need frames over time")
    if len(cines) > 1:
        raise DicomInputError(path, f"holds {len(cines)} cines; give one file")
    header = cines[0]
    if header.modality not in ("US", ""):
        raise DicomInputError(header.path, f"is a {header.modality} multi-frame image, not an ultrasound cine")
    return UltrasoundClip(header)
