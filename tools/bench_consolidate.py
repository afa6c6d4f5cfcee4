#!/usr/bin/env python3
"""Benchmark `hakisa consolidate`: updates/s and samples/s at the default model and input size on the
CPU, with the share of update time spent building batches, for the default settings (double DQN,
10-step returns, margin on human steps) and with the CQL penalty on.

    .venv/bin/python tools/bench_consolidate.py [--data datasets/*.h5] [--updates 200] [--threads 2]
        [--device cuda] [--batches host|device] [--amp] [--batch-size 256]

Without --data it writes a synthetic dataset (6,000 steps of 84x84 gray frames, half human, half agent).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", nargs="*", default=None)
    ap.add_argument("--updates", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--batches", choices=("auto", "host", "device"), default="auto",
                    help="where batches are built (consolidate --batches; auto: on a GPU when there is one)")
    ap.add_argument("--amp", action="store_true", help="bfloat16 forward passes (consolidate --amp)")
    args = ap.parse_args()
    import torch

    from bench_study import device_name, synthetic
    from hakisa.learn.consolidate import ConsolidateConfig, Consolidator
    from hakisa.data.dataset import DatasetReader
    from hakisa.profile import parse_profile

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if not data:
            data = [str(Path(tmp) / "human.h5"), str(Path(tmp) / "agent.h5")]
            synthetic(Path(data[0]), 3000, actor=1)
            synthetic(Path(data[1]), 3000, actor=2)
        with DatasetReader(data[0]) as r:
            profile = parse_profile(r.profile_text)
        for label, extra in (("default (double DQN, 10-step, margin)", {}), ("with CQL penalty", {"cql_weight": 1.0})):
            cfg = ConsolidateConfig(threads=args.threads, device=args.device, batch_size=args.batch_size,
                                    batches=args.batches, amp=args.amp, **extra)
            c = Consolidator(profile, data, cfg, log=lambda m: None)
            for _ in range(10):  # warm-up
                c.update()
            sample_s = 0.0
            real_inputs = c._inputs

            def timed_inputs(idx, augment=0):
                nonlocal sample_s
                t = time.perf_counter()
                out = real_inputs(idx, augment)
                sample_s += time.perf_counter() - t
                return out

            c._inputs = timed_inputs
            t0 = time.perf_counter()
            for _ in range(args.updates):
                c.update()
            dt = time.perf_counter() - t0
            rows.append((label, args.updates / dt, args.updates * cfg.batch_size / dt, sample_s / dt))
    print(f"\nhakisa consolidate: {len(c.T)} steps ({len(c.T.human_idx)} human, {len(c.T.agent_idx)} agent), input "
          f"{c.mcfg.stack}x{profile.capture.frame_shape}, batch {cfg.batch_size}, torch {torch.__version__}, "
          f"{args.threads} threads, {os.cpu_count()} cores, device {device_name(args.device)}, batches built on the "
          f"{'device' if c.T.device_frames is not None else 'host'}{', bfloat16 autocast' if args.amp else ''}")
    print(f"{'run':<40} {'updates/s':>10} {'samples/s':>10} {'batch share':>12}")
    for label, ups, sps, share in rows:
        print(f"{label:<40} {ups:>10.1f} {sps:>10.0f} {100 * share:>11.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
