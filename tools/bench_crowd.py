#!/usr/bin/env python3
"""Benchmark learning from a crowd alone: scripted viewers of a bundled game in memory vote in chat from its
true state ("good bot" when the score rises, "bad bot" when a life is lost, seen through a stream's delay, with
misses and mistakes), through the same limits and crediting as a real chat, and their votes are the ONLY reward
(the profile's screen reward is removed). From a random start: explore (random) -> consolidate from scratch ->
explore with the new agent -> consolidate on everything, for --rounds rounds; each checkpoint scored greedily
on the game's true score over evaluation episodes never played in training, beside a random player.

    .venv/bin/python tools/bench_crowd.py [--game dodge] [--seeds 0 1 2] [--rounds 3] [--explore-steps 6000]
        [--updates 2000] [--viewers 20] [--noise 0.1] [--episodes 50]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from learning import ROOT, hakisa, rel

from bench_killswitch import holding_checkpoint
from eval_agent import EVAL_SEED_BASE, play_agent, play_policy

import numpy as np

from hakisa import BUNDLED_GAMES
from hakisa.profile import load_profile, parse_profile


def crowd_only(game: str) -> str:
    """The bundled profile with its screen reward taken out: the crowd's votes are the only reward."""
    text = load_profile(game).text
    out, skip = [], False
    for line in text.splitlines():
        if line.strip().startswith("["):
            skip = line.strip().startswith("[rules.reward]")
            if skip:
                out.append("[rules.reward]                    # none: the crowd in chat is the only reward")
                continue
        if not skip:
            out.append(line)
    text = "\n".join(out) + "\n"
    assert not parse_profile(text).rules.reward
    return text


def mean_se(x) -> tuple[float, float]:
    x = np.asarray(x, float)
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--game", default="dodge", choices=BUNDLED_GAMES)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--explore-steps", type=int, default=6000)
    ap.add_argument("--updates", type=int, default=2000, help="consolidate updates per round")
    ap.add_argument("--viewers", type=int, default=20)
    ap.add_argument("--noise", type=float, default=0.1)
    ap.add_argument("--episodes", type=int, default=50)
    ap.add_argument("--max-minutes", type=float, default=2.0)
    ap.add_argument("--gamma", type=float, default=0.99,
                    help="consolidate's discount (0 with --n-step 1: learn the crowd's reward of each action itself, "
                         "as TAMER does, and act greedily on it)")
    ap.add_argument("--n-step", type=int, default=10)
    ap.add_argument("--out", default="runs/bench-crowd")
    args = ap.parse_args()
    root = (ROOT / args.out).resolve()
    cut = int(args.max_minutes * 3600)
    random_scores = play_policy(args.game, "random", args.episodes, EVAL_SEED_BASE, max_frames=cut).scores
    results: dict = {"random": random_scores, "seeds": {}}
    for seed in args.seeds:
        work = root / f"{args.game}-seed{seed}"
        work.mkdir(parents=True, exist_ok=True)
        prof = work / "profile.toml"
        prof.write_text(crowd_only(args.game))
        start = holding_checkpoint(work / "start.pt", args.game)  # only round 0 plays it, at random
        crowd = ["--headless", args.game, "--scripted-crowd", str(args.viewers), "--crowd-noise", str(args.noise),
                 "--profile", rel(prof), "--force"]
        data, ckpt, scores = [], start, {}
        for k in range(args.rounds + 1):
            out = work / f"round-{k}.h5"
            eps = ["--epsilon", "1", "--epsilon-end", "1"] if k == 0 else ["--epsilon", "0.1", "--epsilon-end", "0.05"]
            if not out.exists():
                hakisa("explore", "--checkpoint", rel(ckpt), "--out", rel(out), "--steps", str(args.explore_steps),
                       "--seed", str(1000 * seed + k), *eps, *crowd, quiet=True)
            data.append(rel(out))
            if k == args.rounds:
                break
            nxt = work / f"round-{k + 1}.pt"
            if not nxt.exists():
                parent = [] if k == 0 else ["--from", rel(ckpt)]
                hakisa("consolidate", "--profile", rel(prof), "--data", *data, "--out", rel(nxt), "--updates",
                       str(args.updates), "--seed", str(seed), "--gamma", str(args.gamma), "--n-step", str(args.n_step),
                       *parent, quiet=True)
            ckpt = nxt
            from hakisa.learn.checkpoint import load_checkpoint

            t0 = time.perf_counter()
            e = play_agent(args.game, load_checkpoint(nxt), args.episodes, EVAL_SEED_BASE, max_frames=cut,
                           temperature=0.0)
            scores[f"round {k + 1}"] = e.scores
            m, s = mean_se(e.scores)
            print(f"seed {seed} round {k + 1}: {m:.1f} +- {s:.1f} ({time.perf_counter() - t0:.0f} s)", flush=True)
        results["seeds"][str(seed)] = scores
        (root / "results.json").write_text(json.dumps(results, indent=1))
    rm, rs = mean_se(random_scores)
    print(f"\n{args.game}: the crowd is the only reward ({args.viewers} scripted viewers, stream delay 2 s, noise "
          f"{args.noise:g}); {args.explore_steps} explore steps and {args.updates} updates per round (gamma "
          f"{args.gamma:g}, {args.n_step}-step); {args.episodes} "
          f"evaluation episodes (seeds {EVAL_SEED_BASE}+, cut at {args.max_minutes:g} min), greedy")
    print(f"{'player':<22}" + "".join(f"{'seed ' + str(s):>18}" for s in args.seeds) + f"{'pooled':>18}")
    print(f"{'random':<22}" + "".join(f"{rm:>10.1f} +- {rs:>4.1f}" for _ in args.seeds) + f"{rm:>10.1f} +- {rs:>4.1f}")
    for k in range(1, args.rounds + 1):
        row = [results["seeds"][str(s)][f"round {k}"] for s in args.seeds]
        cells = "".join("{:>10.1f} +- {:>4.1f}".format(*mean_se(r)) for r in row)
        per_seed = [np.mean(r) for r in row]
        pooled = (float(np.mean(per_seed)), float(np.std(per_seed, ddof=1) / np.sqrt(len(per_seed)))) \
            if len(row) > 1 else mean_se(row[0])
        print(f"{'crowd-trained, round ' + str(k):<22}{cells}{pooled[0]:>10.1f} +- {pooled[1]:>4.1f}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    raise SystemExit(main())
