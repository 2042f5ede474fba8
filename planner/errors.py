"""The one exception family of the planner.

Every error names the file (or UID) it is about and says, in one sentence, what is
wrong and what to do. Only ``ui/`` turns these into dialogs; the CLI prints
``str(error)``.

    PlannerError
    ├── OperationCancelled
    ├── DatabaseError
    ├── UncalibratedError
    ├── PlanFormatError                 (source, field, reason) a plan file that breaks its schema
    ├── PlanLockedError                 an edit of an approved plan that was not reopened
    └── DicomInputError                 (path, reason)
        ├── NotDicomError               not a DICOM Part 10 file / no data set
        ├── NotAnImageError             a valid object without image pixels where an image is needed
        ├── MissingPixelDataError       image SOP class but no Pixel Data
        ├── TruncatedFileError          file ends before the data it declares
        ├── PixelDataSizeError          Pixel Data shorter than Rows x Columns x Frames
        ├── InvalidAttributeError       a value that cannot be parsed (IS '1A', Rows = 2 values)
        ├── NestingTooDeepError         sequence nesting beyond what a sane file holds
        ├── UnsupportedTransferSyntaxError   no installed decoder (names what to install)
        ├── DecodeError                 the decoder rejected the compressed data
        └── InconsistentSeriesError     slices that do not form one volume
"""

from __future__ import annotations

from pathlib import Path


class PlannerError(Exception):
    """Base class of every error the planner raises on purpose."""


class OperationCancelled(PlannerError):
    """The user cancelled a long operation through its cancel token."""


class UncalibratedError(PlannerError):
    """A length in mm was asked of ultrasound pixels that no calibrated region covers."""


class PlanFormatError(PlannerError):
    """A plan file or document that breaks the plan schema; names the file and the field."""

    def __init__(self, source, field: str, reason: str) -> None:
        self.source, self.field, self.reason = str(source), field, reason
        super().__init__(f"{self.source}: field {field}: {reason}")


class PlanLockedError(PlannerError):
    """The plan is approved: it is read-only until it is reopened (which is recorded)."""


class DatabaseError(PlannerError):
    """The local study database cannot be opened or written."""


class DicomInputError(PlannerError):
    """A DICOM file or series cannot be used.

    Attributes:
        path: the file (or folder) the problem was found in; may be None for
            problems of a whole series that has no single file.
        reason: one sentence, without the path, saying what is wrong.
    """

    def __init__(self, path: str | Path | None, reason: str) -> None:
        self.path = None if path is None else str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path else reason)


class NotDicomError(DicomInputError):
    """The file is not DICOM (no preamble/DICM and no valid data element at offset 0)."""


class NotAnImageError(DicomInputError):
    """A readable DICOM object that has no image (query identifiers, empty data sets)."""


class MissingPixelDataError(DicomInputError):
    """An image SOP class whose data set holds no Pixel Data."""


class TruncatedFileError(DicomInputError):
    """The file ends before the data it declares."""


class PixelDataSizeError(DicomInputError):
    """Pixel Data holds fewer bytes than Rows x Columns x Frames x Samples needs."""


class InvalidAttributeError(DicomInputError):
    """An attribute has a value that cannot be parsed or is out of range."""


class NestingTooDeepError(DicomInputError):
    """Sequences are nested deeper than any real object needs (denial-of-service guard)."""


class UnsupportedTransferSyntaxError(DicomInputError):
    """No installed decoder handles the transfer syntax; the reason names what to install."""


class DecodeError(DicomInputError):
    """Every available decoder failed on the compressed pixel data."""


class InconsistentSeriesError(DicomInputError):
    """Instances of a series do not form one regular volume (orientation, spacing, frame of reference)."""


class ExportError(PlannerError):
    """A plan cannot be exported (its study or series cannot be found, a field is missing); the message says which."""


class PacsError(PlannerError):
    """A DICOM network operation failed; the message names the node and the reason (status code and meaning)."""


# ---------------------------------------------------------------- the analysis, planning and sending


class AnalysisError(PlannerError):
    """The study cannot be analysed; the message is a sentence saying what is missing."""


class DiscAnalysisError(PlannerError):
    """The series cannot be analysed; the message says what is missing."""


class LevelError(PlannerError, ValueError):
    """The levels cannot be counted (no column, no sacrum); the message says what is missing."""


class SegmentationFailed(PlannerError, ValueError):
    """The disc could not be segmented; the message says why."""


class SegmentationError(PlannerError):
    """A mask cannot be written as a SEG of its series (wrong grid, empty, unknown structure)."""


class SegmenterNotFound(PlannerError, LookupError):
    """No segmenter of that name is installed; the message names the installed ones."""


class ModelUnavailable(PlannerError):
    """The model's weights or its runtime are missing; the message says what to install or restore."""


class SpineNotFound(PlannerError):
    """The series does not show what counting the levels needs (L5, the sacrum); the message says which."""


class SacrumNotSeen(SpineNotFound):
    """No sacrum under the body called L5, which the series' lower edge cuts: the series ends under L5, unless
    that body is the top of the sacrum taken for L5. ``l5_centre_lps``: the centre of the body called L5."""

    def __init__(self, message: str, l5_centre_lps=None) -> None:
        super().__init__(message)  # args hold the message alone: str() and pickling (a worker's error) as any error
        self.l5_centre_lps = None if l5_centre_lps is None else tuple(float(v) for v in l5_centre_lps)

    def __reduce__(self):
        return type(self), (str(self), self.l5_centre_lps)


class LevelNotConfirmed(PlannerError):
    """The level count from the sacrum is not certain and nobody has confirmed or shifted it."""


class NoSafePathError(PlannerError):
    """No straight path reaches the target safely; the message says what blocks it."""


class OutboxError(PlannerError):
    """An outbox request that cannot be done (an unknown item, one being sent right now)."""
