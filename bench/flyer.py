"""How long one flyer PDF takes (fediaid/flyer_pdf.py): a full week (20 needs and 20 offers,
two pages) on A4 and US Letter, drawn again and again in one process, after a first drawing
that also pays for importing fpdf2 and segno. Wall time and the process's CPU time (less
moved by other load on a shared machine). No database: gathering the posts is two
ordinary reads (fediaid/services/flyer.py).

    .venv/bin/python bench/flyer.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fediaid.domain.flyer import MAX_ITEMS, Flyer, FlyerItem, Paper
from fediaid.domain.group_profile import GroupProfile


def full_week() -> Flyer:
    profile = GroupProfile(
        name="Elm St Mutual Aid", description="Neighbors sharing groceries, rides and "
        "childcare around Elm Street. Everyone can ask and everyone can offer.",
        how_to_join="Come to the Saturday pantry at the library, 10-12.",
        hotline_number="+1 201-555-0123", hotline_hours="Mon\u2013Fri 9:00\u201318:00")
    needs = tuple(FlyerItem(f"Señora Muñoz necesita pañales 🙏 {n}", "Childcare", "Riverside")
                  for n in range(MAX_ITEMS))
    offers = tuple(FlyerItem(f"Spare rice and beans, bag {n}", "Food", "Elm Street")
                   for n in range(MAX_ITEMS))
    return Flyer(profile=profile, page_url="https://elm.example/@elm",
                 join_url="https://elm.example/join", since=date(2026, 11, 30),
                 printed=date(2026, 12, 6), needs=needs, offers=offers, more_needs=4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    flyer = full_week()
    start = time.perf_counter()
    from fediaid.flyer_pdf import render_pdf

    render_pdf(flyer, paper=Paper.A4)
    first = time.perf_counter() - start
    print(f"first PDF (imports fpdf2, segno, reads the fonts): {first * 1000:.0f} ms")
    for paper in Paper:
        wall, cpu = [], []
        for _ in range(args.rounds):
            t, c = time.perf_counter(), time.process_time()
            data = render_pdf(flyer, paper=paper)
            wall.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        wall.sort()
        print(f"{paper.value}: wall median {statistics.median(wall) * 1000:.0f} ms "
              f"(min {wall[0] * 1000:.0f}, max {wall[-1] * 1000:.0f}), CPU median "
              f"{statistics.median(cpu) * 1000:.0f} ms; {args.rounds} rounds, "
              f"{len(data):,} bytes, 2 pages")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
