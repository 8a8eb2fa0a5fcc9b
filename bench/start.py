"""Start-up benchmark: from the command to the first answered request.

Creates an instance once, then starts ``fediaid serve`` (web server + workers) several times
and measures from ``Popen`` to the first ``GET /healthz`` answered 200 (polled every 5 ms
over loopback). Also measures the parts: interpreter start, importing what ``serve`` imports,
and the rest (opening the database, checking the schema, loading the identity, binding).

Target: < 2 s on an already-initialised instance.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    FEDIAID,
    PY,
    Instance,
    Procs,
    emit_json,
    free_port,
    med,
    spread,
    sqlite_url,
    verdict,
    wait_http,
    wait_quiet,
    workdir,
)

TARGET_S = 2.0
SERVE_IMPORTS = ("import fediaid.cli, api.app, fediaid.jobs.runner, fediaid.services.runtime, "
                 "uvicorn, uvloop")


def time_python(code: str) -> float:
    """Wall time of a fresh interpreter running ``code`` (start-up and exit included)."""
    t0 = time.perf_counter()
    subprocess.run([PY, "-c", code], check=True)
    return time.perf_counter() - t0


def time_imports() -> float:
    """Seconds ``serve``'s imports take inside a fresh interpreter (exit not included)."""
    code = f"import time; t = time.perf_counter(); {SERVE_IMPORTS}; print(time.perf_counter() - t)"
    out = subprocess.run([PY, "-c", code], check=True, capture_output=True, text=True)
    return float(out.stdout.strip())


def run(*, quick: bool = False, verbose: bool = True) -> dict[str, Any]:
    runs = 3 if quick else 7
    say = print if verbose else (lambda *a, **k: None)
    with workdir("fediaid-bench-start-") as tmp, Procs() as procs:
        inst = Instance(tmp / "app", free_port(), sqlite_url(tmp / "app"))
        inst.data.mkdir()
        inst.init()
        wait_quiet(max_wait=15.0, say=say)
        starts: list[float] = []
        bare: list[float] = []
        imports: list[float] = []
        for i in range(runs):
            # Interleaved with the starts, so machine noise hits all three alike.
            bare.append(time_python("pass"))
            imports.append(time_imports())
            t0 = time.perf_counter()
            proc = procs.start([*FEDIAID, "serve", "--data", str(inst.data), "--port",
                                str(inst.port)], log=inst.data / "serve.log",
                               env=inst.full_env(), cwd=tmp)
            wait_http(f"{inst.base}/healthz", proc, timeout=30.0, interval=0.005)
            starts.append(time.perf_counter() - t0)
            say(f"  start {i + 1}: {starts[-1]:.3f} s")
            procs.stop(proc)
    summary = {
        "bench": "start", "runs": runs, "start_s": [round(s, 3) for s in starts],
        "median_start_s": med(starts), "interpreter_s": med(bare),
        "imports_s": med(imports), "pass": med(starts) < TARGET_S,
    }
    rest = med(starts) - med(bare) - med(imports)
    say(f"\nparts (medians): interpreter start+exit {med(bare):.3f} s, serve's imports "
        f"{med(imports):.3f} s, the rest (database, schema check, identity, workers, bind, "
        f"first request) ~{max(0.0, rest):.3f} s")
    say(f"SUMMARY start: {spread(starts, '{:.2f}')} s from command to first 200 "
        f"[{verdict(summary['pass'])} < {TARGET_S:.0f} s]")
    return summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 starts instead of 7")
    ap.add_argument("--json", help="append the summary as a JSON line to this file")
    args = ap.parse_args()
    summary = run(quick=args.quick)
    emit_json(args.json, summary)
    return 0 if summary["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
