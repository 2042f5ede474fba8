"""Shared fixtures: the ../shared data, a small demo study, tiny DICOM files built in tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SAMPLES = SHARED / "dicom-samples"
LUMBAR = SHARED / "lumbar-mri"


def require_shared(path: Path) -> Path:
    """The shared data is part of CI: its absence is a failure, not a skip."""
    assert path.exists(), f"{path} is missing: tests read real DICOM from ../shared beside the checkout"
    return path


@pytest.fixture(scope="session", autouse=True)
def private_data_home(tmp_path_factory) -> Path:
    """The user data folder (outbox, recovery copies, the log) of every test: a temporary one, never the
    real home's (subprocesses inherit it through the environment)."""
    folder = tmp_path_factory.mktemp("data-home")
    os.environ["XDG_DATA_HOME"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def demo_study(tmp_path_factory) -> Path:
    from planner.demo import write_demo_study

    out = tmp_path_factory.mktemp("demo")
    write_demo_study(out, cine_frames=40)
    return out


@pytest.fixture(scope="session")
def twitch_cines(tmp_path_factory) -> dict:
    """The demo's two muscle cines, 36 s each (JPEG baseline): the gastrocnemius with its known twitches
    and the calm control with a pulsating artery. Returns the paths and the twitch truth."""
    import datetime

    from planner.demo import DEMO_PATIENT, demo_muscle_scenarios
    from planner.demo import muscle_cine as mc
    from planner.demo.writer import DemoWriter

    out = tmp_path_factory.mktemp("cines")
    gastrocnemius, control = demo_muscle_scenarios(1080)
    writer = DemoWriter(out, seed=7, patient=DEMO_PATIENT, study_date=datetime.date(2026, 11, 2))
    g = writer.write_us_cine("GASTROCNEMIUS", "US MSK Gastrocnemius medial head, cine", 10, mc.frames(gastrocnemius), gastrocnemius.frame_time_ms,
                             gastrocnemius.geometry, "jpeg")
    c = writer.write_us_cine("RECTUS_FEMORIS", "US MSK Rectus femoris (control), cine", 11, mc.frames(control), control.frame_time_ms,
                             control.geometry, "jpeg")
    return {"gastrocnemius": g, "control": c, "twitches": gastrocnemius.twitches, "geometry": gastrocnemius.geometry}


def make_mr_slice(
    path: Path,
    *,
    position=(0.0, 0.0, 0.0),
    orientation=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    spacing=(0.5, 0.5),
    rows=8,
    columns=6,
    series_uid: str | None = None,
    frame_of_reference_uid: str = "1.2.826.0.1.3680043.8.498.1",
    instance=1,
    pixels: np.ndarray | None = None,
    slope=None,
) -> Path:
    """Write a small valid MR Image Storage file; values in pixel (j, i) = 10 * j + i + instance."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.2"
    ds.SeriesInstanceUID = series_uid or "1.2.826.0.1.3680043.8.498.3"
    ds.FrameOfReferenceUID = frame_of_reference_uid
    ds.Modality = "MR"
    ds.PatientName = "TEST^PATIENT"
    ds.PatientID = "T1"
    ds.InstanceNumber = instance
    ds.ImagePositionPatient = list(position)
    ds.ImageOrientationPatient = list(orientation)
    ds.PixelSpacing = list(spacing)
    ds.SliceThickness = 1.0
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    if slope is not None:
        ds.RescaleSlope, ds.RescaleIntercept = slope
    if pixels is None:
        j, i = np.mgrid[0:rows, 0:columns]
        pixels = (10 * j + i + instance).astype(np.uint16)
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def make_stack(folder: Path, n: int, step=(0.0, 0.0, 2.0), skip=(), **kwargs) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    origin = np.array(kwargs.pop("origin", (0.0, 0.0, 0.0)))
    paths = []
    for k in range(n):
        if k in skip:
            continue
        position = tuple(origin + np.array(step) * k)
        paths.append(make_mr_slice(folder / f"s{k:03d}.dcm", position=position, instance=k + 1, **kwargs))
    return paths


@pytest.fixture
def mr_slice(tmp_path) -> Path:
    return make_mr_slice(tmp_path / "slice.dcm")


@pytest.fixture
def orthanc(tmp_path):
    """A real Orthanc on 127.0.0.1 (free ports, own storage), stopped after the test."""
    from tests.orthanc import OrthancServer

    server = OrthancServer(tmp_path / "orthanc").start()
    yield server
    server.stop()


def write_volume_series(volume, folder: Path, description: str = "SAG T2 cropped", study_uid: str | None = None) -> Path:
    """Write ``volume`` (a scalar MR volume) as a DICOM MR series in ``folder``: one file per slice, its geometry
    from ``volume.image_to_lps``, 16-bit pixels scaled to the volume's range."""
    folder.mkdir(parents=True, exist_ok=True)
    affine = volume.image_to_lps
    spacing = volume.spacing_mm
    row_dir, col_dir = affine[:3, 0] / spacing[0], affine[:3, 1] / spacing[1]
    scale = 4000.0 / max(float(volume.array.max()), 1e-6)
    series_uid, frame_uid = generate_uid(), generate_uid()
    study_uid = study_uid or generate_uid()
    for k in range(volume.shape[0]):
        position = affine[:3, 3] + affine[:3, 2] * k
        path = make_mr_slice(
            folder / f"{k:04d}.dcm", position=tuple(position), orientation=(*row_dir, *col_dir),
            spacing=(spacing[1], spacing[0]), rows=volume.shape[1], columns=volume.shape[2], series_uid=series_uid,
            frame_of_reference_uid=frame_uid, instance=k + 1, pixels=np.rint(volume.array[k] * scale).astype(np.uint16),
        )
        ds = pydicom.dcmread(path)
        ds.StudyInstanceUID = study_uid
        ds.SeriesDescription = description
        ds.SliceThickness = float(spacing[2])
        ds.save_as(path, enforce_file_format=True)
    return folder


@pytest.fixture(scope="session")
def uncertain_demo_study(tmp_path_factory) -> Path:
    """The demo study with its sagittal series cut to start 8 mm above L5: only a sliver of L4 is in view, so
    the count cannot be checked against it (the plan's anatomy is the phantom's, so a plan can be made)."""
    import shutil
    from dataclasses import replace

    import numpy as np
    import pydicom

    from planner.demo import write_demo_study
    from planner.dicom.loader import load_series, read_path_series

    out = tmp_path_factory.mktemp("uncertain")
    write_demo_study(out, ultrasound=False)
    series, _ = read_path_series(out / "MR" / "SAG_T2")
    headers = next(iter(series.values()))
    volume = load_series(headers).volumes[0]
    rows = np.nonzero(np.load(out / "truth" / "SAG_T2_labels.npz")["L5_body"].any(axis=(0, 2)))[0]
    study_uid = pydicom.dcmread(headers[0].path, stop_before_pixels=True).StudyInstanceUID
    shutil.rmtree(out / "MR" / "SAG_T2")
    first = int(rows.min()) - int(round(8.0 / volume.spacing_mm[1]))
    affine = volume.image_to_lps.copy()
    affine[:3, 3] += affine[:3, 1] * first
    cut = replace(volume, array=np.ascontiguousarray(volume.array[:, first:]), image_to_lps=affine)
    write_volume_series(cut, out / "MR" / "SAG_FROM_L5", "SAG T2 from L5", study_uid)
    return out
