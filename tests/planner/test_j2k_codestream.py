"""JPEG 2000 codestreams checked at import without decoding (issue 24: the corrupt sample was indexed, then
printed decoder noise every time it was opened)."""

from __future__ import annotations

import io
import struct

import pytest

from planner import logs
from planner.dicom import pixel_data as dicom_pixel_data
from planner.dicom.header import read_header
from planner.dicom.j2k_codestream import FragmentReader, codestream_problem
from planner.dicom.loader import load_series
from planner.errors import DecodeError
from tests.conftest import SAMPLES, require_shared

CORRUPT = SAMPLES / "broken" / "pylibjpeg-data__966.dcm"


def _codestream(width=64, height=32, tile_parts=(40, 30), after=b"\xff\xd9") -> bytes:
    """SOC, SIZ, COD, then tile-parts of the given lengths (SOT + SOD + filler), then ``after``."""
    siz_body = struct.pack(">HIIIIIIIIH", 0, width, height, 0, 0, width, height, 0, 0, 1) + bytes([7, 1, 1])
    out = b"\xff\x4f" + b"\xff\x51" + struct.pack(">H", 2 + len(siz_body)) + siz_body
    out += b"\xff\x52" + struct.pack(">H", 12) + bytes(10)
    for index, length in enumerate(tile_parts):
        sot = b"\xff\x90" + struct.pack(">HHIBB", 10, 0, length, index, len(tile_parts))
        out += sot + b"\xff\x93" + b"\x11" * (length - len(sot) - 2)
    return out + after


def _problem(stream: bytes, rows=32, columns=64, split=None) -> str | None:
    cut = split or len(stream)
    fragments = [(0, cut)] + ([(cut, len(stream) - cut)] if split else [])
    return codestream_problem(FragmentReader(io.BytesIO(stream), fragments), rows, columns)


def test_a_well_formed_codestream_passes_even_across_fragments():
    assert _problem(_codestream()) is None
    assert _problem(_codestream(), split=57) is None


def test_a_marker_where_the_next_tile_part_must_be_is_named_with_its_byte():
    problem = _problem(_codestream(after=b"\xff\x64\x00\x08PADDING\xff\xd9"))
    assert problem is not None and "COM marker at byte" in problem and "SOT" in problem and "EOC" in problem


def test_an_image_size_other_than_rows_and_columns_is_refused():
    problem = _problem(_codestream(width=64, height=32), rows=40000, columns=3)
    assert problem == "the codestream holds a 64 x 32 image, but Columns x Rows say 3 x 40000"


@pytest.mark.parametrize("stream", [
    b"\x00\x00\x00\x0cjP  \r\n\x87\n" + bytes(40),  # a JP2 file: the decoders read its boxes
    _codestream(tile_parts=(0,)),  # the last tile-part runs to EOC
    _codestream()[:-30],  # cut short: OpenJPEG decodes what is there
])
def test_what_decoders_tolerate_is_left_to_them(stream):
    assert _problem(stream) is None


@pytest.mark.shared
def test_the_corrupt_sample_is_refused_at_import_and_decoders_never_print_to_the_terminal(tmp_path, capfd, monkeypatch):
    require_shared(CORRUPT)
    with pytest.raises(DecodeError) as refused:
        read_header(CORRUPT)
    assert refused.value.path == str(CORRUPT)
    assert "corrupt JPEG 2000 Lossless codestream in frame 1" in refused.value.reason
    assert "COM marker at byte 4099003" in refused.value.reason

    # a corruption only the decoder finds (the import's check stood aside): its messages go to the log
    monkeypatch.setattr(dicom_pixel_data, "codestream_problem", lambda *args: None)
    logs.reset_logging()
    log = logs.setup_logging(tmp_path / "logs")
    try:
        header = read_header(CORRUPT)
        capfd.readouterr()
        with pytest.raises(DecodeError):
            load_series([header]).volumes[0].array
        out, err = capfd.readouterr()
        assert out == "" and err == "", (out, err)
        assert "decoder messages" in log.read_text()
    finally:
        logs.reset_logging()
