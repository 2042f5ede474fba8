"""Run every benchmark and print a Markdown table (paste it into the README).

    python -m bench.run_all [--json FILE]
"""

from __future__ import annotations

import json
import platform
import sys


def main(argv: list[str]) -> int:
    # Imported here, not at module level: worker processes re-import the main module,
    # and the application's own entry point (main.py) is kept just as light.
    from bench import (
        bench_analyze,
        bench_cine_soak,
        bench_fasciculation,
        bench_gui,
        bench_index,
        bench_load_mr,
        bench_pacs,
        bench_plan_drag,
        bench_us_decode,
    )

    rows = [bench_index.run(), bench_load_mr.run(), *bench_us_decode.run(), *bench_gui.run(), *bench_analyze.run(), *bench_plan_drag.run(), *bench_pacs.run(), *bench_cine_soak.run(), *bench_fasciculation.run()]
    print(f"Machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}\n")
    print("| benchmark | ours | floor (same run) | ratio | target |")
    print("|---|---|---|---|---|")
    for r in rows:
        verdict = "ok" if r["pass"] else "MISSED"
        if r["floor"] is None:  # an absolute target
            print(f"| {r['benchmark']} | {r['ours']} {r['unit']} | - | - | <= {r['target']} {r['unit']} {verdict} |")
        else:
            print(f"| {r['benchmark']} | {r['ours']} {r['unit']} | {r['floor']} {r['unit']} ({r['floor_name']}) | {r['ratio']} | <= {r['target']} {verdict} |")
    if "--json" in argv:
        with open(argv[argv.index("--json") + 1], "w") as fp:
            json.dump(rows, fp, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
