"""Speed of the fasciculation analysis (issue 26): a 60 s, 30 frames/s, 480 x 640 cine.

    python -m bench.bench_fasciculation [--encoding native|jpeg]

Writes a phantom cine as DICOM (JPEG baseline by default: what scanners export),
then, in a fresh process each, measures:

* analysis time against the cine's own duration (the floor: real time);
  targets <= 1/3 of real time and <= 20 s absolute;
* resident memory the analysis adds (peak minus after opening the cine), target <= 1 GB;
* the longest gap between progress reports, target <= 1 s;
* how long Cancel takes to stop the analysis, target <= 0.5 s.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common import row

DURATION_S = 60.0


def write_cine(folder: Path, encoding: str = "jpeg") -> Path:
    import datetime

    import numpy as np

    from planner.demo import DEMO_PATIENT
    from planner.demo import muscle_cine as mc
    from planner.demo.writer import DemoWriter

    rng = np.random.default_rng(26)
    geometry = mc.Geometry()
    scenario = mc.Scenario(
        duration_s=DURATION_S, geometry=geometry, twitches=mc.random_twitches(rng, 20, DURATION_S, geometry), drift_mm_per_s=0.3, tremor_mm=0.05, seed=26
    )
    writer = DemoWriter(folder, seed=26, patient=DEMO_PATIENT, study_date=datetime.date(2026, 12, 2))
    return writer.write_us_cine("BENCH", "US MSK Gastrocnemius medial head, cine", 1, mc.frames(scenario), scenario.frame_time_ms, geometry, encoding)


def _rss_mb() -> float:
    from bench.bench_gui import _rss_bytes

    return _rss_bytes() / 2**20


def _measure(path: str, queue) -> None:
    from planner.fasciculation.analysis import analyse_clip
    from planner.fasciculation.source import open_cine

    clip = open_cine(path)
    clip.frame(0)
    base = _rss_mb()
    # sampled, not ru_maxrss: a spawned child inherits its parent's high-water mark across exec on Linux
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mb())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    stamps: list[float] = []
    start = time.perf_counter()
    findings = analyse_clip(clip, progress=lambda done, total, text: stamps.append(time.perf_counter()))
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    peak = peak[0]
    marks = [start] + stamps + [start + seconds]
    gap = max(b - a for a, b in zip(marks, marks[1:]))
    queue.put({"seconds": seconds, "added_mb": peak - base, "gap": gap, "events": len(findings.events), "duration": findings.duration_s})


def _cancel(path: str, queue) -> None:
    from planner.errors import OperationCancelled
    from planner.fasciculation.analysis import analyse_clip
    from planner.fasciculation.source import open_cine
    from planner.progress import CancelToken

    clip = open_cine(path)
    token = CancelToken()
    stopped: list[float] = []

    def work():
        try:
            analyse_clip(clip, cancel=token)
        except OperationCancelled:
            stopped.append(time.perf_counter())

    thread = threading.Thread(target=work)
    thread.start()
    time.sleep(3.0)
    asked = time.perf_counter()
    token.cancel()
    thread.join()
    queue.put({"latency": (stopped[0] - asked) if stopped else float("inf")})


def _in_child(target, path: str) -> dict:
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(path, queue))
    process.start()
    result = queue.get(timeout=600)
    process.join()
    return result


def run(encoding: str = "jpeg") -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        path = str(write_cine(Path(tmp), encoding))
        speed = _in_child(_measure, path)
        cancel = _in_child(_cancel, path)
    label = f"fasciculations: 60 s cine 480x640 at 30/s ({encoding})"
    return [
        row(label, speed["seconds"], speed["duration"], "the cine's real time", 1 / 3),
        row(f"{label}, absolute", speed["seconds"], None, "", 20.0),
        row("fasciculations: memory added", speed["added_mb"], None, "", 1024.0, "MB"),
        row("fasciculations: longest gap between progress reports", speed["gap"], None, "", 1.0),
        row("fasciculations: Cancel to stop", cancel["latency"], None, "", 0.5),
    ]


if __name__ == "__main__":
    enc = sys.argv[sys.argv.index("--encoding") + 1] if "--encoding" in sys.argv else "jpeg"
    for r in run(enc):
        print(json.dumps(r))
