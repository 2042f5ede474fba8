"""Pure viewing logic: MPR planes and linking, cine timing, undo, measurements, window presets, thumbnails."""

from __future__ import annotations

import numpy as np
import pytest

from planner.dicom.thumbnails import series_thumbnail
from planner.undo import Command, UndoStack
from planner.viewing import mpr
from planner.viewing.cine import CinePlayer
from planner.viewing.display import PRESETS, WindowLevel, window_preset
from planner.viewing.measurements import Measurement, MeasurementSet, evaluate
from planner.viewing.mpr import MprState, View
from planner.viewing.us_calibration import UltrasoundRegion
from planner.volume import Volume


def _volume(shape=(10, 20, 30), spacing=(0.5, 0.8, 3.0), direction=np.eye(3), origin=(5.0, -7.0, 11.0)):
    affine = np.eye(4)
    affine[:3, :3] = np.asarray(direction) * np.asarray(spacing)
    affine[:3, 3] = origin
    return Volume(np.arange(np.prod(shape), dtype=np.int16).reshape(shape), affine)


def test_standard_planes_follow_radiological_conventions():
    state = MprState()
    axial = state.plane(View.AXIAL)
    assert axial.edge_letters() == {"left": "R", "right": "L", "top": "A", "bottom": "P"}
    assert np.allclose(axial.normal, [0, 0, 1])  # seen from the feet
    sagittal = state.plane(View.SAGITTAL)
    assert sagittal.edge_letters() == {"left": "A", "right": "P", "top": "S", "bottom": "I"}
    coronal = state.plane(View.CORONAL)
    assert coronal.edge_letters() == {"left": "R", "right": "L", "top": "S", "bottom": "I"}
    for view in View:
        plane = state.plane(view)
        assert np.allclose(np.cross(plane.right, plane.up), -plane.normal)


def test_rotation_keeps_planes_orthogonal_and_tilts_the_axial_onto_a_disc():
    state = MprState()
    events = []
    state.subscribe(events.append)
    state.rotate(View.SAGITTAL, 15.0)  # tilt about the left-right axis, as onto the L5-S1 disc
    axial, coronal, sagittal = (state.plane(v) for v in (View.AXIAL, View.CORONAL, View.SAGITTAL))
    assert np.degrees(np.arccos(axial.normal @ [0, 0, 1])) == pytest.approx(15.0)
    assert np.allclose(sagittal.normal, [-1, 0, 0])  # the rotated view itself keeps its plane
    assert abs(axial.normal @ coronal.normal) < 1e-12
    assert events == ["rotation"] and state.is_oblique
    # each picture stays upright: the sagittal one does not spin (its crosshair lines turn), the axial keeps
    # the patient's left on its right
    assert np.allclose(sagittal.up, [0, 0, 1]) and np.allclose(sagittal.right, [0, 1, 0])
    assert np.allclose(axial.right, [1, 0, 0]) and np.allclose(coronal.right, [1, 0, 0])
    for plane in (axial, coronal, sagittal):
        assert np.allclose(np.cross(plane.right, plane.up), -plane.normal)
    state.reset_rotation()
    assert not state.is_oblique


def test_the_axial_view_can_look_along_a_disc_normal_or_a_needle():
    tilted = np.array([0.0, -np.sin(np.radians(40.0)), np.cos(np.radians(40.0))])  # a steep L5-S1's normal
    state = MprState(rotation=mpr.axial_looking_along(tilted))
    axial, sagittal = state.plane(View.AXIAL), state.plane(View.SAGITTAL)
    assert np.allclose(axial.normal, tilted)
    assert axial.edge_letters()["left"] == "R" and sagittal.edge_letters()["top"] == "S"
    assert np.allclose(sagittal.up, [0, 0, 1])  # the sagittal picture as acquired


def test_scroll_steps_by_the_slice_spacing_along_the_normal():
    volume = _volume()
    state = MprState.centered_on(volume)
    start = state.center.copy()
    state.scroll(View.AXIAL, 2, volume)
    assert np.allclose(state.center - start, [0, 0, 6.0])  # 2 x 3 mm slices, towards superior
    assert mpr.slice_step_mm(volume, [1, 0, 0]) == pytest.approx(0.5)
    oblique = np.array([1.0, 0.0, 1.0]) / np.sqrt(2)
    assert mpr.slice_step_mm(volume, oblique) == pytest.approx(0.5 * np.sqrt(2))


def test_nearest_slice_and_native_plane_of_a_tilted_series():
    tilt = np.radians(20)
    direction = np.array([[1, 0, 0], [0, np.cos(tilt), -np.sin(tilt)], [0, np.sin(tilt), np.cos(tilt)]])
    volume = _volume(direction=direction)
    point = volume.image_to_lps @ np.array([12.0, 7.0, 4.4, 1.0])
    assert mpr.nearest_slice(volume, point[:3]) == 4
    plane = mpr.native_plane(volume, 4, point[:3])
    on_slice = volume.image_to_lps @ np.array([12.0, 7.0, 4.0, 1.0])
    assert abs(plane.to_plane(on_slice[:3])[2]) < 1e-9
    assert mpr.value_at(volume, on_slice[:3]) == volume.array[4, 7, 12]
    assert mpr.value_at(volume, [1e4, 0, 0]) is None


def test_set_center_refuses_non_finite_points():
    with pytest.raises(ValueError, match="finite"):
        MprState().set_center([0, np.nan, 0])


def test_cine_plays_at_recorded_time_skipping_frames_when_late():
    player = CinePlayer([0, 40, 80, 120, 160])  # 25 fps
    player.play(now_s=100.0)
    assert player.tick(100.0) == 0
    assert player.tick(100.085) == 2  # late tick: frame 1 skipped, time kept
    player.set_speed(2.0, now_s=100.085)
    assert player.tick(100.105) == 3
    assert player.duration_ms == pytest.approx(200.0)
    assert player.tick(100.145) == 0  # looped after 200 ms of clip time
    player.loop = False
    player.play(200.0)
    assert player.tick(201.0) == 4 and not player.playing


def test_cine_step_wraps_when_looping_and_clamps_otherwise():
    player = CinePlayer([0, 33.3, 66.6])
    player.step(-1)
    assert player.frame == 2
    player.loop = False
    player.step(5)
    assert player.frame == 2
    with pytest.raises(ValueError, match="positive"):
        player.set_speed(0, 0.0)


def test_undo_stack_merges_drags_and_drops_redo_after_a_new_edit():
    stack, state = UndoStack(), {"x": 0}

    def setter(value):
        return lambda: state.__setitem__("x", value)

    stack.push(Command("set 1", setter(1), setter(0)))
    for value in (2, 3, 4):
        stack.push(Command("drag", setter(value), setter(value - 1), merge_key="drag"))
    stack.end_merge()
    assert state["x"] == 4
    stack.undo()
    assert state["x"] == 1  # the whole drag in one step
    stack.undo()
    assert state["x"] == 0 and not stack.can_undo
    stack.redo()
    stack.push(Command("set 9", setter(9), setter(1)))
    assert not stack.can_redo and stack.undo_text == "set 9"


def test_measurements_in_lps_and_on_calibrated_and_uncalibrated_ultrasound():
    stack = UndoStack()
    measurements = MeasurementSet(stack)
    distance = measurements.add("distance", [(0, 0, 0), (3, 4, 12)], "lps")
    assert evaluate(distance).value == pytest.approx(13.0)
    angle = measurements.add("angle", [(1, 0, 0), (0, 0, 0), (0, 2, 0)], "lps")
    assert evaluate(angle).text == "90.0°"
    region = UltrasoundRegion(1, 1, (10, 10, 400, 300), "cm", "cm", 0.01, 0.02)
    us = Measurement(9, "distance", ((20.0, 20.0), (50.0, 60.0)), "us-pixels")
    assert evaluate(us, [region]).value == pytest.approx(np.hypot(30 * 0.1, 40 * 0.2))
    outside = Measurement(10, "distance", ((0.0, 0.0), (50.0, 60.0)), "us-pixels")
    value = evaluate(outside, [region])
    assert (value.unit, value.calibrated) == ("px", False) and "pixels only" in value.note
    measurements.move_point(distance.id, 1, (0, 0, 5))
    assert evaluate(measurements.get(distance.id)).value == pytest.approx(5.0)
    stack.undo()
    assert evaluate(measurements.get(distance.id)).value == pytest.approx(13.0)
    with pytest.raises(ValueError, match="needs 3 points"):
        measurements.add("angle", [(0, 0, 0), (1, 1, 1)], "lps")


def test_window_presets_and_shared_window_level():
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 2000, (4, 32, 32)).astype(np.int16)
    for name in PRESETS:
        center, width = window_preset(name, pixels)
        assert width > 0
    assert window_preset("Full range", pixels) == pytest.approx(((pixels.max() + pixels.min()) / 2, pixels.max() - pixels.min()))
    assert window_preset("Bone", pixels, "CT") == (400.0, 2000.0)
    with pytest.raises(ValueError, match="unknown window preset"):
        window_preset("Lung", pixels)
    shared, heard = WindowLevel(100, 50), []
    shared.subscribe(lambda: heard.append(1))
    shared.set(120, 0)
    assert shared.width > 0 and heard == [1]


def test_series_thumbnail_is_small_and_shows_the_image(demo_study):
    from planner.dicom.loader import read_path_series

    series, _ = read_path_series(demo_study / "MR" / "SAG_T2")
    (headers,) = series.values()
    thumb = series_thumbnail(headers)
    assert thumb.dtype == np.uint8 and max(thumb.shape) <= 64 and thumb.std() > 10


def test_where_another_view_plane_cuts_this_one():
    axial = mpr.Plane(np.array([0.0, 0.0, 10.0]), np.array([1.0, 0, 0]), np.array([0, -1.0, 0]), np.array([0, 0, 1.0]))
    sagittal = mpr.Plane(np.array([5.0, 3.0, 0.0]), np.array([0, 1.0, 0]), np.array([0, 0, 1.0]), np.array([1.0, 0, 0]))
    point, direction = axial.intersection(sagittal)
    assert abs(abs(direction @ np.array([0, 1.0, 0])) - 1) < 1e-12  # the line runs anteroposteriorly
    assert point[0] == pytest.approx(5.0) and point[2] == pytest.approx(10.0)  # in both planes
    assert axial.intersection(axial) is None  # parallel planes do not cut
