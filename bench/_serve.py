"""``fediaid serve`` with the delivery transport chosen by the benchmark.

``python bench/_serve.py --transport http|aiohttp -- <fediaid serve arguments>`` runs the
real CLI after making the runtime build that transport. It exists to measure a one-line
change in fediaid/services/runtime.py (``Runtime.transport``) before it is made; without
``--transport`` the benchmarks run ``fediaid serve`` itself.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    args = sys.argv[1:]
    kind = "aiohttp"
    if args[:1] == ["--transport"]:
        kind, args = args[1], args[2:]
    if args[:1] == ["--"]:
        args = args[1:]
    import fediaid.services.runtime as runtime
    from fediaid.federation import transport

    chosen = transport.HttpTransport if kind == "http" else transport.AiohttpTransport
    # Whichever of the two names Runtime.transport() builds, it now builds `chosen`.
    runtime.AiohttpTransport = chosen  # type: ignore[misc, assignment]
    runtime.HttpTransport = chosen  # type: ignore[attr-defined]
    from fediaid.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
