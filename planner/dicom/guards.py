"""Guards around reading a DICOM file that may lie about its sizes (issue 24): reads that never allocate more
than the file holds, and a Deflated data set inflated in counted chunks before pydicom inflates it whole."""

from __future__ import annotations

import io
import zlib

import pydicom

from planner.errors import InvalidAttributeError, NotDicomError


class _SizeCheckedFile(io.BufferedReader):
    """A file whose reads never allocate more than it holds: a read past the end returns what is left, as at
    the end of a file, instead of first allocating what an element's length claims (4 GB: a MemoryError)."""

    def __init__(self, raw, size: int) -> None:
        super().__init__(raw)
        self._size = size

    def read(self, n: int | None = -1) -> bytes:  # noqa: D102 - io API
        if n is not None and n > 65536:
            n = min(n, max(self._size - self.tell(), 0))
        return super().read(n)


def open_checked(path: str, size: int) -> _SizeCheckedFile:
    return _SizeCheckedFile(io.FileIO(path, "rb"), size)


#: a Deflated data set may inflate at most this many times its compressed size, and to at most this many bytes
MAX_INFLATE_RATIO = 100
MAX_INFLATED_BYTES = 512 * 2**20
DEFLATED_UID = b"1.2.840.10008.1.2.1.99"


def refuse_deflate_bomb(path: str, head: bytes, size: int) -> None:
    """Inflate a Deflated file's data set in chunks, counting, before pydicom inflates it in one piece."""
    with open(path, "rb") as fp:
        start = fp.read(4096)
        if DEFLATED_UID not in start:
            return
        try:
            meta = pydicom.filereader.read_file_meta_info(path)
        except Exception:  # noqa: BLE001 - an unreadable meta: the main read says what is wrong
            return
        if meta.get("TransferSyntaxUID") != pydicom.uid.DeflatedExplicitVRLittleEndian:
            return
        group = int(meta.get("FileMetaInformationGroupLength", 0) or 0)
        fp.seek(132 + 12 + group if head[128:132] == b"DICM" else 0)
        limit = min(MAX_INFLATED_BYTES, MAX_INFLATE_RATIO * max(size, 1))
        inflater, inflated = zlib.decompressobj(-zlib.MAX_WBITS), 0
        try:
            while chunk := fp.read(1 << 16):
                inflated += len(inflater.decompress(chunk, 1 << 20))
                while inflater.unconsumed_tail:
                    inflated += len(inflater.decompress(inflater.unconsumed_tail, 1 << 20))
                    if inflated > limit:
                        break
                if inflated > limit:
                    raise InvalidAttributeError(
                        path, f"the Deflated data set inflates beyond {limit / 2**20:.0f} MB from {size / 2**20:.1f} MB "
                        "(a deflate bomb; refused)")
        except zlib.error as exc:
            raise NotDicomError(path, f"the Deflated data set is not a valid deflate stream ({exc})") from exc
