"""The agent loop on headless bundled games (same loop as `hakisa play` / `explore`, no display needed),
and the screen rules it reads reward and done with."""

from __future__ import annotations

import math
import os
import threading
import time

import numpy as np
import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from hakisa.act.agent import Agent  # noqa: E402
from hakisa.codec import ActionCodec  # noqa: E402
from hakisa.data.dataset import ACTORS, DatasetReader, DatasetWriter  # noqa: E402
from hakisa.errors import ProfileError  # noqa: E402
from hakisa.games import make_game  # noqa: E402
from hakisa.games.source import GameActuator, HeadlessFrameSource  # noqa: E402
from hakisa.act.loop import AgentLoop, AgentPolicy, Schedule  # noqa: E402
from hakisa.learn.model import ModelConfig, QNetwork  # noqa: E402
from hakisa.profile import load_profile, parse_profile  # noqa: E402
from hakisa.record.recorder import VirtualClock  # noqa: E402
from hakisa.screen.rules import RuleEngine  # noqa: E402

DODGE = load_profile("dodge")


def make_loop(tmp_path, profile=DODGE, seed=0, schedule=None, source_cls=HeadlessFrameSource, record=True, **kw):
    game = make_game("dodge", seed=seed, size=(320, 180))
    codec = ActionCodec(profile.actions, game.size)
    cfg = ModelConfig(frame_shape=profile.capture.frame_shape, n_command=codec.n_command,
                      n_action_1=codec.n_action_1, n_action_2=codec.n_action_2, channels=(8, 8), hidden=16)
    act = GameActuator()
    src = source_cls(game, act, 3)
    writer = DatasetWriter(tmp_path / "play.h5", profile, codec, source="explore") if record else None
    loop = AgentLoop(profile, src, act, AgentPolicy(Agent(QNetwork(cfg), codec), schedule, seed=seed), codec,
                     writer=writer, clock=VirtualClock(), **kw)
    return loop, act, writer, game


def test_explore_plays_episodes_and_records_who_chose_each_action(tmp_path):
    loop, act, writer, game = make_loop(tmp_path, schedule=Schedule(1.0, 0.0, 300), max_episodes=2)
    stats = loop.run()
    writer.close()
    assert stats.stop_reason == "2 episodes played"
    assert [r.status for r in stats.episodes] == ["terminated", "terminated"]
    assert game.episode >= 1  # the reset sequence (or the game) started a second game
    with DatasetReader(tmp_path / "play.h5") as r:
        eps = [r.load(n) for n in r.episode_names()]
        assert r.source == "explore"
    actors = np.concatenate([e["actor"] for e in eps])
    assert set(actors) == {ACTORS.index("agent_greedy"), ACTORS.index("agent_random")}
    first = eps[0]["actor"][:100]
    assert (first == ACTORS.index("agent_random")).mean() > 0.5  # epsilon starts at 1 and decays
    assert np.isfinite(np.concatenate([e["q_value"] for e in eps])).all()
    # rewards are read from the screen: -1 per life lost, +1 per invader shot
    for e, res in zip(eps, stats.episodes):
        assert e["terminations"][-1] and len(e["command_type"]) == res.steps
        assert math.isclose(float(e["rewards"].sum()), res.reward, abs_tol=1e-4)
        assert math.isclose(res.reward, res.score / 10 - 3, abs_tol=0.05)
    assert act.held == frozenset()  # released at the end


def test_watcher_feedback_is_credited_to_the_steps_before_the_press(tmp_path):
    loop, act, writer, game = make_loop(tmp_path, max_steps=120)
    fb = DODGE.feedback
    pressed = []

    def on_tick(stats):
        if stats.actions == 80:  # 4 s in: "good" for the last window of play
            t = loop.clock.now()
            pressed.append(t)
            loop.feedback(+1, t)

    loop.on_tick = on_tick
    stats = loop.run()
    writer.close()
    with DatasetReader(tmp_path / "play.h5") as r:
        ep = r.load(r.episode_names()[0])
    human = ep["reward_human"]
    t_state = ep["obs_time"][:-1]
    credited = human != 0
    assert math.isclose(float(human.sum()), fb.value, rel_tol=1e-5)
    lo, hi = pressed[0] - fb.delay - fb.window, pressed[0] - fb.delay
    assert ((t_state[credited] >= lo - 1e-9) & (t_state[credited] <= hi + 1e-9)).all()
    assert credited.sum() == pytest.approx(fb.window * DODGE.capture.tick_hz, abs=2)
    # the stored total is the screen's reward plus the watchers' part
    screen = float((ep["rewards"] - human).sum())
    assert math.isclose(screen, stats.episodes[0].reward, abs_tol=1e-4)
    assert math.isclose(float(ep["rewards"].sum()), stats.episodes[0].reward + fb.value, abs_tol=1e-4)


class UnfocusedSource(HeadlessFrameSource):
    def focused(self) -> bool:
        return False


def test_nothing_is_sent_while_another_window_has_focus(tmp_path):
    loop, act, writer, game = make_loop(tmp_path, source_cls=UnfocusedSource, record=False, max_seconds=3)
    stats = loop.run()
    assert act.applied == 0 and stats.actions == 0 and stats.paused_ticks > 50


def test_stop_from_another_thread_ends_at_once_and_releases_keys(tmp_path):
    loop, act, writer, game = make_loop(tmp_path, record=False, tick_hz=None)
    loop.clock = __import__("hakisa.record.recorder", fromlist=["RealClock"]).RealClock()
    timer = threading.Timer(0.5, loop.stop, args=("kill switch (f12)",))
    timer.start()
    t0 = time.monotonic()
    stats = loop.run()
    assert time.monotonic() - t0 < 2.0 and stats.stop_reason == "kill switch (f12)"
    assert stats.actions > 0 and act.held == frozenset()


def test_actions_per_minute_cap(tmp_path):
    text = DODGE.text.replace('kill_switch = "f12"', 'kill_switch = "f12"\nmax_apm = 60')
    profile = parse_profile(text, base_dir=DODGE.base_dir)
    loop, act, writer, game = make_loop(tmp_path, profile=profile, schedule=Schedule(1.0, 1.0), record=False,
                                        max_seconds=30)
    stats = loop.run()
    assert stats.capped > 0
    assert stats.changes == 60  # the whole minute's allowance, and no more, in 30 s


# ----------------------------------------------------------------- screen rules

@pytest.mark.parametrize("size", [(320, 180), (640, 360), (1280, 720)])
def test_digits_read_the_bundled_games_score_and_lives(size):
    eng = RuleEngine(DODGE, "rgb")
    game = make_game("dodge", size=size)
    for score in [0, 10, 90, 120, 1050, 33330, 4567890]:
        for lives in (3, 1):
            game.score, game.lives = score, lives
            v = eng.extract(game.render())
            assert v["score"] == score and round(v["lives"] * 8.75) == lives


def test_digits_are_nan_when_there_is_no_number():
    eng = RuleEngine(DODGE, "rgb")
    game = make_game("dodge")
    game.lives = 0
    game.game_over = True
    v = eng.extract(game.render())
    assert math.isnan(v["score"]) and v["game_over"] > 0.9 and eng.done(v)
    assert eng.reward({"score": 20.0, "lives": 0.1, "game_over": 0.0}, v) == pytest.approx(-0.875, abs=1e-3)


def test_image_and_stuck_extractors(tmp_path):
    import cv2

    game = make_game("dodge")
    game.lives = 0
    game.game_over = True
    over = game.render()
    cv2.imwrite(str(tmp_path / "over.png"), cv2.cvtColor(over[110:160, 220:420], cv2.COLOR_RGB2GRAY))
    text = f'''
[game]
name = "t"
[window]
title = "x"
[actions]
keys = ["left"]
[rules.regions]
middle = [0.2, 0.2, 0.6, 0.6]
[rules.extractors.banner]
kind = "image"
region = "middle"
image = "over.png"
[rules.extractors.frozen]
kind = "stuck"
region = "middle"
[rules.done]
any = ["banner >= 0.9", "frozen >= 5"]
'''
    profile = parse_profile(text, base_dir=str(tmp_path))
    eng = RuleEngine(profile, "rgb")
    assert eng.extract(over, now=0.0)["banner"] > 0.99
    playing = make_game("dodge")
    v = eng.extract(playing.render(), now=1.0)
    assert v["banner"] < 0.5 and v["frozen"] == 0.0
    assert eng.extract(playing.render(), now=7.0)["frozen"] == pytest.approx(6.0)  # unchanged for 6 s
    for _ in range(120):
        playing.step()
    assert eng.extract(playing.render(), now=8.0)["frozen"] == 0.0  # it moved


def test_bad_rules_are_refused_with_the_field_named(tmp_path):
    base = DODGE.text
    with pytest.raises(ProfileError, match="rules.extractors.score.region.*'nowhere'.*playfield"):
        parse_profile(base.replace('region = "score"', 'region = "nowhere"'))
    with pytest.raises(ProfileError, match="glyphs"):
        parse_profile(base.replace('"1" = "', '"1" = "2'))
    with pytest.raises(ProfileError, match="rules.score"):
        parse_profile(base.replace('score = "score"', 'score = "points"'))
    with pytest.raises(ProfileError, match="feedback.good.*no other job"):
        parse_profile(base.replace('good = "f9"', 'good = "space"'))
    text = base.replace('kind = "digits"', 'kind = "image"\nimage = "missing.png"')
    text = text[:text.index("color = [255, 255, 255]")] + text[text.index("[rules.reward]"):]
    with pytest.raises(ProfileError, match="missing.png"):
        RuleEngine(parse_profile(text, base_dir=str(tmp_path)))
