"""`hakisa consolidate`: offline Q-learning over all the data, human and agent, with a lagging target.

Per update, on a batch drawn ``human_ratio`` from human steps and the rest from the agent's:

* TD: double DQN over the factored heads. The online network picks the next action (each head under
  the codec's masks), the target network values it, and the heads share one target as in branching
  Q-networks: y = R_n + gamma^n * mean of the applicable heads' target Q at that action. n-step
  returns stop at a termination (no bootstrap) but not at a truncation (bootstraps from the last frame).
  Huber loss on every applicable head; gradients clipped.
* Demonstrations stay (DQfD): the large-margin loss on the human steps of the batch, weighted low
  (0.1 by default, against 1 in study): it still ranks the human's action first where the data says
  nothing else, but where the agent's own steps show a better action its returns win. With weight 1
  the margin holds the human's choice in place no matter what the returns say (the synthetic test).
* Optional conservative penalty (CQL): logsumexp over each head's valid actions minus the data's.
* Optional filtered self-imitation (``self_imitation`` > 0): the agent's own steps after which no loss came
  within ``loss_horizon`` seconds are imitated too, with the same loss (study's ``forget_before_loss``, applied to
  the agent's play). Imitating its own play minus what ran into a loss moves the policy toward what survived, on
  the states the agent itself visits; a step whose horizon has not been played yet is not imitated.
  ``forget_before_loss`` leaves the human's steps in the horizon before a loss out of the imitation as study does.
* The target network is a hard copy every ``target_every`` updates, or Polyak-averaged (``tau``).

A run starts from a study/consolidate checkpoint (``parent``) or from scratch, and records its
lineage: the parent (path, digest, phase, its own lineage) and every dataset (path, digest, steps).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from hakisa.learn.batches import DeviceFrames, batches_on_device, draw_shifts, upload
from hakisa.errors import ConfigError
from hakisa.learn.checkpoint import CheckpointError, load_checkpoint, load_optimizer
from hakisa.codec import COMMANDS
from hakisa.data.relabel import relabel_report
from hakisa.data.transitions import HUMAN, TEACHERS, load_transitions
from hakisa.learn.health import Health, HealthLog, check_health, probe_indices
from hakisa.learn.losses import (HeadMasks, cql_penalty, double_dqn_target, greedy, imitation_nll, joint_q, margin_loss,
                                 policy_kl, td_loss)
from hakisa.learn.model import QNetwork, count_parameters
from hakisa.learn.study import ImitationWeights
from hakisa.profile import Profile
from hakisa.learn.training import (MetricsFile, actions_of, build_codec, check_model_fits, check_same_data,
                                   config_dict, dataset_lineage, file_digest, model_config, new_optimizer, plot_curves,
                                   pick_device, random_shift, save_run, set_up_torch, tensorboard)


@dataclass
class ConsolidateConfig:
    """Settings of `hakisa consolidate` (each is also a command-line flag)."""

    steps: int = 4000  # gradient updates
    batch_size: int = 64
    lr: float = 1e-4  # Adam learning rate
    gamma: float = 0.99
    n_step: int = 10
    target_every: int = 1000  # hard copy of the online network into the target every this many updates
    tau: float = 0.0  # > 0: Polyak averaging target <- tau * online + (1 - tau) * target every update instead
    double: bool = True  # double DQN: the online network picks the bootstrap action
    select: str = "joint"  # greedy action: "joint" (best joint value of the heads) or "heads" (head by head)
    grad_clip: float = 10.0
    reward_scale: float = 1.0  # rewards are multiplied by this...
    reward_clip: float = 0.0  # ...then clipped to +-this (0 = no clipping)
    margin: float = 0.8  # large-margin size on human steps (reward units)
    margin_weight: float = 0.1  # weight of the imitation loss: small, so the data's returns can overrule the human
    imitation: str = "margin"  # on human steps: "margin" (DQfD's large margin) or "nll" (study's cross-entropy of
    # softmax(Q / temperature), which keeps a clone studied that way on the policy it fitted)
    imitation_temperature: float | None = None  # of that softmax; None: the one the start checkpoint was studied
    #                                              at (its record), else study's default 0.1
    imitation_weights: str = "uniform"  # of the human steps: "uniform" or "study" (the start's study weighed each
    #                                     step's imitation by its action's rarity and keyframes; hakisa.learn.study)
    human_ratio: float = 0.25  # share of each batch drawn from human steps (when there are both kinds)
    self_imitation: float = 0.0  # weight of the same imitation loss on the agent's own steps that led to no loss
    #                              within loss_horizon seconds (0 = off): filtered self-imitation, see below
    forget_before_loss: bool = False  # human steps that led to a loss within loss_horizon are not imitated (as study)
    loss_horizon: float = 2.0  # seconds after a step that must pass without a loss for it to be imitated
    loss_reward: float = -0.5  # a step whose reward is at or below this is a loss (a life lost), as in study
    cql_weight: float = 0.0  # conservative penalty weight (0 = off)
    anchor: float = 0.0  # weight of KL(start's policy || the policy) on every sample trained on (0 = off): the
    #                      policy softmax(Q / imitation_temperature) stays near the one it started from (VPT)
    weight_decay: float = 1e-5
    augment: int = 4  # random shifts of up to this many pixels per sample; 0 = off
    eval_every: int = 500  # offline metrics and checkpoint every this many updates
    eval_samples: int = 2048  # steps the offline metrics are computed on
    seed: int = 0
    threads: int = 2
    device: str = "auto"  # auto (a CUDA GPU when there is one), cpu, cuda or cuda:N
    batches: str = "auto"  # where frame stacks, shifts and batches are built: host, device, auto (device on a GPU)
    amp: bool = False  # the network's forward passes in bfloat16 (losses and optimizer in float32)
    # network shape when starting from scratch (a parent checkpoint brings its own)
    stack: int = 4
    channels: tuple[int, ...] = (32, 64, 64)
    hidden: int = 256
    norm: str = "layer"


@dataclass
class ConsolidateResult:
    step: int
    metrics: dict
    history: list = field(default_factory=list)
    health: Health | None = None


def studied_temperature(blob: dict | None) -> float:
    """The temperature T of the softmax(Q / T) that ``blob`` was fitted to imitate: study's ``temperature``, or a
    consolidated or online checkpoint's ``imitation_temperature`` (its record), else study's default 0.1. The
    imitation that goes on from a checkpoint must fit the same softmax, or it reshapes the policy it starts from."""
    conf = ((blob or {}).get("state") or {}).get("config") or {}
    for key in ("imitation_temperature", "temperature"):
        t = conf.get(key)
        if isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t) and t > 0:
            return float(t)
    return 0.1


def _frozen(model: QNetwork) -> QNetwork:
    """A copy of ``model`` in eval mode that no gradient reaches (the target network, the start's policy)."""
    net = copy.deepcopy(model).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


class Consolidator:
    """Holds the data, the online and target networks and the optimizer; ``update()`` is one step."""

    def __init__(self, profile: Profile, data: list[str], cfg: ConsolidateConfig, parent: str | None = None,
                 resume: str | None = None, log=print, spare_steps: int = 0, anchor: str | None = None):
        self.profile, self.data, self.cfg = profile, [str(d) for d in data], cfg
        if cfg.imitation not in ("margin", "nll"):
            raise ValueError(f"imitation must be 'margin' or 'nll', not {cfg.imitation!r}")
        if cfg.imitation_weights not in ("uniform", "study"):
            raise ValueError(f"imitation_weights must be 'uniform' or 'study', not {cfg.imitation_weights!r}")
        self.rng = set_up_torch(cfg.seed, cfg.threads)
        self.dev = pick_device(cfg.device)
        from hakisa.learn.buffer import ReplayBuffer

        loaded = load_transitions(self.data, profile)
        for line in relabel_report(loaded.relabelled):
            log("consolidate: " + line)
        self.T = T = ReplayBuffer.from_transitions(loaded, cfg.n_step, cfg.gamma,
                                                   cfg.reward_scale, cfg.reward_clip, spare_steps=spare_steps)
        self.codec = build_codec(profile, self.data)
        self.masks = HeadMasks(self.codec, self.dev)
        want = model_config(profile, self.codec, cfg.stack, cfg.channels, cfg.hidden, cfg.norm)
        self.step, self.history = 0, []
        self.human_ratio = cfg.human_ratio  # an online learner lowers it as its own data grows
        self.horizon = max(1, int(round(cfg.loss_horizon * profile.capture.tick_hz)))
        self.act_bias = None  # the actor's ActionBias: its own steps are imitated as it chose them (online sets it)
        start = resume or parent
        blob = load_checkpoint(start, profile) if start else None
        if blob is not None:
            self.mcfg = check_model_fits(blob, want, start, "resume checkpoint" if resume else "--from")
        else:
            self.mcfg = want
        if cfg.imitation_temperature is None:
            self.cfg = cfg = replace(cfg, imitation_temperature=studied_temperature(blob))
        self.model = QNetwork(self.mcfg).to(self.dev)
        self.opt = new_optimizer(self.model, cfg.lr, cfg.weight_decay)
        self.lineage = {"datasets": dataset_lineage(self.data), "parent": None}
        if blob is not None:
            self.model.load_state_dict(blob["model"])
        self.model.to(self.dev)
        if resume:
            if blob["state"].get("phase") != "consolidate":
                raise CheckpointError(f"--resume: {resume} is a {blob['state'].get('phase')} checkpoint, not an "
                                      "unfinished consolidate run; use --from to start from it.")
            if blob["optimizer"]:
                load_optimizer(self.opt, blob["optimizer"], resume)
            st = blob["state"]
            check_same_data(blob, self.lineage["datasets"], resume)
            self.step, self.history = int(st.get("step", 0)), list(st.get("history", []))
            self.lineage = st.get("lineage", self.lineage)
            target_sd = blob.get("target")
        elif parent:
            st = blob["state"]
            self.lineage["parent"] = {"path": str(parent), "digest": file_digest(parent), "phase": st.get("phase"),
                                      "step": st.get("step"), "lineage": st.get("lineage")}
            target_sd = None
        else:
            target_sd = None
        self.target = _frozen(self.model)
        if target_sd:
            self.target.load_state_dict(target_sd)
        self.model.amp = self.target.amp = cfg.amp
        # the policy it started from: --anchor keeps the learner near it, and evaluate() says how far it has moved
        start_path = anchor or parent or (self.lineage.get("parent") or {}).get("path")
        if not resume and parent and start_path == parent:  # the weights just loaded: no second read of the file
            self.start_net = _frozen(self.model)
        else:
            self.start_net = self._start_model(start_path)
        self.anchor = self.start_net if cfg.anchor > 0 else None
        # study's weight settings, carried from checkpoint to checkpoint; --imitation-weights study applies them
        self.weight_settings = ImitationWeights.settings_of(blob["state"]) if blob is not None else None
        self.imitation_weights = None
        if cfg.imitation_weights == "study":
            if self.weight_settings is None:
                log("consolidate: the start records no study weights (no --from study checkpoint); the human steps "
                    "are weighed by study's default settings")
            self.imitation_weights = ImitationWeights.fit(T, T.human_idx, self.weight_settings or {},
                                                          self.codec.n_command, len(self.codec.chords))
            if self.imitation_weights.note:
                log("consolidate: " + self.imitation_weights.note)
        if batches_on_device(cfg.batches, self.dev, T.frames.nbytes + spare_steps * T.frames[0].nbytes, log):
            T.mirror(DeviceFrames(T.frames, self.dev, spare=spare_steps + 16))  # stacks and shifts built there
            log(f"consolidate: batches built on {self.dev}")
        erng = np.random.default_rng(cfg.seed + 1)
        self.eval_idx = np.sort(erng.choice(len(T), min(len(T), cfg.eval_samples), replace=False))
        log(f"consolidate: {len(T)} steps from {T.n_episodes} episodes ({len(T.human_idx)} human, "
            f"{len(T.agent_idx)} agent), model {count_parameters(self.model) / 1e6:.2f} M parameters, "
            + (f"from {parent}" if parent and not resume else f"resuming {resume} at update {self.step}" if resume
               else "from scratch"))

    def _start_model(self, path: str | None) -> QNetwork | None:
        """The frozen network of checkpoint ``path`` (the one this run started from), or None where there is none
        (then ``--anchor`` is refused)."""
        if not path:
            if self.cfg.anchor > 0:
                raise ConfigError("--anchor keeps the policy near the checkpoint it starts from; give one with --from.")
            return None
        try:
            blob = load_checkpoint(path, self.profile)
            check_model_fits(blob, self.mcfg, path, "the start checkpoint")
        except (CheckpointError, OSError):
            if self.cfg.anchor > 0:
                raise
            return None  # moved or replaced since: only the "moved" metric is lost
        net = QNetwork(self.mcfg).to(self.dev)
        net.load_state_dict(blob["model"])
        net = _frozen(net)
        net.amp = self.cfg.amp
        return net

    def restore(self, blob: dict, path: str | Path) -> None:
        """Carry on from checkpoint ``blob`` of this run (an online learner's restart, whose data has grown since):
        its optimizer state, target network, update count and history."""
        if blob["optimizer"]:
            load_optimizer(self.opt, blob["optimizer"], path)
        if blob.get("target"):
            self.target.load_state_dict(blob["target"])
        st = blob["state"]
        self.step, self.history = int(st.get("step", 0)), list(st.get("history", []))

    # ----- sampling -----------------------------------------------------------------------------
    def sample(self, n: int) -> np.ndarray:
        """Step indices: ``human_ratio`` of them human when both kinds of data exist."""
        h, a = self.T.human_idx, self.T.agent_idx
        if len(h) == 0 or len(a) == 0:
            pool = h if len(a) == 0 else a
            return pool[self.rng.integers(0, len(pool), n)]
        nh = int(round(self.human_ratio * n))
        return np.concatenate([h[self.rng.integers(0, len(h), nh)], a[self.rng.integers(0, len(a), n - nh)]])

    def _inputs(self, idx: np.ndarray, augment: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        T, s = self.T, self.mcfg.stack
        if T.device_frames is not None:  # the same shifts drawn as random_shift draws them, applied on the device
            shift = (*draw_shifts(self.rng, len(idx), augment), augment) if augment else None
            f = T.device_frames
            return f.stacked(T.obs[idx], T.ep_start[idx], s, shift), f.stacked(T.boot[idx], T.ep_start[idx], s)
        x = T.stacked(T.obs[idx], T.ep_start[idx], s)
        if augment:
            x = random_shift(x, augment, self.rng)
        xn = T.stacked(T.boot[idx], T.ep_start[idx], s)
        return upload(x, self.dev), upload(xn, self.dev)

    @torch.no_grad()
    def targets(self, idx: np.ndarray, xn: torch.Tensor | None = None) -> torch.Tensor:
        """The shared TD target of steps ``idx``: R_n + discount * Q_target(s', argmax_a Q_online(s', a))."""
        if xn is None:
            xn = self._inputs(idx)[1]
        q_target_next = self.target(xn)
        online_next = self.model(xn) if self.cfg.double else q_target_next
        r = upload(self.T.returns[idx], self.dev)
        d = upload(self.T.disc[idx], self.dev)
        return double_dqn_target(online_next, q_target_next, r, d, self.masks, self.cfg.select == "joint")

    # ----- learning -----------------------------------------------------------------------------
    def update(self) -> dict[str, float]:
        cfg = self.cfg
        b = self.sample(cfg.batch_size)
        x, xn = self._inputs(b, cfg.augment)
        acts = upload(actions_of(self.T, b), self.dev)
        y = self.targets(b, xn)
        qs = self.model(x)
        td = td_loss(qs, acts, y, self.masks).mean()
        human = self.T.actor[b] == HUMAN
        ok = self.survived(b) if cfg.self_imitation > 0 or cfg.forget_before_loss else None
        h = (human & ok if cfg.forget_before_loss else human).astype(np.float32)
        if self.imitation_weights is not None:
            h = h * self.imitation_weights(self.T, b)
        h = upload(h, self.dev, torch.float32)
        joint = cfg.select == "joint"
        if cfg.imitation == "nll":
            per_head = imitation_nll(qs, acts, self.masks, cfg.imitation_temperature, joint)
        else:
            per_head = margin_loss(qs, acts, self.masks, cfg.margin)
        lm = (per_head.sum(1) * h).mean()  # human steps, per batch sample
        loss = td + cfg.margin_weight * lm
        ls = torch.zeros((), device=self.dev)
        if cfg.self_imitation > 0:
            own = ~human & ok
            if own.any():
                if self.act_bias is not None and cfg.imitation == "nll":  # as the actor chose: Q plus its offsets
                    per_own = imitation_nll(qs, acts, self.masks, cfg.imitation_temperature, joint, self.act_bias)
                else:
                    per_own = per_head
                ls = (per_own.sum(1) * upload(own, self.dev, torch.float32)).mean()
                loss = loss + cfg.self_imitation * ls
        la = torch.zeros((), device=self.dev)
        if self.anchor is not None:
            with torch.no_grad():
                ref = self.anchor(x)
            la = policy_kl(qs, ref, self.masks, cfg.imitation_temperature, joint).mean()
            loss = loss + cfg.anchor * la
        lc = torch.zeros((), device=self.dev)
        if cfg.cql_weight > 0:
            lc = cql_penalty(qs, acts, self.masks).mean()
            loss = loss + cfg.cql_weight * lc
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.opt.step()
        self.step += 1
        self._update_target()
        with torch.no_grad():
            td_err = (joint_q(qs, acts, self.masks) - y).abs().mean()
            values = torch.stack([loss, td, lm, lc, td_err, ls, la]).tolist()  # one wait for the device, not seven
        return dict(zip(("loss", "td_loss", "margin_loss", "cql", "td_error", "self_loss", "anchor_kl"), values))

    def survived(self, idx: np.ndarray) -> np.ndarray:
        """(len(idx),) bool: steps after which no loss (reward <= ``loss_reward``) came within the horizon, the
        step itself included, while the same one (a person or the agent) had control, and whose horizon is known:
        it lies in the buffer already, or the episode ended. A loss the agent ran into after a person handed back
        is not the person's; a person taking over is the agent's loss (its penalty lies on the agent's step)."""
        T, H = self.T, self.horizon
        n = len(T)
        pos = idx[:, None] + np.arange(H)[None, :]
        known = pos < n
        at = np.minimum(pos, n - 1)
        ep = T.episode[idx]
        teacher = np.isin(T.actor[at], TEACHERS)
        same = np.logical_and.accumulate(known & (T.episode[at] == ep[:, None]) & (teacher == teacher[:, :1]), 1)
        lost = (same & (T.reward[at] <= self.cfg.loss_reward)).any(1)
        complete = known[:, -1] | (ep != T.live_episode)
        return complete & ~lost

    @torch.no_grad()
    def _update_target(self) -> None:
        if self.cfg.tau > 0:
            torch._foreach_lerp_(list(self.target.parameters()), list(self.model.parameters()), self.cfg.tau)
            for bt, bo in zip(self.target.buffers(), self.model.buffers()):
                bt.copy_(bo)
        elif self.step % self.cfg.target_every == 0:
            self.target.load_state_dict(self.model.state_dict())

    @torch.no_grad()
    def evaluate(self, batch: int = 256) -> dict:
        """Offline metrics on a fixed sample of steps: TD error, mean and max Q of the greedy action,
        agreement with the human's actions, how often each head picks each index, and (where the run started from a
        checkpoint) how far the policy has moved from that one's: ``moved``, the share of steps whose greedy action
        changed, and ``kl_start``, the mean KL(start's policy || now)."""
        self.model.eval()
        T, idx = self.T, self.eval_idx
        joint = self.cfg.select == "joint"
        greedy_acts, q_greedy, td_err, start_acts, kl = [], [], [], [], []
        for s in range(0, len(idx), batch):
            b = idx[s : s + batch]
            x, xn = self._inputs(b)
            qs = self.model(x)
            g = greedy(qs, self.masks, joint)
            greedy_acts.append(g.cpu().numpy())
            q_greedy.append(joint_q(qs, g, self.masks).cpu().numpy())
            q_data = joint_q(qs, actions_of(T, b).to(self.dev), self.masks)
            td_err.append((q_data - self.targets(b, xn)).abs().cpu().numpy())
            if self.start_net is not None:
                ref = self.start_net(x)
                start_acts.append(greedy(ref, self.masks, joint).cpu().numpy())
                kl.append(policy_kl(qs, ref, self.masks, self.cfg.imitation_temperature, joint).float().cpu().numpy())
        self.model.train()
        g = np.concatenate(greedy_acts)
        q = np.concatenate(q_greedy)
        uses_of = self.masks.uses.cpu().numpy()

        def same_as(ref: np.ndarray) -> np.ndarray:  # the greedy action is ``ref``'s, in every head that applies
            u = uses_of[ref[:, 0]]
            return (g[:, 0] == ref[:, 0]) & (~u[:, 1] | (g[:, 1] == ref[:, 1])) & (~u[:, 2] | (g[:, 2] == ref[:, 2]))

        same = same_as(np.stack([T.command[idx], T.action_1[idx], T.action_2[idx]], 1))
        moved = {"moved": float(1 - same_as(np.concatenate(start_acts)).mean()),
                 "kl_start": float(np.concatenate(kl).mean())} if start_acts else {}
        human = T.actor[idx] == HUMAN
        hist = {"command": np.bincount(g[:, 0], minlength=self.codec.n_command).tolist()}
        for i, name in ((1, "action_1"), (2, "action_2")):
            applies = self.masks.uses.cpu().numpy()[g[:, 0], i]
            hist[name] = np.bincount(g[applies, i], minlength=(self.codec.n_action_1, self.codec.n_action_2)[i - 1]).tolist()
        return {"td_error": float(np.concatenate(td_err).mean()), "mean_q": float(q.mean()), "max_q": float(q.max()),
                "agree_human": float(same[human].mean()) if human.any() else math.nan,
                "agree_agent": float(same[~human].mean()) if (~human).any() else math.nan,
                **moved, "histogram": hist}

    def health(self, losses: list[float] | None = None) -> Health:
        """:func:`hakisa.learn.health.check_health` on up to 512 of the evaluation steps (against the data's
        own actions there)."""
        idx = probe_indices(self.eval_idx)
        x, _ = self._inputs(idx)
        return check_health(self.model, x, actions_of(self.T, idx).numpy(), self.masks,
                            self.cfg.select == "joint", losses=losses, what="the network")

    def save(self, out: Path, final: bool, last: dict, extra_state: dict | None = None) -> None:
        state = {"step": self.step, "history": self.history, "config": config_dict(self.cfg),
                 "datasets": self.data, "phase": "consolidate", "metrics": last, "lineage": self.lineage,
                 "final": final, "imitation_weights": self.weight_settings, **(extra_state or {})}
        save_run(out, self.model, self.opt, self.mcfg, self.codec, self.profile, state,
                 extra={"target": self.target.state_dict()})


def consolidate(profile: Profile, data: list[str], out: str | Path, cfg: ConsolidateConfig, parent: str | None = None,
                resume: bool = False, progress: bool = True, log=print) -> ConsolidateResult:
    """Train and write ``out`` (checkpoint), ``out``.metrics.jsonl and ``out``.png."""
    from hakisa.limits import CONSOLIDATE, check_config

    check_config(cfg, CONSOLIDATE)
    from hakisa.resources import check_batch_memory

    check_batch_memory(cfg.batch_size, cfg.stack, profile.capture.frame_shape)
    out = Path(out)
    c = Consolidator(profile, data, cfg, parent=parent, resume=str(out) if resume else None, log=log)
    mfile = MetricsFile(out, resume)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, initial=min(c.step, cfg.steps), desc="consolidate", unit="upd", dynamic_ncols=True)
    run: dict[str, float] = {}
    n, busy = 0, 0.0
    last: dict = c.history[-1] if c.history else {}
    health: Health | None = None
    health_log = HealthLog("consolidate", bar.write if bar else log)
    try:
        while c.step < cfg.steps:
            t0 = time.perf_counter()
            m = c.update()
            busy += time.perf_counter() - t0
            n += 1
            for k, v in m.items():
                run[k] = run.get(k, 0.0) + v
            if bar:
                bar.update(1)
            if c.step % cfg.eval_every == 0 or c.step == cfg.steps:
                ev = c.evaluate()
                health = c.health([h["train_loss"] for h in c.history if "train_loss" in h]
                                  + ([run["loss"] / n] if "loss" in run else []))
                health_log.report(health, c.step, final=c.step >= cfg.steps)
                last = {"step": c.step, **{f"train_{k}": v / n for k, v in run.items()},
                        "updates_per_s": n / busy, "samples_per_s": n * cfg.batch_size / busy, **ev,
                        **health.metrics(), "health": health.to_dict()}
                c.history.append({k: v for k, v in last.items() if k not in ("histogram", "health")})
                mfile.write(last)
                if bar:
                    bar.set_postfix(td=f"{ev['td_error']:.3f}", q=f"{ev['mean_q']:.2f}", human=f"{ev['agree_human']:.2f}")
                run, n, busy = {}, 0, 0.0
                c.save(out, final=c.step >= cfg.steps, last=last)
        tensorboard(out, c.history)
    finally:
        if bar:
            bar.close()
        mfile.close()
    if c.history:
        plot_curves(c.history, out.with_name(out.name + ".png"), f"hakisa consolidate: {profile.name}",
                    [("TD error (held sample)", ("td_error", "train_td_error"), None),
                     ("Q of the greedy action", ("mean_q", "max_q"), None),
                     ("agreement with the data; moved from the start", ("agree_human", "agree_agent", "moved"), (0, 1))])
    return ConsolidateResult(c.step, last, c.history, health)


def format_histogram(hist: dict, codec) -> str:
    """Greedy choices per head on the evaluation sample, as text."""
    cmd = ", ".join(f"{name} {n}" for name, n in zip(COMMANDS, hist["command"]) if n)
    def label(i: int) -> str:
        return f"{i} ({'+'.join(codec.chords[i])})" if i < len(codec.chords) else str(i)

    a1 = ", ".join(f"{label(i)}: {n}" for i, n in enumerate(hist["action_1"]) if n)
    a2 = ", ".join(f"{i}: {n}" for i, n in enumerate(hist["action_2"]) if n)
    return f"  command_type: {cmd}\n  action_1: {a1 or '-'}\n  action_2: {a2 or '-'}"
