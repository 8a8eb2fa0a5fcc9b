"""Run every benchmark and print their summary lines (and optionally save JSON results).

    .venv/bin/python bench/run_all.py [--quick] [--postgres] [--json results.jsonl]

Order: start, memory (which runs a quick inbox load to sample RSS), inbox, fan-out, then the
PostgreSQL runs of inbox and fan-out when ``--postgres`` is given and a server answers at
127.0.0.1:5432. Each benchmark runs in its own process and is bounded (< 2 min each).
Exit status 1 if any target was missed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--postgres", action="store_true", help="also run inbox and fan-out on PG")
    ap.add_argument("--json", help="append each benchmark's summary to this JSON-lines file")
    args = ap.parse_args()
    runs: list[list[str]] = [["start.py"], ["memory.py"], ["inbox.py"], ["fanout.py"]]
    if args.postgres:
        runs += [["inbox.py", "--postgres"], ["fanout.py", "--postgres"]]
    summaries: list[str] = []
    failed = False
    for run in runs:
        cmd = [sys.executable, str(BENCH / run[0]), *run[1:]]
        if args.quick:
            cmd.append("--quick")
        if args.json:
            cmd += ["--json", args.json]
        print(f"\n=== {' '.join(run)} ===", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        print(proc.stdout + proc.stderr, end="", flush=True)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("SUMMARY")]
        summaries += lines or [f"SUMMARY {run[0]}: no result (exit {proc.returncode})"]
        failed |= proc.returncode != 0
        print(f"({time.perf_counter() - t0:.0f} s)")
    print("\n" + "\n".join(summaries))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
