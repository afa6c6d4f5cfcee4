#!/usr/bin/env python3
"""Online runs from the same studies, side by side: each variant's checkpoints against the studied clone.

`tools/bench_learning.py --online STEPS --tag TAG --train-flags '...'` leaves, per training seed, a folder
GAME-seedS/ with study.pt and online-TAG/ (or online/ for no tag), and every score it measured in
GAME-seedS/scores.json (the same evaluation episodes for every checkpoint). This reads them and prints, per
variant and learning-curve point (and 'picked': the checkpoint `hakisa train --pick` kept, where the run has
one), each seed's mean +- SE over episodes, the mean over seeds with two standard
errors (over episodes, and over the seeds' means: a study's spread across recordings is larger than its
episodes' error says), and the change from the studied clone.

    .venv/bin/python tools/compare_online.py runs/s15 --game dodge --seeds 0 1 2 --tags base sil1t fbl
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from learning import ROOT  # noqa: F401  (puts the checkout on the path)

from hakisa.stats import mean, standard_error


def seed_scores(seed_dir: Path) -> dict[str, list[float]]:
    """checkpoint file name relative to the seed folder -> its evaluation scores (players 'random' and
    'demonstrator' by name)."""
    path = seed_dir / "scores.json"
    out: dict[str, list[float]] = {}
    if not path.exists():
        return out
    for key, played in json.loads(path.read_text()).items():
        player = key.split("|")[1]
        name = player if player in ("random", "demonstrator") else name_in(seed_dir, player)
        out[name] = list(played["scores"])
    return out


def name_in(seed_dir: Path, path: str) -> str:
    """A checkpoint's path (absolute, or relative to the checkout) as a name relative to the seed folder."""
    p = Path(path)
    if p.is_absolute() and p.is_relative_to(seed_dir.resolve()):
        return str(p.relative_to(seed_dir.resolve()))
    return str(p).split(f"{seed_dir.name}/", 1)[-1]


def rows_for(root: Path, game: str, seeds: list[int], tag: str) -> list[tuple[str, float, dict[int, list[float]]]]:
    """(label, hours of play, seed -> scores) for the studied clone (tag 'study') or each segment of online-TAG."""
    run = "online" if tag in ("", "none") else f"online-{tag}"
    per_seed = {s: seed_scores(root / f"{game}-seed{s}") for s in seeds}
    if tag == "study":
        return [("study", 0.0, {s: sc["study.pt"] for s, sc in per_seed.items() if "study.pt" in sc})]
    points: dict[int, tuple[float, dict[int, list[float]]]] = {}
    picked: dict[int, list[float]] = {}
    hours = 0.0
    for s in seeds:
        rec = root / f"{game}-seed{s}" / run / "online.json"
        if not rec.exists():
            continue
        record = json.loads(rec.read_text())
        for seg in record["segments"]:
            name = f"{run}/{Path(seg['checkpoint']).name}"
            if name in per_seed[s]:
                steps = int(seg["actor_steps"])
                points.setdefault(steps, (seg["hours_play"], {}))[1][s] = per_seed[s][name]
                hours = max(hours, seg["hours_play"])
        if "pick" in record:  # `hakisa train --pick`: the checkpoint it kept (the start's is study.pt)
            chosen = name_in(root / f"{game}-seed{s}", record["pick"]["chosen"])
            if chosen in per_seed[s]:
                picked[s] = per_seed[s][chosen]
    rows = [(f"{tag} {steps}", h, got) for steps, (h, got) in sorted(points.items())]
    return rows + ([(f"{tag} picked", hours, picked)] if picked else [])


def change(got: dict[int, list[float]], before: dict[int, list[float]]) -> tuple[float, float] | None:
    """Mean over the seeds both have of (got - before), with its SE over episodes; None when they share none."""
    pairs = [(got[s], before[s]) for s in got if s in before]
    if not pairs:
        return None
    diffs = [mean(a) - mean(b) for a, b in pairs]
    ses = [math.hypot(standard_error(a), standard_error(b)) for a, b in pairs]
    return float(np.mean(diffs)), math.sqrt(sum(x * x for x in ses)) / len(ses)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("root", help="the --out folder of tools/bench_learning.py")
    ap.add_argument("--game", default="dodge")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--tags", nargs="+", default=["base"], help="online-TAG folders ('none' for online/)")
    args = ap.parse_args()
    root = Path(args.root)
    demo = [np.mean(seed_scores(root / f"{args.game}-seed{s}").get("demonstrator", [math.nan])) for s in args.seeds]
    demo_mean = float(np.nanmean(demo))
    study = rows_for(root, args.game, args.seeds, "study")[0][2]
    head = "".join(f"{'seed ' + str(s):>16}" for s in args.seeds)
    print(f"{args.game}: mean +- SE over each seed's evaluation episodes; pooled: mean of the seeds' means, SE over "
          f"episodes / SE over seeds; change: against the studied clone of the same seeds, and step: against the "
          f"checkpoint before (SE over episodes; ! where it fell by more than 2 SE)")
    print(f"{'player':<18}{'h play':>7}{head}{'pooled':>24}{'% demo':>8}{'change':>18}{'step':>18}")
    for tag in ["study", *args.tags]:
        before = dict(study)
        for label, hours, got in rows_for(root, args.game, args.seeds, tag):
            cells, means, ses = [], [], []
            for s in args.seeds:
                if s in got:
                    m, se = mean(got[s]), standard_error(got[s])
                    cells.append(f"{m:>8.1f} +-{se:>5.1f}")
                    means.append(m)
                    ses.append(se)
                else:
                    cells.append(f"{'-':>16}")
            if not means:
                continue
            k = len(means)
            pooled = float(np.mean(means))
            se_ep = math.sqrt(sum(x * x for x in ses)) / k
            se_seed = standard_error(means)
            cols = ""
            if tag != "study":
                for c in (change(got, study), change(got, before)):
                    cols += f"{c[0]:>+8.1f} +-{c[1]:>5.1f}{'!' if c[1] > 0 and c[0] < -2 * c[1] else ' '}" if c else " " * 18
                before = {**before, **got}  # each seed against its own checkpoint before
            print(f"{label:<18}{hours:>7.2f}{''.join(' ' + c for c in cells)}"
                  f"{pooled:>10.1f} +-{se_ep:>5.1f}/{se_seed:>5.1f}{100 * pooled / demo_mean:>7.0f}%{cols}")
    print(f"demonstrator: {demo_mean:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
