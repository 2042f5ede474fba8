"""Spine Injection Planner: the one entry point.

    python main.py                      start the desktop application
    python main.py --demo               ... with the demo study loaded
    python main.py --demo --screenshot out.png [--layout 2x2]
    python main.py --open STUDY [--screenshot out.png]   import a study and open its sagittal MR series
    python main.py --demo --plan transforaminal-s1       ... and suggest that procedure's plan once analysed
    python main.py import|info|demo-data|analyze|plan|export ...   headless (see --help)
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from planner.cli import build_parser
    from planner.cli import main as cli_main

    argv = sys.argv[1:] if argv is None else argv
    args, _ = build_parser().parse_known_args(argv)
    if args.command is not None or "-h" in argv or "--help" in argv:
        return cli_main(argv)
    from ui.app import run_gui  # Qt is imported only when a window is needed

    return run_gui(demo=args.demo, screenshot=args.screenshot, layout=args.layout, db_path=args.db, open_path=args.open_path, plan=args.plan)


if __name__ == "__main__":
    sys.exit(main())
