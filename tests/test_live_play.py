"""`hakisa play` / `explore` on real windows under Xvfb: rules read what the game logs, the kill switch,
focus safety, and clear errors. Input is injected through the OS and checked by asking the X server."""

from __future__ import annotations

import json
import sys
import subprocess
import time

import numpy as np
import pytest

from tests.conftest import ROOT, hakisa_cmd

pytestmark = pytest.mark.display


@pytest.fixture(scope="module")
def dodge_checkpoint(tmp_path_factory):
    """A quickly studied checkpoint for the bundled dodge profile (it holds keys most of the time)."""
    import os

    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    from hakisa.games import make_game
    from hakisa.games.policy import make_policy
    from hakisa.games.source import PolicyPlayer, record_headless
    from hakisa.profile import load_profile
    from hakisa.record.recorder import VirtualClock
    from hakisa.learn.study import StudyConfig, study

    d = tmp_path_factory.mktemp("ckpt")
    profile = load_profile("dodge")
    game = make_game("dodge", seed=0, size=(640, 360))
    clock = VirtualClock()
    record_headless(game, profile, d / "demo.h5", 30,
                    lambda tr: PolicyPlayer(game, make_policy("demo", "dodge", seed=0), tr, clock), 3, clock=clock)
    out = d / "dodge.pt"
    # the margin loss: these tests drive real input and need a clone that holds keys after only 20 updates, as
    # that loss's clone does (the cross-entropy default fits the human's 20% of idling from the start)
    study(profile, [str(d / "demo.h5")], out, StudyConfig(steps=20, batch_size=16, eval_every=20, channels=(16, 16),
                                                          hidden=32, imitation="margin"), progress=False,
          log=lambda m: None)
    return out


def keys_down() -> list[int]:
    """Keycodes the X server says are down now."""
    from Xlib import display

    d = display.Display()
    try:
        keymap = d.query_keymap()
        return [i * 8 + b for i, byte in enumerate(keymap) for b in range(8) if byte >> b & 1]
    finally:
        d.close()


def buttons_down() -> int:
    from Xlib import X, display

    d = display.Display()
    try:
        return d.screen().root.query_pointer().mask & (X.Button1Mask | X.Button2Mask | X.Button3Mask)
    finally:
        d.close()


def start_play(ckpt, *extra) -> subprocess.Popen:
    return subprocess.Popen(hakisa_cmd("play", "--checkpoint", str(ckpt), *extra), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_rules_read_the_score_and_lives_the_game_logs(game_window):
    """The profile's screen rules agree with the game's own log on >= 99% of ticks (demonstrator playing)."""
    from hakisa.live.capture import ScreenGrabber
    from hakisa.profile import load_profile
    from hakisa.screen.rules import RuleEngine

    profile = load_profile("dodge")
    g = game_window("dodge", title="hakisa: dodge", seed=4)
    demo = subprocess.Popen([sys.executable, str(ROOT / "tools" / "demonstrator.py"),
                             "dodge", "--log", str(g.log), "--seed", "4"], cwd=ROOT)
    try:
        time.sleep(1.0)
        eng = RuleEngine(profile, "bgra")
        grab = ScreenGrabber()
        reads = []
        t_end = time.monotonic() + 12
        while time.monotonic() < t_end:
            rect = g.window.geometry()
            t0 = time.monotonic()
            v = eng.extract(grab.grab(rect))
            reads.append((t0, time.monotonic(), v))
            time.sleep(0.05)
        grab.close()
    finally:
        demo.terminate()
        demo.wait(5)
    log = [json.loads(line) for line in g.log.read_text().splitlines()]
    t = np.array([e["t"] for e in log])
    ok = 0
    playing = 0
    for t0, t1, v in reads:
        # the frame on screen during the grab was logged shortly before it
        near = [log[i] for i in range(max(0, np.searchsorted(t, t0) - 3), min(len(log), np.searchsorted(t, t1) + 1))]
        if all(e["game_over"] for e in near):
            continue
        playing += 1
        ok += any(v["score"] == e["score"] and round(v["lives"] * 8.75) == e["lives"] for e in near)
    scores = {e["score"] for e in log}
    assert playing > 150 and max(scores) > 0
    assert ok / playing >= 0.99, f"{ok} of {playing} ticks agree"


def test_kill_switch_stops_within_200ms_with_nothing_held(game_window, dodge_checkpoint, tmp_path):
    """Released within 200 ms of F12 and exited within 2 s: generous bounds for loaded CI machines (the
    requirement is 50 ms and 500 ms; tools/bench_killswitch.py measures the real figures)."""
    game_window("dodge", title="hakisa: dodge")
    p = start_play(dodge_checkpoint, "--focus", "--record", str(tmp_path / "p.h5"))
    try:
        deadline = time.monotonic() + 30
        while not keys_down() and time.monotonic() < deadline:  # wait until the agent holds a key
            time.sleep(0.02)
        assert keys_down(), "the agent never pressed a key"
        time.sleep(1.0)  # play a little, then wait for a moment it holds something
        while not keys_down() and time.monotonic() < deadline:
            time.sleep(0.005)
        t0 = time.monotonic()
        subprocess.run(["xdotool", "key", "F12"], check=True)
        held_after = None
        while time.monotonic() - t0 < 0.2:
            held_after = keys_down()
            if not held_after:
                break
            time.sleep(0.005)
        released_in = time.monotonic() - t0
        while p.poll() is None and time.monotonic() - t0 < 10:
            time.sleep(0.005)
        exited_in = time.monotonic() - t0
        out, _ = p.communicate(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
    assert held_after == [] and released_in < 0.2, f"still held after {released_in:.3f} s: {held_after}"
    assert exited_in < 2.0, f"the process exited {exited_in:.2f} s after F12"
    assert p.returncode == 0 and "kill switch (f12)" in out and buttons_down() == 0
    from hakisa.data.dataset import DatasetReader

    with DatasetReader(tmp_path / "p.h5") as r:  # the recording was closed cleanly
        assert sum(r.info(n).n_steps for n in r.episode_names()) > 0


def test_nothing_is_sent_while_another_window_has_focus(game_window, dodge_checkpoint):
    dodge = game_window("dodge", title="hakisa: dodge")
    other = game_window("clicker", title="some other window")
    other.window.focus()
    p = start_play(dodge_checkpoint, "--seconds", "3")
    seen = set()
    while p.poll() is None:
        seen.update(keys_down())
        time.sleep(0.02)
    out = p.stdout.read()
    assert p.returncode == 0 and " 0 actions" in out and "paused (no focus)" in out
    assert not seen
    log = [json.loads(line) for line in dodge.log.read_text().splitlines()]
    assert len({round(e["state"]["ship"]["x"]) for e in log if not e["game_over"]}) == 1  # the ship never moved


def test_play_errors_other_profile_closed_window(game_window, dodge_checkpoint, tmp_path):
    from tests.conftest import profile_text

    other = tmp_path / "other.toml"
    other.write_text(profile_text("hakisa: dodge"))
    r = subprocess.run(hakisa_cmd("play", "--checkpoint", str(dodge_checkpoint), "--profile", str(other)),
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "made for profile 'dodge'" in r.stderr and "testgame" in r.stderr
    g = game_window("dodge", title="hakisa: dodge")
    p = start_play(dodge_checkpoint, "--focus", "--record", str(tmp_path / "closed.h5"))
    deadline = time.monotonic() + 30  # starting (torch) takes seconds on a loaded machine
    while not keys_down() and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(2)
    deadline = time.monotonic() + 15  # the game may be over (it ran alone while hakisa started): wait for play
    while not keys_down() and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    g.stop()  # the game window closes mid-run
    out, _ = p.communicate(timeout=20)
    assert p.returncode == 0 and "the game window closed" in out and keys_down() == []
    from hakisa.data.dataset import DatasetReader

    with DatasetReader(tmp_path / "closed.h5") as r:
        infos = [r.info(n) for n in r.episode_names()]
    assert infos and infos[-1].status == "truncated" and sum(i.n_steps for i in infos) > 20


def test_trial_plays_each_way_on_the_window_and_keeps_the_best(game_window, dodge_checkpoint, tmp_path):
    """`hakisa trial` on a real window: each way plays the game through injected input, the score is read from the
    screen, the choice lands in the checkpoint and nothing is left held."""
    from hakisa.learn.checkpoint import load_checkpoint

    game_window("dodge", title="hakisa: dodge")
    out = tmp_path / "tried.pt"
    r = subprocess.run(hakisa_cmd("trial", "--checkpoint", str(dodge_checkpoint), "--focus", "--episodes", "1",
                                  "--seconds", "4", "--out", str(out), "--wait", "20"),
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "way 2 of 2" in r.stderr and "<- chosen" in r.stdout
    record = load_checkpoint(out)["state"]["trial"]
    assert [w["offsets"] for w in record["ways"]] == ["none", "prior"]  # the margin clone plays greedily
    assert all(len(w["scores"]) == 1 and w["scores"][0] >= 0 for w in record["ways"])
    assert keys_down() == []


def test_a_person_pressing_a_game_key_takes_over_at_the_next_tick_and_is_recorded_as_human(
        game_window, dodge_checkpoint, tmp_path):
    """Takeover on a real window: the person's key (injected with xdotool, as any other program's input) stops the
    agent's input at once, their ticks are recorded as human with the key they held, the takeover step carries the
    penalty, and the agent plays again after the idle time."""
    from Xlib import XK, display

    from hakisa.codec import KEY, ActionCodec
    from hakisa.data.dataset import ACTORS, DatasetReader
    from hakisa.profile import load_profile

    d = display.Display()
    code = {k: d.keysym_to_keycode(XK.string_to_keysym(x)) for k, x in (("left", "Left"), ("right", "Right"),
                                                                        ("space", "space"))}
    d.close()
    game_window("dodge", title="hakisa: dodge")
    rec = tmp_path / "p.h5"
    p = start_play(dodge_checkpoint, "--focus", "--record", str(rec), "--seconds", "9", "--takeover-idle", "1",
                   "--takeover-penalty", "3")
    mine = None
    try:
        deadline = time.monotonic() + 30
        while not keys_down() and time.monotonic() < deadline:  # the agent plays
            time.sleep(0.02)
        time.sleep(1.0)
        while not keys_down() and time.monotonic() < deadline:
            time.sleep(0.005)
        agent_holds = keys_down()
        assert agent_holds and p.poll() is None, "the agent is not playing"
        mine = next(k for k in ("right", "left", "space") if code[k] not in agent_holds)  # one it does not hold
        name = {"left": "Left", "right": "Right", "space": "space"}[mine]
        t0 = time.monotonic()
        subprocess.run(["xdotool", "keydown", name], check=True)
        only_person = None
        while time.monotonic() - t0 < 0.5:
            only_person = keys_down()
            if only_person == [code[mine]]:
                break
            time.sleep(0.002)
        handed_in = time.monotonic() - t0
        time.sleep(max(0.0, 1.0 - handed_in))
        held_by_person = keys_down()
        subprocess.run(["xdotool", "keyup", name], check=True)
        out, _ = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
        if mine:
            subprocess.run(["xdotool", "keyup", {"left": "Left", "right": "Right", "space": "space"}[mine]])
    assert p.returncode == 0, out
    # the tick the press is seen at is checked in the data below (the step taken over is the one before the
    # person's first); in wall time, allow a few ticks for a machine busy with other work
    assert only_person == [code[mine]] and handed_in < 0.5, \
        f"agent keys {agent_holds} still down {handed_in:.3f} s after the person pressed {mine}: {only_person}"
    assert held_by_person == [code[mine]]  # the agent sent nothing while the person played
    assert out.count("YOU are in control") == 1 and out.count("AGENT is in control again") == 1, out
    assert out.index("YOU are in control") < out.index("AGENT is in control again")
    assert "taken over 1 time:" in out
    profile = load_profile("dodge")
    with DatasetReader(rec) as r:
        eps = [r.load(n) for n in r.episode_names()]
        codec = ActionCodec(profile.actions, tuple(r.codec_info["capture_size"]))
    actor = np.concatenate([e["actor"] for e in eps])
    cmd = np.concatenate([e["command_type"] for e in eps])
    a1 = np.concatenate([e["action_1"] for e in eps])
    pen = np.concatenate([e["reward_human"] for e in eps])
    t_step = np.concatenate([e["obs_time"][:-1] for e in eps])  # when each step's frame was seen
    human = np.flatnonzero(actor == ACTORS.index("human"))
    # about 1 s held + 1 s idle: measured in time, since a loaded machine may miss some of the 20 Hz ticks
    span = t_step[human[-1]] - t_step[human[0]] if len(human) else 0.0
    assert len(human) >= 10 and 1.5 <= span <= 3.0, (span, actor.tolist())
    assert np.all(np.diff(human) == 1)  # one stretch
    chord = codec.chord_for(frozenset({mine}))
    assert np.mean((cmd[human] == KEY) & (a1[human] == chord)) > 0.35  # what the person held, read from their input
    assert np.flatnonzero(pen).tolist() == [human[0] - 1] and pen[human[0] - 1] == -3.0  # the step taken over
    assert actor[human[-1] + 1:].size > 20 and not np.any(actor[human[-1] + 1:] == ACTORS.index("human"))
    assert keys_down() == []
