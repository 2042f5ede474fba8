"""Random phantom studies: a patient, a finding and a scanner drawn over wide, realistic ranges.

    rng = np.random.default_rng([seed, n])
    phantom_args, study_args = random_study(rng)
    write_demo_study(out, **study_args)        # finding, anatomy, noise, coil field, slices, pixels, turn

The accuracy bench (``bench.accuracy_disc --random``) scores draws from seeds
the spine model's training never used (training: ``training/phantoms.py``).
"""

from __future__ import annotations

import numpy as np

from planner.demo.phantom import Anatomy, Finding

CLASSES = ("normal", "bulge", "protrusion", "extrusion", "sequestration")


def random_finding(rng: np.random.Generator) -> Finding:
    """One L5-S1 finding whose class its geometry makes unambiguous (LDN 2.0): bulges 2-4 mm around the disc;
    protrusions 3-8 mm on a 10-18 mm base; extrusions 5-9 mm with a head 1.6 times their 6-9 mm neck, half of
    them migrating 3-8 mm; sequestered fragments 8-11 mm deep, 3 mm below the disc."""
    kind = CLASSES[int(rng.integers(len(CLASSES)))]
    side = ("left", "right", "central")[int(rng.integers(3))]
    if kind == "normal":
        return Finding("normal", "central", 0.0)
    if kind == "bulge":
        return Finding("bulge", "central", float(rng.uniform(2.0, 4.0)), 0.0)
    if kind == "protrusion":
        return Finding("protrusion", side, float(rng.uniform(3.0, 8.0)), float(rng.uniform(10.0, 18.0)))
    if kind == "extrusion":
        migration = float(rng.uniform(3.0, 8.0)) if rng.random() < 0.5 else 0.0
        return Finding("extrusion", side, float(rng.uniform(5.0, 9.0)), float(rng.uniform(6.0, 9.0)), migration)
    return Finding("sequestration", side, float(rng.uniform(8.0, 11.0)), float(rng.uniform(8.0, 12.0)), float(rng.uniform(9.0, 13.0)))


def random_acquisition(rng: np.random.Generator) -> dict:
    """A sagittal T2 as scanners take it: 0.6-1.2 mm pixels, 3-5 mm slices, Rician noise 1-5 % of full signal, a
    coil field of 0-40 %, the patient turned up to 3 degrees about each axis."""
    pixel = rng.uniform(0.6, 1.2)
    return {
        "sagittal_size": int(round(300.0 / pixel)),
        "sagittal_slice_mm": float(rng.uniform(3.0, 5.0)),
        "noise": float(rng.uniform(0.01, 0.05)),
        "bias": float(rng.uniform(0.0, 0.4)),
        "rotation_deg": tuple(float(v) for v in rng.uniform(-3.0, 3.0, 3)),
    }


def random_study(rng: np.random.Generator) -> dict:
    """``write_demo_study`` arguments of one random patient, finding and scanner (MR only)."""
    return {"finding": random_finding(rng), "anatomy": Anatomy.random(rng), "ultrasound": False, **random_acquisition(rng)}
