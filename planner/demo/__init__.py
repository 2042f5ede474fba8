"""The bundled demo study: ``python main.py demo-data OUT``.

Writes, for one synthetic patient and one study (deterministic for a seed):

* ``MR/SAG_T2``: sagittal T2 of L1 to the sacral tip, 15 slices x 4 mm;
* ``MR/AX_T2_L4L5`` and ``MR/AX_T2_L5S1``: axial T2 blocks angled along each disc,
  7 slices x 4 mm (L4-L5) and 13 slices x 4 mm over 260 mm (L5-S1: wide enough for
  the iliac crests and the skin, so needle paths can be checked); all MR share one
  Frame of Reference;
* ``US/GASTROCNEMIUS``: calibrated B-mode cine (30 frames/s, speckle moving with
  the tissue, probe drift and hand tremor; :mod:`planner.demo.muscle_cine`) of the
  medial gastrocnemius with fasciculations of several sizes at known times and
  sites, and ``US/RECTUS_FEMORIS``: a calm control muscle (femoral nerve, L2-L4:
  not supplied by the sacral roots) with a pulsating artery; 60 s each by default
  (``cine_frames``), JPEG baseline when longer than 10 s;
* ``US/SACRUM``: a calibrated transverse image over the posterior sacrum (S1 foramen);
* ``truth/``: ``truth.json`` (finding parameters, landmark positions in LPS,
  twitch times) and ``<series>_labels.npz`` masks on each MR grid.

Every object conforms to its IOD (checked with dciodvfy in the tests).
"""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np

from planner.demo import ultrasound_phantom as usp
from planner.demo.phantom import Anatomy, Finding, SpinePhantom
from planner.demo.writer import DemoWriter, MRGrid

#: bumped whenever the phantom changes, so that a cached demo study is written again
DEMO_VERSION = 3
DEMO_PATIENT = {"name": "DEMO^LUMBAR", "id": "DEMO-0001", "birth_date": "19700101", "sex": "F"}
#: the gastrocnemius' fasciculations: (peak time s, duration s, lateral mm from the region's left edge,
#: depth mm, peak displacement mm, radius mm); about 15 per minute, at several sites and sizes
DEMO_TWITCHES = (
    (0.8, 0.25, 20.0, 14.0, 0.6, 3.0),
    (2.1, 0.15, 9.0, 10.0, 0.35, 2.5),
    (3.6, 0.35, 30.0, 18.0, 0.9, 3.5),
    (7.4, 0.2, 14.0, 20.0, 0.25, 2.5),
    (11.2, 0.3, 26.0, 12.0, 0.5, 3.0),
    (15.9, 0.12, 18.0, 16.0, 0.3, 2.0),
    (19.0, 0.4, 33.0, 9.0, 0.7, 3.5),
    (23.5, 0.2, 8.0, 19.0, 0.45, 3.0),
    (27.1, 0.25, 22.0, 11.0, 0.2, 2.5),
    (31.8, 0.3, 12.0, 15.0, 0.8, 4.0),
    (35.2, 0.15, 29.0, 21.0, 0.4, 2.5),
    (39.7, 0.45, 17.0, 13.0, 0.55, 3.0),
    (44.3, 0.2, 31.0, 16.0, 0.3, 2.5),
    (48.6, 0.3, 10.0, 12.0, 0.65, 3.5),
    (53.0, 0.25, 24.0, 19.0, 0.5, 3.0),
    (57.4, 0.2, 15.0, 9.5, 0.35, 2.5),
)
TWITCH_TIMES_S = tuple(t[0] for t in DEMO_TWITCHES)


def demo_muscle_scenarios(n_frames: int, frame_time_ms: float = 1000.0 / 30.0):
    """(gastrocnemius, control) scenarios of the demo's cines, ``n_frames`` long."""
    from planner.demo import muscle_cine as mc

    geometry = mc.Geometry(rows=usp.ROWS, columns=usp.COLUMNS, region=usp.REGION, delta_mm=usp.DELTA_MM)
    duration = n_frames * frame_time_ms / 1000.0
    twitches = [mc.Twitch(t, d, x, z, a, r) for t, d, x, z, a, r in DEMO_TWITCHES if t + d / 2 < duration]
    common = dict(duration_s=duration, frame_rate_hz=1000.0 / frame_time_ms, geometry=geometry, drift_mm_per_s=0.2, tremor_mm=0.04,
                  fascia_mm=5.3, aponeurosis_mm=24.3)
    gastrocnemius = mc.Scenario(twitches=twitches, seed=11, pennation_deg=22.0, **common)
    control = mc.Scenario(twitches=[], seed=12, pennation_deg=12.0, artery=mc.Artery(28.0, 17.0, 1.8, 0.3, 1.1), **common)
    return gastrocnemius, control


def write_demo_study(
    out: str | os.PathLike,
    seed: int = 7,
    finding: Finding | None = None,
    noise: float = 0.03,
    bias: float = 0.25,
    dark_disc: bool = False,
    high_crests: bool = False,
    lumbarised_s1: bool = False,
    rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0),
    cine_frames: int = 1800,
    ultrasound: bool = True,
    sagittal_size: int = 384,
    sagittal_slice_mm: float = 4.0,
    axial_size: int = 320,
    l5s1_axial_slices: int = 13,
    anatomy: Anatomy | None = None,
) -> dict:
    """Write the demo study under ``out`` and return the ground truth (also in ``out/truth/truth.json``)."""
    out = Path(out)
    finding = finding or Finding()
    rng = np.random.default_rng(seed)
    phantom = SpinePhantom(
        finding=finding,
        dark_disc=dark_disc,
        high_crests=high_crests,
        rotation_deg=tuple(rotation_deg),
        lumbarised_s1=lumbarised_s1,
        anatomy=anatomy or Anatomy(),
    )
    writer = DemoWriter(out, seed=seed, patient=DEMO_PATIENT, study_date=datetime.date(2026, 11, 2))
    truth: dict = {
        "demo_version": DEMO_VERSION,
        "seed": seed,
        "finding": asdict(finding),
        "dark_disc": dark_disc,
        "high_crests": high_crests,
        "lumbarised_s1": lumbarised_s1,
        "rotation_deg": list(rotation_deg),
        "noise": noise,
        "bias": bias,
        "sagittal_slice_mm": sagittal_slice_mm,
        "sagittal_pixel_mm": 300.0 / sagittal_size,
        "anatomy_random": anatomy is not None,
        "levels": {},
        "series": {},
    }
    for name, disc in phantom.discs.items():
        truth["levels"][name] = {
            "center_lps": phantom.to_patient(disc.centre).round(3).tolist(),
            "normal_lps": phantom.direction_to_patient(disc.axis).round(5).tolist(),
            "height_mm": 2 * disc.half_height,
        }
    truth["s1_foramen_lps"] = {side: phantom.s1_foramen_lps(side).round(3).tolist() for side in ("left", "right")}
    (out / "truth").mkdir(parents=True, exist_ok=True)

    # ---- sagittal T2, L1 to the sacral tip: rows run superior -> inferior, columns anterior -> posterior
    centre_z = 40.0
    sagittal = MRGrid(
        name="SAG_T2",
        description="SAG T2 TSE",
        series_number=2,
        rows=sagittal_size,
        columns=sagittal_size,
        n_slices=int(round(60.0 / sagittal_slice_mm)),  # 60 mm across, the 4 mm default's 15 slices
        pixel_mm=300.0 / sagittal_size,
        slice_mm=sagittal_slice_mm,
        row_dir=(0.0, 1.0, 0.0),
        col_dir=(0.0, 0.0, -1.0),
        centre=(0.0, 20.0, centre_z),
    )
    grids = [sagittal]
    # the L5-S1 block is wide enough for the iliac crests and the posterior skin (needle paths)
    for number, level, fov_mm, behind_mm, n_slices in ((3, "L4-L5", 200.0, 25.0, 7), (4, "L5-S1", 260.0, 45.0, l5s1_axial_slices)):
        disc = phantom.discs[level]  # the axial block is angled along the (rotated) disc
        posterior = phantom.direction_to_patient(disc.posterior)
        disc_centre = phantom.to_patient(disc.centre)
        grids.append(
            MRGrid(
                name=f"AX_T2_{level.replace('-', '')}",
                description=f"AX T2 TSE {level}",
                series_number=number,
                rows=axial_size,
                columns=axial_size,
                n_slices=n_slices,
                pixel_mm=fov_mm / axial_size,
                slice_mm=4.0,
                row_dir=tuple(float(v) for v in phantom.direction_to_patient((1.0, 0.0, 0.0))),
                col_dir=tuple(float(v) for v in posterior),
                centre=tuple(float(v) for v in disc_centre + posterior * behind_mm),
            )
        )
    for grid in grids:
        image, labels = writer.sample_mr(grid, phantom, rng, noise=noise, bias=bias)
        writer.write_mr_series(grid, image)
        np.savez_compressed(out / "truth" / f"{grid.name}_labels.npz", **{k: v for k, v in labels.items()})
        truth["series"][grid.name] = writer.series_truth(grid)

    truth["study_instance_uid"] = writer.study_instance_uid
    truth["frame_of_reference_uid"] = writer.frame_of_reference_uid
    if not ultrasound:  # MR only (analysis tests)
        (out / "truth" / "truth.json").write_text(json.dumps(truth, indent=2))
        return truth

    # ---- ultrasound
    frame_time_ms = 1000.0 / 30.0
    from planner.demo import muscle_cine as mc

    gastrocnemius, control = demo_muscle_scenarios(cine_frames, frame_time_ms)
    encoding = "jpeg" if cine_frames > 300 else "native"
    writer.write_us_cine("GASTROCNEMIUS", "US MSK Gastrocnemius medial head, cine", 10, mc.frames(gastrocnemius), frame_time_ms,
                         gastrocnemius.geometry, encoding)
    writer.write_us_cine("RECTUS_FEMORIS", "US MSK Rectus femoris (control), cine", 11, mc.frames(control), frame_time_ms,
                         control.geometry, encoding)
    twitches = [t.time_s for t in gastrocnemius.twitches]
    sacrum, sacrum_truth = usp.sacrum_frame(rng)
    writer.write_us_image("SACRUM", "US Posterior sacrum S1 foramen, transverse", 12, sacrum)
    truth["ultrasound"] = {
        "delta_mm": usp.DELTA_MM,
        "region_px": list(usp.REGION),
        "frame_time_ms": frame_time_ms,
        "twitch_times_s": twitches,
        "twitches": mc.scenario_truth(gastrocnemius)["twitches"],
        "twitch_muscle": "GASTROCNEMIUS",
        "control_muscle": "RECTUS_FEMORIS",
        "sacrum": sacrum_truth,
    }
    truth["study_instance_uid"] = writer.study_instance_uid
    truth["frame_of_reference_uid"] = writer.frame_of_reference_uid
    (out / "truth" / "truth.json").write_text(json.dumps(truth, indent=2))
    return truth
