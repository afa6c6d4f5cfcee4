#!/usr/bin/env python3
"""Record the scripted demonstrator on a headless bundled game, faster than real time.

Same record loop, labels and dataset format as `hakisa record`; only the frame source (the
headless game, identical pixels) and the clock (virtual: it advances when the loop waits) differ.

    .venv/bin/python tools/make_demo_data.py dodge --minutes 20 --out datasets/dodge-headless.h5
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from hakisa import BUNDLED_GAMES  # noqa: E402


def record_demo(game_name: str, out: str, minutes: float, seed: int = 0, policy: str = "demo",
                size=(640, 360), force: bool = False, profile: str | None = None):
    """Record ``minutes`` of game time of a scripted player; returns the recorder's stats.

    ``profile``: a profile name or file (default: the game's bundled profile)."""
    from hakisa.games import make_game
    from hakisa.games.policy import make_policy
    from hakisa.games.source import PolicyPlayer, record_headless
    from hakisa.profile import load_profile
    from hakisa.record.recorder import VirtualClock

    from eval_agent import check_training_seed

    profile = load_profile(profile or game_name)
    game = make_game(game_name, seed=check_training_seed(seed), size=size)
    clock = VirtualClock()
    per_grab = max(1, round(60 / profile.capture.tick_hz))
    return record_headless(game, profile, out, minutes * 60,
                           lambda tracker: PolicyPlayer(game, make_policy(policy, game_name, seed=seed), tracker, clock),
                           per_grab, clock=clock, force=force)


def main() -> int:
    from hakisa.games.__main__ import parse_size

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("game", choices=BUNDLED_GAMES)
    ap.add_argument("--minutes", type=float, default=10.0, help="minutes of game time (default 10)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--policy", default="demo", choices=["demo", "random"])
    ap.add_argument("--profile", default=None, help="profile name or .toml file (default: the game's bundled one)")
    ap.add_argument("--size", type=parse_size, default=(640, 360),
                    help="window size WxH of the headless game (default 640x360)")
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    stats = record_demo(args.game, args.out, args.minutes, args.seed, policy=args.policy, force=args.force,
                        size=args.size, profile=args.profile)
    print(f"wrote {args.out}: {stats.steps} steps in {stats.episodes} episodes ({stats.terminated} game overs), "
          f"{args.minutes:g} min of play in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
