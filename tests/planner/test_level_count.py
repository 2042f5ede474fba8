"""Counting the levels from the sacrum, and saying when the count is doubtful (issue 4), on phantoms."""

from __future__ import annotations

import json

import numpy as np
import pytest

from planner.demo import write_demo_study
from planner.demo.phantom import Finding
from planner.dicom.loader import load_series, read_path_series
from planner.disc.levels import LevelError, find_levels
from planner.volume import Volume

DISC_LIKE = "S1-S2 junction looks disc-like"


def _sagittal(study) -> Volume:
    series, rejected = read_path_series(study / "MR" / "SAG_T2")
    assert not rejected
    (headers,) = series.values()
    return load_series(headers).volumes[0]


def _above(volume: Volume, z_mm: float) -> Volume:
    """The rows of a sagittal ``volume`` whose centres lie above ``z_mm`` (LPS S): a field of view ending there."""
    rows = np.arange(volume.shape[1])
    z = (volume.image_to_lps @ np.stack([np.zeros_like(rows), rows, np.zeros_like(rows), np.ones_like(rows)]))[2]
    kept = np.nonzero(z > z_mm)[0]
    first, last = int(kept.min()), int(kept.max())
    affine = volume.image_to_lps.copy()
    affine[:3, 3] = (volume.image_to_lps @ np.array([0.0, first, 0.0, 1.0]))[:3]
    return Volume(np.ascontiguousarray(volume.array[:, first : last + 1]), affine, volume.series_instance_uid)


@pytest.fixture(scope="module")
def lumbarised_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("lumbarised")
    write_demo_study(out, ultrasound=False, lumbarised_s1=True)
    return out


def test_a_lumbarised_s1_is_flagged_and_the_labels_can_be_shifted_onto_it(lumbarised_study):
    truth = json.loads((lumbarised_study / "truth" / "truth.json").read_text())["levels"]
    volume = _sagittal(lumbarised_study)
    found = find_levels(volume)
    # the lumbosacral disc is still the one under the last lumbar body, and the disc below S1 is named
    assert np.linalg.norm(np.subtract(found.level("L5-S1").center_lps, truth["L5-S1"]["center_lps"])) < 4.0
    assert any(DISC_LIKE in warning for warning in found.warnings), found.warnings
    # the physician who takes the disc below S1 for the lumbosacral one shifts the labels one level down
    # (+1: what was called L5-S1 becomes L4-L5)
    shifted = find_levels(volume, level_shift=1)
    assert np.linalg.norm(np.subtract(shifted.level("L5-S1").center_lps, truth["S1-S2"]["center_lps"])) < 4.0
    assert np.linalg.norm(np.subtract(shifted.level("L4-L5").center_lps, truth["L5-S1"]["center_lps"])) < 4.0
    assert any("shifted by +1" in warning for warning in shifted.warnings)


def test_a_fused_sacrum_is_not_flagged(demo_study, tmp_path):
    # also with a dark (degenerated) disc, where the fused S1-S2 junction's turn scores close to the
    # lumbosacral one: the marrow-to-marrow gaps (a disc space above, a remnant below) settle it
    write_demo_study(tmp_path, ultrasound=False, dark_disc=True, finding=Finding("normal", "central", 0.0))
    for study in (demo_study, tmp_path):
        found = find_levels(_sagittal(study))
        assert not found.warnings, found.warnings


@pytest.mark.parametrize(
    "rotation_deg, finding, dark_disc",
    [
        ((4.0, 0.0, 0.0), Finding("protrusion", "left", 5.0), False),
        ((3.0, -2.0, 3.0), Finding("extrusion", "central", 8.0, 8.0, 0.0), False),
        ((2.0, 3.0, -2.0), Finding("protrusion", "left", 5.0), True),
    ],
)
def test_a_patient_turned_a_few_degrees_keeps_the_count(tmp_path, rotation_deg, finding, dark_disc):
    """Turned 3-4 degrees, the phantom's disc chain ran on into the sacrum: the lordosis's median tilt then
    took in the sacral junctions and only S1-S2 was steep enough to be the lumbosacral one (one level low,
    no warning), or S1-S2's turn scored clearly above L5-S1's; the junction is steep against the discs above
    it, and every close rival is told apart by its disc space."""
    truth = write_demo_study(tmp_path, ultrasound=False, finding=finding, rotation_deg=rotation_deg, dark_disc=dark_disc)
    found = find_levels(_sagittal(tmp_path))
    assert np.linalg.norm(np.subtract(found.level("L5-S1").center_lps, truth["levels"]["L5-S1"]["center_lps"])) < 8.0
    assert not found.warnings, found.warnings


def test_no_sacrum_in_the_field_of_view_is_an_error_that_says_so(demo_study):
    truth = json.loads((demo_study / "truth" / "truth.json").read_text())["levels"]
    volume = _above(_sagittal(demo_study), truth["L5-S1"]["center_lps"][2] + 15.0)  # ends in the L5 body
    with pytest.raises(LevelError, match="sacrum"):
        find_levels(volume)
