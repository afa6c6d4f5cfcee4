#!/usr/bin/env python3
"""Benchmark `hakisa record`: a 1280x720 bundled-game window under Xvfb while the scripted
demonstrator plays, at 60 Hz and 20 Hz. Prints achieved rate, missed ticks, CPU use and MB/minute.

    .venv/bin/python tools/bench_record.py [--seconds 30] [--game dodge]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from xsession import ROOT, game_with_demonstrator, virtual_display

from hakisa import BUNDLED_GAMES


def cpu_total() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine from /proc/stat."""
    v = [float(x) for x in open("/proc/stat").readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


def run_once(game: str, hz: int, seconds: float, tmp: Path) -> dict:
    out = tmp / f"bench-{hz}.h5"
    with game_with_demonstrator(game, tmp / f"{game}-{hz}.jsonl"):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        busy0, tot0 = cpu_total()
        t0 = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "hakisa", "record", "--profile", game, "--out", str(out),
                            "--force", "--hz", str(hz), "--seconds", str(seconds)],
                           cwd=ROOT, capture_output=True, text=True)
        wall = time.monotonic() - t0
        busy1, tot1 = cpu_total()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"record failed:\n{r.stderr}")
    text = r.stdout + r.stderr
    m = re.search(r"achieved ([\d.]+) Hz of [\d.]+, missed ticks (\d+) \(([\d.]+)%\)", text)
    g = re.search(r"grab\+preprocess p50 ([\d.]+) ms, p99 ([\d.]+) ms", text)
    rec_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"hz": hz, "achieved": float(m.group(1)), "missed": int(m.group(2)), "missed_pct": float(m.group(3)),
            "rec_cpu_pct": 100 * rec_cpu / wall, "machine_cpu_pct": 100 * (busy1 - busy0) / (tot1 - tot0) * os.cpu_count(),
            "mb_per_min": out.stat().st_size / 1e6 / seconds * 60, "grab_p50": float(g.group(1)),
            "grab_p99": float(g.group(2))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="recording length per rate (default 30)")
    ap.add_argument("--game", default="dodge", choices=BUNDLED_GAMES)
    ap.add_argument("--rates", default="60,20", help="tick rates to measure (default 60,20)")
    args = ap.parse_args()
    rows = []
    with virtual_display("1280x720", reuse=False), tempfile.TemporaryDirectory() as tmp:
        for hz in [int(x) for x in args.rates.split(",")]:
            print(f"recording {args.game} at {hz} Hz for {args.seconds:g} s ...", file=sys.stderr, flush=True)
            rows.append(run_once(args.game, hz, args.seconds, Path(tmp)))
    print(f"\nhakisa record: {args.game} window 1280x720 under Xvfb, demonstrator playing, "
          f"{os.cpu_count()} cores, {args.seconds:g} s per rate")
    print(f"{'rate':>6} {'achieved Hz':>12} {'missed':>7} {'missed %':>9} {'recorder CPU':>13} "
          f"{'machine CPU':>12} {'MB/min':>7} {'grab p50 ms':>12} {'grab p99 ms':>12}")
    for r in rows:
        print(f"{r['hz']:>6} {r['achieved']:>12.2f} {r['missed']:>7} {r['missed_pct']:>9.2f} "
              f"{r['rec_cpu_pct']:>12.0f}% {r['machine_cpu_pct']:>11.0f}% {r['mb_per_min']:>7.1f} "
              f"{r['grab_p50']:>12.2f} {r['grab_p99']:>12.2f}")
    print("(CPU % is of one core; machine CPU counts the game, the demonstrator, Xvfb and the recorder)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
