"""Cine soak (issue 24): play a 300-frame calibrated cine in the workstation, looping, for 10 minutes, and
report resident memory and the reference count of ``None`` at the start and the end.

A binding that loses references (PySide6-Essentials 6.12.0 on Python 3.11: one per ``QPainter`` call) shows
as a falling ``None`` count and ends in "Fatal Python error: none_dealloc" within two minutes; a leak of
frames or images as resident memory growing with the time played. Targets: no reference to ``None`` lost
beyond noise (300), resident memory growing by at most 50 MB (the highest of the first minute's samples against the
highest of the last minute's, after a first pass through the cine).

    python -m bench.bench_cine_soak                 # 600 s, prints the rows
    python -m bench.bench_cine_soak --seconds 60    # a shorter soak
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NONE_NOISE = 300
GROWTH_MB = 50.0
SAMPLE_S = 5.0


def soak(seconds: float) -> dict:
    from PySide6.QtCore import QEventLoop

    from bench.bench_gui import _app_window, _rss_bytes
    from bench.bench_us_decode import make_cine
    from planner.dicom.header import read_header
    from planner.dicom.loader import load_series

    with tempfile.TemporaryDirectory() as tmp:
        app, window = _app_window(Path(tmp), "mr+us")
        window.show_series(load_series([read_header(make_cine(Path(tmp) / "cine300.dcm"))]))
        cine = window.cine_view
        cine.toggle_play()
        shown = {"frames": 0, "last": -1}

        def play(until: float) -> None:
            while time.monotonic() < until:
                app.processEvents(QEventLoop.AllEvents, 20)
                if cine.player.frame != shown["last"]:
                    shown["last"] = cine.player.frame
                    shown["frames"] += 1

        play(time.monotonic() + 15.0)  # one pass through the cine: its frames cached
        none_start, frames_start, samples = sys.getrefcount(None), shown["frames"], []
        started = time.monotonic()
        while time.monotonic() < started + seconds:
            play(min(time.monotonic() + SAMPLE_S, started + seconds))
            samples.append((time.monotonic() - started, _rss_bytes()))
        played = time.monotonic() - started
        none_end = sys.getrefcount(None)
        # the frame cache's churn moves resident memory by tens of MB either way: the highest sample of the
        # first and of the last minute are compared, so that only growth that lasts counts
        rss_start = max(rss for t, rss in samples if t <= 60.0)
        rss_end = max(rss for t, rss in samples if t >= played - 60.0)
        cine.pause()
        window.close()
    return {
        "seconds": played,
        "frames_shown": shown["frames"] - frames_start,
        "rss_start_mb": rss_start / 2**20,
        "rss_end_mb": rss_end / 2**20,
        "none_start": none_start,
        "none_end": none_end,
    }


def run(seconds: float = 600.0) -> list[dict]:
    from bench.common import row

    out = subprocess.run([sys.executable, "-m", "bench.bench_cine_soak", "probe", str(seconds)], cwd=ROOT,
                         capture_output=True, text=True)
    if out.returncode != 0:
        # the interpreter aborted (none_dealloc) or the window failed: the soak failed, say how
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return [row(f"cine soak {seconds:.0f} s: crashed ({tail[:80]})", float("inf"), None, "absolute", 0.0, "lost")]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    lost = result["none_start"] - result["none_end"]
    growth = result["rss_end_mb"] - result["rss_start_mb"]
    label = (f"cine soak {result['seconds']:.0f} s, {result['frames_shown']} frames: None count "
             f"{result['none_start']} -> {result['none_end']}")
    return [
        row(label, max(0.0, float(lost)), None, "absolute", NONE_NOISE, "references lost"),
        row(f"cine soak: resident memory {result['rss_start_mb']:.0f} -> {result['rss_end_mb']:.0f} MB", growth,
            None, "absolute", GROWTH_MB, "MB"),
    ]


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "probe":
        print(json.dumps(soak(float(sys.argv[2]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    args = parser.parse_args()
    for result in run(args.seconds):
        print(json.dumps(result))


if __name__ == "__main__":
    main()
