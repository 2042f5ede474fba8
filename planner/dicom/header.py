"""First pass of reading: one file's header, checked, without decoding pixels.

:func:`read_header` returns an :class:`InstanceHeader` (a small frozen record
that the study database stores) or raises a :class:`~planner.errors.DicomInputError`
subclass that says precisely why the file cannot be used. It never allocates
what a header merely claims: the size of Pixel Data is checked against the file
on disk by reading element and item headers only.

Reading is lenient where the standard's intent is clear (no file meta: infer the
transfer syntax; a missing PixelRepresentation: assume unsigned) and every such
repair is returned in ``InstanceHeader.warnings``, never done silently.
"""

from __future__ import annotations

import dataclasses
import io
import os
import struct
import warnings
from dataclasses import dataclass, field
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_partial
from pydicom.uid import UID

from planner.dicom import transfer_syntax as ts
from planner.dicom.guards import (
    HEADER_CHUNK,
    MAX_SEQUENCE_DEPTH,
    open_checked,
    refuse_deep_nesting,
    refuse_deflate_bomb,
    too_few_items_to_nest_too_deep,
)
from planner.dicom.pixel_data import (
    PIXEL_DATA_TAG,
    _at_pixel_data,
    _check_pixel_data,
    _deflated_has_pixels,
    _pixel_element,
    _tag_at,
    native_frame_bytes,
)
from planner.dicom.read_errors import describe, printable
from planner.dicom.values import (
    _floats,
    _has,
    _length,
    _optional_int,
    _private_creator,
    _single_int,
    _text,
    _value_representation,
)
from planner.errors import (
    DicomInputError,
    InvalidAttributeError,
    MissingPixelDataError,
    NestingTooDeepError,
    NotAnImageError,
    NotDicomError,
)
from planner.viewing.us_calibration import UltrasoundRegion, regions_from_dataset

MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"

#: SOP classes that hold no image to display, by UID prefix (PS3.4 Annex B).
NON_IMAGE_SOP_PREFIXES = (
    "1.2.840.10008.5.1.4.1.1.88.",  # structured reports, key object selection
    "1.2.840.10008.5.1.4.1.1.104.",  # encapsulated PDF, CDA, STL, OBJ, MTL
    "1.2.840.10008.5.1.4.1.1.11.",  # presentation states
    "1.2.840.10008.5.1.4.1.1.66",  # raw data (66), registration (66.1, 66.3), fiducials (66.2)
    "1.2.840.10008.5.1.4.1.1.9.",  # waveforms
    "1.2.840.10008.5.1.4.1.1.481.3",  # RT structure set
    "1.2.840.10008.5.1.4.1.1.481.5",  # RT plan
    "1.2.840.10008.5.1.4.1.1.481.4",  # RT beams treatment record
    "1.2.840.10008.5.1.4.34.",  # RT second generation
    "1.2.840.10008.5.1.4.1.1.68.",  # surface segmentation, point cloud
    "1.2.840.10008.5.1.4.1.1.67",  # real world value mapping
    MEDIA_STORAGE_DIRECTORY,
)

ENHANCED_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR
    "1.2.840.10008.5.1.4.1.1.4.4",  # Legacy converted enhanced MR
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT
    "1.2.840.10008.5.1.4.1.1.2.2",  # Legacy converted enhanced CT
    "1.2.840.10008.5.1.4.1.1.66.4",  # Segmentation
    "1.2.840.10008.5.1.4.1.1.30",  # Parametric map
    "1.2.840.10008.5.1.4.1.1.128.1",  # Legacy converted enhanced PET
    "1.2.840.10008.5.1.4.1.1.130",  # Enhanced PET
}
SEGMENTATION_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"


def is_non_image_sop_class(sop_class_uid: str) -> bool:
    """True for SOP classes without displayable pixels (SR, PDF, PR, raw data, ...); SEG is an image."""
    if sop_class_uid in (SEGMENTATION_SOP_CLASS, "1.2.840.10008.5.1.4.1.1.66.7"):
        return False
    return any(sop_class_uid.startswith(prefix) for prefix in NON_IMAGE_SOP_PREFIXES)


@dataclass(frozen=True)
class InstanceHeader:
    """What the index needs to know of one DICOM file, without its pixels.

    ``kind`` is "image" (displayable pixels), "other" (a valid non-image object:
    SR, PDF, KO, PR, STL, raw data, SEG is an image) or "dicomdir".
    Geometry fields are None when absent. ``pixel_data_offset`` is the file
    offset of the Pixel Data element header and ``pixel_value_offset`` that of
    its value (both None for deflated files and non-images). ``warnings`` lists
    every lenient repair made while reading.
    """

    path: str
    kind: str
    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    transfer_syntax_uid: str
    modality: str = ""
    patient_id: str = ""
    patient_name: str = ""
    patient_birth_date: str = ""
    patient_sex: str = ""
    study_date: str = ""
    study_time: str = ""
    study_description: str = ""
    accession_number: str = ""
    series_description: str = ""
    series_number: int | None = None
    instance_number: int | None = None
    frame_of_reference_uid: str = ""
    manufacturer: str = ""
    rows: int = 0
    columns: int = 0
    n_frames: int = 0
    samples_per_pixel: int = 1
    bits_allocated: int = 0
    bits_stored: int = 0
    pixel_representation: int = 0
    photometric_interpretation: str = ""
    planar_configuration: int = 0
    pixel_spacing_mm: tuple[float, float] | None = None
    image_position_lps: tuple[float, float, float] | None = None
    image_orientation: tuple[float, ...] | None = None
    slice_thickness_mm: float | None = None
    image_type: tuple[str, ...] = ()
    rescale_slope: float = 1.0
    rescale_intercept: float = 0.0
    is_enhanced: bool = False
    frame_time_ms: float | None = None
    us_regions: tuple[UltrasoundRegion, ...] = ()
    pixel_data_offset: int | None = None
    pixel_value_offset: int | None = None
    pixel_data_encapsulated: bool = False
    file_size: int = 0
    file_mtime_ns: int = 0
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_image(self) -> bool:
        return self.kind == "image"

    @property
    def frame_bytes(self) -> int:
        """Bytes of one native (uncompressed) frame as stored."""
        return native_frame_bytes(
            self.rows, self.columns, self.samples_per_pixel, self.bits_allocated, self.photometric_interpretation
        )


# --------------------------------------------------------------------------- reading


def read_header(path: str | os.PathLike) -> InstanceHeader:
    """Read and check one file's header without its pixel data.

    Raises:
        NotDicomError, NotAnImageError, MissingPixelDataError, TruncatedFileError,
        PixelDataSizeError, InvalidAttributeError, NestingTooDeepError,
        UnsupportedTransferSyntaxError: each with the path and a specific reason.
    """
    path = os.fspath(path)
    try:
        stat = os.stat(path)
        fp = open_checked(path, stat.st_size)
    except OSError as exc:
        raise DicomInputError(path, f"cannot be read: {exc.strerror or exc}") from exc
    with fp:
        head = fp.read(HEADER_CHUNK)  # read once: the DICM check, the deflate and the nesting checks share it
        fp.seek(0)
        part10 = len(head) >= 132 and head[128:132] == b"DICM" and not _plausible_first_element(head)
        if not part10 and not _plausible_first_element(head):
            raise NotDicomError(path, "not a DICOM file: no preamble/DICM and no valid data element at offset 0")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            refuse_deflate_bomb(path, head, stat.st_size)
            refuse_deep_nesting(path, fp, head)
            # a file the first read holds whole (every small slice) is parsed from those bytes: pydicom's
            # many small reads then cost no system call and no size check each
            source = io.BytesIO(head) if len(head) == stat.st_size else fp
            try:
                ds = read_partial(source, stop_when=_at_pixel_data, force=not part10)
            except RecursionError as exc:
                raise NestingTooDeepError(path, "sequence nesting too deep to be a real object (refused)") from exc
            except (InvalidDicomError, EOFError, struct.error, ValueError, KeyError, OverflowError) as exc:
                raise NotDicomError(path, f"not a readable DICOM data set: {describe(exc)}") from exc
            except Exception as exc:  # noqa: BLE001 - MemoryError, NotImplementedError, zlib.error, OSError...
                raise NotDicomError(path, f"not a readable DICOM data set: {describe(exc)}") from exc
            deflated = _is_deflated(ds)
            pixel_offset = None if deflated else source.tell()
            try:
                # a small file held whole: its raw bytes may already rule deep nesting out (a Deflated one's
                # bytes are compressed: always walked)
                if source is fp or deflated or not too_few_items_to_nest_too_deep(head):
                    _check_nesting(ds)
                header = _header_from_dataset(path, ds, source, pixel_offset, stat, part10)
            except RecursionError as exc:
                raise NestingTooDeepError(path, "sequence nesting too deep to be a real object (refused)") from exc
            except DicomInputError:
                raise
            except Exception as exc:  # noqa: BLE001 - a corrupt element met while converting the header
                raise NotDicomError(path, f"not a readable DICOM data set: {describe(exc)}") from exc
        if caught:
            # a library's warning may quote the value it met (a name): quoted values are left out
            noted = tuple(dict.fromkeys(f"lenient read: {printable(str(w.message))}" for w in caught))
            header = _replace(header, warnings=header.warnings + noted)
        return header


def _check_nesting(ds) -> None:
    """Raise RecursionError when sequences nest deeper than MAX_SEQUENCE_DEPTH (walked iteratively).

    Only sequences are converted on the way; other elements stay raw (reading
    them all would triple the cost of indexing a header).
    """
    stack = [(ds, 0)]
    while stack:
        dataset, depth = stack.pop()
        for raw in dataset.elements():
            if _value_representation(raw) != "SQ":
                continue
            if depth + 1 > MAX_SEQUENCE_DEPTH:
                raise RecursionError(f"sequences nested deeper than {MAX_SEQUENCE_DEPTH}")
            stack.extend((item, depth + 1) for item in dataset[raw.tag].value)


def _is_deflated(ds) -> bool:
    return getattr(ds.file_meta, "TransferSyntaxUID", None) == pydicom.uid.DeflatedExplicitVRLittleEndian


def _plausible_first_element(head: bytes) -> bool:
    """True when offset 0 holds a believable data element (a file without preamble).

    Accepts little-endian groups 0x0002, 0x0008, 0x0010, or the (0000,0000) command
    group length with a 4-byte value, in explicit or implicit VR.
    """
    if len(head) < 8:
        return False
    group, element = struct.unpack("<HH", head[:4])
    vr = head[4:6]
    if struct.unpack(">H", head[:2])[0] in (0x0008, 0x0010) and vr.isalpha() and vr.isupper():
        return True  # Explicit VR Big Endian without file meta: retired, still legal
    if group == 0x0000:
        return element == 0x0000 and struct.unpack("<I", head[4:8])[0] == 4
    if group not in (0x0002, 0x0008, 0x0010):
        return False
    if vr.isalpha() and vr.isupper():
        return True
    length = struct.unpack("<I", head[4:8])[0]
    return length < 0x10000


def _header_from_dataset(path, ds, fp, pixel_offset, stat, part10) -> InstanceHeader:
    repairs: list[str] = []
    meta = ds.file_meta
    media_sop_class = _text(meta, "MediaStorageSOPClassUID")
    sop_class_uid = _text(ds, "SOPClassUID") or media_sop_class
    sop_instance_uid = _text(ds, "SOPInstanceUID") or _text(meta, "MediaStorageSOPInstanceUID")
    transfer_syntax_uid = _text(meta, "TransferSyntaxUID")

    if media_sop_class == MEDIA_STORAGE_DIRECTORY or _has(ds, "DirectoryRecordSequence"):
        return InstanceHeader(
            path=path,
            kind="dicomdir",
            sop_class_uid=MEDIA_STORAGE_DIRECTORY,
            sop_instance_uid=sop_instance_uid,
            study_instance_uid="",
            series_instance_uid="",
            transfer_syntax_uid=transfer_syntax_uid,
            file_size=stat.st_size,
            file_mtime_ns=stat.st_mtime_ns,
        )

    has_pixels = pixel_offset is not None and pixel_offset < stat.st_size and _tag_at(fp, pixel_offset, ds) == PIXEL_DATA_TAG
    if pixel_offset is None:  # deflated: read_partial decompressed into memory and stopped there
        has_pixels = "PixelData" in ds or _deflated_has_pixels(path)
    has_float_pixels = _has(ds, "FloatPixelData") or _has(ds, "DoubleFloatPixelData")

    if _has(ds, "QueryRetrieveLevel") and not _text(ds, "SOPInstanceUID"):
        raise NotAnImageError(
            path, "not a stored instance: a C-FIND query identifier (no file meta, empty SOP Class/Instance UIDs)"
        )
    if not sop_class_uid and not sop_instance_uid and _has(ds, "SOPClassUID"):
        raise NotAnImageError(path, "not a stored instance: SOP Class and SOP Instance UIDs are empty")
    has_image_attributes = _has(ds, "Rows") and _has(ds, "Columns")
    if not _text(ds, "SOPClassUID") and not has_image_attributes:
        if not transfer_syntax_uid and len(meta) > 0:
            raise NotAnImageError(
                path, "file meta has no Transfer Syntax UID and the data set has no SOP Class or image attributes"
            )
        what = f" (file meta names {_sop_name(media_sop_class)})" if media_sop_class else ""
        pixels = "with" if has_pixels else "without"
        raise NotAnImageError(
            path, f"not an image: header-only data set without SOP Class UID or image attributes, {pixels} Pixel Data{what}"
        )

    if not transfer_syntax_uid:
        transfer_syntax_uid = _inferred_transfer_syntax(ds)
        repairs.append(
            f"no DICOM file meta information; transfer syntax inferred as {UID(transfer_syntax_uid).name}"
        )
    if not part10 and "no DICOM file meta" not in " ".join(repairs):
        repairs.append("no 128-byte preamble and DICM prefix; read leniently")

    if is_non_image_sop_class(sop_class_uid):
        return InstanceHeader(**_attributes(path, ds, "other", sop_class_uid, sop_instance_uid, transfer_syntax_uid, stat, repairs))

    if not has_pixels and not has_float_pixels:
        private = [elem for elem in ds if elem.tag.is_private and elem.VR in ("OB", "OW", "UN") and _length(elem) > 1024]
        if private:
            largest = max(private, key=_length)
            creator = _private_creator(ds, largest.tag)
            raise MissingPixelDataError(
                path,
                f"no Pixel Data: pixels only in private {creator} {largest.tag} data that no standard decoder reads",
            )
        raise MissingPixelDataError(path, f"no Pixel Data in an {_sop_name(sop_class_uid)} object (header only)")

    element = None
    if pixel_offset is not None and has_pixels:
        element = _pixel_element(path, fp, pixel_offset, ds, transfer_syntax_uid, stat.st_size)
    values = _attributes(path, ds, "image", sop_class_uid, sop_instance_uid, transfer_syntax_uid, stat, repairs)
    if element is not None:
        values.update(_check_pixel_data(path, fp, pixel_offset, element, values))
    ts.require_decoder(path, values["transfer_syntax_uid"])
    return InstanceHeader(**values)


def _inferred_transfer_syntax(ds) -> str:
    implicit, little = ds.original_encoding
    if implicit:
        return pydicom.uid.ImplicitVRLittleEndian
    return pydicom.uid.ExplicitVRLittleEndian if little else pydicom.uid.ExplicitVRBigEndian


def _sop_name(uid: str) -> str:
    name = UID(uid).name if uid else "unknown SOP class"
    return name.replace(" Storage", "") if name else uid


# ---------------------------------------------------------------- attribute parsing


def _attributes(path, ds, kind, sop_class_uid, sop_instance_uid, transfer_syntax_uid, stat, repairs) -> dict[str, Any]:
    """The :class:`InstanceHeader` fields of ``ds`` (pixel data offsets excepted), checked."""
    values: dict[str, Any] = dict(
        path=path,
        kind=kind,
        sop_class_uid=sop_class_uid,
        sop_instance_uid=sop_instance_uid,
        study_instance_uid=_text(ds, "StudyInstanceUID", repairs),
        series_instance_uid=_text(ds, "SeriesInstanceUID", repairs),
        transfer_syntax_uid=transfer_syntax_uid,
        modality=_text(ds, "Modality", repairs),
        patient_id=_text(ds, "PatientID", repairs),
        patient_name=_text(ds, "PatientName", repairs),
        patient_birth_date=_text(ds, "PatientBirthDate", repairs),
        patient_sex=_text(ds, "PatientSex", repairs),
        study_date=_text(ds, "StudyDate", repairs),
        study_time=_text(ds, "StudyTime", repairs),
        study_description=_text(ds, "StudyDescription", repairs),
        accession_number=_text(ds, "AccessionNumber", repairs),
        series_description=_text(ds, "SeriesDescription", repairs),
        series_number=_optional_int(path, ds, "SeriesNumber", repairs),
        instance_number=_optional_int(path, ds, "InstanceNumber", repairs),
        frame_of_reference_uid=_text(ds, "FrameOfReferenceUID", repairs),
        manufacturer=_text(ds, "Manufacturer", repairs),
        file_size=stat.st_size,
        file_mtime_ns=stat.st_mtime_ns,
    )
    if not values["study_instance_uid"] or not values["series_instance_uid"]:
        missing = "StudyInstanceUID" if not values["study_instance_uid"] else "SeriesInstanceUID"
        if kind != "image":
            raise InvalidAttributeError(path, f"{missing} is missing; the object cannot be filed in a study")
        repairs.append(f"{missing} is missing; a placeholder UID derived from the other identifiers was used")
        if missing == "StudyInstanceUID":
            sources = [values["series_instance_uid"] or path, values["patient_id"], values["study_date"]]
            values["study_instance_uid"] = pydicom.uid.generate_uid(entropy_srcs=["study"] + sources)
        else:
            sources = [values["study_instance_uid"], values["modality"], str(values["series_number"])]
            values["series_instance_uid"] = pydicom.uid.generate_uid(entropy_srcs=["series"] + sources)
    if not sop_instance_uid:
        raise InvalidAttributeError(path, "SOPInstanceUID is missing or empty")
    if kind == "image":
        values.update(_image_attributes(path, ds, sop_class_uid, repairs))
    values["warnings"] = tuple(repairs)
    return values


def _image_attributes(path, ds, sop_class_uid, repairs) -> dict[str, Any]:
    rows = _single_int(path, ds, "Rows", required=True)
    columns = _single_int(path, ds, "Columns", required=True)
    bits_allocated = _single_int(path, ds, "BitsAllocated", required=True)
    if rows <= 0 or columns <= 0:
        raise InvalidAttributeError(path, f"Rows x Columns = {rows} x {columns}: an image needs at least one pixel")
    if bits_allocated not in (1, 8, 16, 32, 64):
        raise InvalidAttributeError(path, f"BitsAllocated {bits_allocated} is not 1, 8, 16, 32 or 64")
    n_frames = _single_int(path, ds, "NumberOfFrames", default=1)
    if n_frames < 1:
        raise InvalidAttributeError(path, f"invalid NumberOfFrames {n_frames} (must be at least 1)")
    photometric = _text(ds, "PhotometricInterpretation", repairs)
    if not photometric:
        photometric = "MONOCHROME2"
        repairs.append("PhotometricInterpretation (Type 1) is missing; assumed MONOCHROME2")
    if photometric == "PALETTE COLOR":
        for colour, descriptor, data, segmented in (("Red", 0x00281101, 0x00281201, 0x00281221),
                                                    ("Green", 0x00281102, 0x00281202, 0x00281222),
                                                    ("Blue", 0x00281103, 0x00281203, 0x00281223)):
            if descriptor not in ds or (data not in ds and segmented not in ds):
                raise InvalidAttributeError(
                    path, f"PALETTE COLOR image without its palette: the {colour} Palette Color Lookup Table "
                    f"{'Descriptor' if descriptor not in ds else 'Data'} is missing")
    default_samples = 3 if photometric in ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT") else 1
    samples = _single_int(path, ds, "SamplesPerPixel", default=default_samples, repairs=repairs, required=True)
    bits_stored = _single_int(path, ds, "BitsStored", default=bits_allocated, repairs=repairs, required=True)
    pixel_representation = _single_int(path, ds, "PixelRepresentation", default=0, repairs=repairs, required=True)
    planar = _single_int(path, ds, "PlanarConfiguration", default=0) if samples > 1 else 0

    is_enhanced = sop_class_uid in ENHANCED_SOP_CLASSES or _has(ds, "SharedFunctionalGroupsSequence")
    spacing = _floats(ds, "PixelSpacing", 2)
    orientation = _floats(ds, "ImageOrientationPatient", 6)
    position = _floats(ds, "ImagePositionPatient", 3)
    thickness = _floats(ds, "SliceThickness", 1)
    if is_enhanced:
        spacing, orientation, position, thickness = _enhanced_geometry(ds, spacing, orientation, position, thickness)
    if spacing is not None and min(spacing) <= 0:
        repairs.append(f"PixelSpacing {list(spacing)} is not positive; ignored")
        spacing = None
    if orientation is not None and not _orthonormal(orientation):
        repairs.append(f"ImageOrientationPatient {list(orientation)} is not two orthogonal unit vectors; ignored")
        orientation = None

    return dict(
        rows=rows,
        columns=columns,
        n_frames=n_frames,
        samples_per_pixel=samples,
        bits_allocated=bits_allocated,
        bits_stored=bits_stored,
        pixel_representation=pixel_representation,
        photometric_interpretation=photometric,
        planar_configuration=planar or 0,
        pixel_spacing_mm=spacing,
        image_position_lps=position,
        image_orientation=orientation,
        slice_thickness_mm=thickness[0] if thickness else None,
        image_type=tuple(_text(ds, "ImageType", repairs).split("\\")) if _text(ds, "ImageType", repairs) else (),
        rescale_slope=(_floats(ds, "RescaleSlope", 1) or (1.0,))[0] or 1.0,
        rescale_intercept=(_floats(ds, "RescaleIntercept", 1) or (0.0,))[0],
        is_enhanced=is_enhanced,
        frame_time_ms=_frame_time_ms(ds),
        us_regions=regions_from_dataset(ds),
    )


def _enhanced_geometry(ds, spacing, orientation, position, thickness):
    """Pixel spacing, orientation and the first frame's position from functional groups."""
    shared = (ds.get("SharedFunctionalGroupsSequence") or [None])[0]
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    first = per_frame[0] if per_frame else None
    for item in (shared, first):
        if item is None:
            continue
        measures = (item.get("PixelMeasuresSequence") or [None])[0]
        if measures is not None:
            spacing = _floats(measures, "PixelSpacing", 2) or spacing
            thickness = _floats(measures, "SliceThickness", 1) or thickness
        plane = (item.get("PlaneOrientationSequence") or [None])[0]
        if plane is not None:
            orientation = _floats(plane, "ImageOrientationPatient", 6) or orientation
        pos = (item.get("PlanePositionSequence") or [None])[0]
        if pos is not None:
            position = _floats(pos, "ImagePositionPatient", 3) or position
    return spacing, orientation, position, thickness


def _orthonormal(orientation) -> bool:
    row, col = orientation[:3], orientation[3:]
    norm_row = sum(v * v for v in row) ** 0.5
    norm_col = sum(v * v for v in col) ** 0.5
    dot = sum(a * b for a, b in zip(row, col))
    return abs(norm_row - 1) < 0.01 and abs(norm_col - 1) < 0.01 and abs(dot) < 0.01


def _frame_time_ms(ds) -> float | None:
    """Nominal time between frames (PS3.3 C.7.6.5 Cine module), ms."""
    for keyword in ("FrameTime",):
        value = _floats(ds, keyword, 1)
        if value and value[0] > 0:
            return value[0]
    for keyword in ("CineRate", "RecommendedDisplayFrameRate"):
        value = _floats(ds, keyword, 1)
        if value and value[0] > 0:
            return 1000.0 / value[0]
    vector = ds.get("FrameTimeVector")
    if vector:
        try:
            increments = [float(v) for v in vector][1:]
        except (TypeError, ValueError):
            return None
        if increments:
            return sum(increments) / len(increments)
    return None


def _replace(header: InstanceHeader, **changes) -> InstanceHeader:
    return dataclasses.replace(header, **changes)


def read_dataset(path: str, stop_before_pixels: bool = False) -> Dataset:
    """Second read of a file already accepted by :func:`read_header` (same leniency)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels, force=True)
    except Exception as exc:  # noqa: BLE001 - whatever a corrupt file makes pydicom raise
        raise DicomInputError(path, f"cannot be re-read: {describe(exc)}") from exc


def header_to_json(header: InstanceHeader) -> dict:
    """A JSON-safe dict of ``header`` (for the study database)."""
    data = {name: getattr(header, name) for name in _HEADER_FIELDS}  # shallow: asdict() deep-copies
    data["us_regions"] = [dataclasses.asdict(r) for r in header.us_regions]
    return data


_HEADER_FIELDS = tuple(f.name for f in dataclasses.fields(InstanceHeader))


def region_from_json(data: dict) -> UltrasoundRegion:
    """An ultrasound region from ``dataclasses.asdict`` of one (as stored in the study database)."""
    reference = tuple(data["reference_pixel"]) if data.get("reference_pixel") else None
    physical = tuple(data["reference_physical_mm"]) if data.get("reference_physical_mm") else None
    return UltrasoundRegion(
        **{**data, "bounds_px": tuple(data["bounds_px"]), "reference_pixel": reference, "reference_physical_mm": physical}
    )


def header_from_json(data: dict) -> InstanceHeader:
    """Inverse of :func:`header_to_json`."""
    values = dict(data)
    values["us_regions"] = tuple(region_from_json(r) for r in values.get("us_regions", ()))
    for key in ("pixel_spacing_mm", "image_position_lps", "image_orientation"):
        if values.get(key) is not None:
            values[key] = tuple(values[key])
    values["image_type"] = tuple(values.get("image_type", ()))
    values["warnings"] = tuple(values.get("warnings", ()))
    return InstanceHeader(**values)
