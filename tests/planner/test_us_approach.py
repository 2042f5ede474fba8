"""In-plane ultrasound approach geometry on a calibrated frame (issue 5)."""

import math

import pytest

from planner.errors import UncalibratedError
from planner.us_approach import ultrasound_approach
from planner.us_calibration import UltrasoundRegion


def region(delta_cm=(0.01, 0.02), bounds=(100, 50, 499, 449)):
    return UltrasoundRegion(1, 1, bounds, "cm", "cm", *delta_cm)


def test_depth_angle_and_edge_distance_by_hand():
    # 0.1 mm/px across, 0.2 mm/px down; face at y = 49.5; target 200 rows below: 40 mm deep
    r = region()
    target = (300.0, 249.5)
    # a 30 degree path towards the left: 10 mm up for every 10/tan(30) mm across
    dy_mm, dx_mm = 10.0, 10.0 / math.tan(math.radians(30))
    path = (target[0] - dx_mm / 0.1, target[1] - dy_mm / 0.2)
    m = ultrasound_approach([r], target, path)
    assert m.depth_mm == pytest.approx(40.0)
    assert m.insertion_angle_deg == pytest.approx(30.0)
    assert m.insertion_side == "left"
    across_mm = 40.0 / math.tan(math.radians(30))  # 69.3 mm left of the target at the skin
    edge_to_target_mm = (300.0 - 99.5) * 0.1  # 20.05 mm from the left edge of the probe
    assert m.probe_edge_distance_mm == pytest.approx(across_mm - edge_to_target_mm)
    assert m.needle_path_mm == pytest.approx(80.0)  # 40 / sin 30
    assert m.warnings == ()


def test_a_path_entering_under_the_probe_or_too_steep_is_warned():
    m = ultrasound_approach([region()], (300.0, 249.5), (290.0, 100.0))
    assert m.probe_edge_distance_mm < 0
    assert any("under the probe" in w for w in m.warnings)
    assert any("steep" in w for w in m.warnings)


def test_uncalibrated_frames_refuse_millimetres():
    uncalibrated = UltrasoundRegion(1, 1, (0, 0, 99, 99), "none", "none", 1.0, 1.0)
    with pytest.raises(UncalibratedError, match="calibrated"):
        ultrasound_approach([uncalibrated], (50.0, 50.0), (10.0, 10.0))
    with pytest.raises(UncalibratedError):
        ultrasound_approach([], (50.0, 50.0), (10.0, 10.0))
