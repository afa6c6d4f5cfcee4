"""The game suite: every bundled game is registered everywhere, deterministic, read correctly by its
profile's screen rules, and played far better by its demonstrator than at random; the mechanics of
bricks, runner and gems; and (under Xvfb) each new game in a real window."""

import os

os.environ["SDL_VIDEODRIVER"] = "dummy"
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import hashlib  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hakisa import BUNDLED_GAMES  # noqa: E402
from hakisa.games import GAMES, NO_INPUT, GameInput, make_game  # noqa: E402
from hakisa.games.base import GAME_OVER_BG, LOGICAL_W, RESTART_MIN_FRAMES  # noqa: E402
from hakisa.games.policy import (  # noqa: E402
    POLICY_GAMES, DemoPolicy, RandomPolicy, make_policy, play_episodes,
)
from hakisa.profile import bundled_profiles, load_profile  # noqa: E402
from hakisa.screen.rules import RuleEngine  # noqa: E402

NEW = ["bricks", "runner", "gems"]
KEYS = {"dodge": ("left", "right", "space"), "bricks": ("left", "right", "space"),
        "runner": ("space", "down"), "gems": ("left", "right", "up", "down")}


def scripted_inputs(name: str, n: int, seed: int = 5) -> list[GameInput]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        held = {k for k in KEYS[name] if rng.random() < 0.4}
        if name == "bricks" and rng.random() < 0.9:
            held.discard("space")  # keep the ball in play a while
        out.append(GameInput(frozenset(held)))
    return out


def run(game, inputs, every: int = 50):
    digest = hashlib.sha256()
    for i, inp in enumerate(inputs):
        game.step(inp)
        if i % every == 0:
            digest.update(game.render().tobytes())
    return digest.hexdigest(), json.dumps(game.state(), sort_keys=True)


# ----------------------------------------------------------------- registry and profiles

def test_every_bundled_game_is_registered_everywhere():
    assert set(BUNDLED_GAMES) == set(GAMES) == set(POLICY_GAMES)
    assert set(BUNDLED_GAMES) <= set(bundled_profiles())
    for name in BUNDLED_GAMES:
        profile = load_profile(name)
        assert profile.name == name and profile.window.title == f"^hakisa: {name}"
        assert GAMES[name].name == name
    from hakisa.cli import build_parser

    args = build_parser().parse_args(["play", "--checkpoint", "c.pt", "--headless", "gems"])
    assert args.headless == "gems"


def test_one_set_of_capture_settings_serves_every_game():
    """No per-game learning settings: every bundled profile observes the game the same way."""
    caps = {name: load_profile(name).capture for name in BUNDLED_GAMES}
    assert len({(c.tick_hz, c.frame_width, c.frame_height, c.color, c.region) for c in caps.values()}) == 1


def test_games_run_from_the_command_line_headless():
    r = subprocess.run([sys.executable, "-m", "hakisa.games", "runner", "--headless", "--episodes", "1",
                        "--policy", "random"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0 and "mean score" in r.stdout


# ----------------------------------------------------------------- determinism and pixels

@pytest.mark.parametrize("name", NEW)
def test_determinism_per_seed(name):
    inputs = scripted_inputs(name, 900)
    a = run(make_game(name, seed=3), inputs)
    b = run(make_game(name, seed=3), inputs)
    c = run(make_game(name, seed=4), inputs)
    assert a == b and a[1] != c[1]


@pytest.mark.parametrize("name", NEW)
def test_same_pixels_at_every_size(name):
    small, big = make_game(name, seed=1, size=(640, 360)), make_game(name, seed=1, size=(1280, 720))
    for inp in scripted_inputs(name, 300):
        small.step(inp)
        big.step(inp)
    a, b = small.render(), big.render()
    assert a.shape == (360, 640, 3) and len(np.unique(a.reshape(-1, 3), axis=0)) > 3
    assert np.array_equal(b, a.repeat(2, axis=0).repeat(2, axis=1))
    json.dumps(big.state())


@pytest.mark.parametrize("name", NEW)
def test_demonstrator_episode_is_deterministic_and_fast(name):
    t0 = time.perf_counter()
    a = play_episodes(name, "demo", episodes=1, seed=2, max_frames=3 * 3600)
    assert time.perf_counter() - t0 < 10  # three minutes of game time in seconds
    assert a == play_episodes(name, "demo", episodes=1, seed=2, max_frames=3 * 3600)


# ----------------------------------------------------------------- screen rules against the game's log

def rules_against_log(name: str, seed: int, frames: int, size=(640, 360), every: int = 3):
    """Play the demonstrator (restarting after game overs); every ``every`` frames, read the screen
    with the profile's rules and compare with the game's own state. Returns counters."""
    eng = RuleEngine(load_profile(name), "rgb")
    game, player = make_game(name, seed, size), DemoPolicy(name, seed)
    n = {"reads": 0, "score": 0, "lives": 0, "level": 0, "over": 0, "over_ok": 0, "losses": 0, "drops": 0,
         "drops_logged": 0, "levels": set()}
    before, losses_seen = None, 0
    for f in range(frames):
        game.step(player.act(game.state()))
        if f % every:
            continue
        v = eng.extract(game.render())
        n["reads"] += 1
        if game.game_over:
            n["over"] += 1
            n["over_ok"] += eng.done(v)
            before, losses_seen = None, 0
            continue
        assert not eng.done(v), f"{name}: game over read while playing (frame {game.frame})"
        n["score"] += v["score"] == game.score
        n["lives"] += round(v["lives"] * 8.75) == game.lives
        if "level" in v:
            n["level"] += v["level"] == game.level
            n["levels"].add(game.level)
        if before is not None and round(v["lives"] * 8.75) < round(before["lives"] * 8.75):  # a life lost
            n["drops"] += 1
            n["drops_logged"] += len(game.losses) > losses_seen
        losses_seen = len(game.losses)
        n["losses"] = max(n["losses"], losses_seen)
        before = v
    return n


@pytest.mark.parametrize("name, frames", [("bricks", 9000), ("runner", 9000), ("gems", 9000)])
def test_rules_read_score_lives_level_and_game_over_as_the_game_logs(name, frames):
    n = rules_against_log(name, seed=4, frames=frames)
    playing = n["reads"] - n["over"]
    assert playing > 1000 and n["score"] == playing and n["lives"] == playing
    if name != "runner":
        assert n["level"] == playing
    assert n["drops"] >= 1 and n["drops_logged"] == n["drops"]
    if n["over"]:
        assert n["over_ok"] == n["over"]


@pytest.mark.parametrize("size", [(320, 180), (1280, 720)])
def test_rules_read_gems_on_every_look(size):
    eng = RuleEngine(load_profile("gems"), "rgb")
    g = make_game("gems", seed=0, size=size)
    looks = set()
    for level in range(1, 8):
        g._start_level(level)
        looks.add(g.scheme)
        for score, lives in ((0, 3), (12340, 2), (987650, 1)):
            g.score, g.lives = score, lives
            v = eng.extract(g.render())
            assert (v["score"], round(v["lives"] * 8.75), v["level"], v["game_over"]) == (score, lives, level, 0.0)
    assert len(looks) == 6


def test_every_game_shows_the_same_game_over_screen_and_restarts():
    for name in NEW:
        g = make_game(name, seed=1)
        eng = RuleEngine(load_profile(name), "rgb")
        for _ in range(3):
            g.lose_life("test")
        g.step(NO_INPUT)
        assert g.game_over and [x["cause"] for x in g.state()["losses"]] == ["test"] * 3
        frame = g.render()
        assert np.all(frame == np.array(GAME_OVER_BG, np.uint8), axis=2).mean() > 0.7
        assert eng.done(eng.extract(frame))
        for _ in range(RESTART_MIN_FRAMES):
            g.step(NO_INPUT)
        g.step(GameInput(frozenset({"enter"})))
        assert not g.game_over and g.episode == 1 and g.lives == 3 and g.losses == []


# ----------------------------------------------------------------- scripted players

@pytest.mark.parametrize("name", NEW)
def test_demonstrator_beats_random_by_a_wide_margin(name):
    demo = [s for s, _ in play_episodes(name, "demo", episodes=4, seed=21, max_frames=18000)]
    rand = [s for s, _ in play_episodes(name, "random", episodes=4, seed=21, max_frames=18000)]
    assert min(rand) > 0 or np.mean(rand) >= 10  # random play scores something
    assert np.mean(demo) > 10 * np.mean(rand) and min(demo) > 2 * max(rand)


@pytest.mark.parametrize("name", BUNDLED_GAMES)
def test_one_demonstrator_plays_every_episode_of_a_recording_alike(name):
    """A recording is one player over many episodes. Games number their objects from 0 in every episode, so a
    player that remembered "already jumped obstacle 3" ran into the next episode's obstacle 3: runner's
    demonstrator died within 5 s from its fifth episode on, and studies learnt from a player no better than
    random."""
    demo = [s for s, _ in play_episodes(name, "demo", episodes=6, seed=0, max_frames=18000)]
    rand = [s for s, _ in play_episodes(name, "random", episodes=6, seed=0, max_frames=18000)]
    assert min(demo[3:]) > 3 * max(np.mean(rand), 1.0)


@pytest.mark.parametrize("name", NEW)
def test_demonstrator_is_good_but_imperfect(name):
    lost = 0
    for ep in range(4):
        g, p = make_game(name, seed=50 + ep), DemoPolicy(name, seed=50 + ep)
        while not g.game_over and g.episode_frame < 18000:
            g.step(p.act(g.state()))
        lost += len(g.losses)
        assert g.episode_frame > 1800  # lasts more than 30 s
    assert lost >= 2  # but loses lives


@pytest.mark.parametrize("name", NEW)
def test_demonstrator_holds_keys_like_a_person_and_reacts_late(name):
    g, p = make_game(name, seed=4), DemoPolicy(name, seed=4)
    prev, presses, short = frozenset(), 0, 0
    since: dict[str, int] = {}
    for f in range(3000):
        inp = p.act(g.state())
        g.step(inp)
        presses += len(inp.held - prev)
        since.update({k: f for k in inp.held - prev})
        short += sum(f - since[k] <= 1 for k in prev - inp.held)
        prev = inp.held
    assert 0 < presses < 3000 / 60 * 8 and short <= presses * 0.1
    # nothing happens within the reaction time: the first inputs are empty
    g, p = make_game(name, seed=4), DemoPolicy(name, seed=4, reaction_frames=9)
    assert all(not p.act(g.state()).held for _ in range(9))


@pytest.mark.parametrize("name", NEW)
def test_random_policy_uses_the_games_keys(name):
    g, p = make_game(name, seed=1), RandomPolicy(name, seed=1)
    used = set()
    for _ in range(2000):
        inp = p.act(g.state())
        used |= inp.held
        g.step(inp)
    assert used <= set(KEYS[name]) | {"enter"} and set(KEYS[name]) <= used


def test_make_policy_knows_every_game():
    for name in BUNDLED_GAMES:
        assert make_policy("demo", name).game_name == name
    with pytest.raises(ValueError, match="gems"):
        make_policy("demo", "pong")


# ----------------------------------------------------------------- bricks

def test_bricks_ball_waits_for_the_launch_key_and_breaks_bricks():
    g = make_game("bricks", seed=0)
    for _ in range(300):
        g.step(GameInput(frozenset({"right"})))
    st = g.state()
    assert st["ball"]["attached"] and st["ball"]["x"] == st["paddle"]["x"] and g.score == 0
    assert st["paddle"]["x"] == 640 - st["paddle"]["w"] / 2  # clamped at the wall
    g.step(GameInput(frozenset({"space"})))
    assert not g.state()["ball"]["attached"] and g.state()["ball"]["vy"] < 0
    for _ in range(200):
        g.step(NO_INPUT)
        if g.score:
            break
    assert g.score == 10 and g.bricks_left == 6 * 14 - 1  # the bottom row is worth 10


def test_bricks_losing_the_ball_costs_a_life_and_serves_again():
    g = make_game("bricks", seed=0)
    g.step(GameInput(frozenset({"space"})))
    g.bx, g.by, g.vx, g.vy = 20.0, 150.0, 0.0, 3.0  # falling far from the paddle
    for _ in range(20):
        g.step(NO_INPUT)
    assert g.lives == 2 and g.losses == [{"frame": g.losses[0]["frame"], "cause": "ball lost"}]
    assert g.state()["ball"]["attached"]


def test_bricks_paddle_returns_the_ball_with_an_angle_and_clearing_the_wall_levels_up():
    g = make_game("bricks", seed=0)
    g.step(GameInput(frozenset({"space"})))
    g.bx, g.by, g.vx, g.vy = g.paddle_x + 10, 150.0, 0.0, 2.0  # lands on the paddle's right half
    for _ in range(10):
        g.step(NO_INPUT)
    assert g.vy < 0 and g.vx > 0 and g.lives == 3
    g.bricks = [[False] * 14 for _ in range(6)]
    g.bricks[5][0], g.bricks_left = True, 1
    x, y, w, h = g.brick_rect(5, 0)
    g.bx, g.by, g.vx, g.vy = x + w / 2, y + h + 6, 0.0, -2.0
    for _ in range(10):
        g.step(NO_INPUT)
    assert g.level == 2 and g.bricks_left == 84 and g.score == 10 + 100 and g.state()["ball"]["attached"]


# ----------------------------------------------------------------- runner

def test_runner_jumps_over_a_cactus_and_runs_into_one_standing():
    g = make_game("runner", seed=0)
    g.next_gap = 10**9
    g.obstacles = [{"id": 90, "kind": "cactus", "x": 120.0, "top": 150.0 - 16, "w": 8.0, "h": 16.0}]
    jump_at = None
    for f in range(80):  # jump when the cactus is about an apex-time away
        gap = g.obstacles[0]["x"] - (48 + 12) if g.obstacles else 0
        press = jump_at is None and gap <= g.speed() * (4.0 / 0.28) - (8 + 12) / 2
        jump_at = f if press else jump_at
        g.step(GameInput(frozenset({"space"}) if press else frozenset()))
    assert g.lives == 3 and jump_at is not None and g.score > 0
    g.obstacles = [{"id": 91, "kind": "cactus", "x": 100.0, "top": 150.0 - 16, "w": 8.0, "h": 16.0}]
    for _ in range(40):
        g.step(NO_INPUT)
    assert g.lives == 2 and g.losses[-1]["cause"] == "cactus" and g.obstacles == []


def test_runner_ducks_under_a_high_bird_and_the_world_speeds_up():
    g = make_game("runner", seed=0)
    g.next_gap = 10**9
    bird = {"id": 92, "kind": "bird", "x": 100.0, "top": 150.0 - 23, "w": 14.0, "h": 8.0}
    g.obstacles = [dict(bird)]
    for _ in range(40):
        g.step(GameInput(frozenset({"down"})))
    assert g.lives == 3 and g.state()["runner"]["ducking"]
    g.safe = 0
    g.obstacles = [dict(bird)]
    for _ in range(40):
        g.step(NO_INPUT)
    assert g.lives == 2 and g.losses[-1]["cause"] == "bird"
    slow = g.speed()
    g.episode_frame = 3600 * 2
    assert g.speed() > slow * 1.5


# ----------------------------------------------------------------- gems

def test_gems_collect_score_by_level_and_mines_cost_a_life():
    g = make_game("gems", seed=0)
    g.hazards = []
    gem = g.gems[0]
    g.px, g.py = gem["x"] - 20, gem["y"]
    for _ in range(12):
        g.step(GameInput(frozenset({"right"})))
    assert g.score == 10 and g.collected == 1 and len(g.gems) == 4
    g.safe = 0
    g.hazards = [{"id": 99, "kind": "mine", "x": g.px + 30, "y": g.py, "vx": -1.0, "vy": 0.0}]
    for _ in range(30):
        g.step(NO_INPUT)
    assert g.lives == 2 and g.losses[-1]["cause"] == "mine" and g.safe > 0
    assert (g.px, g.py) == (LOGICAL_W / 2, (16 + 180) / 2)  # back in the middle


def test_gems_every_level_looks_different_and_the_order_changes_per_episode():
    g = make_game("gems", seed=3)
    looks = []
    for _ in range(3):
        shots = []
        while g.level <= 6:
            shots.append((g.scheme, g.render()[40:, :].copy()))
            g.hazards = []
            g.gems = g.gems[:1]
            g.px, g.py = g.gems[0]["x"], g.gems[0]["y"]
            g.collected = 7
            g.step(NO_INPUT)
        assert len({s for s, _ in shots}) == 6
        # the playfield's mean colour differs clearly from level to level
        means = [shot.reshape(-1, 3).mean(axis=0) for _, shot in shots]
        assert min(np.abs(a - b).max() for i, a in enumerate(means) for b in means[i + 1:]) > 8
        looks.append(tuple(s for s, _ in shots))
        g.restart()
    assert len(set(looks)) > 1
    assert g.level == 1 and g.hazards and sum(h["kind"] == "chaser" for h in g.hazards) == 0


# ----------------------------------------------------------------- real windows

@pytest.mark.parametrize("name", NEW)
def test_window_logs_state_and_losses(name, tmp_path):
    log = tmp_path / "frames.jsonl"
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "hakisa.games", name, "--size", "320x180", "--log", str(log),
                    "--seconds", "0.5", "--seed", "3"], check=True, env=env, cwd=ROOT, timeout=60)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(lines) >= 5 and [x["frame"] for x in lines] == list(range(1, len(lines) + 1))
    assert lines[0]["state"]["game"] == name and lines[0]["state"]["losses"] == []


@pytest.mark.display
@pytest.mark.parametrize("name", NEW)
def test_real_window_under_xvfb(name, game_window):
    """The window shows the headless game's pixels; the demonstrator plays it through injected input
    and the profile's rules read what the game logs."""
    from hakisa.live.capture import ScreenGrabber

    g = game_window(name, title=f"hakisa: {name}", seed=4)
    grabber = ScreenGrabber()
    try:
        for _ in range(40):  # nobody plays yet: the window draws what the headless game draws
            before = _last_frame(g.log)
            shot = grabber.grab(g.window.geometry())[:, :, 2::-1]
            after = _last_frame(g.log)
            if before == after:
                break
            time.sleep(0.013)
        headless = make_game(name, seed=4, size=(640, 360))
        frames = {}
        for i in range(after + 2):
            headless.step()
            frames[i + 1] = headless.render()
        assert any(np.array_equal(shot, frames[f]) for f in (after, after + 1) if f in frames)

        eng = RuleEngine(load_profile(name), "bgra")
        demo = subprocess.Popen([sys.executable, str(ROOT / "tools" / "demonstrator.py"), name, "--log",
                                 str(g.log), "--seed", "4", "--title", f"^hakisa: {name}$"], cwd=ROOT)
        reads = []
        try:
            t_end = time.monotonic() + 6
            while time.monotonic() < t_end:
                t0 = time.monotonic()
                v = eng.extract(grabber.grab(g.window.geometry()))
                reads.append((t0, time.monotonic(), v))
                time.sleep(0.05)
        finally:
            demo.terminate()
            demo.wait(5)
    finally:
        grabber.close()
    log = [json.loads(line) for line in g.log.read_text().splitlines()]
    t = np.array([e["t"] for e in log])
    ok = 0
    for t0, t1, v in reads:
        near = [log[i] for i in range(max(0, np.searchsorted(t, t0) - 3), min(len(log), np.searchsorted(t, t1) + 1))]
        ok += any(v["score"] == e["score"] and round(v["lives"] * 8.75) == e["lives"] for e in near)
    assert len(reads) > 40 and ok / len(reads) >= 0.95, f"{ok} of {len(reads)} reads agree"
    assert log[-1]["score"] > 0 and any(PLAYED[name](e["state"], log[0]["state"]) for e in log)


PLAYED = {  # the injected input did something
    "bricks": lambda st, first: not st["ball"]["attached"],
    "runner": lambda st, first: not st["runner"]["on_ground"] or st["runner"]["ducking"],
    "gems": lambda st, first: st["player"]["x"] != first["player"]["x"] or st["player"]["y"] != first["player"]["y"],
}


def _last_frame(log) -> int:
    lines = log.read_text().strip().splitlines()
    return json.loads(lines[-1])["frame"] if lines else 0


def test_suite_baselines_table():
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "bench_suite.py"), "--episodes", "2", "--games",
                        "runner", "gems"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert sum(line.startswith(("runner", "gems")) for line in lines) == 4 and "+-" in lines[-1]


@pytest.mark.parametrize("name", NEW)
def test_gymnasium_env_over_each_new_game(name):
    """The headless env rewards score and lost lives as the screen shows them, until game over."""
    from hakisa.act.env import make_env
    from hakisa.codec import KEY

    env = make_env(name, headless=name, size=(320, 180))
    env.reset(seed=3)
    chords = len(env.codec.chords)
    rng = np.random.default_rng(0)
    lost, scored, done, steps = 0, 0, False, 0
    while not done and steps < 3000:
        _, reward, done, truncated, _ = env.step([KEY, int(rng.integers(chords)), 0])
        lost += reward <= -0.5  # -1 per life (+ what was scored in the same tick)
        scored += reward > 0
        steps += 1
    assert done and lost == 3 and scored >= 1
    env.close()
