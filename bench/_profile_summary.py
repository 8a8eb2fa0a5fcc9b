"""Summarise a py-spy raw (collapsed stacks) profile: where the samples went.

    python bench/_profile_summary.py PROFILE.txt [--top 25] [--only SUBSTRING] [--ours]

Prints the share of samples per thread, then the top functions by *self* samples (the
frame on top of the stack) and by *inclusive* samples (anywhere on the stack, counted once
per sample). ``--only`` keeps the stacks that contain SUBSTRING (e.g. ``run_once`` for the
inbox worker's batches) and gives shares of those; ``--ours`` lists only functions of
fediaid, activitypub and api in the inclusive list (where our code spends the time).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _name(frame: str) -> str:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m.group("file")
    for marker in ("site-packages/", "/work/main/", "python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{m.group('func')} ({path})"


OURS = ("(fediaid/", "(activitypub/", "(api/")
# Entry-point frames on every stack of the server's main thread: not worth listing.
ENTRY = frozenset({"<module> (fediaid/__main__.py)", "main (fediaid/cli.py)",
                   "_run (fediaid/cli.py)"})


def summarise(path: Path, top: int, only: str | None, ours: bool = False) -> list[str]:
    threads: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        if only and only not in stack:
            continue
        count = int(count_s)
        frames = stack.split(";")
        total += count
        threads[frames[0]] += count
        names = [_name(f) for f in frames[1:]] or [frames[0]]
        self_[names[-1]] += count
        for name in set(names):
            incl[name] += count
    out = [f"{path.name}: {total} samples" + (f" in stacks with {only!r}" if only else "")]
    if not total:
        return out
    out.append("threads: " + ", ".join(f"{t[:40]} {c / total:.0%}"
                                       for t, c in threads.most_common(4)))
    out.append(f"top {top} by self samples:")
    out += [f"  {c / total:6.1%}  {name}" for name, c in self_.most_common(top)]
    out.append(f"top {top} by inclusive samples" + (" (our code)" if ours else "") + ":")
    ranked = [(n, c) for n, c in incl.most_common()
              if not ours or (any(o in n for o in OURS) and n not in ENTRY)]
    out += [f"  {c / total:6.1%}  {name}" for name, c in ranked[:top]]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("profile", type=Path)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--only")
    ap.add_argument("--ours", action="store_true")
    args = ap.parse_args()
    print("\n".join(summarise(args.profile, args.top, args.only, args.ours)))


if __name__ == "__main__":
    main()
