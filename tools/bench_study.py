#!/usr/bin/env python3
"""Benchmark `hakisa study`: training samples/s at the default model and input size, the share of
step time spent reading data, and how fast datasets load from HDF5.

    .venv/bin/python tools/bench_study.py [--data datasets/demo-dodge.h5] [--steps 300] [--threads 2] [--device cuda]
        [--batches host|device] [--amp] [--compile] [--batch-size 256]

Without --data it writes a synthetic dataset (6,000 steps of 84x84 gray frames) first.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402


def synthetic(path: Path, steps: int = 6000, actor: int = 1) -> None:
    """Random-looking 84x84 frames scrolling sideways, random key actions, written by ``actor``."""
    from hakisa.codec import ActionCodec
    from hakisa.data.dataset import DatasetWriter, Observation
    from hakisa.profile import load_profile

    profile = load_profile("dodge")
    w = DatasetWriter(path, profile, ActionCodec(profile.actions, (1280, 720)))
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (84, 84, 1), dtype=np.uint8)
    for e in range(steps // 1000):
        w.start_episode(Observation(base, 0.0, 0))
        for i in range(1, 1001):
            frame = np.roll(base, i, axis=1)
            w.add_step((int(rng.integers(0, 2)), int(rng.integers(0, 5)), 0), actor, float(rng.random() < 0.05),
                       False, False,
                       Observation(frame, i / 20, i))
        w.end_episode("truncated")
    w.close()


def device_name(name: str) -> str:
    import torch

    from hakisa.learn.training import pick_device

    dev = pick_device(name)
    return torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", nargs="*", default=None)
    ap.add_argument("--steps", type=int, default=300, help="updates (default 300; speed is timed over the second half)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--batches", choices=("auto", "host", "device"), default="auto",
                    help="where batches are built (study --batches; auto: on a GPU when there is one)")
    ap.add_argument("--amp", action="store_true", help="bfloat16 forward passes (study --amp)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the update (study --compile)")
    args = ap.parse_args()
    import torch

    from hakisa.data.transitions import load_transitions
    from hakisa.data.dataset import DatasetReader
    from hakisa.profile import parse_profile
    from hakisa.learn.study import StudyConfig, study

    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if not data:
            data = [str(Path(tmp) / "synthetic.h5")]
            synthetic(Path(data[0]))
        with DatasetReader(data[0]) as r:
            profile = parse_profile(r.profile_text)
        t0 = time.perf_counter()
        T = load_transitions(data, profile)
        load_s = time.perf_counter() - t0
        mb = T.frames.nbytes / 1e6
        out = Path(tmp) / "bench.pt"
        cfg = StudyConfig(steps=args.steps, eval_every=max(1, args.steps // 2), threads=args.threads, device=args.device,
                          batch_size=args.batch_size, batches=args.batches, amp=args.amp,
                          compile=args.compile)
        lines = []
        res = study(profile, data, out, cfg, progress=False, log=lines.append)
    built = "device" if any("batches built on" in m for m in lines) else "host"
    m = res.metrics  # of the second half of the updates: warm-up (cuDNN's choices, the compiler) not counted
    print(f"\nhakisa study: {len(T)} steps, input {cfg.stack}x{profile.capture.frame_shape}, batch {cfg.batch_size}, "
          f"torch {torch.__version__}, {args.threads} threads, {os.cpu_count()} cores, device {device_name(args.device)}, "
          f"batches built on the {built}{', bfloat16 autocast' if args.amp else ''}{', compiled' if args.compile else ''}")
    print(f"{'samples/s':>10} {'updates/s':>10} {'read share':>11} {'HDF5 load s':>12} {'load MB/s':>10}")
    print(f"{m['samples_per_s']:>10.0f} {m['samples_per_s'] / cfg.batch_size:>10.1f} {100 * m['read_share']:>10.1f}% "
          f"{load_s:>12.2f} {mb / load_s:>10.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
