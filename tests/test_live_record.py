"""`hakisa record` on real windows under a real X server, with input injected through the OS."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest

from hakisa.codec import KEY, LEFT_CLICK, ActionCodec
from hakisa.data.dataset import DatasetReader, mask_names
from hakisa.record.inputlog import BUTTON_DOWN, KEY_DOWN
from hakisa.keys import key_index
from hakisa.profile import parse_profile

from conftest import ROOT, hakisa_cmd, profile_text

pytestmark = pytest.mark.display


class RecordProcess:
    """`hakisa record` in a subprocess; returns once it says it is recording (listeners are up)."""

    def __init__(self, profile_path, out, *extra: str):
        self.out = out
        self.proc = subprocess.Popen(hakisa_cmd("record", "--profile", str(profile_path), "--out", str(out), *extra),
                                     cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        if not line.startswith("recording"):
            self.proc.kill()
            raise AssertionError(f"recorder did not start: {line}{self.proc.stderr.read()}")

    def finish(self, timeout: float = 15) -> str:
        out, err = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, err
        return out + err


@pytest.fixture
def injector(xserver):
    from hakisa.live.inject import Injector

    inj = Injector()
    yield inj
    inj.release_all()


def write_profile(tmp_path, title, **kw):
    path = tmp_path / "profile.toml"
    path.write_text(profile_text(title, **kw))
    return path


def first_obs_at_or_after(times: np.ndarray, t: float) -> int:
    return int(np.searchsorted(times, t, side="left"))


def test_presses_and_holds_land_on_the_right_ticks(tmp_path, game_window, injector):
    game = game_window("dodge")
    game.window.focus()
    prof = write_profile(tmp_path, game.title, hz=20)
    rec = RecordProcess(prof, tmp_path / "keys.h5")
    time.sleep(0.3)
    holds = [0.03, 0.08, 0.2, 0.45, 0.75]  # 0.75 s is past X's autorepeat delay
    keys = ["left", "right", "space"]
    schedule = []  # (key, t_press, t_release)
    for i in range(40):
        k, d = keys[i % 3], holds[i % 5]
        injector.press(k)
        t0 = time.monotonic()
        time.sleep(d)
        injector.release(k)
        t1 = time.monotonic()
        schedule.append((k, t0, t1))
        time.sleep(0.12)
    injector.press("f12")  # the kill switch stops the recorder
    injector.release("f12")
    out = rec.finish()
    assert "kill switch" in out

    with DatasetReader(rec.out) as r:
        names = r.episode_names()
        assert len(names) == 1
        ep = r.load(names[0])
    T = ep["obs_time"]
    held = np.array([mask_names(m) for m in ep["held_keys"]], dtype=object)
    downs = ep["events_kind"] == KEY_DOWN
    ok_press = ok_hold = 0
    for k, t0, t1 in schedule:
        code = key_index(k)
        # the key_down event recorded closest in time to the injection
        cand = np.flatnonzero(downs & (ep["events_code"] == code))
        j = cand[np.argmin(np.abs(ep["events_time"][cand] - t0))]
        step = int(ep["events_step"][j])
        expect = first_obs_at_or_after(T, t0)
        ok_press += abs(step - expect) <= 1 and abs(ep["events_time"][j] - t0) < 0.05
        # hold length: observations showing the key held vs. observations inside [press, release)
        shown = sum(1 for i in range(step, len(T)) if k in held[i] and T[i] <= t1 + 0.06)
        inside = int(np.sum((T >= t0) & (T < t1)))
        ok_hold += abs(shown - inside) <= 1
        # the label of the tick with the press is that key's chord (quick taps included)
        a = step - 1
        assert ep["command_type"][a] == KEY, (k, t0, step)
    assert ok_press / len(schedule) >= 0.99, f"{ok_press}/{len(schedule)} presses within +-1 tick"
    assert ok_hold / len(schedule) >= 0.99, f"{ok_hold}/{len(schedule)} holds of the right length"
    # autorepeat did not create extra presses
    assert downs.sum() == len(schedule)


def test_mouse_clicks_are_recorded_at_their_positions(tmp_path, game_window, injector):
    game = game_window("clicker")
    game.window.focus()
    prof = write_profile(tmp_path, game.title, keys="[]", mouse="absolute", hz=20)
    gx, gy, gw, gh = game.window.geometry()
    rec = RecordProcess(prof, tmp_path / "mouse.h5")
    time.sleep(0.3)
    rng = np.random.default_rng(5)
    clicks = []
    for _ in range(15):
        x, y = int(rng.integers(5, gw - 5)), int(rng.integers(30, gh - 5))
        injector.move(gx + x, gy + y)
        time.sleep(0.05)
        injector.click("left")
        clicks.append((x, y, time.monotonic()))
        time.sleep(0.2)
    rec.proc.send_signal(signal.SIGINT)
    rec.finish()
    codec = ActionCodec(parse_profile(prof.read_text()).actions, (gw, gh))
    with DatasetReader(rec.out) as r:
        ep = r.load(r.episode_names()[0], frames=False)
    bd = np.flatnonzero(ep["events_kind"] == BUTTON_DOWN)
    assert len(bd) == len(clicks)
    for j, (x, y, t) in zip(bd, clicks):
        assert (ep["events_x"][j], ep["events_y"][j]) == (x, y)
        step = int(ep["events_step"][j])
        assert abs(step - first_obs_at_or_after(ep["obs_time"], t)) <= 1
        assert ep["command_type"][step - 1] == LEFT_CLICK
        assert (ep["action_1"][step - 1], ep["action_2"][step - 1]) == codec.cell_of(x, y)


def test_keys_typed_into_another_window_are_not_recorded(tmp_path, game_window, injector):
    game = game_window("dodge")
    other = game_window("dodge", title="another program", size="320x180")
    game.window.focus()
    prof = write_profile(tmp_path, game.title, hz=20)
    rec = RecordProcess(prof, tmp_path / "focus.h5")
    time.sleep(0.3)
    other.window.focus()
    time.sleep(0.3)
    for k in ["p", "a", "s", "s", "w", "left", "space"]:
        injector.press(k)
        time.sleep(0.05)
        injector.release(k)
        time.sleep(0.05)
    game.window.focus()
    time.sleep(0.3)
    injector.press("z")
    time.sleep(0.1)
    injector.release("z")
    time.sleep(0.3)
    injector.press("f12")
    injector.release("f12")
    out = rec.finish()
    with DatasetReader(rec.out) as r:
        codes, held = [], set()
        for _, ep in r.iter_episodes(frames=False):
            codes += ep["events_code"][ep["events_kind"] == KEY_DOWN].tolist()
            for m in ep["held_keys"]:
                held.update(mask_names(m))
    assert codes == [key_index("z")], out  # only the key typed into the game
    assert held <= {"z"}
    assert "keys rejected (other window) 7" in out


def test_sigkill_loses_at_most_the_last_second(tmp_path, game_window):
    game = game_window("dodge")
    game.window.focus()
    prof = write_profile(tmp_path, game.title, hz=60)
    rec = RecordProcess(prof, tmp_path / "killed.h5")
    time.sleep(3.5)
    rec.proc.kill()
    t_kill = time.monotonic()
    rec.proc.wait(5)
    with DatasetReader(rec.out) as r:
        info = r.info(r.episode_names()[0])
        assert info.status == "recording" and not info.problems
        ep = r.load(r.episode_names()[0], frames=True)
    T = ep["obs_time"]
    assert T[-1] >= t_kill - 1.0 - 1 / 60, f"lost {t_kill - T[-1]:.2f} s"
    assert len(T) >= (t_kill - 1.0 - T[0]) * 60 * 0.9
    assert ep["observations"].shape[0] == len(T) and ep["observations"][-1].any()
    assert ep["truncations"][-1]  # read back as cut short, not as a game over
    out = subprocess.run(hakisa_cmd("inspect", str(rec.out)), cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and "cut off by a crash" in out.stdout


def test_window_pixels_match_the_headless_game(game_window):
    """The windowed and the headless game draw identical pixels (the window shows the frame its log names)."""
    from hakisa.games import make_game
    from hakisa.live.capture import ScreenGrabber

    game = game_window("dodge", seed=4)
    grabber = ScreenGrabber()
    for _ in range(40):
        before = _last_frame(game.log)
        shot = grabber.grab(game.window.geometry())[:, :, 2::-1]
        after = _last_frame(game.log)
        if before == after:
            break
        time.sleep(0.013)
    headless = make_game("dodge", seed=4, size=(640, 360))
    frames = {}
    for i in range(after + 2):
        headless.step()
        frames[i + 1] = headless.render()
    assert any(np.array_equal(shot, frames[f]) for f in (after, after + 1) if f in frames)


def _last_frame(log) -> int:
    lines = log.read_text().strip().splitlines()
    return json.loads(lines[-1])["frame"]


def test_clear_errors_for_a_missing_window_no_display_and_bad_paths(tmp_path, xserver):
    prof = write_profile(tmp_path, "no such game window")
    out = tmp_path / "x.h5"
    t0 = time.monotonic()
    r = subprocess.run(hakisa_cmd("record", "--profile", str(prof), "--out", str(out), "--wait", "1"),
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "no window matches" in r.stderr and "Start the game" in r.stderr
    assert time.monotonic() - t0 < 8 and not out.exists()

    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    r = subprocess.run(hakisa_cmd("record", "--profile", str(prof), "--out", str(out)), cwd=ROOT, env=env,
                       capture_output=True, text=True)
    assert r.returncode == 2 and "DISPLAY is not set" in r.stderr and "study" in r.stderr and not out.exists()

    out.write_bytes(b"keep me")
    r = subprocess.run(hakisa_cmd("record", "--profile", str(prof), "--out", str(out)), cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 2 and "--force" in r.stderr and out.read_bytes() == b"keep me"

    r = subprocess.run(hakisa_cmd("record", "--profile", str(prof), "--out", str(tmp_path / "no" / "x.h5")),
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "does not exist" in r.stderr

    bad = tmp_path / "bad.toml"
    bad.write_text(profile_text("x").replace("tick_hz = 20", "tick_hz = 500"))
    r = subprocess.run(hakisa_cmd("record", "--profile", str(bad), "--out", str(tmp_path / "y.h5")), cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 2 and "capture.tick_hz" in r.stderr and "500" in r.stderr


@pytest.mark.display
def test_a_profile_error_after_the_window_is_found_leaves_no_file_and_an_old_one_untouched(tmp_path, game_window):
    """The rules fail when the recorder starts (a missing template image): no 11 KB .h5 is left behind, and a
    dataset given with --force stays as it was."""
    game_window("dodge", title="hakisa rec bad rules")
    d = tmp_path / "work"  # the game's own log is in tmp_path
    d.mkdir()
    prof = d / "p.toml"
    prof.write_text(profile_text("hakisa rec bad rules", done=True)
                    + '\n[rules.extractors.logo]\nkind = "image"\nregion = "playfield"\nimage = "missing.png"\n')
    out = d / "r.h5"
    r = subprocess.run(hakisa_cmd("record", "--profile", str(prof), "--out", str(out), "--seconds", "2"), cwd=ROOT,
                       capture_output=True, text=True, timeout=60, env=dict(os.environ, HAKISA_LOG_DIR=str(tmp_path / "logs")))
    assert r.returncode == 2 and "Traceback" not in r.stderr and "missing.png" in r.stderr, r.stderr
    assert not out.exists() and sorted(p.name for p in d.iterdir()) == ["p.toml"]
    out.write_bytes(b"an older recording")
    r = subprocess.run(hakisa_cmd("record", "--profile", str(prof), "--out", str(out), "--seconds", "2", "--force"),
                       cwd=ROOT, capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, HAKISA_LOG_DIR=str(tmp_path / "logs")))
    assert r.returncode == 2 and out.read_bytes() == b"an older recording"
    assert sorted(p.name for p in d.iterdir()) == ["p.toml", "r.h5"]
