"""Hostile and broken files (issue 24): a seeded corpus of 520 mutations of the shared samples plus bombs and a
traversing DICOMDIR, imported and then opened with ``main.py info`` and loaded, file by file, in a process
limited to 2 GB of address space and 20 s per file: no traceback, no hang, every file indexed or rejected with
a specific reason."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SAMPLES, require_shared

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def hostile_summary(tmp_path_factory):
    from tests.hostile import make_corpus

    samples = require_shared(SAMPLES)
    base = tmp_path_factory.mktemp("hostile")
    paths = make_corpus(base / "corpus", samples, seed=20261202, count=520)
    assert len(paths) >= 520
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-m", "tests.hostile_run", str(base / "corpus"), str(base / "work"),
         "--limit-gb", "2", "--seconds", "20", "--budget-mb", "512"],
        cwd=ROOT, capture_output=True, text=True, timeout=1500,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    return json.loads((base / "work" / "summary.json").read_text())


def test_no_traceback_no_hang_and_every_file_accounted_for(hostile_summary):
    s = hostile_summary
    assert s["import_error"] is None
    assert s["files"] >= 500
    assert s["tracebacks"] == [], s["tracebacks"][:3]
    assert s["hangs"] == []
    assert s["unaccounted"] == []
    assert s["indexed"] + s["rejected"] >= s["files"] - 1  # the DICOMDIR itself is read, not indexed


def test_every_rejection_names_its_problem(hostile_summary):
    assert hostile_summary["generic_reasons"] == []


def test_bombs_and_traversal_are_refused_and_a_retired_encoding_is_read(hostile_summary):
    specials = hostile_summary["specials"]
    assert "deflate bomb" in specials["deflate-bomb.dcm"]
    assert "budget" in specials["bomb.zip"] or "zip bomb" in specials["bomb.zip"]
    assert "inside it" in specials["nested-bomb.zip"]
    assert specials["big-endian-no-meta.dcm"] == "indexed"  # Explicit VR Big Endian, no file meta: legal
    assert hostile_summary["indexed_outside"] == []  # nothing outside the corpus (no /etc/passwd, no ../)
    assert len(hostile_summary["dicomdir"]) == 3 and all("refused" in r for r in hostile_summary["dicomdir"])


def test_explicit_vr_big_endian_without_file_meta_loads_with_the_right_pixels(tmp_path):
    import numpy as np
    import pydicom

    from planner.dicom.header import read_header
    from planner.dicom.loader import load_series
    from tests.hostile import big_endian_without_meta

    sample = require_shared(SAMPLES) / "mr" / "dbdicom__1-011.dcm"
    path = tmp_path / "big-endian.dcm"
    path.write_bytes(big_endian_without_meta(sample))
    header = read_header(path)
    assert header.transfer_syntax_uid == "1.2.840.10008.1.2.2"
    assert any("no DICOM file meta" in w for w in header.warnings)
    volume = load_series([header]).volumes[0]
    assert np.array_equal(volume.array[0], pydicom.dcmread(sample).pixel_array)


def test_no_rejection_quotes_the_patients_name_or_id(tmp_path, capsys):
    """Every mutation kind, ten times each, of a file with a known patient name and ID: the name and the ID are in
    no rejection reason, no rejected row of the database and no output of ``import`` or ``info``."""
    import contextlib
    import io
    import random

    import pydicom

    from planner.cli import main as cli
    from planner.dicom.database import StudyDatabase
    from tests.hostile import MUTATIONS

    secrets = ("SECRET^PATIENTNAME", "IDSECRET4242")
    ds = pydicom.dcmread(require_shared(SAMPLES) / "mr" / "dbdicom__1-011.dcm")
    ds.PatientName, ds.PatientID = secrets
    base = io.BytesIO()
    ds.save_as(base, enforce_file_format=True)
    folder = tmp_path / "mutated"
    folder.mkdir()
    rng = random.Random(7)
    for name, mutate in MUTATIONS:
        for n in range(10):
            (folder / f"{name}-{n}.dcm").write_bytes(mutate(base.getvalue(), rng))
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        assert cli(["import", str(folder), "--db", str(tmp_path / "db.sqlite")]) == 0
        assert cli(["import", str(folder), "--json", "--db", str(tmp_path / "db2.sqlite")]) == 0
    with StudyDatabase(tmp_path / "db.sqlite") as db:
        rejected = db.rejected()
    assert len(rejected) >= 30  # the mutations do break files
    printed = out.getvalue()
    rejected_paths = {path for path, _reason in rejected}
    for path in sorted(rejected_paths):
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            cli(["info", path])
    text = out.getvalue()
    rejection_lines = [line for line in text.splitlines() if "rejected" in line or "main.py info" in line
                       or '"reason"' in line]
    for secret in secrets + ("SECRET", "4242"):
        assert not any(secret in reason for _path, reason in rejected), secret
        assert not any(secret in line for line in rejection_lines), secret
    assert printed  # the import printed its report
