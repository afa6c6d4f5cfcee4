"""A short trial of the ways a checkpoint can be played, scored by the game itself, and the best one kept.

A studied clone can be played greedily or drawn from the policy study fitted, and with or without the
offsets that take the imitation weights' pull on action rates back (`study --prior`). Which way plays
best depends on the game (README, "12,000 updates and a short trial of how to play"): a one-tick-early
jump is fatal in a runner, so its clone wants greedy play at the human's rates; a clicker clone scores
more clicking often and drawn. `hakisa trial` plays a few episodes each way on the game (its window, or
a bundled game in memory), reads the score the profile's rules give, and writes the best way into the
checkpoint, where `play`, `explore` and `train` pick it up.

The same scoring also picks between checkpoints (:func:`run_pick`): `hakisa train --pick N` plays the checkpoint it
started from and each segment's checkpoint, each the way it plays, and keeps the best as ``best.pt``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable

from hakisa.errors import HakisaError
from hakisa.stats import Scored, mean

OFFSET_NAMES = {"none": "", "own": ", its own offsets", "prior": ", at the human's rates (--prior 1)"}


@dataclass(frozen=True)
class Way:
    """One way to play a checkpoint: greedy (``temperature`` 0) or drawn, with these action offsets."""

    temperature: float
    offsets: str  # "none", "own" (the checkpoint's, e.g. calibrated) or "prior" (the imitation pull taken back)
    bias: dict | None  # hakisa.learn.losses.ActionBias.to_dict(), or None

    @property
    def label(self) -> str:
        how = "greedy" if self.temperature == 0 else f"drawn at T={self.temperature:g}"
        return how + OFFSET_NAMES[self.offsets]


class Timed(Scored):
    """Mixin for a :class:`Scored` record that also has each scored episode's length in ``seconds``."""

    seconds: list[float]

    @property
    def mean_seconds(self) -> float:
        return mean(self.seconds) if self.seconds else 0.0


@dataclass
class WayResult(Timed):
    way: Way
    scores: list[float]
    seconds: list[float] = field(default_factory=list)  # each scored episode's length (printed and recorded)

    @property
    def label(self) -> str:
        return self.way.label


@dataclass
class PickResult(Timed):
    """One checkpoint of a pick (:func:`run_pick`), played the way it plays."""

    name: str  # how it is shown: its path
    scores: list[float]
    seconds: list[float] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.name


def _as_studied(state: dict) -> dict:
    """How the checkpoint played before any trial changed it (its play temperature and action offsets)."""
    before = (state.get("trial") or {}).get("before")
    return before or {"play_temperature": state.get("play_temperature", 0.0), "action_bias": state.get("action_bias")}


def ways_of(blob: dict) -> list[Way]:
    """The ways to try, the checkpoint's own first: its play temperature and greedy (when it draws), each with
    its own offsets, with the imitation weights' pull taken back (when study recorded it) and with no offsets
    (when it has some). A checkpoint tried before is tried again from how it was before its first trial."""
    from hakisa.learn.study import Prior

    state = blob["state"]
    base = _as_studied(state)
    t = float(base.get("play_temperature", 0.0) or 0.0)
    temperatures = [t] + ([0.0] if t > 0 else [])
    own = base.get("action_bias") or None
    offsets: list[tuple[str, dict | None]] = [("own" if own else "none", own)]
    if state.get("imitation_prior"):
        try:
            prior = Prior.from_dict(state["imitation_prior"]).scaled(1.0).to_dict()
        except ValueError as exc:
            raise HakisaError(f"the checkpoint's {exc}; study it again") from None
        if prior != own:
            offsets.append(("prior", prior))
    if own:
        offsets.append(("none", None))
    return [Way(temp, name, bias) for temp in temperatures for name, bias in offsets]


def with_way(blob: dict, way: Way) -> dict:
    """A shallow copy of ``blob`` whose state plays ``way`` (what :class:`hakisa.act.agent.Agent` reads)."""
    return {**blob, "state": {**blob["state"], "play_temperature": way.temperature, "action_bias": way.bias}}


def choose(results: list) -> "WayResult | PickResult":
    """The way (or checkpoint) with the best mean score; between equal means the earlier one (the checkpoint's
    current way first; in a pick, the checkpoint the run started from).

    Where a profile reads lives and no score, every game that ends in a game over sums to the same reward, so the
    ways tie and the checkpoint keeps how it plays. Breaking that tie by how long the games lasted was tried on
    clicker: of 9 checkpoints it moved 3 off their studied way, and each then scored less on the evaluation
    (by 67, 140 and 186 points; README, "Corrections on clicker"). The lengths stay in the trial's record."""
    scored = [r for r in results if math.isfinite(r.mean)]
    if not scored:
        raise HakisaError("no way of playing finished an episode with a score, so the trial cannot compare them; "
                          "give it more time (--seconds) or check the profile's [rules] (`hakisa regions`)")
    return max(scored, key=lambda r: (r.mean, -results.index(r)))


def trial_state(state: dict, results: list[WayResult], chosen: WayResult, measure: str) -> dict:
    """``state`` playing the ``chosen`` way, with the trial's record (and what the checkpoint played before)."""
    record = {
        "measure": measure, "chosen": chosen.way.label,
        "ways": [{"label": r.way.label, "temperature": r.way.temperature, "offsets": r.way.offsets,
                  "scores": r.scores, "mean": r.mean, "se": r.se, "seconds": r.seconds} for r in results],
        "before": _as_studied(state),
    }
    return {**state, "play_temperature": chosen.way.temperature, "action_bias": chosen.way.bias, "trial": record}


def counted_games(stats, measure: str) -> list:
    """The episodes of a way's session (:class:`hakisa.act.loop.LoopStats`) whose ``measure`` counts, given that the
    time limit may have cut the last one short (right-censored). A score only grows during a game, so a cut game's
    score so far is a lower bound of its own: it counts when it is above the mean of the whole games (a way whose
    games run long shows it there, and often in that game alone), and not when below (it would pull the way down
    for having long games). A summed reward can also fall (lives lost), so a cut game's is no bound and it never
    counts. A cut game that is the way's only one counts either way: it is all there is."""
    episodes = list(stats.episodes)
    if not (stats.stop_reason == "time limit reached" and len(episodes) > 1 and episodes[-1].status == "truncated"):
        return episodes
    whole, cut = episodes[:-1], episodes[-1]
    if measure == "score":
        scores = [e.score for e in whole if math.isfinite(e.score)]
        if math.isfinite(cut.score) and (not scores or cut.score > mean(scores)):
            return episodes
    return whole


def run_trial(profile, blob: dict, spec, episodes: int, announce: Callable[[str], None] | None = None,
              on_episode=None) -> tuple[list[WayResult], str]:
    """Play ``episodes`` episodes of each of :func:`ways_of` ``blob`` with the session ``spec``
    (:class:`hakisa.act.session.SessionSpec`; its ``max_seconds`` limits each way) and return their scores
    and what was measured: the profile's score at each episode's end, or the summed reward when the
    profile reads no score. A game cut short by the time limit counts as :func:`counted_games` says. Raises
    HakisaError if the session is stopped (kill switch, signal) first."""
    ways = ways_of(blob)
    if len(ways) < 2:
        raise HakisaError("this checkpoint plays one way only (greedy, with no offsets to choose): there is nothing "
                          "to try. The trial is for studied clones (`hakisa study`)")
    measure = measure_of(profile)
    results = []
    for i, way in enumerate(ways):
        if announce:
            announce(f"trial: way {i + 1} of {len(ways)}: {way.label}")
        scores, seconds = _play_scored(profile, with_way(blob, way), spec, episodes, measure, on_episode,
                                       "trial", "before every way was tried; the checkpoint is unchanged")
        results.append(WayResult(way, scores, seconds))
        if announce:
            announce(_scored_line("trial", results[-1], measure))
    return results, measure


def measure_of(profile) -> str:
    """What a trial or pick compares: the profile's score at each episode's end, or the summed reward when the
    profile reads no score."""
    return "score" if profile.rules.score else "reward"


def _play_scored(profile, blob: dict, spec, episodes: int, measure: str, on_episode, who: str, unfinished: str
                 ) -> tuple[list[float], list[float]]:
    """Play ``episodes`` episodes of ``blob`` as it plays (``spec.max_seconds`` at most); each counted game's
    ``measure`` and length in game seconds. HakisaError, naming ``who`` and what is ``unfinished``, when the session
    is stopped first."""
    from hakisa.act.loop import Schedule
    from hakisa.act.session import run_agent

    s = replace(spec, schedule=Schedule(temperature=None), max_episodes=episodes, out=None)
    stats = run_agent(profile, blob, s, on_episode=on_episode)
    if not stats.stop_reason.endswith("episodes played") and stats.stop_reason != "time limit reached":
        raise HakisaError(f"the {who} stopped ({stats.stop_reason}) {unfinished}")
    hz = profile.capture.tick_hz  # game time, also where a headless game runs faster than real time
    got = [(r.score if measure == "score" else r.reward, r.steps / hz) for r in counted_games(stats, measure)]
    got = [(float(v), float(t)) for v, t in got if math.isfinite(v)]
    return [v for v, _ in got], [t for _, t in got]


def _scored_line(who: str, r, measure: str) -> str:
    return (f"{who}: {r.label}: {measure} {r.mean:.1f} +- {r.se:.1f} over {len(r.scores)} episodes "
            f"of {r.mean_seconds:.0f} s")


def run_pick(profile, candidates: list[tuple[str, dict]], spec, episodes: int,
             announce: Callable[[str], None] | None = None, on_episode=None) -> tuple[list[PickResult], str]:
    """Play ``episodes`` episodes of each (name, checkpoint blob) in ``candidates``, each the way it plays (its play
    temperature and action offsets), on the same game seeds, scored as :func:`run_trial` scores ways. The first is
    the one to keep when none does better (:func:`choose`): put the checkpoint a run started from there."""
    measure = measure_of(profile)
    results = []
    for i, (name, blob) in enumerate(candidates):
        if announce:
            announce(f"pick: checkpoint {i + 1} of {len(candidates)}: {name}")
        scores, seconds = _play_scored(profile, blob, spec, episodes, measure, on_episode,
                                       "pick", "before every checkpoint was played; nothing was picked")
        results.append(PickResult(name, scores, seconds))
        if announce:
            announce(_scored_line("pick", results[-1], measure))
    return results, measure


def pick_record(results: list[PickResult], chosen: PickResult, measure: str, episodes: int) -> dict:
    """What a pick did, for a run's record."""
    return {"measure": measure, "episodes": episodes, "chosen": chosen.name,
            "checkpoints": [{"checkpoint": r.name, "scores": r.scores, "mean": r.mean, "se": r.se,
                             "seconds": r.seconds} for r in results]}


def table(results: list, chosen, measure: str, what: str = "way") -> str:
    """A trial's (or pick's) results, one line per way (checkpoint), the chosen one marked."""
    width = max(48, *(len(r.label) for r in results))
    lines = [f"{what:<{width}} {'episodes':>8}  {measure} (mean +- SE)  episode s"]
    for r in results:
        mark = "  <- chosen" if r is chosen else ""
        lines.append(f"{r.label:<{width}} {len(r.scores):>8}  {r.mean:8.1f} +- {r.se:6.1f}  {r.mean_seconds:9.1f}{mark}")
    return "\n".join(lines)
