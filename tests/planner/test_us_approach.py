"""In-plane ultrasound approach geometry on a calibrated frame (issue 5)."""

import math

import pytest

from planner.errors import UncalibratedError
from planner.plan.us_approach import ultrasound_approach
from planner.viewing.us_calibration import UltrasoundRegion


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
    # no reference pixel: the region's top edge is taken as the skin, and the physician is told
    assert len(m.warnings) == 1 and "no reference pixel" in m.warnings[0]
    with_reference = UltrasoundRegion(1, 1, (100, 50, 499, 449), "cm", "cm", 0.01, 0.02, (200, 0), (0.0, 0.0))
    assert ultrasound_approach([with_reference], target, path).warnings == ()


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


# ---------------------------------------------------------------- the reference pixel (PS3.3 C.8.5.5.1.16)


def test_the_reference_pixel_is_an_offset_from_the_region_and_its_physical_value_sets_depth_zero():
    # a linear probe: the reference is the centre of the transducer face, 0 cm deep, given as an OFFSET
    linear = UltrasoundRegion(1, 1, (100, 50, 499, 449), "cm", "cm", 0.01, 0.02, (200, 0), (0.0, 0.0))
    assert linear.physical_mm(300, 50) == pytest.approx((0.0, 0.0))  # image pixel (x0 + 200, y0 + 0)
    assert linear.face_row() == pytest.approx(50.0)
    assert ultrasound_approach([linear], (300.0, 250.0), (200.0, 200.0)).depth_mm == pytest.approx(40.0)
    # the same image, the reference given 100 rows down with its physical depth, 2 cm: the same face
    deeper = UltrasoundRegion(1, 1, (100, 50, 499, 449), "cm", "cm", 0.01, 0.02, (200, 100), (0.0, 20.0))
    assert deeper.face_row() == pytest.approx(50.0)
    assert deeper.depth_mm(250.0) == pytest.approx(40.0)
    assert deeper.physical_mm(300, 150) == pytest.approx((0.0, 20.0))


def test_a_curved_probes_reference_above_the_image_keeps_depths_from_the_skin():
    # the virtual apex 120 rows above the region (negative Y0), 0 cm: the physical zero lies outside the
    # region, so depths start at the region's top edge (the skin line), not at the apex
    curved = UltrasoundRegion(1, 1, (100, 50, 499, 449), "cm", "cm", 0.01, 0.02, (200, -120), (0.0, 0.0))
    assert curved.physical_mm(300, 50) == pytest.approx((0.0, 24.0))  # 120 rows under the apex
    assert curved.face_row() == pytest.approx(49.5)
    assert ultrasound_approach([curved], (300.0, 249.5), (200.0, 200.0)).depth_mm == pytest.approx(40.0)
    # the apex given with the depth the scanner assigns it (-2.4 cm above the skin): zero at the top row
    labelled = UltrasoundRegion(1, 1, (100, 50, 499, 449), "cm", "cm", 0.01, 0.02, (200, -120), (0.0, -24.0))
    assert labelled.face_row() == pytest.approx(50.0)


def test_the_depth_ruler_starts_at_the_face_and_counts_in_round_centimetres():
    from planner.viewing.us_calibration import depth_ticks

    linear = UltrasoundRegion(1, 1, (100, 50, 499, 449), "cm", "cm", 0.01, 0.02, (200, 0), (0.0, 0.0))
    first, last, ticks = depth_ticks(linear, screen_px_per_pixel=2.0)  # 1 cm = 50 rows = 100 px
    assert first == pytest.approx(50.0) and last == pytest.approx(449.5)
    assert [round(depth, 3) for _row, depth, major in ticks if major] == [10.0 * n for n in range(8)]  # 0-7 cm (the region is 79.9 mm deep)
    assert ticks[0][0] == pytest.approx(50.0)  # "0" on the face row, not three millimetres below
    assert all(row == pytest.approx(50.0 + depth / 0.2) for row, depth, _major in ticks)


@pytest.mark.shared
def test_vendor_regions_put_the_face_where_their_reference_pixels_say():
    import pydicom

    from planner.viewing.us_calibration import regions_from_dataset
    from tests.conftest import SAMPLES, require_shared

    folder = require_shared(SAMPLES) / "ultrasound"
    faces = {}
    for path in sorted(folder.glob("*.dcm")):
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        for region in regions_from_dataset(ds):
            if not region.is_spatial:
                continue
            x0, y0, x1, y1 = region.bounds_px
            assert y0 - 0.5 <= region.face_row() <= y1, path.name
            if region.has_reference:  # the reference pixel has exactly its stated physical values
                rx, ry = region.reference_pixel
                assert region.physical_mm(x0 + rx, y0 + ry) == pytest.approx(region.reference_physical_mm)
            faces.setdefault(path.name, region.face_row())
    assert faces["pydicom-data__OBXXXX1A.dcm"] == pytest.approx(60 + 36)  # offset 36 under Min Y0 = 60
    assert faces["orthanc-tests__jp2k91YBR-ICT.dcm"] == pytest.approx(67.0)  # offset 0: the region's top row
    # curved probes with negative Y0: the apex 119 rows above, at -0.5 cm, puts 0 cm on the top row
    assert faces["pylibjpeg-data__JPEGExtended_3s_1f_u_08_08.dcm"] == pytest.approx(57.0, abs=0.05)
    # the apex 82 rows above at -3.6 cm: its zero lies above the image, so the region's top edge
    assert faces["dicomParser__IM00001.fragmented_no_bot_jpeg_baseline.50.dcm"] == pytest.approx(15.5)
