#!/usr/bin/env python3
"""What `hakisa trial` picked, and what the pick was worth on the evaluation episodes.

For every checkpoint in a benchmark folder (GAME-seedS/NAME.pt, as tools/bench_learning.py and
tools/bench_corrections.py leave them) that holds a trial's record and was scored both as tried (NAME.pt) and as
studied (NAME.as-studied.pt, `bench_corrections.py --as-studied`), this prints the trial's ways (mean +- SE of
the measure over its games, how many games, their mean length), which it chose, and the two evaluation scores:

    .venv/bin/python tools/trial_picks.py runs/s15 --games dodge clicker runner

The last column, tried - studied, is what the trial's choice gained or cost on 50 evaluation episodes. Where the
chosen way is the checkpoint's own, the two are the same play and differ by nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from learning import ROOT  # noqa: F401  (puts the checkout on the path)

from compare_online import seed_scores
from hakisa import BUNDLED_GAMES
from hakisa.learn.checkpoint import load_checkpoint
from hakisa.stats import mean


def picks(seed_dir: Path) -> list[dict]:
    """One row per checkpoint of ``seed_dir`` with a trial record and both scores."""
    scores = seed_scores(seed_dir)
    rows = []
    for pt in sorted(seed_dir.glob("*.pt")):
        studied = pt.with_name(pt.stem + ".as-studied.pt")
        if pt.name.endswith(".as-studied.pt") or pt.name not in scores or studied.name not in scores:
            continue
        record = load_checkpoint(pt)["state"].get("trial")
        if not record:
            continue
        ways = record["ways"]
        chosen = next(i for i, w in enumerate(ways) if w["label"] == record["chosen"])
        rows.append({"checkpoint": pt.name, "measure": record["measure"], "ways": ways, "chosen": chosen,
                     "tried": mean(scores[pt.name]), "studied": mean(scores[studied.name])})
    return rows


def format_rows(game_seed: str, rows: list[dict]) -> list[str]:
    lines = []
    for r in rows:
        ways = " | ".join(
            f"{'*' if i == r['chosen'] else ' '}{w['mean']:7.1f} +-{w['se']:6.1f} n{len(w['scores']):<2}"
            + (f" {mean(w['seconds']):3.0f}s" if w.get("seconds") else "     ")
            for i, w in enumerate(r["ways"]))
        lines.append(f"{game_seed:<14} {r['checkpoint']:<20} {ways}   {r['tried']:7.1f} {r['studied']:7.1f} "
                     f"{r['tried'] - r['studied']:+8.1f}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="the benchmark folder (holds GAME-seedS/ folders)")
    ap.add_argument("--games", nargs="+", default=BUNDLED_GAMES, choices=BUNDLED_GAMES)
    args = ap.parse_args()
    root = Path(args.out)
    print("trial ways: mean +- SE of the trial's measure, games, mean game length; * the chosen way (the first is "
          "the checkpoint's own)")
    print(f"{'seed':<14} {'checkpoint':<20} {'ways':<60}   {'tried':>7} {'studied':>7} {'t - s':>8}")
    for game in args.games:
        gains = []
        for seed_dir in sorted(root.glob(f"{game}-seed*")):
            rows = picks(seed_dir)
            for line in format_rows(seed_dir.name, rows):
                print(line)
            gains += [(r["tried"] - r["studied"], r["chosen"] != 0) for r in rows]
        if gains:
            moved = [g for g, off in gains if off]
            gains = [g for g, _ in gains]
            print(f"{game}: {len(gains)} checkpoints, {len(moved)} moved off their own way, mean gain of the trial "
                  f"{mean(gains):+.1f}" + (f" ({mean(moved):+.1f} where it moved)" if moved else ""))


if __name__ == "__main__":
    main()
