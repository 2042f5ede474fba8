"""Every real file in ../shared/dicom-samples is loaded, indexed or rejected as expected.json says."""

from __future__ import annotations

import json

import numpy as np
import pytest

from planner.dicom.header import read_header
from planner.dicom.loader import load_series
from planner.errors import DicomInputError
from tests.conftest import SAMPLES, require_shared

ENTRIES = json.loads((SAMPLES / "expected.json").read_text()) if (SAMPLES / "expected.json").exists() else [None]

#: The kind of problem each expected reason describes -> a pattern our reason must match.
REASON_PATTERNS = [
    ("JPEG XL", r"JPEG XL.*decoder"),
    ("not a DICOM file", r"not a DICOM file"),
    ("file meta has no Transfer Syntax", r"no Transfer Syntax UID"),
    ("header-only data set", r"not an image"),
    ("truncated pixel data", r"truncated pixel data"),
    ("truncated file: ends inside", r"truncated file: ends inside the encapsulated"),
    ("declares 3 GB", r"Pixel Data declares .* but the file ends"),
    ("NumberOfFrames", r"invalid NumberOfFrames '1A'"),
    ("only a private UN sequence", r"not an image"),
    ("exceed pixel data", r"Rows x Columns exceed pixel data"),
    ("nesting too deep", r"nesting too deep"),
    ("corrupt JPEG 2000", r"corrupt .*JPEG 2000.*no decoder succeeds"),
    ("private ELSCINT1", r"no Pixel Data: pixels only in private ELSCINT1"),
    ("no Pixel Data in an Enhanced MR", r"no Pixel Data in an Enhanced MR"),
    ("C-FIND query", r"not a stored instance: a C-FIND query"),
]


def _load(path):
    header = read_header(path)
    if header.kind != "image":
        return header, None
    return header, load_series([header])


@pytest.mark.shared
@pytest.mark.parametrize("entry", ENTRIES, ids=[e["path"] if e else "missing" for e in ENTRIES])
def test_sample(entry):
    require_shared(SAMPLES / "expected.json")
    path = SAMPLES / entry["path"]
    if entry["expect"] == "reject":
        with pytest.raises(DicomInputError) as info:
            _load(path)
        assert info.value.path == str(path)
        pattern = next(p for key, p in REASON_PATTERNS if key in entry["reason"])
        assert info.value.reason and __import__("re").search(pattern, info.value.reason), info.value.reason
        return
    header, loaded = _load(path)
    if entry["expect"] == "index":
        assert header.kind in ("other", "dicomdir")
        return
    assert loaded is not None, f"{path} should load as an image"
    if entry.get("lenient"):
        assert header.warnings, "a lenient load must say what was repaired"
    if loaded.clips:
        clip = loaded.clips[0]
        assert (clip.n_frames, *clip.shape) == (entry["frames"] or 1, entry["rows"], entry["columns"])
        last = clip.frame(clip.n_frames - 1)
        assert last.shape[:2] == (entry["rows"], entry["columns"])
        assert clip.is_calibrated == bool(entry["us_calibrated"])
        expected_spatial = [r for r in entry["us_regions"] or [] if r["region_spatial_format"] == 1 and r["units"].startswith("mm")]
        for region in expected_spatial:
            match = [r for r in clip.regions if tuple(r.bounds_px) == tuple(region["bounds_px"])]
            assert match, f"region {region['bounds_px']} not found"
            # expected.json keeps 7 significant digits
            assert match[0].physical_delta_x_mm == pytest.approx(abs(region["physical_delta_x_mm"]), rel=1e-5)
            assert match[0].physical_delta_y_mm == pytest.approx(abs(region["physical_delta_y_mm"]), rel=1e-5)
    else:
        volumes = loaded.volumes
        n_frames = sum(v.shape[0] for v in volumes)
        assert n_frames <= (entry["frames"] or 1)
        assert volumes[0].shape[1:3] == (entry["rows"], entry["columns"])
        if entry.get("pixel_spacing_mm"):
            row_spacing, column_spacing = entry["pixel_spacing_mm"]
            assert volumes[0].spacing_mm[0] == pytest.approx(column_spacing, rel=1e-4)
            assert volumes[0].spacing_mm[1] == pytest.approx(row_spacing, rel=1e-4)
        assert np.isfinite(volumes[0].array.astype(np.float64)).all()
    decoded = entry.get("pydicom_decoded")
    if decoded and header.photometric_interpretation != "PALETTE COLOR" and header.n_frames == 1 and loaded.clips:
        assert float(loaded.clips[0].frame_raw(0).mean()) == pytest.approx(decoded["mean"], abs=0.5)


@pytest.mark.shared
def test_charsets_decode_patient_names():
    require_shared(SAMPLES / "expected.json")
    for entry in ENTRIES:
        if entry.get("expected_patient_name"):
            assert read_header(SAMPLES / entry["path"]).patient_name == entry["expected_patient_name"]
