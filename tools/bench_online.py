#!/usr/bin/env python3
"""Benchmark `hakisa train`'s online loop: the actor's tick rate, missed ticks and latency, and the learner's
updates per second, on a real bundled-game window (the learner on its own thread, on the same cores) and on
the game in memory (the learner between ticks, no tick limit).

Records a minute of the scripted demonstrator and studies the default-size network briefly (the figures are
about speed, not skill), then runs each mode for ``--steps`` actor steps at ``--replay-ratio``:

    .venv/bin/python tools/bench_online.py --steps 1200
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from xsession import game_with_demonstrator, virtual_display  # noqa: E402

from hakisa import BUNDLED_GAMES  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--game", default="dodge", choices=BUNDLED_GAMES)
    ap.add_argument("--size", default="640x360", help="game size (default 640x360)")
    ap.add_argument("--steps", type=int, default=1200, help="actor steps per mode (default 1200: a minute at 20 Hz)")
    ap.add_argument("--replay-ratio", type=float, default=0.5, help="learner updates per actor step (default 0.5)")
    ap.add_argument("--threads", type=int, default=1, help="the learner's torch threads headless (default 1)")
    args = ap.parse_args()
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    from dataclasses import replace

    from make_demo_data import record_demo

    from hakisa.learn.online import OnlineConfig, train_online
    from hakisa.learn.study import StudyConfig, study
    from hakisa.limits import parse_size
    from hakisa.profile import load_profile

    import threading

    default_hook = threading.excepthook

    def quiet_teardown(a) -> None:  # the hotkey listener's idle thread sees the private display go away
        if type(a.exc_value).__name__ != "ConnectionClosedError":
            default_hook(a)

    threading.excepthook = quiet_teardown
    profile = load_profile(args.game)
    size = parse_size(args.size)
    rows = []
    quiet = lambda m: None  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        demo, start = str(tmp / "demo.h5"), str(tmp / "study.pt")
        print(f"recording a minute of {args.game} and studying briefly ...", file=sys.stderr)
        record_demo(args.game, demo, 1.0, seed=0, size=size)
        study(profile, [demo], start, StudyConfig(steps=200, threads=2), progress=False, log=quiet)
        base = OnlineConfig(steps=args.steps, segment_steps=args.steps, replay_ratio=args.replay_ratio, size=size)
        for label, headless in (("window, 20 Hz, learner thread", False), ("in memory, no tick limit", True)):
            cfg = replace(base, headless=args.game if headless else None, focus=not headless,
                          consolidate=replace(base.consolidate, threads=args.threads))
            print(f"{label} ...", file=sys.stderr)
            t0 = time.perf_counter()
            if headless:
                rec = train_online(profile, [demo], start, tmp / "mem", cfg, progress=False, log=quiet)
            else:
                with virtual_display(reuse=True), game_with_demonstrator(args.game, tmp / "game.log", size=args.size,
                                                                         play=False):
                    rec = train_online(profile, [demo], start, tmp / "win", cfg, progress=False, log=quiet)
            wall = time.perf_counter() - t0
            s = rec["segments"][-1]
            rows.append((label, s, wall))
    print(f"\nhakisa train (online) on a {args.size} '{args.game}' game, default network, batch 64, replay ratio "
          f"{args.replay_ratio:g}, {os.cpu_count()} cores")
    print(f"{'mode':<32} {'steps':>6} {'ticks/s':>8} {'missed':>7} {'p50 ms':>7} {'p99 ms':>7} {'updates':>8} "
          f"{'upd/s':>6} {'busy upd/s':>10}")
    for label, s, wall in rows:
        missed = 100 * s["missed_ticks"] / max(1, s["steps"] + s["missed_ticks"])
        print(f"{label:<32} {s['steps']:>6} {s['ticks_per_s']:>8.1f} {missed:>6.2f}% {s['latency_p50_ms']:>7.2f} "
              f"{s['latency_p99_ms']:>7.2f} {s['updates']:>8} {s['updates'] / s['wall_s']:>6.1f} "
              f"{s.get('updates_per_s', float('nan')):>10.1f}")
    print("ticks/s and upd/s are over the segment's wall time; busy upd/s is the learner's rate while updating")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
