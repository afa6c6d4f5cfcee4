#!/usr/bin/env python3
"""Ablations of `hakisa study`: does a setting help on every game, beyond the noise?

For each game and training seed, the scripted demonstrator is recorded once (the real record loop on the
headless game) and every variant studies that same data; each studied agent is then scored greedily on the
same evaluation episodes (game seeds never used in training). Prints, per game, mean +- standard error over
the training seeds of each variant's mean score, its share of the demonstrator, and how it played:

    .venv/bin/python tools/ablate_study.py --games dodge clicker --seeds 3 \\
        --variant "before=--select heads --boost-noop" --variant "default=" --variant "surprise=--keyframe-by surprise"

A variant is NAME=FLAGS, FLAGS being extra `hakisa study` flags ("default=" adds none). Results are cached in
--out (results.json), so a run can be stopped, resumed or extended with more seeds or variants.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import time
from pathlib import Path

from learning import ROOT, Recipe, Row, run_pipeline, seed_stats

import numpy as np

from hakisa import BUNDLED_GAMES


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    d = Recipe()
    ap.add_argument("--games", nargs="+", default=BUNDLED_GAMES, choices=BUNDLED_GAMES)
    ap.add_argument("--seeds", type=int, default=3, help="training seeds per game and variant (default 3)")
    ap.add_argument("--episodes", type=int, default=d.episodes, help=f"evaluation episodes ({d.episodes})")
    ap.add_argument("--demo-minutes", type=float, default=d.demo_minutes)
    ap.add_argument("--study-steps", type=int, default=d.study_steps)
    ap.add_argument("--variant", action="append", required=True, metavar="NAME=FLAGS",
                    help="a variant: its name and extra `hakisa study` flags (repeatable)")
    ap.add_argument("--out", default="runs/ablate-study")
    args = ap.parse_args()
    if args.seeds < 1 or args.episodes < 2 or args.study_steps < 1 or args.demo_minutes <= 0:
        ap.error("--seeds and --study-steps must be at least 1, --episodes at least 2, --demo-minutes above 0")
    variants = []
    for v in args.variant:
        name, sep, flags = v.partition("=")
        if not sep or not name:
            ap.error(f"--variant must look like NAME=FLAGS, not {v!r}")
        variants.append((name, shlex.split(flags)))
    recipe = Recipe(demo_minutes=args.demo_minutes, study_steps=args.study_steps, rounds=0, episodes=args.episodes)
    out = ROOT / args.out
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    results: dict[str, dict[str, list[Row]]] = {game: {} for game in args.games}
    for seed in range(args.seeds):  # seed by seed, so a run cut short still has every game and variant
        for game in args.games:
            shared = out / game / f"seed{seed}"
            for name, flags in variants:
                work = shared / name
                work.mkdir(parents=True, exist_ok=True)
                if (shared / "demo.h5").exists() and not (work / "demo.h5").exists():
                    os.link(shared / "demo.h5", work / "demo.h5")  # every variant learns from the same recording
                print(f"\n=== {game}, seed {seed}, {name}: study {' '.join(flags) or '(defaults)'} ===", flush=True)
                rows = run_pipeline(game, work, recipe, seed=seed, study_args=tuple(flags))
                if not (shared / "demo.h5").exists():
                    os.link(work / "demo.h5", shared / "demo.h5")
                by = {r.player: r for r in rows}
                results[game].setdefault("random", []).append(by["random"])
                results[game].setdefault("demonstrator", []).append(by["demonstrator"])
                results[game].setdefault(name, []).append(by["study"])
    print(f"\nstudy ablation ({(time.perf_counter() - t0) / 60:.0f} min): {args.seeds} training seed(s) x "
          f"{args.episodes} evaluation episodes, {args.demo_minutes:g} min of demonstration, "
          f"{args.study_steps} updates")
    table = {}
    for game, by in results.items():
        n_var = len(variants)
        demo = np.mean([r.mean for r in by["demonstrator"][::n_var]])
        print(f"\n{game}")
        print(f"{'variant':<16} {'mean':>8} {'+- SE':>7} {'% of demo':>10}  flags")
        table[game] = {}
        for name, flags in [("random", []), ("demonstrator", [])] + variants:
            rows = by[name][::n_var] if name in ("random", "demonstrator") else by[name]
            m, se = seed_stats([r.mean for r in rows])
            table[game][name] = {"mean": m, "se": se, "seeds": [r.mean for r in rows]}
            print(f"{name:<16} {m:>8.1f} {se:>7.1f} {100 * m / demo:>9.0f}%  {' '.join(flags)}")
    (out / "results.json").write_text(json.dumps({"recipe": vars(args), "table": table}, indent=1))
    print(f"\nwrote {out.relative_to(ROOT)}/results.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
