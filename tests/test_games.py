"""Headless tests of the bundled demo games and their scripted policies."""

import os

os.environ["SDL_VIDEODRIVER"] = "dummy"
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import hashlib  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hakisa.games import GAMES, NO_INPUT, GameInput, make_game  # noqa: E402
from hakisa.games.base import AUTO_RESTART_FRAMES, GAME_OVER_BG, RESTART_MIN_FRAMES  # noqa: E402
from hakisa.games.policy import DemoPolicy, RandomPolicy, play_episodes  # noqa: E402

KEYS = GameInput(frozenset({"enter"}))


def scripted_inputs(name: str, n: int, seed: int = 5, size=(640, 360)) -> list[GameInput]:
    """A fixed pseudo-random input sequence for ``name``."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        if name == "dodge":
            keys = {k for k in ("left", "right", "space") if rng.random() < 0.4}
            out.append(GameInput(frozenset(keys)))
        else:
            x, y = int(rng.integers(size[0])), int(rng.integers(size[1]))
            clicks = (("left", x, y),) if rng.random() < 0.2 else ()
            out.append(GameInput(frozenset(), (x, y), clicks))
    return out


def play(game, inputs):
    """Step ``game`` through ``inputs``; digest of rendered frames every 50 steps."""
    digest = hashlib.sha256()
    for i, inp in enumerate(inputs):
        game.step(inp)
        if i % 50 == 0:
            digest.update(game.render().tobytes())
    return digest.hexdigest(), game.score, game.lives, json.dumps(game.state(), sort_keys=True)


def step_until(game, cond, inp=NO_INPUT, limit=20000):
    for _ in range(limit):
        if cond(game):
            return
        game.step(inp)
    raise AssertionError("condition never reached")


@pytest.mark.parametrize("name", ["dodge", "clicker"])
def test_determinism(name):
    inputs = scripted_inputs(name, 900)
    a = play(make_game(name, seed=3), inputs)
    b = play(make_game(name, seed=3), inputs)
    c = play(make_game(name, seed=4), inputs)
    assert a == b
    assert a[3] != c[3]  # another seed gives another world


@pytest.mark.parametrize("name", ["dodge", "clicker"])
def test_render_shape_and_nearest_scaling(name):
    small, big = make_game(name, seed=1, size=(640, 360)), make_game(name, seed=1, size=(1280, 720))
    for inp in scripted_inputs(name, 200, size=(640, 360)):
        small.step(inp)
        big.step(GameInput(inp.held, inp.mouse and (inp.mouse[0] * 2, inp.mouse[1] * 2),
                           tuple((b, x * 2, y * 2) for b, x, y in inp.clicks)))
    a, b = small.render(), big.render()
    assert a.shape == (360, 640, 3) and b.shape == (720, 1280, 3)
    assert a.dtype == np.uint8 and b.dtype == np.uint8
    assert len(np.unique(a.reshape(-1, 3), axis=0)) > 3  # not a blank frame
    assert np.array_equal(b, a.repeat(2, axis=0).repeat(2, axis=1))  # same pixels, scaled
    sa, sb = small.state(), big.state()
    assert sb["size"] == [1280, 720] and sa["size"] == [640, 360]
    json.dumps(sb)


def test_make_game_unknown_name():
    with pytest.raises(ValueError, match="dodge"):
        make_game("pong")
    assert set(GAMES) >= {"dodge", "clicker"}


def test_dodge_holding_right_and_left_moves_ship():
    g = make_game("dodge", seed=0)
    x0 = g.state()["ship"]["x"]
    for _ in range(10):
        g.step(GameInput(frozenset({"right"})))
    x1 = g.state()["ship"]["x"]
    assert x1 > x0 + 40  # several window px per frame
    for _ in range(5):
        g.step(NO_INPUT)
    assert g.state()["ship"]["x"] == x1
    for _ in range(400):
        g.step(GameInput(frozenset({"left"})))
    assert g.state()["ship"]["x"] == pytest.approx(g.state()["ship"]["w"] / 2)  # clamped at the wall


def test_dodge_firing_and_hitting_scores():
    g = make_game("dodge", seed=0)
    g.spawn_timer = 10**9  # no random spawns
    g.enemies = [{"id": 99, "kind": "invader", "x": g.ship_x, "y": 60.0, "vx": 0.0, "vy": 0.2, "s": 12}]
    for _ in range(5):
        g.step(NO_INPUT)
    assert g.score == 0 and len(g.enemies) == 1
    for _ in range(40):
        g.step(GameInput(frozenset({"space"})))
    assert g.score == 10 and g.enemies == [] and g.lives == 3
    # a rock absorbs bullets and is not worth anything
    g.enemies = [{"id": 100, "kind": "rock", "x": g.ship_x, "y": 60.0, "vx": 0.0, "vy": 0.0, "s": 14}]
    for _ in range(40):
        g.step(GameInput(frozenset({"space"})))
    assert g.score == 10 and len(g.enemies) == 1


def test_dodge_game_over_screen_and_restart():
    g = make_game("dodge", seed=2)
    step_until(g, lambda g: g.game_over)  # nobody shoots: invaders reach the bottom
    assert g.lives == 0 and g.episode == 0
    final = g.score
    frame = g.render()
    red = np.all(frame == np.array(GAME_OVER_BG, np.uint8), axis=2).mean()
    assert red > 0.7  # a clearly distinct, mostly dark-red screen
    g.step(KEYS)  # too early: ignored
    for _ in range(RESTART_MIN_FRAMES - 2):
        g.step(NO_INPUT)
    assert g.game_over and g.score == final and np.array_equal(g.render(), frame)
    g.step(NO_INPUT)
    g.step(KEYS)
    assert not g.game_over and g.episode == 1 and g.score == 0 and g.lives == 3
    assert np.all(g.render() == np.array(GAME_OVER_BG, np.uint8), axis=2).mean() < 0.05
    # unattended: restarts by itself; a key held throughout does not count as a press
    step_until(g, lambda g: g.game_over, KEYS)
    step_until(g, lambda g: not g.game_over, KEYS, limit=AUTO_RESTART_FRAMES + 1)
    assert g.episode == 2 and g.over_frames == 0


def test_clicker_click_on_target_scores_and_expiry_costs_life():
    g = make_game("clicker", seed=0, size=(1280, 720))
    step_until(g, lambda g: g.targets)
    t = g.state()["targets"][0]
    g.step(GameInput(frozenset(), (int(t["x"]) + 400, int(t["y"])), (("left", int(t["x"]) + 400, int(t["y"])),)))
    g.step(GameInput(frozenset(), None, (("right", int(t["x"]), int(t["y"])),)))
    assert g.score == 0
    g.step(GameInput(frozenset(), (int(t["x"]), int(t["y"])), (("left", int(t["x"]), int(t["y"])),)))
    assert g.score in (10, 15)
    assert t["id"] not in [u["id"] for u in g.state()["targets"]]
    step_until(g, lambda g: g.lives < 3)  # unclicked targets shrink away
    step_until(g, lambda g: g.game_over)
    assert np.all(g.render() == np.array(GAME_OVER_BG, np.uint8), axis=2).mean() > 0.7
    for _ in range(RESTART_MIN_FRAMES):
        g.step(KEYS)  # keys do not restart the mouse game
    g.step(GameInput(frozenset(), (5, 5), (("left", 5, 5),)))
    assert not g.game_over and g.episode == 1 and g.lives == 3


@pytest.mark.parametrize("name, floor", [("dodge", 200), ("clicker", 300)])
def test_demo_policy_beats_random(name, floor):
    demo = [s for s, _ in play_episodes(name, "demo", episodes=2, seed=11)]
    rand = [s for s, _ in play_episodes(name, "random", episodes=2, seed=11)]
    assert min(demo) >= floor
    assert np.mean(demo) > 5 * np.mean(rand) + 50


def test_demo_policy_is_human_like():
    # dodge: keys held for realistic stretches, not flickered every frame
    g, p = make_game("dodge", seed=4), DemoPolicy("dodge", seed=4)
    prev, presses, short = frozenset(), 0, 0
    since: dict[str, int] = {}
    for f in range(3000):
        inp = p.act(g.state())
        g.step(inp)
        presses += len(inp.held - prev)
        since.update({k: f for k in inp.held - prev})
        short += sum(f - since[k] <= 2 for k in prev - inp.held)
        prev = inp.held
    assert 0 < presses < 3000 / 60 * 6 and short <= presses * 0.1
    # clicker: the hand moves a bounded distance per frame, clicks at most ~3 per second
    g, p = make_game("clicker", seed=4), DemoPolicy("clicker", seed=4)
    last, clicks, jumps = None, [], []
    for f in range(1800):
        inp = p.act(g.state())
        g.step(inp)
        if last is not None:
            jumps.append(np.hypot(inp.mouse[0] - last[0], inp.mouse[1] - last[1]))
        last = inp.mouse
        clicks += [f] * len(inp.clicks)
    assert max(jumps) < 100 and np.percentile(jumps, 95) <= 20 and len(clicks) > 10
    assert min(np.diff(clicks)) >= 20


def test_demo_policy_reacts_with_delay():
    g = make_game("clicker", seed=6)
    p = DemoPolicy("clicker", seed=6, reaction_frames=9, mistake_rate=0.0)
    step_until(g, lambda g: g.targets)
    first = g.frame
    pos0 = p.act(g.state()).mouse
    for _ in range(8):
        g.step(GameInput(frozenset(), pos0))
        assert p.act(g.state()).mouse == pos0  # has not noticed the target yet
    moved = False
    for _ in range(5):
        g.step(GameInput(frozenset(), pos0))
        moved |= p.act(g.state()).mouse != pos0
    assert moved and g.frame - first < 20


def test_random_policy_inputs_are_allowed():
    for name in ("dodge", "clicker"):
        g, p = make_game(name, seed=1), RandomPolicy(name, seed=1)
        for _ in range(300):
            inp = p.act(g.state())
            assert inp.held <= {"left", "right", "space", "enter"}
            g.step(inp)


def test_window_runs_and_logs(tmp_path):
    log = tmp_path / "frames.jsonl"
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "hakisa.games", "dodge", "--size", "320x180",
                    "--log", str(log), "--seconds", "0.5", "--seed", "3"],
                   check=True, env=env, cwd=ROOT, timeout=60)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(lines) >= 5
    assert [line["frame"] for line in lines] == list(range(1, len(lines) + 1))
    assert {"t", "frame", "episode", "score", "lives", "game_over", "state"} <= set(lines[0])
    assert lines[0]["state"]["size"] == [320, 180] and "ship" in lines[0]["state"]
