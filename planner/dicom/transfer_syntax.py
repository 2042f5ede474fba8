"""Which transfer syntaxes we can decode, and what to install for the others.

pydicom decodes native, deflated and RLE data itself; pylibjpeg's plugins add
JPEG (libjpeg), JPEG-LS (libjpeg) and JPEG 2000 (openjpeg). python-gdcm is the
last resort for 12-bit lossy JPEG and runs only in a child process
(:mod:`planner.dicom.gdcm_worker`), never in the GUI process.
"""

from __future__ import annotations

from functools import lru_cache

from pydicom.uid import UID

from planner.errors import UnsupportedTransferSyntaxError

JPEG_XL = {"1.2.840.10008.1.2.4.110", "1.2.840.10008.1.2.4.111", "1.2.840.10008.1.2.4.112"}
JPEG_XL_NAMES = {
    "1.2.840.10008.1.2.4.110": "JPEG XL Lossless",
    "1.2.840.10008.1.2.4.111": "JPEG XL JPEG Recompression",
    "1.2.840.10008.1.2.4.112": "JPEG XL",
}
VIDEO = {f"1.2.840.10008.1.2.4.{n}" for n in (100, 101, 102, 103, 104, 105, 106, 107, 108)}
#: Encapsulated syntaxes GDCM may decode when every pylibjpeg plugin failed (JPEG, JPEG-LS, JPEG 2000).
GDCM_RESCUES = {
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.51",
    "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70",
    "1.2.840.10008.1.2.4.80",
    "1.2.840.10008.1.2.4.81",
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91",
}

INSTALL_HINT = {
    "pylibjpeg": "pip install pylibjpeg pylibjpeg-libjpeg",
    "pylibjpeg-libjpeg": "pip install pylibjpeg pylibjpeg-libjpeg",
    "pylibjpeg-openjpeg": "pip install pylibjpeg pylibjpeg-openjpeg",
    "pylibjpeg-rle": "pip install pylibjpeg pylibjpeg-rle",
}


def short_name(uid: str) -> str:
    """Readable name of a transfer syntax, e.g. "JPEG 2000 Lossless"."""
    if uid in JPEG_XL_NAMES:
        return JPEG_XL_NAMES[uid]
    name = UID(uid).name
    if name == uid or not name:
        return f"unknown transfer syntax {uid}"
    return name.replace(" Image Compression", "").replace(" (Lossless Only)", " Lossless")


@lru_cache(maxsize=64)
def decoder_problem(uid: str) -> str | None:
    """None when pixels in ``uid`` can be decoded here, else the reason and what to install."""
    if uid in JPEG_XL:
        return f"unsupported transfer syntax {short_name(uid)} ({uid}): needs a JPEG XL decoder, which is not installed"
    if uid in VIDEO:
        return f"unsupported transfer syntax {short_name(uid)} ({uid}): video streams need a video decoder (not supported)"
    transfer_syntax = UID(uid)
    if not transfer_syntax.is_transfer_syntax:
        return f"unknown or private transfer syntax {uid}: no decoder for it"
    try:
        from pydicom.pixels import get_decoder

        decoder = get_decoder(uid)
    except NotImplementedError:
        return f"unsupported transfer syntax {short_name(uid)} ({uid}): no pixel decoder exists for it"
    if decoder.is_available:
        return None
    missing = sorted({dep for deps in decoder.missing_dependencies for dep in [deps]})
    hint = "; ".join(missing) or "a pylibjpeg plugin"
    return f"unsupported transfer syntax {short_name(uid)} ({uid}): no decoder installed ({hint})"


def require_decoder(path: str, uid: str) -> None:
    """Raise UnsupportedTransferSyntaxError naming what to install if ``uid`` cannot be decoded."""
    problem = decoder_problem(uid)
    if problem is not None:
        raise UnsupportedTransferSyntaxError(path, problem)
