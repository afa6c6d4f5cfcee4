#!/usr/bin/env python3
"""Benchmark how fast `hakisa play` lets go and exits: after the kill-switch key, SIGINT and SIGTERM.

Starts a private Xvfb when there is no display, opens the bundled dodge window and runs `hakisa play
--focus --record` on it with a checkpoint that always holds one key (built here: a network whose
outputs do not depend on the frame, see :func:`holding_checkpoint`), so every trial starts with a
key held. Then it sends the trigger and measures, from the moment it was sent:

* release: until the X server reports no key of the agent's down (polled about every 0.2 ms);
* exit: until the process has exited (the dataset is closed and renamed before that).

The kill switch is pressed through XTEST from this process, like a person's key press (no xdotool
process start in the measurement). Prints p50 / max over the trials; ``--script`` runs the installed
`hakisa` script instead of `python -m hakisa` (the two differ in how the interpreter exits):

    .venv/bin/python tools/bench_killswitch.py --trials 10 [--script]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from xsession import ROOT, game_with_demonstrator, virtual_display  # noqa: E402


def holding_checkpoint(out: str | Path, profile: str = "dodge", chord: str = "left",
                       capture_size: tuple[int, int] = (640, 360)) -> Path:
    """Write a checkpoint for ``profile`` whose greedy action is always "hold ``chord``".

    The network's heads and state value ignore the frame (zero weights) and their biases make the
    key command and ``chord`` the best choices, so `hakisa play` with it holds that chord for as
    long as the game has focus and is not over: a fixed, honest agent for safety tests and benchmarks."""
    import torch

    from hakisa.codec import KEY, ActionCodec
    from hakisa.learn.checkpoint import save_checkpoint
    from hakisa.learn.model import ModelConfig, QNetwork
    from hakisa.profile import load_profile

    prof = load_profile(profile)
    codec = ActionCodec(prof.actions, capture_size)
    chords = ["+".join(c) for c in prof.actions.keys]
    cfg = ModelConfig(frame_shape=prof.capture.frame_shape, n_command=codec.n_command, n_action_1=codec.n_action_1,
                      n_action_2=codec.n_action_2, channels=(8, 8), hidden=16)
    model = QNetwork(cfg)
    with torch.no_grad():
        for layer in (model.value, *model.heads):
            layer.weight.zero_()
            layer.bias.zero_()
        model.heads[0].bias[KEY] = 10.0
        model.heads[1].bias[chords.index(chord)] = 10.0
    cap = prof.capture
    save_checkpoint(out, model=model, optimizer=None, model_config=cfg.to_dict(), codec=codec.to_dict(),
                    profile=prof, preprocessing={"width": cap.frame_width, "height": cap.frame_height,
                                                 "color": cap.color, "stack": cfg.stack},
                    state={"step": 0, "history": [], "note": f"always holds {chord} (tools/bench_killswitch.py)"})
    return Path(out)


class Keyboard:
    """What the X server says is down, and key presses sent through XTEST like a person's."""

    def __init__(self):
        from Xlib import display

        self.d = display.Display()

    def keycode(self, keysym: int) -> int:
        return self.d.keysym_to_keycode(keysym)

    def down(self, ignore: frozenset[int] = frozenset()) -> list[int]:
        keymap = self.d.query_keymap()
        down = [i * 8 + b for i, byte in enumerate(keymap) for b in range(8) if byte >> b & 1]
        return [k for k in down if k not in ignore]

    def tap(self, keycode: int) -> None:
        from Xlib import X
        from Xlib.ext import xtest

        xtest.fake_input(self.d, X.KeyPress, keycode)
        xtest.fake_input(self.d, X.KeyRelease, keycode)
        self.d.sync()

    def close(self) -> None:
        self.d.close()


def trial(ckpt: Path, trigger: str, work: Path, kb: Keyboard, play_s: float, command: list[str]
          ) -> tuple[float, float, int]:
    """One `hakisa play` run stopped by ``trigger``: (release ms, exit ms, exit status)."""
    from hakisa.keys import X_KEYSYMS

    kill = kb.keycode(X_KEYSYMS["f12"])
    out = work / f"{trigger}.h5"
    for p in (out, Path(str(out) + ".part")):
        p.unlink(missing_ok=True)
    proc = subprocess.Popen([*command, "play", "--checkpoint", str(ckpt), "--focus", "--record", str(out), "--force"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not kb.down({kill}):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"hakisa play never held a key (exit status {proc.poll()})")
            time.sleep(0.01)
        time.sleep(play_s)
        while not kb.down({kill}):  # a game over releases everything for a moment
            time.sleep(0.002)
        t0 = time.perf_counter()
        if trigger == "f12":
            kb.tap(kill)
        else:
            proc.send_signal(signal.SIGINT if trigger == "sigint" else signal.SIGTERM)
        released = exited = None
        while exited is None or released is None:
            now = time.perf_counter()
            if released is None and not kb.down({kill}):
                released = now - t0
            if exited is None and proc.poll() is not None:
                exited = now - t0
            if now - t0 > 20:
                raise RuntimeError(f"{trigger}: still running 20 s later")
        return released * 1e3, exited * 1e3, proc.returncode
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=10, help="runs per trigger (10)")
    ap.add_argument("--triggers", default="f12,sigint,sigterm")
    ap.add_argument("--play", type=float, default=1.0, help="seconds of play before each trigger (1)")
    ap.add_argument("--script", action="store_true",
                    help="run the installed `hakisa` script instead of `python -m hakisa`")
    args = ap.parse_args()
    command = [str(Path(sys.executable).with_name("hakisa"))] if args.script else [sys.executable, "-m", "hakisa"]
    import numpy as np

    with virtual_display("1280x720"), tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ["XDG_CACHE_HOME"] = str(work / "cache")
        ckpt = holding_checkpoint(work / "hold-left.pt")
        with game_with_demonstrator("dodge", work / "dodge.jsonl", size="640x360", play=False):
            kb = Keyboard()
            rows = []
            try:
                for trigger in args.triggers.split(","):
                    res = [trial(ckpt, trigger, work, kb, args.play, command) for _ in range(args.trials)]
                    rel, ext, rc = (np.array([r[i] for r in res]) for i in range(3))
                    rows.append((trigger, rel, ext, sorted(set(rc.tolist()))))
                    print(f"  {trigger}: release ms {np.round(rel, 1).tolist()} exit ms {np.round(ext).tolist()}",
                          file=sys.stderr, flush=True)
            finally:
                kb.close()
    print(f"{'hakisa' if args.script else 'python -m hakisa'} play stopped with a key held: {args.trials} trials per "
          f"trigger, {os.cpu_count()} cores")
    print(f"{'trigger':<9}{'release p50 ms':>16}{'release max ms':>16}{'exit p50 ms':>13}{'exit max ms':>13}"
          f"{'exit status':>13}")
    for trigger, rel, ext, rcs in rows:
        print(f"{trigger:<9}{np.median(rel):>16.1f}{rel.max():>16.1f}{np.median(ext):>13.0f}{ext.max():>13.0f}"
              f"{','.join(map(str, rcs)):>13}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
