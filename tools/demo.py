#!/usr/bin/env python3
"""hakisa end to end on a bundled game: watch a player, learn, play.

1. record: the game opens in a real window (on a virtual display when there is no screen) and the
   scripted demonstrator plays it through injected OS input while `hakisa record` records;
2. more demonstration: the same demonstrator on the headless game, recorded through the same record
   loop on a virtual clock (minutes of play in seconds);
3. `hakisa study` on all of it, `hakisa trial`, then `hakisa train`: the clone plays the headless game
   (faster than real time) while a learner keeps learning from everything seen so far, and `--pick` keeps
   the best of the clone and the run's checkpoints (best.pt) from a few games of each;
4. every phase is scored over the same headless episodes, beside a random player and the demonstrator;
5. `hakisa play`: the kept agent plays the real window, recorded, and `hakisa replay` makes a clip.

Budgets: the default takes about 20 minutes on 2 cores; --long about 2 hours on 2 cores (an hour of
demonstration, twice the study, 1.33 h of the agent's play); --gpu the --long budget with study and the
learner on a CUDA GPU; --quick a few minutes. Each prints the hours of demonstration and of play and the
updates it will make before it starts.

Prints the results table and writes, in runs/demo-GAME/: results.md, learning.png (score by phase),
play.h5 and play.mp4 (the agent playing the window), and every dataset and checkpoint.

    .venv/bin/python tools/demo.py [--game GAME] [--long | --gpu | --quick]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from learning import ROOT, Recipe, Row, format_table, hakisa, play_window, plot_learning, rel, run_pipeline
from xsession import game_with_demonstrator, virtual_display

from hakisa import BUNDLED_GAMES

SIZE = "640x360"


def budget(args: argparse.Namespace) -> Recipe:
    """The demo's recipe for --long, --gpu, --quick or the default (about 20 minutes on 2 cores)."""
    if args.gpu:
        import torch

        if not torch.cuda.is_available():
            raise SystemExit(f"--gpu: this torch ({torch.__version__}) sees no CUDA GPU; run --long on the CPU instead")
    if args.long or args.gpu:
        return Recipe(demo_minutes=60, study_steps=24000, rounds=0, online=96000, explore_steps=12000,
                      device="cuda" if args.gpu else "auto", pick=10)
    if args.quick:
        return Recipe(demo_minutes=1, study_steps=100, rounds=0, online=600, explore_steps=300, episodes=3, trial=2,
                      max_minutes=1, pick=2)
    return Recipe(rounds=0, online=12000, explore_steps=6000, pick=10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--game", default="dodge", choices=BUNDLED_GAMES, help="bundled game (default dodge)")
    ap.add_argument("--seconds", type=float, default=90.0,
                    help="seconds of real-window play to record (default 90)")
    ap.add_argument("--long", action="store_true",
                    help="an hour of demonstration, 24,000 study updates, 96,000 steps of online train (1.33 h of "
                         "play, 48,000 updates): about 2 hours on 2 cores")
    ap.add_argument("--gpu", action="store_true",
                    help="the --long budget with study and the learner on a CUDA GPU (refused without one)")
    ap.add_argument("--quick", action="store_true",
                    help="a few minutes, every phase at a token size: checks the set-up, learns next to nothing")
    ap.add_argument("--play-episodes", type=int, default=2, help="episodes the final agent plays in the window")
    ap.add_argument("--out", default=None, help="run folder (default runs/demo-GAME)")
    ap.add_argument("--fresh", action="store_true", help="delete an earlier run in the folder first")
    args = ap.parse_args()
    if args.seconds <= 0 or args.play_episodes < 1:
        ap.error("--seconds must be more than 0 and --play-episodes at least 1")
    if args.long + args.gpu + args.quick > 1:
        ap.error("choose one of --long, --gpu and --quick")
    recipe = budget(args)
    print(f"budget: {recipe.budget()}", flush=True)
    work = (ROOT / (args.out or f"runs/demo-{args.game}")).resolve()
    if args.fresh and work.exists():
        import shutil

        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    out = rel(work)
    t_start = time.perf_counter()

    print(f"\n[1/5] a human plays: the scripted demonstrator on a real {args.game} window, `hakisa record`", flush=True)
    recorded = work / "recorded.h5"
    if not recorded.exists():
        with virtual_display("1280x720") as display:
            print(f"display {display}: {args.game} ({SIZE}) with the demonstrator", flush=True)
            with game_with_demonstrator(args.game, work / "game.jsonl", size=SIZE):
                hakisa("record", "--profile", args.game, "--out", f"{out}/recorded.h5", "--force",
                       "--seconds", str(args.seconds))

    print("\n[2-4/5] more demonstration (headless), study, trial, online train; each phase scored", flush=True)
    rows = run_pipeline(args.game, work, recipe, human_data=[recorded])

    final = (work / "online" / ("best.pt" if recipe.pick else "online.pt") if recipe.online else
             work / "rounds" / f"round-{recipe.rounds}.pt" if recipe.rounds else work / "study.pt")
    print(f"\n[5/5] the agent plays the real window: `hakisa play` with {rel(final)}", flush=True)
    scores = play_window(args.game, final, args.play_episodes, record=work / "play.h5")
    hakisa("replay", f"{out}/play.h5", "--out", f"{out}/play.mp4", "--force", "--max-steps", "2400")
    window = Row(f"{rows[-1].player}, window", scores, rows[-1].demo_hours, rows[-1].explore_hours)
    studied = next(r for r in rows if r.player == "study")
    table = format_table(rows + [window], f"{args.game}: each agent as `hakisa play` runs it (study: "
                         f"{studied.extra.get('played', 'as studied')}, chosen by `hakisa trial`; online: the same way), "
                         f"{recipe.episodes} headless episodes per phase ({args.play_episodes} in the real window "
                         "for the last row)")
    plot_learning({args.game: [rows]}, work / "learning.png", f"hakisa on {args.game}: score by phase")

    minutes = (time.perf_counter() - t_start) / 60
    report = (f"{table}\n\n(demo h / explore h: hours of demonstration / of the agent's own play learnt from; "
              f"whole run {minutes:.1f} min)")
    (work / "results.md").write_text("```\n" + report + "\n```\n")
    print("\n" + report)
    print(f"\nwrote {out}/results.md, {out}/learning.png, {out}/play.mp4 (the agent playing the window)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
