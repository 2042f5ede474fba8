"""The Pixel Data element checked against the file on disk without decoding it: where it starts, its length,
the encapsulated fragments' items, and the frame size the header promises (:mod:`planner.dicom.header`)."""

from __future__ import annotations

import struct
from typing import Any

import pydicom

from planner.dicom import transfer_syntax as ts
from planner.dicom.j2k_codestream import FragmentReader, codestream_problem
from planner.errors import DecodeError, MissingPixelDataError, PixelDataSizeError, TruncatedFileError

PIXEL_DATA_TAG = 0x7FE00010
ITEM_TAG = 0xFFFEE000
SEQUENCE_DELIMITER_TAG = 0xFFFEE0DD


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


def _at_pixel_data(tag, vr, length) -> bool:
    return tag == PIXEL_DATA_TAG


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
    rows, columns, n_frames = values["rows"], values["columns"], values["n_frames"]
    bits, samples = values["bits_allocated"], values["samples_per_pixel"]
    needed = native_frame_bytes(rows, columns, samples, bits, values["photometric_interpretation"]) * n_frames
    if length == 0xFFFFFFFF:
        fragments = _walk_fragments(path, fp, value_offset, values["file_size"], values["transfer_syntax_uid"])
        name = ts.short_name(values["transfer_syntax_uid"])
        if n_frames > len(fragments):
            raise PixelDataSizeError(
                path, f"NumberOfFrames {n_frames} but the encapsulated {name} pixel data holds {len(fragments)} "
                "fragment(s): each frame needs at least one")
        if values["transfer_syntax_uid"] in JPEG_2000_SYNTAXES and (n_frames == 1 or n_frames == len(fragments)):
            first_frame = fragments if n_frames == 1 else fragments[:1]
            problem = codestream_problem(FragmentReader(fp, first_frame), rows, columns)
            if problem:
                raise DecodeError(path, f"corrupt {name} codestream in frame 1 ({problem}): "
                                        "no decoder succeeds on a codestream broken like this")
        if needed > MAX_DECODED_BYTES:
            raise PixelDataSizeError(
                path, f"the declared image ({rows} x {columns} x {n_frames} frames x {samples} samples x {bits} bit) "
                f"would decode to {human_bytes(needed)}, more than the {human_bytes(MAX_DECODED_BYTES)} an image may hold here")
        return dict(pixel_data_offset=offset, pixel_value_offset=value_offset, pixel_data_encapsulated=True)
    if length < needed:
        frames = f" x {n_frames} frames" if n_frames > 1 else ""
        samples_text = f" x {samples} samples" if samples > 1 else ""
        raise PixelDataSizeError(
            path,
            f"Rows x Columns exceed pixel data ({rows} x {columns}{frames}{samples_text} x {bits} bit = "
            f"{human_bytes(needed)} declared, {length} bytes present)",
        )
    return dict(pixel_data_offset=offset, pixel_value_offset=value_offset, pixel_data_encapsulated=False)


#: codestreams whose marker structure the importer checks (ISO/IEC 15444-1 and 15444-15, HTJ2K)
JPEG_2000_SYNTAXES = frozenset({
    "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202",
    "1.2.840.10008.1.2.4.203",
})

#: an encapsulated image that would decode to more than this is refused at import (a claimed size, not a real one)
MAX_DECODED_BYTES = 4 * 2**30


def _walk_fragments(path, fp, value_offset: int, file_size: int, transfer_syntax_uid: str) -> list[tuple[int, int]]:
    """Follow the item headers of encapsulated Pixel Data to the sequence delimiter; (offset, length) of each
    fragment's value, the Basic Offset Table left out."""
    position = value_offset
    items: list[tuple[int, int]] = []
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
        items.append((position + 8, length))
        position += 8 + length
    if len(items) < 2:
        raise MissingPixelDataError(path, f"encapsulated {name} pixel data holds no fragment")
    return items[1:]  # the first item is the Basic Offset Table
