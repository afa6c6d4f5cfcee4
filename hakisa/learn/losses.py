"""Losses and action selection for the factored heads, shared by study, consolidate and play.

Masks come from the codec: a head that does not apply to a command neither trains nor acts.
Heads share one TD target as in branching Q-networks: the value of a state-action is the mean
of the applicable heads' Q values at that action.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from hakisa.codec import ActionCodec

NEG = -1e9


class HeadMasks:
    """Per-command validity masks for the three heads, as tensors."""

    def __init__(self, codec: ActionCodec, device: torch.device | str = "cpu"):
        n = codec.n_command
        self.command = torch.as_tensor(codec.command_mask(), device=device)
        self.a1 = torch.as_tensor(np.stack([codec.action_1_mask(c) for c in range(n)]), device=device)
        self.a2 = torch.as_tensor(np.stack([codec.action_2_mask(c) for c in range(n)]), device=device)
        self.uses = torch.stack([torch.ones(n, dtype=torch.bool, device=device), self.a1.any(1), self.a2.any(1)], 1)

    def usage(self, command: torch.Tensor) -> torch.Tensor:
        """(B, 3) float: which heads apply to each sample's command."""
        return self.uses[command].float()


def _masked(q: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return q.masked_fill(~mask, NEG)


def command_values(qs: tuple[torch.Tensor, ...], masks: HeadMasks, joint: bool = True,
                   bias: "ActionBias | None" = None) -> torch.Tensor:
    """(B, n_command): what each command is worth, invalid commands at -1e9.

    ``joint``: the value of the command's best joint action, the mean of its applicable heads' Q values at
    their best valid indices (:func:`joint_q`, the quantity the TD target trains), so no-op is weighed
    against the best chord or pointer cell, not against the key head's Q at whatever chord the data happened
    to take. ``joint=False``: the command head's Q alone. ``bias``: offsets added to the command head and, per
    command, to action_1 before anything is compared (:class:`ActionBias`; for acting, and for imitating what an
    actor chose with them, never otherwise in a loss)."""
    qc, q1, q2 = qs
    q1c = q1[:, None, :]  # (B, 1 or n_command, n_action_1): action_1's values under each command
    if bias is not None:
        qc = qc + bias.command
        q1c = q1c + bias.action_1[None]
    if joint:
        best1 = _masked(q1c, masks.a1[None]).max(2).values  # (B, n_command): best action_1 per command
        best2 = _masked(q2[:, None, :], masks.a2[None]).max(2).values
        u = masks.uses.float()  # (n_command, 3)
        qc = (qc + best1 * u[:, 1] + best2 * u[:, 2]) / u.sum(1)  # a head that does not apply counts 0
    return _masked(qc, masks.command.expand_as(qc))


def greedy(qs: tuple[torch.Tensor, ...], masks: HeadMasks, joint: bool = True,
           bias: "ActionBias | None" = None) -> torch.Tensor:
    """(B, 3) long: the best valid factored action: the best command by :func:`command_values`, then the best
    valid action_1 / action_2 for it (``bias``: see :func:`command_values`)."""
    _, q1, q2 = qs
    return _with_indices(command_values(qs, masks, joint, bias).argmax(1), q1, q2, masks, bias)


class ActionBias:
    """Offsets added to the Q values when acting (:func:`hakisa.learn.calibrate.fit_action_bias` fits them so the
    greedy clone acts as often as the human did): ``command`` (n_command,) on the command head, ``action_1``
    (n_command, n_action_1) on action_1 under each command (a key chord's offset applies under KEY only)."""

    def __init__(self, command, action_1, device: torch.device | str = "cpu"):
        self.command = torch.as_tensor(command, dtype=torch.float32, device=device)
        self.action_1 = torch.as_tensor(action_1, dtype=torch.float32, device=device)

    def to(self, device: torch.device | str) -> "ActionBias":
        return ActionBias(self.command, self.action_1, device)

    def to_dict(self) -> dict:
        return {"command": self.command.cpu().tolist(), "action_1": self.action_1.cpu().tolist()}

    @classmethod
    def from_dict(cls, d: dict, n_command: int, n_action_1: int) -> "ActionBias":
        """From :meth:`to_dict`; ValueError when the shapes are not (n_command,) and (n_command, n_action_1)."""
        command, action_1 = np.asarray(d["command"], np.float64), np.asarray(d["action_1"], np.float64)
        if command.shape != (n_command,) or action_1.shape != (n_command, n_action_1) or not (
                np.isfinite(command).all() and np.isfinite(action_1).all()):
            raise ValueError(f"action bias of shapes {command.shape} and {action_1.shape}, expected ({n_command},) "
                             f"and ({n_command}, {n_action_1}) of finite numbers")
        return cls(command, action_1)


def _with_indices(c: torch.Tensor, q1: torch.Tensor, q2: torch.Tensor, masks: HeadMasks,
                  bias: ActionBias | None = None) -> torch.Tensor:
    """(B, 3) long: commands ``c`` with the best valid action_1 / action_2 by ``q1`` / ``q2`` (plus ``bias``), 0
    where a head does not apply."""
    if bias is not None:
        q1 = q1 + bias.action_1[c]
    a1 = _masked(q1, masks.a1[c]).argmax(1)
    a2 = _masked(q2, masks.a2[c]).argmax(1)
    usage = masks.usage(c)
    return torch.stack([c, a1 * usage[:, 1].long(), a2 * usage[:, 2].long()], 1)


def sample(qs: tuple[torch.Tensor, ...], masks: HeadMasks, temperature: float, rng: np.random.Generator,
           joint: bool = True, bias: ActionBias | None = None) -> torch.Tensor:
    """(B, 3) long: a factored action drawn from softmax(value / ``temperature``): the command by
    :func:`command_values`, then action_1 / action_2 among the command's valid indices (Gumbel-max, so the
    draw costs one noise tensor per head). A temperature well below the margin keeps the greedy action where
    the network is sure and spreads choices where the demonstration was split (a launch key the human
    pressed on one waiting tick in five)."""
    _, q1, q2 = qs
    if temperature <= 0:
        return greedy(qs, masks, joint, bias)

    def gumbel(q: torch.Tensor) -> torch.Tensor:
        u = torch.from_numpy(rng.random(tuple(q.shape), dtype=np.float32)).clamp_(1e-12, 1.0 - 1e-7)
        return q / temperature - torch.log(-torch.log(u)).to(q.device)

    c = _masked(gumbel(command_values(qs, masks, joint, bias)), masks.command.expand(q1.shape[0], -1)).argmax(1)
    if bias is not None:  # the chord's offset at the draw's scale, then noise
        q1 = q1 + bias.action_1[c]
    return _with_indices(c, gumbel(q1), gumbel(q2), masks)


def q_at(qs: tuple[torch.Tensor, ...], actions: torch.Tensor) -> torch.Tensor:
    """(B, 3): each head's Q value at the given head indices."""
    return torch.stack([q.gather(1, actions[:, i : i + 1]).squeeze(1) for i, q in enumerate(qs)], 1)


def joint_q(qs: tuple[torch.Tensor, ...], actions: torch.Tensor, masks: HeadMasks) -> torch.Tensor:
    """(B,): the value of a factored action, the mean of its applicable heads' Q values."""
    u = masks.usage(actions[:, 0])
    return (q_at(qs, actions) * u).sum(1) / u.sum(1)


def margin_loss(qs: tuple[torch.Tensor, ...], actions: torch.Tensor, masks: HeadMasks,
                margin: float) -> torch.Tensor:
    """(B, 3) large-margin loss per head (DQfD): max_a [Q(a) + margin * (a != a_E)] - Q(a_E),
    over the valid actions of each head for the demonstrated command; 0 where a head does not apply."""
    c = actions[:, 0]
    valid = (masks.command.expand_as(qs[0]), masks.a1[c], masks.a2[c])
    out = []
    for i, q in enumerate(qs):
        target = actions[:, i : i + 1]
        bonus = torch.full_like(q, margin).scatter_(1, target, 0.0)
        best = _masked(q + bonus, valid[i]).max(1).values
        out.append(best - q.gather(1, target).squeeze(1))
    return torch.stack(out, 1) * masks.usage(c)


def imitation_nll(qs: tuple[torch.Tensor, ...], actions: torch.Tensor, masks: HeadMasks, tau: float,
                  joint: bool = True, bias: ActionBias | None = None) -> torch.Tensor:
    """(B, 3) negative log-likelihood per head of the demonstrated action under the policy the Q values define,
    softmax(Q / tau) (soft-Q imitation): the command from :func:`command_values` (the values greedy and
    :func:`sample` choose by), then action_1 / action_2 among the command's valid indices; 0 where a head does
    not apply. Unlike the margin loss it fits how *often* the human took each action where several were
    plausible (serve now or a moment later), so drawing at temperature ``tau`` plays like the human. ``bias``: the
    actor's offsets (:class:`ActionBias`), for imitating steps an actor chose with them."""
    c = actions[:, 0]
    out = [F.cross_entropy(command_values(qs, masks, joint, bias) / tau, c, reduction="none")]
    q1 = qs[1] + bias.action_1[c] if bias is not None else qs[1]
    for i, (q, valid) in enumerate(((q1, masks.a1[c]), (qs[2], masks.a2[c])), start=1):
        out.append(F.cross_entropy(_masked(q, valid) / tau, actions[:, i], reduction="none"))
    return torch.stack(out, 1) * masks.usage(c)


def policy_kl(qs: tuple[torch.Tensor, ...], ref: tuple[torch.Tensor, ...], masks: HeadMasks, tau: float,
              joint: bool = True) -> torch.Tensor:
    """(B,) KL(pi_ref || pi) of the factored policies softmax(Q / ``tau``) that ``ref`` and ``qs`` define: the
    command's (by :func:`command_values`), plus each applicable head's under each command weighted by the reference's
    chance of that command. A learner that pays it on every state it trains on keeps the policy it started from
    where its own data does not argue otherwise (VPT's KL to the pretrained policy)."""
    log_p_c = F.log_softmax(command_values(ref, masks, joint) / tau, 1)
    p_c = log_p_c.exp()
    kl = (p_c * (log_p_c - F.log_softmax(command_values(qs, masks, joint) / tau, 1))).sum(1)
    for i, valid in ((1, masks.a1), (2, masks.a2)):  # (n_command, n_action): the head's valid indices per command
        log_p = F.log_softmax(_masked(ref[i][:, None, :], valid[None]) / tau, 2)  # (B, n_command, n_action)
        log_q = F.log_softmax(_masked(qs[i][:, None, :], valid[None]) / tau, 2)
        per_command = (log_p.exp() * (log_p - log_q)).sum(2) * masks.uses[:, i].float()  # (B, n_command)
        kl = kl + (p_c * per_command).sum(1)
    return kl


def td_loss(qs: tuple[torch.Tensor, ...], actions: torch.Tensor, target: torch.Tensor,
            masks: HeadMasks) -> torch.Tensor:
    """(B,) Huber loss of every applicable head's Q at the taken action against one shared target."""
    u = masks.usage(actions[:, 0])
    err = F.smooth_l1_loss(q_at(qs, actions), target[:, None].expand(-1, 3), reduction="none")
    return (err * u).sum(1) / u.sum(1)


@torch.no_grad()
def double_dqn_target(online_next: tuple[torch.Tensor, ...], target_next: tuple[torch.Tensor, ...],
                      returns: torch.Tensor, discount: torch.Tensor, masks: HeadMasks,
                      joint: bool = True) -> torch.Tensor:
    """y = R + discount * Q_target(s', argmax_a Q_online(s', a)), with the shared (mean of heads) value;
    ``joint``: how the argmax is taken (see :func:`greedy`)."""
    best = greedy(online_next, masks, joint)
    return returns + discount * joint_q(target_next, best, masks)


def cql_penalty(qs: tuple[torch.Tensor, ...], actions: torch.Tensor, masks: HeadMasks) -> torch.Tensor:
    """(B,) conservative Q-learning penalty per factored action (CQL(H), Kumar et al. 2020), per head:
    logsumexp of Q over the head's valid actions minus Q at the data's action, averaged over the
    applicable heads. Pushes down actions the data never took, so the greedy policy stays near it."""
    c = actions[:, 0]
    valid = (masks.command.expand_as(qs[0]), masks.a1[c], masks.a2[c])
    gaps = []
    for i, q in enumerate(qs):
        lse = torch.logsumexp(_masked(q, valid[i]), 1)
        gaps.append(lse - q.gather(1, actions[:, i : i + 1]).squeeze(1))
    u = masks.usage(c)
    return (torch.stack(gaps, 1) * u).sum(1) / u.sum(1)
