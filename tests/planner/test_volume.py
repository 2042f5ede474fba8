"""Volumes: the index-to-LPS affine, slice ordering, and the series problems that must not pass silently."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from planner.dicom.header import read_header
from planner.dicom.loader import load_series, read_path_series
from planner.errors import InconsistentSeriesError
from planner.geometry import affine_from_attributes, ijk_to_lps, lps_to_ijk, orientation_label
from planner.volume import load_volume, load_volumes
from tests.conftest import make_stack


def headers(paths):
    return [read_header(p) for p in paths]


def test_affine_from_attributes_matches_hand_computation():
    affine = affine_from_attributes((10, 20, 30), (0, 1, 0, 0, 0, -1), (0.5, 0.8), (2, 0, 0))
    # column i steps along the row direction (+y) by column spacing 0.8; row j along -z by 0.5
    assert ijk_to_lps(affine, [1, 0, 0]) == pytest.approx([10, 20.8, 30])
    assert ijk_to_lps(affine, [0, 1, 0]) == pytest.approx([10, 20, 29.5])
    assert ijk_to_lps(affine, [0, 0, 1]) == pytest.approx([12, 20, 30])
    assert lps_to_ijk(affine, [12, 20.8, 29.5]) == pytest.approx([1, 1, 1])
    assert orientation_label((0, 1, 0, 0, 0, -1)) == "SAG"
    assert orientation_label((1, 0, 0, 0, 1, 0)) == "AX"


def test_slices_are_sorted_by_position_not_file_order(tmp_path):
    paths = make_stack(tmp_path, 5, step=(0, 0, -3.0))
    volume = load_volume(headers(reversed(paths)))
    assert volume.shape == (5, 8, 6)
    assert volume.spacing_mm == pytest.approx((0.5, 0.5, 3.0))
    # slice k = 0 is the lowest z; pixel values carry the instance number
    assert volume.array[0, 0, 0] == 5 and volume.array[4, 0, 0] == 1
    assert ijk_to_lps(volume.image_to_lps, [0, 0, 4]) == pytest.approx([0, 0, 0])


def test_rescale_is_applied(tmp_path):
    paths = make_stack(tmp_path, 2, slope=(2.5, -100))
    volume = load_volume(headers(paths))
    assert volume.array.dtype == np.float32
    assert volume.array[0, 1, 1] == pytest.approx(2.5 * 12 - 100)


def test_missing_slice_is_an_error(tmp_path):
    paths = make_stack(tmp_path, 6, skip=(3,))
    with pytest.raises(InconsistentSeriesError, match=r"missing slice: a gap of 4.00 mm .* step is 2.00 mm \(1 slice"):
        load_volumes(headers(paths))


def test_irregular_spacing_is_an_error(tmp_path):
    paths = make_stack(tmp_path / "a", 3) + make_stack(tmp_path / "b", 1, origin=(0, 0, 5.1), series_uid=None)
    with pytest.raises(InconsistentSeriesError, match="irregular slice spacing"):
        load_volumes(headers(paths))


def test_two_frames_of_reference_are_an_error(tmp_path):
    paths = make_stack(tmp_path / "a", 2) + make_stack(tmp_path / "b", 2, origin=(0, 0, 4), frame_of_reference_uid="1.2.3.4")
    with pytest.raises(InconsistentSeriesError, match="spans 2 frames of reference"):
        load_volumes(headers(paths))


def test_mixed_orientations_become_separate_stacks_with_a_warning(tmp_path):
    paths = make_stack(tmp_path / "ax", 3) + make_stack(tmp_path / "sag", 2, orientation=(0, 1, 0, 0, 0, -1), step=(2, 0, 0))
    volumes = load_volumes(headers(paths))
    assert sorted(v.shape[0] for v in volumes) == [2, 3]
    assert any("2 orientations" in w for w in volumes[0].warnings)


def test_duplicates_give_repeated_volumes_with_a_warning(tmp_path):
    paths = make_stack(tmp_path / "a", 3) + make_stack(tmp_path / "b", 3)
    volumes = load_volumes(headers(paths))
    assert len(volumes) == 2 and volumes[0].shape == (3, 8, 6)
    assert any("2 frames at each of 3 positions" in w for w in volumes[0].warnings)


def test_copies_of_one_instance_are_read_once(tmp_path):
    """The same files in two folders (a study imported twice from different places) are one stack, not two."""
    import shutil

    paths = make_stack(tmp_path / "a", 3)
    copied = Path(shutil.copytree(tmp_path / "a", tmp_path / "copy"))
    copies = [copied / p.name for p in paths]
    volumes = load_volumes(headers(paths + copies))
    assert len(volumes) == 1 and volumes[0].shape == (3, 8, 6)
    assert any("3 files repeat instances" in w for w in volumes[0].warnings)


def test_demo_sagittal_geometry_matches_truth(demo_study):
    import json

    truth = json.loads((demo_study / "truth" / "truth.json").read_text())
    series, rejected = read_path_series(demo_study / "MR" / "SAG_T2")
    assert not rejected
    loaded = load_series(next(iter(series.values())))
    volume = loaded.volumes[0]
    assert volume.orientation == "SAG"
    assert volume.shape == tuple(truth["series"]["SAG_T2"]["shape"])
    assert np.allclose(volume.image_to_lps, truth["series"]["SAG_T2"]["image_to_lps"], atol=1e-3)
    labels = np.load(demo_study / "truth" / "SAG_T2_labels.npz")
    disc = labels["L5-S1_disc"]
    centre_ijk = np.argwhere(disc).mean(axis=0)[::-1]
    centre = ijk_to_lps(volume.image_to_lps, centre_ijk)
    assert np.linalg.norm(centre[1:] - np.array(truth["levels"]["L5-S1"]["center_lps"])[1:]) < 3.0


@pytest.mark.shared
def test_enhanced_mr_with_repeated_positions_splits_by_position():
    from tests.conftest import SAMPLES, require_shared

    require_shared(SAMPLES)
    volumes = load_volumes([read_header(SAMPLES / "mr" / "dbdicom__MULTIFRAME_IM_0014")])
    assert len(volumes) == 8 and all(v.shape[0] == 13 for v in volumes)


def test_a_window_is_the_voxels_around_a_region_with_their_own_geometry():
    from planner.volume import Volume

    affine = np.array([[0.0, 0.0, 3.0, -40.0], [0.8, 0.0, 0.0, -90.0], [0.0, -0.8, 0.0, 60.0], [0, 0, 0, 1.0]])
    volume = Volume(np.arange(10 * 50 * 60, dtype=np.float32).reshape(10, 50, 60), affine)  # [k, j, i]
    region = np.array([[-34.0, -70.0, 40.0], [-28.0, -60.0, 30.0]])  # LPS corners
    slices, sub = volume.window(region, margin=1)
    ijk = np.c_[region, np.ones(2)] @ np.linalg.inv(affine).T
    for (axis, index) in ((0, 2), (1, 1), (2, 0)):  # k from the third index coordinate, j, i
        assert slices[axis].start <= ijk[:, index].min() - 1 + 1e-9 and slices[axis].stop > ijk[:, index].max() + 1 - 1e-9
    assert np.array_equal(sub.array, volume.array[slices])
    corner = (slices[2].start, slices[1].start, slices[0].start, 1.0)  # (i, j, k) of the window's first voxel
    assert np.allclose(sub.image_to_lps @ [0, 0, 0, 1.0], affine @ corner)
    assert volume.window(np.array([[500.0, 500.0, 500.0], [510.0, 510.0, 510.0]])) is None
