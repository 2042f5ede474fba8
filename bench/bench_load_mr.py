"""Load a 20 x 512 x 512 MR series: ours (load_volume) vs SimpleITK.ReadImage on the same files."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from bench.common import best_of, row
from planner.dicom.header import read_header
from planner.volume import load_volume


def run() -> dict:
    from tests.conftest import make_mr_slice

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        paths = [
            str(make_mr_slice(Path(tmp) / f"s{k:02d}.dcm", position=(0, 0, 3.0 * k), instance=k + 1, rows=512, columns=512,
                              pixels=rng.integers(0, 4000, (512, 512))))
            for k in range(20)
        ]

        def floor_read():
            reader = sitk.ImageSeriesReader()
            reader.SetFileNames(paths)
            image = reader.Execute()
            sitk.GetArrayViewFromImage(image)

        def ours():
            volume = load_volume([read_header(p) for p in paths])
            assert volume.shape == (20, 512, 512)

        floor_read()
        floor = best_of(floor_read, 5)
        mine = best_of(ours, 5)
    return row("load 20 x 512 x 512 MR", mine, floor, "SimpleITK ImageSeriesReader on the same files", 1.2)
