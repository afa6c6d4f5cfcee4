"""The acting side of a Q-network: frame stack in, factored action out (greedy or exploring)."""

from __future__ import annotations

from collections import deque

import numpy as np
import torch

from hakisa.codec import Action, ActionCodec
from hakisa.data.transitions import stack_frames
from hakisa.learn.losses import ActionBias, HeadMasks, greedy, joint_q, sample
from hakisa.learn.model import ModelConfig, QNetwork


class Agent:
    """Keeps the last ``stack`` frames of an episode and picks the greedy valid action."""

    def __init__(self, model: QNetwork, codec: ActionCodec, joint: bool = True, bias: ActionBias | None = None,
                 play_temperature: float = 0.0):
        """``joint``: greedy over the heads' joint value (see :func:`hakisa.learn.losses.greedy`); ``bias``: offsets
        that make the greedy action as frequent as the human's (:mod:`hakisa.learn.calibrate`), or None;
        ``play_temperature``: how the checkpoint says to play when nobody says otherwise (0 = greedy)."""
        self.model = model.eval()
        self.codec = codec
        self.joint = joint
        self.bias = bias
        self.play_temperature = play_temperature
        self.masks = HeadMasks(codec)
        self.stack = model.cfg.stack
        self.frames: deque[np.ndarray] = deque(maxlen=self.stack)
        self.last_q = None  # each head's Q values of the last frame acted on

    @classmethod
    def from_checkpoint(cls, blob: dict) -> "Agent":
        """Build from :func:`hakisa.learn.checkpoint.load_checkpoint` output."""
        from hakisa.learn.checkpoint import CheckpointError
        from hakisa.profile import parse_profile

        cfg = ModelConfig.from_dict(blob["model_config"])
        model = QNetwork(cfg)
        model.load_state_dict(blob["model"])
        profile = parse_profile(blob["profile_toml"], source="checkpoint profile")
        codec = ActionCodec(profile.actions, tuple(blob["codec"]["capture_size"]))
        # checkpoints from before joint selection was a setting were trained and scored head by head
        state = blob.get("state") or {}
        select = state.get("config", {}).get("select", "heads")
        bias = None
        if state.get("action_bias"):
            try:
                bias = ActionBias.from_dict(state["action_bias"], codec.n_command, codec.n_action_1)
            except (ValueError, KeyError, TypeError) as exc:
                raise CheckpointError(f"the checkpoint's calibration offsets are damaged ({exc}); study again, or "
                                      "play a checkpoint without them") from None
        t = state.get("play_temperature", 0.0)
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 <= t < 1e6:
            raise CheckpointError(f"the checkpoint's play_temperature is {t!r}, not a number >= 0; it is damaged")
        return cls(model, codec, joint=select == "joint", bias=bias, play_temperature=float(t))

    def reset(self) -> None:
        self.frames.clear()

    def _stacked(self) -> torch.Tensor:
        return torch.from_numpy(stack_frames(np.stack(self.frames)[None]))

    def _input(self, frame: np.ndarray) -> torch.Tensor:
        if not self.frames:
            self.frames.extend([frame] * self.stack)
        else:
            self.frames.append(frame)
        return self._stacked()

    @torch.inference_mode()
    def warm(self) -> None:
        """Run the network once on the current stack, result unused: keeps its weights in the CPU caches
        while the loop waits for the next tick, so the real pass right after the grab runs at full speed."""
        if self.frames:
            self.model(self._stacked())

    @torch.inference_mode()
    def act(self, frame: np.ndarray, epsilon: float = 0.0, temperature: float = 0.0,
            rng: np.random.Generator | None = None) -> tuple[Action, float, bool]:
        """Action for the newest preprocessed frame (H, W, C), its Q value, and whether it was greedy.

        ``epsilon``: each head independently takes a uniformly random valid index with this chance;
        ``temperature`` > 0: the action is drawn from softmax(value / temperature) instead
        (:func:`hakisa.learn.losses.sample`; replaces epsilon). Heads that do not apply to the chosen
        command stay 0. The action counts as greedy when it is the greedy action."""
        qs = self.model(self._input(frame))
        self.last_q = qs  # each head's Q values of this frame (the dashboard shows them)
        a = greedy(qs, self.masks, self.joint, self.bias)
        is_greedy = True
        if temperature > 0:
            drawn = sample(qs, self.masks, temperature, rng or np.random.default_rng(), self.joint, self.bias)
            is_greedy = bool((drawn == a).all())
            a = drawn
        elif epsilon > 0:
            rng = rng or np.random.default_rng()
            c, drawn = self._pick(self.masks.command.numpy(), int(a[0, 0]), epsilon, rng)
            picks = [c]
            for head, table in ((1, self.masks.a1), (2, self.masks.a2)):
                valid = table[c].numpy()
                if not valid.any():
                    picks.append(0)
                    continue
                values = qs[head][0].numpy()
                if head == 1 and self.bias is not None:
                    values = values + self.bias.action_1[c].numpy()
                best = int(np.flatnonzero(valid)[np.argmax(values[valid])])
                idx, d = self._pick(valid, best, epsilon, rng)
                picks.append(idx)
                drawn |= d
            a = torch.tensor([picks])
            is_greedy = not drawn
        q = float(joint_q(qs, a, self.masks)[0])
        c, a1, a2 = (int(v) for v in a[0])
        return Action(c, a1, a2), q, is_greedy

    @staticmethod
    def _pick(valid: np.ndarray, best: int, epsilon: float, rng: np.random.Generator) -> tuple[int, bool]:
        """(index, drawn at random?): a uniformly random valid index with chance ``epsilon``, else ``best``."""
        if rng.random() < epsilon:
            return int(rng.choice(np.flatnonzero(valid))), True
        return best, False
