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
import os
import struct
import warnings
from dataclasses import dataclass, field
from typing import Any

import pydicom
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.tag import BaseTag
from pydicom.filereader import read_partial
from pydicom.uid import UID

from planner import transfer_syntax as ts
from planner.errors import (
    DicomInputError,
    InvalidAttributeError,
    MissingPixelDataError,
    NestingTooDeepError,
    NotAnImageError,
    NotDicomError,
    PixelDataSizeError,
    TruncatedFileError,
)
from planner.us_calibration import UltrasoundRegion, regions_from_dataset

PIXEL_DATA_TAG = 0x7FE00010
ITEM_TAG = 0xFFFEE000
SEQUENCE_DELIMITER_TAG = 0xFFFEE0DD
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


def native_frame_bytes(rows: int, columns: int, samples: int, bits_allocated: int, photometric: str) -> int:
    """Bytes of one uncompressed frame (PS3.5 8.1.1; YBR_FULL_422 stores 2 samples per pixel)."""
    if photometric == "YBR_FULL_422":
        return rows * columns * 2 * (bits_allocated // 8)
    if bits_allocated == 1:
        return (rows * columns * samples + 7) // 8
    return rows * columns * samples * ((bits_allocated + 7) // 8)


def human_bytes(n: int) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


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
        fp = open(path, "rb")
    except OSError as exc:
        raise DicomInputError(path, f"cannot be read: {exc.strerror or exc}") from exc
    with fp:
        head = fp.read(132)
        fp.seek(0)
        part10 = len(head) == 132 and head[128:132] == b"DICM" and not _plausible_first_element(head)
        if not part10 and not _plausible_first_element(head):
            raise NotDicomError(path, "not a DICOM file: no preamble/DICM and no valid data element at offset 0")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                ds = read_partial(fp, stop_when=_at_pixel_data, force=not part10)
            except RecursionError as exc:
                raise NestingTooDeepError(path, "sequence nesting too deep to be a real object (refused)") from exc
            except (InvalidDicomError, EOFError, struct.error, ValueError, KeyError, OverflowError) as exc:
                raise NotDicomError(path, f"not a readable DICOM data set: {exc}") from exc
            pixel_offset = fp.tell() if not _is_deflated(ds) else None
            try:
                _check_nesting(ds)
            except RecursionError as exc:
                raise NestingTooDeepError(path, "sequence nesting too deep to be a real object (refused)") from exc
            header = _header_from_dataset(path, ds, fp, pixel_offset, stat, part10)
        if caught:
            noted = tuple(f"lenient read: {w.message}" for w in caught)
            header = _replace(header, warnings=header.warnings + noted)
        return header


MAX_SEQUENCE_DEPTH = 32


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


def _value_representation(element) -> str | None:
    """The VR of a raw or converted element; implicit-VR raw elements take it from the dictionary."""
    if element.VR is not None:
        return element.VR
    try:
        return dictionary_VR(element.tag)
    except KeyError:
        return None


def _at_pixel_data(tag, vr, length) -> bool:
    return tag == PIXEL_DATA_TAG


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
    if group == 0x0000:
        return element == 0x0000 and struct.unpack("<I", head[4:8])[0] == 4
    if group not in (0x0002, 0x0008, 0x0010):
        return False
    vr = head[4:6]
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


def _length(element) -> int:
    length = getattr(element, "length", None)
    if length is None:
        value = element.value
        length = len(value) if isinstance(value, (bytes, bytearray)) else 0
    return length


def _tag_at(fp, offset: int, ds) -> int:
    fp.seek(offset)
    raw = fp.read(4)
    if len(raw) < 4:
        return -1
    endian = "<" if ds.original_encoding[1] in (True, None) else ">"
    group, element = struct.unpack(endian + "HH", raw)
    return (group << 16) | element


def _deflated_has_pixels(path: str) -> bool:
    ds = pydicom.dcmread(path, specific_tags=["PixelData"])
    return "PixelData" in ds


def _inferred_transfer_syntax(ds) -> str:
    implicit, little = ds.original_encoding
    if implicit:
        return pydicom.uid.ImplicitVRLittleEndian
    return pydicom.uid.ExplicitVRLittleEndian if little else pydicom.uid.ExplicitVRBigEndian


def _sop_name(uid: str) -> str:
    name = UID(uid).name if uid else "unknown SOP class"
    return name.replace(" Storage", "") if name else uid


def _private_creator(ds, tag) -> str:
    creator_tag = (tag.group << 16) | (tag.element >> 8)
    creator = ds.get(creator_tag)
    return str(creator.value) if creator is not None else "vendor"


# ---------------------------------------------------------------- attribute parsing


def _attributes(path, ds, kind, sop_class_uid, sop_instance_uid, transfer_syntax_uid, stat, repairs) -> dict[str, Any]:
    """The :class:`InstanceHeader` fields of ``ds`` (pixel data offsets excepted), checked."""
    values: dict[str, Any] = dict(
        path=path,
        kind=kind,
        sop_class_uid=sop_class_uid,
        sop_instance_uid=sop_instance_uid,
        study_instance_uid=_text(ds, "StudyInstanceUID"),
        series_instance_uid=_text(ds, "SeriesInstanceUID"),
        transfer_syntax_uid=transfer_syntax_uid,
        modality=_text(ds, "Modality"),
        patient_id=_text(ds, "PatientID"),
        patient_name=_text(ds, "PatientName"),
        patient_birth_date=_text(ds, "PatientBirthDate"),
        patient_sex=_text(ds, "PatientSex"),
        study_date=_text(ds, "StudyDate"),
        study_time=_text(ds, "StudyTime"),
        study_description=_text(ds, "StudyDescription"),
        accession_number=_text(ds, "AccessionNumber"),
        series_description=_text(ds, "SeriesDescription"),
        series_number=_optional_int(path, ds, "SeriesNumber", repairs),
        instance_number=_optional_int(path, ds, "InstanceNumber", repairs),
        frame_of_reference_uid=_text(ds, "FrameOfReferenceUID"),
        manufacturer=_text(ds, "Manufacturer"),
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


#: VRs whose raw bytes are ASCII whatever the Specific Character Set says.
_ASCII_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI"})
#: VRs whose text may follow the Specific Character Set.
_CHARSET_VRS = frozenset({"LO", "LT", "PN", "SH", "ST", "UC", "UT"})
#: Binary numeric VRs and their struct codes.
_BINARY_VRS = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "FL": "f", "FD": "d", "UV": "Q", "SV": "q"}


def _value(ds, keyword: str):
    """The value of ``keyword`` in ``ds``, converted cheaply; None when absent.

    Indexing reads about forty attributes per file, and pydicom's general
    conversion (validation, charset lookup, MultiValue) triples the cost of a
    header read. Raw elements of plain VRs are converted here instead: text
    becomes ``str`` (multiple values stay joined by backslashes), binary
    numbers ``int``/``float`` or a tuple of them. Text that is not pure ASCII,
    sequences and anything unusual go through pydicom as before.
    """
    tag = _tag(keyword)
    element = ds.get_item(tag)
    if element is None:
        return None
    if not isinstance(element, RawDataElement):
        return element.value
    vr = _value_representation(element)
    raw = element.value
    if raw is None:
        return ds[tag].value
    if vr in _ASCII_VRS or vr in _CHARSET_VRS:
        if raw.isascii() and b"\x1b" not in raw:
            return raw.decode("ascii").strip(" \x00")
        return ds[tag].value
    code = _BINARY_VRS.get(vr)
    if code is not None:
        size = struct.calcsize(code)
        if len(raw) == 0 or len(raw) % size:
            return ds[tag].value
        numbers = struct.unpack(("<" if element.is_little_endian else ">") + code * (len(raw) // size), raw)
        return numbers[0] if len(numbers) == 1 else numbers
    return ds[tag].value


def _has(ds, keyword: str) -> bool:
    """``keyword in ds`` without converting the keyword on every call."""
    return _tag(keyword) in ds


def _tag(keyword: str) -> BaseTag:
    tag = _TAGS.get(keyword)
    if tag is None:
        tag = _TAGS[keyword] = BaseTag(tag_for_keyword(keyword))
    return tag


_TAGS: dict[str, BaseTag] = {}


def _text(ds, keyword: str) -> str:
    try:
        value = _value(ds, keyword)
    except Exception:  # undecodable text in a lenient read: leave it out
        return ""
    if value is None:
        return ""
    if isinstance(value, (pydicom.multival.MultiValue, list, tuple)):
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def _multiple(value) -> list | None:
    """The values of a multi-valued attribute as a list; None when it holds one value."""
    if isinstance(value, str):
        return value.split("\\") if "\\" in value else None
    if isinstance(value, (pydicom.multival.MultiValue, list, tuple)):
        return list(value)
    return None


def _single_int(path, ds, keyword: str, default=None, repairs=None, required=False) -> int | None:
    """Parse a one-valued integer attribute strictly; say what is wrong with it."""
    value = _value(ds, keyword)
    if value is None and not _has(ds, keyword):
        if required and default is None:
            raise InvalidAttributeError(path, f"{keyword} (Type 1) is missing")
        if required and repairs is not None:
            repairs.append(f"{keyword} (Type 1) is missing; assumed {default}")
        return default
    several = _multiple(value)
    if several is not None:
        raise InvalidAttributeError(path, f"{keyword} has {len(several)} values ({several}); it must have exactly one")
    if value is None or value == "":
        if required:
            if default is None:
                raise InvalidAttributeError(path, f"{keyword} (Type 1) is empty")
            if repairs is not None:
                repairs.append(f"{keyword} (Type 1) is empty; assumed {default}")
        return default
    try:
        return int(str(value).strip()) if not isinstance(value, int) else int(value)
    except ValueError:
        vr = _value_representation(ds.get_item(_TAGS[keyword]))
        raise InvalidAttributeError(path, f"invalid {keyword} '{value}' ({vr} must be an integer)") from None


def _optional_int(path, ds, keyword, repairs) -> int | None:
    try:
        return _single_int(path, ds, keyword)
    except InvalidAttributeError as exc:
        repairs.append(f"{exc.reason}; ignored")
        return None


def _floats(ds_or_item, keyword: str, count: int) -> tuple[float, ...] | None:
    value = _value(ds_or_item, keyword) if ds_or_item is not None else None
    if value is None or value == "":
        return None
    several = _multiple(value)
    try:
        numbers = tuple(float(v) for v in (several if several is not None else [value]))
    except (TypeError, ValueError):
        return None
    return numbers if len(numbers) == count else None


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
    photometric = _text(ds, "PhotometricInterpretation")
    if not photometric:
        photometric = "MONOCHROME2"
        repairs.append("PhotometricInterpretation (Type 1) is missing; assumed MONOCHROME2")
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
        image_type=tuple(_text(ds, "ImageType").split("\\")) if _text(ds, "ImageType") else (),
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


# ------------------------------------------------------------ pixel data size check


def _pixel_element(path, fp, offset: int, ds, transfer_syntax_uid: str, file_size: int) -> tuple[int, int]:
    """(value length, value offset) of the Pixel Data element; checks it fits in the file."""
    implicit, little = ds.original_encoding
    if implicit is None:
        implicit, little = transfer_syntax_uid == pydicom.uid.ImplicitVRLittleEndian, True
    endian = "<" if little else ">"
    fp.seek(offset + 4)
    if implicit:
        (length,) = struct.unpack(endian + "I", fp.read(4))
        value_offset = offset + 8
    else:
        vr = fp.read(2)
        if vr in (b"OB", b"OW", b"OF", b"OD", b"OL", b"UN", b"OV", b"UT", b"SQ", b"UC", b"UR"):
            fp.read(2)
            (length,) = struct.unpack(endian + "I", fp.read(4))
            value_offset = offset + 12
        else:
            (length,) = struct.unpack(endian + "H", fp.read(2))
            value_offset = offset + 8
    available = max(file_size - value_offset, 0)
    if length != 0xFFFFFFFF and length > available:
        if length > 2 * file_size:
            raise TruncatedFileError(
                path,
                f"truncated: Pixel Data declares {human_bytes(length)} (0x{length:08X} bytes) "
                f"but the file ends at {human_bytes(file_size)}",
            )
        raise TruncatedFileError(path, f"truncated pixel data ({available} of {length} bytes)")
    return length, value_offset


def _check_pixel_data(path, fp, offset: int, element: tuple[int, int], values: dict[str, Any]) -> dict[str, Any]:
    """Compare the Pixel Data element with what the image attributes need; never allocate it.

    Returns the pixel data fields of the header.
    """
    length, value_offset = element
    if length == 0xFFFFFFFF:
        _walk_fragments(path, fp, value_offset, values["file_size"], values["transfer_syntax_uid"])
        return dict(pixel_data_offset=offset, pixel_value_offset=value_offset, pixel_data_encapsulated=True)
    rows, columns, n_frames = values["rows"], values["columns"], values["n_frames"]
    bits, samples = values["bits_allocated"], values["samples_per_pixel"]
    needed = native_frame_bytes(rows, columns, samples, bits, values["photometric_interpretation"]) * n_frames
    if length < needed:
        frames = f" x {n_frames} frames" if n_frames > 1 else ""
        samples_text = f" x {samples} samples" if samples > 1 else ""
        raise PixelDataSizeError(
            path,
            f"Rows x Columns exceed pixel data ({rows} x {columns}{frames}{samples_text} x {bits} bit = "
            f"{human_bytes(needed)} declared, {length} bytes present)",
        )
    return dict(pixel_data_offset=offset, pixel_value_offset=value_offset, pixel_data_encapsulated=False)


def _walk_fragments(path, fp, value_offset: int, file_size: int, transfer_syntax_uid: str) -> None:
    """Follow the item headers of encapsulated Pixel Data to the sequence delimiter."""
    position = value_offset
    n_items = 0
    name = ts.short_name(transfer_syntax_uid)
    while True:
        fp.seek(position)
        raw = fp.read(8)
        if len(raw) < 8:
            raise TruncatedFileError(path, f"truncated file: ends inside the encapsulated {name} pixel data")
        group, element, length = struct.unpack("<HHI", raw)
        tag = (group << 16) | element
        if tag == SEQUENCE_DELIMITER_TAG:
            break
        if tag != ITEM_TAG:
            raise TruncatedFileError(
                path, f"corrupt encapsulated {name} pixel data: expected an item at byte {position}, found {tag:08X}"
            )
        if length == 0xFFFFFFFF or position + 8 + length > file_size:
            raise TruncatedFileError(path, f"truncated file: ends inside the encapsulated {name} pixel data")
        position += 8 + length
        n_items += 1
    if n_items < 2:
        raise MissingPixelDataError(path, f"encapsulated {name} pixel data holds no fragment")


def _replace(header: InstanceHeader, **changes) -> InstanceHeader:
    return dataclasses.replace(header, **changes)


def read_dataset(path: str, stop_before_pixels: bool = False) -> Dataset:
    """Second read of a file already accepted by :func:`read_header` (same leniency)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels, force=True)
    except (OSError, InvalidDicomError, EOFError, struct.error, ValueError, RecursionError) as exc:
        raise DicomInputError(path, f"cannot be re-read: {exc}") from exc


def header_to_json(header: InstanceHeader) -> dict:
    """A JSON-safe dict of ``header`` (for the study database)."""
    data = {name: getattr(header, name) for name in _HEADER_FIELDS}  # shallow: asdict() deep-copies
    data["us_regions"] = [dataclasses.asdict(r) for r in header.us_regions]
    return data


_HEADER_FIELDS = tuple(f.name for f in dataclasses.fields(InstanceHeader))


def region_from_json(data: dict) -> UltrasoundRegion:
    """An ultrasound region from ``dataclasses.asdict`` of one (as stored in the study database)."""
    reference = tuple(data["reference_pixel"]) if data.get("reference_pixel") else None
    return UltrasoundRegion(**{**data, "bounds_px": tuple(data["bounds_px"]), "reference_pixel": reference})


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
