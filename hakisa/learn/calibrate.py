"""Make the greedy clone act as often as the human did.

A clone of a person who fires, clicks or jumps on a few ticks in a hundred is rarely sure enough on any one
tick that acting beats idling, so its greedy play idles: a rare action is never the single most likely one.
Weighing rare actions up in the loss moves the whole policy toward acting, and on a game where one early jump
is a lost life it then acts too often. Calibration leaves the trained values alone and fits one offset per
action class (no-op, each key chord, each pointer command) on held-out frames, so that the greedy action's
shares there match the human's. Within a class the clone still acts where its values are highest, so the
offsets change how *often* it acts, not where.
"""

from __future__ import annotations

import numpy as np
import torch

from hakisa.codec import KEY, NOOP
from hakisa.learn.losses import ActionBias, HeadMasks, greedy


def action_classes(actions: np.ndarray, n_command: int, n_chords: int) -> np.ndarray:
    """(N,) class of each (command, action_1, action_2) row: 0 no-op, 1 + k key chord k, 1 + n_chords + c any
    other command c (a pointer command is one class whatever its cell)."""
    c, a1 = actions[:, 0].astype(np.int64), actions[:, 1].astype(np.int64)
    cls = np.where(c == KEY, 1 + a1, 1 + n_chords + c)
    return np.where(c == NOOP, 0, cls)


def class_shares(cls: np.ndarray, n_classes: int) -> np.ndarray:
    return np.bincount(cls, minlength=n_classes) / max(len(cls), 1)


def _bias(theta: np.ndarray, n_command: int, n_action_1: int, n_chords: int) -> ActionBias:
    command = np.zeros(n_command)
    command[NOOP] = theta[0]
    action_1 = np.zeros((n_command, n_action_1))
    action_1[KEY, :n_chords] = theta[1 : 1 + n_chords]
    others = [c for c in range(n_command) if c not in (NOOP, KEY)]
    command[others] = theta[[1 + n_chords + c for c in others]]
    return ActionBias(command, action_1)


@torch.no_grad()
def fit_action_bias(qs: tuple[torch.Tensor, ...], human: np.ndarray, masks: HeadMasks, n_chords: int,
                    scale: float, joint: bool = True, iters: int = 400,
                    raise_only: bool = True) -> tuple[ActionBias, dict]:
    """Offsets under which the greedy actions on these frames take each class as often as ``human`` (N, 3) did.

    ``qs``: the network's values on N held-out frames; ``scale``: Q units per nat of the policy's log-odds (the
    temperature the clone was trained at). The human's most common class (no-op in most games) keeps offset 0;
    the others are relative to it. ``raise_only``: the other offsets are never negative, so only actions the
    clone takes less often than the human are raised against the common one, and an action it already takes
    more often is left as it is (greedy selection's bias runs against rare actions). Fixed-point
    iteration on the log share ratio with a shrinking step; the offsets whose shares came closest are kept.
    Returns the bias and a report: the human's, the uncalibrated and the calibrated shares per class, and the
    total variation distance of each from the human's."""
    dev = masks.command.device
    qs = tuple(q.to(dev) for q in qs)
    n_command, n_action_1 = masks.a1.shape
    n_classes = 1 + n_chords + n_command
    valid = np.zeros(n_classes, bool)
    valid[0] = True
    valid[1 : 1 + n_chords] = bool(masks.command[KEY])
    for c in range(n_command):
        if c not in (NOOP, KEY):
            valid[1 + n_chords + c] = bool(masks.command[c])
    h = class_shares(action_classes(human, n_command, n_chords), n_classes)
    eps = 1.0 / max(len(human), 1)
    theta = np.zeros(n_classes)

    def shares(th: np.ndarray) -> np.ndarray:
        pred = greedy(qs, masks, joint, _bias(th, n_command, n_action_1, n_chords).to(dev)).cpu().numpy()
        return class_shares(action_classes(pred, n_command, n_chords), n_classes)

    free = valid.copy()
    free[int(np.argmax(np.where(valid, h, -1.0)))] = False  # the reference: the human's most common class
    low = 0.0 if raise_only else -20 * scale

    def miss(p: np.ndarray, th: np.ndarray) -> float:
        """How far the free classes' shares are from the human's; a class held at the lower bound while the
        clone already takes it more often than the human counts as met (nothing may lower it)."""
        met = (th <= low) & (p > h)
        return float(np.abs(p - h)[free & ~met].sum())

    before = shares(theta)
    best_miss, best_theta, best_p = miss(before, theta), theta.copy(), before
    for i in range(iters):
        p = shares(theta) if i else before
        m = miss(p, theta)
        if m < best_miss:
            best_miss, best_theta, best_p = m, theta.copy(), p
        if m < 0.5 * eps:
            break
        step = 0.5 * scale * 0.99 ** i
        theta[free] += step * np.clip(np.log(h[free] + eps) - np.log(p[free] + eps), -3.0, 3.0)
        theta = np.clip(theta, low, 20 * scale)
    report = {"human": h.tolist(), "before": before.tolist(), "after": best_p.tolist(),
              "tv_before": float(0.5 * np.abs(before - h).sum()), "tv_after": float(0.5 * np.abs(best_p - h).sum())}
    return _bias(best_theta, n_command, n_action_1, n_chords), report


@torch.no_grad()
def values_on(model: torch.nn.Module, T, idx: np.ndarray, stack: int, device: torch.device | str,
              batch: int = 256) -> tuple[torch.Tensor, ...]:
    """The network's Q values (three heads) on the steps ``idx`` of transitions ``T``, in eval mode."""
    was_training = model.training
    model.eval()
    parts = []
    for s in range(0, len(idx), batch):
        b = idx[s : s + batch]
        parts.append(model(torch.from_numpy(T.stacked(T.obs[b], T.ep_start[b], stack)).to(device)))
    model.train(was_training)
    return tuple(torch.cat([p[i] for p in parts]) for i in range(3))


def class_names(codec) -> list[str]:
    """Labels of :func:`action_classes`' classes for ``codec``."""
    from hakisa.codec import COMMANDS

    return ([COMMANDS[NOOP]] + ["+".join(ch) for ch in codec.chords]
            + [COMMANDS[c] for c in range(codec.n_command)])


def describe(report: dict, codec) -> str:
    """One line: each class the human or the clone took, the clone's share before -> after vs the human's."""
    rows = [f"{name} {100 * b:.1f}% -> {100 * a:.1f}% (human {100 * h:.1f}%)"
            for name, h, b, a in zip(class_names(codec), report["human"], report["before"], report["after"])
            if h > 0 or b > 0 or a > 0]
    return ", ".join(rows)
