"""FrameSource: the native fast path gives exactly what pydicom's decoder gives."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.dicom.header import read_header
from planner.dicom.pixels import FrameSource
from tests.conftest import make_mr_slice


def _rewrite_bits(path, bits_allocated: int, bits_stored: int, signed: bool, raw: np.ndarray) -> None:
    ds = pydicom.dcmread(path)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits_allocated, bits_stored, bits_stored - 1
    ds.PixelRepresentation = int(signed)
    ds.PixelData = raw.tobytes()
    ds.save_as(path, enforce_file_format=True)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    layout=st.sampled_from([(8, 8), (8, 6), (16, 16), (16, 12), (16, 10), (32, 32), (32, 24)]),
    signed=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_native_frames_match_pydicom_including_unused_high_bits(tmp_path, layout, signed, seed):
    bits_allocated, bits_stored = layout
    rng = np.random.default_rng(seed)
    # Garbage in the unused high bits on purpose: pydicom masks (unsigned) or sign-extends (signed) them.
    raw = rng.integers(0, 2**bits_allocated, size=(5, 7), dtype=np.uint64).astype(f"<u{bits_allocated // 8}")
    path = make_mr_slice(tmp_path / "bits.dcm", rows=5, columns=7)
    _rewrite_bits(path, bits_allocated, bits_stored, signed, raw)
    expected = pydicom.dcmread(path).pixel_array

    source = FrameSource(read_header(path))
    assert source.native_dtype == expected.dtype
    np.testing.assert_array_equal(source.frame(0), expected)
    out = np.empty(source.frame_shape, dtype=source.native_dtype)
    source.frame_into(0, out)
    np.testing.assert_array_equal(out, expected)


def test_frame_into_converts_when_the_target_dtype_differs(tmp_path):
    path = make_mr_slice(tmp_path / "a.dcm", rows=4, columns=3)
    source = FrameSource(read_header(path))
    out = np.zeros((4, 3), dtype=np.float32)
    source.frame_into(0, out)
    np.testing.assert_array_equal(out, pydicom.dcmread(path).pixel_array.astype(np.float32))


def test_frame_into_refuses_an_index_outside_the_file(tmp_path):
    source = FrameSource(read_header(make_mr_slice(tmp_path / "a.dcm")))
    with pytest.raises(IndexError, match="frame 1 of 1"):
        source.frame_into(1, np.empty(source.frame_shape, dtype=source.native_dtype))
