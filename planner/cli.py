"""Headless command line: the same planner code the GUI calls.

    python main.py import PATH... [--db FILE] [--json]
    python main.py info PATH [--json]
    python main.py demo-data OUT [--finding CLASS] [--side SIDE] [--size MM] [--seed N]

    python main.py analyze STUDY --out DIR [--level-shift N]
    python main.py plan STUDY --procedure P [--side S] --out DIR

``export`` is listed and says that it comes with a later release. Exit codes:
0 when the command ran (import may still have rejected files), 2 for usage
errors, 1 with one sentence on stderr when the command could not run (for
``plan``: also when no safe straight path exists). Patient names and IDs are never printed in logs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from planner.errors import PlannerError

LATER = {
    "export": "export the plan as DICOM SR/SEG/KO/PDF or send it to PACS (issue 6)",
}


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
    p.add_argument("--cine-frames", type=int, default=150)

    p = sub.add_parser("analyze", help="find the levels, segment the L5-S1 disc and classify its bulge (LDN 2.0)")
    p.add_argument("study", help="study folder, file or archive")
    p.add_argument("--out", required=True, help="folder for analysis.json and l5s1_disc_seg.dcm")
    p.add_argument("--level-shift", type=int, default=0, help="move every level label by N (+1: L5-S1 becomes L4-L5)")
    p.add_argument("--segmenter", default="classical", help="segmenter plugin (entry-point group spine_planner.segmenters)")
    p = sub.add_parser("plan", help="analyse the study and write the suggested injection plan with every safety metric")
    p.add_argument("study", help="study folder, file or archive")
    p.add_argument("--procedure", required=True, choices=["transforaminal-s1", "interlaminar-l5s1", "caudal", "intradiscal-l5s1"])
    p.add_argument("--side", choices=["left", "right"], help="default: the side of the herniation")
    p.add_argument("--out", required=True, help="folder for plan.json, analysis.json and l5s1_disc_seg.dcm")
    p.add_argument("--author", default=None, help="who plans (default: the login name)")
    p.add_argument("--level-shift", type=int, default=0, help="move every level label by N (+1: L5-S1 becomes L4-L5)")
    for name, text in LATER.items():
        p = sub.add_parser(name, help=f"{text} (not available yet)")
        p.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
        if args.command in LATER:
            print(f"main.py {args.command}: not available yet: {LATER[args.command]}", file=sys.stderr)
            return 1
    except PlannerError as exc:
        print(f"main.py {args.command}: {exc}", file=sys.stderr)
        return 1
    parser.print_help()
    return 0


def _import(args) -> int:
    from planner.database import StudyDatabase
    from planner.importer import import_paths

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
    from planner.errors import DicomInputError
    from planner.loader import load_series, read_path_series

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


def _analyze(args) -> int:
    from planner.analysis import analyze_study

    result = analyze_study(args.study, args.out, level_shift=args.level_shift, segmenter=args.segmenter)
    print(
        f"L5-S1: {result['classification']}, side {result['side']}, zone {result['zone']}, "
        f"max displacement {result['max_displacement_mm']} mm over {result['displaced_arc_deg']} degrees"
    )
    return _finish(result["warnings"], Path(args.out) / "analysis.json")


def _plan(args) -> int:
    from planner.planning import default_author, plan_study

    data = plan_study(
        args.study, args.procedure, args.side, args.out, author=args.author or default_author(), level_shift=args.level_shift
    )
    computed = data["computed"]
    for trajectory in data["trajectories"]:
        m = computed["trajectories"][trajectory["id"]]
        print(
            f"{trajectory['label']}: {m['length_mm']:.0f} mm, {m['c_arm']}, needle {trajectory['needle']['gauge']} G "
            f"{trajectory['needle']['length_mm']:g} mm"
        )
    return _finish(computed["warnings"], Path(args.out) / "plan.json")


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
