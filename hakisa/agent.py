"""The acting side of a Q-network: frame stack in, factored action out (greedy or exploring)."""

from __future__ import annotations

from collections import deque

import numpy as np
import torch

from hakisa.codec import Action, ActionCodec
from hakisa.data import stack_frames
from hakisa.learn import HeadMasks, greedy, joint_q
from hakisa.model import ModelConfig, QNetwork


class Agent:
    """Keeps the last ``stack`` frames of an episode and picks the greedy valid action."""

    def __init__(self, model: QNetwork, codec: ActionCodec):
        self.model = model.eval()
        self.codec = codec
        self.masks = HeadMasks(codec)
        self.stack = model.cfg.stack
        self.frames: deque[np.ndarray] = deque(maxlen=self.stack)

    @classmethod
    def from_checkpoint(cls, blob: dict) -> "Agent":
        """Build from :func:`hakisa.checkpoint.load_checkpoint` output."""
        from hakisa.profile import parse_profile

        cfg = ModelConfig.from_dict(blob["model_config"])
        model = QNetwork(cfg)
        model.load_state_dict(blob["model"])
        profile = parse_profile(blob["profile_toml"], source="checkpoint profile")
        codec = ActionCodec(profile.actions, tuple(blob["codec"]["capture_size"]))
        return cls(model, codec)

    def reset(self) -> None:
        self.frames.clear()

    def _input(self, frame: np.ndarray) -> torch.Tensor:
        if not self.frames:
            self.frames.extend([frame] * self.stack)
        else:
            self.frames.append(frame)
        return torch.from_numpy(stack_frames(np.stack(self.frames)[None]))

    @torch.inference_mode()
    def act(self, frame: np.ndarray) -> tuple[Action, float]:
        """Greedy action for the newest preprocessed frame (H, W, C) and its Q value."""
        qs = self.model(self._input(frame))
        a = greedy(qs, self.masks)
        q = float(joint_q(qs, a, self.masks)[0])
        c, a1, a2 = (int(v) for v in a[0])
        return Action(c, a1, a2), q
