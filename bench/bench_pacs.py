"""Issue 6 benchmarks: C-STORE of 200 instances against dcmtk storescu, and building the demo plan's export.

- Sending: our ``store`` and dcmtk ``storescu`` (with TCP_NODELAY=1) send the same 200 MR
  files to the same Orthanc in the same run; the study is deleted from Orthanc between runs
  so both always store anew. Target: at least 0.8x storescu's throughput, i.e. our time at
  most 1.25x its time.
- Building the full export (SR, SEG, key images, KOS, PDF) of the demo plan in memory: under 3 s.

    python -m bench.bench_pacs
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pydicom
from pydicom.uid import generate_uid

from bench.common import row

N_INSTANCES = 200


def _instances(folder: Path, demo: Path) -> list[Path]:
    """200 MR slices (the demo's 384 x 384 sagittal slices, copied with new UIDs into one study)."""
    sources = sorted((demo / "MR").rglob("*.dcm"))
    template = [pydicom.dcmread(p) for p in sources if pydicom.dcmread(p, stop_before_pixels=True).Rows >= 384][:15]
    study, series = generate_uid(), generate_uid()
    paths = []
    for n in range(N_INSTANCES):
        ds = template[n % len(template)]
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.InstanceNumber = n + 1
        path = folder / f"{n:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def run_store(repeats: int = 3) -> dict:
    from planner.demo import write_demo_study
    from planner.pacs.network import store
    from tests.orthanc import OrthancServer

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        write_demo_study(scratch / "demo", cine_frames=2)
        (scratch / "files").mkdir()
        files = _instances(scratch / "files", scratch / "demo")
        study_uid = pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID
        # no fsync per instance in Orthanc: the measurement is of the two senders, not of the disk
        with OrthancServer(scratch / "orthanc", config={"SyncStorageArea": False}) as pacs:
            node = pacs.node

            def clear() -> None:
                found = pacs.rest("/tools/lookup", method="POST", data=study_uid.encode())
                for item in found:
                    pacs.rest(f"/studies/{item['ID']}", method="DELETE")

            def ours() -> float:
                clear()
                start = time.perf_counter()
                results = store(node, files)
                elapsed = time.perf_counter() - start
                assert all(r.ok for r in results), [r.reason for r in results if not r.ok][:3]
                return elapsed

            def storescu() -> float:
                clear()
                environment = dict(os.environ, TCP_NODELAY="1")
                start = time.perf_counter()
                subprocess.run(["storescu", "-aet", node.calling_ae_title, "-aec", node.ae_title, "127.0.0.1",
                                str(node.port), *map(str, files)], check=True, env=environment)
                return time.perf_counter() - start

            ours_s, floor_s = [], []
            for _ in range(repeats):  # interleaved, so both see the same machine
                floor_s.append(storescu())
                ours_s.append(ours())
            assert len(pacs.rest("/instances")) == N_INSTANCES
    best_ours, best_floor = min(ours_s), min(floor_s)
    result = row(f"C-STORE {N_INSTANCES} MR instances to Orthanc (time; target = 0.8x storescu's throughput)",
                 best_ours, best_floor, "dcmtk `storescu`, TCP_NODELAY=1", 1.25)
    result["throughput_ratio"] = round(best_floor / best_ours, 3)
    return result


def run_export(repeats: int = 3) -> dict:
    from planner.demo import write_demo_study
    from planner.export.bundle import build_export, load_export_source
    from planner.plan.planning import plan_study

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        write_demo_study(scratch / "demo", cine_frames=2)
        plan_study(scratch / "demo", "transforaminal-s1", None, scratch / "plan", author="bench")
        source = load_export_source(scratch / "plan" / "plan.json")
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            bundle = build_export(source)
            times.append(time.perf_counter() - start)
        assert len(bundle.datasets) == 6
    return row("build the full export of the demo plan (SR, SEG, 2 key images, KOS, PDF)", min(times), None, "", 3.0)


def run() -> list[dict]:
    if shutil.which("storescu") is None:
        raise SystemExit("bench_pacs needs dcmtk's storescu (scripts/bootstrap.sh --test installs it)")
    return [run_store(), run_export()]


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    for r in run():
        print(r)
