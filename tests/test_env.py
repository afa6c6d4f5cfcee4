"""The gymnasium environment over a profile: API conformance, rewards and resets from the screen rules,
masks, focus safety and the kill switch (headless), and one run on a real window under Xvfb."""

from __future__ import annotations

import math
import os
import threading

import numpy as np
import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import gymnasium as gym  # noqa: E402
from gymnasium.utils.env_checker import check_env  # noqa: E402

from hakisa.codec import KEY  # noqa: E402
from hakisa.act.env import HakisaEnv, StopRequested, make_env  # noqa: E402
from hakisa.games import make_game  # noqa: E402
from hakisa.games.source import GameActuator, HeadlessFrameSource  # noqa: E402
from hakisa.profile import load_profile  # noqa: E402
from hakisa.record.recorder import VirtualClock  # noqa: E402

DODGE = load_profile("dodge")


def test_passes_gymnasiums_env_checker():
    env = make_env("dodge", headless="dodge", size=(320, 180))
    check_env(env, skip_render_check=True)
    assert env.observation_space.shape == DODGE.capture.frame_shape
    assert list(env.action_space.nvec) == [env.codec.n_command, env.codec.n_action_1, env.codec.n_action_2]
    env.close()


def test_reset_with_a_seed_restarts_a_headless_game_the_same_way():
    env = make_env("dodge", headless="dodge", size=(320, 180))
    right = env.codec.chord_for(frozenset({"right"}))
    runs = []
    for _ in range(2):
        obs, _ = env.reset(seed=7)
        frames = [obs]
        for _ in range(30):
            frames.append(env.step([KEY, right, 0])[0])
        runs.append(np.stack(frames))
    assert np.array_equal(runs[0], runs[1])
    env.close()


def test_registered_and_rewards_follow_the_screen_until_game_over_then_reset_starts_a_new_game():
    env = gym.make("hakisa/Window-v0", profile="dodge", headless="dodge", size=(320, 180))
    game = env.unwrapped.source.game
    obs, info = env.reset(seed=0)
    assert obs.dtype == np.uint8 and info["score"] == 0
    total, steps, terminated = 0.0, 0, False
    while not terminated:  # doing nothing: invaders reach the ship until the lives run out
        obs, r, terminated, truncated, info = env.step([0, 0, 0])
        total += r
        steps += 1
        assert not truncated and steps < 5000
    assert game.state()["game_over"]
    assert math.isclose(total, game.score / 10 - 3, abs_tol=0.05)  # -1 per life, +1 per 10 points
    with pytest.raises(RuntimeError, match="reset"):
        env.step([0, 0, 0])
    episode = game.episode
    obs, info = env.reset()  # presses the profile's reset sequence until the game-over screen is gone
    assert game.episode == episode + 1 and not game.state()["game_over"]
    assert env.unwrapped.actuator.held == frozenset()
    env.close()


def test_actions_move_the_ship_and_invalid_ones_are_no_ops_flagged_in_info():
    env = make_env("dodge", headless="dodge", size=(320, 180))
    game = env.source.game
    env.reset()
    right = env.codec.chord_for(frozenset({"right"}))
    x0 = game.state()["ship"]["x"]
    for _ in range(5):
        _, _, _, _, info = env.step([KEY, right, 0])
        assert not info["invalid_action"]
    assert game.state()["ship"]["x"] > x0 and env.actuator.held == frozenset({"right"})
    _, _, _, _, info = env.step([KEY, env.codec.n_action_1 + 3, 0])
    assert info["invalid_action"] and env.actuator.held == frozenset()
    m = info["action_mask"]
    assert m["command"].shape == (env.codec.n_command,) and m["action_1"].shape == (env.codec.n_command,
                                                                                      env.codec.n_action_1)
    flat = env.action_masks()
    assert flat.shape == (int(env.action_space.nvec.sum()),) and flat[0]  # no-op is always valid
    env.close()


class FocusSwitch(HeadlessFrameSource):
    has_focus = True

    def focused(self) -> bool:
        return self.has_focus


def test_losing_focus_releases_everything_sends_nothing_and_truncates():
    game = make_game("dodge", size=(320, 180))
    act = GameActuator()
    src = FocusSwitch(game, act, 3)
    env = HakisaEnv(DODGE, src, act, clock=VirtualClock(), focus_wait=0.2)
    env.reset()
    right = env.codec.chord_for(frozenset({"right"}))
    env.step([KEY, right, 0])
    assert act.held == frozenset({"right"})
    src.has_focus = False
    applied = act.applied
    _, r, terminated, truncated, info = env.step([KEY, right, 0])
    assert truncated and not terminated and info["focus_lost"] and r == 0.0
    assert act.applied == applied and act.held == frozenset()
    with pytest.raises(Exception, match="focus"):
        env.reset()  # still unfocused after focus_wait: a clear error
    src.has_focus = True
    env.reset()
    env.close()


def test_stop_ends_the_step_in_progress_and_releases_keys():
    game = make_game("dodge", size=(320, 180))
    act = GameActuator()
    env = HakisaEnv(DODGE, HeadlessFrameSource(game, act, 3), act, tick_hz=2)  # real clock, 0.5 s per step
    env.reset()
    right = env.codec.chord_for(frozenset({"right"}))
    threading.Timer(0.1, env.stop, args=("kill switch (f12)",)).start()
    with pytest.raises(StopRequested, match="f12"):
        for _ in range(10):
            env.step([KEY, right, 0])
    assert act.held == frozenset()
    env.close()


@pytest.mark.display
def test_env_drives_a_real_window_under_xvfb(game_window):
    g = game_window("dodge", title="hakisa: dodge", seed=2)
    env = make_env("dodge", wait=10)
    try:
        obs, info = env.reset()
        assert obs.shape == DODGE.capture.frame_shape and info["score"] == 0
        right = env.codec.chord_for(frozenset({"right"}))
        for _ in range(20):
            obs, r, terminated, truncated, info = env.step([KEY, right, 0])
            assert not truncated
    finally:
        env.close()
        del env
        import gc

        gc.collect()  # pynput's controllers close their X connections while the server is still up
    from tests.test_live_play import keys_down

    assert keys_down() == []  # released on close
    import json

    log = [json.loads(line) for line in g.log.read_text().splitlines() if line.strip()]
    xs = [rec["state"]["ship"]["x"] for rec in log]
    assert max(xs) > xs[0] + 20, "the ship never moved right: the key did not reach the game"
