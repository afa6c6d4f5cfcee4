"""Training batches built on the learning device: the frames live there, and frame stacks and random shifts are
one gather each, so a GPU learner does not wait on the host's few CPU threads to stack, shift and copy batches.

On the host, :meth:`hakisa.data.transitions.Transitions.stacked` and :func:`hakisa.learn.training.random_shift`
do the same with numpy. Both ways draw their shifts from the same generator in the same order, so a seeded run
samples the same batches whichever way it builds them (``tests/test_batches.py`` checks they are equal).
"""

from __future__ import annotations

import numpy as np
import torch

from hakisa.errors import ConfigError

BATCHES = ("auto", "host", "device")
DEVICE_SHARE = 0.5  # at most this share of the device's free memory holds frames (auto)


def draw_shifts(rng: np.random.Generator, n: int, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """The offsets :func:`hakisa.learn.training.random_shift` draws for ``n`` samples, in its order."""
    return rng.integers(0, 2 * pad + 1, n), rng.integers(0, 2 * pad + 1, n)


def batches_on_device(name: str, dev: torch.device, frames_nbytes: int, log=print) -> bool:
    """Whether to build batches on ``dev``: ``host``, ``device`` (even on the CPU, where it is torch's gather
    instead of numpy's) or ``auto`` (on a GPU when the frames fit in part of its free memory)."""
    if name not in BATCHES:
        raise ConfigError(f"--batches {name!r}: choose one of {', '.join(BATCHES)}")
    if name != "auto":
        return name == "device"
    if dev.type != "cuda":
        return False
    free, _ = torch.cuda.mem_get_info(dev)
    if frames_nbytes > DEVICE_SHARE * free:
        log(f"batches: {frames_nbytes / 2**30:.1f} GiB of frames would not fit in half the GPU's free "
            f"{free / 2**30:.1f} GiB; building batches on the host")
        return False
    return True


class DeviceFrames:
    """uint8 frames (N, H, W, C) on a device, growing by doubling as frames are appended."""

    def __init__(self, frames: np.ndarray, device: torch.device, spare: int = 0):
        n = len(frames)
        self.device = device
        self._f = torch.empty((max(1, n + spare), *frames.shape[1:]), dtype=torch.uint8, device=device)
        self._f[:n] = torch.from_numpy(np.ascontiguousarray(frames)).to(device)
        self.n = n

    def __len__(self) -> int:
        return self.n

    @property
    def nbytes(self) -> int:
        return self._f.numel()

    def append(self, frame: np.ndarray) -> None:
        if self.n == len(self._f):
            grown = torch.empty((2 * len(self._f), *self._f.shape[1:]), dtype=torch.uint8, device=self.device)
            grown[: self.n] = self._f[: self.n]
            self._f = grown
        self._f[self.n] = torch.from_numpy(np.ascontiguousarray(frame)).to(self.device, non_blocking=False)
        self.n += 1

    def stacked(self, frame_idx: np.ndarray, first_idx: np.ndarray, stack: int,
                shift: tuple[np.ndarray, np.ndarray, int] | None = None) -> torch.Tensor:
        """(B, stack*C, H, W) uint8 on the device: each frame with the ``stack - 1`` before it (clamped at its
        episode's first frame), optionally shifted by ``shift`` = (dy, dx, pad) with the edges repeated, as
        ``random_shift`` shifts a host batch."""
        dev = self.device
        fi, first = _index(frame_idx, dev), _index(first_idx, dev)
        offs = torch.maximum(fi[:, None] - torch.arange(stack - 1, -1, -1, device=dev)[None, :], first[:, None])
        _, H, W, C = self._f.shape
        B = len(fi)
        if shift is None:
            x = self._f[offs]  # (B, S, H, W, C)
        else:
            dy, dx, pad = shift
            dy, dx = _index(dy, dev), _index(dx, dev)
            rows = (torch.arange(H, device=dev)[None, :] + dy[:, None] - pad).clamp_(0, H - 1)  # (B, H)
            cols = (torch.arange(W, device=dev)[None, :] + dx[:, None] - pad).clamp_(0, W - 1)  # (B, W)
            x = self._f[offs[:, :, None, None], rows[:, None, :, None], cols[:, None, None, :]]  # (B, S, H, W, C)
        return x.permute(0, 1, 4, 2, 3).reshape(B, stack * C, H, W).contiguous()


def upload(a, dev: torch.device, dtype: torch.dtype | None = None) -> torch.Tensor:
    """A numpy array or tensor on ``dev`` (as ``dtype``). To a GPU it goes through pinned memory without blocking:
    a plain copy from pageable memory waits for the GPU to finish everything queued, so a few small index
    copies per update would stop the host from preparing the next update while the GPU runs this one."""
    t = a if isinstance(a, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(a))
    if t.device != dev and dev.type == "cuda" and t.device.type == "cpu":
        t = t.pin_memory().to(dev, non_blocking=True)
    else:
        t = t.to(dev)
    return t if dtype is None else t.to(dtype)


def _index(a, dev: torch.device) -> torch.Tensor:
    """int64 indices on ``dev`` from a numpy array or a tensor already anywhere."""
    if not isinstance(a, torch.Tensor):
        a = np.asarray(a, np.int64)
    return upload(a, dev, torch.int64)
