"""Issue 4: ``main.py analyze`` wall time and peak memory on a 15-slice sagittal + 7-slice axial study,
and the seed-click re-segmentation the GUI runs (segmentation from the clicked point + bulge analysis).

The study is the MR part of the demo phantom at the issue's sizes: sagittal
15 x 512 x 512 (0.59 mm) and axial 7 x 384 x 384. Measured as a subprocess,
the way a user runs it (interpreter start and imports included); absolute
targets: under 5 s wall, under 1.5 GB peak resident memory, seed click under 1 s
(in process, as the GUI's worker runs it).
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import row


def _study(out: Path) -> None:
    from planner.demo import write_demo_study

    write_demo_study(out, ultrasound=False, sagittal_size=512, axial_size=384, l5s1_axial_slices=7)


def run() -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        study = Path(tmp) / "study"
        _study(study)
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "main.py", "analyze", str(study), "--out", str(Path(tmp) / "out")], capture_output=True, text=True
            )
            best = min(best, time.perf_counter() - start)
            if done.returncode:
                raise RuntimeError(done.stderr)
        peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
        seed = _seed_click(study)
    return [
        row("analyze 15x512x512 sag + 7x384x384 ax (wall)", best, None, "absolute", 5.0),
        row("analyze peak memory", peak_gb, None, "absolute", 1.5, unit="GB"),
        row("seed-click re-segmentation (segment + classify)", seed, None, "absolute", 1.0),
    ]


def _seed_click(study: Path) -> float:
    import numpy as np

    from planner.disc_model import DiscModel, analyze_volume, resegment_from_seed
    from planner.loader import load_series, read_path_series
    from planner.undo import UndoStack

    series, _ = read_path_series(study / "MR" / "SAG_T2")
    volume = load_series(next(iter(series.values()))).volumes[0]
    model = DiscModel(analyze_volume(volume), UndoStack())
    click = np.asarray(model.levels.level("L5-S1").center_lps) + [3.0, 2.0, 0.0]
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        model.replace_segmentation(resegment_from_seed(model.analysis, click))
        best = min(best, time.perf_counter() - start)
    return best


if __name__ == "__main__":
    for r in run():
        print(r)
