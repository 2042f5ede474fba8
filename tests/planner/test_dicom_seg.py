"""BINARY DICOM SEG of the L5-S1 disc: valid for dciodvfy, read back by highdicom, one frame per slice with disc."""

from __future__ import annotations

import subprocess

import highdicom as hd
import numpy as np
import pytest

from planner.dicom.loader import load_series, read_path_series
from planner.dicom.seg import SegmentationError, write_segmentation


@pytest.fixture(scope="module")
def sagittal(demo_study):
    series, _ = read_path_series(demo_study / "MR" / "SAG_T2")
    (headers,) = series.values()
    volume = load_series(headers).volumes[0]
    truth = np.load(demo_study / "truth" / "SAG_T2_labels.npz")["L5-S1_disc"].astype(bool)
    return volume, headers, truth


def test_disc_seg_is_valid_binary_and_reads_back(sagittal, tmp_path):
    volume, headers, truth = sagittal
    assert truth.shape == volume.shape and truth.any()
    path = write_segmentation(volume, headers, {"L5-S1 disc": truth}, tmp_path / "l5s1_disc_seg.dcm")

    result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")]
    assert errors == []

    seg = hd.seg.segread(path)
    assert seg.SegmentationType == "BINARY"
    assert seg.StudyInstanceUID == headers[0].study_instance_uid
    assert seg.FrameOfReferenceUID == volume.frame_of_reference_uid
    slices_with_disc = {volume.sop_instance_uids[k] for k in range(volume.shape[0]) if truth[k].any()}
    assert int(seg.NumberOfFrames) == len(slices_with_disc)
    referenced = {
        frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        for frame in seg.PerFrameFunctionalGroupsSequence
    }
    assert referenced == slices_with_disc
    description = seg.SegmentSequence[0]
    assert description.SegmentedPropertyTypeCodeSequence[0].CodeMeaning == "L5/S1 disc"
    frames = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=list(volume.sop_instance_uids), segment_numbers=[1]
    )[..., 0]
    assert np.array_equal(frames.astype(bool), truth)  # every voxel back, on the source grid


def test_same_mask_gives_the_same_uids_and_a_new_mask_new_ones(sagittal, tmp_path):
    volume, headers, truth = sagittal
    a = hd.seg.segread(write_segmentation(volume, headers, {"L5-S1 disc": truth}, tmp_path / "a.dcm"))
    b = hd.seg.segread(write_segmentation(volume, headers, {"L5-S1 disc": truth}, tmp_path / "b.dcm"))
    changed = truth.copy()
    changed[np.nonzero(truth)[0][0]] = False
    c = hd.seg.segread(write_segmentation(volume, headers, {"L5-S1 disc": changed}, tmp_path / "c.dcm"))
    assert a.SOPInstanceUID == b.SOPInstanceUID and a.SeriesInstanceUID == b.SeriesInstanceUID
    assert c.SOPInstanceUID != a.SOPInstanceUID


def test_bad_masks_are_refused_with_the_reason(sagittal, tmp_path):
    volume, headers, truth = sagittal
    with pytest.raises(SegmentationError, match="has shape"):
        write_segmentation(volume, headers, {"L5-S1 disc": truth[:-1]}, tmp_path / "x.dcm")
    with pytest.raises(SegmentationError, match="is empty"):
        write_segmentation(volume, headers, {"L5-S1 disc": np.zeros_like(truth)}, tmp_path / "x.dcm")
    with pytest.raises(SegmentationError, match="unknown structure"):
        write_segmentation(volume, headers, {"L4-L5 disc": truth}, tmp_path / "x.dcm")
    with pytest.raises(SegmentationError, match="not known"):
        write_segmentation(volume, headers[:-1], {"L5-S1 disc": truth}, tmp_path / "x.dcm")


@pytest.mark.parametrize("overlapping", [False, True])
def test_several_segments_read_back_whether_or_not_they_overlap(sagittal, tmp_path, overlapping):
    """Disjoint segments are handed to highdicom as one map of segment numbers (its fast path), overlapping ones
    as a stack: either way each segment reads back voxel for voxel and the SEG says whether they overlap."""
    volume, headers, truth = sagittal
    body = np.roll(truth, 12, axis=1)  # the same shape 12 rows away
    if overlapping:
        body |= truth
    else:
        body &= ~truth
    masks = {"L5-S1 disc": truth, "L5 body": body}
    path = write_segmentation(volume, headers, masks, tmp_path / "two.dcm")
    result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    assert [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")] == []
    seg = hd.seg.segread(path)
    assert seg.SegmentsOverlap == ("YES" if overlapping else "NO")
    frames = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=list(volume.sop_instance_uids), segment_numbers=[1, 2], skip_overlap_checks=True
    )
    assert np.array_equal(frames[..., 0].astype(bool), truth)
    assert np.array_equal(frames[..., 1].astype(bool), body)
