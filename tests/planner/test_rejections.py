"""Every DicomInputError path, on small files built here: each names the file and the problem."""

from __future__ import annotations

import struct

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from planner.dicom import pixel_data as dicom_pixel_data
from planner.dicom.header import read_header
from planner.dicom.pixels import FrameSource
from planner.errors import (
    DecodeError,
    DicomInputError,
    InvalidAttributeError,
    MissingPixelDataError,
    NestingTooDeepError,
    NotAnImageError,
    NotDicomError,
    PixelDataSizeError,
    TruncatedFileError,
    UnsupportedTransferSyntaxError,
)
from tests.conftest import make_mr_slice


def _write_without_meta(path, ds):
    """Write a bare implicit-VR data set: no preamble, no file meta (ACR-NEMA style)."""
    with open(path, "wb") as fp:
        out = pydicom.filebase.DicomFileLike(fp)
        out.is_little_endian, out.is_implicit_VR = True, True
        pydicom.filewriter.write_dataset(out, ds)


def _edit(path, **changes):
    ds = pydicom.dcmread(path)
    for key, value in changes.items():
        if value is None:
            del ds[key]
        else:
            setattr(ds, key, value)
    ds.save_as(path, enforce_file_format=False)
    return path


def test_text_file_is_not_dicom(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("patient notes, not an image\n" * 10)
    with pytest.raises(NotDicomError, match="not a DICOM file: no preamble/DICM") as info:
        read_header(path)
    assert info.value.path == str(path)
    assert str(path) in str(info.value)


def test_empty_file_is_not_dicom(tmp_path):
    path = tmp_path / "empty.dcm"
    path.write_bytes(b"")
    with pytest.raises(NotDicomError, match="not a DICOM file"):
        read_header(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DicomInputError, match="cannot be read"):
        read_header(tmp_path / "gone.dcm")


def test_truncated_pixel_data(mr_slice):
    data = mr_slice.read_bytes()
    mr_slice.write_bytes(data[:-10])
    with pytest.raises(TruncatedFileError, match=r"truncated pixel data \(86 of 96 bytes\)"):
        read_header(mr_slice)


def test_pixel_data_shorter_than_rows_columns(mr_slice):
    _edit(mr_slice, Rows=800)
    with pytest.raises(PixelDataSizeError, match=r"Rows x Columns exceed pixel data \(800 x 6 x 16 bit"):
        read_header(mr_slice)


def test_no_pixel_data(mr_slice):
    _edit(mr_slice, PixelData=None)
    with pytest.raises(MissingPixelDataError, match="no Pixel Data in an MR Image object"):
        read_header(mr_slice)


def test_file_meta_without_transfer_syntax_and_no_image(tmp_path):
    ds = pydicom.Dataset()
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.PatientID = "X"
    path = tmp_path / "meta.dcm"
    ds.save_as(path, enforce_file_format=False, implicit_vr=False, little_endian=True)
    with pytest.raises(NotAnImageError, match="file meta has no Transfer Syntax UID"):
        read_header(path)


def test_query_identifier_is_not_a_stored_instance(tmp_path):
    ds = pydicom.Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.SOPClassUID = ""
    ds.SOPInstanceUID = ""
    ds.PatientName = "*"
    path = tmp_path / "query.dcm"
    _write_without_meta(path, ds)
    with pytest.raises(NotAnImageError, match="not a stored instance: a C-FIND query identifier"):
        read_header(path)


def test_invalid_number_of_frames(mr_slice):
    ds = pydicom.dcmread(mr_slice)
    ds.NumberOfFrames = "9"
    ds.save_as(mr_slice, enforce_file_format=True)
    raw = mr_slice.read_bytes()
    mr_slice.write_bytes(raw.replace(b"IS\x02\x009 ", b"IS\x02\x001A"))
    with pytest.raises(InvalidAttributeError, match=r"invalid NumberOfFrames '1A' \(IS must be an integer\)"):
        read_header(mr_slice)


def test_two_valued_rows(mr_slice):
    raw = mr_slice.read_bytes()
    # Rows (0028,0010) US VL=2 -> VL=4 with a second value, keeping the file consistent
    tag = struct.pack("<HH", 0x0028, 0x0010) + b"US" + struct.pack("<H", 2)
    index = raw.index(tag)
    value = raw[index + 8 : index + 10]
    patched = raw[:index] + struct.pack("<HH", 0x0028, 0x0010) + b"US" + struct.pack("<H", 4) + value + b"\x00\x00" + raw[index + 10 :]
    mr_slice.write_bytes(patched)
    with pytest.raises(InvalidAttributeError, match="Rows has 2 values"):
        read_header(mr_slice)


def test_sequence_nesting_too_deep(tmp_path):
    ds = pydicom.dcmread(make_mr_slice(tmp_path / "deep.dcm"))
    inner = pydicom.Dataset()
    inner.PatientID = "deep"
    for _ in range(2000):
        outer = pydicom.Dataset()
        outer.add_new(0x00091010, "SQ", [inner])
        inner = outer
    ds.add_new(0x00091000, "LO", "NESTING")
    ds.add_new(0x00091010, "SQ", [inner])
    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(20000)
    try:
        ds.save_as(tmp_path / "deep.dcm", enforce_file_format=False)
    finally:
        sys.setrecursionlimit(limit)
    with pytest.raises(NestingTooDeepError, match="sequence nesting too deep"):
        read_header(tmp_path / "deep.dcm")


def test_unsupported_transfer_syntax_names_the_decoder(mr_slice):
    # JPEG XL is covered by the real GE Vivid cine in ../shared; pydicom cannot write that UID
    ds = pydicom.dcmread(mr_slice)
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.102"  # MPEG-4 AVC/H.264
    from pydicom.encaps import encapsulate

    ds.PixelData = encapsulate([b"\xff\x0a" + b"\x00" * 30])
    ds["PixelData"].VR = "OB"
    ds.save_as(mr_slice, enforce_file_format=True)
    with pytest.raises(UnsupportedTransferSyntaxError, match=r"unsupported transfer syntax MPEG-4 .*\(1.2.840.10008.1.2.4.102\): video"):
        read_header(mr_slice)


def test_truncated_inside_encapsulated_fragments(mr_slice):
    ds = pydicom.dcmread(mr_slice)
    ds.compress(pydicom.uid.RLELossless)
    ds.save_as(mr_slice, enforce_file_format=True)
    data = mr_slice.read_bytes()
    mr_slice.write_bytes(data[:-20])
    with pytest.raises(TruncatedFileError, match="truncated file: ends inside the encapsulated RLE Lossless pixel data"):
        read_header(mr_slice)


def test_corrupt_compressed_frame_fails_on_decode(mr_slice, monkeypatch):
    ds = pydicom.dcmread(mr_slice)
    ds.file_meta.TransferSyntaxUID = pydicom.uid.JPEG2000Lossless
    from pydicom.encaps import encapsulate

    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + b"\x00" * 40 + b"\xff\xd9"])
    ds["PixelData"].VR = "OB"
    ds.save_as(mr_slice, enforce_file_format=True)
    # the header is fine; the codestream's SIZ is not: refused at import, before any decoder runs
    with pytest.raises(DecodeError, match=r"codestream holds a 0 x 0 image, but Columns x Rows say \d+ x \d+"):
        read_header(mr_slice)
    # the same codestream met by the decoder (a corruption only it finds): one sentence, no decoder succeeds
    monkeypatch.setattr(dicom_pixel_data, "codestream_problem", lambda *args: None)
    with pytest.raises(DecodeError, match="no decoder succeeds"):
        FrameSource(read_header(mr_slice)).frame(0)


def test_missing_pixel_representation_is_a_warning_not_silent(mr_slice):
    _edit(mr_slice, PixelRepresentation=None)
    header = read_header(mr_slice)
    assert any("PixelRepresentation (Type 1) is missing; assumed 0" in w for w in header.warnings)
    assert FrameSource(header).frame(0)[2, 3] == 24


def test_no_file_meta_is_read_leniently_with_a_warning(tmp_path, mr_slice):
    ds = pydicom.dcmread(mr_slice)
    del ds.file_meta
    path = tmp_path / "acr_nema.dcm"
    _write_without_meta(path, ds)
    header = read_header(path)
    assert any("inferred as Implicit VR Little Endian" in w for w in header.warnings)
    assert FrameSource(header).frame(0)[1, 1] == 12


def test_deep_nesting_is_refused_before_pydicom_recurses(tmp_path, monkeypatch):
    """Thousands of nested undefined-length items are counted in the raw bytes and refused before pydicom reads
    them (pydicom's recursion to the interpreter's limit makes unrelated finalisers fail as unraisable
    exceptions); nesting of a real depth, and a real enhanced multi-frame's many items, are not refused."""
    import pydicom.filereader

    from planner.dicom.guards import undefined_item_depth

    item = b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
    close = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"
    assert undefined_item_depth((item + close) * 5000) == 1  # many items in a row: one deep
    assert undefined_item_depth(item * 3 + close * 3) == 3
    raw = make_mr_slice(tmp_path / "mr.dcm").read_bytes()
    at = raw.index(b"\x08\x00\x16\x00")  # SOP Class UID, the first data set element of the slice
    sq = b"\x08\x00\x15\x11SQ\x00\x00\xff\xff\xff\xff"
    deep = tmp_path / "deep.dcm"
    deep.write_bytes(raw[:at] + (sq + item) * 50_000 + raw[at:])

    def no_parse(*args, **kwargs):
        raise AssertionError("pydicom was asked to parse a file nested 50000 deep")

    monkeypatch.setattr("planner.dicom.header.read_partial", no_parse)
    with pytest.raises(NestingTooDeepError, match=r"sequence nesting too deep .* 50000 deep"):
        read_header(deep)
    monkeypatch.setattr("planner.dicom.header.read_partial", pydicom.filereader.read_partial)
    assert read_header(tmp_path / "mr.dcm").rows > 0


def test_a_large_files_header_is_checked_from_one_small_read(tmp_path, monkeypatch):
    """The pre-parse checks (preamble, deflate bomb, nesting) share the file's first 64 KB: a 32 MB slice is not
    read 8 MB deep for its header, and the file is not opened a second time for the deflate check."""
    from planner.dicom import guards

    path = make_mr_slice(tmp_path / "big.dcm", rows=4096, columns=4096,
                         pixels=np.zeros((4096, 4096), dtype=np.uint16))
    assert path.stat().st_size > 32 * 2**20
    read = []
    real_read = guards._SizeCheckedFile.read

    def counted(self, n=-1):
        data = real_read(self, n)
        read.append(len(data))
        return data

    def no_second_open(*args, **kwargs):
        raise AssertionError("the deflate check opened a file that is not Deflated")

    monkeypatch.setattr(guards._SizeCheckedFile, "read", counted)
    monkeypatch.setattr(guards, "open", no_second_open, raising=False)
    header = read_header(path)
    assert (header.rows, header.columns) == (4096, 4096)
    assert sum(read) < 2 * guards.HEADER_CHUNK, f"{sum(read)} bytes read for a header of a few kB"


def test_deep_nesting_of_defined_length_is_refused_in_a_small_file(tmp_path):
    """A small file is parsed from the bytes already read, and its sequences are walked only when they hold
    enough items to nest too deep: 40 levels of defined length are still refused, 20 still read."""
    from planner.dicom.guards import MAX_SEQUENCE_DEPTH

    raw = make_mr_slice(tmp_path / "mr.dcm").read_bytes()
    at = raw.index(b"\x08\x00\x16\x00")

    def nested(depth: int) -> bytes:
        content = b""
        for _ in range(depth):
            item = b"\xfe\xff\x00\xe0" + struct.pack("<I", len(content)) + content
            content = b"\x08\x00\x15\x11SQ\x00\x00" + struct.pack("<I", len(item)) + item
        return content

    deep, shallow = tmp_path / "deep.dcm", tmp_path / "shallow.dcm"
    deep.write_bytes(raw[:at] + nested(MAX_SEQUENCE_DEPTH + 8) + raw[at:])
    shallow.write_bytes(raw[:at] + nested(20) + raw[at:])
    assert deep.stat().st_size < 64 * 2**10
    with pytest.raises(NestingTooDeepError, match="sequence nesting too deep"):
        read_header(deep)
    assert read_header(shallow).rows > 0
