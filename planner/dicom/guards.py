"""Guards around reading a DICOM file that may lie about its sizes (issue 24): reads that never allocate more
than the file holds, and a Deflated data set inflated in counted chunks before pydicom inflates it whole."""

from __future__ import annotations

import io
import re
import zlib

import pydicom

from planner.errors import InvalidAttributeError, NestingTooDeepError, NotDicomError


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
    """Inflate a Deflated file's data set in chunks, counting, before pydicom inflates it in one piece.

    ``head`` is the start of the file as already read (its first 4 KB hold the file meta's transfer syntax): a
    file that is not Deflated is not opened again.
    """
    if DEFLATED_UID not in head[:4096]:
        return
    with open(path, "rb") as fp:
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


#: sequences nested deeper than any real object needs are refused (real objects nest a handful of levels)
MAX_SEQUENCE_DEPTH = 32
#: how much of a file the nesting pre-scan reads (deeper nesting further in still meets pydicom's own guard)
NESTING_SCAN_BYTES = 8 * 2**20
#: the first read of a file: nearly every header ends (at its Pixel Data) within it, so a large cine costs one
#: small read, not NESTING_SCAN_BYTES
HEADER_CHUNK = 64 * 2**10
# an Item of undefined length, and an Item Delimitation Item, in little- and big-endian byte order
_OPEN_OR_CLOSE = re.compile(
    rb"\xfe\xff\x00\xe0\xff\xff\xff\xff|\xfe\xff\x0d\xe0\x00\x00\x00\x00"
    rb"|\xff\xfe\xe0\x00\xff\xff\xff\xff|\xff\xfe\xe0\x0d\x00\x00\x00\x00")


def undefined_item_depth(data: bytes) -> int:
    """The deepest nesting of undefined-length sequence items in ``data``, counted in the raw bytes.

    Every undefined-length Item ends with an Item Delimitation Item, so the running difference of the two is
    the nesting depth. Counting the bytes before pydicom parses them matters: pydicom reads nested sequences
    recursively, and a file nested thousands deep drives it to the interpreter's recursion limit, where any
    finaliser that happens to run (another object's file, a generator) fails as an unraisable exception.
    """
    depth = deepest = 0
    for match in _OPEN_OR_CLOSE.finditer(data):
        if match.group().endswith(b"\xff\xff\xff\xff"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth = max(depth - 1, 0)
    return deepest


def refuse_deep_nesting(path: str, fp, head: bytes = b"") -> None:
    """Refuse a file whose first :data:`NESTING_SCAN_BYTES` nest sequence items deeper than
    :data:`MAX_SEQUENCE_DEPTH` before their Pixel Data, before pydicom recurses into them.

    ``head`` is what the caller has already read from ``fp``'s position (read again only when the header goes on
    past it); ``fp`` is left where it was.
    """
    at = fp.tell()
    data = head or fp.read(HEADER_CHUNK)
    end = _pixel_data_tag(data)
    if end < 0 and len(data) >= HEADER_CHUNK:  # a long header: read on, up to the limit
        fp.seek(at + len(data))
        data += fp.read(NESTING_SCAN_BYTES - len(data))
        end = _pixel_data_tag(data)
    fp.seek(at)
    end = len(data) if end < 0 else end
    if data.count(b"\xff\xff\xff\xff", 0, end) <= MAX_SEQUENCE_DEPTH:
        return  # each undefined-length item holds one: too few to nest that deep (most files: no count at all)
    depth = undefined_item_depth(memoryview(data)[:end])
    if depth > MAX_SEQUENCE_DEPTH:
        raise NestingTooDeepError(
            path, f"sequence nesting too deep to be a real object: items nested {depth} deep, more than "
            f"{MAX_SEQUENCE_DEPTH} (refused)")


def too_few_items_to_nest_too_deep(data: bytes) -> bool:
    """True when ``data`` (a whole, not compressed data set) holds fewer Item tags than :data:`MAX_SEQUENCE_DEPTH`:
    every level of sequence below the first sits in an item, whose tag is in the bytes whatever the encoding
    and the lengths, so such a data set cannot nest too deep and need not be walked."""
    return data.count(b"\xfe\xff\x00\xe0") + data.count(b"\xff\xfe\xe0\x00") < MAX_SEQUENCE_DEPTH


def _pixel_data_tag(data: bytes) -> int:
    """Where the Pixel Data tag first appears in ``data`` (little-endian, then big-endian), or -1."""
    end = data.find(b"\xe0\x7f\x10\x00")
    return data.find(b"\x7f\xe0\x00\x10") if end < 0 else end
