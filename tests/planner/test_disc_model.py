"""The correctable L5-S1 analysis: brush, eraser, smoothing and seed re-segmentation, each one undo step."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from planner.dicom.loader import load_series, read_path_series
from planner.disc.model import LABELS, DiscAnalysisError, DiscModel, analyze_volume, resegment_from_seed
from planner.errors import OperationCancelled
from planner.progress import CancelToken
from planner.undo import UndoStack


@pytest.fixture(scope="module")
def sagittal(demo_study):
    series, _ = read_path_series(demo_study / "MR" / "SAG_T2")
    return load_series(next(iter(series.values()))).volumes[0]


@pytest.fixture(scope="module")
def analysis(sagittal):
    return analyze_volume(sagittal)


@pytest.fixture
def model(analysis):
    # each test edits its own copy: the module's analysis is never changed
    return DiscModel(dataclasses.replace(analysis, segmentation=analysis.segmentation.copy()), UndoStack())


def test_analyze_volume_reports_progress_and_finds_the_protrusion(sagittal):
    steps = []
    analysis = analyze_volume(sagittal, progress=lambda done, total, text: steps.append((done, total)))
    assert steps[0] == (0, 3) and steps[-1] == (3, 3)
    assert analysis.finding.classification == "protrusion"
    assert [level.name for level in analysis.levels.levels][:2] == ["L5-S1", "L4-L5"]


def test_analyze_volume_can_be_cancelled(sagittal):
    token = CancelToken()
    token.cancel()
    with pytest.raises(OperationCancelled):
        analyze_volume(sagittal, cancel=token)


def test_analyze_volume_names_a_missing_segmenter(sagittal):
    with pytest.raises(DiscAnalysisError, match="no segmenter 'onnx'"):
        analyze_volume(sagittal, segmenter="onnx")


def test_label_volume_places_the_disc_at_the_level(model):
    labels = model.label_volume()
    assert labels.array is model.labels  # views share the buffer
    disc = np.argwhere(labels.array == LABELS["disc"])
    centre = labels.image_to_lps @ np.r_[disc.mean(axis=0)[::-1], 1.0]
    level = np.asarray(model.levels.level("L5-S1").center_lps)
    assert np.linalg.norm(centre[:3] - level) < 6.0
    assert (labels.array == LABELS["L5 body"]).any() and (labels.array == LABELS["S1 body"]).any()


def test_brush_stroke_is_one_undo_step_and_reanalyses(model):
    seg = model.segmentation
    before = seg.disc.sum()
    heard = []
    model.subscribe(heard.append)
    frame = seg.frame
    # paint a blob 12 mm behind the disc's posterior margin, in a sagittal plane, along 4 mm
    posterior_margin = frame.axis_mm(1)[np.nonzero(seg.outline.any(axis=1))[0].max()]
    for step in np.arange(0.0, 4.0, 0.5):
        point = frame.to_lps(0.0, posterior_margin + step, 0.0)
        model.paint(point, [1.0, 0.0, 0.0], radius_mm=3.0, depth_mm=4.0, value=True)
    assert "mask" in heard
    painted = seg.disc.sum() - before
    assert painted > 0
    model.end_stroke()
    assert model.undo_stack.undo_text == "Paint disc"
    assert model.finding.max_displacement_mm >= 5.0  # the painted tissue counts as displaced
    model.undo_stack.undo()
    assert model.segmentation.disc.sum() == before
    model.undo_stack.redo()
    assert model.segmentation.disc.sum() == before + painted


def test_eraser_and_smoothing_are_undoable(model):
    seg = model.segmentation
    before = seg.disc.copy()
    model.paint(seg.frame.center_lps, [0.0, 0.0, 1.0], radius_mm=5.0, depth_mm=2.0, value=False)
    model.end_stroke("Erase disc")
    erased = before.sum() - seg.disc.sum()
    assert erased > 0.5 * np.pi * 10**2 * 4  # a 5 mm disc 2 mm thick, in 0.5 mm voxels
    model.smooth()
    assert model.undo_stack.undo_text == "Smooth disc"
    model.undo_stack.undo()
    model.undo_stack.undo()
    assert np.array_equal(model.segmentation.disc, before)


def test_painting_outside_the_frame_changes_nothing(model):
    before = model.segmentation.disc.copy()
    model.paint(model.segmentation.frame.center_lps + 500.0, [1.0, 0.0, 0.0], 3.0, 4.0, True)
    model.end_stroke()
    assert np.array_equal(model.segmentation.disc, before)
    assert not model.undo_stack.can_undo


def test_seed_resegmentation_replaces_the_mask_undoably(model):
    l5s1 = np.asarray(model.levels.level("L5-S1").center_lps)
    old = model.segmentation
    seg = resegment_from_seed(model.analysis, l5s1 + [2.0, 3.0, 0.0])
    model.replace_segmentation(seg)
    assert model.segmentation is seg and seg.disc.any()
    assert model.undo_stack.undo_text == "Segment disc from seed"
    model.undo_stack.undo()
    assert model.segmentation is old


def test_a_seed_click_segments_again_only_the_answer_that_stood_and_gives_the_same_mask(model, monkeypatch):
    import plugins.learned as learned

    click = np.asarray(model.levels.level("L5-S1").center_lps) + [3.0, 2.0, 0.0]
    assert model.volume in learned._STOOD  # the analysis recorded which disc stood
    remembered = resegment_from_seed(model.analysis, click)
    recorded = learned._STOOD
    monkeypatch.setattr(learned, "_STOOD", type(recorded)())  # nothing recorded: both computed again
    both = resegment_from_seed(model.analysis, click)
    monkeypatch.setattr(learned, "_STOOD", recorded)
    assert np.array_equal(remembered.disc, both.disc)
    assert remembered.outline.sum() == both.outline.sum()
    # where the model's disc stood, the classical search is not run again
    (stood,) = learned._STOOD[model.volume].values()
    assert stood is not None  # on the demo phantom the classical disc agreed and was used
    key = next(iter(learned._STOOD[model.volume]))
    monkeypatch.setitem(learned._STOOD[model.volume], key, None)

    def not_again(*args):
        raise AssertionError("the classical search ran again")

    monkeypatch.setattr(learned, "_classical_disc", not_again)
    assert resegment_from_seed(model.analysis, click).disc.any()


def test_displacement_map_is_largest_on_the_protrusion_side(model):
    seg = model.segmentation
    frame = seg.frame
    posterior_margin = frame.axis_mm(1)[np.nonzero(seg.outline.any(axis=1))[0].max()]
    left = model.displacement_at(frame.to_lps(0.0, posterior_margin, 10.0)[None])
    right = model.displacement_at(frame.to_lps(0.0, posterior_margin, -10.0)[None])
    centre = model.displacement_at(frame.center_lps[None])
    assert left[0] > 2.0 and right[0] < 1.0 and centre[0] == 0.0


def test_endplate_outline_runs_half_way_between_the_two_bodies_unless_one_leaked():
    from planner.disc.segmentation import STEP_MM
    from planner.disc.segmentation.endplates import _between

    rows, cols = np.indices((160, 160)) * STEP_MM
    def disc(centre_row_mm, radius_mm):
        return np.hypot(rows - centre_row_mm, cols - 40.0) <= radius_mm

    def extent_mm(mask):
        found = np.nonzero(mask[:, 80])[0]
        return found.min() * STEP_MM, found.max() * STEP_MM

    # L5 2 mm behind S1 (a small offset): the disc space's margin lies between them, 1 mm from each
    top, bottom = extent_mm(_between(disc(40.0, 15.0), disc(42.0, 15.0)))
    assert abs(top - 26.0) <= STEP_MM and abs(bottom - 56.0) <= STEP_MM
    # one section leaked 8 mm posteriorly (into an osteophyte, a vessel): there the smaller one holds
    leaked = disc(40.0, 15.0) | (np.hypot(rows - 60.0, cols - 40.0) <= 6.0)
    top, bottom = extent_mm(_between(disc(40.0, 15.0), leaked))
    assert abs(top - 25.0) <= STEP_MM and abs(bottom - 55.0) <= STEP_MM


def test_migration_is_counted_in_the_canal_not_in_the_foramen():
    from planner.disc.segmentation import STEP_MM
    from planner.disc.segmentation.displaced import _in_the_canal

    outline = np.zeros((80, 120), bool)
    outline[10:60, 20:100] = True  # midline at column 59.5
    mask = np.zeros((10, 80, 120), bool)
    mask[2:6, 62:68, 64:72] = True  # 5-6 mm left of the midline, behind the body: kept
    far = 59.5 + 20.0 / STEP_MM  # 20 mm out: the foramen
    mask[2:6, 50:56, int(far) - 3 : int(far) + 3] = True
    kept = _in_the_canal(mask, outline)
    assert kept[2:6, 62:68, 64:72].all() and not kept[:, :, int(far) - 3 :].any()


def test_axial_series_draws_the_endplate_outline_sharp(demo_study, sagittal):
    """The sagittal series' 4 mm slices blur the bodies' lateral margins 0.5-1 mm inward; the axial block's
    own slices just beyond each endplate see them sharp: the outline lies within 1 mm of the phantom's
    endplate margin in every direction (0.5 mm on average), and not inside it laterally."""
    from planner.demo.phantom import SpinePhantom
    from planner.disc.segmentation import STEP_MM

    series, _ = read_path_series(demo_study / "MR" / "AX_T2_L5S1")
    axial = load_series(next(iter(series.values()))).volumes[0]
    seg = analyze_volume(sagittal, axials=[axial]).segmentation
    assert seg.displacement_series == "axial"
    frame = seg.frame
    p_mm, l_mm = frame.axis_mm(1), frame.axis_mm(2)
    truth = np.zeros(seg.outline.shape, bool)
    for n in (-2.0, 0.0, 2.0):  # the endplates' margin: the disc's widest section near its middle
        truth |= SpinePhantom().disc_mask_without_finding(frame.to_lps(n, p_mm[:, None], l_mm[None, :]))
    centre = np.argwhere(seg.outline).mean(axis=0)

    def reach_mm(mask):
        radii = np.arange(0.0, 40.0, STEP_MM / 2)
        reach = []
        for theta in np.radians(np.arange(0, 360, 15)):
            rows = np.rint(centre[0] + np.cos(theta) * radii / STEP_MM).astype(int)
            cols = np.rint(centre[1] + np.sin(theta) * radii / STEP_MM).astype(int)
            reach.append(radii[np.argmin(mask[rows, cols])])
        return np.array(reach)

    error = reach_mm(seg.outline) - reach_mm(truth)
    assert np.abs(error).max() <= 1.0 and np.abs(error).mean() <= 0.5, error
    assert error[[6, 18]].min() >= -0.5, error  # 90 and 270 degrees: the lateral margins


def test_axial_series_not_loaded_yet_are_loaded_only_when_they_cross_the_disc(demo_study, sagittal, monkeypatch):
    """``axial_headers``: the study's axial blocks by their headers; only the L5-S1 block is loaded and measured on."""
    import planner.disc.model as disc_model

    blocks = {}
    for name in ("AX_T2_L4L5", "AX_T2_L5S1"):
        series, _ = read_path_series(demo_study / "MR" / name)
        blocks[name] = next(iter(series.values()))
    loaded = []
    monkeypatch.setattr(disc_model, "load_series", lambda headers: loaded.append(headers) or load_series(headers))
    analysis = analyze_volume(sagittal, axial_headers=list(blocks.values()))
    assert loaded == [blocks["AX_T2_L5S1"]]
    assert analysis.axial.description == "AX T2 TSE L5-S1"
    assert analysis.segmentation.displacement_series == "axial"


def test_an_axial_stack_with_gaps_between_its_slices_passes_through_a_point_in_a_gap(tmp_path):
    from planner.dicom.header import read_header
    from planner.disc.model import slices_cross
    from tests.conftest import make_stack

    # 8 x 6 pixels of 0.5 mm (4 x 3 mm), slices 5 mm apart at z = 0, 5, 10
    headers = [read_header(str(p)) for p in make_stack(tmp_path, 3, step=(0.0, 0.0, 5.0))]
    assert slices_cross(headers, (1.0, 1.0, 7.5))  # between two slices
    assert slices_cross(headers, (1.0, 1.0, 0.0)) and not slices_cross(headers, (1.0, 1.0, 14.0))  # beyond the stack
    assert not slices_cross(headers, (5.0, 1.0, 5.0))  # beside the image


def _stored_otherwise(volume, order=(0, 1, 2), flips=()):
    """``volume``'s voxels stored in another array order (``order``: new axes from the old k, j, i) and with
    ``flips`` reversed, its affine changed to match: the same image in the same world."""
    from dataclasses import replace

    array, affine = volume.array, volume.image_to_lps.copy()
    for axis in flips:
        array = np.flip(array, axis=axis)
        flip = np.eye(4)
        flip[2 - axis, 2 - axis], flip[2 - axis, 3] = -1.0, volume.shape[axis] - 1
        affine = affine @ flip
    permute = np.eye(4)
    permute[:3, :3] = 0.0
    for new, old in enumerate(order):
        permute[2 - old, 2 - new] = 1.0
    return replace(volume, array=np.ascontiguousarray(np.transpose(array, order)), image_to_lps=affine @ permute)


@pytest.fixture(scope="module")
def untouched(sagittal):
    return analyze_volume(sagittal)  # ``analysis`` is edited by the model tests


@pytest.mark.parametrize("order, flips", [((0, 2, 1), (1, 2)), ((0, 1, 2), (0,))])
def test_the_analysis_does_not_depend_on_how_the_series_stores_its_rows_columns_and_slices(sagittal, untouched, order, flips):
    """Rows running along the spine or across it, either way, slices in either order: the same disc."""
    analysis = untouched
    other = analyze_volume(_stored_otherwise(sagittal, order, flips))
    assert other.finding.classification == analysis.finding.classification
    assert other.finding.side == analysis.finding.side
    assert abs(other.finding.max_displacement_mm - analysis.finding.max_displacement_mm) <= 0.5
    centre = np.asarray(analysis.levels.level("L5-S1").center_lps)
    assert np.linalg.norm(np.asarray(other.levels.level("L5-S1").center_lps) - centre) <= 0.5
