"""Developer helpers shared by tools/ scripts: a private Xvfb and bundled game windows."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@contextlib.contextmanager
def virtual_display(size: str = "1280x720", force: bool = False):
    """Use the current DISPLAY, or start a private Xvfb (always when ``force``) for the duration."""
    if os.environ.get("DISPLAY") and not force:
        yield os.environ["DISPLAY"]
        return
    n = next(n for n in range(120, 300) if not os.path.exists(f"/tmp/.X11-unix/X{n}")
             and not os.path.exists(f"/tmp/.X{n}-lock"))
    proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", f"{size}x24", "-nolisten", "tcp", "-noreset"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not os.path.exists(f"/tmp/.X11-unix/X{n}"):
        if proc.poll() is not None:
            raise SystemExit("Xvfb failed to start; install it with tools/setup.sh")
        time.sleep(0.05)
    old = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = f":{n}"
    try:
        yield f":{n}"
    finally:
        proc.terminate()
        proc.wait(5)
        if old is None:
            os.environ.pop("DISPLAY", None)
        else:
            os.environ["DISPLAY"] = old


@contextlib.contextmanager
def game_with_demonstrator(game: str, log: Path, size: str = "1280x720", seed: int = 0, play: bool = True):
    """A bundled game window and (if ``play``) the scripted demonstrator playing it through injected input."""
    env = dict(os.environ, SDL_VIDEODRIVER="x11", SDL_AUDIODRIVER="dummy", PYGAME_HIDE_SUPPORT_PROMPT="1")
    if log.exists():
        log.unlink()
    procs = [subprocess.Popen([sys.executable, "-m", "hakisa.games", game, "--size", size, "--seed", str(seed),
                               "--log", str(log)], cwd=ROOT, env=env)]
    try:
        from hakisa.live.x11 import find_window
        from hakisa.profile import WindowSpec

        find_window(WindowSpec(title=f"^hakisa: {game}$"), timeout=15).close()
        if play:
            procs.append(subprocess.Popen([sys.executable, str(ROOT / "tools" / "demonstrator.py"), game,
                                           "--log", str(log), "--seed", str(seed)], cwd=ROOT, env=env))
            time.sleep(0.5)
        yield procs
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
