"""Ten minutes of a game with real games' traps, recorded by the real record loop: the bundled dodge game with
menus (a "CONTINUE?" dialog at game over whose "yes" leaves the old score on the HUD for a moment before it
resets) that pauses itself whenever its window loses focus (dimmed, with a band). Its profile's rules are
written by the studio's profile writer; over the whole recording there is no false game over (every episode
end is a real game over of the game's own log), no stored frame of a pause, and no negative reward that is not
a life lost (the late score reset costs nothing)."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from hakisa.data.dataset import DatasetReader  # noqa: E402
from hakisa.games import make_game  # noqa: E402
from hakisa.games.base import DIALOG_BG, PAUSE_BAND, TITLE_BG, GameInput  # noqa: E402
from hakisa.games.policy import DemoPolicy  # noqa: E402
from hakisa.games.source import HeadlessFrameSource, PolicyPlayer, record_headless  # noqa: E402
from hakisa.profile import load_profile, parse_profile  # noqa: E402
from hakisa.record.recorder import VirtualClock  # noqa: E402
from hakisa.web.draft import rules_of, with_rules  # noqa: E402

MINUTES = 10
HZ = 20
AWAY = [(t, t + 4.0) for t in range(45, MINUTES * 60, 90)]  # the person is in another window: the game pauses


def trap_profile():
    dodge = load_profile("dodge")
    rules = rules_of(dodge.text)
    rules["regions"]["band"] = [0.0, 0.44, 1.0, 0.12]
    rules["extractors"]["dialog"] = {"kind": "color", "region": "playfield", "color": list(DIALOG_BG), "tolerance": 10}
    rules["extractors"]["title"] = {"kind": "color", "region": "playfield", "color": list(TITLE_BG), "tolerance": 10}
    rules["extractors"]["paused"] = {"kind": "color", "region": "band", "color": list(PAUSE_BAND), "tolerance": 30}
    rules["done"] = {"any": ["dialog >= 0.2", "title >= 0.5"]}
    rules["pause"] = {"any": ["paused >= 0.5"]}
    rules["rises"] = ["score"]
    text = with_rules(dodge.text, rules) + '\n[pause]\nkeys = ["p"]\non_focus_loss = "keep"\n'
    return parse_profile(text, source="traps.toml", base_dir=dodge.base_dir)


class Person:
    """Plays as the demonstrator; on a pause, a dialog or the title screen waits half a second, then presses
    P (unpause), Y (continue) or ENTER, as a person would."""

    def __init__(self, game, tracker, clock):
        self.game, self.tracker, self.clock = game, tracker, clock
        self.play = PolicyPlayer(game, DemoPolicy("dodge", seed=11), tracker, clock)
        self.waited, self.pressing = 0, None

    def _key(self, key: str, down: bool) -> None:
        (self.tracker.key_down if down else self.tracker.key_up)(key, self.clock.now())

    def __call__(self) -> GameInput:
        g = self.game
        if not (g.paused or g.screen != "play"):
            return self.play()
        for k in sorted(self.play.held):  # let go of everything first
            self._key(k, False)
        self.play.held = set()
        if self.pressing is not None:
            key, self.pressing = self.pressing, None
            self._key(key, False)
            return GameInput()
        self.waited += 1
        if self.waited < 30:
            return GameInput()
        self.waited = 0
        key = "p" if g.paused else ("y" if g.screen == "continue" else "enter")
        self._key(key, True)
        self.pressing = key
        return GameInput(frozenset({key}))


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    profile = trap_profile()
    game, clock, log = make_game("dodge", seed=11, size=(320, 180)), VirtualClock(), {}
    game.pausable = game.menus = True
    grab, period = HeadlessFrameSource.grab, 1.0 / HZ
    away = {"ticks": 0}

    def logged(self, rect):
        frame = grab(self, rect)
        log[round(clock.now() / period)] = self.game.state()  # the tick this grab is stored as
        return frame

    def focused(self):
        if any(a <= clock.now() < b for a, b in AWAY):
            self.game.paused = True  # the game pauses itself when its window loses focus
            away["ticks"] += 1
            return False
        return True

    path = tmp_path_factory.mktemp("traps") / "traps.h5"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(HeadlessFrameSource, "grab", logged)
        mp.setattr(HeadlessFrameSource, "focused", focused)
        stats = record_headless(game, profile, path, MINUTES * 60, lambda t: Person(game, t, clock),
                                frames_per_grab=3, clock=clock, force=True)
    return path, log, stats, away["ticks"]


def test_ten_minutes_with_pauses_and_continues_give_no_false_game_over(recording):
    path, log, stats, away = recording
    ticks = sorted(log)
    dialogs = sum(1 for a, b in zip(ticks, ticks[1:]) if log[b]["screen"] == "continue" != log[a]["screen"])
    paused_grabs = sum(1 for t in ticks if log[t]["paused"])
    assert away > 0 and paused_grabs > 0 and stats.paused > 0  # the game really paused, and the recorder saw it
    assert dialogs >= 3  # and really ended games
    ends, stale = [], 0
    with DatasetReader(path) as r:
        score = r.extractors.index("score")
        for name in r.episode_names():
            ep = r.load(name, frames=False)
            stale += sum(v > log[t]["score"] for v, t in zip(ep["readings"][:, score], ep["tick"]))  # an old score shown
            assert not any(log[t]["paused"] for t in ep["tick"]), "a paused frame was stored"
            assert not any(log[t]["game_over"] for t in ep["tick"][:-1]), "a game-over frame was stored as play"
            for i in np.flatnonzero(ep["terminations"]):
                ends.append(log[ep["tick"][i + 1]]["screen"])
            for i in np.flatnonzero(ep["rewards"] < 0):
                before, after = log[ep["tick"][i]], log[ep["tick"][i + 1]]
                assert after["lives"] < before["lives"], (name, i, float(ep["rewards"][i]), before["score"],
                                                          after["score"])
    assert ends == ["continue"] * dialogs  # every game over, and nothing else, ended an episode
    assert stale > 0  # the late score reset was played through, and cost nothing


# ----- a palette that changes during play ---------------------------------------------------------------------

NAIVE_DARK = {"kind": "color", "region": "playfield", "color": [50, 50, 50], "tolerance": 60}  # "the screen went dark"


def test_ten_minutes_of_day_and_night_give_no_false_game_over(tmp_path):
    """The bundled runner with ``day_night``: its world fades to night and back every minute. The bundled profile
    reads game over by the game-over screen's own colour, which no night matches; a first try at "the screen
    went dark" would end every night as a game over."""
    from hakisa.screen.rules import RuleEngine

    runner = load_profile("runner")
    rules = rules_of(runner.text)
    rules["extractors"]["dark"] = NAIVE_DARK
    naive = parse_profile(with_rules(runner.text, rules), base_dir=runner.base_dir)
    game, clock, log = make_game("runner", seed=5, size=(320, 180)), VirtualClock(), {}
    game.day_night = True
    grab, period, first_try = HeadlessFrameSource.grab, 1.0 / HZ, RuleEngine(naive, "rgb")

    def logged(self, rect):
        frame = grab(self, rect)
        log[round(clock.now() / period)] = (self.game.state(), first_try.extract(frame, clock.now()))
        return frame

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(HeadlessFrameSource, "grab", logged)
        record_headless(game, runner, tmp_path / "night.h5", MINUTES * 60,
                        lambda t: PolicyPlayer(game, DemoPolicy("runner", seed=5), t, clock), frames_per_grab=3,
                        clock=clock, force=True)
    ticks = sorted(log)
    overs = sum(1 for a, b in zip(ticks, ticks[1:]) if log[b][0]["game_over"] and not log[a][0]["game_over"])
    night_play = [log[t][1]["dark"] >= 0.5 for t in ticks if log[t][0]["night"] == 1 and not log[t][0]["game_over"]]
    assert len(night_play) > MINUTES * 60 * HZ // 4  # about half of the ten minutes was night
    assert np.mean(night_play) > 0.9  # where the first try would have ended the game
    ends = []
    with DatasetReader(tmp_path / "night.h5") as r:
        for name in r.episode_names():
            ep = r.load(name, frames=False)
            assert not any(log[t][0]["game_over"] for t in ep["tick"][:-1])
            ends += [log[ep["tick"][i + 1]][0]["game_over"] for i in np.flatnonzero(ep["terminations"])]
    assert overs >= 2 and ends == [True] * overs
