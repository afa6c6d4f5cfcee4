"""Command line: ``python -m hakisa.games NAME [options]``.

Windowed: ``python -m hakisa.games dodge --size 1280x720 --log frames.jsonl``.
Headless baseline: ``python -m hakisa.games clicker --headless --policy demo --episodes 5``.
"""

from __future__ import annotations

import argparse
import sys

from hakisa.games.base import GAMES, make_game, run_window


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``"WxH"`` (e.g. ``1280x720``) into a (width, height) tuple."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 1280x720, not {text!r}") from None
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive, not {text!r}")
    return w, h


def main(argv: list[str] | None = None) -> int:
    """Run a bundled game in a window, or play it headless with a scripted policy."""
    ap = argparse.ArgumentParser(prog="python -m hakisa.games", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", choices=sorted(GAMES), help="game to run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=parse_size, default=(640, 360), help="window size WxH (default 640x360)")
    ap.add_argument("--title", help='window title (default "hakisa: NAME")')
    ap.add_argument("--log", help="append one JSON line of game state per frame to this file")
    ap.add_argument("--fps", type=int, default=60)
    ap.add_argument("--seconds", type=float, help="quit after this many seconds")
    ap.add_argument("--headless", action="store_true", help="play with --policy, no window")
    ap.add_argument("--policy", choices=("demo", "random"), default="demo")
    ap.add_argument("--episodes", type=int, default=5)
    ap.add_argument("--pausable", action="store_true",
                    help="as many real games: P pauses and unpauses, and the game pauses itself when its window "
                         "loses focus (dimmed, with a band: PAUSED - press P)")
    ap.add_argument("--day-night", action="store_true",
                    help="as some games: the world fades to night and back every minute (the HUD keeps its colours)")
    ap.add_argument("--start-score", type=int, default=0,
                    help="every game starts with this many points (e.g. 9876543210: a HUD showing all ten digits, to "
                         "teach a profile's digits from one screenshot)")
    ap.add_argument("--menus", action="store_true",
                    help='as many real games: a game over shows a "CONTINUE? YES / NO" dialog (Y/N or click), yes '
                         "leaves the old score on the HUD for a moment, no goes to a title screen (ENTER)")
    args = ap.parse_args(argv)

    if args.headless:
        from hakisa.games.policy import play_episodes

        results = play_episodes(args.name, args.policy, args.episodes, args.seed, args.size)
        for i, (score, frames) in enumerate(results):
            print(f"episode {i}: score {score} frames {frames}")
        mean = sum(s for s, _ in results) / max(1, len(results))
        print(f"mean score {mean:.1f} over {len(results)} episodes ({args.policy} policy)")
        return 0

    game = make_game(args.name, args.seed, args.size)
    game.pausable, game.menus = args.pausable, args.menus
    game.start_score = game.score = args.start_score
    game.day_night = args.day_night
    try:
        run_window(game, args.title or f"hakisa: {args.name}", args.log, args.fps, args.seconds)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
