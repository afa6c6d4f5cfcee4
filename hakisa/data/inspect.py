"""`hakisa inspect`: validate datasets and summarise what they hold."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from hakisa.codec import COMMANDS
from hakisa.data.dataset import ACTORS, DatasetReader


@dataclass
class Summary:
    path: str
    profile_name: str
    profile_sha256: str
    source: str
    tick_hz: float
    frame_shape: tuple
    episodes: list = field(default_factory=list)  # EpisodeInfo
    command_hist: np.ndarray = field(default_factory=lambda: np.zeros(len(COMMANDS), np.int64))
    action_1_hist: dict = field(default_factory=dict)  # command name -> counts over action_1
    action_2_hist: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    actor_counts: dict = field(default_factory=dict)
    rewards: list = field(default_factory=list)  # per-episode totals
    problems: list = field(default_factory=list)
    chords: list = field(default_factory=list)

    @property
    def steps(self) -> int:
        return sum(e.n_steps for e in self.episodes)

    @property
    def duration(self) -> float:
        return sum(e.duration_s for e in self.episodes)

    @property
    def missed(self) -> int:
        return sum(e.missed_ticks for e in self.episodes)


def summarize(path: str) -> Summary:
    """Read a whole dataset (without frames) and collect its statistics; raises DatasetError if broken."""
    with DatasetReader(path) as r:
        s = Summary(str(path), r.profile_name, r.profile_sha256, r.source, r.tick_hz, r.frame_shape)
        s.chords = r.codec_info.get("chords", [])
        n1, n2 = int(r.codec_info.get("n_action_1", 1)), int(r.codec_info.get("n_action_2", 1))
        s.action_2_hist = np.zeros(n2, np.int64)
        for name in r.episode_names():
            info = r.info(name)
            s.episodes.append(info)
            s.problems += [f"{name}: {p}" for p in info.problems]
            if info.status == "broken":
                continue
            ep = r.load(name, frames=False)
            c = ep["command_type"]
            if len(c) and (c.min() < 0 or c.max() >= len(COMMANDS)):
                s.problems.append(f"{name}: command_type outside 0..{len(COMMANDS) - 1}")
                continue
            for key, n in (("action_1", n1), ("action_2", n2), ("actor", len(ACTORS))):
                a = ep[key]
                if len(a) and (int(a.min()) < 0 or int(a.max()) >= n):
                    s.problems.append(f"{name}: {key} outside 0..{n - 1} of the dataset's codec")
            if not np.isfinite(ep["rewards"]).all():
                s.problems.append(f"{name}: rewards hold NaN or infinite values")
            s.command_hist += np.bincount(c, minlength=len(COMMANDS))[: len(COMMANDS)]
            for ci, cname in enumerate(COMMANDS):
                sel = ep["action_1"][c == ci]
                if ci == 0 or not len(sel):
                    continue
                h = s.action_1_hist.setdefault(cname, np.zeros(n1, np.int64))
                h += np.bincount(np.clip(sel, 0, n1 - 1), minlength=n1)[:n1]
            a2 = ep["action_2"][np.isin(c, (2, 3, 4))]
            s.action_2_hist += np.bincount(np.clip(a2, 0, n2 - 1), minlength=n2)[:n2]
            for a in ep["actor"]:
                label = ACTORS[a] if a < len(ACTORS) else f"actor {a}"
                s.actor_counts[label] = s.actor_counts.get(label, 0) + 1
            s.rewards.append(float(ep["rewards"].sum()))
        return s


def _bar(frac: float, width: int = 24) -> str:
    n = int(round(frac * width))
    return "#" * n + "." * (width - n)


def format_summary(s: Summary) -> str:
    """Plain-text report of a Summary, for the terminal."""
    H, W, C = s.frame_shape
    lines = [f"{s.path}", f"  profile {s.profile_name} (sha256 {s.profile_sha256[:12]}), source {s.source}, "
             f"{s.tick_hz:g} Hz, frames {W}x{H}x{C}"]
    n_term = sum(e.status == "terminated" for e in s.episodes)
    n_killed = sum(e.status == "recording" for e in s.episodes)
    total_ticks = s.steps + len(s.episodes) + s.missed
    rate = (s.steps + len(s.episodes)) / s.duration if s.duration > 0 else 0.0
    lines.append(f"  episodes {len(s.episodes)} ({n_term} terminated, {len(s.episodes) - n_term - n_killed} truncated"
                 + (f", {n_killed} cut off by a crash" if n_killed else "") + f"), steps {s.steps}, "
                 f"duration {s.duration:.1f} s, achieved {rate:.2f} Hz, missed ticks {s.missed} "
                 f"({100 * s.missed / total_ticks if total_ticks else 0:.2f}%)")
    lines.append("  episode       status      steps  seconds     Hz  missed  reward")
    for e, rew in zip(s.episodes, s.rewards + [float('nan')] * (len(s.episodes) - len(s.rewards))):
        hz = e.n_steps / e.duration_s if e.duration_s > 0 else 0.0
        lines.append(f"  {e.name:<12}  {e.status:<10} {e.n_steps:>6} {e.duration_s:>8.1f} {hz:>6.2f} "
                     f"{e.missed_ticks:>7} {rew:>7.2f}")
    tot = max(1, int(s.command_hist.sum()))
    lines.append("  command_type")
    for name, n in zip(COMMANDS, s.command_hist):
        lines.append(f"    {name:<12} {_bar(n / tot)} {n:>7} ({100 * n / tot:5.1f}%)")
    for cname, h in s.action_1_hist.items():
        lines.append(f"  action_1 for {cname}")
        ht = max(1, int(h.sum()))
        for i in np.flatnonzero(h):
            label = ("key " + s.chords[i]) if cname == "key" and i < len(s.chords) else f"x cell {i}"
            lines.append(f"    {label:<20} {_bar(h[i] / ht)} {h[i]:>7}")
    if s.action_2_hist.sum():
        ht = int(s.action_2_hist.sum())
        lines.append("  action_2 (y cell) for mouse commands")
        for i in np.flatnonzero(s.action_2_hist):
            lines.append(f"    y cell {i:<13} {_bar(s.action_2_hist[i] / ht)} {s.action_2_hist[i]:>7}")
    if s.actor_counts:
        lines.append("  actors " + ", ".join(f"{k} {v}" for k, v in s.actor_counts.items()))
    if s.rewards:
        lines.append(f"  reward total {sum(s.rewards):.2f}, per episode mean {np.mean(s.rewards):.2f}")
    for p in s.problems:
        lines.append(f"  PROBLEM {p}")
    return "\n".join(lines)


def summary_json(s: Summary) -> str:
    """Machine-readable summary (for scripts and tests)."""
    return json.dumps({
        "path": s.path, "profile": s.profile_name, "profile_sha256": s.profile_sha256,
        "episodes": [{"name": e.name, "status": e.status, "steps": e.n_steps, "seconds": e.duration_s,
                      "missed_ticks": e.missed_ticks} for e in s.episodes],
        "steps": s.steps, "duration_s": s.duration, "missed_ticks": s.missed,
        "command_type": dict(zip(COMMANDS, s.command_hist.tolist())),
        "actors": s.actor_counts, "rewards": s.rewards, "problems": s.problems,
    }, indent=2)

