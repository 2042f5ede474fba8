"""The demo study conforms to DICOM (dciodvfy: no errors) and is deterministic for a seed."""

from __future__ import annotations

import hashlib
import shutil
import subprocess

import pytest

from planner.demo import write_demo_study
from planner.demo.phantom import Finding


def dciodvfy_errors(path) -> list[str]:
    assert shutil.which("dciodvfy"), "dciodvfy (Debian package dicom3tools) must be installed for the tests"
    result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    return [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")]


def test_every_demo_object_validates(demo_study):
    files = sorted(demo_study.rglob("*.dcm"))
    assert len(files) == 15 + 7 + 13 + 3
    checked = [files[0], files[-1]] + [f for f in files if f.name in ("IM0004.dcm", "US0001.dcm")]
    for path in checked:
        assert dciodvfy_errors(path) == [], path


def test_demo_is_deterministic_for_a_seed(tmp_path):
    def digest(folder):
        return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(folder.rglob("US0001.dcm")))).hexdigest()

    a = write_demo_study(tmp_path / "a", seed=3, cine_frames=4, finding=Finding("extrusion", "right", 6.0, migration_mm=4))
    b = write_demo_study(tmp_path / "b", seed=3, cine_frames=4, finding=Finding("extrusion", "right", 6.0, migration_mm=4))
    assert a == b and digest(tmp_path / "a") == digest(tmp_path / "b")
    assert a["finding"]["classification"] == "extrusion"


def test_finding_is_validated():
    with pytest.raises(ValueError, match="unknown finding class"):
        Finding("herniation")
