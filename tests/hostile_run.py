"""Import, then ``info`` and load, every file of a hostile corpus under an address-space limit and a time limit
per file; prints one JSON summary (run in its own process by tests/planner/test_hostile_files.py).

    python -m tests.hostile_run CORPUS_FOLDER WORK_FOLDER [--limit-gb 2] [--seconds 20] [--budget-mb 512]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import resource
import signal
import sys
import time
import traceback
from pathlib import Path


class Hang(Exception):
    pass


def _alarm(_signum, _frame):
    raise Hang()


def _timed(seconds: int, function, *args):
    """(result, error text or None, elapsed s); a hang past ``seconds`` is an error "HANG"."""
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    started = time.perf_counter()
    try:
        return function(*args), None, time.perf_counter() - started
    except Hang:
        return None, "HANG", time.perf_counter() - started
    except BaseException:  # noqa: BLE001 - what escapes is exactly what the test counts
        return None, traceback.format_exc(), time.perf_counter() - started
    finally:
        signal.alarm(0)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus")
    parser.add_argument("work")
    parser.add_argument("--limit-gb", type=float, default=2.0)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--budget-mb", type=int, default=512)
    args = parser.parse_args()
    limit = int(args.limit_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    from planner.cli import main as cli
    from planner.dicom.database import StudyDatabase
    from planner.dicom.importer import import_paths
    from planner.dicom.loader import load_series

    corpus, work = Path(args.corpus), Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    db = StudyDatabase(work / "db.sqlite")
    # the whole folder at once, as a user would (workers forked under the same limit)
    report, error, seconds = _timed(600, lambda: import_paths([corpus], db, archive_dir=work / "archives",
                                                               expansion_budget=args.budget_mb * 2**20))
    summary = {"import_error": error, "import_seconds": seconds, "tracebacks": [], "hangs": [], "slow": [],
               "files": 0, "indexed": 0, "rejected": 0, "unaccounted": [], "generic_reasons": []}
    if report is None:
        (work / "summary.json").write_text(json.dumps(summary))
        print(json.dumps(summary))
        return 0
    rejected = {r.path: r.reason for r in report.rejected}
    indexed = {path for path, (_size, _mtime, reason) in db.file_states().items() if reason is None}
    summary["rejected"], summary["indexed"] = len(rejected), len(indexed)
    summary["indexed_outside"] = sorted(p for p in indexed if not (p.startswith(str(corpus)) or p.startswith(str(work))))
    summary["specials"] = {
        Path(p).name: ("indexed" if p in indexed else rejected.get(p, "unaccounted"))
        for p in map(str, sorted((corpus / "specials").glob("*")))
    }
    summary["dicomdir"] = sorted(r.reason for r in report.rejected if r.path.endswith("DICOMDIR"))
    for reason in rejected.values():
        if "unexpected error" in reason or reason.strip().endswith(": )") or len(reason) > 400:
            summary["generic_reasons"].append(reason[:200])
    files = sorted(p for p in corpus.rglob("*") if p.is_file())
    summary["files"] = len(files)
    for path in files:
        name = str(path)
        if name not in rejected and name not in indexed and path.name != "DICOMDIR":
            summary["unaccounted"].append(name)
        (work / "current.txt").write_text(f"info {name}")
        out, err = io.StringIO(), io.StringIO()

        def info():
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                return cli(["info", name])

        code, error, seconds = _timed(args.seconds, info)
        if error == "HANG":
            summary["hangs"].append(name)
        elif error is not None or "Traceback" in err.getvalue():
            summary["tracebacks"].append({"path": name, "where": "info", "error": (error or err.getvalue())[-1500:]})
        elif code not in (0, 1):
            summary["tracebacks"].append({"path": name, "where": "info", "error": f"exit code {code}"})
        if seconds > args.seconds / 2:
            summary["slow"].append([name, round(seconds, 1)])
    # every indexed series loads (pixels decoded) or fails with a planner error
    from planner.errors import PlannerError

    for uid in db.series_uids():
        headers = db.instances(uid)
        (work / "current.txt").write_text(f"load {uid}")

        def load():
            try:
                loaded = load_series(headers)
            except PlannerError:
                return
            for clip in loaded.clips:
                try:
                    clip.frame(0)
                    clip.frame(clip.n_frames - 1)
                except PlannerError:
                    pass

        _result, error, _seconds = _timed(args.seconds, load)
        if error == "HANG":
            summary["hangs"].append(f"load {uid}")
        elif error is not None:
            summary["tracebacks"].append({"path": uid, "where": "load", "error": error[-1500:]})
    (work / "summary.json").write_text(json.dumps(summary))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
