"""A seeded corpus of hostile and broken DICOM files made from the shared samples (issue 24).

Every file is a mutation of a real sample: byte flips, truncations, element lengths far beyond the file,
frame counts and image sizes a header merely claims, deep and unterminated sequences, unknown VRs, wrong
transfer syntaxes, a Deflated bomb, a missing palette, an Explicit VR Big Endian file without file meta,
zip bombs (one member, nested) and a DICOMDIR whose references leave its folder.

    paths = make_corpus(folder, samples_folder, seed=20261202, count=520)
"""

from __future__ import annotations

import io
import random
import re
import struct
import zipfile
import zlib
from pathlib import Path

#: sample files larger than this are not mutated (the corpus stays a few hundred MB at most)
MAX_BASE_BYTES = 400_000

SHORT_VR = re.compile(rb"[\x00-\xff]{4}(AE|AS|AT|CS|DA|DS|DT|FL|FD|IS|LO|LT|PN|SH|SL|SS|ST|TM|UI|UL|US)")
LONG_VR = re.compile(rb"[\x00-\xff]{4}(OB|OW|OF|SQ|UN|UT|UC|UR|OD|OL|OV)\x00\x00")
PIXEL_TAG = b"\xe0\x7f\x10\x00"

TRANSFER_SYNTAXES = (
    "1.2.840.10008.1.2",  # implicit little endian
    "1.2.840.10008.1.2.2",  # explicit big endian
    "1.2.840.10008.1.2.1.99",  # deflated
    "1.2.840.10008.1.2.4.50",  # JPEG baseline
    "1.2.840.10008.1.2.4.90",  # JPEG 2000
    "1.2.840.10008.1.2.5",  # RLE
    "1.2.840.10008.1.2.4.80",  # JPEG-LS
    "1.2.3.4.5.6.7",  # not a transfer syntax
)


def _bases(samples: Path) -> list[Path]:
    files = sorted(p for p in samples.rglob("*") if p.is_file() and p.suffix not in (".md", ".json"))
    return [p for p in files if p.stat().st_size <= MAX_BASE_BYTES and p.name != "DICOMDIR"]


def _flip(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 40)):
        at = rng.randrange(min(132, len(out) - 1), len(out))
        out[at] ^= rng.randrange(1, 256)
    return bytes(out)


def _truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(1, max(2, len(data)))]


def _huge_length(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    matches = list(LONG_VR.finditer(data, 132))
    if matches and rng.random() < 0.6:
        m = rng.choice(matches)
        value = rng.choice([0xFFFFFFF0, 0x7FFFFFFF, 0xFFFFFFFE, len(data) * 50, 0x10000000])
        out[m.end(): m.end() + 4] = struct.pack("<I", value)
        return bytes(out)
    matches = list(SHORT_VR.finditer(data, 132))
    if matches:
        m = rng.choice(matches)
        out[m.end(): m.end() + 2] = struct.pack("<H", rng.choice([0xFFFF, 0xFFF0, 0x8000]))
        return bytes(out)
    at = data.find(PIXEL_TAG)
    if at >= 0:  # implicit VR: the length follows the tag
        out[at + 4: at + 8] = struct.pack("<I", 0xFFFFFFF0)
    return bytes(out)


def _unknown_vr(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    matches = list(SHORT_VR.finditer(data, 132))
    for m in rng.sample(matches, min(len(matches), rng.randint(1, 3))):
        out[m.start(1): m.end(1)] = rng.choice([b"DD", b"ZZ", b"\x00\x00", b"ob"])
    return bytes(out)


def _with_dataset(data: bytes, rng: random.Random, change) -> bytes:
    import pydicom

    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
        ds.decode() if hasattr(ds, "decode") else None
        change(ds, rng)
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=False)
        return buffer.getvalue()
    except Exception:  # a sample pydicom cannot rewrite: flip bytes instead
        return _flip(data, rng)


def _claimed_frames(ds, rng: random.Random) -> None:
    ds.NumberOfFrames = rng.choice([10**9, 10**5, 2 * 10**4, 2**31 - 1, 0, -5])


def _claimed_size(ds, rng: random.Random) -> None:
    change = rng.choice(["rows", "bits", "samples"])
    if change == "rows":
        ds.Rows, ds.Columns = rng.choice([(65535, 65535), (0, 512), (40000, 3)])
    elif change == "bits":
        ds.BitsAllocated = rng.choice([0, 7, 64, 1, 48])
    else:
        ds.SamplesPerPixel = rng.choice([0, 4, 100])


def _missing_palette(ds, rng: random.Random) -> None:
    ds.PhotometricInterpretation = "PALETTE COLOR"
    for keyword in ("RedPaletteColorLookupTableData", "GreenPaletteColorLookupTableData",
                    "BluePaletteColorLookupTableData", "RedPaletteColorLookupTableDescriptor"):
        if keyword in ds:
            del ds[keyword]


def _transfer_syntax(data: bytes, rng: random.Random) -> bytes:
    at = data.find(b"\x02\x00\x10\x00UI")
    if at < 0:
        return _flip(data, rng)
    length = struct.unpack("<H", data[at + 6: at + 8])[0]
    uid = rng.choice(TRANSFER_SYNTAXES).encode()
    uid += b"\x00" * (len(uid) % 2)
    old = data[at + 8: at + 8 + length]
    if len(uid) <= length:
        uid = uid.ljust(length, b"\x00")
        return data[: at + 8] + uid + data[at + 8 + length:]
    # a longer UID: rewrite the group length too (not always right on purpose: some files keep the old one)
    out = data[: at + 6] + struct.pack("<H", len(uid)) + uid + data[at + 8 + length:]
    if rng.random() < 0.5:
        group = out.find(b"\x02\x00\x00\x00UL")
        if group >= 0:
            value = struct.unpack("<I", out[group + 8: group + 12])[0] + len(uid) - len(old)
            out = out[: group + 8] + struct.pack("<I", value) + out[group + 12:]
    return out


def _after_meta(data: bytes) -> int:
    """The offset of the first data set element after the file meta (132 + group 2), or 132."""
    at = 132
    while at + 8 <= len(data) and data[at: at + 2] == b"\x02\x00":
        vr = data[at + 4: at + 6]
        if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT"):
            at += 12 + struct.unpack("<I", data[at + 8: at + 12])[0]
        else:
            at += 8 + struct.unpack("<H", data[at + 6: at + 8])[0]
    return at


def _deep_sequence(data: bytes, rng: random.Random) -> bytes:
    depth = rng.choice([200, 5000, 50_000])
    opening = b"\x08\x00\x15\x11SQ\x00\x00\xff\xff\xff\xff" + b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
    nested = b"\x08\x00\x15\x11SQ\x00\x00\xff\xff\xff\xff\xfe\xff\x00\xe0\xff\xff\xff\xff"
    closing = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    terminated = rng.random() < 0.5
    body = opening + nested * depth + (closing * (depth + 1) if terminated else b"")
    at = _after_meta(data)
    return data[:at] + body + (data[at:] if terminated else b"")


def _deflate_bomb(rng: random.Random) -> bytes:
    """A Deflated Explicit VR Little Endian file whose data set inflates to about 600 MB of zeros."""
    meta = _meta("1.2.840.10008.1.2.1.99")
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    element = b"\x09\x00\x10\x10OB\x00\x00" + struct.pack("<I", 600 * 2**20)  # a private OB, 600 MB
    chunk = bytes(2**20)
    body = compressor.compress(element)
    for _ in range(600):
        body += compressor.compress(chunk)
    return meta + body + compressor.flush()


def _meta(transfer_syntax: str, sop_class: str = "1.2.840.10008.5.1.4.1.1.4") -> bytes:
    def element(tag: bytes, vr: bytes, value: bytes) -> bytes:
        value += b"\x00" * (len(value) % 2)
        if vr == b"OB":
            return tag + vr + b"\x00\x00" + struct.pack("<I", len(value)) + value
        return tag + vr + struct.pack("<H", len(value)) + value

    elements = (
        element(b"\x02\x00\x01\x00", b"OB", b"\x00\x01")
        + element(b"\x02\x00\x02\x00", b"UI", sop_class.encode())
        + element(b"\x02\x00\x03\x00", b"UI", b"1.2.826.0.1.3680043.8.498.77")
        + element(b"\x02\x00\x10\x00", b"UI", transfer_syntax.encode())
    )
    return b"\x00" * 128 + b"DICM" + b"\x02\x00\x00\x00UL\x04\x00" + struct.pack("<I", len(elements)) + elements


def big_endian_without_meta(sample: Path) -> bytes | None:
    """A legal, retired encoding: Explicit VR Big Endian, no preamble or file meta (pixels byte-swapped)."""
    import pydicom
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    try:
        ds = pydicom.dcmread(sample)
        pixels = ds.pixel_array
        ds.PixelData = pixels.astype(pixels.dtype.newbyteorder(">")).tobytes()
        del ds.file_meta
        fp = DicomBytesIO()
        fp.is_little_endian, fp.is_implicit_VR = False, False
        write_dataset(fp, ds)
        return fp.getvalue()
    except Exception:
        return None


def _zip_bomb(path: Path, rng: random.Random, nested: bool) -> None:
    """A zip whose members inflate to about 2.4 GB of zeros (nested: a zip of such zips)."""
    def bomb_bytes(members: int) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
            zero = bytes(2**20)
            for n in range(members):
                with archive.open(f"IM{n:04d}.dcm", "w", force_zip64=True) as fp:
                    for _ in range(300):
                        fp.write(zero)
        return buffer.getvalue()

    if not nested:
        path.write_bytes(bomb_bytes(8))
        return
    inner = bomb_bytes(2)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for n in range(4):
            archive.writestr(f"part{n}.zip", inner)


def _dicomdir_traversal(folder: Path, sample: Path) -> Path:
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence

    folder.mkdir(parents=True, exist_ok=True)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.1.3.10"
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.8.498.78"
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
    ds.FileSetID = "HOSTILE"
    records = []
    for reference in (["..", "..", "etc", "passwd"], "/etc/passwd", ["..", sample.name]):
        record = Dataset()
        record.DirectoryRecordType = "IMAGE"
        record.ReferencedFileID = reference
        records.append(record)
    ds.DirectoryRecordSequence = Sequence(records)
    ds.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity = 0
    ds.OffsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity = 0
    ds.FileSetConsistencyFlag = 0
    path = folder / "DICOMDIR"
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


MUTATIONS = (
    ("flip", _flip),
    ("truncate", _truncate),
    ("length", _huge_length),
    ("vr", _unknown_vr),
    ("syntax", _transfer_syntax),
    ("sequence", _deep_sequence),
    ("frames", lambda data, rng: _with_dataset(data, rng, _claimed_frames)),
    ("size", lambda data, rng: _with_dataset(data, rng, _claimed_size)),
    ("palette", lambda data, rng: _with_dataset(data, rng, _missing_palette)),
)


def make_corpus(folder: Path, samples: Path, seed: int = 20261202, count: int = 520) -> list[Path]:
    """Write ``count`` mutated files (plus the bombs, the big-endian file and the DICOMDIR) into ``folder``;
    their paths (a zip or DICOMDIR counts as one path)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    bases = _bases(samples)
    paths = []
    for n in range(count):
        base = rng.choice(bases)
        name, mutate = MUTATIONS[n % len(MUTATIONS)]
        path = folder / f"{n:04d}-{name}-{base.name[:40]}"
        path.write_bytes(mutate(base.read_bytes(), rng))
        paths.append(path)
    specials = folder / "specials"
    specials.mkdir()
    (specials / "deflate-bomb.dcm").write_bytes(_deflate_bomb(rng))
    paths.append(specials / "deflate-bomb.dcm")
    mr = next(p for p in bases if "mr" in p.parts[-2:-1] or "/mr/" in str(p))
    big = big_endian_without_meta(mr)
    if big is not None:
        (specials / "big-endian-no-meta.dcm").write_bytes(big)
        paths.append(specials / "big-endian-no-meta.dcm")
    _zip_bomb(specials / "bomb.zip", rng, nested=False)
    _zip_bomb(specials / "nested-bomb.zip", rng, nested=True)
    paths += [specials / "bomb.zip", specials / "nested-bomb.zip"]
    paths.append(_dicomdir_traversal(folder / "fileset", mr))
    return paths
