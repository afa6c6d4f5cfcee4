"""Developer helpers shared by tools/ scripts: bundled game windows with the demonstrator playing."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hakisa.live.xvfb import virtual_display  # noqa: E402,F401  (re-exported for tools/)


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
