"""Small greyscale/RGB previews of a series for the study browser."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from planner.dicom.header import InstanceHeader
from planner.dicom.pixels import FrameSource, apply_palette
from planner.viewing.display import to_display_uint8

SIZE = 64


def series_thumbnail(headers: Sequence[InstanceHeader], size: int = SIZE) -> np.ndarray | None:
    """A uint8 preview (at most ``size`` pixels on its longer side) of the middle image; None without images."""
    images = sorted((h for h in headers if h.is_image), key=lambda h: (h.instance_number or 0, h.path))
    if not images:
        return None
    header = images[len(images) // 2]
    source = FrameSource(header)
    frame = source.frame(header.n_frames // 2 if header.n_frames > 1 else 0)
    if header.photometric_interpretation == "PALETTE COLOR":
        frame = apply_palette(frame, header)
    pixels = to_display_uint8(frame)
    step = max(1, int(np.ceil(max(pixels.shape[:2]) / size)))
    return np.ascontiguousarray(pixels[::step, ::step])
