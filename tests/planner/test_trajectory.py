"""Trajectory geometry and safety distances against hand-computed values (issue 5)."""

import math

import numpy as np
import pytest

from planner.plan.model import Needle
from planner.plan.trajectory import Structure, trajectory_metrics


def sphere(centre, radius, spacing=(1.0, 1.0, 1.0), size=(120, 140, 120), origin=(-60.0, -20.0, -60.0)):
    """A ball on a grid [k, j, i] with image_to_lps (axis-aligned, LPS)."""
    affine = np.eye(4)
    affine[:3, :3] = np.diag(spacing)
    affine[:3, 3] = origin
    k, j, i = np.indices(size[::-1])
    lps = np.stack([i, j, k], -1) * np.asarray(spacing) + np.asarray(origin)
    return (np.linalg.norm(lps - np.asarray(centre), axis=-1) <= radius), affine


def test_straight_posterior_approach():
    m = trajectory_metrics((0.0, 100.0, 0.0), (0.0, 0.0, 0.0), Needle(22, 150.0))
    assert m.length_mm == pytest.approx(100.0)
    assert m.depth_mm == pytest.approx(100.0)
    assert m.craniocaudal_deg == pytest.approx(0.0, abs=1e-9)
    assert m.mediolateral_deg == pytest.approx(0.0, abs=1e-9)
    assert m.needle_ok and m.needle_margin_mm == pytest.approx(50.0)
    assert m.warnings == ()


def test_angles_to_the_patient_axes_and_the_c_arm():
    # entry 36.4 mm caudal of the target at 100 mm depth: the needle points 20 degrees cranially
    m = trajectory_metrics((0.0, 100.0, -100 * math.tan(math.radians(20))), (0.0, 0.0, 0.0), Needle(22, 150.0))
    assert m.craniocaudal_deg == pytest.approx(20.0)
    assert m.length_mm == pytest.approx(100 / math.cos(math.radians(20)))
    # entry on the patient's right (-x), tip towards the left: +30 degrees, right oblique
    m = trajectory_metrics((-100 * math.tan(math.radians(30)), 100.0, 0.0), (0.0, 0.0, 0.0), Needle(22, 150.0))
    assert m.mediolateral_deg == pytest.approx(30.0)
    assert m.carm_text == "0° caudal, 30° right oblique" or m.carm_text == "0° cranial, 30° right oblique"
    m = trajectory_metrics((40.0, 100.0, 30.0), (0.0, 0.0, 0.0), Needle(22, 150.0))
    assert m.carm_text.endswith("left oblique") and "caudal" in m.carm_text


def test_angles_to_the_disc_plane():
    normal = (0.0, math.sin(math.radians(30)), math.cos(math.radians(30)))  # disc tilted 30 degrees, facing posterior-up
    m = trajectory_metrics((0.0, 100.0, 0.0), (0.0, 0.0, 0.0), Needle(22, 150.0), disc_normal_lps=normal)
    assert m.disc_plane_deg == pytest.approx(30.0)
    assert m.craniocaudal_to_disc_deg == pytest.approx(-30.0)  # horizontal needle: 30 degrees caudal of the disc plane
    # a needle along the disc plane, from posterior-inferior: parallel
    along = np.array([0.0, -math.cos(math.radians(30)), math.sin(math.radians(30))])
    m = trajectory_metrics(-80 * along, (0.0, 0.0, 0.0), Needle(22, 150.0), disc_normal_lps=normal)
    assert m.disc_plane_deg == pytest.approx(0.0, abs=1e-6)
    assert m.craniocaudal_to_disc_deg == pytest.approx(0.0, abs=1e-6)


def test_needle_too_short_is_named():
    m = trajectory_metrics((0.0, 95.0, 0.0), (0.0, 0.0, 0.0), Needle(22, 100.0))
    assert not m.needle_ok
    assert "100 mm needle is too short" in m.warnings[0] and "95 mm" in m.warnings[0]


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.7, 0.7, 3.0)])
def test_closest_approach_to_a_ball(spacing):
    size = tuple(int(round(n / s)) for n, s in zip((120, 140, 120), spacing))
    mask, affine = sphere((0.0, 50.0, 20.0), 10.0, spacing, size)
    bone = Structure.from_mask("L5 lamina", "bone", mask, affine)
    m = trajectory_metrics((0.0, 100.0, 0.0), (0.0, 0.0, 0.0), Needle(22, 150.0), structures=(bone,))
    (d,) = m.distances
    assert d.distance_mm == pytest.approx(10.0, abs=0.6 * max(spacing))
    assert d.depth_mm == pytest.approx(50.0, abs=2.0 * max(spacing))  # a plateau on coarse voxels
    assert m.warnings == ()
    # 5 mm from the path: inside the ball
    mask, affine = sphere((0.0, 50.0, 5.0), 10.0, spacing, size)
    m = trajectory_metrics(
        (0.0, 100.0, 0.0), (0.0, 0.0, 0.0), Needle(22, 150.0), structures=(Structure.from_mask("iliac crest", "iliac crest", mask, affine),)
    )
    assert m.distances[0].distance_mm == pytest.approx(-5.0, abs=0.6 * max(spacing))
    assert m.warnings == ("The path passes through the iliac crest at 50 mm depth.",)


def test_thresholds_and_ignored_end_of_path():
    mask, affine = sphere((0.0, 0.0, 0.0), 10.0)  # the target lies in the ball (a disc)
    disc = Structure.from_mask("L5-S1 disc", "disc", mask, affine)
    m = trajectory_metrics((0.0, 100.0, 0.0), (0.0, 0.0, 0.0), Needle(22, 150.0), structures=(disc,))
    assert m.distances[0].distance_mm < 0
    m = trajectory_metrics(
        (0.0, 100.0, 0.0), (0.0, 0.0, 0.0), Needle(22, 150.0), structures=(disc,), ignore_last_mm={"disc": 12.0}
    )
    assert m.distances[0].distance_mm == pytest.approx(2.0, abs=0.6)
    assert m.warnings == ()
    m = trajectory_metrics(
        (0.0, 100.0, 0.0), (0.0, 0.0, 0.0), Needle(22, 150.0), structures=(disc,), ignore_last_mm={"disc": 12.0},
        thresholds_mm={"disc": 3.0},
    )
    assert m.warnings and "from the L5-S1 disc" in m.warnings[0] and "threshold 3 mm" in m.warnings[0]
