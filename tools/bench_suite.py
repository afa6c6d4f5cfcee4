#!/usr/bin/env python3
"""The game suite's baselines: random play and the scripted demonstrator on every bundled game.

Plays each game headless (the game's own state, no rendering) for N episodes per player on the
evaluation seeds the learning benchmark uses (1000, 1001, ...; each episode cut off after 5 minutes of
game time, as there), and prints mean +- standard error of the score, the episode length, and what
ended the lives, from the game's own log of losses:

    .venv/bin/python tools/bench_suite.py [--episodes 30] [--games bricks runner]
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import numpy as np  # noqa: E402

from hakisa import BUNDLED_GAMES  # noqa: E402
from hakisa.games import make_game  # noqa: E402
from hakisa.games.policy import make_policy  # noqa: E402


def play(game_name: str, kind: str, episodes: int, seed: int, max_minutes: float = 5.0):
    """Scores, episode lengths (s of game time) and the causes of every life lost, per episode."""
    scores, seconds, causes = [], [], collections.Counter()
    for ep in range(episodes):
        game = make_game(game_name, seed=seed + ep)
        player = make_policy(kind, game_name, seed=seed + ep)
        while not game.game_over and game.episode_frame < max_minutes * 3600:
            game.step(player.act(game.state()))
        scores.append(game.score)
        seconds.append(game.episode_frame / 60)
        causes.update(x["cause"] for x in game.losses)
    return np.asarray(scores, float), np.asarray(seconds, float), causes


def sem(x: np.ndarray) -> float:
    """Standard error of the mean."""
    return float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--games", nargs="+", default=list(BUNDLED_GAMES), choices=BUNDLED_GAMES)
    ap.add_argument("--episodes", type=int, default=30, help="episodes per game and player (default 30)")
    ap.add_argument("--seed", type=int, default=1000, help="first game seed (default 1000, the evaluation seeds)")
    ap.add_argument("--max-minutes", type=float, default=5.0, help="cut an episode off after this much game time")
    args = ap.parse_args()
    if args.episodes < 2:
        ap.error("--episodes must be at least 2 (a standard error needs two)")
    print(f"game suite baselines: {args.episodes} episodes per player (seeds {args.seed}.."
          f"{args.seed + args.episodes - 1}), headless, cut off at {args.max_minutes:g} min; mean +- standard error")
    head = (f"{'game':<8} {'player':<13} {'score':>17} {'demo/random':>11} {'episode s':>14} "
            f"{'lives lost by':<52} {'sim s':>6}")
    print(head)
    print("-" * len(head))
    for game in args.games:
        rows = {}
        for kind in ("random", "demo"):
            t0 = time.perf_counter()
            scores, secs, causes = play(game, kind, args.episodes, args.seed, args.max_minutes)
            rows[kind] = (scores, secs, causes, time.perf_counter() - t0)
        ratio = rows["demo"][0].mean() / max(rows["random"][0].mean(), 1e-9)
        for kind, (scores, secs, causes, dt) in rows.items():
            total = sum(causes.values())
            lost = ", ".join(f"{c} {100 * n / total:.0f}%" for c, n in causes.most_common()) if total else "-"
            print(f"{game:<8} {'demonstrator' if kind == 'demo' else kind:<13} "
                  f"{scores.mean():>9.1f} +- {sem(scores):>5.1f} {(f'{ratio:.0f}x' if kind == 'demo' else ''):>11} "
                  f"{secs.mean():>7.1f} +- {sem(secs):>4.1f} {lost:<52} {dt:>6.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
