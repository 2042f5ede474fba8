"""Headless command line: the same planner code the GUI calls.

    python main.py import PATH... [--db FILE] [--json]
    python main.py info PATH [--json]
    python main.py demo-data OUT [--finding CLASS] [--side SIDE] [--size MM] [--seed N]

    python main.py analyze STUDY --out DIR [--level-shift N] [--l5s1-at X,Y,Z] [--segmenter NAME]
    python main.py plan STUDY --procedure P [--side S] --out DIR [--confirm-level | --level-shift N] [--l5s1-at X,Y,Z]
                         [--fasciculations CINE [--fasciculation-control CINE]]
    python main.py export PLAN_JSON --out DIR [--pacs AET@HOST:PORT] [--calling-aet AET]
    python main.py pacs echo|find|get|outbox ...
    python main.py fasciculations CINE [--control CINE] [--region X0,Y0,X1,Y1] [--muscle NAME] [--json]

Exit codes:
0 when the command ran (import may still have rejected files), 2 for usage
errors, 1 with one sentence on stderr when the command could not run (for
``plan``: also when no safe straight path exists). Patient names and IDs are never printed in logs.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from planner.errors import PlannerError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="main.py",
        description="Spine Injection Planner. Without a subcommand the desktop application starts.",
    )
    parser.add_argument("--demo", action="store_true", help="start the GUI with the demo study loaded")
    parser.add_argument("--screenshot", metavar="PNG", help="GUI: render, save the window as PNG and exit")
    parser.add_argument("--layout", default=None, help="GUI layout: 1x1, 1x3, 2x2 (three MPR + 3D) or mr+us (default: the last one used)")
    parser.add_argument("--db", metavar="FILE", help="study database (default: in the user data directory)")
    parser.add_argument("--open", metavar="PATH", dest="open_path", help="GUI: import PATH (folder, file or archive) and open its sagittal MR series")
    parser.add_argument(
        "--plan", metavar="PROCEDURE", choices=["transforaminal-s1", "interlaminar-l5s1", "caudal", "intradiscal-l5s1"],
        help="GUI: suggest this procedure's plan once the L5-S1 analysis is in",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("import", help="index DICOM files, folders, DICOMDIRs and zip archives")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--db", metavar="FILE", dest="db_sub", help="study database file")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("info", help="load one series (folder or file) and print its geometry")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("demo-data", help="write the synthetic demo study")
    p.add_argument("out", metavar="OUT")
    p.add_argument("--finding", default="protrusion", choices=["normal", "bulge", "protrusion", "extrusion"])
    p.add_argument("--side", default="left", choices=["left", "right", "central"])
    p.add_argument("--size", type=float, default=5.0, metavar="MM", help="displacement beyond the disc margin")
    p.add_argument("--migration", type=float, default=0.0, metavar="MM", help="extrusion: caudal migration")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--noise", type=float, default=0.03, help="Rician noise sigma relative to full signal")
    p.add_argument("--dark-disc", action="store_true", help="degenerated (dark) L5-S1 disc")
    p.add_argument("--high-crests", action="store_true", help="iliac crests up to mid-L4 (blocks a posterolateral L5-S1 path)")
    p.add_argument("--cine-frames", type=int, default=1800, help="frames per ultrasound cine (30 per second; default 60 s)")

    p = sub.add_parser("analyze", help="find the levels, segment the L5-S1 disc and classify its bulge (LDN 2.0)")
    p.add_argument("study", help="study folder, file or archive")
    p.add_argument("--out", required=True, help="folder for analysis.json and l5s1_disc_seg.dcm")
    p.add_argument("--level-shift", type=int, default=0, help="move every level label by N (+1: L5-S1 becomes L4-L5)")
    p.add_argument("--l5s1-at", type=_lps_point, metavar="X,Y,Z", help=L5S1_AT_HELP)
    p.add_argument("--segmenter", default="learned", help="segmenter plugin (entry-point group spine_planner.segmenters; "
                   "built in: learned, classical)")
    p = sub.add_parser("plan", help="analyse the study and write the suggested injection plan with every safety metric")
    p.add_argument("study", help="study folder, file or archive")
    p.add_argument("--procedure", required=True, choices=["transforaminal-s1", "interlaminar-l5s1", "caudal", "intradiscal-l5s1"])
    p.add_argument("--side", choices=["left", "right"], help="default: the side of the herniation")
    p.add_argument("--out", required=True, help="folder for plan.json, analysis.json and l5s1_disc_seg.dcm")
    p.add_argument("--author", default=None, help="who plans (default: the login name)")
    p.add_argument("--level-shift", type=int, default=0, help="move every level label by N (+1: L5-S1 becomes L4-L5); "
                   "records that the author set the level")
    p.add_argument("--confirm-level", action="store_true",
                   help="the author has checked the level labels: plan even when the count from the sacrum is not certain")
    p.add_argument("--l5s1-at", type=_lps_point, metavar="X,Y,Z", help=L5S1_AT_HELP + " (with --confirm-level)")
    p.add_argument("--fasciculations", metavar="CINE", help="also record the fasciculations of this muscle cine in the plan")
    p.add_argument("--fasciculation-control", metavar="CINE", help="... compared with this control muscle cine")
    p = sub.add_parser("export", help="export a plan as DICOM SR, SEG, key images, KO and PDF; to a folder and/or a PACS")
    p.add_argument("plan", metavar="PLAN_JSON")
    p.add_argument("--out", required=True, help="folder for the DICOM File-set (DICOMDIR) and the PDF")
    p.add_argument("--pacs", metavar="AET@HOST:PORT", help="also send to this PACS (through the outbox: retried until confirmed)")
    p.add_argument("--calling-aet", default=None, help="our AE title (default SPINEPLANNER)")
    p.add_argument("--db", metavar="FILE", dest="db_sub", help="study database to find the study in")
    p.add_argument("--draft", action="store_true", help="export a plan that is not approved (marked as a draft)")

    p = sub.add_parser("fasciculations", help="detect and count muscle twitches in an ultrasound cine, against a control muscle")
    p.add_argument("cine", help="the cine of the muscle examined (a file, or a folder holding one cine)")
    p.add_argument("--control", help="the cine of a control muscle not supplied by the sacral roots")
    p.add_argument("--region", help="analyse only this rectangle of pixels, X0,Y0,X1,Y1 (default: the muscle layer found)")
    p.add_argument("--muscle", help="the muscle examined, when the series description does not name it (e.g. gastrocnemius_medial)")
    p.add_argument("--control-muscle", help="the control muscle, when its series description does not name it (e.g. tibialis_anterior)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")

    p = sub.add_parser("pacs", help="DICOM network: echo, find, get, and the outbox of unsent objects")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb, text in (("echo", "C-ECHO: test the connection"), ("find", "C-FIND at patient, study or series level"),
                       ("get", "C-GET a study (or series) and import it into the study database")):
        v = verbs.add_parser(verb, help=text)
        v.add_argument("node", metavar="AET@HOST:PORT")
        v.add_argument("--calling-aet", default=None, help="our AE title (default SPINEPLANNER)")
        if verb == "find":
            v.add_argument("--level", default="STUDY", choices=["PATIENT", "STUDY", "SERIES"])
            v.add_argument("-k", "--key", action="append", default=[], metavar="KEYWORD=VALUE",
                           help="matching key, e.g. -k PatientID=123 -k StudyDate=20260101-")
            v.add_argument("--json", action="store_true", help="print JSON")
        if verb == "get":
            v.add_argument("study_uid", metavar="STUDY_INSTANCE_UID")
            v.add_argument("--series", metavar="SERIES_INSTANCE_UID")
            v.add_argument("--out", help="folder for the received files (default: in the user data folder)")
            v.add_argument("--db", metavar="FILE", dest="db_sub", help="study database to import into")
    v = verbs.add_parser("outbox", help="list what waits to be sent, and why; --send retries now")
    v.add_argument("--send", action="store_true", help="send every pending item now (ignores the back-off)")
    v.add_argument("--discard", metavar="ID", type=int, action="append", default=[],
                   help="remove a waiting item (it will not be sent); the IDs are in the listing")

    return parser


def main(argv: list[str] | None = None) -> int:
    from planner.logs import setup_logging

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is not None:
        setup_logging()
    try:
        if args.command == "import":
            return _import(args)
        if args.command == "info":
            return _info(args)
        if args.command == "demo-data":
            return _demo(args)
        if args.command == "analyze":
            return _analyze(args)
        if args.command == "plan":
            return _plan(args)
        if args.command == "export":
            return _export(args)
        if args.command == "pacs":
            return _pacs(args)
        if args.command == "fasciculations":
            return _fasciculations(args)
    except PlannerError as exc:
        print(f"main.py {args.command}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - a bug: its traceback goes to the log file, a sentence to the user
        from planner.logs import log_unexpected

        path = log_unexpected(exc, f"main.py {args.command}")
        print(f"main.py {args.command}: unexpected error ({type(exc).__name__}); the details are in {path}", file=sys.stderr)
        return 3
    parser.print_help()
    return 0


def _import(args) -> int:
    from planner.dicom.database import StudyDatabase
    from planner.dicom.importer import import_paths

    db_path = args.db_sub or args.db
    with StudyDatabase(db_path) as db:
        report = import_paths(args.paths, db)
    if args.json:
        print(json.dumps(report.as_json(), indent=1))
        return 0
    for s in report.series:
        calibration = ""
        if s.us_regions is not None:
            spatial = [r for r in s.us_regions if r.is_spatial]
            calibration = f"  {spatial[0].physical_delta_x_mm:.4g} mm/px" if spatial else "  not calibrated"
        print(f"{s.kind:10} {s.modality:4} {s.n_instances:4} files {s.n_frames:5} frames  {s.orientation:4} {s.description}{calibration}")
    print(f"{report.n_indexed + report.n_unchanged} indexed ({report.n_unchanged} unchanged), {len(report.rejected)} rejected")
    for r in report.rejected:
        print(f"rejected: {r.path}: {r.reason}")
    return 0


def _info(args) -> int:
    from planner.dicom.loader import load_series, read_path_series
    from planner.errors import DicomInputError

    series, rejected = read_path_series(args.path)
    if not series:
        reason = rejected[0][1] if rejected else "no DICOM files found"
        raise DicomInputError(rejected[0][0] if rejected else args.path, reason)
    uid, headers = max(series.items(), key=lambda item: len(item[1]))
    loaded = load_series(headers)
    result: dict = {"series_instance_uid": uid, "kind": loaded.kind, "n_series_in_path": len(series), "warnings": loaded.warnings}
    if loaded.volumes:
        v = loaded.volumes[0]
        result.update(
            shape=list(v.shape),
            spacing_mm=[round(s, 6) for s in v.spacing_mm],
            origin_lps=[round(s, 4) for s in v.origin_lps],
            axes_lps=[[round(float(c), 6) for c in v.axes_lps[:, n]] for n in range(3)],
            orientation=v.orientation,
            n_volumes=len(loaded.volumes),
        )
    else:
        c = loaded.clips[0]
        times = c.frame_times_ms
        result.update(
            shape=[c.n_frames, *c.shape],
            n_clips=len(loaded.clips),
            calibrated=c.is_calibrated,
            us_regions=[r.as_json() for r in c.regions],
            frame_times_ms=[round(float(t), 3) for t in times[:10]] + (["..."] if len(times) > 10 else []),
            frame_rate_hz=round(c.frame_rate_hz, 3),
        )
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


L5S1_AT_HELP = ("the L5-S1 disc is here (a point inside it, patient LPS mm, e.g. 1.5,-20,35): name the levels from "
                "it, when the software cannot count them or counts them wrong")


def _lps_point(text: str) -> tuple[float, float, float]:
    """``X,Y,Z`` in millimetres (argparse type)."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"{text!r} is not X,Y,Z: three numbers in millimetres, comma-separated")
    return values


def _analyze(args) -> int:
    from planner.disc.analysis import analyze_study
    from planner.disc.finding_text import describe

    result = analyze_study(args.study, args.out, level_shift=args.level_shift, segmenter=args.segmenter,
                           l5s1_lps=args.l5s1_at)
    print(describe(result).sentence)  # the same words as the findings panel and the PDF
    if result["level_confidence"] == "high":
        print("level count: confident")
    else:
        print("level count: NOT CERTAIN - confirm or shift the labels before planning: " + " ".join(result["level_confidence_reasons"]))
    return _finish(result["warnings"], Path(args.out) / "analysis.json")


def _plan(args) -> int:
    from planner.plan.planning import default_author, plan_study

    record = None
    if args.fasciculations:
        from planner.fasciculation.analysis import analyse_clip
        from planner.fasciculation.record import plan_record
        from planner.fasciculation.source import open_cine

        control = analyse_clip(open_cine(args.fasciculation_control)) if args.fasciculation_control else None
        record = plan_record(analyse_clip(open_cine(args.fasciculations)), control)
    elif args.fasciculation_control:
        print("main.py plan: --fasciculation-control needs --fasciculations (the muscle examined)", file=sys.stderr)
        return 2
    data = plan_study(
        args.study, args.procedure, args.side, args.out, author=args.author or default_author(),
        level_shift=args.level_shift, confirm_level=args.confirm_level, fasciculation=record, l5s1_lps=args.l5s1_at,
    )
    computed = data["computed"]
    for trajectory in data["trajectories"]:
        m = computed["trajectories"][trajectory["id"]]
        print(
            f"{trajectory['label']}: {m['length_mm']:.0f} mm, {m['c_arm']}, needle {trajectory['needle']['gauge']} G "
            f"{trajectory['needle']['length_mm']:g} mm"
        )
    return _finish(computed["warnings"], Path(args.out) / "plan.json")


def _export(args) -> int:
    from planner.export.bundle import build_export, load_export_source, write_export_folder

    source = load_export_source(args.plan, db_path=args.db_sub or args.db)
    if not source.plan.approved and not args.draft:
        print(f"main.py export: {args.plan}: the plan is a draft (status '{source.plan.status}', not approved): approve "
              "it in the planner first, or pass --draft to export it marked as a draft", file=sys.stderr)
        return 2
    bundle = build_export(source)
    folder = write_export_folder(bundle, args.out)
    plan = bundle.plan
    print(f"plan v{plan.version} ({plan.status}): {len(bundle.datasets)} DICOM objects in study {plan.study.study_instance_uid}")
    for ds in bundle.datasets:
        print(f"  {ds.Modality:4} series {ds.SeriesNumber}  {ds.SeriesDescription}")
    print(f"written: {folder.dicomdir}")
    print(f"written: {folder.pdf}")
    if not args.pacs:
        return 0
    from planner.pacs.network import DEFAULT_CALLING_AET, PacsNode
    from planner.pacs.outbox import Outbox

    try:
        node = PacsNode.parse(args.pacs, args.calling_aet or DEFAULT_CALLING_AET)
    except ValueError as error:
        print(f"main.py export: --pacs: {error}", file=sys.stderr)
        return 2
    outbox = Outbox()
    ids = set(outbox.enqueue(node, bundle.datasets))
    outbox.process(due_only=False)
    waiting = [i for i in outbox.items(pending_only=True) if i.id in ids]
    if waiting:
        reasons = "; ".join(dict.fromkeys(i.last_error for i in waiting))
        print(f"main.py export: {len(waiting)} of {len(ids)} objects not confirmed by {node.label}; they stay in the "
              f"outbox and are retried (main.py pacs outbox --send): {reasons}", file=sys.stderr)
        return 1
    print(f"sent: {len(ids)} objects to {node.label}")
    return 0


def _fasciculations(args) -> int:
    from planner.fasciculation.analysis import analyse_clip
    from planner.fasciculation.interpretation import comparison_json
    from planner.fasciculation.source import open_cine

    region = None
    if args.region:
        try:
            region = tuple(int(float(v)) for v in args.region.split(","))
        except ValueError:
            region = ()
        if len(region) != 4:
            print(f"main.py fasciculations: --region must be four numbers X0,Y0,X1,Y1 (pixels), got {args.region!r}", file=sys.stderr)
            return 2
    target = analyse_clip(open_cine(args.cine), rect=region, muscle=args.muscle)
    control = analyse_clip(open_cine(args.control), muscle=args.control_muscle) if args.control else None
    result = comparison_json(target, control)
    if args.json:
        print(json.dumps(result, indent=1, ensure_ascii=False))
        return 0
    for name, findings in (("muscle", target), ("control", control)):
        if findings is None:
            continue
        print(f"{name}: {findings.summary()}")
        for e in findings.events:
            where = f"{e.x_mm:+.1f} mm lateral, {e.depth_mm:.1f} mm deep, {e.displacement_mm:.2f} mm" if e.x_mm is not None else f"pixel ({e.x_px:.0f}, {e.y_px:.0f})"
            print(f"  {e.time_s:7.2f} s  {e.duration_s:.2f} s  {where}")
        for w in findings.warnings:
            print(f"  warning: {w}")
    print(result["interpretation"])
    return 0


def _pacs(args) -> int:
    from planner.pacs import network
    from planner.pacs.outbox import Outbox

    if args.verb == "outbox":
        from planner.pacs.outbox import OutboxError

        outbox = Outbox()
        for item_id in args.discard:
            try:
                outbox.discard(item_id)
            except OutboxError as error:
                print(f"main.py pacs outbox --discard: {error}", file=sys.stderr)
                return 2
            print(f"discarded item {item_id}")
        if args.send:
            summary = outbox.process(due_only=False)
            print(f"sent {summary.sent}, failed {summary.failed}")
        pending = outbox.items(pending_only=True)
        for item in pending:
            state = "FAILED, discard it: " if item.state == "failed" else ""
            print(f"{item.id}  {item.node.label}  {item.description}  {item.attempts} attempt(s): "
                  f"{state}{item.last_error or 'not tried yet'}")
        print(f"{len(pending)} pending")
        return 1 if args.send and pending else 0
    try:
        node = network.PacsNode.parse(args.node, args.calling_aet or network.DEFAULT_CALLING_AET)
    except ValueError as error:
        print(f"main.py pacs {args.verb}: {error}", file=sys.stderr)
        return 2
    if args.verb == "echo":
        print(f"{node.label}: echo OK in {network.echo(node):.0f} ms")
        return 0
    if args.verb == "find":
        keys = dict(k.split("=", 1) for k in args.key if "=" in k)
        bad = [k for k in args.key if "=" not in k]
        if bad:
            print(f"main.py pacs find: -k {bad[0]!r} is not KEYWORD=VALUE", file=sys.stderr)
            return 2
        answers = network.find(node, args.level, keys)
        rows = [{kw: str(getattr(a, kw, "")) for kw in network.LEVEL_KEYS[args.level]} for a in answers]
        if args.json:
            print(json.dumps(rows, indent=1))
        else:
            for row in rows:  # printed for the user at the terminal, not logged
                print("  ".join(v for v in row.values() if v))
            print(f"{len(rows)} {args.level.lower()} match(es)")
        return 0
    from planner.app_paths import data_folder
    from planner.dicom.database import StudyDatabase
    from planner.dicom.importer import import_paths

    out = Path(args.out) if args.out else data_folder() / "incoming" / args.study_uid
    files = network.get(node, args.study_uid, out, series_instance_uid=args.series)
    with StudyDatabase(args.db_sub) as db:
        imported = import_paths([str(out)], db)
    print(f"received {len(files)} instance(s) into {out}; {imported.n_indexed + imported.n_unchanged} indexed, "
          f"{len(imported.rejected)} rejected")
    return 0


def _finish(warnings: list[str], written: Path) -> int:
    """The end of a command that wrote a file: its warnings on stderr, where the result is."""
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"written: {written}")
    return 0


def _demo(args) -> int:
    from planner.demo import write_demo_study
    from planner.demo.phantom import Finding

    finding = Finding(classification=args.finding, side=args.side, size_mm=args.size, migration_mm=args.migration)
    out = Path(args.out)
    write_demo_study(out, seed=args.seed, finding=finding, noise=args.noise, dark_disc=args.dark_disc, high_crests=args.high_crests, cine_frames=args.cine_frames)
    print(f"demo study written to {out} (ground truth in {out / 'truth'})")
    return 0
