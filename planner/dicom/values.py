"""Typed reading of header values (pydicom datasets, raw or decoded): text, integers with repairs, float
lists, a value's VR, private creators; shared by :mod:`planner.dicom.header`."""

from __future__ import annotations

import struct

import pydicom
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.tag import BaseTag

from planner.errors import InvalidAttributeError


def _value_representation(element) -> str | None:
    """The VR of a raw or converted element; implicit-VR raw elements take it from the dictionary."""
    if element.VR is not None:
        return element.VR
    try:
        return dictionary_VR(element.tag)
    except KeyError:
        return None


def _length(element) -> int:
    length = getattr(element, "length", None)
    if length is None:
        value = element.value
        length = len(value) if isinstance(value, (bytes, bytearray)) else 0
    return length


def _private_creator(ds, tag) -> str:
    creator_tag = (tag.group << 16) | (tag.element >> 8)
    creator = ds.get(creator_tag)
    value = creator.value if creator is not None else None
    # a Private Creator is a short LO name; anything else (a corrupt file's raw bytes, which may hold the
    # patient's name) is not quoted in a message
    if isinstance(value, str) and len(value) <= 64 and value.isprintable():
        return value.strip() or "vendor"
    return "vendor"


#: VRs whose raw bytes are ASCII whatever the Specific Character Set says.
_ASCII_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI"})
#: VRs whose text may follow the Specific Character Set.
_CHARSET_VRS = frozenset({"LO", "LT", "PN", "SH", "ST", "UC", "UT"})
#: Binary numeric VRs and their struct codes.
_BINARY_VRS = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "FL": "f", "FD": "d", "UV": "Q", "SV": "q"}


def _value(ds, keyword: str):
    """The value of ``keyword`` in ``ds``, converted cheaply; None when absent.

    Indexing reads about forty attributes per file, and pydicom's general
    conversion (validation, charset lookup, MultiValue) triples the cost of a
    header read. Raw elements of plain VRs are converted here instead: text
    becomes ``str`` (multiple values stay joined by backslashes), binary
    numbers ``int``/``float`` or a tuple of them. Text that is not pure ASCII,
    sequences and anything unusual go through pydicom as before.
    """
    tag = _tag(keyword)
    element = ds.get_item(tag)
    if element is None:
        return None
    if not isinstance(element, RawDataElement):
        return element.value
    vr = _value_representation(element)
    raw = element.value
    if raw is None:
        return ds[tag].value
    if vr in _ASCII_VRS or vr in _CHARSET_VRS:
        if raw.isascii() and b"\x1b" not in raw:
            return raw.decode("ascii").strip(" \x00")
        return ds[tag].value
    code = _BINARY_VRS.get(vr)
    if code is not None:
        size = struct.calcsize(code)
        if len(raw) == 0 or len(raw) % size:
            return ds[tag].value
        numbers = struct.unpack(("<" if element.is_little_endian else ">") + code * (len(raw) // size), raw)
        return numbers[0] if len(numbers) == 1 else numbers
    return ds[tag].value


def _has(ds, keyword: str) -> bool:
    """``keyword in ds`` without converting the keyword on every call."""
    return _tag(keyword) in ds


def _tag(keyword: str) -> BaseTag:
    tag = _TAGS.get(keyword)
    if tag is None:
        tag = _TAGS[keyword] = BaseTag(tag_for_keyword(keyword))
    return tag


_TAGS: dict[str, BaseTag] = {}


def _text(ds, keyword: str, notes: list[str] | None = None) -> str:
    """The attribute as text ("" when absent). One that cannot be decoded is left empty and, when ``notes`` is
    given, said there (the header's repairs: shown with the series, never silent)."""
    try:
        value = _value(ds, keyword)
    except Exception as exc:  # noqa: BLE001 - undecodable text in a lenient read: left out, and said
        if notes is not None:
            notes.append(f"{keyword} cannot be decoded ({type(exc).__name__}); left empty")
        return ""
    if value is None:
        return ""
    if isinstance(value, (pydicom.multival.MultiValue, list, tuple)):
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def _multiple(value) -> list | None:
    """The values of a multi-valued attribute as a list; None when it holds one value."""
    if isinstance(value, str):
        return value.split("\\") if "\\" in value else None
    if isinstance(value, (pydicom.multival.MultiValue, list, tuple)):
        return list(value)
    return None


def _single_int(path, ds, keyword: str, default=None, repairs=None, required=False) -> int | None:
    """Parse a one-valued integer attribute strictly; say what is wrong with it."""
    value = _value(ds, keyword)
    if value is None and not _has(ds, keyword):
        if required and default is None:
            raise InvalidAttributeError(path, f"{keyword} (Type 1) is missing")
        if required and repairs is not None:
            repairs.append(f"{keyword} (Type 1) is missing; assumed {default}")
        return default
    several = _multiple(value)
    if several is not None:
        raise InvalidAttributeError(path, f"{keyword} has {len(several)} values ({several}); it must have exactly one")
    if value is None or value == "":
        if required:
            if default is None:
                raise InvalidAttributeError(path, f"{keyword} (Type 1) is empty")
            if repairs is not None:
                repairs.append(f"{keyword} (Type 1) is empty; assumed {default}")
        return default
    try:
        return int(str(value).strip()) if not isinstance(value, int) else int(value)
    except ValueError:
        vr = _value_representation(ds.get_item(_TAGS[keyword]))
        raise InvalidAttributeError(path, f"invalid {keyword} '{value}' ({vr} must be an integer)") from None


def _optional_int(path, ds, keyword, repairs) -> int | None:
    try:
        return _single_int(path, ds, keyword)
    except InvalidAttributeError as exc:
        repairs.append(f"{exc.reason}; ignored")
        return None


def _floats(ds_or_item, keyword: str, count: int) -> tuple[float, ...] | None:
    value = _value(ds_or_item, keyword) if ds_or_item is not None else None
    if value is None or value == "":
        return None
    several = _multiple(value)
    try:
        numbers = tuple(float(v) for v in (several if several is not None else [value]))
    except (TypeError, ValueError):
        return None
    return numbers if len(numbers) == count else None
