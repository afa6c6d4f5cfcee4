"""`hakisa study`: pretrain the Q-network on demonstrations the way DQfD does.

Loss = imitation loss per head under the masks + n-step TD on the demonstration's rewards with a lagging
target network (which keeps Q values on the scale of returns for consolidation) + L2 (weight decay). The
imitation loss is by default the cross-entropy of the policy softmax(Q / temperature) (``imitation="nll"``,
which fits how often the human took each action), or DQfD's large-margin loss (the demonstrated action
must score a margin above every other valid action).

Imbalance: most ticks are no-ops or long holds of the same chord. The imitation loss of each sample
is weighted by (frequency of its command_type)^-balance (0.5 by default), normalised to mean 1, so
rare commands (clicks, key presses in a mostly idle game) are not drowned out; the held-out report
gives accuracy on the ticks where the human did something apart from the overall accuracy.

Mistakes: people blunder (look away, press the wrong way), and a clone copies the blunders too; an agent
that copies "stand still" while a threat comes is stuck there, because nothing in its own play
pulls it out.  The demonstration's rewards say where the human lost: steps in the
``forget_before_loss`` seconds before a loss (a reward at or below ``loss_reward``, e.g. a life lost)
are not imitated.  They still train the TD term, so their Q values learn what those actions cost. Given the
agent's own play with people's corrections in it (`play`/`explore`/`train` takeovers), only the people's steps are
imitated and the agent's train the TD term (HG-DAgger: the corrections are demonstrations where the agent goes).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from hakisa.learn.checkpoint import CheckpointError, load_checkpoint, load_optimizer
from hakisa.codec import COMMANDS, KEY, NOOP
from hakisa.data.relabel import relabel_report
from hakisa.data.transitions import TEACHERS, Transitions, load_transitions
from hakisa.learn.health import Health, HealthLog, check_health, human_shares, probe_indices, verdict
from hakisa.learn.batches import DeviceFrames, batches_on_device, draw_shifts, upload
from hakisa.learn.calibrate import describe, fit_action_bias, values_on
from hakisa.learn.losses import ActionBias, HeadMasks, double_dqn_target, greedy, imitation_nll, joint_q, margin_loss, td_loss
from hakisa.learn.model import QNetwork, count_parameters
from hakisa.profile import Profile
from hakisa.learn.training import (MetricsFile, actions_of, build_codec, check_same_data, config_dict,
                                   dataset_lineage, model_config, new_optimizer, pick_device, plot_curves, random_shift,
                                   random_photometric, save_run, set_up_torch, tensorboard,
                                   warmup_schedule)


@dataclass
class StudyConfig:
    """Settings of `hakisa study` (each is also a command-line flag)."""

    steps: int = 12000  # gradient updates (6000 left dodge and runner short: README, "12,000 updates")
    batch_size: int = 64
    lr: float = 1e-3  # Adam learning rate (2.5e-4 underfits: held-out accuracy 0.54 vs 0.63 after 3000 updates)
    imitation: str = "nll"  # "nll": cross-entropy of softmax(Q / temperature); "margin": DQfD's large-margin loss
    #                          (README, "What study's settings do on the suite")
    margin: float = 0.8  # large-margin size (in reward units)
    temperature: float = 0.1  # of the policy softmax(Q / temperature) that --imitation nll fits (reward units)
    gamma: float = 0.99
    n_step: int = 10  # n of the n-step TD term
    td_weight: float = 1.0  # weight of the TD term against the imitation loss
    weight_decay: float = 1e-5  # L2
    target_every: int = 500  # hard copy of the target network every this many updates
    double: bool = False  # double DQN (online net picks the bootstrap action): one more forward per update
    stack: int = 4  # frames per input
    channels: tuple[int, ...] = (32, 64, 64)
    hidden: int = 256
    norm: str = "layer"  # LayerNorm before every ReLU ("none": plain); without it most units of a layer died on
    #                      bricks at lr 1e-3 and the clone held one key forever (README, "Training that cannot die")
    motion: bool = False  # the network also sees the differences of consecutive frames (hakisa.learn.model)
    warmup: int = 500  # linear learning-rate warm-up over this many updates, at most a tenth of the run (0 = off);
    #                    at 6,000 updates without it most runs warned of dead units at update 1,000
    #                    (README, "12,000 updates and a short trial of how to play")
    keyframe: float = 4.0  # extra margin weight on keyframes (0 = off); see keyframe_by
    keyframe_by: str = "change"  # "change": ticks where the action changed; "surprise": weight by how poorly
    #                              the action is predicted from the previous action alone (1 - P(a_t | a_t-1))
    select: str = "joint"  # greedy action: "joint" (best joint value of the heads) or "heads" (head by head)
    prior: float = 0.0  # share of the imitation weights' pull on how often each action is chosen that play
    #                      takes back (logit adjustment): 1 plays at the human's own rates, 0 as trained
    #                      (README, "Studying the recording")
    calibrate: str = "off"  # offsets fitted on held-out ticks so the greedy clone acts as often as the human:
    #                          "raise": only actions it under-chooses are raised; "match": both ways; "off". Not
    #                          the default: it helped one game of three and hurt another (README, "Calibration")
    augment: int = 4  # random shifts of up to this many pixels per sample (DrQ-style); 0 = off
    photometric: float = 0.0  # chance of each training sample getting random contrast, brightness and inversion
    balance: float = 0.5  # exponent of inverse-frequency weights on the classes of balance_by (0 = none)
    balance_by: str = "command"  # "command": command_type; "action": each key chord is its own class (a rare
    #                              key such as a launch or jump is not drowned out by the common ones)
    boost_noop: bool = False  # let balancing weigh no-op above the other commands (it is often a dominated action)
    forget_before_loss: float = 2.0  # seconds before each loss whose actions are not imitated (0 = off)
    loss_reward: float = -0.5  # a step whose reward is at or below this is a loss (a life lost)
    holdout: float = 0.15  # share of steps held out for evaluation...
    holdout_by: str = "episode"  # ...as whole episodes, or "tail": the last share of every episode
    eval_every: int = 500  # held-out evaluation and checkpoint every this many updates
    seed: int = 0
    threads: int = 2  # torch CPU threads
    device: str = "auto"  # auto (a CUDA GPU when there is one), cpu, cuda or cuda:N
    batches: str = "auto"  # where frame stacks, shifts and batches are built: host, device, auto (device on a GPU)
    amp: bool = False  # the network's forward passes in bfloat16 (losses and optimizer in float32)
    compile: bool = False  # torch.compile the update's forward and backward passes (fewer, fused GPU kernels)


@dataclass
class StudyResult:
    step: int
    metrics: dict
    history: list = field(default_factory=list)
    health: Health | None = None
    verdict: str = ""
    degenerate: bool = False


@torch.no_grad()
def evaluate(model: QNetwork, T: Transitions, idx: np.ndarray, masks: HeadMasks, stack: int,
             batch: int = 256, joint: bool = True, bias: ActionBias | None = None) -> dict:
    """Held-out agreement with the demonstrator: per head, on active ticks, and a command confusion table
    (greedy actions, with ``bias`` when given)."""
    model.eval()
    dev = masks.command.device
    preds, qs_taken = [], []
    for s in range(0, len(idx), batch):
        b = idx[s : s + batch]
        qs = model(torch.from_numpy(T.stacked(T.obs[b], T.ep_start[b], stack)).to(dev))
        preds.append(greedy(qs, masks, joint, bias).cpu().numpy())
        acts = actions_of(T, b).to(dev)
        qs_taken.append(joint_q(qs, acts, masks).cpu().numpy())
    model.train()
    p = np.concatenate(preds) if preds else np.zeros((0, 3), np.int64)
    c, a1, a2 = T.command[idx], T.action_1[idx], T.action_2[idx]
    uses = masks.uses.cpu().numpy()[c]
    exact = (p[:, 0] == c) & (~uses[:, 1] | (p[:, 1] == a1)) & (~uses[:, 2] | (p[:, 2] == a2))
    active = c != NOOP
    conf = np.zeros((len(COMMANDS), len(COMMANDS)), np.int64)
    np.add.at(conf, (c, p[:, 0]), 1)
    both1 = uses[:, 1] & (p[:, 0] == c)
    both2 = uses[:, 2] & (p[:, 0] == c)
    return {
        "n": int(len(idx)),
        "acc_command": float((p[:, 0] == c).mean()) if len(idx) else 0.0,
        "acc_action_1": float((p[both1, 1] == a1[both1]).mean()) if both1.any() else float("nan"),
        "acc_action_2": float((p[both2, 2] == a2[both2]).mean()) if both2.any() else float("nan"),
        "acc_exact": float(exact.mean()) if len(idx) else 0.0,
        "acc_active": float(exact[active].mean()) if active.any() else float("nan"),
        "share_active": float(active.mean()) if len(idx) else 0.0,
        "mean_q": float(np.concatenate(qs_taken).mean()) if qs_taken else 0.0,
        "confusion": conf.tolist(),
    }


def run_up_to_losses(episode: np.ndarray, loss: np.ndarray, ticks: int, actor: np.ndarray | None = None) -> np.ndarray:
    """(n,) bool: the ``ticks`` steps up to and including each loss, never reaching back into an earlier
    episode (``episode``: each step's episode number, its steps contiguous; ``loss``: bool per step). With
    ``actor`` (who had control, per step), never reaching back past the stretch of the one who had control when the loss
    came either: a loss the agent ran into after a person handed control back is the agent's, not the person's."""
    out = np.zeros(len(episode), bool)
    if ticks <= 0:
        return out
    change = episode[1:] != episode[:-1]
    if actor is not None:
        change = change | (actor[1:] != actor[:-1])
    first_step = np.r_[0, np.flatnonzero(change) + 1]  # first step of each run
    run_start = first_step[np.searchsorted(first_step, np.arange(len(episode)), side="right") - 1]
    for j in np.flatnonzero(loss):
        out[max(run_start[j], j - ticks + 1) : j + 1] = True
    return out


def imitated_steps(T: Transitions, seconds: float, loss_reward: float, tick_hz: float) -> np.ndarray:
    """(n,) 1.0 for steps to imitate, 0.0 for the ``seconds`` before (and including) each loss in its episode and
    in the stretch of the actor that had control (a takeover's penalty or the agent's loss after a hand-back does
    not take the person's correction before it away)."""
    forget = run_up_to_losses(T.episode, T.reward <= loss_reward, int(round(seconds * tick_hz)),
                              np.isin(T.actor, TEACHERS))  # who had control: a teacher or the agent
    return np.where(forget, 0.0, 1.0)


def class_weights(classes: np.ndarray, n_classes: int, balance: float, boost_noop: bool = False,
                  noop: int = NOOP) -> tuple[np.ndarray, np.ndarray]:
    """(weight per class, share per class): weights ``share ** -balance`` normalised to a mean of 1 over the
    data, so rare classes are not drowned out. Unless ``boost_noop``, the ``noop`` class never weighs more than
    the lightest other class present: in most games standing still is dominated (firing, or moving, is never
    worse), and boosting it teaches the clone to idle."""
    freq = np.bincount(classes, minlength=n_classes).astype(np.float64)
    p = freq / max(freq.sum(), 1.0)
    w = np.where(p > 0, np.power(np.maximum(p, 1e-12), -balance), 0.0)
    others = w[(np.arange(n_classes) != noop) & (p > 0)]
    if not boost_noop and len(others) and p[noop] > 0:
        w[noop] = min(w[noop], others.min())
    return w / max((p * w).sum(), 1e-12), p


def command_weights(command: np.ndarray, n_command: int, balance: float,
                    boost_noop: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """:func:`class_weights` over command_type."""
    return class_weights(command, n_command, balance, boost_noop)


def action_classes(T: Transitions, n_command: int, n_chords: int, by: str) -> tuple[np.ndarray, list]:
    """(class per step, class labels) for balancing: ``by="command"``: the command_type; ``by="action"``:
    no-op, then each key chord, then each other command (pointer cells are not split: a 32x18 grid would
    leave most cells with a handful of ticks)."""
    cls = step_classes(T.command, T.action_1, n_chords, by)
    if by == "command":
        return cls, [("command", c) for c in range(n_command)]
    labels = [("command", NOOP)] + [("chord", k) for k in range(n_chords)] + [("command", c) for c in range(n_command)]
    return cls, labels


def step_classes(command: np.ndarray, action_1: np.ndarray, n_chords: int, by: str) -> np.ndarray:
    """The :func:`action_classes` class of each step with these ``command`` and ``action_1``."""
    command = command.astype(np.int64)
    if by == "command":
        return command
    if by != "action":
        raise ValueError(f"balance_by must be 'command' or 'action', not {by!r}")
    cls = np.where(command == KEY, 1 + action_1.astype(np.int64), 1 + n_chords + command)
    return np.where(command == NOOP, 0, cls)


def keyframe_scores(T: Transitions, train_idx: np.ndarray, by: str) -> np.ndarray:
    """(n,) in [0, 1]: how much each step is a keyframe, the ticks that carry the information about *why* to act.

    With a frame stack a network can see what the human was already doing and learn to copy it ("copycat",
    Wen et al. 2020), which fails the moment it acts alone. ``by="change"``: 1 where the action differs from the
    previous step's, else 0. ``by="surprise"``: 1 - P(a_t | a_t-1) under a bigram model of the training steps'
    actions (the previous action alone, no screen), so a change the history predicts (a habitual release)
    weighs less than one only the screen explains, and holding on where a change was likely weighs more."""
    if by == "change":
        return action_changed(T, np.arange(len(T)))
    joint = (T.command.astype(np.int64) * 100_000 + T.action_1) * 1_000 + T.action_2
    first = np.r_[True, T.episode[1:] != T.episode[:-1]]
    prev = np.where(first, -1, np.r_[-1, joint[:-1]])  # -1: no previous action (episode start)
    if by != "surprise":
        raise ValueError(f"keyframe_by must be 'change' or 'surprise', not {by!r}")
    pairs = np.stack([prev, joint], 1)
    uniq, inverse = np.unique(pairs, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    pair_count = np.bincount(inverse[train_idx], minlength=len(uniq)).astype(np.float64)
    prev_uniq, prev_inverse = np.unique(prev, return_inverse=True)
    prev_count = np.bincount(prev_inverse.reshape(-1)[train_idx], minlength=len(prev_uniq)).astype(np.float64)
    # add-one smoothing so pairs seen only in held-out episodes get a finite probability
    prob = (pair_count[inverse] + 1.0) / (prev_count[prev_inverse.reshape(-1)] + len(uniq))
    return 1.0 - prob


def action_changed(T, idx: np.ndarray) -> np.ndarray:
    """(len(idx),) 1.0 where step ``idx``'s action differs from the step before it in its episode (or it opens its
    episode), else 0.0: the ``change`` keyframes. ``T``: :class:`Transitions` or a learner's replay."""
    idx = np.asarray(idx, np.int64)
    before = np.maximum(idx - 1, 0)
    first = (idx == 0) | (T.episode[before] != T.episode[idx])
    same = ((T.command[before] == T.command[idx]) & (T.action_1[before] == T.action_1[idx])
            & (T.action_2[before] == T.action_2[idx]))
    return np.where(first | ~same, 1.0, 0.0)


STUDY_WEIGHT_SETTINGS = ("balance", "balance_by", "boost_noop", "keyframe", "keyframe_by")


@dataclass(frozen=True)
class ImitationWeights:
    """Study's weight of each step's imitation as a rule that a learner applies to any step, those of a replay that
    grows included: the class weight of the step's action (``--balance`` over ``--balance-by``, fitted on the
    human steps it was given) times 1 + ``--keyframe`` where the action changed, scaled so that those steps weigh
    1 on average.

    Study's weights raise the rare actions' odds in the fitted policy (:class:`Prior`); an online learner that
    imitates every human step alike pulls them back down, under the offsets and temperature the clone was chosen to
    play with. Keyframes weighed by ``surprise`` in study are weighed by ``change`` here (noted in ``note``)."""

    settings: dict
    class_weight: np.ndarray
    n_chords: int
    scale: float
    note: str = ""

    @classmethod
    def fit(cls, T, idx: np.ndarray, settings: dict, n_command: int, n_chords: int) -> "ImitationWeights":
        base = asdict(StudyConfig())
        conf = {k: settings.get(k, base[k]) for k in STUDY_WEIGHT_SETTINGS}
        note = ("study weighed keyframes by surprise; the learner weighs them by change"
                if conf["keyframe_by"] == "surprise" else "")
        classes, labels = action_classes(T, n_command, n_chords, conf["balance_by"])
        w, _ = class_weights(classes[idx], len(labels), float(conf["balance"]), bool(conf["boost_noop"]))
        rule = cls(conf, w, n_chords, 1.0, note)
        raw = rule._raw(T, idx)
        return replace(rule, scale=1.0 / max(float(raw.mean()), 1e-12)) if len(raw) else rule

    @classmethod
    def settings_of(cls, state: dict) -> dict | None:
        """The weight settings a checkpoint's training state records: study's config, or the ones a learner that
        went on from a study carried forward; None where it records none."""
        if state.get("imitation_weights"):
            return dict(state["imitation_weights"])
        conf = state.get("config") or {}
        if state.get("phase") == "study" and all(k in conf for k in STUDY_WEIGHT_SETTINGS):
            return {k: conf[k] for k in STUDY_WEIGHT_SETTINGS}
        return None

    def _raw(self, T, idx: np.ndarray) -> np.ndarray:
        classes = step_classes(T.command[idx], T.action_1[idx], self.n_chords, self.settings["balance_by"])
        return (1.0 + float(self.settings["keyframe"]) * action_changed(T, idx)) * self.class_weight[classes]

    def __call__(self, T, idx: np.ndarray) -> np.ndarray:
        """(len(idx),) float32 weights of steps ``idx`` of ``T``."""
        return (self._raw(T, np.asarray(idx, np.int64)) * self.scale).astype(np.float32)


class Prior:
    """How much the imitation weights pull each action's log-odds, and the offsets that take the pull back.

    With a weighted cross-entropy whose weight w depends only on the class of the demonstrated action, the
    fitted policy is p(a|s) w(a) / Z(s), the human's policy with every class's odds multiplied by its weight
    (the weights help a rare action be learnt at all, and also make it chosen more often). Subtracting
    log w(a) from the class's log-odds at play time (logit adjustment, Menon et al. 2021) recovers the human's
    rates while keeping what the weights taught about *where* to act. Keyframe weights depend on the previous
    action too; their pull is taken as the mean over each class's training steps."""

    def __init__(self, command: np.ndarray, action_1: np.ndarray, heads: np.ndarray, scale: float, joint: bool):
        self.command = command  # (n_command,) log mean weight of each command
        self.action_1 = action_1  # (n_command, n_action_1) log mean weight of each action_1 within its command
        self.heads, self.scale, self.joint = heads, scale, joint

    def scaled(self, share: float) -> ActionBias:
        """Offsets in Q units taking back ``share`` of the pull (1: all of it). Under joint selection a command's
        value is the mean of its heads, so its offset is scaled by its number of heads to move that mean by the
        intended amount."""
        per_head = self.heads if self.joint else np.ones_like(self.heads)
        return ActionBias(-share * self.scale * self.command * per_head, -share * self.scale * self.action_1)

    def to_dict(self) -> dict:
        return {"command": self.command.tolist(), "action_1": self.action_1.tolist(), "heads": self.heads.tolist(),
                "scale": self.scale, "joint": self.joint}

    @classmethod
    def from_dict(cls, d: dict) -> "Prior":
        """From :meth:`to_dict`; ValueError when a field is missing, of the wrong shape or not finite."""
        try:
            command, action_1, heads = (np.asarray(d[k], np.float64) for k in ("command", "action_1", "heads"))
            scale, joint = float(d["scale"]), bool(d["joint"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"imitation prior is damaged ({exc!r})") from None
        if (command.ndim != 1 or heads.shape != command.shape or action_1.ndim != 2
                or action_1.shape[0] != len(command) or not all(np.isfinite(a).all() for a in (command, action_1))):
            raise ValueError(f"imitation prior of shapes {command.shape}, {action_1.shape}, {heads.shape} is damaged")
        return cls(command, action_1, heads, scale, joint)


def imitation_prior(weight: np.ndarray, command: np.ndarray, action_1: np.ndarray, masks: HeadMasks,
                    scale: float, joint: bool) -> Prior:
    """:class:`Prior` of the per-step imitation ``weight`` on steps with these ``command`` / ``action_1``
    (steps of weight 0, not imitated, do not count). Each log mean weight is taken relative to the most common
    class's (a command's against the most common command, a chord's against its command's most common
    chord), so the offsets leave the usual action alone and move the rare ones; ``scale``: Q units per nat."""
    n_command, n_action_1 = masks.a1.shape
    uses = masks.uses.cpu().numpy()
    keep = weight > 0
    w, c, a1 = weight[keep], command[keep].astype(np.int64), action_1[keep].astype(np.int64)

    def log_mean(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
        out = np.zeros(len(counts))
        seen = counts > 0
        if seen.any():
            out[seen] = np.log(sums[seen] / counts[seen])
            out[seen] -= out[np.argmax(counts)]
        return out

    cmd = log_mean(np.bincount(c, w, n_command), np.bincount(c, minlength=n_command).astype(np.float64))
    act = np.zeros((n_command, n_action_1))
    for k in range(n_command):
        if uses[k, 1] and (c == k).any():
            s = c == k
            act[k] = log_mean(np.bincount(a1[s], w[s], n_action_1), np.bincount(a1[s], minlength=n_action_1)
                              .astype(np.float64))
    return Prior(cmd, act, uses.sum(1).astype(np.float64), scale, joint)


def format_confusion(conf: list[list[int]]) -> str:
    """Text table: rows are the demonstrator's command_type, columns the agent's."""
    names = [n[:10] for n in COMMANDS]
    lines = ["  human \\ agent " + " ".join(f"{n:>10}" for n in names)]
    for name, row in zip(names, conf):
        if sum(row):
            lines.append(f"  {name:<14} " + " ".join(f"{v:>10}" for v in row))
    return "\n".join(lines)


def study(profile: Profile, data: list[str], out: str | Path, cfg: StudyConfig, resume: str | None = None,
          progress: bool = True, log=print) -> StudyResult:
    """Train and write ``out`` (checkpoint), ``out``.metrics.jsonl and ``out``.png; returns final metrics."""
    from hakisa.limits import STUDY, check_config

    check_config(cfg, STUDY)
    if cfg.imitation not in ("nll", "margin"):
        raise ValueError(f"imitation must be 'nll' or 'margin', not {cfg.imitation!r}")
    if cfg.calibrate not in ("raise", "match", "off"):
        raise ValueError(f"calibrate must be 'raise', 'match' or 'off', not {cfg.calibrate!r}")
    if cfg.calibrate != "off" and cfg.prior > 0:
        raise ValueError("--calibrate and --prior both set how often the clone acts; choose one")
    from hakisa.resources import check_batch_memory

    check_batch_memory(cfg.batch_size, cfg.stack, profile.capture.frame_shape)
    out = Path(out)
    rng = set_up_torch(cfg.seed, cfg.threads)
    dev = pick_device(cfg.device)
    T = load_transitions(data, profile)
    for line in relabel_report(T.relabelled):
        log("study: " + line)
    codec = build_codec(profile, data)
    masks = HeadMasks(codec, dev)
    train_idx, held_idx = T.split(cfg.holdout, cfg.seed, cfg.holdout_by)
    share = len(held_idx) / max(1, len(T))
    if cfg.holdout_by == "episode" and T.n_episodes >= 2 and share > 2 * cfg.holdout:
        log(f"study: the held-out episodes are {100 * share:.0f}% of the steps (asked: {100 * cfg.holdout:.0f}%), "
            "because the episodes are long; --holdout-by tail holds out the end of every episode instead")
    returns, boot, disc = T.n_step(cfg.n_step, cfg.gamma)
    mcfg = model_config(profile, codec, cfg.stack, cfg.channels, cfg.hidden, cfg.norm, cfg.motion)
    model = QNetwork(mcfg).to(dev)
    opt = new_optimizer(model, cfg.lr, cfg.weight_decay)
    step, history = 0, []
    if resume:
        blob = load_checkpoint(resume, profile)
        check_same_data(blob, dataset_lineage(data), resume)
        if blob["model_config"] != mcfg.to_dict():
            raise CheckpointError(f"{resume} has model config {blob['model_config']}, this run {mcfg.to_dict()}; "
                                  "resume with the same --stack/--norm.")
        model.load_state_dict(blob["model"])
        if blob["optimizer"]:
            load_optimizer(opt, blob["optimizer"], resume)
        step = int(blob["state"].get("step", 0))
        history = list(blob["state"].get("history", []))
    target = QNetwork(mcfg).to(dev)
    target.load_state_dict(model.state_dict())
    target.eval()
    sched = warmup_schedule(opt, min(cfg.warmup, cfg.steps // 10), step)

    joint = cfg.select == "joint"
    classes, labels = action_classes(T, codec.n_command, len(codec.chords), cfg.balance_by)
    w, p = class_weights(classes[train_idx], len(labels), cfg.balance, cfg.boost_noop)  # no-op is class 0 in both
    imitate = imitated_steps(T, cfg.forget_before_loss, cfg.loss_reward, profile.capture.tick_hz)
    teacher = np.isin(T.actor, TEACHERS)
    if teacher.any() and not teacher.all():  # corrections among the agent's play: imitate only the people's steps
        imitate = imitate * teacher
        log(f"study: imitating the {int(teacher.sum())} steps people (or scripts) played; the agent's "
            f"{int((~teacher).sum())} train the TD term only")
    if not imitate[train_idx].any():  # a tiny recording that is all run-up to losses: imitate it anyway
        log(f"study: every training step lies within {cfg.forget_before_loss:g} s of a loss; imitating them all")
        imitate[:] = 1.0
    sample_weight = (1.0 + cfg.keyframe * keyframe_scores(T, train_idx, cfg.keyframe_by)) * imitate * w[classes]
    scale = cfg.temperature if cfg.imitation == "nll" else cfg.margin / 8  # Q units per nat of the policy's odds
    prior = imitation_prior(sample_weight[train_idx], T.command[train_idx], T.action_1[train_idx], masks, scale,
                            joint)
    sample_weight = torch.as_tensor(sample_weight / sample_weight[train_idx].mean(), dtype=torch.float32, device=dev)

    log(f"study: {len(T)} steps from {T.n_episodes} episodes ({len(train_idx)} train, {len(held_idx)} held out), "
        f"model {count_parameters(model) / 1e6:.2f} M parameters, input {cfg.stack}x{mcfg.frame_shape}, on {dev}")
    if cfg.forget_before_loss > 0:
        n_loss = int((T.reward[train_idx] <= cfg.loss_reward).sum())
        log(f"study: {n_loss} losses (reward <= {cfg.loss_reward:g}) in training data; the {cfg.forget_before_loss:g} s "
            f"before each are not imitated ({100 * float((sample_weight[train_idx] == 0).float().mean()):.1f}% of steps)")
    names = [COMMANDS[i] if kind == "command" else "+".join(codec.chords[i]) for kind, i in labels]
    log(f"study: share in training data by {cfg.balance_by}: "
        + ", ".join(f"{n} {100 * v:.1f}%" for n, v in zip(names, p) if v > 0)
        + f"; imitation weights {', '.join(f'{n} {v:.2f}' for n, v in zip(names, w) if v > 0)}")

    probe = probe_indices(held_idx if len(held_idx) >= 32 else train_idx)
    probe_x = torch.from_numpy(T.stacked(T.obs[probe], T.ep_start[probe], cfg.stack)).to(dev)
    probe_h = actions_of(T, probe).numpy()
    human = human_shares(T.command[held_idx if len(held_idx) else train_idx])
    health: Health | None = None

    mfile = MetricsFile(out, bool(resume))
    lineage = {"datasets": dataset_lineage(data), "parent": None}
    data_time = 0.0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, initial=min(step, cfg.steps), desc="study", unit="upd", dynamic_ncols=True)
    last = {}
    bias: ActionBias | None = prior.scaled(cfg.prior) if cfg.prior > 0 else None

    def checkpoint(final: bool) -> None:
        state = {"step": step, "history": history, "config": config_dict(cfg), "datasets": [str(d) for d in data],
                 "phase": "study", "metrics": last, "lineage": lineage, "final": final,
                 "action_bias": bias.to_dict() if bias is not None else None,
                 "imitation_prior": prior.to_dict(),  # offsets that undo the weights' pull (--prior 1)
                 # how `hakisa play` acts unless told: drawing from the policy the cross-entropy fitted played
                 # every game of the suite at least as well as greedy (README, "Greedy or drawn")
                 "play_temperature": cfg.temperature if cfg.imitation == "nll" else 0.0}
        save_run(out, model, opt, mcfg, codec, profile, state)

    on_device = batches_on_device(cfg.batches, dev, T.frames.nbytes, log) and cfg.photometric == 0
    if on_device:  # frames, returns and actions on the device: a batch is a few gathers there
        frames = DeviceFrames(T.frames, dev)
        returns_d, disc_d, boot_d = (torch.from_numpy(a).to(dev) for a in (returns, disc, boot))
        acts_d = actions_of(T, np.arange(len(T))).to(dev)
        ep_start_d, obs_d = torch.from_numpy(T.ep_start).to(dev), torch.from_numpy(T.obs).to(dev)
        log(f"study: batches built on {dev} ({frames.nbytes / 2**20:.0f} MiB of frames there)")
    model.amp = target.amp = cfg.amp

    def losses(x, xn, acts, r, d, wb):
        """The update's loss (imitation + weighted TD) and its two parts, from one batch."""
        with torch.no_grad():
            q_target_next = target(xn)
            y = double_dqn_target(model(xn) if cfg.double else q_target_next, q_target_next, r, d, masks, joint)
        q_now = model(x)
        if cfg.imitation == "nll":
            per_head = imitation_nll(q_now, acts, masks, cfg.temperature, joint)
        else:
            per_head = margin_loss(q_now, acts, masks, cfg.margin)
        lm = (per_head.sum(1) * wb).mean()
        lt = td_loss(q_now, acts, y, masks).mean()
        return lm + cfg.td_weight * lt, lm, lt

    update_losses = torch.compile(losses, dynamic=False) if cfg.compile else losses
    health_log = HealthLog("study", bar.write if bar else log)
    sums = torch.zeros(3, device=dev)  # loss, margin, td summed on the device: no sync per update
    n_run = 0
    seg_t0 = time.perf_counter()
    try:
        while step < cfg.steps:
            t0 = time.perf_counter()
            b = train_idx[rng.integers(0, len(train_idx), cfg.batch_size)]
            if on_device:
                shift = (*draw_shifts(rng, len(b), cfg.augment), cfg.augment) if cfg.augment > 0 else None
                bd = upload(b, dev)
                x = frames.stacked(obs_d[bd], ep_start_d[bd], cfg.stack, shift)
                xn = frames.stacked(boot_d[bd], ep_start_d[bd], cfg.stack)  # targets: no augmentation
                acts, r, d = acts_d[bd], returns_d[bd], disc_d[bd]
            else:
                xs = random_shift(T.stacked(T.obs[b], T.ep_start[b], cfg.stack), cfg.augment, rng)
                if cfg.photometric > 0:
                    pick = rng.random(len(b)) < cfg.photometric
                    xs[pick] = random_photometric(xs[pick], rng)
                x = torch.from_numpy(xs)
                xn = torch.from_numpy(T.stacked(boot[b], T.ep_start[b], cfg.stack))  # targets: no augmentation
                acts = actions_of(T, b)
                r, d = torch.from_numpy(returns[b]), torch.from_numpy(disc[b])
                if dev.type != "cpu":
                    x, xn, acts, r, d = (t.pin_memory().to(dev, non_blocking=True) for t in (x, xn, acts, r, d))
            t1 = time.perf_counter()
            wb = sample_weight[bd if on_device else upload(b, dev)]
            loss, lm, lt = update_losses(x, xn, acts, r, d, wb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
            sched.step()
            step += 1
            if step % cfg.target_every == 0:
                target.load_state_dict(model.state_dict())
            data_time += t1 - t0
            with torch.no_grad():
                sums += torch.stack([loss, lm, lt])
            n_run += 1
            if bar:
                bar.update(1)
            if step % cfg.eval_every == 0 or step == cfg.steps:
                if dev.type == "cuda":
                    torch.cuda.synchronize(dev)
                total_time = time.perf_counter() - seg_t0  # wall time of these updates, evaluation not counted
                mean_loss, mean_margin, mean_td = (sums / n_run).tolist()
                ev = evaluate(model, T, held_idx, masks, cfg.stack, joint=joint)
                health = check_health(model, probe_x, probe_h, masks, joint,
                                      losses=[h["loss"] for h in history] + [mean_loss], what="the clone")
                health_log.report(health, step, final=step == cfg.steps)
                last = {"step": step, "loss": mean_loss, "margin_loss": mean_margin, "td_loss": mean_td,
                        "samples_per_s": n_run * cfg.batch_size / total_time, "read_share": data_time / total_time,
                        **ev, **health.metrics(), "health": health.to_dict()}
                history.append({k: v for k, v in last.items() if k not in ("confusion", "health")})
                mfile.write(last)
                if bar:
                    bar.set_postfix(loss=f"{last['loss']:.3f}", acc=f"{ev['acc_exact']:.2f}",
                                    active=f"{ev['acc_active']:.2f}")
                sums.zero_()
                n_run, data_time = 0, 0.0
                checkpoint(final=step == cfg.steps)
                seg_t0 = time.perf_counter()
        tensorboard(out, history)
    finally:
        if bar:
            bar.close()
        mfile.close()
    if history:
        plot_curves(history, out.with_name(out.name + ".png"), f"hakisa study: {profile.name}",
                    [("training loss", ("loss", "margin_loss", "td_loss"), None),
                     ("held-out agreement with the human",
                      ("acc_command", "acc_exact", "acc_active", "acc_action_1", "acc_action_2"), (0, 1)),
                     ("health", ("dead_max", "top_share"), (0, 1))])
    metrics = last
    if cfg.calibrate != "off":
        idx = held_idx if len(held_idx) else train_idx
        bias, report = fit_action_bias(values_on(model, T, idx, cfg.stack, dev), actions_of(T, idx).numpy(), masks,
                                       len(codec.chords), scale, joint, raise_only=cfg.calibrate == "raise")
        log("study: calibrated how often the greedy clone acts, on held-out ticks: " + describe(report, codec))
        checkpoint(final=step >= cfg.steps)
    if bias is not None:  # calibrated, or the weights' pull taken back: report what the clone will play like
        bias = bias.to(dev)
        metrics = {**(last or {}), **evaluate(model, T, held_idx, masks, cfg.stack, joint=joint, bias=bias)}
        if health is None:
            health = check_health(model, probe_x, probe_h, masks, joint, what="the clone")
        # the network's health is judged without the offsets (they must not hide a clone that ignores the
        # screen); the shares the verdict reports are those it will play with
        health.greedy_share = check_health(model, probe_x, probe_h, masks, joint, bias=bias).greedy_share
    elif health is None:  # resumed a finished run: measure it once
        health = check_health(model, probe_x, probe_h, masks, joint, what="the clone")
    text, degenerate = verdict(metrics or evaluate(model, T, held_idx, masks, cfg.stack, joint=joint), health, human)
    return StudyResult(step, last, history, health, text, degenerate)
