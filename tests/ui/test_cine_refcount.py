"""The cine view paints thousands of frames without losing references (PySide6-Essentials 6.12.0 on Python 3.11
drops one reference to ``None`` on every ``QPainter`` call: playing a cine then ends in "Fatal Python error:
none_dealloc" after about 100 s). The dependency range excludes that release; these tests catch the next one (from Python 3.12 on
``None`` is immortal and its count constant: they pass there trivially)."""

from __future__ import annotations

import sys

from tests.conftest import SAMPLES, require_shared
from tests.ui.actions import import_and_open

PAINTS = 3000
#: ``None`` is referenced by new Python objects and released by collected ones: a few hundred either way is
#: noise. A leaking binding loses at least one per painter call, a dozen or more per painted frame
NOISE = 300


def _none_lost_while_painting(cine, paints: int) -> tuple[int, int]:
    """(references to ``None`` lost, frames painted): every frame shown and painted synchronously, stopping
    early (before the interpreter would abort) once the loss is beyond noise."""
    start = sys.getrefcount(None)
    n_frames = cine.clip.n_frames
    for n in range(paints):
        # the measurement lies on frame 0: every other paint shows it
        cine.show_frame(0 if n % 2 else (n // 2) % n_frames)
        cine.canvas.repaint()
        if n % 100 == 99 and start - sys.getrefcount(None) > NOISE:
            return start - sys.getrefcount(None), n + 1
    return start - sys.getrefcount(None), paints


def test_painting_a_calibrated_cine_keeps_every_reference_to_none(make_window, qtbot, demo_study):
    window = make_window("mr+us")
    import_and_open(window, qtbot, [demo_study / "US" / "GASTROCNEMIUS"])
    cine = window.cine_view
    assert cine.clip.is_calibrated and any(region.is_spatial for region in cine.clip.regions)  # the depth ruler
    cine.add_measurement("distance", [(100.0, 120.0), (300.0, 200.0)])
    lost, painted = _none_lost_while_painting(cine, PAINTS)
    assert lost <= NOISE, f"{lost} references to None lost in {painted} paints of the cine (ruler, text, measurement)"


def test_painting_an_uncalibrated_cine_keeps_every_reference_to_none(make_window, qtbot):
    samples = require_shared(SAMPLES)
    window = make_window("mr+us")
    import_and_open(window, qtbot, [samples / "ultrasound" / "dcm4che__US-PAL-8-10x-echo"])
    cine = window.cine_view
    assert not cine.clip.is_calibrated  # the red "NOT CALIBRATED" badge
    cine.add_measurement("distance", [(10.0, 10.0), (40.0, 50.0)])
    lost, painted = _none_lost_while_painting(cine, PAINTS)
    assert lost <= NOISE, f"{lost} references to None lost in {painted} paints of the cine (badge, text, measurement)"
