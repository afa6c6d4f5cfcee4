#!/usr/bin/env python3
"""Corrections against more demonstration, for the same minutes of a person's time (HG-DAgger's test).

Per game and training seed, in the folder `tools/bench_learning.py` uses (GAME-seedS/, whose demo.h5, study.pt and
scores are reused when they are there):

1. the studied clone (20 minutes of demonstration, the default study, played as `hakisa trial` chose);
2. it plays the game headless while the scripted watcher (the demonstrator) takes over whenever it is about to lose
   a life (`hakisa explore --watcher --watcher-horizon H --watcher-minutes M`): watched-TAG.h5;
3. `hakisa study` on the demonstration plus that dataset (the watcher's steps are imitated, the agent's train the
   TD term only): corr-TAG.pt;
4. `hakisa study` on the demonstration plus as many more minutes of demonstration as the watcher had control
   (another recording of the same demonstrator): more-TAG.pt;
5. each trialled and scored on the same evaluation episodes as every other player of the benchmark;
6. with --rounds R, steps 2-5 again with the newest corrected clone playing (DAgger's rounds): round r studies
   every round's corrections so far, against as many more minutes of demonstration as all of them.

It prints each seed's mean +- SE over episodes, the seeds pooled, and corrections minus more demonstration.

    .venv/bin/python tools/bench_corrections.py --games dodge --seeds 3 --horizon 2 --minutes 8 --tag h2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

from learning import ROOT, Recipe, evaluate, hakisa, rel, run_pipeline, study_and_trial

from hakisa.stats import mean, standard_error

EXTRA_DEMO_SEED = 200  # the extra demonstration records game seed seed + this (the first one used seed)
WATCH_SEED = 100  # the watched play uses game seed seed + this
AS_STUDIED = "_as_studied"  # after a score's key: the same checkpoint played as study left it, with no trial


def summarize_watched(path: Path, forget_seconds: float = 2.0) -> tuple[float, str]:
    """A watched dataset, read once: the minutes during which the person (the scripted watcher) had control, and
    one line on it: the watcher's share and takeovers, lives lost and by whom, and how many of the watcher's steps
    study imitates (its ``--forget-before-loss`` run-up stops where control changed hands; also given: the share
    left if the run-up reached back over a hand-over, as study's rule did before)."""
    import numpy as np

    from hakisa.data.dataset import DatasetReader
    from hakisa.data.transitions import TEACHERS
    from hakisa.learn.study import run_up_to_losses

    with DatasetReader(path) as r:
        hz = r.tick_hz
        eps = [e for _, e in r.iter_episodes(frames=False)]
    episode = np.concatenate([np.full(len(e["actor"]), i) for i, e in enumerate(eps)])
    teacher = np.isin(np.concatenate([e["actor"] for e in eps]), TEACHERS)
    reward = np.concatenate([e["rewards"] for e in eps])
    life = reward - np.concatenate([e["reward_human"] for e in eps]) <= -0.5  # the screen's loss, not a penalty
    ticks = int(round(forget_seconds * hz))
    kept = ~run_up_to_losses(episode, reward <= -0.5, ticks, teacher) & teacher
    kept_across = ~run_up_to_losses(episode, reward <= -0.5, ticks) & teacher
    n = max(1, int(teacher.sum()))
    takeovers = int((teacher & ~np.r_[False, teacher[:-1]]).sum())
    minutes = int(teacher.sum()) / hz / 60
    return minutes, (f"watcher {teacher.sum()} of {len(teacher)} steps ({minutes:.1f} min), {takeovers} "
                     f"takeovers; lives lost {life.sum()} ({(life & teacher).sum()} under the watcher); of its steps "
                     f"study imitates {100 * kept.sum() / n:.0f}% ({100 * kept_across.sum() / n:.0f}% if a run-up "
                     f"crossed hand-overs)")


def as_studied(checkpoint: Path) -> Path:
    """``checkpoint`` played as study left it, before any trial chose a way: a copy beside it (NAME.as-studied.pt,
    written again only when what it should hold changed, so a trial run again does not make its scores stale) when
    a trial changed how it plays, else ``checkpoint`` itself."""
    from hakisa.learn.checkpoint import load_checkpoint, write_state

    state = load_checkpoint(checkpoint)["state"]
    before = (state.get("trial") or {}).get("before")
    if before is None:
        return checkpoint
    out = checkpoint.with_name(checkpoint.stem + ".as-studied.pt")
    want = {**{k: v for k, v in state.items() if k != "trial"}, **before}
    if not out.exists() or load_checkpoint(out)["state"] != want:
        write_state(checkpoint, out, want)
    return out


def _suffix(r: int) -> str:
    """File suffix of DAgger round ``r`` (round 1 has none)."""
    return "" if r == 1 else f"-r{r}"


def _key(r: int) -> str:
    """Suffix of DAgger round ``r``'s keys in a seed's record (round 1 has none)."""
    return _suffix(r).replace("-", "_")


def run_seed(game: str, wd: Path, seed: int, recipe: Recipe, args) -> dict:
    """Steps 1-5 for one training seed, for ``args.rounds`` rounds (round r's watched play is by round r-1's
    corrected clone; its study learns from every round's corrections, and its baseline from as many more minutes
    of demonstration as all of them); every output that exists is reused. Returns the scores: round 1 under
    ``person_minutes``, ``more`` and ``corr``, round r under the same keys with ``_rR`` after them."""
    from eval_agent import check_training_seed

    from hakisa.learn.checkpoint import load_checkpoint

    check_training_seed(seed + WATCH_SEED + 20 * (getattr(args, "rounds", 1) - 1))
    check_training_seed(seed + EXTRA_DEMO_SEED)
    run_pipeline(game, wd, recipe, seed=seed)  # demo.h5, study.pt (trialled), their scores
    demo, cache, tag = wd / "demo.h5", wd / "scores.json", args.tag
    out: dict = {}

    def score(key: str, checkpoint: Path) -> None:  # played as the trial chose and, asked for, as studied
        out[key] = evaluate(game, str(checkpoint), recipe.episodes, recipe.max_minutes, cache).scores
        if getattr(args, "as_studied", False):
            out[key + AS_STUDIED] = evaluate(game, str(as_studied(checkpoint)), recipe.episodes, recipe.max_minutes,
                                             cache).scores

    clone, watched_all, minutes = wd / "study.pt", [], 0.0
    for r in range(1, getattr(args, "rounds", 1) + 1):
        sfx = _suffix(r)
        key_sfx = _key(r)
        watched = wd / f"watched-{tag}{sfx}.h5"
        if not watched.exists():
            temperature = load_checkpoint(clone)["state"].get("play_temperature") or 0.0  # as the trial chose
            hakisa("explore", "--checkpoint", rel(clone), "--headless", game, "--watcher",
                   "--watcher-horizon", str(args.horizon), "--watcher-minutes", str(args.minutes),
                   "--steps", str(args.steps), "--epsilon", "0", "--epsilon-end", "0", "--temperature",
                   str(temperature), "--seed", str(seed + WATCH_SEED + 20 * (r - 1)), "--out",
                   rel(watched) + ".tmp.h5", "--force", quiet=True)
            os.replace(str(watched) + ".tmp.h5", watched)
        watched_all.append(watched)
        watcher_minutes, out["watched" + key_sfx] = summarize_watched(watched)
        minutes += watcher_minutes
        more = wd / f"more-{tag}{sfx}.h5"
        if not more.exists():
            from make_demo_data import record_demo

            print(f"$ tools/make_demo_data.py {game} --minutes {minutes:.2f} --seed {seed + EXTRA_DEMO_SEED} "
                  f"--out {rel(more)}", flush=True)
            record_demo(game, str(more) + ".tmp", minutes, seed=seed + EXTRA_DEMO_SEED, force=True)
            os.replace(str(more) + ".tmp", more)
        out["person_minutes" + key_sfx] = minutes
        for kind, data in (("more", [more]), ("corr", watched_all)):
            ckpt = wd / f"{kind}-{tag}{sfx}.pt"
            t0 = time.perf_counter()
            study_and_trial(game, ckpt, [demo, *data], recipe, seed)
            key = kind + key_sfx
            score(key, ckpt)
            print(f"  {ckpt.name}: {mean(out[key]):.1f} +- {standard_error(out[key]):.1f} (SE), "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
        clone = wd / f"corr-{tag}{sfx}.pt"
    score("study", wd / "study.pt")
    out["demonstrator"] = evaluate(game, "demonstrator", recipe.episodes, recipe.max_minutes, cache).scores
    return out


def update_record(record: Path, got: dict) -> dict:
    """``got`` written into a seed's record over what it held: scores a run did not compute (a later round, the
    as-studied ones) stay, so a run with fewer --rounds or without --as-studied loses nothing. Returns the record."""
    merged = {**(json.loads(record.read_text()) if record.exists() else {}), **got}
    record.write_text(json.dumps(merged))
    return merged


def table(game: str, results: dict[int, dict], tag: str, played: str = "") -> str:
    """Per seed and pooled: the studied clone, then per round more demonstration, corrections, and corrections
    minus more (and each minus the studied clone). ``played``: AS_STUDIED for the scores of every checkpoint played
    as study left it (no trial), "" for them played as the trial chose."""
    seeds = sorted(results)
    head = "".join(f"{'seed ' + str(s):>17}" for s in seeds)
    how = ", played as studied (no trial)" if played else ""
    lines = [f"{game} ({tag}{how}): mean +- SE over each seed's evaluation episodes; pooled: mean of the seeds' means, "
             "SE over episodes (differences: also the SE over the seeds' differences)",
             f"{'':<36}{head}{'pooled':>17}{'% demo':>8}"]
    demo = mean([mean(r["demonstrator"]) for r in results.values()])

    def pooled(values: list[tuple[float, float]]) -> tuple[float, float]:
        return (sum(m for m, _ in values) / len(values),
                math.sqrt(sum(se * se for _, se in values)) / len(values))

    def cells(key: str) -> list[tuple[float, float]]:
        return [(mean(results[s][key + played]), standard_error(results[s][key + played])) for s in seeds]

    def score_row(label: str, got: list[tuple[float, float]]) -> str:
        m, se = pooled(got)
        return (f"{label:<36}" + "".join(f"{a:>9.1f} +-{b:>5.1f}" for a, b in got)
                + f"{m:>9.1f} +-{se:>5.1f}{100 * m / demo:>7.0f}%")

    def diff_row(label: str, a: list[tuple[float, float]], b: list[tuple[float, float]]) -> str:
        diffs = [(x[0] - y[0], math.hypot(x[1], y[1])) for x, y in zip(a, b)]
        m, se = pooled(diffs)
        over_seeds = standard_error([d for d, _ in diffs]) if len(diffs) > 1 else math.nan
        return (f"{label:<36}" + "".join(f"{d:>+9.1f} +-{s:>5.1f}" for d, s in diffs)
                + f"{m:>+9.1f} +-{se:>5.1f}  ({m / se if se > 0 else math.nan:+.1f} SE; over seeds +-{over_seeds:.1f}, "
                f"{m / over_seeds if over_seeds > 0 else math.nan:+.1f} SE)")

    study = cells("study")
    lines.append(score_row("studied, 20 min of demonstration", study))
    r = 1
    while all(f"corr{_key(r)}{played}" in results[s] for s in seeds):
        k = _key(r)
        rounds = "" if r == 1 else f", {r} rounds"
        lines.append(f"{'person minutes' + rounds:<36}"
                     + "".join(f"{results[s]['person_minutes' + k]:>17.1f}" for s in seeds))
        more, corr = cells("more" + k), cells("corr" + k)
        lines.append(score_row("studied, 20 min + as much more", more))
        lines.append(score_row("studied, 20 min + corrections" + rounds, corr))
        lines.append(diff_row("corr - more" + rounds, corr, more))
        lines.append(diff_row("corr - study" + rounds, corr, study))
        lines.append(diff_row("more - study" + rounds, more, study))
        r += 1
    lines.append(f"demonstrator: {demo:.1f}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--games", nargs="+", default=["dodge", "runner"])
    ap.add_argument("--seeds", type=int, default=3, help="training seeds (default 3)")
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--out", default="runs/bench-learning", help="the benchmark folder (shared with bench_learning)")
    ap.add_argument("--horizon", type=float, default=2.0, help="seconds the watcher looks ahead (default 2)")
    ap.add_argument("--minutes", type=float, default=8.0, help="minutes of the watcher's control at most (default 8)")
    ap.add_argument("--steps", type=int, default=16000, help="steps of watched play (default 16000)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="DAgger rounds: round r's clone (studied on rounds 1..r-1's corrections) is watched again "
                         "(default 1)")
    ap.add_argument("--tag", default="", help="names this variant's files (default: h<horizon>m<minutes>)")
    ap.add_argument("--demo-minutes", type=float, default=Recipe.demo_minutes)
    ap.add_argument("--study-steps", type=int, default=Recipe.study_steps)
    ap.add_argument("--episodes", type=int, default=Recipe.episodes, help="evaluation episodes per player")
    ap.add_argument("--max-minutes", type=float, default=Recipe.max_minutes,
                    help="an evaluation episode is cut after this many minutes")
    ap.add_argument("--trial", type=int, default=Recipe.trial)
    ap.add_argument("--as-studied", action="store_true",
                    help="also score every checkpoint played as study left it, with no trial (where the trial's "
                         "choice is noise, e.g. a profile that reads no score, this takes it out of the comparison)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (1 when two benchmarks share 2 cores)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--table-only", action="store_true", help="print the table of what is there; run nothing")
    args = ap.parse_args()
    args.tag = args.tag or f"h{args.horizon:g}m{args.minutes:g}"
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    recipe = Recipe(demo_minutes=args.demo_minutes, study_steps=args.study_steps, rounds=0, online=0,
                    episodes=args.episodes, max_minutes=args.max_minutes, trial=args.trial, threads=args.threads,
                    device=args.device)
    root = Path(args.out) if Path(args.out).is_absolute() else ROOT / args.out
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    for game in args.games:
        results = {}
        for seed in seeds:
            wd = root / f"{game}-seed{seed}"
            record = wd / f"corrections-{args.tag}.json"
            if args.table_only:
                if record.exists():
                    results[seed] = json.loads(record.read_text())
                continue
            print(f"== {game}, training seed {seed}: {rel(wd)}", flush=True)
            results[seed] = update_record(record, run_seed(game, wd, seed, recipe, args))
        if results:
            print(table(game, results, args.tag), flush=True)
            if all("study" + AS_STUDIED in got for got in results.values()):
                print(table(game, results, args.tag, AS_STUDIED), flush=True)
            for seed, got in results.items():
                for r in range(1, args.rounds + 1):
                    line = got.get("watched" + _key(r))
                    watched = root / f"{game}-seed{seed}" / f"watched-{args.tag}{_suffix(r)}.h5"
                    if line is None and watched.exists():  # a record from before the line was kept in it
                        line = summarize_watched(watched)[1]
                    if line is not None:
                        print(f"  seed {seed}{f', round {r}' if r > 1 else ''}: {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
