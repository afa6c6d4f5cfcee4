"""Pieces shared by `hakisa study` and `hakisa consolidate`: model set-up from a profile, checkpoints
with their lineage, batches with augmentation, metrics files and learning-curve plots."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch

from hakisa import __version__
from hakisa.learn.checkpoint import CheckpointError, save_checkpoint
from hakisa.codec import ActionCodec
from hakisa.data.transitions import Transitions
from hakisa.errors import DeviceError
from hakisa.learn.model import ModelConfig, QNetwork
from hakisa.profile import Profile


def build_codec(profile: Profile, data: list[str]) -> ActionCodec:
    """The codec of the data's captured area (every dataset of a run has the same profile)."""
    from hakisa.data.dataset import DatasetReader

    with DatasetReader(data[0]) as r:
        return ActionCodec(profile.actions, tuple(r.codec_info["capture_size"]))


def model_config(profile: Profile, codec: ActionCodec, stack: int, channels, hidden: int,
                 norm: str = "none", motion: bool = False) -> ModelConfig:
    return ModelConfig(frame_shape=profile.capture.frame_shape, stack=stack, n_command=codec.n_command,
                       n_action_1=codec.n_action_1, n_action_2=codec.n_action_2, channels=tuple(channels),
                       hidden=hidden, norm=norm, motion=motion)


def warmup_schedule(opt: torch.optim.Optimizer, steps: int, done: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear learning-rate warm-up over the first ``steps`` updates (``done``: updates already made, when
    resuming). Adam's first updates are its largest relative to the weights; at full rate they can push a
    fresh network's ReLUs into never firing again."""
    lam = (lambda k: min(1.0, (k + done + 1) / steps)) if steps > 0 else (lambda k: 1.0)
    return torch.optim.lr_scheduler.LambdaLR(opt, lam)


def check_model_fits(blob: dict, want: ModelConfig, path: str | Path, what: str) -> ModelConfig:
    """The checkpoint's network must take this profile's frames and emit this codec's heads."""
    have = ModelConfig.from_dict(blob["model_config"])
    for field in ("frame_shape", "n_command", "n_action_1", "n_action_2"):
        if getattr(have, field) != getattr(want, field):
            raise CheckpointError(f"{what} {path} has {field} {getattr(have, field)}, but the data and profile need "
                                  f"{getattr(want, field)}; was it trained at another capture size or resolution?")
    return have


def set_up_torch(seed: int, threads: int) -> np.random.Generator:
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)  # tiny weights otherwise slow CPU training down several times
    return np.random.default_rng(seed)


def pick_device(name: str) -> torch.device:
    """``auto`` (a CUDA GPU when there is one, else the CPU), ``cpu``, ``cuda`` or ``cuda:N``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise DeviceError(f"--device {name!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"--device {name}: this torch ({torch.__version__}) sees no CUDA GPU; use --device cpu")
    if dev.type not in ("cpu", "cuda"):
        raise DeviceError(f"--device {name}: only cpu and cuda are supported")
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN pick its fastest convolutions once
    return dev


def new_optimizer(model: QNetwork, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay, fused=True)


def random_shift(x: np.ndarray, pad: int, rng: np.random.Generator) -> np.ndarray:
    """Shift each sample of (B, C, H, W) by up to ``pad`` pixels (edges repeated): a cheap augmentation
    that stops a small network from memorising exact pixel positions of a few minutes of play."""
    if pad <= 0:
        return x
    B, C, H, W = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (H, W), axis=(2, 3))  # (B, C, 2p+1, 2p+1, H, W)
    dy, dx = rng.integers(0, 2 * pad + 1, B), rng.integers(0, 2 * pad + 1, B)
    return np.ascontiguousarray(windows[np.arange(B), :, dy, dx])


def random_photometric(x: np.ndarray, rng: np.random.Generator, invert: float = 0.5) -> np.ndarray:
    """Change each sample of uint8 (B, C, H, W) by a random contrast (x0.5-1.5 around its mean) and brightness
    (+-25% of full scale), and invert it with chance ``invert``; every frame and channel of a sample alike. A game
    whose palette changes from level to level (or fades from day to night) shows the same shapes in other
    greys: this keeps a network from tying what it learnt to the few palettes of a recording."""
    B = x.shape[0]
    mean = x.reshape(B, -1).mean(1, dtype=np.float32)
    c = rng.uniform(0.5, 1.5, B).astype(np.float32)
    d = mean * (1 - c) + rng.uniform(-64, 64, B).astype(np.float32)  # x -> c x + d
    flip = rng.random(B) < invert  # then 255 - (c x + d)
    c[flip], d[flip] = -c[flip], 255.0 - d[flip]
    f = x.astype(np.float32)
    f *= c[:, None, None, None]
    f += d[:, None, None, None]
    np.clip(f, 0, 255, out=f)
    return f.astype(np.uint8)


def actions_of(T: Transitions, idx: np.ndarray) -> torch.Tensor:
    """(B, 3) long: the recorded head indices of steps ``idx``."""
    return torch.from_numpy(np.stack([T.command[idx], T.action_1[idx], T.action_2[idx]], 1))


def file_digest(path: str | Path, limit: int = 1 << 20) -> str:
    """A cheap identity for a data or checkpoint file: sha256 of its size and first and last MiB."""
    p = Path(path)
    size = p.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with open(p, "rb") as f:
        h.update(f.read(limit))
        if size > limit:
            f.seek(max(limit, size - limit))
            h.update(f.read(limit))
    return h.hexdigest()[:16]


def dataset_lineage(paths: list[str]) -> list[dict]:
    from hakisa.data.dataset import DatasetReader

    out = []
    for p in paths:
        with DatasetReader(p) as r:
            n = sum(r.info(e).n_steps for e in r.episode_names())
            out.append({"path": str(p), "digest": file_digest(p), "source": r.source, "steps": int(n)})
    return out


def check_same_data(blob: dict, now: list[dict], path: str | Path) -> None:
    """--resume must continue on the data the run started with (compared by content digest, in order)."""
    then = (blob["state"].get("lineage") or {}).get("datasets")
    if not isinstance(then, list):
        return  # made before lineage was recorded: nothing to compare
    d_then = [d.get("digest") if isinstance(d, dict) else None for d in then]
    d_now = [d["digest"] for d in now]
    if d_then != d_now:
        names = ", ".join(str(d.get("path")) if isinstance(d, dict) else "?" for d in then) or "none"
        raise CheckpointError(f"--resume: {path} was trained on {names}, but this run gives --data "
                              f"{', '.join(d['path'] for d in now)} (different files or contents). Resume with the "
                              "same --data, or start a new run (another --out, or --force to replace it).")


def save_run(out: Path, model: QNetwork, opt, mcfg: ModelConfig, codec: ActionCodec, profile: Profile,
             state: dict, extra: dict | None = None) -> None:
    """Write a study/consolidate checkpoint (atomically)."""
    cap = profile.capture
    save_checkpoint(out, model=model, optimizer=opt, model_config=mcfg.to_dict(), codec=codec.to_dict(),
                    profile=profile, preprocessing={"width": cap.frame_width, "height": cap.frame_height,
                                                    "color": cap.color, "stack": mcfg.stack},
                    state={**state, "hakisa_version": __version__}, extra=extra)


def config_dict(cfg) -> dict:
    from dataclasses import asdict

    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()}


class MetricsFile:
    """OUT.metrics.jsonl: one JSON object per evaluation (appended when resuming)."""

    def __init__(self, out: Path, resume: bool):
        self.path = out.with_name(out.name + ".metrics.jsonl")
        self.mode = "a" if resume else "w"
        self.f = None  # opened at the first row: a run that fails before it leaves no empty file, and
        # --force keeps the old run's metrics until the new run has something to say

    def write(self, row: dict) -> None:
        if self.f is None:
            self.f = open(self.path, self.mode, encoding="utf-8")
        self.f.write(json.dumps(row) + "\n")
        self.f.flush()
        os.fsync(self.f.fileno())

    def close(self) -> None:
        if self.f is not None:
            self.f.close()


def tensorboard(out: Path, history: list) -> None:
    """Also log to TensorBoard when it is installed (optional)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:
        return
    with SummaryWriter(str(out.with_name(out.name + ".tb"))) as tb:
        for h in history:
            for k, v in h.items():
                if k != "step" and isinstance(v, (int, float)) and np.isfinite(v):
                    tb.add_scalar(k, v, h["step"])


def plot_curves(history: list[dict], path: Path, title: str, panels: list[tuple[str, tuple[str, ...], tuple | None]]) -> None:
    """One PNG, a panel per (title, metric keys, y limits) against updates."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6))
    for ax, (name, keys, ylim) in zip(np.atleast_1d(axes), panels):
        for k in keys:
            vals = [h.get(k, float("nan")) for h in history]
            if any(np.isfinite(v) for v in vals):
                ax.plot(steps, vals, label=k)
        if ylim:
            ax.set_ylim(*ylim)
        ax.set_xlabel("updates")
        ax.set_title(name)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
