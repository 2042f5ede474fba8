"""Decode a 300-frame JPEG-baseline ultrasound cine: ours (UltrasoundClip) vs bare pydicom iter_pixels.

Also reports peak memory of our decode relative to one decoded copy (target < 1.5x).
"""

from __future__ import annotations

import tempfile
import tracemalloc
from pathlib import Path

import numpy as np
import pydicom
from pydicom.pixels import iter_pixels

from bench.common import best_of, row
from planner.dicom.header import read_header
from planner.viewing.ultrasound import UltrasoundClip

SOURCE_NOTE = "300 frames re-encapsulated from the SonoSite JPEG-baseline cine in ../shared"


def make_cine(path: Path) -> Path:
    from pydicom.encaps import encapsulate, generate_frames

    src = Path(__file__).resolve().parent.parent.parent / "shared" / "dicom-samples" / "ultrasound" / "pydicom-data__color3d_jpeg_baseline.dcm"
    ds = pydicom.dcmread(src)
    frames = list(generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames)))
    frames = (frames * 3)[:300]
    ds.PixelData = encapsulate(frames, has_bot=True)
    ds.NumberOfFrames = 300
    ds.save_as(path, enforce_file_format=True)
    return path


def run() -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        path = make_cine(Path(tmp) / "cine300.dcm")
        clip = UltrasoundClip(read_header(path))
        shape = (300, *clip.frame(0).shape)

        def floor_decode():
            out = np.empty(shape, np.uint8)
            for i, frame in enumerate(iter_pixels(path)):
                out[i] = frame

        def ours():
            c = UltrasoundClip(read_header(path))
            out = np.empty(shape, np.uint8)
            for i in range(c.n_frames):
                out[i] = c.frame(i)

        floor_decode()
        floor = best_of(floor_decode)
        mine = best_of(ours)
        one_copy = int(np.prod(shape))
        tracemalloc.start()
        ours()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return [
        row("decode 300-frame JPEG US cine", mine, floor, "pydicom iter_pixels into the same array", 1.2),
        {**row("peak memory of that decode", peak / one_copy, 1.0, "one decoded copy", 1.5, unit="x"), "ours": round(peak / 1e6, 1), "floor": round(one_copy / 1e6, 1), "unit": "MB"},
    ]
