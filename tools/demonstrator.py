#!/usr/bin/env python3
"""Scripted demonstrator: plays a bundled game's real window through real injected OS input.

It reads the game's per-frame state log (what a human sees), asks the bundled
imperfect-human policy what it wants held or clicked (with reaction delay and
mistakes), and injects the difference through the X server (pynput/XTEST), so
`hakisa record` sees exactly what it would see from a person at the keyboard.

    python -m hakisa.games dodge --size 1280x720 --log /tmp/dodge.jsonl &
    python tools/demonstrator.py dodge --log /tmp/dodge.jsonl --seconds 60
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from hakisa import BUNDLED_GAMES  # noqa: E402
from hakisa.games.policy import make_policy  # noqa: E402
from hakisa.live import require_display  # noqa: E402


def tail_lines(path: str, timeout: float = 10.0):
    """Yield batches of new JSON lines from a growing log file (waits for it to appear)."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise SystemExit(f"demonstrator: log {path} did not appear within {timeout:g} s; is the game running?")
        time.sleep(0.05)
    with open(path, encoding="utf-8") as fh:
        buf = ""
        while True:
            chunk = fh.read()
            if not chunk:
                yield []
                continue
            buf += chunk
            *lines, buf = buf.split("\n")
            yield [json.loads(x) for x in lines if x.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("game", choices=BUNDLED_GAMES)
    ap.add_argument("--log", required=True, help="the game's state log (python -m hakisa.games NAME --log FILE)")
    ap.add_argument("--title", default=None, help="window title regex (default: ^hakisa: GAME)")
    ap.add_argument("--seconds", type=float, default=None, help="stop after this long (default: until killed)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--policy", choices=["demo", "random"], default="demo")
    ap.add_argument("--reaction-frames", type=int, default=9)
    args = ap.parse_args(argv)

    require_display("demonstrator")
    from hakisa.live.inject import Injector
    from hakisa.live.x11 import find_window
    from hakisa.profile import WindowSpec

    win = find_window(WindowSpec(title=args.title or f"^hakisa: {args.game}$"), timeout=10)
    win.focus()
    policy = make_policy(args.policy, args.game, seed=args.seed)
    if args.policy == "demo":
        policy.reaction_frames = args.reaction_frames
    inj = Injector()
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))
    t_end = time.monotonic() + args.seconds if args.seconds else float("inf")
    last_pos = None
    geo_at = 0.0
    origin = (0, 0)
    try:
        for batch in tail_lines(args.log):
            if stop["now"] or time.monotonic() >= t_end:
                break
            if not batch:
                time.sleep(0.002)
                continue
            want = None
            clicks = []
            for rec in batch:  # the policy thinks once per game frame
                want = policy.act(rec["state"])
                clicks += list(want.clicks)
            now = time.monotonic()
            if now - geo_at > 0.5:
                geo = win.geometry()
                if geo is None:
                    break  # the game closed
                origin, geo_at = geo[:2], now
            inj.hold_only(want.held)
            for button, x, y in clicks:
                inj.move(origin[0] + x, origin[1] + y)
                inj.click(button)
                last_pos = (x, y)
            if want.mouse is not None and want.mouse != last_pos:
                inj.move(origin[0] + want.mouse[0], origin[1] + want.mouse[1])
                last_pos = want.mouse
    finally:
        inj.release_all()
        win.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
