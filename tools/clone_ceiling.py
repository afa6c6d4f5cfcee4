#!/usr/bin/env python3
"""How well can the scripted demonstrator be imitated at all, with perfect eyesight?

Behaviour cloning from pixels has two separate limits: what the frames let the network see, and what
the demonstrator's own choices let any imitator copy (reaction delay, sticky targets, random hold
lengths, blunders). This tool measures the second alone, on headless dodge. It records the
demonstrator with the game's true state (ship, the lowest invaders and rocks, the nearest bullets)
beside the keys it held at the end of each tick of the profile's rate, the labels `hakisa record`
gives. It trains a small MLP on that state with cross-entropy, and scores the greedy clone over the
evaluation episodes `tools/eval_agent.py` uses. A second row trains without the seconds before each
life lost, as `hakisa study --forget-before-loss` does.

    .venv/bin/python tools/clone_ceiling.py [--minutes 20] [--episodes 10] [--forget 2]

A score here is a ceiling for `hakisa study` on the same amount of demonstration: the studied agent
sees pixels, not positions.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import numpy as np  # noqa: E402

from hakisa.games import GameInput, make_game  # noqa: E402
from hakisa.games.policy import DemoPolicy  # noqa: E402
from hakisa.learn.study import run_up_to_losses  # noqa: E402  (the rule `hakisa study --forget-before-loss` uses)

SIZE = (640, 360)
CHORDS = [frozenset(), frozenset({"left"}), frozenset({"right"}), frozenset({"space"}),
          frozenset({"left", "space"}), frozenset({"right", "space"})]
DIRECTION = np.array([0, -1, 1, 0, -1, 1])


def features(state: dict) -> list[float]:
    """The game's true state as a fixed-length vector, in fractions of the window."""
    w, h = SIZE
    ship = state["ship"]["x"]
    lowest = sorted(state["enemies"], key=lambda e: -e["y"])
    invaders = [e for e in lowest if e["kind"] == "invader"][:3]
    rocks = [e for e in lowest if e["kind"] == "rock"][:2]
    bullets = sorted(state["bullets"], key=lambda b: -b[1])[:2]
    f = [ship / w]
    for i in range(3):
        e = invaders[i] if i < len(invaders) else None
        f += [e["x"] / w, e["y"] / h, e["vx"], (e["x"] - ship) / 20, 1.0] if e else [0.0] * 5
    for i in range(2):
        e = rocks[i] if i < len(rocks) else None
        f += [e["x"] / w, e["y"] / h, (e["x"] - ship) / 20, 1.0] if e else [0.0] * 4
    for i in range(2):
        b = bullets[i] if i < len(bullets) else None
        f += [b[0] / w, b[1] / h, 1.0] if b else [0.0] * 3
    return f


def label(held: frozenset[str]) -> int:
    """Index of the chord held (what the record loop labels the tick with); enter counts as none."""
    keys = frozenset(held) & {"left", "right", "space"}
    if {"left", "right"} <= keys:  # both arrows: the game moves nowhere
        keys -= {"left", "right"}
    return CHORDS.index(keys)


def record(minutes: float, seed: int, per_tick: int) -> dict[str, np.ndarray]:
    """The demonstrator's play at the tick rate: state, label, episode, and whether a life was lost."""
    x, y, ep_of, lost = [], [], [], []
    n, ep = int(minutes * 3600 / per_tick), 0
    game, player = make_game("dodge", seed=seed, size=SIZE), DemoPolicy("dodge", seed=seed)
    while len(x) < n:
        if game.game_over:
            ep += 1
            game, player = make_game("dodge", seed=seed + ep, size=SIZE), DemoPolicy("dodge", seed=seed + ep)
        f, lives = features(game.state()), game.lives
        for _ in range(per_tick):
            inp = player.act(game.state())
            game.step(inp)
        x.append(f)
        y.append(label(inp.held))
        ep_of.append(ep)
        lost.append(game.lives < lives)
    return {"x": np.array(x, np.float32), "y": np.array(y), "episode": np.array(ep_of), "lost": np.array(lost)}


def train(x: np.ndarray, y: np.ndarray, updates: int, seed: int):
    import torch
    from torch import nn

    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(x.shape[1], 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 6))
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    g = torch.Generator().manual_seed(seed)
    for _ in range(updates):
        b = torch.randint(0, len(xt), (256,), generator=g)
        loss = nn.functional.cross_entropy(net(xt[b]), yt[b])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


def predict(net, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return net(torch.from_numpy(np.asarray(x, np.float32))).argmax(1).numpy()


def play(net, episodes: int, seed: int, per_tick: int, max_frames: int = 18000) -> list[int]:
    """Greedy clone on the evaluation episodes of tools/eval_agent.py (game seeds seed, seed+1, ...)."""
    scores = []
    for ep in range(episodes):
        game = make_game("dodge", seed=seed + ep, size=SIZE)
        while not game.game_over and game.episode_frame < max_frames:
            held = CHORDS[int(predict(net, [features(game.state())])[0])]
            for _ in range(per_tick):
                game.step(GameInput(held))
        scores.append(game.score)
    return scores


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=20, help="minutes of demonstration to learn from (20)")
    ap.add_argument("--episodes", type=int, default=10, help="evaluation episodes (10)")
    ap.add_argument("--forget", type=float, default=2.0, help="seconds before each life lost left out (2)")
    ap.add_argument("--hz", type=int, default=20, choices=(10, 20, 30, 60), help="tick rate (20, as the profile)")
    ap.add_argument("--updates", type=int, default=6000)
    ap.add_argument("--seed", type=int, default=None, help="first evaluation game seed (eval_agent's, 1,000,000)")
    args = ap.parse_args()
    if args.minutes <= 0 or args.episodes < 1:
        ap.error("--minutes must be > 0 and --episodes >= 1")
    import torch

    torch.set_num_threads(2)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from eval_agent import EVAL_SEED_BASE, play_policy

    if args.seed is None:
        args.seed = EVAL_SEED_BASE

    per_tick = 60 // args.hz
    t0 = time.time()
    data = record(args.minutes, 0, per_tick)
    held = record(max(2.0, args.minutes / 6), 500, per_tick)
    demo = play_policy("dodge", "demo", args.episodes, args.seed).scores
    rows = []
    forget_ticks = int(round(args.forget * args.hz))
    for name, keep in (("all steps", np.ones(len(data["y"]), bool)),
                       (f"not the {args.forget:g} s before a life lost",
                        ~run_up_to_losses(data["episode"], data["lost"], forget_ticks))):
        net = train(data["x"][keep], data["y"][keep], args.updates, 0)
        p = predict(net, held["x"])
        scores = play(net, args.episodes, args.seed, per_tick)
        rows.append((name, float(keep.mean()), float((p == held["y"]).mean()),
                     float((DIRECTION[p] == DIRECTION[held["y"]]).mean()), scores))
    print(f"\nclone from the game's true state: dodge, {args.minutes:g} min of demonstration at {args.hz} Hz "
          f"({len(data['y'])} ticks, {int(data['lost'].sum())} lives lost), greedy, {args.episodes} episodes, "
          f"{time.time() - t0:.0f} s")
    print(f"{'trained on':<34} {'share':>6} {'held-out acc':>13} {'direction acc':>14} {'score':>8} {'std':>7} "
          f"{'% of demo':>10}")
    for name, share, acc, dacc, s in rows:
        print(f"{name:<34} {share:>6.2f} {acc:>13.3f} {dacc:>14.3f} {np.mean(s):>8.1f} {np.std(s):>7.1f} "
              f"{100 * np.mean(s) / max(np.mean(demo), 1e-9):>9.0f}%")
    print(f"{'demonstrator':<34} {'':>6} {'':>13} {'':>14} {np.mean(demo):>8.1f} {np.std(demo):>7.1f} {100:>9.0f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
