"""Shared fixtures. Tests marked ``display`` get a real X server (Xvfb, started here) and real windows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")


@pytest.fixture(scope="module")
def holder_checkpoint(tmp_path_factory):
    """A dodge checkpoint that always holds "left" (tools/bench_killswitch.py builds it: a network whose
    outputs ignore the frame), so a key is surely held for as long as the test needs."""
    sys.path.insert(0, str(ROOT / "tools"))
    from bench_killswitch import holding_checkpoint

    return holding_checkpoint(tmp_path_factory.mktemp("holder") / "hold-left.pt")


@pytest.fixture(scope="module")
def studied_dodge(tmp_path_factory):
    """Half a minute of the headless dodge demonstrator (320x180) and a checkpoint studied on it for 10 updates
    with a tiny network: (demo path, checkpoint path), for tests of what comes after study."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    sys.path.insert(0, str(ROOT / "tools"))
    from make_demo_data import record_demo

    from hakisa.learn.study import StudyConfig, study
    from hakisa.profile import load_profile

    d = tmp_path_factory.mktemp("studied")
    demo, ckpt = str(d / "demo.h5"), str(d / "study.pt")
    record_demo("dodge", demo, 0.5, seed=3, size=(320, 180))
    study(load_profile("dodge"), [demo], ckpt, StudyConfig(steps=10, batch_size=8, eval_every=10, channels=(8, 16),
                                                           hidden=32, threads=1), progress=False, log=lambda m: None)
    return demo, ckpt


@pytest.fixture(scope="session")
def xserver():
    """A private Xvfb (1280x720) for the whole session; sets DISPLAY for this process and its children."""
    from hakisa.live.xvfb import virtual_display

    with virtual_display("1280x720", reuse=False) as name:
        yield name


class GameProcess:
    """A bundled game running in a real window, with its per-frame log."""

    def __init__(self, name: str, title: str, log: Path, size: str = "640x360", seed: int = 0, extra: tuple = ()):
        self.name, self.title, self.log = name, title, log
        env = dict(os.environ, SDL_VIDEODRIVER="x11")
        self.proc = subprocess.Popen([sys.executable, "-m", "hakisa.games", name, "--size", size, "--seed", str(seed),
                                      "--title", title, "--log", str(log), *extra], cwd=ROOT, env=env)
        from hakisa.live.x11 import find_window
        from hakisa.profile import WindowSpec

        self.window = find_window(WindowSpec(title=f"^{title}$"), timeout=15)

    def stop(self) -> None:
        self.window.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def game_window(xserver, tmp_path):
    """Factory: start a bundled game window; all are closed at the end of the test."""
    games: list[GameProcess] = []

    def start(name: str = "dodge", title: str | None = None, **kw) -> GameProcess:
        title = title or f"hakisa test {name} {len(games)}"
        g = GameProcess(name, title, tmp_path / f"{name}-{len(games)}.jsonl", **kw)
        games.append(g)
        return g

    yield start
    for g in games:
        g.stop()


def hakisa_cmd(*args: str) -> list[str]:
    """Command line running the hakisa CLI with this interpreter."""
    return [sys.executable, "-m", "hakisa", *args]


def profile_text(title: str, *, keys='["left", "right", "space", "left+space", "right+space"]', mouse="none",
                 hz: int = 20, done: bool = False, name: str = "testgame") -> str:
    """A small profile for tests; ``done`` adds dodge's game-over rule."""
    text = f'''
[game]
name = "{name}"
[window]
title = "^{title}$"
[capture]
tick_hz = {hz}
frame_width = 64
frame_height = 64
[actions]
keys = {keys}
mouse = "{mouse}"
mouse_grid = [32, 18]
[safety]
kill_switch = "f12"
'''
    if done:
        text += '''
[rules.regions]
playfield = [0.0, 0.2, 1.0, 0.6]
[rules.extractors.game_over]
kind = "color"
region = "playfield"
color = [96, 0, 0]
tolerance = 12
[rules.done]
any = ["game_over >= 0.5"]
'''
    return text
