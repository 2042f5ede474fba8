"""Sample the phantom onto MR grids and write conformant DICOM (MR Image, US Image, US Multi-frame)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from planner.demo import ultrasound_phantom as usp
from planner.demo.phantom import SpinePhantom
from planner.geometry import affine_from_attributes, ijk_to_lps

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
US_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.6.1"
US_MULTIFRAME_STORAGE = "1.2.840.10008.5.1.4.1.1.3.1"
MAX_SIGNAL = 1000


@dataclass(frozen=True)
class MRGrid:
    """A slice stack: ``centre`` is the LPS centre of the block, directions are unit vectors."""

    name: str
    description: str
    series_number: int
    rows: int
    columns: int
    n_slices: int
    pixel_mm: float
    slice_mm: float
    row_dir: tuple[float, float, float]
    col_dir: tuple[float, float, float]
    centre: tuple[float, float, float]

    @property
    def normal(self) -> np.ndarray:
        n = np.cross(self.row_dir, self.col_dir)
        return n / np.linalg.norm(n)

    def position(self, k: int) -> np.ndarray:
        """ImagePositionPatient of slice k (centre of its first voxel)."""
        row, col = np.array(self.row_dir), np.array(self.col_dir)
        corner = (
            np.array(self.centre)
            - row * self.pixel_mm * (self.columns - 1) / 2
            - col * self.pixel_mm * (self.rows - 1) / 2
            - self.normal * self.slice_mm * (self.n_slices - 1) / 2
        )
        return corner + self.normal * self.slice_mm * k

    @property
    def image_to_lps(self) -> np.ndarray:
        return affine_from_attributes(
            self.position(0), (*self.row_dir, *self.col_dir), (self.pixel_mm, self.pixel_mm), self.normal * self.slice_mm
        )


def _grey_pixel_module(ds: Dataset, rows: int, columns: int, bits_allocated: int, bits_stored: int) -> None:
    """Image Pixel module (PS3.3 C.7.6.3) of an unsigned MONOCHROME2 image."""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = bits_allocated
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0


class DemoWriter:
    def __init__(self, out: Path, seed: int, patient: dict, study_date: datetime.date) -> None:
        self.out = Path(out)
        self.seed = seed
        self.patient = patient
        self.study_date = study_date.strftime("%Y%m%d")
        self.study_instance_uid = self.uid("study")
        self.frame_of_reference_uid = self.uid("frame-of-reference")

    def uid(self, *parts) -> str:
        return generate_uid(entropy_srcs=["spine-injection-planner-demo", str(self.seed), *map(str, parts)])

    # ----------------------------------------------------------------- sampling

    def sample_mr(self, grid: MRGrid, phantom: SpinePhantom, rng, noise: float, bias: float):
        """Image (k, j, i) uint16 and label masks, with partial volume across the slice thickness."""
        k, j, i = np.meshgrid(np.arange(grid.n_slices), np.arange(grid.rows), np.arange(grid.columns), indexing="ij")
        ijk = np.stack([i, j, k], axis=-1).astype(np.float32)
        affine = grid.image_to_lps
        centres = ijk_to_lps(affine, ijk).astype(np.float32)
        labels = None
        image = np.zeros(centres.shape[:-1], dtype=np.float32)
        offsets = (-0.33, 0.0, 0.33)
        for offset in offsets:
            points = centres + (grid.normal * grid.slice_mm * offset).astype(np.float32)
            sample, masks = phantom.sample(points)
            image += sample / len(offsets)
            if offset == 0.0:
                labels = masks
        # smooth multiplicative coil inhomogeneity, stronger posteriorly (surface coil)
        y = centres[..., 1]
        z = centres[..., 2]
        field = 1.0 + bias * np.tanh((y - 20.0) / 80.0) + 0.5 * bias * np.sin(z / 90.0)
        image *= field
        # Rician noise: magnitude of a complex signal with Gaussian noise
        real = image + rng.normal(0, noise, image.shape)
        imaginary = rng.normal(0, noise, image.shape)
        magnitude = np.sqrt(real**2 + imaginary**2)
        pixels = np.clip(magnitude * MAX_SIGNAL * 0.9, 0, 4095).astype(np.uint16)
        return pixels, {name: mask.astype(np.uint8) for name, mask in labels.items()}

    def series_truth(self, grid: MRGrid) -> dict:
        return {
            "series_instance_uid": self.uid("series", grid.name),
            "image_to_lps": grid.image_to_lps.round(6).tolist(),
            "shape": [grid.n_slices, grid.rows, grid.columns],
        }

    # ------------------------------------------------------------------ writing

    def _base(self, sop_class: str, sop_instance: str, modality: str, series_uid: str, number: int, description: str) -> Dataset:
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = sop_class
        meta.MediaStorageSOPInstanceUID = sop_instance
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = "1.2.826.0.1.3680043.10.1437.1"
        meta.ImplementationVersionName = "SPINEPLAN_0_1"
        ds = Dataset()
        ds.file_meta = meta
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.SOPClassUID = sop_class
        ds.SOPInstanceUID = sop_instance
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = self.study_date
        ds.StudyTime = "093000"
        ds.SeriesTime = ds.ContentTime = f"09{30 + number:02d}00"
        ds.AccessionNumber = "DEMO-ACC-1"
        ds.Modality = modality
        ds.Manufacturer = "Spine Injection Planner (synthetic demo)"
        ds.ManufacturerModelName = "Phantom"
        ds.SoftwareVersions = "0.1"
        ds.InstitutionName = "Demo Clinic"
        ds.ReferringPhysicianName = ""
        ds.StudyDescription = "LUMBAR SPINE MRI and MSK ULTRASOUND (demo)"
        ds.SeriesDescription = description
        ds.PatientName = self.patient["name"]
        ds.PatientID = self.patient["id"]
        ds.PatientBirthDate = self.patient["birth_date"]
        ds.PatientSex = self.patient["sex"]
        ds.StudyInstanceUID = self.study_instance_uid
        ds.SeriesInstanceUID = series_uid
        ds.StudyID = "1"
        ds.SeriesNumber = number
        ds.BodyPartExamined = "LSPINE" if modality == "MR" else ""
        return ds

    def _save(self, ds: Dataset, folder: str, name: str) -> None:
        path = self.out / folder
        path.mkdir(parents=True, exist_ok=True)
        ds.save_as(path / name, enforce_file_format=True)

    def write_mr_series(self, grid: MRGrid, pixels: np.ndarray) -> None:
        series_uid = self.uid("series", grid.name)
        for k in range(grid.n_slices):
            ds = self._base(MR_IMAGE_STORAGE, self.uid("mr", grid.name, k), "MR", series_uid, grid.series_number, grid.description)
            ds.FrameOfReferenceUID = self.frame_of_reference_uid
            ds.PositionReferenceIndicator = ""
            ds.PatientPosition = "HFS"
            ds.InstanceNumber = k + 1
            ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
            ds.ImagePositionPatient = [f"{v:.4f}" for v in grid.position(k)]
            ds.ImageOrientationPatient = [f"{v:.6f}" for v in (*grid.row_dir, *grid.col_dir)]
            ds.PixelSpacing = [f"{grid.pixel_mm:.6g}", f"{grid.pixel_mm:.6g}"]
            ds.SliceThickness = f"{grid.slice_mm:.6g}"
            ds.SpacingBetweenSlices = f"{grid.slice_mm:.6g}"
            ds.SliceLocation = f"{float(np.dot(grid.position(k), grid.normal)):.4f}"
            ds.ScanningSequence = "SE"
            ds.SequenceVariant = "SK"
            ds.ScanOptions = ""
            ds.MRAcquisitionType = "2D"
            ds.RepetitionTime = "3500"
            ds.EchoTime = "100"
            ds.EchoTrainLength = "17"
            ds.SequenceName = "*tse2d1_17"
            ds.AngioFlag = "N"
            ds.MagneticFieldStrength = "1.5"
            ds.ImagingFrequency = "63.6"
            ds.NumberOfAverages = "2"
            ds.FlipAngle = "150"
            _grey_pixel_module(ds, grid.rows, grid.columns, bits_allocated=16, bits_stored=12)
            ds.WindowCenter = "450"
            ds.WindowWidth = "900"
            ds.PixelData = np.ascontiguousarray(pixels[k]).tobytes()
            self._save(ds, f"MR/{grid.name}", f"IM{k + 1:04d}.dcm")

    def _us_common(self, ds: Dataset, region_px=None, delta_mm: float = usp.DELTA_MM, shape=None) -> None:
        x0, y0, x1, y1 = region_px or usp.REGION
        rows, columns = shape or (usp.ROWS, usp.COLUMNS)
        region = Dataset()
        region.RegionSpatialFormat = 1
        region.RegionDataType = 1
        region.RegionFlags = 0
        region.RegionLocationMinX0 = x0
        region.RegionLocationMinY0 = y0
        region.RegionLocationMaxX1 = x1
        region.RegionLocationMaxY1 = y1
        # offsets from Region Location Min X0/Y0 (PS3.3 C.8.5.5.1.16): the centre of the transducer face
        region.ReferencePixelX0 = (x1 - x0) // 2
        region.ReferencePixelY0 = 0
        region.ReferencePixelPhysicalValueX = 0.0
        region.ReferencePixelPhysicalValueY = 0.0
        region.PhysicalUnitsXDirection = 3
        region.PhysicalUnitsYDirection = 3
        region.PhysicalDeltaX = delta_mm / 10.0
        region.PhysicalDeltaY = delta_mm / 10.0
        ds.SequenceOfUltrasoundRegions = [region]
        _grey_pixel_module(ds, rows, columns, bits_allocated=8, bits_stored=8)
        ds.LossyImageCompression = "00"
        ds.PatientOrientation = ""
        ds.InstanceNumber = 1
        ds.TransducerData = ["L12-5", "", ""]
        ds.ProcessingFunction = "MSK"

    def write_us_cine(
        self,
        name: str,
        description: str,
        number: int,
        frames,
        frame_time_ms: float,
        geometry=None,
        encoding: str = "native",
        n_frames: int | None = None,
    ) -> Path:
        """A US Multi-frame cine. ``frames``: an array or an iterable of (rows, columns) uint8 frames
        (``n_frames`` then says how many); ``encoding``: "native", "jpeg" (JPEG baseline, grey) or "rgb"
        (native RGB, the grey copied into three samples, as many scanners store B-mode)."""
        ds = self._base(US_MULTIFRAME_STORAGE, self.uid("us", name), "US", self.uid("series", name), number, description)
        if geometry is None:
            self._us_common(ds)
        else:
            self._us_common(ds, geometry.region, geometry.delta_mm, (geometry.rows, geometry.columns))
        ds.Laterality = "L"
        ds.BodyPartExamined = "LEG"
        ds.ImageType = ["ORIGINAL", "PRIMARY"]
        ds.FrameTime = f"{frame_time_ms:.4f}"
        ds.FrameIncrementPointer = pydicom.tag.Tag("FrameTime")
        ds.CineRate = int(round(1000.0 / frame_time_ms))
        ds.RecommendedDisplayFrameRate = int(round(1000.0 / frame_time_ms))
        if encoding == "jpeg":
            import cv2
            from pydicom.encaps import encapsulate
            from pydicom.uid import JPEGBaseline8Bit

            fragments = [bytes(cv2.imencode(".jpg", np.ascontiguousarray(f), [cv2.IMWRITE_JPEG_QUALITY, 92])[1]) for f in frames]
            ds.NumberOfFrames = len(fragments)
            ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
            ds.PixelData = encapsulate(fragments, has_bot=True)
            ds["PixelData"].VR = "OB"
            ds.LossyImageCompression = "01"
            raw = ds.Rows * ds.Columns * len(fragments)
            ds.LossyImageCompressionRatio = f"{raw / max(1, sum(len(f) for f in fragments)):.2f}"
            ds.LossyImageCompressionMethod = "ISO_10918_1"
        else:
            data = bytearray()
            count = 0
            for f in frames:
                f = np.ascontiguousarray(f)
                data += (np.repeat(f[..., None], 3, axis=2) if encoding == "rgb" else f).tobytes()
                count += 1
            if encoding == "rgb":
                ds.SamplesPerPixel = 3
                ds.PhotometricInterpretation = "RGB"
                ds.PlanarConfiguration = 0
            ds.NumberOfFrames = count
            ds.PixelData = bytes(data)
        if n_frames is not None and int(ds.NumberOfFrames) != n_frames:
            raise ValueError(f"expected {n_frames} frames, got {ds.NumberOfFrames}")
        self._save(ds, f"US/{name}", "US0001.dcm")
        return self.out / "US" / name / "US0001.dcm"

    def write_us_image(self, name: str, description: str, number: int, frame: np.ndarray) -> None:
        ds = self._base(US_IMAGE_STORAGE, self.uid("us", name), "US", self.uid("series", name), number, description)
        self._us_common(ds)
        ds.Laterality = ""
        ds.BodyPartExamined = "SACRUM"
        ds.ImageType = ["ORIGINAL", "PRIMARY"]
        ds.PixelData = np.ascontiguousarray(frame).tobytes()
        self._save(ds, f"US/{name}", "US0001.dcm")
