"""``fediaid serve`` and ``fediaid worker`` tune the interpreter once start-up is done
(fediaid/cli_serve.tune_process): what start-up made is out of the collector's sight, the
youngest generation is collected less often. In a fresh interpreter (the settings are the
whole process's)."""

from __future__ import annotations

import json
import subprocess
import sys

from fediaid import cli_serve

PROBE = """
import gc, json
before = {"thresholds": gc.get_threshold(), "frozen": gc.get_freeze_count()}
import fediaid.services.runtime  # start-up's modules
from fediaid.cli_serve import tune_process
tune_process()
print(json.dumps({"before": before, "thresholds": gc.get_threshold(),
                  "frozen": gc.get_freeze_count(), "young": gc.get_count()[0]}))
"""


def test_start_up_is_frozen_and_the_collector_tuned() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         check=True, timeout=60)
    got = json.loads(out.stdout)
    assert got["before"]["frozen"] == 0 and got["before"]["thresholds"] == [700, 10, 10]
    assert got["thresholds"] == list(cli_serve.GC_THRESHOLDS)
    # The modules, tables and services loaded so far: tens of thousands of objects.
    assert got["frozen"] > 50_000
    assert got["young"] < 1_000
