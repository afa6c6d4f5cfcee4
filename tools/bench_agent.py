#!/usr/bin/env python3
"""Benchmark the agent loop on a real bundled-game window: grab -> preprocess -> Q-network -> decode -> inject.

Starts a private Xvfb when there is no display, opens the game window, and runs the same loop as
`hakisa play` (real mss capture, the profile's screen rules, the default-size network with one torch
thread, pynput injection, a focus check every tick) first at the profile's tick rate, then with no tick
limit.  Prints per-stage and total latency (p50 / p99) and the loop rate:

    .venv/bin/python tools/bench_agent.py --seconds 20
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from xsession import game_with_demonstrator, virtual_display  # noqa: E402

from hakisa import BUNDLED_GAMES  # noqa: E402


def run(profile, seconds: float, tick: bool, record: str | None):
    import torch

    from hakisa.act.agent import Agent
    from hakisa.codec import ActionCodec
    from hakisa.data.dataset import DatasetWriter
    from hakisa.live.inject import LiveActuator
    from hakisa.live.sources import WindowFrameSource, apply_region
    from hakisa.live.x11 import find_window
    from hakisa.act.loop import AgentLoop, AgentPolicy
    from hakisa.learn.model import ModelConfig, QNetwork

    torch.set_num_threads(1)
    win = find_window(profile.window, timeout=10)
    win.focus()
    area = apply_region(win.geometry(), profile.capture.region)
    win.close()
    codec = ActionCodec(profile.actions, (area[2], area[3]))
    model = QNetwork(ModelConfig(frame_shape=profile.capture.frame_shape, n_command=codec.n_command,
                                 n_action_1=codec.n_action_1, n_action_2=codec.n_action_2))
    writer = DatasetWriter(record, profile, codec, source="play", force=True) if record else None
    loop = AgentLoop(profile, WindowFrameSource(win.wid, win.title, profile.capture.region), LiveActuator(),
                     AgentPolicy(Agent(model, codec)), codec, writer=writer, tick_hz=-1 if tick else None,
                     max_seconds=seconds)
    try:
        stats = loop.run()
    finally:
        if writer:
            writer.close()
    return stats


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--game", default="dodge", choices=BUNDLED_GAMES)
    ap.add_argument("--size", default="640x360", help="game window size (default 640x360)")
    ap.add_argument("--seconds", type=float, default=15.0, help="seconds per run (default 15)")
    args = ap.parse_args()
    import numpy as np

    from hakisa.profile import load_profile

    profile = load_profile(args.game)
    rows = []
    with virtual_display(reuse=True):
        with tempfile.TemporaryDirectory() as tmp:
            with game_with_demonstrator(args.game, Path(tmp) / "game.log", size=args.size, play=False):
                for label, tick, rec in ((f"{profile.capture.tick_hz:g} Hz (profile), recording", True, "r.h5"),
                                         ("no tick limit, recording", False, "u.h5"),
                                         ("no tick limit, not recording", False, None)):
                    t0 = time.perf_counter()
                    st = run(profile, args.seconds, tick, os.path.join(tmp, rec) if rec else None)
                    rate = st.ticks / (time.perf_counter() - t0)
                    stage = {k: (float(np.median(v)), float(np.percentile(v, 99))) for k, v in st.stage_ms.items() if v}
                    rows.append((label, st.actions, rate, st.latency(), stage))
    print(f"\nagent loop on a {args.size} '{args.game}' window under X, input {profile.capture.frame_width}x"
          f"{profile.capture.frame_height} {profile.capture.color}, default network, 1 torch thread, {os.cpu_count()} cores")
    print(f"{'run':<34} {'actions':>8} {'loop Hz':>8} {'p50 ms':>8} {'p99 ms':>8}   stages p50/p99 ms")
    for label, n, rate, (p50, p99), stage in rows:
        parts = "  ".join(f"{k} {a:.2f}/{b:.2f}" for k, (a, b) in stage.items())
        print(f"{label:<34} {n:>8} {rate:>8.1f} {p50:>8.2f} {p99:>8.2f}   {parts}")
    print("for comparison: Hakisa (the ancestor) 1.3 s per step, SerpentAI 3-4 s per step")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
