"""Index 2,000 headers: ours (read_header + SQLite) vs a bare pydicom.dcmread(stop_before_pixels=True) loop."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pydicom

from bench.common import best_of, row
from planner.dicom.database import StudyDatabase
from planner.dicom.importer import import_paths


def make_files(folder: Path, n: int = 2000) -> list[Path]:
    from tests.conftest import make_mr_slice

    paths = []
    for k in range(n):
        series = f"1.2.826.0.1.3680043.8.498.{100 + k // 100}"
        paths.append(make_mr_slice(folder / f"f{k:05d}.dcm", position=(0, 0, 2.0 * (k % 100)), series_uid=series, instance=k % 100 + 1, rows=64, columns=64))
    return paths


def run() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "files"
        folder.mkdir()
        paths = make_files(folder)

        def bare():
            for p in paths:
                pydicom.dcmread(p, stop_before_pixels=True)

        counter = iter(range(100))

        def ours():
            db = StudyDatabase(Path(tmp) / f"db{next(counter)}.sqlite")
            report = import_paths([folder], db)
            assert report.n_indexed == len(paths)
            db.close()

        bare()  # warm the page cache for both
        floor = best_of(bare, 5)
        mine = best_of(ours, 5)
    return row("index 2,000 headers", mine, floor, "pydicom.dcmread(stop_before_pixels=True) loop", 1.3)
