"""Child-process entry point: decode one file with python-gdcm and save the pixels as .npy.

Run only by :func:`planner.dicom.pixels.decode_with_gdcm`, never imported by the GUI
process: GDCM segfaults or allocates gigabytes on some hostile files, and here
that costs only this process (its address space is capped).

    python -m planner.dicom.gdcm_worker IN.dcm OUT.npy
"""

from __future__ import annotations

import os
import resource
import sys

import numpy as np

GDCM_LIMIT_ENV = "SPINE_PLANNER_GDCM_MEMORY_LIMIT"

_DTYPES = {
    "UINT8": np.uint8,
    "INT8": np.int8,
    "UINT16": np.uint16,
    "INT16": np.int16,
    "UINT32": np.uint32,
    "INT32": np.int32,
}


def main(argv: list[str]) -> int:
    source, target = argv[1], argv[2]
    limit = int(os.environ.get(GDCM_LIMIT_ENV, 4 * 1024**3))
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import gdcm  # noqa: PLC0415 - only in this child

    reader = gdcm.ImageReader()
    reader.SetFileName(source)
    if not reader.Read():
        print("GDCM cannot read the file", file=sys.stderr)
        return 2
    image = reader.GetImage()
    pixel_format = image.GetPixelFormat()
    dtype = _DTYPES.get(pixel_format.GetScalarTypeAsString())
    if dtype is None:
        print(f"unsupported GDCM scalar type {pixel_format.GetScalarTypeAsString()}", file=sys.stderr)
        return 3
    buffer = image.GetBuffer()
    if buffer is None:
        print("GDCM could not decode the pixel data", file=sys.stderr)
        return 4
    data = buffer.encode("utf-8", "surrogateescape") if isinstance(buffer, str) else bytes(buffer)
    np.save(target, np.frombuffer(data, dtype=dtype))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
