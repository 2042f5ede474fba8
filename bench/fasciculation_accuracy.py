"""Fasciculation detection on phantom cines with known events (issue 26 targets).

    python -m bench.fasciculation_accuracy [--quick | --other] [--json FILE]

Each phantom is a 60 s, 30 frames/s, 480 x 640 cine (planner/demo/muscle_cine.py)
with its own speckle, known twitches (0–40/min, 0.15–1 mm, 0.1–0.5 s) and one or
more confounders: probe drift and hand tremor in all, plus a pulsating artery, a
voluntary contraction or a probe slip. A found event matches a true one within
max(0.3 s, half its duration + 0.15 s) and 8 mm. Reports the sensitivity over all
true events, false events per minute on calm muscles (no twitches) and on all.
Targets: sensitivity >= 0.95, <= 0.5 false events per minute on calm muscles.

``--other`` runs five phantoms unlike the tuning ones (25, 50 and 20 frames/s;
0.06 and 0.12 mm pixels; coarse and fine speckle; JPEG q75/q85 and RGB storage;
dark and bright gain): nothing was tuned on them, and the issue's held-out
targets apply (sensitivity >= 0.90, <= 1 false event per minute).
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from planner.demo import muscle_cine as mc

SENSITIVITY_TARGET = 0.95
CALM_FALSE_TARGET = 0.5


def scenarios(quick: bool = False) -> list[tuple[str, mc.Scenario, dict]]:
    """The phantom suite: (name, scenario, storage: none); seeded, the same on every run."""
    g = mc.Geometry()
    out = []

    def add(name, rate, seed, **kw):
        rng = np.random.default_rng(1000 + seed)
        duration = kw.pop("duration_s", 60.0)
        small = kw.pop("small", False)
        twitches = mc.random_twitches(
            rng, rate, duration, g, displacement_mm=(0.15, 0.3) if small else (0.15, 1.0), twitch_duration_s=(0.1, 0.5)
        )
        kw.setdefault("drift_mm_per_s", 0.3)
        kw.setdefault("tremor_mm", 0.05)
        out.append((name, mc.Scenario(duration_s=duration, geometry=g, twitches=twitches, seed=seed, pennation_deg=float(rng.uniform(10, 28)), **kw), {}))

    add("calm", 0, 1)
    add("calm + artery", 0, 2, artery=mc.Artery(30.0, 16.0, radius_mm=2.0, pulse_mm=0.35, rate_hz=1.2))
    add("calm + contraction", 0, 3, contraction=mc.Contraction(20.0, ramp_s=1.0, hold_s=3.0, strain=0.05))
    add("calm + slip", 0, 4, slip=mc.Slip(30.0, 4.0))
    add("10/min", 10, 5)
    add("20/min + artery", 20, 6, artery=mc.Artery(12.0, 20.0, radius_mm=2.5, pulse_mm=0.3, rate_hz=1.0))
    add("40/min", 40, 7)
    add("20/min small (0.15-0.3 mm)", 20, 8, small=True)
    add("30/min + contraction", 30, 9, contraction=mc.Contraction(25.0, ramp_s=0.8, hold_s=2.0, strain=0.04))
    add("20/min + slip", 20, 10, slip=mc.Slip(40.0, 3.0))
    add("5/min strong tremor", 5, 11, tremor_mm=0.15, drift_mm_per_s=0.6)
    add("calm strong tremor", 0, 12, tremor_mm=0.15, drift_mm_per_s=0.6)
    if quick:
        return [out[i] for i in (0, 1, 4, 7)]
    return out


def other_scanners() -> list[tuple[str, mc.Scenario, dict]]:
    """Phantoms unlike the ones the thresholds were set on: other frame rates, pixel sizes, speckle, gain,
    JPEG compression and RGB storage (name, scenario, how the frames are stored)."""
    out = []

    def add(name, rate, seed, geometry, store, **kw):
        rng = np.random.default_rng(2000 + seed)
        twitches = mc.random_twitches(rng, rate, 60.0, geometry, fascia_mm=kw.get("fascia_mm", 5.5), aponeurosis_mm=kw.get("aponeurosis_mm", 27.0))
        kw.setdefault("drift_mm_per_s", 0.3)
        kw.setdefault("tremor_mm", 0.05)
        out.append((name, mc.Scenario(duration_s=60.0, geometry=geometry, twitches=twitches, seed=100 + seed, **kw), store))

    coarse = mc.Geometry(rows=420, columns=560, region=(30, 20, 529, 399), delta_mm=0.12)
    fine = mc.Geometry(rows=600, columns=800, region=(50, 40, 749, 559), delta_mm=0.06)
    add("25/s, 0.12 mm, coarse speckle, JPEG q75, 15/min", 15, 1, coarse, {"jpeg": 75}, frame_rate_hz=25.0,
        speckle_mm=(0.4, 0.2), noise=0.1, aponeurosis_mm=30.0)
    add("25/s, 0.12 mm, coarse speckle, JPEG q75, calm", 0, 2, coarse, {"jpeg": 75}, frame_rate_hz=25.0,
        speckle_mm=(0.4, 0.2), noise=0.1, aponeurosis_mm=30.0, artery=mc.Artery(25.0, 18.0, 2.5, 0.4, 1.3))
    add("50/s, 0.06 mm, fine speckle, RGB, 20/min", 20, 3, fine, {"rgb": True}, frame_rate_hz=50.0,
        speckle_mm=(0.18, 0.09), fascia_mm=4.0, aponeurosis_mm=22.0, tremor_mm=0.1)
    add("20/s, dark gain 0.6, gamma 0.45, 10/min + contraction", 10, 4, mc.Geometry(), {}, frame_rate_hz=20.0,
        gain=0.6, gamma=0.45, contraction=mc.Contraction(30.0, 0.7, 2.5, 0.05))
    add("30/s, bright gain 1.6, noisy, calm + slip", 0, 5, mc.Geometry(), {"jpeg": 85}, gain=1.6, noise=0.15, slip=mc.Slip(25.0, 5.0))
    return out


def match(truth: list[mc.Twitch], found: list[dict], origin_x_mm: float, pairs: list | None = None) -> tuple[int, list[dict]]:
    """(true events found, false events). ``found``: event dicts with time_s, x_mm (from the face centre), depth_mm.
    ``pairs`` collects (true twitch, found event) when given."""
    used: set[int] = set()
    hits = 0
    for tw in truth:
        for j, e in enumerate(found):
            if j in used:
                continue
            near_t = abs(e["time_s"] - tw.time_s) <= max(0.3, tw.duration_s / 2 + 0.15)
            near_x = np.hypot(e["x_mm"] + origin_x_mm - tw.x_mm, e["depth_mm"] - tw.depth_mm) <= 8.0
            if near_t and near_x:
                used.add(j)
                hits += 1
                if pairs is not None:
                    pairs.append((tw, e))
                break
    return hits, [e for j, e in enumerate(found) if j not in used]


def _stored(frame: np.ndarray, store: dict) -> np.ndarray:
    import cv2

    if store.get("jpeg"):
        frame = cv2.imdecode(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, store["jpeg"]])[1], cv2.IMREAD_GRAYSCALE)
    if store.get("rgb"):
        frame = np.repeat(frame[..., None], 3, axis=2)
    return frame


def run_one(item) -> dict:
    from planner.fasciculation.analysis import CineFrames, analyse
    from planner.viewing.us_calibration import UltrasoundRegion

    name, sc, store = item
    g = sc.geometry
    frames = np.stack([_stored(f, store) for f in mc.frames(sc)])
    x0, y0, x1, y1 = g.region
    half = (x1 - x0) // 2
    region = UltrasoundRegion(1, 1, g.region, "cm", "cm", g.delta_mm / 10, g.delta_mm / 10, (half, 0), (0.0, 0.0))
    cine = CineFrames(len(frames), np.arange(len(frames)) * sc.frame_time_ms, lambda i: frames[i], frames.shape[1:], region, "gastrocnemius")
    start = time.perf_counter()
    findings = analyse(cine)
    seconds = time.perf_counter() - start
    found = [e.to_json() for e in findings.events]
    pairs: list = []
    hits, false = match(sc.twitches, found, half * g.delta_mm, pairs)
    return {
        "name": name,
        "true": len(sc.twitches),
        "found": hits,
        "false": len(false),
        "false_events": [{"time_s": e["time_s"], "displacement_mm": e["displacement_mm"]} for e in false],
        "minutes": findings.analysed_s / 60.0,
        "calm": not sc.twitches,
        "rate_per_min": round(findings.rate_per_min, 1),
        "warnings": findings.warnings,
        "seconds": round(seconds, 1),
        "size_ratios": [e["displacement_mm"] / tw.displacement_mm for tw, e in pairs],
        "time_errors": [abs(e["time_s"] - tw.time_s) for tw, e in pairs],
        "place_errors": [float(np.hypot(e["x_mm"] + half * g.delta_mm - tw.x_mm, e["depth_mm"] - tw.depth_mm)) for tw, e in pairs],
    }


def main(argv: list[str]) -> int:
    suite = other_scanners() if "--other" in argv else scenarios("--quick" in argv)
    with ProcessPoolExecutor(max_workers=2) as pool:
        rows = list(pool.map(run_one, suite))
    print("| phantom | true | found | false | rate/min | warnings |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['name']} | {r['true']} | {r['found']} | {r['false']} | {r['rate_per_min']} | {'; '.join(w.split(':')[0] for w in r['warnings'])} |")
    true = sum(r["true"] for r in rows)
    found = sum(r["found"] for r in rows)
    calm_false = sum(r["false"] for r in rows if r["calm"])
    calm_min = sum(r["minutes"] for r in rows if r["calm"])
    all_false = sum(r["false"] for r in rows)
    all_min = sum(r["minutes"] for r in rows)
    sensitivity = found / true if true else 1.0
    calm_rate = calm_false / calm_min if calm_min else 0.0
    print(
        f"\nsensitivity {found}/{true} = {sensitivity:.3f} (target >= {SENSITIVITY_TARGET}); false events {calm_rate:.2f}/min on calm muscles "
        f"(target <= {CALM_FALSE_TARGET}), {all_false / all_min:.2f}/min on all"
    )
    ratios = np.concatenate([r["size_ratios"] for r in rows if r["size_ratios"]] or [np.zeros(0)])
    times = np.concatenate([r["time_errors"] for r in rows if r["time_errors"]] or [np.zeros(0)])
    places = np.concatenate([r["place_errors"] for r in rows if r["place_errors"]] or [np.zeros(0)])
    if len(ratios):
        print(
            f"found events: displacement measured / true median {np.median(ratios):.2f} (10-90 %: {np.percentile(ratios, 10):.2f}-"
            f"{np.percentile(ratios, 90):.2f}); peak time error median {1000 * np.median(times):.0f} ms; "
            f"site error median {np.median(places):.1f} mm"
        )
    for r in rows:
        if r["false_events"]:
            print(f"  {r['name']}: false at {r['false_events']}")
    if "--json" in argv:
        with open(argv[argv.index("--json") + 1], "w") as fp:
            json.dump(rows, fp, indent=1)
    return 0 if sensitivity >= SENSITIVITY_TARGET and calm_rate <= CALM_FALSE_TARGET else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
