"""Workstation benchmarks (issue 3), each in a fresh process under the current X display (Xvfb in CI).

- start-up: from launching ``main.py --demo`` to the demo study rendered in the 2x2 layout (target 3 s);
- scroll: 100 scripted steps through a 20 x 512 x 512 MR with three linked views, render included
  (target 30 ms per step);
- memory: resident memory added by opening a 300-frame cine and a 20-slice MR and showing every
  frame, against their decoded size (target 2x).

    python -m bench.bench_gui            # prints the three rows
    python -m bench.bench_gui probe MODE # one measurement (used by run())
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fp:
        return int(fp.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _app_window(tmp: Path, layout: str):
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from planner.dicom.database import StudyDatabase
    from ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    db = StudyDatabase(tmp / "db.sqlite")
    window = MainWindow(db, layout=layout, settings=QSettings(str(tmp / "s.ini"), QSettings.IniFormat))
    window.resize(1500, 900)
    window.show()
    for _ in range(5):
        app.processEvents()
    return app, window


def _mr_stack(folder: Path) -> list:
    import numpy as np

    from planner.dicom.header import read_header
    from tests.conftest import make_mr_slice

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [
        make_mr_slice(folder / f"s{k:02d}.dcm", position=(0, 0, 3.0 * k), instance=k + 1, rows=512, columns=512,
                      pixels=rng.integers(0, 4000, (512, 512)))
        for k in range(20)
    ]
    return [read_header(p) for p in paths]


def probe_scroll(tmp: Path) -> dict:
    from planner.dicom.loader import load_series
    from planner.viewing.mpr import View

    headers = _mr_stack(tmp / "mr")
    app, window = _app_window(tmp, "1x3")
    window.show_series(load_series(headers))
    app.processEvents()
    axial = window.slice_views[View.AXIAL]
    for _ in range(5):  # warm-up
        axial.scroll(1)
        app.processEvents()
    times = []
    for step in range(100):
        start = time.perf_counter()
        axial.scroll(1 if (step // 10) % 2 == 0 else -1)  # up and down through the stack
        app.processEvents()
        times.append(time.perf_counter() - start)
    window.close()
    times.sort()
    return {"mean_ms": 1000 * sum(times) / len(times), "p95_ms": 1000 * times[94]}


def probe_memory(tmp: Path) -> dict:
    import numpy as np

    from bench.bench_us_decode import make_cine
    from planner.dicom.header import read_header
    from planner.dicom.loader import load_series

    headers = _mr_stack(tmp / "mr")
    cine_header = read_header(make_cine(tmp / "cine300.dcm"))
    app, window = _app_window(tmp, "mr+us")
    before = _rss_bytes()
    mr = load_series(headers)
    window.show_series(mr)
    cine = load_series([cine_header])
    window.show_series(cine)
    clip = cine.clips[0]
    for index in range(clip.n_frames):
        window.cine_view.show_frame(index)
        app.processEvents()
    after = _rss_bytes()
    decoded = mr.volumes[0].array.nbytes + clip.n_frames * int(np.prod(clip.frame(0).shape))
    window.close()
    return {"added_bytes": after - before, "decoded_bytes": decoded}


def _probe(mode: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        if mode == "scroll":
            return probe_scroll(Path(tmp))
        if mode == "memory":
            return probe_memory(Path(tmp))
    raise ValueError(mode)


def _run_probe(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.bench_gui", "probe", mode], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _startup_seconds(data_home: Path) -> float:
    """Launch ``main.py --demo`` and read the monotonic time the app reports at its first full render."""
    env = {**os.environ, "XDG_DATA_HOME": str(data_home), "SPINE_PLANNER_TIMING": "1"}
    shot = data_home / "shot.png"
    launched = time.monotonic()
    out = subprocess.run([sys.executable, "main.py", "--demo", "--screenshot", str(shot), "--layout", "2x2"],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    rendered = [float(line.split("=")[1]) for line in out.stdout.splitlines() if line.startswith("first-render-monotonic=")]
    return rendered[0] - launched


def run() -> list[dict]:
    from bench.common import row

    with tempfile.TemporaryDirectory() as tmp:
        data_home = Path(tmp)
        _startup_seconds(data_home)  # first start writes and imports the demo study (not timed)
        startup = min(_startup_seconds(data_home) for _ in range(3))
    scroll = _run_probe("scroll")
    memory = _run_probe("memory")
    return [
        row("start to first rendered demo study (2x2)", startup, None, "absolute target", 3.0),
        row("scroll 512 x 512, three linked views, per step", scroll["mean_ms"], None, "absolute target", 30.0, unit="ms"),
        row("memory: 300-frame cine + 20-slice MR opened", memory["added_bytes"] / 1e6, memory["decoded_bytes"] / 1e6,
            "decoded size of both (MB)", 2.0, unit="MB"),
    ]


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "probe":
        print(json.dumps(_probe(sys.argv[2])))
    else:
        for r in run():
            print(r)
