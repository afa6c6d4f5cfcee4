"""The factored-head Q-network: a small convolutional trunk, a shared state value, three heads.

Branching dueling Q-network (BDQ): each head d gives Q_d(s, a) = V(s) + A_d(s, a) - mean_a A_d(s, a).
No final activation: the outputs are Q values, on the scale of the rewards.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass
class ModelConfig:
    """Shape of the network. Defaults suit 84-128 px frames on a CPU."""

    frame_shape: tuple[int, int, int] = (128, 128, 3)  # stored observation (H, W, C)
    stack: int = 4  # frames stacked as one input (the newest last)
    n_command: int = 5
    n_action_1: int = 1
    n_action_2: int = 1
    channels: tuple[int, ...] = (32, 64, 64)  # conv widths; kernels/strides 8/4, 4/2, 3/1 then 3/1 for more
    hidden: int = 256  # width of the shared fully connected layer
    norm: str = "none"  # "layer": LayerNorm before every ReLU (conv maps and the shared layer); "none": plain
    motion: bool = False  # also feed the differences of consecutive stacked frames (what moved; static texture cancels)

    NORMS = ("none", "layer")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["frame_shape"], d["channels"] = list(self.frame_shape), list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        d = dict(d)
        d["frame_shape"], d["channels"] = tuple(d["frame_shape"]), tuple(d["channels"])
        d.setdefault("norm", "none")  # checkpoints from before the field existed had no normalisation
        d.setdefault("motion", False)
        return cls(**d)


_KERNELS = [(8, 4), (4, 2), (3, 1)]


class QNetwork(nn.Module):
    """Input: uint8 (B, stack*C, H, W). Output: (q_command, q_action_1, q_action_2)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        H, W, C = cfg.frame_shape
        layers: list[nn.Module] = []
        cin = n_in = (2 * cfg.stack - 1) * C if cfg.motion else cfg.stack * C
        for i, cout in enumerate(cfg.channels):
            k, s = _KERNELS[i] if i < len(_KERNELS) else (3, 1)
            layers.append(nn.Conv2d(cin, cout, k, s))
            if cfg.norm == "layer":
                layers.append(nn.GroupNorm(1, cout))  # one group: LayerNorm over the whole feature map
            layers.append(nn.ReLU(inplace=True))
            cin = cout
        self.trunk = nn.Sequential(*layers, nn.Flatten())
        with torch.no_grad():
            n_flat = self.trunk(torch.zeros(1, n_in, H, W)).shape[1]
        fc: list[nn.Module] = [nn.Linear(n_flat, cfg.hidden)]
        if cfg.norm == "layer":
            fc.append(nn.LayerNorm(cfg.hidden))
        self.fc = nn.Sequential(*fc, nn.ReLU(inplace=True))
        self.value = nn.Linear(cfg.hidden, 1)
        self.heads = nn.ModuleList([nn.Linear(cfg.hidden, n) for n in (cfg.n_command, cfg.n_action_1, cfg.n_action_2)])
        self.to(memory_format=torch.channels_last)  # about 2x faster convolutions on CPU (oneDNN)
        self.amp = False  # set by a trainer: forward passes in bfloat16 autocast, the outputs back in float32


    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = x.float().div_(255.0)
        if self.cfg.motion:  # frames are stacked along the channels, C each, the newest last
            C = self.cfg.frame_shape[2]
            x = torch.cat([x, x[:, C:] - x[:, :-C]], 1)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.amp):
            h = self.fc(self.trunk(x))
            v = self.value(h)
            heads = [head(h) for head in self.heads]
        v = v.float()
        return tuple(v + a - a.mean(dim=1, keepdim=True) for a in (a.float() for a in heads))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
