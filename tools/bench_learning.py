#!/usr/bin/env python3
"""Does hakisa learn to play? The learning benchmark on the bundled games.

For each game and seed: record the scripted demonstrator headless (the real record loop on a virtual
clock), `hakisa study`, then K rounds of `hakisa train` (explore on the headless game -> consolidate),
scoring a random player, the demonstrator, the studied agent and every round's agent over the same
evaluation episodes (game seeds never used in training). Prints mean +- standard error over seeds per phase, with the hours of demonstration and of
exploration each used, and writes BENCH.json and BENCH.png (the learning curve) into --out.

    .venv/bin/python tools/bench_learning.py --games dodge clicker --seeds 3 --episodes 10 --out runs/bench
    .venv/bin/python tools/bench_learning.py --games dodge --seeds 1 --rounds 1 --window   # + one real-window row
    # an ablation of the online run, from the same studies:
    .venv/bin/python tools/bench_learning.py --games dodge --rounds 0 --online 12000 --tag sil \\
        --train-flags='--self-imitation 1'

With --window, the final agent also plays --window-episodes in a real window under Xvfb through
`hakisa play` (real capture, real injected input), to show that headless and window scores agree.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import time
from dataclasses import asdict

from learning import ROOT, Recipe, Row, format_table, play_window, plot_learning, rel, run_pipeline, seed_stats

import numpy as np

from hakisa import BUNDLED_GAMES


def summary_table(game: str, runs: list[list[Row]]) -> str:
    """Mean +- standard error over seeds of each phase's mean score (episodes pooled inside a seed), then how
    each phase played (all seeds' episodes together)."""
    from eval_agent import Episodes, behaviour

    players = [r.player for r in runs[0]]
    demo = np.mean([next(r for r in rows if r.player == "demonstrator").mean for rows in runs])
    lines = [f"{game}: {len(runs)} seed(s) x {len(runs[0][0].scores)} episodes (evaluation seeds never trained on)",
             f"{'player':<14} {'mean':>8} {'+- SE':>7} {'% of demo':>10} {'demo h':>7} {'explore h':>10} "
             f"{'phase min':>10}"]
    plays = []
    for p in players:
        rs = [next(r for r in rows if r.player == p) for rows in runs]
        m, se = seed_stats([r.mean for r in rs])
        if len(rs) == 1:
            se = rs[0].se  # one seed: the error over its episodes
        lines.append(f"{p:<14} {m:>8.1f} {se:>7.1f} {100 * m / demo:>9.0f}% "
                     f"{rs[0].demo_hours:>7.2f} {rs[0].explore_hours:>10.2f} "
                     f"{np.mean([r.seconds for r in rs]) / 60:>10.1f}")
        pooled = [Episodes.from_dict(r.play) for r in rs if r.play]
        if pooled:
            e = pooled[0]
            for more in pooled[1:]:
                e.scores += more.scores
                e.seconds += more.seconds
                e.losses.update(more.losses)
                e.commands.update(more.commands)
                e.chords.update(more.chords)
            plays.append(f"  {p:<12} {behaviour(e)}")
        chosen = [r.extra.get("played") for r in rs if r.extra.get("played")]
        if chosen:
            plays.append(f"  {p:<12} played (per seed): {'; '.join(chosen)}")
    return "\n".join(lines + plays)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    d = Recipe()
    ap.add_argument("--games", nargs="+", default=BUNDLED_GAMES, choices=BUNDLED_GAMES,
                    help="bundled games to run (default: all)")
    ap.add_argument("--seeds", type=int, default=3, help="independent runs per game (default 3)")
    ap.add_argument("--first-seed", type=int, default=0, help="training seeds --first-seed, +1, ... (default 0)")
    ap.add_argument("--episodes", type=int, default=d.episodes, help=f"evaluation episodes per phase ({d.episodes})")
    ap.add_argument("--demo-minutes", type=float, default=d.demo_minutes,
                    help=f"minutes of demonstrator play to learn from ({d.demo_minutes:g})")
    ap.add_argument("--study-steps", type=int, default=d.study_steps)
    ap.add_argument("--rounds", type=int, default=d.rounds, help=f"explore/consolidate rounds ({d.rounds})")
    ap.add_argument("--explore-steps", type=int, default=d.explore_steps)
    ap.add_argument("--updates", type=int, default=d.updates, help="consolidate updates per round")
    ap.add_argument("--trial", type=int, default=d.trial,
                    help=f"`hakisa trial` episodes per way of playing the studied clone (0: as studied; {d.trial})")
    ap.add_argument("--online", type=int, default=d.online, metavar="STEPS",
                    help="after study, an online `hakisa train` of this many actor steps, scored after every "
                         "--explore-steps (0 = none; with --rounds 0 it replaces the rounds)")
    ap.add_argument("--watcher", action="store_true",
                    help="the online run with the scripted watcher taking over before losses (corrections)")
    ap.add_argument("--train-flags", default="", metavar="FLAGS",
                    help="more `hakisa train` flags for the online run, in one string, given with '=' "
                         "(--train-flags='--self-imitation 1')")
    ap.add_argument("--study-flags", default="", metavar="FLAGS",
                    help="more `hakisa study` flags, in one string, given with '=' (--study-flags='--temperature 1'); "
                         "give such a study its own --out, or it resumes the study already there")
    ap.add_argument("--threads", type=int, default=d.threads,
                    help=f"torch CPU threads of study and train ({d.threads}; 1 when two benchmarks share 2 cores)")
    ap.add_argument("--tag", default="", help="the online run's folder is online-TAG (ablations from one study)")
    ap.add_argument("--pick", type=int, default=d.pick, metavar="EPISODES",
                    help="the online run ends with `hakisa train --pick EPISODES` (also on a finished run), and the "
                         "checkpoint it kept is scored as the row 'picked' (0 = no pick)")
    ap.add_argument("--window", action="store_true", help="also play the final agent in a real window (Xvfb)")
    ap.add_argument("--replay-ratio", type=float, default=d.replay_ratio,
                    help=f"with --online: learner updates per actor step ({d.replay_ratio:g})")
    ap.add_argument("--device", default=d.device, help="where study and the learner run (auto, cpu, cuda)")
    ap.add_argument("--window-episodes", type=int, default=3)
    ap.add_argument("--out", default="runs/bench-learning", help="folder for data, checkpoints and results")
    args = ap.parse_args()
    for name in ("seeds", "episodes", "study_steps", "explore_steps", "updates", "window_episodes"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1, not {getattr(args, name)}")
    if args.rounds < 0 or args.demo_minutes <= 0 or args.trial < 0 or args.online < 0 or args.pick < 0:
        ap.error("--rounds, --trial, --online and --pick must be 0 or more and --demo-minutes more than 0")
    recipe = Recipe(args.demo_minutes, args.study_steps, args.rounds, args.explore_steps, args.updates, args.episodes,
                    trial=args.trial, online=args.online, watcher=args.watcher, replay_ratio=args.replay_ratio,
                    device=args.device, train_flags=tuple(shlex.split(args.train_flags)), tag=args.tag,
                    threads=args.threads, pick=args.pick)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the trial's and the scoring's torch too (subprocesses)
    out = ROOT / args.out
    out.mkdir(parents=True, exist_ok=True)
    series: dict[str, list[list[Row]]] = {}
    t0 = time.perf_counter()
    for game in args.games:
        series[game] = []
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            print(f"\n=== {game}, seed {seed} ===", flush=True)
            rows = run_pipeline(game, out / f"{game}-seed{seed}", recipe, seed=seed,
                                study_args=tuple(shlex.split(args.study_flags)))
            print(format_table(rows, f"{game} seed {seed}"), flush=True)
            series[game].append(rows)
    window = {}
    if args.window:
        for game, runs in series.items():
            final = out / f"{game}-seed0" / "rounds" / f"round-{args.rounds}.pt"
            if not final.exists():
                final = out / f"{game}-seed0" / "study.pt"
            s = play_window(game, final, args.window_episodes)
            window[game] = {"checkpoint": rel(final), "scores": s}
    print(f"\nlearning benchmark ({(time.perf_counter() - t0) / 60:.0f} min)")
    for game, runs in series.items():
        print("\n" + summary_table(game, runs))
        if game in window:
            w = window[game]
            headless = runs[0][-1]
            print(f"real window (Xvfb, `hakisa play`): {w['checkpoint']} scored {np.mean(w['scores']):.1f} "
                  f"+- {np.std(w['scores']):.1f} (std) over {len(w['scores'])} episodes; headless, seed 0: "
                  f"{headless.mean:.1f} +- {headless.std:.1f} (std)")
    plot_learning(series, out / "BENCH.png", "hakisa: score by phase (each agent as hakisa play runs it, headless evaluation)")
    (out / "BENCH.json").write_text(json.dumps({"recipe": asdict(recipe), "window": window,
                                                 "runs": {g: [[asdict(r) for r in rows] for rows in runs]
                                                          for g, runs in series.items()}}, indent=1))
    print(f"\nwrote {rel(out)}/BENCH.json and BENCH.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
