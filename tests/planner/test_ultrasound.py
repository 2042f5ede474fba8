"""Ultrasound clips: lazy frames, frame times, region calibration."""

from __future__ import annotations

import json

import numpy as np
import pytest

from planner.dicom.header import read_header
from planner.errors import UncalibratedError
from planner.viewing.ultrasound import UltrasoundClip
from planner.viewing.us_calibration import UltrasoundRegion, distance_mm, spatial_region_at
from tests.conftest import SAMPLES, require_shared


def test_demo_cine_timing_and_calibration(demo_study):
    truth = json.loads((demo_study / "truth" / "truth.json").read_text())["ultrasound"]
    clip = UltrasoundClip(read_header(demo_study / "US" / "GASTROCNEMIUS" / "US0001.dcm"))
    assert clip.n_frames == 40 and clip.is_calibrated
    assert clip.frame_times_ms[1] == pytest.approx(truth["frame_time_ms"], rel=1e-4)
    assert clip.frame_rate_hz == pytest.approx(30.0, rel=1e-3)
    x0, y0 = truth["region_px"][:2]
    assert clip.distance_mm((x0, y0), (x0 + 100, y0)) == pytest.approx(100 * truth["delta_mm"])
    assert clip.distance_mm((x0, y0), (x0 + 30, y0 + 40)) == pytest.approx(50 * truth["delta_mm"])
    with pytest.raises(UncalibratedError, match="measure in pixels only"):
        clip.distance_mm((0, 0), (10, 10))
    assert clip.frame(39).shape == (400, 512)


def test_region_lookup_prefers_the_smallest_spatial_region():
    outer = UltrasoundRegion(1, 1, (0, 0, 99, 99), "cm", "cm", 0.02, 0.02)
    inner = UltrasoundRegion(1, 1, (10, 10, 49, 49), "cm", "cm", -0.01, 0.01)
    doppler = UltrasoundRegion(3, 3, (0, 60, 99, 99), "seconds", "cm/sec", 0.01, 0.5)
    assert spatial_region_at([outer, inner, doppler], 20, 20) is inner
    assert inner.physical_delta_x_mm == pytest.approx(0.1) and inner.flipped_x
    assert doppler.physical_delta_x_mm is None and not doppler.is_spatial
    with pytest.raises(UncalibratedError, match="different ultrasound regions"):
        distance_mm([outer, inner], (20, 20), (80, 80))
    with pytest.raises(ValueError, match="not ordered"):
        UltrasoundRegion(1, 1, (10, 10, 5, 5), "cm", "cm", 0.1, 0.1)


@pytest.mark.shared
def test_uncalibrated_vendor_clip_says_so():
    require_shared(SAMPLES)
    clip = UltrasoundClip(read_header(SAMPLES / "ultrasound" / "orthanc-tests__Issue19.dcm"))
    assert not clip.is_calibrated
    with pytest.raises(UncalibratedError):
        clip.distance_mm((10, 10), (20, 20))


@pytest.mark.shared
def test_jpeg_cine_frames_decode_lazily_and_match_pydicom():
    import pydicom

    require_shared(SAMPLES)
    path = SAMPLES / "ultrasound" / "pydicom-data__color3d_jpeg_baseline.dcm"
    clip = UltrasoundClip(read_header(path))
    reference = pydicom.dcmread(path).pixel_array
    for index in (0, 57, 119):
        assert np.array_equal(clip.frame(index), reference[index])


@pytest.mark.shared
def test_palette_colour_is_mapped_to_rgb():
    require_shared(SAMPLES)
    clip = UltrasoundClip(read_header(SAMPLES / "ultrasound" / "dcm4che__US-PAL-8-10x-echo"))
    rgb = clip.frame(3)
    assert rgb.shape == (430, 600, 3) and rgb.dtype == np.uint8
    jls = UltrasoundClip(read_header(SAMPLES / "ultrasound" / "dcm4che__jpeg-ls-Palette.dcm"))
    assert np.array_equal(jls.frame_raw(3), clip.frame_raw(3))
