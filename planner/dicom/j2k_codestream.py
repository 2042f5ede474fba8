"""A JPEG 2000 codestream's marker structure checked without decoding it (ISO/IEC 15444-1 Annex A).

The importer indexes headers only, so a codestream that no decoder can read used
to be indexed and fail later, every time its thumbnail or series was opened. A
walk over the marker segments and the chain of tile-parts (each SOT gives the
length of its tile-part) finds the structural corruption decoders give up on --
a marker where the next tile-part or the end of the codestream must be -- from a
few bytes at known offsets.

Deliberately lenient where decoders are: a JP2 file instead of a raw codestream,
a last tile-part of length 0 ("to the end"), and a codestream cut short are left
to the decoders (OpenJPEG decodes what is there).
"""

from __future__ import annotations

import struct

SOC, SOT, SOD, EOC = 0xFF4F, 0xFF90, 0xFF93, 0xFFD9
#: marker names for messages (ISO/IEC 15444-1 Table A.2)
MARKER_NAMES = {
    0xFF4F: "SOC", 0xFF51: "SIZ", 0xFF52: "COD", 0xFF53: "COC", 0xFF55: "TLM", 0xFF57: "PLM", 0xFF58: "PLT",
    0xFF5C: "QCD", 0xFF5D: "QCC", 0xFF5E: "RGN", 0xFF5F: "POC", 0xFF60: "PPM", 0xFF61: "PPT", 0xFF63: "CRG",
    0xFF64: "COM", 0xFF90: "SOT", 0xFF91: "SOP", 0xFF92: "EPH", 0xFF93: "SOD", 0xFFD9: "EOC",
}
#: a walk stops checking (and accepts) after this many marker segments or tile-parts
MAX_STEPS = 20_000


class FragmentReader:
    """Random access to the bytes of one frame spread over encapsulated fragments of a file."""

    def __init__(self, fp, fragments: list[tuple[int, int]]) -> None:
        self._fp = fp
        self._fragments = fragments
        self.size = sum(length for _, length in fragments)

    def read(self, position: int, n: int) -> bytes:
        out = b""
        start = 0
        for offset, length in self._fragments:
            if position < start + length and n > 0:
                inside = position - start
                take = min(n, length - inside)
                self._fp.seek(offset + inside)
                out += self._fp.read(take)
                position += take
                n -= take
            start += length
            if n <= 0:
                break
        return out


def _name(marker: int) -> str:
    return MARKER_NAMES.get(marker, f"0x{marker:04X}")


def codestream_problem(reader: FragmentReader, rows: int, columns: int) -> str | None:
    """What makes this codestream unreadable as a ``rows`` x ``columns`` frame, or None when its structure holds
    (or it is not a raw codestream)."""
    if reader.read(0, 2) != b"\xff\x4f":
        return None  # a JP2 file or something the decoders sort out themselves
    siz = reader.read(2, 14)
    if len(siz) == 14 and struct.unpack(">H", siz[:2])[0] == 0xFF51:
        width_end, height_end, x_origin, y_origin = struct.unpack(">IIII", siz[6:14] + reader.read(16, 8))
        width, height = width_end - x_origin, height_end - y_origin
        if (width, height) != (columns, rows):
            return f"the codestream holds a {width} x {height} image, but Columns x Rows say {columns} x {rows}"
    position = 2
    # main header: marker segments up to the first tile-part
    for _ in range(MAX_STEPS):
        head = reader.read(position, 4)
        if len(head) < 4:
            return None  # cut short: decoders say what they can
        marker, length = struct.unpack(">HH", head)
        if marker == SOT:
            break
        if marker >> 8 != 0xFF or marker < 0xFF30:
            return f"bytes 0x{marker:04X} at byte {position} of the main header, where a marker segment must start"
        if length < 2:
            return f"{_name(marker)} marker segment at byte {position} has the impossible length {length}"
        position += 2 + length
    else:
        return None
    # tile-parts: each SOT gives the length of its tile-part; the next one or EOC must follow
    for _ in range(MAX_STEPS):
        head = reader.read(position, 12)
        if len(head) < 2:
            return None
        (marker,) = struct.unpack(">H", head[:2])
        if marker == EOC:
            return None
        if marker != SOT:
            return (f"a {_name(marker)} marker at byte {position}, where the next tile-part (SOT) "
                    "or the end of the codestream (EOC) must follow")
        if len(head) < 12:
            return None
        _lsot, _isot, psot, _tpsot, _tnsot = struct.unpack(">HHIBB", head[2:12])
        if psot == 0:
            return None  # the last tile-part runs to EOC
        if psot < 14:
            return f"the tile-part at byte {position} declares the impossible length {psot}"
        position += psot
        if position >= reader.size - 1:
            return None  # ends without EOC: decoders decide
    return None
