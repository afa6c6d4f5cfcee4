#!/usr/bin/env python3
"""Score agents on a bundled game, headless (same pixels as the window, stepped synchronously).

Compares checkpoints' agents, played as `hakisa play` plays them (a studied clone drawn at its play
temperature, a consolidated one greedily; --temperature T to choose, --prior SHARE to take back a share of
the imitation weights' pull on action rates), with the scripted demonstrator
and a random player over the same evaluation episodes, and prints mean +- standard error with how each
played (action shares, episode length, what ended its lives, from the game's own log):

    .venv/bin/python tools/eval_agent.py dodge --checkpoint checkpoints/dodge-study.pt --episodes 50

Evaluation episodes use game seeds from EVAL_SEED_BASE (1,000,000) up; recording and exploration use
seeds below it (tools/make_demo_data.py and the learning pipeline refuse others), so no evaluation
episode was ever seen in training. Agents play many episodes at once, one network pass per tick for all.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import numpy as np  # noqa: E402

from hakisa import BUNDLED_GAMES  # noqa: E402
from hakisa.games import GameInput, make_game  # noqa: E402
from hakisa.games.policy import make_policy  # noqa: E402
from hakisa.stats import Scored  # noqa: E402

EVAL_SEED_BASE = 1_000_000  # game seeds >= this are for evaluation only
TRIAL_SEED_BASE = 3_000_000  # --trial's episodes: never recorded, and not among the evaluation's


def check_training_seed(seed: int) -> int:
    """``seed`` if it may be used to record or explore (below EVAL_SEED_BASE), else SystemExit."""
    if not 0 <= seed < EVAL_SEED_BASE:
        raise SystemExit(f"game seed {seed} is reserved: seeds from {EVAL_SEED_BASE:,} up are evaluation episodes, "
                         f"never used for recording or exploring; use 0..{EVAL_SEED_BASE - 1}")
    return seed


@dataclass
class Episodes(Scored):
    """What a player did over the evaluation episodes."""

    scores: list[float]
    seconds: list[float]  # game time of each episode
    losses: Counter = field(default_factory=Counter)  # what ended lives (the game's log) -> count
    commands: Counter = field(default_factory=Counter)  # command_type -> ticks (agents only)
    chords: Counter = field(default_factory=Counter)  # chord or "mouse" -> ticks (agents only)

    def to_dict(self) -> dict:
        return {"scores": self.scores, "seconds": self.seconds, "losses": dict(self.losses),
                "commands": dict(self.commands), "chords": dict(self.chords)}

    @classmethod
    def from_dict(cls, d: dict) -> "Episodes":
        return cls(list(d["scores"]), list(d["seconds"]), Counter(d.get("losses", {})),
                   Counter(d.get("commands", {})), Counter(d.get("chords", {})))


def _finish(game, out: Episodes) -> None:
    out.scores.append(float(game.score))
    out.seconds.append(game.episode_frame / 60.0)
    out.losses.update(loss["cause"] for loss in game.losses)


def play_agent(game_name: str, blob: dict, episodes: int, seed: int = EVAL_SEED_BASE, size=(640, 360),
               max_frames: int = 18000, batch: int = 25, temperature: float | None = None,
               prior: float | None = None) -> Episodes:
    """The checkpoint's agent on ``episodes`` games (seeds ``seed``, ``seed`` + 1, ...), ``batch`` at a time in
    lockstep, acting at the profile's tick rate on rendered pixels: greedy, or drawing from softmax(value /
    ``temperature``) when it is above 0 (the draws seeded by ``seed``); None: as `hakisa play` would, at the
    checkpoint's play temperature. ``prior``: play with this share of the imitation weights' pull taken back
    (``study --prior``) instead of the checkpoint's own offsets."""
    import torch

    from hakisa.act.agent import Agent
    from hakisa.codec import COMMANDS, Action, ActionCodec
    from hakisa.data.transitions import stack_frames
    from hakisa.learn.losses import sample
    from hakisa.preprocess import observation
    from hakisa.profile import parse_profile

    torch.set_num_threads(1)
    profile = parse_profile(blob["profile_toml"])
    agent = Agent.from_checkpoint(blob)
    if temperature is None:
        temperature = agent.play_temperature
    if prior == 0:  # no offsets at all: nothing to read from the checkpoint
        agent.bias = None
    elif prior is not None:
        from hakisa.learn.study import Prior

        if not blob["state"].get("imitation_prior"):
            raise SystemExit("the checkpoint has no imitation prior (it was studied before --prior existed)")
        try:
            pull = Prior.from_dict(blob["state"]["imitation_prior"])
        except ValueError as exc:
            raise SystemExit(f"the checkpoint's {exc}; study it again") from None
        agent.bias = pull.scaled(prior) if prior > 0 else None
    codec = ActionCodec(profile.actions, size)  # mouse cells in this window's pixels
    cap = profile.capture
    per_tick = max(1, round(60 / cap.tick_hz))
    S = agent.stack
    rng = np.random.default_rng(seed)
    out = Episodes([], [])
    for start in range(0, episodes, batch):
        games = [make_game(game_name, seed=seed + i, size=size) for i in range(start, min(start + batch, episodes))]
        stacks: np.ndarray | None = None
        live = np.ones(len(games), bool)
        while live.any():
            idx = np.flatnonzero(live)
            frames = np.stack([observation(games[j].render(), cap, "rgb") for j in idx])
            if stacks is None:
                stacks = np.repeat(frames[:, None], S, axis=1)
            else:
                stacks[idx] = np.concatenate([stacks[idx, 1:], frames[:, None]], axis=1)
            with torch.inference_mode():
                acts = sample(agent.model(torch.from_numpy(stack_frames(stacks[idx]))), agent.masks, temperature, rng,
                              agent.joint, agent.bias)
            for j, a in zip(idx, acts.tolist()):
                action = Action(*a)
                cmd = codec.decode(action)
                out.commands[COMMANDS[action.command_type]] += 1
                out.chords["+".join(sorted(cmd.held)) or ("mouse" if cmd.mouse is not None else "-")] += 1
                clicks = ((cmd.click, *cmd.mouse),) if cmd.click else ()
                g = games[j]
                for i in range(per_tick):
                    g.step(GameInput(cmd.held, cmd.mouse, clicks if i == 0 else ()))
                if g.game_over or g.episode_frame >= max_frames:
                    live[j] = False
        for g in games:  # in episode order, whichever ended first
            _finish(g, out)
    return out


def trial_choice(game_name: str, blob: dict, episodes: int, max_frames: int = 18000,
                 seed: int = TRIAL_SEED_BASE):
    """The way to play ``blob`` that `hakisa trial` would choose (:mod:`hakisa.act.trial`), from ``episodes``
    episodes each way on game seeds from ``seed`` (disjoint from the evaluation's); returns (chosen, results)."""
    from hakisa.act.trial import WayResult, choose, ways_of, with_way

    results = [WayResult(w, play_agent(game_name, with_way(blob, w), episodes, seed, max_frames=max_frames).scores)
               for w in ways_of(blob)]
    return choose(results), results


def play_policy(game_name: str, kind: str, episodes: int, seed: int = EVAL_SEED_BASE, size=(640, 360),
                max_frames: int = 18000) -> Episodes:
    """A scripted player ("demo" or "random") on the same episodes as :func:`play_agent`."""
    out = Episodes([], [])
    for ep in range(episodes):
        game = make_game(game_name, seed=seed + ep, size=size)
        policy = make_policy(kind, game_name, seed=seed + ep)
        while not game.game_over and game.episode_frame < max_frames:
            game.step(policy.act(game.state()))
        _finish(game, out)
    return out


def behaviour(e: Episodes, top: int = 3) -> str:
    """One line: episode length, the most common commands and chords, and what ended lives."""
    def shares(c: Counter) -> str:
        n = sum(c.values())
        return ", ".join(f"{k} {100 * v / n:.0f}%" for k, v in c.most_common(top)) if n else "-"
    parts = [f"{np.mean(e.seconds):.0f} s/episode"]
    if e.commands:
        parts += [f"commands: {shares(e.commands)}", f"held: {shares(e.chords)}"]
    if e.losses:
        parts.append(f"lives lost: {shares(e.losses)}")
    return "; ".join(parts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("game", choices=BUNDLED_GAMES)
    ap.add_argument("--checkpoint", action="append", default=[], help="checkpoint(s) to score")
    ap.add_argument("--episodes", type=int, default=50, help="evaluation episodes (default 50)")
    ap.add_argument("--seed", type=int, default=EVAL_SEED_BASE,
                    help=f"first game seed (default {EVAL_SEED_BASE:,}; episodes use seed, seed+1, ...)")
    ap.add_argument("--max-minutes", type=float, default=5.0,
                    help="cut an episode off after this much game time (default 5, as the learning benchmark)")
    ap.add_argument("--temperature", type=float, nargs="+", default=None, metavar="T",
                    help="agents draw actions from softmax(value / T) instead of acting greedily (0: greedy; "
                         "default: as `hakisa play` plays each checkpoint, at its own play temperature); several "
                         "values score each checkpoint at each")
    ap.add_argument("--prior", type=float, nargs="+", default=None, metavar="SHARE",
                    help="play with this share of the imitation weights' pull on action rates taken back (study "
                         "--prior) instead of the checkpoint's own offsets (0: no offsets at all); several values "
                         "score each at each")
    ap.add_argument("--trial", type=int, default=0, metavar="N",
                    help="also score each checkpoint played the way `hakisa trial` would choose from N episodes "
                         f"each way (on game seeds from {TRIAL_SEED_BASE:,}, none of them evaluation episodes)")
    args = ap.parse_args()
    if args.episodes < 2:
        ap.error(f"--episodes must be at least 2 (a standard error needs two), not {args.episodes}")
    if args.prior and not all(0 <= p <= 1 for p in args.prior):
        ap.error(f"--prior takes shares from 0 to 1, not {' '.join(f'{p:g}' for p in args.prior)}")
    if args.max_minutes <= 0:
        ap.error(f"--max-minutes must be above 0, not {args.max_minutes:g}")
    if args.seed < EVAL_SEED_BASE:
        print(f"warning: seed {args.seed} is below {EVAL_SEED_BASE:,}; these episodes may have been recorded or "
              "explored", file=sys.stderr)
    from hakisa.learn.checkpoint import load_checkpoint

    rows = []
    cut = int(args.max_minutes * 3600)  # game frames at 60 per second
    blobs = {c: load_checkpoint(c) for c in args.checkpoint}
    temps = {c: args.temperature or [float(blobs[c]["state"].get("play_temperature", 0.0))]
             for c in args.checkpoint}  # default: how `hakisa play` would play it
    for label, fn in [("random", lambda: play_policy(args.game, "random", args.episodes, args.seed, max_frames=cut)),
                      ("demonstrator", lambda: play_policy(args.game, "demo", args.episodes, args.seed,
                                                           max_frames=cut))] + [
                      (os.path.basename(c) + (f" T={t:g}" if t > 0 else "") + (f" p={pr:g}" if pr is not None else ""),
                       (lambda c=c, t=t, pr=pr: play_agent(args.game, blobs[c], args.episodes, args.seed,
                                                           max_frames=cut, temperature=t, prior=pr)))
                      for c in args.checkpoint for t in temps[c] for pr in (args.prior or [None])]:
        t0 = time.perf_counter()
        e = fn()
        rows.append((label, e, time.perf_counter() - t0))
    if args.trial:
        from hakisa.act.trial import with_way

        for c in args.checkpoint:
            t0 = time.perf_counter()
            chosen, results = trial_choice(args.game, blobs[c], args.trial, cut)
            e = play_agent(args.game, with_way(blobs[c], chosen.way), args.episodes, args.seed, max_frames=cut)
            rows.append((f"{os.path.basename(c)} trial", e, time.perf_counter() - t0))
            print(f"{os.path.basename(c)}: the trial ({args.trial} episodes each way) chose {chosen.way.label}: "
                  + ", ".join(f"{r.way.label} {r.mean:.1f}" for r in results), file=sys.stderr)
    demo = rows[1][1].mean
    print(f"\n{args.game}, headless, {args.episodes} episodes (seeds {args.seed}..{args.seed + args.episodes - 1}), "
          f"cut off at {args.max_minutes:g} min; agents greedy unless a temperature T is shown")
    print(f"{'player':<28} {'mean':>8} {'+- SE':>7} {'min':>6} {'max':>6} {'% of demo':>10} {'seconds':>8}")
    for label, e, dt in rows:
        print(f"{label:<28} {e.mean:>8.1f} {e.se:>7.1f} {min(e.scores):>6.0f} {max(e.scores):>6.0f} "
              f"{100 * e.mean / demo:>9.0f}% {dt:>8.1f}")
    print()
    for label, e, _ in rows:
        print(f"{label:<28} {behaviour(e)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
