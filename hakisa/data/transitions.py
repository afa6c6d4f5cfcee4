"""Demonstration and experience data in memory, for study and consolidate.

All steps of one or more datasets of the same profile are loaded once (frames stay uint8,
stored single) and sampled with frame stacks built by index arithmetic, so reading never
becomes the bottleneck of training.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hakisa.data.dataset import ACTORS, DatasetReader, check_episode_values
from hakisa.errors import DatasetError
from hakisa.resources import check_memory
from hakisa.profile import Profile

HUMAN = ACTORS.index("human")
TEACHERS = (HUMAN, ACTORS.index("scripted"))  # who study imitates: people, and scripts standing in for them


def stack_frames(x: np.ndarray) -> np.ndarray:
    """(B, S, H, W, C) frames, oldest first -> the network's (B, S*C, H, W) input layout.

    The one place that fixes the layout, so training (study, consolidate) and acting (play) agree."""
    B, S, H, W, C = x.shape
    return np.ascontiguousarray(x.transpose(0, 1, 4, 2, 3).reshape(B, S * C, H, W))


@dataclass
class Transitions:
    """Steps of many episodes: step i goes from frame ``obs[i]`` to frame ``obs[i] + 1``."""

    frames: np.ndarray  # (n_frames, H, W, C) uint8
    obs: np.ndarray  # (n,) frame index of each step's observation
    ep_start: np.ndarray  # (n,) frame index of the first observation of the step's episode
    episode: np.ndarray  # (n,) episode number (0..n_episodes-1)
    command: np.ndarray  # (n,) int64
    action_1: np.ndarray
    action_2: np.ndarray
    actor: np.ndarray  # (n,) uint8 over dataset ACTORS
    reward: np.ndarray  # (n,) float32
    terminated: np.ndarray  # (n,) bool
    truncated: np.ndarray  # (n,) bool
    sources: list[str]  # "file:episode" per episode number ("file:episode#k": its k-th stretch under new rules)
    relabelled: list = field(default_factory=list)  # a relabel.FileReport per file read under changed rules

    def __len__(self) -> int:
        return len(self.obs)

    @property
    def n_episodes(self) -> int:
        return len(self.sources)

    def stacked(self, frame_idx: np.ndarray, first_idx: np.ndarray, stack: int) -> np.ndarray:
        """(B, stack*C, H, W) uint8: each frame with the ``stack - 1`` before it (clamped at episode start)."""
        offs = frame_idx[:, None] - np.arange(stack - 1, -1, -1)[None, :]
        offs = np.maximum(offs, first_idx[:, None])
        return stack_frames(self.frames[offs])

    def n_step(self, n: int, gamma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """n-step returns inside episodes: (discounted reward sum, index of the bootstrap step's next frame,
        discount for bootstrapping: gamma^k, or 0 where the episode terminated within the n steps).

        A truncated episode bootstraps from its last frame; a terminated one does not.
        """
        N = len(self)
        ret = np.zeros(N, np.float64)
        disc = np.ones(N, np.float64)
        boot = self.obs + 1
        alive = np.ones(N, bool)
        last_in_ep = np.r_[self.episode[1:] != self.episode[:-1], True]
        for k in range(n):
            j = np.arange(N) + k
            valid = alive & (j < N)
            jj = np.minimum(j, N - 1)
            valid &= self.episode[jj] == self.episode
            ret[valid] += disc[valid] * self.reward[jj[valid]]
            boot[valid] = self.obs[jj[valid]] + 1
            disc[valid] *= gamma
            ended = valid & (self.terminated[jj] | last_in_ep[jj])
            term = valid & self.terminated[jj]
            disc[term] = 0.0
            alive &= ~ended
        return ret.astype(np.float32), boot, disc.astype(np.float32)

    def split(self, holdout: float, seed: int = 0, by: str = "episode") -> tuple[np.ndarray, np.ndarray]:
        """(train, held-out) step indices, ~``holdout`` of the steps held out: whole episodes (``by="episode"``),
        or the last ``holdout`` share of every episode (``by="tail"``: each episode, level or opponent is in both).

        With a single episode, its last ``holdout`` share of steps is held out either way.
        """
        if by not in ("episode", "tail"):
            raise ValueError(f"split by 'episode' or 'tail', not {by!r}")
        n = len(self)
        if by == "tail":
            sizes = np.bincount(self.episode, minlength=self.n_episodes)
            first = np.r_[0, np.cumsum(sizes)[:-1]]
            pos = np.arange(n) - first[self.episode]  # steps are stored episode by episode
            held = pos >= np.ceil(sizes[self.episode] * (1 - holdout))
            return np.flatnonzero(~held), np.flatnonzero(held)
        if self.n_episodes < 2:
            cut = int(n * (1 - holdout))
            return np.arange(cut), np.arange(cut, n)
        rng = np.random.default_rng(seed)
        order = rng.permutation(self.n_episodes)
        sizes = np.bincount(self.episode, minlength=self.n_episodes)
        held, total = [], 0
        for e in order:
            if total >= holdout * n and held:
                break
            if len(held) == self.n_episodes - 1:
                break
            held.append(e)
            total += sizes[e]
        mask = np.isin(self.episode, held)
        return np.flatnonzero(~mask), np.flatnonzero(mask)


def check_same_profile(paths: list[str], profile: Profile | None = None) -> list[bool]:
    """Every dataset must come from the same profile, or, when ``profile`` is given, from one that records
    the same frames and actions (same game, capture and actions: the rules may have changed since, see
    :mod:`hakisa.data.relabel`).

    Returns, per dataset, whether its rewards and episode ends must be worked out again under ``profile``'s
    rules; raises :class:`DatasetError` naming both sides."""
    from hakisa.data.relabel import needs_relabel

    seen: tuple[str, str, str] | None = None  # sha, name, path
    redo = []
    for p in paths:
        with DatasetReader(p) as r:
            if profile is not None:
                redo.append(needs_relabel(p, r, profile))
            elif seen is not None and r.profile_sha256 != seen[0]:
                raise DatasetError(
                    f"datasets from different profiles cannot be mixed: {seen[2]} has profile '{seen[1]}' "
                    f"(sha256 {seen[0][:12]}) and {p} has profile '{r.profile_name}' (sha256 {r.profile_sha256[:12]}).")
            else:
                redo.append(False)
            seen = seen or (r.profile_sha256, r.profile_name, str(p))
    if seen is None:
        raise DatasetError("no datasets given; pass --data with one or more .h5 files.")
    return redo


def _plan(paths: list[str]) -> tuple[list[tuple[str, list[str]]], int, int]:
    """What :func:`load_transitions` will load, checked before anything is allocated: per file the
    episodes with steps; the number of frames and of steps.  Damaged episodes and data past the memory
    budget are refused here, with the file and episode named."""
    plan, n_frames, n_steps, shape = [], 0, 0, None
    for p in paths:
        with DatasetReader(p) as r:
            if shape is not None and r.frame_shape != shape:
                raise DatasetError(f"{p} stores frames of shape {r.frame_shape}, others {shape}.")
            shape = r.frame_shape
            names = []
            for name in r.episode_names():
                info = r.info(name)
                if info.problems:
                    raise DatasetError(f"{p} {name}: {info.problems[0]}. Check the file with `hakisa inspect {p}`; "
                                       "leave it out or record it again.")
                if info.n_steps:
                    names.append(name)
                    n_frames += info.n_steps + 1
                    n_steps += info.n_steps
            plan.append((p, names))
    if shape is not None:
        # frames once, plus the per-step arrays (about 100 bytes a step with the n-step returns)
        check_memory(n_frames * int(np.prod(shape)) + 100 * n_steps,
                     f"loading {n_steps} steps ({n_frames} frames of {shape[1]}x{shape[0]}x{shape[2]}) from "
                     f"{len(paths)} dataset{'s' * (len(paths) != 1)}")
    return plan, n_frames, n_steps


def load_transitions(paths: list[str], profile: Profile | None = None) -> Transitions:
    """Load every complete step of ``paths`` into memory (after :func:`check_same_profile`).

    Everything is checked before frames are read: each episode's structure, the real (not declared)
    number of rows, and the memory it all needs against the budget (see :mod:`hakisa.resources`)."""
    from hakisa.data.relabel import FileReport, relabel_episode
    from hakisa.screen.rules import RuleLogic

    redo = check_same_profile(paths, profile)
    logic = RuleLogic(profile.rules) if profile is not None else None
    plan, _, _ = _plan(paths)
    frames, obs, ep_start, episode, cmd, a1, a2, actor, rew, term, trunc, sources = ([] for _ in range(12))
    reports = []
    base = 0
    for (p, names), relabel in zip(plan, redo):
        report = FileReport(str(p)) if relabel else None
        with DatasetReader(p) as r:
            if profile is not None:
                from hakisa.codec import ActionCodec

                want = ActionCodec(profile.actions, tuple(r.codec_info["capture_size"]))
                codec = {"n_action_1": want.n_action_1, "n_action_2": want.n_action_2}
            else:
                codec = r.codec_info
            for name in names:
                ep = r.load(name)
                n = len(ep["command_type"])
                if n == 0:
                    continue
                check_episode_values(p, name, ep, codec)
                if report is None:
                    pieces = [(0, n, ep["rewards"], ep["terminations"], ep["truncations"], "")]
                else:  # the rules changed since recording: each stretch of play under the new rules is an episode
                    rl = relabel_episode(p, r, name, ep, profile, logic)
                    report.add(ep, rl)
                    pieces = [(a, b, rl.rewards, rl.terminated, rl.truncated, f"#{k}")
                              for k, (a, b) in enumerate(rl.segments)]
                for a, b, rewards, terminated, truncated, tag in pieces:
                    m = b - a
                    frames.append(ep["observations"][a: b + 1])
                    obs.append(base + np.arange(m))
                    ep_start.append(np.full(m, base))
                    episode.append(np.full(m, len(sources)))
                    cmd.append(ep["command_type"][a:b])
                    a1.append(ep["action_1"][a:b])
                    a2.append(ep["action_2"][a:b])
                    actor.append(ep["actor"][a:b])
                    rew.append(rewards[a:b])
                    term.append(terminated[a:b])
                    trunc.append(truncated[a:b])
                    sources.append(f"{Path(p).name}:{name}{tag}")
                    base += m + 1
        if report is not None:
            reports.append(report)
    if not sources:
        why = " under the rules of " + profile.source + " (no step is play)" if reports else ""
        raise DatasetError(f"no complete steps in {', '.join(map(str, paths))}{why}: the datasets are empty.")
    cat = np.concatenate
    return Transitions(cat(frames), cat(obs).astype(np.int64), cat(ep_start).astype(np.int64),
                       cat(episode).astype(np.int64), cat(cmd).astype(np.int64), cat(a1).astype(np.int64),
                       cat(a2).astype(np.int64), cat(actor), cat(rew).astype(np.float32), cat(term).astype(bool),
                       cat(trunc).astype(bool), sources, reports)
