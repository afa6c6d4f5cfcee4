#!/usr/bin/env python3
"""Score agents on a bundled game, headless (same pixels as the window, stepped synchronously).

Compares a checkpoint's greedy agent with the scripted demonstrator and a random player:

    .venv/bin/python tools/eval_agent.py dodge --checkpoint checkpoints/dodge-study.pt --episodes 10
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import numpy as np  # noqa: E402

from hakisa import BUNDLED_GAMES  # noqa: E402
from hakisa.games import GameInput, make_game  # noqa: E402
from hakisa.games.policy import make_policy  # noqa: E402


def play_agent(game_name: str, blob: dict, episodes: int, seed: int, size=(640, 360),
               max_frames: int = 18000) -> list[int]:
    """Episodes of the checkpoint's greedy agent acting at the profile's tick rate on rendered pixels."""
    import torch

    from hakisa.act.agent import Agent
    from hakisa.preprocess import preprocess_frame
    from hakisa.profile import parse_profile

    torch.set_num_threads(1)
    profile = parse_profile(blob["profile_toml"])
    agent = Agent.from_checkpoint(blob)
    agent.codec = type(agent.codec)(profile.actions, size)  # mouse cells in this window's pixels
    cap = profile.capture
    per_tick = max(1, round(60 / cap.tick_hz))
    scores = []
    for ep in range(episodes):
        game = make_game(game_name, seed=seed + ep, size=size)
        agent.reset()
        while not game.game_over and game.episode_frame < max_frames:
            frame = preprocess_frame(game.render(), cap.frame_width, cap.frame_height, cap.color, "rgb")
            action, _, _ = agent.act(frame)
            cmd = agent.codec.decode(action)
            clicks = ((cmd.click, *cmd.mouse),) if cmd.click else ()
            for i in range(per_tick):
                game.step(GameInput(cmd.held, cmd.mouse, clicks if i == 0 else ()))
        scores.append(game.score)
    return scores


def play_policy(game_name: str, kind: str, episodes: int, seed: int, size=(640, 360),
                max_frames: int = 18000) -> list[int]:
    scores = []
    for ep in range(episodes):
        game = make_game(game_name, seed=seed + ep, size=size)
        policy = make_policy(kind, game_name, seed=seed + ep)
        while not game.game_over and game.episode_frame < max_frames:
            game.step(policy.act(game.state()))
        scores.append(game.score)
    return scores


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("game", choices=BUNDLED_GAMES)
    ap.add_argument("--checkpoint", action="append", default=[], help="checkpoint(s) to score")
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1000, help="first game seed (episodes use seed, seed+1, ...)")
    args = ap.parse_args()
    from hakisa.learn.checkpoint import load_checkpoint

    rows = []
    for label, fn in [("random", lambda: play_policy(args.game, "random", args.episodes, args.seed)),
                      ("demonstrator", lambda: play_policy(args.game, "demo", args.episodes, args.seed))] + [
                      (os.path.basename(c), (lambda c=c: play_agent(args.game, load_checkpoint(c), args.episodes,
                                                                   args.seed))) for c in args.checkpoint]:
        t0 = time.perf_counter()
        s = np.asarray(fn(), dtype=float)
        rows.append((label, s.mean(), s.std(), s.min(), s.max(), time.perf_counter() - t0))
    demo = rows[1][1]
    print(f"\n{args.game}, headless, {args.episodes} episodes (seeds {args.seed}..{args.seed + args.episodes - 1})")
    print(f"{'player':<28} {'mean':>8} {'std':>8} {'min':>6} {'max':>6} {'% of demo':>10} {'seconds':>8}")
    for label, m, sd, lo, hi, dt in rows:
        print(f"{label:<28} {m:>8.1f} {sd:>8.1f} {lo:>6.0f} {hi:>6.0f} {100 * m / demo:>9.0f}% {dt:>8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
