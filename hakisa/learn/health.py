"""Training that cannot die silently: a network's health, measured on a fixed probe of real frames.

Study, consolidate and train call :func:`check_health` at every evaluation. It looks for the ways a
Q-network trained on a few minutes of play is known to fail without any error:

* **dead units**: a ReLU unit (a conv channel, or a fully connected unit) that is zero for every probe
  frame passes no gradient and never comes back; a first layer that dies leaves a network whose output
  no longer depends on the screen (seen on a real game at a learning rate of 1e-3);
* **no dependence on the input**: the command values barely change from one frame to another;
* **one action everywhere**: the greedy action is the same on nearly every probe frame although the
  human took several;
* **collapsed Q spread**: the heads no longer tell actions apart (every command worth the same);
* **not finite / not learning**: NaN or infinite values, or a training loss that has not moved.

Each finding is a :class:`Problem` in plain words with what to do; :func:`verdict` turns held-out
agreement, action shares and health into the short report study ends with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from hakisa.codec import COMMANDS, NOOP

#: a layer is dying when more than this share of its units are dead on the probe
DEAD_LIMIT = 0.5
#: ...and the clone is degenerate when more than this share of one layer is dead (below it, a layer with half
#: its units dead still carried a runner clone that scored 3x random, the suite's best)
DEAD_FATAL = 0.9
#: the greedy action is "the same everywhere" when it covers at least this share of probe frames...
ONE_ACTION_SHARE = 0.97
#: ...while the human's most common action covers less than this
HUMAN_VARIED_SHARE = 0.9
#: command values whose spread across frames (std, averaged over commands) is below this ignore the input
INPUT_STD_LIMIT = 1e-3
#: heads whose best-to-worst spread of command values is below this no longer rank actions
Q_SPREAD_LIMIT = 1e-3


@dataclass
class Problem:
    kind: str  # dead_units | no_input_dependence | one_action | collapsed_q | not_finite | loss_flat
    message: str  # plain words: what is wrong and what to do

    def to_dict(self) -> dict:
        return {"kind": self.kind, "message": self.message}


@dataclass
class Health:
    dead: dict[str, float]  # layer -> share of its units dead on the probe
    active: dict[str, float]  # layer -> share of activations > 0
    input_std: float  # std of command values across probe frames, averaged over commands
    q_spread: float  # mean over frames of (best - worst valid command value)
    greedy_share: dict[str, float]  # command name -> share of probe frames where it is greedy
    top_share: float  # share of the most common greedy joint action
    human_top_share: float  # share of the human's most common joint action on the same frames
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {"dead": self.dead, "active": self.active, "input_std": self.input_std, "q_spread": self.q_spread,
                "greedy_share": self.greedy_share, "top_share": self.top_share,
                "human_top_share": self.human_top_share, "problems": [p.to_dict() for p in self.problems]}

    def metrics(self) -> dict[str, float]:
        """The scalars a metrics row and its learning curve carry."""
        return {"dead_max": max(self.dead.values(), default=0.0), "input_std": self.input_std,
                "q_spread": self.q_spread, "top_share": self.top_share}

    def summary(self) -> str:
        worst = max(self.dead.items(), key=lambda kv: kv[1]) if self.dead else ("-", 0.0)
        return (f"dead units: worst {worst[0]} {100 * worst[1]:.0f}%; input dependence {self.input_std:.3g}; "
                f"Q spread {self.q_spread:.3g}; most common greedy action {100 * self.top_share:.0f}% of frames "
                f"(human {100 * self.human_top_share:.0f}%)")


class HealthLog:
    """Says each kind of problem once, in plain words, once it has lasted two evaluations (a young network
    often still picks one action) or when it is there at the last one."""

    def __init__(self, phase: str, say):
        self.phase, self.say = phase, say
        self.warned: set[str] = set()
        self.seen: set[str] = set()  # kinds found at the previous evaluation

    def report(self, health: Health, step: int, final: bool) -> None:
        for prob in health.problems:
            if prob.kind not in self.warned and (prob.kind in self.seen or final):
                self.warned.add(prob.kind)
                self.say(f"{self.phase}: WARNING at update {step}: {prob.message}")
        self.seen = {prob.kind for prob in health.problems}


def probe_indices(idx: np.ndarray, n: int = 512) -> np.ndarray:
    """Up to ``n`` steps spread evenly over ``idx``: frames from many different moments."""
    if len(idx) <= n:
        return idx
    return idx[np.linspace(0, len(idx) - 1, n).round().astype(np.int64)]


def relu_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The network's ReLU modules with readable names (conv1.., fc)."""
    out, conv = [], 0
    for name, mod in model.named_modules():
        if isinstance(mod, nn.ReLU):
            if name.startswith("trunk"):
                conv += 1
                out.append((f"conv{conv}", mod))
            else:
                out.append((name.split(".")[0] or "fc", mod))
    return out


@torch.no_grad()
def probe_activations(model: nn.Module, x: torch.Tensor) -> tuple[dict[str, float], dict[str, float], tuple]:
    """(dead share per layer, active share per layer, the network's outputs) on probe input ``x``."""
    seen: dict[str, torch.Tensor] = {}
    active: dict[str, float] = {}
    hooks = []
    for name, mod in relu_layers(model):
        def hook(_m, _inp, out, name=name):
            pos = out > 0
            per_unit = pos.transpose(0, 1).reshape(out.shape[1], -1).any(1)  # unit = channel (conv) or feature
            seen[name] = per_unit if name not in seen else seen[name] | per_unit
            active[name] = float(pos.float().mean())
        hooks.append(mod.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        qs = model(x)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    dead = {k: float(1.0 - v.float().mean()) for k, v in seen.items()}
    return dead, active, qs


def _joint(actions: np.ndarray) -> np.ndarray:
    a = actions.astype(np.int64)
    return (a[:, 0] * 100_000 + a[:, 1]) * 1_000 + a[:, 2]


@torch.no_grad()
def check_health(model: nn.Module, x: torch.Tensor, human: np.ndarray, masks, joint: bool = True,
                 losses: list[float] | None = None, what: str = "the network", bias=None) -> Health:
    """Measure ``model`` on probe input ``x`` (B, stack*C, H, W; frames from many states, no augmentation)
    against the human's actions there (``human``: (B, 3) head indices). ``losses``: the training loss at
    each evaluation so far, to tell whether it moves; ``bias``: the offsets its greedy actions are taken with
    (:class:`hakisa.learn.losses.ActionBias`), or None."""
    from hakisa.learn.losses import command_values, greedy

    dead, active, qs = probe_activations(model, x)
    cv = command_values(qs, masks, joint)
    valid = masks.command.expand_as(cv)
    vals = cv.masked_fill(~valid, float("nan")).cpu().numpy()
    finite = bool(all(torch.isfinite(q).all() for q in qs))
    ncols = valid[0].cpu().numpy()
    v = vals[:, ncols]
    input_std = float(v.std(0).mean()) if finite and len(v) > 1 else float("nan")
    q_spread = float((v.max(1) - v.min(1)).mean()) if finite and v.shape[1] > 1 else float("nan")
    g = greedy(qs, masks, joint, bias).cpu().numpy()
    gj, hj = _joint(g), _joint(human)
    top_share = float(np.bincount(np.unique(gj, return_inverse=True)[1]).max() / len(gj)) if len(gj) else 0.0
    human_top = float(np.bincount(np.unique(hj, return_inverse=True)[1]).max() / len(hj)) if len(hj) else 0.0
    shares = {COMMANDS[c]: float((g[:, 0] == c).mean()) for c in range(len(COMMANDS)) if c < len(ncols) and ncols[c]}
    h = Health(dead, active, input_std, q_spread, shares, top_share, human_top)
    p = h.problems
    if not finite:
        p.append(Problem("not_finite", f"{what} outputs NaN or infinite values: training diverged. Lower --lr "
                                       "(e.g. by 4x) and start again; do not use this checkpoint."))
        return h
    dying = {k: d for k, d in dead.items() if d > DEAD_LIMIT}
    if dying:
        layers = ", ".join(f"{k} {100 * d:.0f}%" for k, d in dying.items())
        p.append(Problem("dead_units", f"{what} has dead units (zero on every probe frame, so they no longer "
                                       f"learn): {layers}. The learning rate is probably too high for this game: "
                                       "run again with a lower --lr (e.g. 4x lower)."))
    if math.isfinite(input_std) and input_std < INPUT_STD_LIMIT:
        p.append(Problem("no_input_dependence", f"{what}'s values do not depend on the screen (they change by "
                                                f"{input_std:.2g} between frames of different moments): it acts "
                                                "the same whatever it sees. Lower --lr and start again; check that "
                                                "the profile's capture region shows the game."))
    if top_share >= ONE_ACTION_SHARE and human_top < HUMAN_VARIED_SHARE:
        p.append(Problem("one_action", f"{what} picks the same action on {100 * top_share:.0f}% of frames from "
                                       f"different moments, where the human's most common action covers only "
                                       f"{100 * human_top:.0f}%: it will hold one key forever. Train longer or "
                                       "on more varied play, or lower --lr."))
    if math.isfinite(q_spread) and q_spread < Q_SPREAD_LIMIT:
        p.append(Problem("collapsed_q", f"{what}'s heads no longer tell actions apart (best and worst command "
                                        f"differ by {q_spread:.2g} on average). Lower --lr and start again."))
    if losses is not None and len(losses) >= 4 and all(map(math.isfinite, losses)):
        first, recent = losses[0], min(losses[-2:])
        if first > 0 and recent > 0.99 * first:
            p.append(Problem("loss_flat", f"the training loss has not moved ({first:.4g} at the first evaluation, "
                                          f"{losses[-1]:.4g} now): {what} is not learning. Check the data (hakisa "
                                          "inspect) and try a lower --lr."))
    return h


def human_shares(command: np.ndarray) -> dict[str, float]:
    return {COMMANDS[c]: float((command == c).mean()) for c in range(len(COMMANDS)) if (command == c).any()}


def verdict(metrics: dict, health: Health, human: dict[str, float]) -> tuple[str, bool]:
    """Study's closing report: (text, degenerate). Held-out agreement on the ticks where the human acted,
    the clone's command shares against the human's, and its health."""
    lines = [f"held-out agreement with the human: {100 * metrics.get('acc_exact', float('nan')):.0f}% of ticks, "
             f"{100 * metrics.get('acc_active', float('nan')):.0f}% of the ticks where the human acted "
             f"(command {100 * metrics.get('acc_command', float('nan')):.0f}%)"]
    names = [n for n in COMMANDS if human.get(n, 0) > 0 or health.greedy_share.get(n, 0) > 0]
    lines.append("commands, clone vs human: " + ", ".join(
        f"{n} {100 * health.greedy_share.get(n, 0):.0f}% vs {100 * human.get(n, 0):.0f}%" for n in names))
    lines.append("health: " + health.summary())
    # dead units below DEAD_FATAL weaken a network (less to learn with in consolidate) but need not stop it playing
    degenerate = any(p.kind != "dead_units" for p in health.problems) or max(health.dead.values(),
                                                                              default=0.0) > DEAD_FATAL
    # a clone that never does what the human mostly does besides idling (e.g. never presses a key) is degenerate
    for n, share in human.items():
        if n != COMMANDS[NOOP] and share >= 0.05 and health.greedy_share.get(n, 0) == 0:
            degenerate = True
            lines.append(f"WARNING: the human chose {n} on {100 * share:.0f}% of ticks; the clone never does.")
    acted, agree = metrics.get("share_active", 0.0), metrics.get("acc_active", float("nan"))
    if acted > 0 and math.isfinite(agree) and agree < 0.05:
        # e.g. a jump or a launch on 0.5% of ticks: the clone agrees with the idling and never with the acting
        degenerate = True
        lines.append(f"WARNING: on the {100 * acted:.1f}% of held-out ticks where the human acted, the clone did the "
                     f"same only {100 * agree:.0f}% of the time: it copies the idling, not the play.")
    for prob in health.problems:
        lines.append("WARNING: " + prob.message)
    if degenerate:
        lines.append("verdict: DEGENERATE: do not expect this clone to play; see the warnings above.")
    elif health.problems:
        lines.append("verdict: weakened (see the warnings above), but it may play; score it with `hakisa play` "
                     "(or tools/eval_agent.py) before building on it.")
    else:
        lines.append("verdict: healthy; score it with `hakisa play` (or tools/eval_agent.py).")
    return "\n".join(lines), degenerate
