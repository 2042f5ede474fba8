"""One sentence for an exception raised while reading or decoding a DICOM file (issue 24).

pydicom, zlib and the pixel decoders raise whatever they meet on a corrupt file: ``MemoryError`` for a
length of 4 GB, ``NotImplementedError`` for a VR 'DD', ``OSError`` for a tag that is not there. The
importer, the loader and ``main.py info`` turn each into a :class:`~planner.errors.DicomInputError` with
this sentence: what is wrong with the file, never raw bytes of it (they may hold the patient's name).
"""

from __future__ import annotations

import re
import zlib

_VR = re.compile(r"Unknown Value Representation '([^']*)' in tag (\([0-9A-Fa-f]{4},[0-9A-Fa-f]{4}\))")
_POSITION = re.compile(r"No tag to read at file position ([0-9A-Fa-f]+)")
MAX_CHARS = 160


_QUOTED = re.compile(r"b?'[^']*'|b?\"[^\"]*\"")


def printable(text: str) -> str:
    """At most :data:`MAX_CHARS` printable ASCII characters of ``text``, with every quoted value (a library
    quoting the element it choked on: a name, an ID) replaced by '...'."""
    text = _QUOTED.sub("'...'", text)
    text = "".join(c if 32 <= ord(c) < 127 else "?" for c in text)
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 3] + "..."


def describe(exc: BaseException) -> str:
    """What ``exc``, raised while reading a file, says about the file."""
    from pydicom.errors import BytesLengthException

    message = str(exc)
    if isinstance(exc, MemoryError):
        return "a declared length, size or count is too large to be real (refused; nothing allocated for it)"
    if isinstance(exc, RecursionError):
        return "sequences nested too deep to be a real object (refused)"
    if isinstance(exc, zlib.error):
        return f"corrupt deflated data ({printable(message)})"
    if isinstance(exc, NotImplementedError) and (match := _VR.search(message)):
        vr = printable(match.group(1))
        return f"corrupt header: unknown value representation '{vr}' in tag {match.group(2)}"
    if isinstance(exc, BytesLengthException):
        return "corrupt header: an element's length does not fit its value representation"
    if isinstance(exc, OSError) and (match := _POSITION.search(message)):
        return f"corrupt or truncated: no data element where one should start (byte 0x{match.group(1).upper()})"
    if isinstance(exc, (EOFError,)):
        return "truncated: the file ends inside a data element"
    if "Palette Color Lookup Table" in message:
        return "PALETTE COLOR image without its palette (the Palette Color Lookup Table is missing or incomplete)"
    return f"{type(exc).__name__}: {printable(message)}"
