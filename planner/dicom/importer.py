"""Import files, folders (recursively), DICOMDIR file-sets and zip archives into the study database.

Every file ends up either indexed or rejected with a specific reason; one bad
file never stops the rest. Unchanged files already in the database (same size
and modification time) are not read again, so importing the same files twice is
idempotent and fast. Headers are read in parallel worker processes when there
are enough files for it to pay.

    report = import_paths(["/media/cdrom"], db, progress=..., cancel=...)
    report.series      # SeriesSummary of every series touched
    report.rejected    # [Rejection(path, reason)]
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import multiprocessing
import os
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from planner.dicom.database import StudyDatabase
from planner.dicom.guards import refuse_deep_nesting
from planner.dicom.header import InstanceHeader, read_header
from planner.dicom.series_index import SeriesSummary, summarize
from planner.errors import DicomInputError, OperationCancelled
from planner.logs import protect
from planner.progress import CancelToken, ProgressCallback, check, report

#: Below this many files the start-up of worker processes costs more than it saves.
PARALLEL_THRESHOLD = 400
CHUNK = 64
#: Headers kept in memory to summarise the touched series without reading them back.
SUMMARY_CACHE_LIMIT = 20_000
#: One import unpacks at most this much from its zip archives, nested ones included (zip bombs) ...
MAX_ARCHIVE_BYTES = 16 * 1024**3
#: ... and leaves at least this much of the disk free
DISK_RESERVE_BYTES = 2 * 1024**3
#: a member that inflates more than this many times its compressed size is a bomb (DICOM images zip
#: 2-20 times; a run of zeros 1,000 times)
MAX_RATIO = 200
UNPACK_CHUNK = 1 << 20


class ExpansionBudget:
    """What one import may still unpack from archives (bytes), shared by every archive it meets, nested or not;
    charged while streaming, so that no declared size can be trusted."""

    def __init__(self, archive_root: Path, limit: int | None = None) -> None:
        archive_root.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(archive_root).free - DISK_RESERVE_BYTES
        self.limit = max(0, min(MAX_ARCHIVE_BYTES if limit is None else limit, free))
        self.used = 0

    def charge(self, path: str, n: int) -> None:
        self.used += n
        if self.used > self.limit:
            raise DicomInputError(
                path,
                f"zip archive unpacks beyond this import's budget of {self.limit / 1e9:.1f} GB (archives nested "
                "in archives count together; the disk's free space counts too); refused",
            )


@dataclass(frozen=True)
class Rejection:
    path: str
    reason: str

    def as_json(self) -> dict:
        return {"path": self.path, "reason": self.reason}


@dataclass
class ImportReport:
    """What an import did. ``series`` lists every series that received a file in this import."""

    series: list[SeriesSummary] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    n_files: int = 0
    n_indexed: int = 0
    n_unchanged: int = 0
    cancelled: bool = False

    def as_json(self) -> dict:
        return {
            "series": [s.as_json() for s in self.series],
            "rejected": [r.as_json() for r in self.rejected],
            "n_files": self.n_files,
            "n_indexed": self.n_indexed,
            "n_unchanged": self.n_unchanged,
            "cancelled": self.cancelled,
        }


def import_paths(
    paths: Sequence[str | os.PathLike],
    db: StudyDatabase,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    workers: int | None = None,
    archive_dir: str | os.PathLike | None = None,
    expansion_budget: int | None = None,
) -> ImportReport:
    """Index ``paths`` (files, folders, DICOMDIRs, .zip archives) into ``db``.

    Args:
        workers: header-reading processes; None chooses by file count and cores.
        archive_dir: where zip archives are unpacked (default: beside the database).
        expansion_budget: bytes this import may unpack from archives, nested ones
            included (default :data:`MAX_ARCHIVE_BYTES`, less when the disk is fuller).

    Raises:
        DicomInputError: a given path does not exist (nothing is imported then).
        DatabaseError: the database cannot be written.

    A cancelled import keeps what it indexed so far and returns with
    ``report.cancelled`` set.
    """
    for path in paths:
        if not os.path.exists(path):
            raise DicomInputError(path, "does not exist")
    result = ImportReport()
    archive_root = Path(archive_dir) if archive_dir else db.path.parent / "archives"
    report(progress, 0, 0, "Finding files")
    try:
        files, early_rejections = collect_files(paths, archive_root, cancel, ExpansionBudget(archive_root, expansion_budget))
    except OperationCancelled:
        result.cancelled = True
        return result
    result.rejected.extend(early_rejections)
    result.n_files = len(files) + len(early_rejections)

    known = db.file_states()
    to_read: list[str] = []
    unchanged_paths: set[str] = set()
    for path in files:
        state = known.get(path)
        if state is not None:
            try:
                stat = os.stat(path)
            except OSError:
                stat = None
            if stat is not None and (stat.st_size, stat.st_mtime_ns) == state[:2]:
                if state[2] is None:
                    result.n_unchanged += 1
                    unchanged_paths.add(path)
                else:
                    result.rejected.append(Rejection(path, state[2]))
                continue
        to_read.append(path)

    read_here: dict[str, list[InstanceHeader]] = {}
    n_cached = 0
    rejected_rows: list[tuple[str, str, int, int]] = []
    done = len(files) - len(to_read)
    total = len(files)
    report(progress, done, total, "Reading headers")
    try:
        for batch in _read_headers(to_read, workers, cancel):
            headers = [item for item in batch if isinstance(item, InstanceHeader)]
            for header in headers:  # never to be written to the log
                protect(header.patient_name, header.patient_id)
            for item in batch:
                if isinstance(item, Rejection):
                    result.rejected.append(item)
                    rejected_rows.append((item.path, item.reason, *_stat_pair(item.path)))
            headers.extend(_expand_dicomdirs(headers, result, rejected_rows, cancel))
            images_and_objects = [h for h in headers if h.kind != "dicomdir"]
            db.add_instances(images_and_objects)
            result.n_indexed += len(images_and_objects)
            for h in images_and_objects:
                read_here.setdefault(h.series_instance_uid, []).append(h if n_cached < SUMMARY_CACHE_LIMIT else None)
                n_cached += 1
            done += len(batch)
            report(progress, done, total, "Reading headers")
    except OperationCancelled:
        result.cancelled = True
    db.add_rejections(rejected_rows)

    touched = set(read_here)
    if unchanged_paths:
        touched.update(db.series_of_paths(unchanged_paths))
    result.series = [s for s in (_summary(db, uid, read_here.get(uid)) for uid in sorted(touched)) if s is not None]
    result.series.sort(key=lambda s: (s.study_instance_uid, s.series_number if s.series_number is not None else 1 << 30))
    report(progress, total, total, "Done")
    return result


def _summary(db: StudyDatabase, series_uid: str, read: list[InstanceHeader | None] | None) -> SeriesSummary | None:
    """Summarise a series from the headers just read when they are all of it, else from the database."""
    if read and None not in read and db.count_instances(series_uid) == len(read):
        return summarize(read)
    return db.series_summary(series_uid)


def _stat_pair(path: str) -> tuple[int, int]:
    try:
        stat = os.stat(path)
        return stat.st_size, stat.st_mtime_ns
    except OSError:
        return 0, 0


# ------------------------------------------------------------------- finding files


def collect_files(
    paths: Sequence[str | os.PathLike], archive_root: Path, cancel: CancelToken | None,
    budget: ExpansionBudget | None = None, origin: str | None = None,
) -> tuple[list[str], list[Rejection]]:
    """Absolute paths of every candidate file, in a stable order, zip archives unpacked (within ``budget``,
    one for the whole call when not given). An archive refused inside another is reported against the
    outermost one the user gave (``origin``), naming the inner one."""
    budget = budget or ExpansionBudget(archive_root)
    files: list[str] = []
    rejections: list[Rejection] = []
    for given in paths:
        given = os.path.abspath(os.fspath(given))
        if os.path.isdir(given):
            for folder, subfolders, names in os.walk(given):
                check(cancel)
                subfolders.sort()
                for name in sorted(names):
                    files.append(os.path.join(folder, name))
        else:
            files.append(given)
    expanded: list[str] = []
    for path in files:
        if path.lower().endswith(".zip") and zipfile.is_zipfile(path):
            try:
                folder = _unpack_archive(path, archive_root, budget, cancel)
            except DicomInputError as exc:
                if origin is None:
                    rejections.append(Rejection(path, exc.reason))
                else:
                    rejections.append(Rejection(origin, f"archive '{os.path.basename(path)}' inside it: {exc.reason}"))
                continue
            inner, inner_rejections = collect_files([folder], archive_root, cancel, budget, origin or path)
            expanded.extend(inner)
            rejections.extend(inner_rejections)
        else:
            expanded.append(path)
    return list(dict.fromkeys(expanded)), rejections


def _unpack_archive(path: str, archive_root: Path, budget: ExpansionBudget, cancel: CancelToken | None = None) -> str:
    """Unpack a zip once into ``archive_root/<hash>``; refuse traversal and zip bombs (a member inflating more
    than :data:`MAX_RATIO` times, or the import's :class:`ExpansionBudget` spent); a refused archive leaves
    nothing behind."""
    stat = os.stat(path)
    digest = hashlib.sha1(f"{path}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    target = archive_root / digest
    done_marker = archive_root / f"{digest}.unpacked"
    if done_marker.exists():
        return str(target)
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            total = sum(m.file_size for m in members)
            if total > budget.limit - budget.used:
                raise DicomInputError(
                    path, f"zip archive would expand to {total / 1e9:.1f} GB, beyond this import's budget of "
                    f"{budget.limit / 1e9:.1f} GB; refused")
            for member in members:
                name = os.path.normpath(member.filename)
                if name.startswith("..") or os.path.isabs(name):
                    raise DicomInputError(path, f"zip member '{member.filename}' points outside the archive; refused")
                if member.file_size > MAX_RATIO * max(member.compress_size, 1) and member.file_size > UNPACK_CHUNK:
                    raise DicomInputError(
                        path, f"zip member '{member.filename[:80]}' inflates {member.file_size / max(member.compress_size, 1):.0f} "
                        f"times its compressed size (a zip bomb); refused")
            target.mkdir(parents=True, exist_ok=True)
            for member in members:
                check(cancel)
                _unpack_member(path, archive, member, target, budget)
    except DicomInputError:
        shutil.rmtree(target, ignore_errors=True)
        raise
    except OperationCancelled:
        shutil.rmtree(target, ignore_errors=True)
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, RuntimeError, ValueError, EOFError) as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise DicomInputError(path, f"cannot unpack zip archive: {type(exc).__name__}: {str(exc)[:160]}") from exc
    done_marker.touch()
    return str(target)


def _unpack_member(path: str, archive: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path,
                   budget: ExpansionBudget) -> None:
    """Stream one member to disk, charging the budget as it goes and stopping at its declared size (and at
    :data:`MAX_RATIO` times its compressed size, whatever the header says)."""
    destination = target / os.path.normpath(member.filename)
    destination.parent.mkdir(parents=True, exist_ok=True)
    ceiling = MAX_RATIO * max(member.compress_size, 1) + UNPACK_CHUNK
    written = 0
    with archive.open(member) as source, open(destination, "wb") as out:
        while chunk := source.read(UNPACK_CHUNK):
            written += len(chunk)
            budget.charge(path, len(chunk))
            if written > ceiling:
                raise DicomInputError(path, f"zip member '{member.filename[:80]}' inflates far beyond its compressed "
                                            "size (a zip bomb); refused")
            out.write(chunk)


def _expand_dicomdirs(
    headers: list[InstanceHeader], result: ImportReport, rejected_rows: list, cancel: CancelToken | None
) -> list[InstanceHeader]:
    """Headers of the files a DICOMDIR references (PS3.10 file-set), read now."""
    extra: list[InstanceHeader] = []
    for header in [h for h in headers if h.kind == "dicomdir"]:
        try:
            referenced, refused = dicomdir_files(header.path)
        except DicomInputError as exc:
            result.rejected.append(Rejection(header.path, exc.reason))
            continue
        result.rejected.extend(refused)
        seen = {h.path for h in headers}
        for path in referenced:
            check(cancel)
            if path in seen:
                continue
            item = _read_one(path)
            if isinstance(item, InstanceHeader):
                extra.append(item)
            else:
                result.rejected.append(item)
                rejected_rows.append((item.path, item.reason, *_stat_pair(item.path)))
    return extra


def dicomdir_files(path: str) -> tuple[list[str], list[Rejection]]:
    """(absolute paths of the files a DICOMDIR references, references refused).

    A File ID names a file inside the file-set's folder (PS3.10 8.2: components of
    letters, digits and underscores). A reference with ``..``, an absolute path,
    a separator inside a component, or a symbolic link leading out of the folder
    is refused with its reason: a DICOMDIR never makes the importer read a file
    outside the folder it came with.

    Raises:
        DicomInputError: the DICOMDIR cannot be read.
    """
    import pydicom

    try:
        with open(path, "rb") as fp:
            refuse_deep_nesting(path, fp)
            ds = pydicom.dcmread(fp, force=True)
    except DicomInputError as exc:
        raise DicomInputError(path, f"DICOMDIR cannot be read: {exc.reason}") from exc
    except Exception as exc:
        raise DicomInputError(path, f"DICOMDIR cannot be read: {exc}") from exc
    root = os.path.dirname(os.path.abspath(path))
    files: list[str] = []
    refused: list[Rejection] = []
    try:
        records = list(ds.get("DirectoryRecordSequence", []))
    except Exception as exc:
        raise DicomInputError(path, f"DICOMDIR's Directory Record Sequence cannot be read ({type(exc).__name__})") from exc
    for number, record in enumerate(records, 1):
        try:
            file_id = record.get("ReferencedFileID")
        except Exception:
            refused.append(Rejection(path, f"DICOMDIR record {number}: Referenced File ID cannot be read"))
            continue
        if not file_id:
            continue
        parts = [str(file_id)] if isinstance(file_id, str) else [str(part) for part in file_id]
        problem = _file_id_problem(parts)
        candidate = os.path.join(root, *parts) if problem is None else ""
        if problem is None and not os.path.exists(candidate):
            # file-sets written on case-insensitive media: try the case found on disk
            candidate = _case_insensitive(root, parts) or candidate
        if problem is None and os.path.exists(candidate):
            real_root = os.path.realpath(root)
            if os.path.commonpath([real_root, os.path.realpath(candidate)]) != real_root:
                problem = "leads out of the file-set's folder through a symbolic link"
        if problem is not None:
            shown = "\\".join(parts)[:80]
            refused.append(Rejection(path, f"DICOMDIR record {number}: Referenced File ID '{shown}' refused: {problem}"))
            continue
        files.append(candidate)
    return files, refused


def _file_id_problem(parts: list[str]) -> str | None:
    """Why a Referenced File ID cannot name a file inside the file-set's folder, or None."""
    if not parts:
        return "it is empty"
    for part in parts:
        if part in ("", ".", ".."):
            return "a component is empty, '.' or '..' (a path out of the file-set's folder)"
        if "/" in part or "\\" in part or ":" in part or "\x00" in part:
            return "a component holds a path separator (an absolute path or one out of the file-set's folder)"
    return None


def _case_insensitive(root: str, parts: list[str]) -> str | None:
    current = root
    for part in parts:
        try:
            match = next((n for n in os.listdir(current) if n.lower() == part.lower()), None)
        except OSError:
            return None
        if match is None:
            return None
        current = os.path.join(current, match)
    return current


# ---------------------------------------------------------------- reading headers


def _read_one(path: str) -> InstanceHeader | Rejection:
    try:
        return read_header(path)
    except DicomInputError as exc:
        return Rejection(path, exc.reason)
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop the import: a rejection with a reason
        from planner.dicom.read_errors import describe

        return Rejection(path, f"cannot be read: {describe(exc)}")


def _read_chunk(paths: list[str]) -> list[InstanceHeader | Rejection]:
    return [_read_one(p) for p in paths]


def _read_headers(
    paths: list[str], workers: int | None, cancel: CancelToken | None
) -> Iterable[list[InstanceHeader | Rejection]]:
    """Yield batches of read results; in worker processes when that pays."""
    chunks = [paths[i : i + CHUNK] for i in range(0, len(paths), CHUNK)]
    if workers is None:
        workers = min(os.cpu_count() or 1, 4) if len(paths) >= PARALLEL_THRESHOLD else 1
    if workers <= 1 or len(chunks) <= 1:
        for chunk in chunks:
            check(cancel)
            yield _read_chunk(chunk)
        return
    # forkserver: safe to start from a process that runs Qt threads.
    context = multiprocessing.get_context("forkserver")
    # Workers fork from a server that has already imported the reader (once per process).
    context.set_forkserver_preload(["planner.dicom.header"])
    done = 0
    try:
        with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            pending = [pool.submit(_read_chunk, chunk) for chunk in chunks]
            try:
                for future in pending:
                    check(cancel)
                    batch = future.result()
                    done += 1
                    yield batch
            finally:
                for future in pending:
                    future.cancel()
    except concurrent.futures.process.BrokenProcessPool:
        # A worker died (out of memory, killed): nothing is lost, the rest is read here.
        for chunk in chunks[done:]:
            check(cancel)
            yield _read_chunk(chunk)
