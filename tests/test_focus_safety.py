"""Input never leaks into another window: the event-driven focus watcher, the blocked injector, X
autorepeat switched off for the agent's keys (and repaired after a SIGKILL), and `hakisa play` on a
real window while the focus moves to a decoy window that records every key event it receives.
Also: SIGINT and SIGTERM release at once and end `hakisa play` quickly."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import ROOT, hakisa_cmd, profile_text
from tests.test_live_play import keys_down

pytestmark = pytest.mark.display

sys.path.insert(0, str(ROOT / "tools"))


class Decoy:
    """A small X window of the test's own (a stand-in for a terminal) that records every key event it gets,
    from its own event loop: (monotonic time, "press" / "release", keycode)."""

    def __init__(self, title: str = "decoy window", x: int = 700, y: int = 400):
        from Xlib import X, display

        self.d = display.Display()
        s = self.d.screen()
        self.w = s.root.create_window(x, y, 300, 200, 0, s.root_depth, X.InputOutput, X.CopyFromParent,
                                      background_pixel=s.white_pixel,
                                      event_mask=X.KeyPressMask | X.KeyReleaseMask | X.FocusChangeMask)
        self.w.set_wm_name(title)
        self.w.map()
        self.d.sync()
        self.ctl = display.Display()  # requests from the test thread go through their own connection
        self.events: list[tuple[float, str, int]] = []
        self._r, self._w = os.pipe()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from Xlib import X

        kinds = {X.KeyPress: "press", X.KeyRelease: "release"}
        while True:
            ready, _, _ = select.select([self.d.fileno(), self._r], [], [], 1.0)
            if self._r in ready:
                return
            while self.d.pending_events():
                ev = self.d.next_event()
                if ev.type in kinds:
                    self.events.append((time.monotonic(), kinds[ev.type], int(ev.detail)))

    def focus(self) -> None:
        from Xlib import X

        self.ctl.create_resource_object("window", self.w.id).set_input_focus(X.RevertToParent, X.CurrentTime)
        self.ctl.sync()

    def close(self) -> None:
        os.write(self._w, b"x")
        self._thread.join(2)
        self.w.destroy()
        self.d.close()
        self.ctl.close()


@pytest.fixture
def decoy(xserver):
    d = Decoy()
    yield d
    d.close()


def keycode(name: str) -> int:
    from Xlib import display

    from hakisa.live.inject import keysym_of

    d = display.Display()
    try:
        return d.keysym_to_keycode(keysym_of(name))
    finally:
        d.close()




def repeats(code: int) -> bool:
    from Xlib import display

    from hakisa.live.guard import repeating

    d = display.Display()
    try:
        return repeating(d, code)
    finally:
        d.close()


def wait_for(cond, timeout: float, step: float = 0.005) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


def plain_window(x: int = 0, y: int = 0):
    """A bare X window (the "game") and the connection that owns it."""
    from Xlib import X, display

    d = display.Display()
    s = d.screen()
    w = s.root.create_window(x, y, 300, 200, 0, s.root_depth, X.InputOutput, X.CopyFromParent,
                             background_pixel=s.black_pixel)
    w.set_wm_name("plain game window")
    w.map()
    d.sync()
    return d, w


class Recorder:
    """A stand-in actuator: what the focus watcher asked for, and when."""

    def __init__(self):
        self.calls: list[tuple[float, str, str]] = []

    def block(self, reason: str) -> None:
        self.calls.append((time.monotonic(), "block", reason))

    def unblock(self, reason: str) -> None:
        self.calls.append((time.monotonic(), "unblock", reason))

    def release_all(self) -> None:
        self.calls.append((time.monotonic(), "release_all", ""))


def test_focus_watcher_reacts_to_focus_pointer_and_grabs(xserver, decoy):
    """Explicit focus moves, PointerRoot mode (the keyboard follows the pointer: no focus event comes) and a
    keyboard grab by another client all block at once, and focus coming back unblocks."""
    from Xlib import X
    from Xlib.ext import xtest

    from hakisa.live.guard import FocusWatcher

    d, w = plain_window()
    rec = Recorder()
    w.set_input_focus(X.RevertToParent, X.CurrentTime)
    d.sync()
    watch = FocusWatcher(w.id, "plain game window", lambda: rec.block("focus"), lambda: rec.unblock("focus"),
                         recheck=30)  # only events can drive it here
    watch.start()
    try:
        assert watch.focused()

        def lost_within(action) -> float:
            n = len(rec.calls)
            t0 = time.monotonic()
            action()
            assert wait_for(lambda: not watch.focused(), 2.0), "the watcher did not notice"
            blocks = [c for c in rec.calls[n:] if c[1] == "block"]
            assert blocks
            return blocks[0][0] - t0

        def back(action) -> None:
            action()
            assert wait_for(watch.focused, 2.0), "the watcher did not see the focus come back"

        focus_game = lambda: (w.set_input_focus(X.RevertToParent, X.CurrentTime), d.sync())  # noqa: E731
        dt = lost_within(decoy.focus)
        assert dt < 0.2, f"blocked {dt * 1e3:.1f} ms after the focus moved"
        back(focus_game)
        # PointerRoot: keys go to the window under the pointer
        xtest.fake_input(d, X.MotionNotify, x=50, y=50)
        d.set_input_focus(X.PointerRoot, X.RevertToPointerRoot, X.CurrentTime)
        d.sync()
        assert wait_for(watch.focused, 2.0)
        lost_within(lambda: (xtest.fake_input(d, X.MotionNotify, x=800, y=450), d.sync()))
        back(lambda: (xtest.fake_input(d, X.MotionNotify, x=50, y=50), d.sync()))
        # another client grabs the keyboard (a menu, a screenshot tool): the focus is still "ours", the keys not
        back(focus_game)
        lost_within(lambda: decoy.ctl.create_resource_object("window", decoy.w.id).grab_keyboard(
            True, X.GrabModeAsync, X.GrabModeAsync, X.CurrentTime))
        back(lambda: (decoy.ctl.ungrab_keyboard(X.CurrentTime), decoy.ctl.sync()))
        # the window goes away
        lost_within(lambda: (w.unmap(), d.sync()))
    finally:
        watch.stop()
        d.set_input_focus(X.PointerRoot, X.RevertToPointerRoot, X.CurrentTime)
        w.destroy()
        d.close()


def test_blocked_injector_sends_nothing_and_releases_what_it_held(xserver):
    from hakisa.live.inject import Injector

    inj = Injector()
    left, space = keycode("left"), keycode("space")
    try:
        inj.press("left")
        assert left in keys_down()
        t = threading.Thread(target=inj.block, args=("focus",))  # from another thread, like the watcher
        t.start()
        t.join()
        assert left not in keys_down() and inj.held == set()
        inj.hold_only({"space"})
        inj.tap("left")
        inj.click("left")
        assert space not in keys_down() and left not in keys_down() and inj.held == set() and inj.buttons == set()
        inj.unblock("focus")
        inj.hold_only({"space"})
        assert space in keys_down()
    finally:
        inj.release_all()
    assert not {left, space} & set(keys_down())


def test_decoy_sees_autorepeat_when_nothing_guards(xserver, decoy):
    """The failure the guard prevents, shown with the decoy: a key held past the autorepeat delay while the
    focus moves autorepeats into the newly focused window until it is released."""
    from Xlib import X

    from hakisa.live.inject import Injector

    d, w = plain_window()
    inj = Injector()
    left = keycode("left")
    try:
        assert repeats(left)
        w.set_input_focus(X.RevertToParent, X.CurrentTime)
        d.sync()
        inj.press("left")
        time.sleep(1.0)  # past the X autorepeat delay (660 ms in Xvfb)
        decoy.focus()
        time.sleep(0.3)
        inj.release_all()
        time.sleep(0.1)
    finally:
        inj.release_all()
        w.destroy()
        d.close()
    assert any(kind == "press" and code == left for _, kind, code in decoy.events), decoy.events


def test_autorepeat_guard_restores_and_repairs_what_a_killed_session_left(xserver, tmp_path):
    from Xlib import X, display

    from hakisa.live.guard import AutorepeatGuard

    left, space, enter = keycode("left"), keycode("space"), keycode("enter")
    d = display.Display()
    cache = tmp_path / "cache"
    env = dict(os.environ, XDG_CACHE_HOME=str(cache))
    code = ("import time\nfrom hakisa.live.guard import AutorepeatGuard\n"
            "AutorepeatGuard(['left', 'space']).start()\nprint('ready', flush=True)\ntime.sleep(60)\n")
    p = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        assert not repeats(left) and not repeats(space) and repeats(enter)
        files = list((cache / "hakisa").glob("autorepeat-*.json"))
        assert len(files) == 1 and sorted(json.loads(files[0].read_text())["keycodes"]) == sorted([left, space])
        p.kill()  # SIGKILL: no cleanup runs
        p.wait(10)
        assert not repeats(left) and files[0].exists()
        notes = []
        g = AutorepeatGuard(["enter"], folder=cache / "hakisa", announce=notes.append).start()  # the next session
        assert repeats(left) and repeats(space) and not repeats(enter)
        assert not files[0].exists() and "left off by an earlier hakisa session" in notes[0]
        g.restore()
        assert repeats(enter) and not list((cache / "hakisa").glob("autorepeat-*.json"))
        # a key that did not repeat before the session is left as it was
        d.change_keyboard_control(key=enter, auto_repeat_mode=X.AutoRepeatModeOff)
        d.sync()
        g = AutorepeatGuard(["enter", "left"], folder=cache / "hakisa").start()
        assert g.changed == [left]
        g.restore()
        assert not repeats(enter) and repeats(left)
    finally:
        if p.poll() is None:
            p.kill()
        for c in (left, space, enter):
            d.change_keyboard_control(key=c, auto_repeat_mode=X.AutoRepeatModeOn)
        d.sync()
        d.close()


def _play(ckpt, tmp_path, *extra) -> subprocess.Popen:
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    return subprocess.Popen(hakisa_cmd("play", "--checkpoint", str(ckpt), *extra), cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _held_for(code: int, seconds: float, timeout: float = 30) -> bool:
    """Wait until ``code`` has been down without a break for ``seconds`` (a game over releases everything)."""
    end = time.monotonic() + timeout
    since = None
    while time.monotonic() < end:
        if code in keys_down():
            since = since or time.monotonic()
            if time.monotonic() - since >= seconds:
                return True
        else:
            since = None
        time.sleep(0.01)
    return False


def test_focus_moving_away_sends_no_key_press_to_the_next_window(game_window, holder_checkpoint, decoy, tmp_path):
    """`hakisa play` holds "left" past the X autorepeat delay, then the focus moves to the decoy: 5 times, the
    decoy gets no KeyPress at all (the release of the held key does reach it: the X server delivers it to
    the window focused when it happens, and nothing can release before the server moves the focus)."""
    g = game_window("dodge", title="hakisa: dodge")
    left = keycode("left")
    assert repeats(left)
    p = _play(holder_checkpoint, tmp_path, "--focus")
    presses, releases = [], []
    try:
        for trial in range(5):
            g.window.focus()
            assert _held_for(left, 1.0, timeout=60 if trial == 0 else 30), f"trial {trial}: the agent held no key"
            assert not repeats(left), "autorepeat is still on for the agent's key"
            n = len(decoy.events)
            decoy.focus()
            assert wait_for(lambda: left not in keys_down(), 1.0), "the held key was not released"
            time.sleep(0.5)  # a dozen autorepeat periods (25 Hz)
            got = decoy.events[n:]
            presses += [e for e in got if e[1] == "press"]
            releases += [e for e in got if e[1] == "release"]
        g.window.focus()
        time.sleep(0.3)
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert presses == [], f"the decoy received key presses: {presses}"
    assert all(code == left for _, _, code in releases) and len(releases) <= 5
    print(f"the decoy received {len(releases)} KeyRelease of the agent's key over 5 focus moves, no KeyPress")
    paused = re.search(r"paused \(no focus\) (\d+)", out)
    assert p.returncode == 0 and paused and int(paused.group(1)) > 0, out
    assert repeats(left), "autorepeat was not turned back on"
    assert not list((tmp_path / "cache").rglob("autorepeat-*.json"))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_release_at_once_and_end_play_quickly(game_window, holder_checkpoint, tmp_path, sig):
    """Generous bounds for loaded CI machines; tools/bench_killswitch.py measures the real figures."""
    game_window("dodge", title="hakisa: dodge")
    left = keycode("left")
    p = _play(holder_checkpoint, tmp_path, "--focus", "--record", str(tmp_path / "p.h5"))
    try:
        assert _held_for(left, 0.5, timeout=60), "the agent never held a key"
        t0 = time.monotonic()
        p.send_signal(sig)
        released = exited = None
        while exited is None and time.monotonic() - t0 < 20:
            if released is None and left not in keys_down():
                released = time.monotonic() - t0
            if p.poll() is not None:
                exited = time.monotonic() - t0
            time.sleep(0.002)
        out = p.stdout.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert released is not None and released < 0.2, f"released after {released}"
    assert exited is not None and exited < 2.0, f"exited after {exited}"
    assert p.returncode == 0 and f"stopped: {sig.name}" in out and keys_down() == [], out
    assert repeats(left) and (tmp_path / "p.h5").exists()


def test_env_guards_a_real_window_until_closed(game_window, decoy, tmp_path, monkeypatch):
    """The gymnasium environment: autorepeat off for the profile's keys while it is open, focus moving to
    another window truncates the step with nothing sent there, close() turns autorepeat back on."""
    from hakisa.act.env import make_env
    from hakisa.codec import KEY

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    game_window("dodge", title="hakisa: dodge")
    left, enter = keycode("left"), keycode("enter")
    env = make_env("dodge", wait=10)
    try:
        assert not repeats(left) and not repeats(enter)  # an action key and the reset key
        env.reset()
        chord = env.codec.chord_for(frozenset({"left"}))
        env.step([KEY, chord, 0])
        assert left in keys_down()
        n = len(decoy.events)
        decoy.focus()
        assert wait_for(lambda: left not in keys_down(), 1.0)  # released by the watcher, between steps
        _, _, _, truncated, info = env.step([KEY, chord, 0])
        assert truncated and info["focus_lost"]
        time.sleep(0.2)
        assert [e for e in decoy.events[n:] if e[1] == "press"] == []
    finally:
        env.close()
    assert repeats(left) and repeats(enter) and left not in keys_down()
    assert not list((tmp_path / "cache").rglob("autorepeat-*.json"))


@pytest.mark.display
def test_windows_lists_the_real_titles_and_marks_the_one_a_profile_picks(game_window, tmp_path):
    game = game_window("dodge", title="my dodge game")
    listed = subprocess.run(hakisa_cmd("windows"), capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if game.title in line)
    assert "640x360" in row and hex(game.window.wid) in row
    mine = tmp_path / "mine.toml"
    mine.write_text(profile_text("my dodge game"))
    picked = subprocess.run(hakisa_cmd("windows", "--profile", str(mine)), capture_output=True, text=True, timeout=60)
    assert picked.returncode == 0, picked.stderr
    assert [line for line in picked.stdout.splitlines() if "<- [window] of" in line] == [row + "   <- [window] of testgame"]
    other = tmp_path / "other.toml"
    other.write_text(profile_text("no such game"))
    missed = subprocess.run(hakisa_cmd("windows", "--profile", str(other)), capture_output=True, text=True, timeout=60)
    assert missed.returncode == 1 and "no window matches testgame's [window] title /^no such game$/" in missed.stdout
