"""Second pass of reading: decode the pixels of one file, a frame at a time.

:class:`FrameSource` indexes where each frame's bytes lie in the file (native
frames by arithmetic, encapsulated frames by walking the item headers once) and
decodes one frame on demand with pydicom's decoders (pylibjpeg plugins for JPEG,
JPEG-LS and JPEG 2000). A long cine therefore never sits in memory compressed
*and* decoded, and a single frame costs a single decode.

When every pydicom decoder fails (12-bit lossy JPEG, some corrupt streams),
python-gdcm is tried in a child process (:mod:`planner.dicom.gdcm_worker`): GDCM is
known to crash or over-allocate on hostile files and must never run in the GUI
process.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import tempfile
import threading
import warnings

import numpy as np
import pydicom
from pydicom.encaps import encapsulate
from pydicom.pixels import get_decoder

from planner.dicom import transfer_syntax as ts
from planner.dicom.header import InstanceHeader, read_dataset
from planner.dicom.pixel_data import ITEM_TAG, SEQUENCE_DELIMITER_TAG, human_bytes
from planner.dicom.read_errors import describe
from planner.errors import DecodeError, DicomInputError
from planner.logs import native_output_to_log

GDCM_TIMEOUT_S = 120
GDCM_LIMIT_ENV = "SPINE_PLANNER_GDCM_MEMORY_LIMIT"
GDCM_MEMORY_LIMIT_BYTES = 4 * 1024**3


class FrameSource:
    """Lazy access to the frames of one image file whose header passed :func:`read_header`.

    ``frame(i)`` returns ``(rows, columns)`` for one sample per pixel, else
    ``(rows, columns, samples)``; YBR is converted to RGB, palette colour stays as
    indices (see :func:`apply_palette`). Thread-safe.
    """

    def __init__(self, header: InstanceHeader) -> None:
        if not header.is_image:
            raise DicomInputError(header.path, "is not an image; it has no frames to decode")
        self.header = header
        self._lock = threading.Lock()
        self._whole: np.ndarray | None = None  # all frames, when only a whole-file decode works
        self._fragments: list[list[tuple[int, int]]] | None = None
        self._value_offset: int | None = None
        if header.pixel_value_offset is None or header.bits_allocated == 1:
            return  # deflated or bit-packed: decoded whole on first use
        if header.pixel_data_encapsulated:
            self._fragments = _frame_fragments(header)
        else:
            self._value_offset = header.pixel_value_offset

    @property
    def n_frames(self) -> int:
        return self.header.n_frames

    @property
    def frame_shape(self) -> tuple[int, ...]:
        h = self.header
        return (h.rows, h.columns) if h.samples_per_pixel == 1 else (h.rows, h.columns, h.samples_per_pixel)

    def frame(self, index: int) -> np.ndarray:
        """Decode frame ``index`` (0-based).

        Raises:
            IndexError: index outside 0..n_frames-1.
            DecodeError: no decoder can decode the frame.
        """
        if not 0 <= index < self.n_frames:
            raise IndexError(f"frame {index} of {self.n_frames}")
        if self._whole is not None:
            return self._whole[index]
        if self._fragments is None and self._value_offset is None:
            return self._decode_whole()[index]
        try:
            return self._decode_frame(index)
        except DecodeError:
            raise
        except Exception as exc:
            return self._rescue(index, exc)

    def frame_into(self, index: int, out: np.ndarray) -> None:
        """Decode frame ``index`` straight into ``out`` (shape ``frame_shape``, any dtype).

        Native greyscale frames of the matching dtype are read from the file
        into ``out`` without an intermediate copy; everything else is decoded
        and then copied (converted when the dtypes differ).
        """
        dtype = self.native_dtype
        if dtype is not None and out.dtype == dtype and out.flags.c_contiguous and out.shape == self.frame_shape:
            if not 0 <= index < self.n_frames:
                raise IndexError(f"frame {index} of {self.n_frames}")
            self._read_native_into(index, out)
            return
        out[...] = self.frame(index)

    def all_frames(self, out: np.ndarray | None = None) -> np.ndarray:
        """Decode every frame into ``out`` (or a new array) of shape (n_frames, *frame_shape)."""
        first = self.frame(0)
        if out is None:
            out = np.empty((self.n_frames, *first.shape), dtype=first.dtype)
        out[0] = first
        for i in range(1, self.n_frames):
            out[i] = self.frame(i)
        return out

    # ---------------------------------------------------------------- decoding

    def _options(self) -> dict:
        h = self.header
        return dict(
            rows=h.rows,
            columns=h.columns,
            samples_per_pixel=h.samples_per_pixel,
            bits_allocated=h.bits_allocated,
            bits_stored=h.bits_stored,
            pixel_representation=h.pixel_representation,
            photometric_interpretation=h.photometric_interpretation,
            planar_configuration=h.planar_configuration,
            number_of_frames=1,
            pixel_keyword="PixelData",
        )

    def _read(self, offset: int, length: int) -> bytes:
        with open(self.header.path, "rb") as fp:
            fp.seek(offset)
            data = fp.read(length)
        if len(data) != length:
            raise DecodeError(self.header.path, f"file changed on disk: {length} bytes expected at {offset}")
        return data

    @property
    def native_dtype(self) -> np.dtype | None:
        """The dtype of a frame read as stored, when it needs no decoder (little-endian greyscale)."""
        h = self.header
        if (
            self._value_offset is None
            or h.samples_per_pixel != 1
            or h.bits_allocated not in (8, 16, 32)
            or h.transfer_syntax_uid == pydicom.uid.ExplicitVRBigEndian
            or not 0 < h.bits_stored <= h.bits_allocated
        ):
            return None
        return np.dtype(f"<{'i' if h.pixel_representation else 'u'}{h.bits_allocated // 8}")

    def _read_native_into(self, index: int, out: np.ndarray) -> None:
        """Read a native frame into ``out``; unused high bits are masked or sign-extended as pydicom does."""
        h = self.header
        frame_bytes = h.frame_bytes
        with open(h.path, "rb") as fp:
            fp.seek(self._value_offset + index * frame_bytes)
            n = fp.readinto(memoryview(out).cast("B"))
        if n != frame_bytes:
            raise DecodeError(h.path, f"file changed on disk: {frame_bytes} bytes expected, {n} read")
        unused = h.bits_allocated - h.bits_stored
        if unused:
            if h.pixel_representation:
                np.left_shift(out, unused, out=out)
                np.right_shift(out, unused, out=out)
            else:
                np.bitwise_and(out, (1 << h.bits_stored) - 1, out=out)

    def _decode_frame(self, index: int) -> np.ndarray:
        h = self.header
        dtype = self.native_dtype
        if dtype is not None:
            out = np.empty(self.frame_shape, dtype=dtype)
            self._read_native_into(index, out)
            return out
        decoder = get_decoder(h.transfer_syntax_uid)
        if self._fragments is not None:
            parts = self._fragments[index]
            with open(h.path, "rb") as fp:
                chunks = []
                for offset, length in parts:
                    fp.seek(offset)
                    chunks.append(fp.read(length))
            src = encapsulate([b"".join(chunks)], has_bot=False)
        else:
            frame_bytes = h.frame_bytes
            src = self._read(self._value_offset + index * frame_bytes, frame_bytes)
        with warnings.catch_warnings(), native_output_to_log(f"decoding frame {index + 1} of {h.path}"):
            warnings.simplefilter("ignore")
            array, _ = decoder.as_array(src, index=0, **self._options())
        return array

    def _decode_whole(self) -> np.ndarray:
        with self._lock:
            if self._whole is None:
                ds = read_dataset(self.header.path)
                _fill_defaults(ds, self.header)
                try:
                    with warnings.catch_warnings(), native_output_to_log(f"decoding {self.header.path}"):
                        warnings.simplefilter("ignore")
                        array = ds.pixel_array
                except Exception as exc:  # noqa: BLE001 - any decoder failure is the file's
                    raise DecodeError(self.header.path, f"pixel data cannot be decoded: {describe(exc)}") from exc
                self._whole = array.reshape((self.n_frames, *self.frame_shape))
        return self._whole

    def _rescue(self, index: int, first_error: Exception) -> np.ndarray:
        """Try GDCM in a child process for the whole file; raise DecodeError naming both failures."""
        h = self.header
        if h.pixel_data_encapsulated and h.transfer_syntax_uid in ts.GDCM_RESCUES:
            with self._lock:
                if self._whole is None:
                    try:
                        self._whole = decode_with_gdcm(h)
                    except DecodeError as gdcm_error:
                        name = ts.short_name(h.transfer_syntax_uid)
                        raise DecodeError(
                            h.path,
                            f"corrupt or unsupported {name} data: no decoder succeeds "
                            f"(pylibjpeg: {_short(first_error)}; GDCM: {gdcm_error.reason})",
                        ) from first_error
            return self._whole[index]
        raise DecodeError(h.path, f"pixel data cannot be decoded: {_short(first_error)}") from first_error


def _short(exc: Exception) -> str:
    return describe(exc).splitlines()[0]


def _fill_defaults(ds, header: InstanceHeader) -> None:
    """Put the lenient defaults the header reader assumed into the data set before decoding."""
    for keyword, value in (
        ("PixelRepresentation", header.pixel_representation),
        ("SamplesPerPixel", header.samples_per_pixel),
        ("BitsStored", header.bits_stored),
        ("PhotometricInterpretation", header.photometric_interpretation),
    ):
        if keyword not in ds or ds[keyword].value in (None, ""):
            setattr(ds, keyword, value)
    if "HighBit" not in ds:
        ds.HighBit = header.bits_stored - 1
    if "TransferSyntaxUID" not in ds.file_meta:
        ds.file_meta.TransferSyntaxUID = header.transfer_syntax_uid


def _frame_fragments(header: InstanceHeader) -> list[list[tuple[int, int]]]:
    """(offset, length) of the fragments of each frame, from one walk over the item headers."""
    items: list[tuple[int, int]] = []
    with open(header.path, "rb") as fp:
        position = header.pixel_value_offset
        while True:
            fp.seek(position)
            group, element, length = struct.unpack("<HHI", fp.read(8))
            tag = (group << 16) | element
            if tag == SEQUENCE_DELIMITER_TAG or tag != ITEM_TAG:
                break
            items.append((position + 8, length))
            position += 8 + length
        bot, fragments = items[0], items[1:]
        n = header.n_frames
        if n == 1:
            return [fragments]
        if len(fragments) == n:
            return [[f] for f in fragments]
        if bot[1] >= 4 * n:
            fp.seek(bot[0])
            offsets = struct.unpack(f"<{n}I", fp.read(4 * n))
            frames: list[list[tuple[int, int]]] = [[] for _ in range(n)]
            first_item = fragments[0][0] - 8
            for offset, length in fragments:
                relative = offset - 8 - first_item
                frame = max(i for i, o in enumerate(offsets) if o <= relative)
                frames[frame].append((offset, length))
            return frames
        # No offset table and several fragments per frame: a frame ends with an EOI/EOC marker.
        frames, current = [], []
        for offset, length in fragments:
            current.append((offset, length))
            fp.seek(offset + max(length - 3, 0))
            tail = fp.read(min(length, 3)).rstrip(b"\x00")
            if tail.endswith(b"\xff\xd9"):
                frames.append(current)
                current = []
        if current:
            frames.append(current)
    if len(frames) != n:
        raise DecodeError(header.path, f"cannot find {n} frames in {len(fragments)} fragments (no offset table)")
    return frames


def apply_palette(indices: np.ndarray, header_or_dataset) -> np.ndarray:
    """Map PALETTE COLOR indices to RGB uint8 with the file's (possibly segmented) LUT."""
    from pydicom.pixels import apply_color_lut

    ds = read_dataset(header_or_dataset.path, stop_before_pixels=True) if isinstance(header_or_dataset, InstanceHeader) else header_or_dataset
    rgb = apply_color_lut(indices, ds)
    if rgb.dtype != np.uint8:
        bits = 16 if rgb.max() > 255 else 8
        rgb = (rgb >> (bits - 8)).astype(np.uint8) if bits == 16 else rgb.astype(np.uint8)
    return rgb


# --------------------------------------------------------------------- GDCM rescue


def decode_with_gdcm(header: InstanceHeader) -> np.ndarray:
    """Decode a whole file with python-gdcm in a child process with time and memory limits.

    Raises:
        DecodeError: GDCM is not installed, failed, crashed or exceeded its limits.
    """
    expected = header.rows * header.columns * header.samples_per_pixel * header.n_frames * ((header.bits_allocated + 7) // 8)
    if expected > GDCM_MEMORY_LIMIT_BYTES // 2:
        raise DecodeError(header.path, f"refusing to decode {human_bytes(expected)} with GDCM")
    with tempfile.TemporaryDirectory(prefix="spine-gdcm-") as folder:
        out = os.path.join(folder, "frames.npy")
        command = [sys.executable, "-m", "planner.dicom.gdcm_worker", header.path, out]
        try:
            completed = subprocess.run(command, capture_output=True, text=True, timeout=GDCM_TIMEOUT_S, env=_child_env())
        except subprocess.TimeoutExpired:
            raise DecodeError(header.path, f"GDCM took longer than {GDCM_TIMEOUT_S} s; stopped") from None
        if completed.returncode != 0 or not os.path.exists(out):
            message = completed.stderr.strip().splitlines()[-1] if completed.stderr.strip() else f"exit code {completed.returncode}"
            raise DecodeError(header.path, f"GDCM failed ({message})")
        array = np.load(out)
    shape = (header.n_frames, header.rows, header.columns) + ((header.samples_per_pixel,) if header.samples_per_pixel > 1 else ())
    if array.size != int(np.prod(shape)):
        raise DecodeError(header.path, f"GDCM returned {array.size} values, expected {int(np.prod(shape))}")
    return array.reshape(shape)


def _child_env() -> dict:
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env[GDCM_LIMIT_ENV] = str(GDCM_MEMORY_LIMIT_BYTES)
    return env

