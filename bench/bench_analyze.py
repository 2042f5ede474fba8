"""Issues 4 and 23: ``main.py analyze`` wall time and peak memory, and the seed-click re-segmentation the GUI
runs (segmentation from the clicked point + bulge analysis).

Two studies: the MR part of the demo phantom at issue 4's sizes (sagittal
15 x 512 x 512, 0.59 mm, and axial 7 x 384 x 384) and a real one of issue 23's
size (``../shared/lumbar-mri/vb2-05``: 77 x 381 x 381, 1 mm). Measured as a
subprocess, the way a user runs it (interpreter start, imports and the model's
first load included); absolute targets: under 5 s wall, under 1.5 GB peak
resident memory, seed click under 1 s (in process, as the GUI's worker runs it).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import row


def _study(out: Path) -> None:
    from planner.demo import write_demo_study

    write_demo_study(out, ultrasound=False, sagittal_size=512, axial_size=384, l5s1_axial_slices=7)


REAL = Path(__file__).resolve().parents[2] / "shared" / "lumbar-mri" / "vb2-05" / "dicom" / "sag_t2"


def _analyze(study: Path, out: Path) -> tuple[float, float]:
    """(best wall time of 3 runs, peak resident GB of one run) of ``main.py analyze`` in a child process."""
    best, peak = float("inf"), 0.0
    for _ in range(3):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, "analyze", str(study), "--out", str(out)], capture_output=True, text=True
        )
        best = min(best, time.perf_counter() - start)
        if done.returncode:
            raise RuntimeError(done.stderr)
        peak = max(peak, float(done.stdout.strip().splitlines()[-1]))
    return best, peak


#: main.py analyze, then its own peak resident memory (GB) on the last line: VmHWM, the high-water mark of
#: this process's own memory (ru_maxrss would carry over the parent's resident size across fork and exec)
_CHILD = (
    "import sys; from planner.cli import main; code = main(sys.argv[1:]); "
    "print(next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:')) / 1024**2); sys.exit(code)"
)


def run() -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        study = Path(tmp) / "study"
        _study(study)
        phantom_s, phantom_gb = _analyze(study, Path(tmp) / "out")
        real_s, real_gb = _analyze(REAL, Path(tmp) / "out-real")
        seed = _seed_click(study / "MR" / "SAG_T2")
        seed_real = _seed_click(REAL)
    return [
        row("analyze 15x512x512 sag + 7x384x384 ax (wall)", phantom_s, None, "absolute", 5.0),
        row("analyze peak memory (that phantom)", phantom_gb, None, "absolute", 1.5, unit="GB"),
        row("analyze real 77x381x381 sagittal, vb2-05 (wall)", real_s, None, "absolute", 5.0),
        row("analyze peak memory (vb2-05)", real_gb, None, "absolute", 1.5, unit="GB"),
        row("seed-click re-segmentation (segment + classify), phantom", seed, None, "absolute", 1.0),
        row("seed-click re-segmentation (segment + classify), vb2-05", seed_real, None, "absolute", 1.0),
    ]


def _seed_click(folder: Path) -> float:
    import numpy as np

    from planner.dicom.loader import load_series, read_path_series
    from planner.disc.model import DiscModel, analyze_volume, resegment_from_seed
    from planner.undo import UndoStack

    series, _ = read_path_series(folder)
    volume = load_series(next(iter(series.values()))).volumes[0]
    model = DiscModel(analyze_volume(volume), UndoStack())
    click = np.asarray(model.levels.level("L5-S1").center_lps) + [3.0, 2.0, 0.0]  # 3 mm left, 2 mm behind the centre
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        model.replace_segmentation(resegment_from_seed(model.analysis, click))
        best = min(best, time.perf_counter() - start)
    return best


if __name__ == "__main__":
    for r in run():
        print(r)
