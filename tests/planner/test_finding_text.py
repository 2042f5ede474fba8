"""One wording of the L5-S1 finding: the panel, the CLI and the PDF say the same words."""

from __future__ import annotations

import json
import subprocess
import sys

from planner.disc.finding_text import describe
from tests.conftest import ROOT

PROTRUSION = {
    "reliable": True, "classification": "protrusion", "side": "left", "zone": "subarticular", "focal": "focal",
    "max_displacement_mm": 5.04, "displaced_arc_deg": 41.6, "base_width_mm": 13.4, "dome_width_mm": 13.4,
    "migration_mm": 0.0, "migration_direction": None, "disc_height_mm": {"anterior": 10.5, "posterior": 9.1},
    "canal": {"ap_mm": 15.5, "area_mm2": 259.0}, "s1_root_contact": {"left": True, "right": False},
}


def test_a_protrusion_in_words():
    w = describe(PROTRUSION)
    assert w.title == "L5-S1: Protrusion (focal), left"
    assert w.sentence == "L5-S1: protrusion (focal), side left, zone subarticular, max displacement 5.0 mm over 42°"
    assert w.text("displacement") == "maximum 5.0 mm over an arc of 42°"
    assert w.text("widths") == "13.4 mm / 13.4 mm" and w.text("migration") == "none"
    assert w.text("heights") == "anterior 10.5 mm, posterior 9.1 mm" and w.text("canal") == "AP 15.5 mm, area 259 mm²"
    assert w.text("roots") == "left"


def test_a_sequestration_is_a_free_fragment_and_normal_has_no_side():
    seq = {**PROTRUSION, "classification": "sequestration", "focal": None, "migration_mm": 9.0, "migration_direction": "caudal"}
    w = describe(seq)
    assert w.text("displacement") == "a free fragment reaching 5.0 mm beyond the endplates' margin"
    assert w.text("migration") == "9.0 mm caudal to the disc" and w.rows[4][1] == "Fragment width"
    assert w.sentence.endswith("a free fragment 9 mm caudal to the disc")
    normal = describe({**PROTRUSION, "classification": "normal", "focal": None})
    assert normal.title == "L5-S1: Normal" and normal.text("side") == "-" and normal.text("widths") == "-"


def test_not_assessable_says_why():
    w = describe({"classification": "not assessable", "reliable": False, "not_reliable_because": ["volume 40 ml"],
                  "disc_height_mm": {"anterior": 9.0, "posterior": 8.0}, "canal": {}})
    assert w.title == "L5-S1: not assessable"
    assert w.sentence == "L5-S1: not assessable: the disc measurement is not reliable (volume 40 ml)"
    assert "read the images directly" in w.text("classification")


def test_the_cli_prints_the_same_sentence_as_the_wording_of_its_analysis(demo_study, tmp_path):
    run = subprocess.run([sys.executable, "main.py", "analyze", str(demo_study), "--out", str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    analysis = json.loads((tmp_path / "analysis.json").read_text())
    assert run.stdout.splitlines()[0] == describe(analysis).sentence
