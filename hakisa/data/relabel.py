"""Rewards and episode ends worked out again under a profile's current rules, from the readings a dataset stores.

A dataset stores every extractor's reading of every frame (``readings``). When the reward, done or pause rules
change after recording, the steps keep their frames and actions and get new rewards and ends here, as the
record and agent loops would have given them live:

* an observation where the pause rule holds is not play: the step into it is dropped and the play around it
  is cut in two (the part before ends truncated, so it bootstraps);
* an observation where the done rule holds ends the play before it (that step is terminated); observations
  after it are the game-over screen until the rule stops holding, and the next play starts there;
* a step's reward is the rules' reward between its two readings, plus what people watching gave
  (``reward_human``, kept as recorded);
* a recorded episode that ends without the new done rule holding ends truncated.

Each stretch of play that results is a *segment*: an episode under the new rules.  Only the extractors the
rules read need to have been recorded, each reading what it reads now (same region, kind, colours, ...).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hakisa.errors import DatasetError
from hakisa.profile import Profile, parse_profile
from hakisa.screen.rules import RuleLogic


@dataclass
class Relabelled:
    """One recorded episode under new rules: per recorded step its new reward and ends, which steps are play."""

    rewards: np.ndarray  # (n,) float32; 0 where not kept
    terminated: np.ndarray  # (n,) bool
    truncated: np.ndarray  # (n,) bool
    keep: np.ndarray  # (n,) bool: the step is play under the new rules
    segments: list[tuple[int, int]]  # step ranges [start, stop) of each stretch of play, in order


def relabel_steps(logic: RuleLogic, values: list[dict[str, float]], reward_human: np.ndarray) -> Relabelled:
    """Rewards, ends and segments for an episode of ``len(values) - 1`` steps with readings ``values``
    (one dict per observation) under the rules of ``logic``."""
    n = len(values) - 1
    rules = logic.rules
    paused = [rules.has_pause and logic.paused(v) for v in values]
    done = [rules.has_done and logic.done(v) for v in values]
    rewards = np.zeros(max(n, 0), np.float32)
    terminated = np.zeros(max(n, 0), bool)
    truncated = np.zeros(max(n, 0), bool)
    keep = np.zeros(max(n, 0), bool)
    segments: list[tuple[int, int]] = []
    start: int | None = None  # first observation of the open segment

    def close(stop: int, term: bool) -> None:
        if stop > start:
            segments.append((start, stop))
            (terminated if term else truncated)[stop - 1] = True

    for j, v in enumerate(values):
        if start is None:
            if not (paused[j] or done[j]):
                start = j
            continue
        if paused[j]:  # the step into a pause is not play; what came before ends cut off
            close(j - 1, False)
            start = None
            continue
        i = j - 1
        keep[i] = True
        rewards[i] = logic.reward(values[i], v) + float(reward_human[i])
        if done[j]:
            close(j, True)
            start = None
    if start is not None:
        close(n, False)
    return Relabelled(rewards, terminated, truncated, keep, segments)


def _described(sig: dict) -> str:
    keep = ("kind", "region", "colors", "tolerance")
    return ", ".join(f"{k} {sig[k]}" for k in keep if k in sig) or "?"


def rule_columns(path, names: list[str], signatures: dict[str, dict], profile: Profile) -> dict[str, int]:
    """Column of each extractor the rules of ``profile`` read, in a dataset that recorded ``names``;
    a :class:`DatasetError` saying what is missing when the rules cannot be evaluated on it."""
    if not names:
        raise DatasetError(
            f"{path} was recorded before hakisa stored each frame's extractor readings, so its rewards and episode "
            f"ends cannot be worked out under the changed rules of {profile.source}. Use the profile it was recorded "
            "with, or record again.")
    cols = {}
    for n in profile.rule_inputs():
        if n not in names:
            raise DatasetError(
                f"{path} holds no readings of extractor '{n}', which the rules of {profile.source} now read (it "
                f"recorded {', '.join(names)}). New extractors only read new recordings: base the rules on the "
                "recorded extractors, or record again.")
        now, then = profile.extractor_signature(n), signatures.get(n, {})
        if json_equal(now, then):
            cols[n] = names.index(n)
            continue
        raise DatasetError(
            f"{path}: extractor '{n}' read something else when it was recorded ({_described(then)}) than it does "
            f"in {profile.source} ({_described(now)}); its readings cannot stand for the new one. Keep the "
            "recorded extractor as it was and add the changed one under a new name for new recordings, or record "
            "again.")
    return cols


def json_equal(a, b) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def episode_values(readings: np.ndarray, cols: dict[str, int]) -> list[dict[str, float]]:
    """One ``{extractor: reading}`` dict per observation, from a stored ``readings`` array."""
    names = list(cols)
    sub = readings[:, [cols[n] for n in names]].tolist() if names else [[] for _ in range(len(readings))]
    return [dict(zip(names, row)) for row in sub]


def recorded_profile(path, text: str) -> Profile | None:
    """The profile a dataset was recorded with, from its stored text (None when this hakisa cannot read it)."""
    try:
        return parse_profile(text, source=f"{path} (its recording profile)")
    except Exception:  # an older profile syntax: the recording cannot be matched by content
        return None


@dataclass
class FileReport:
    """What relabelling did to one dataset (for ``hakisa relabel`` and study/consolidate's report)."""

    path: str
    episodes_before: int = 0
    episodes_after: int = 0
    steps_before: int = 0
    steps_after: int = 0
    reward_before: float = 0.0
    reward_after: float = 0.0
    terminated_before: int = 0
    terminated_after: int = 0
    negative_before: int = 0  # steps with a negative reward
    negative_after: int = 0
    notes: list[str] = field(default_factory=list)

    def add(self, ep: dict, rl: Relabelled) -> None:
        self.episodes_before += 1
        self.episodes_after += len(rl.segments)
        self.steps_before += len(ep["rewards"])
        self.steps_after += int(rl.keep.sum())
        self.reward_before += float(np.sum(ep["rewards"], dtype=np.float64))
        self.reward_after += float(np.sum(rl.rewards[rl.keep], dtype=np.float64))
        self.terminated_before += int(np.sum(ep["terminations"]))
        self.terminated_after += int(rl.terminated.sum())
        self.negative_before += int(np.sum(ep["rewards"] < 0))
        self.negative_after += int(np.sum(rl.rewards[rl.keep] < 0))

    def line(self) -> str:
        def f(x: float) -> str:
            return f"{x:.1f}" if math.isfinite(x) else "nan"

        return (f"{self.path}: episodes {self.episodes_before} -> {self.episodes_after}, play steps {self.steps_before}"
                f" -> {self.steps_after}, game overs {self.terminated_before} -> {self.terminated_after}, reward "
                f"{f(self.reward_before)} -> {f(self.reward_after)}, negative steps {self.negative_before} -> "
                f"{self.negative_after}")


def relabel_report(reports: list[FileReport]) -> list[str]:
    """Lines for a training log: what reading each dataset under the changed rules did."""
    return [f"the rules changed since {Path(r.path).name} was recorded; read under the current ones: "
            + r.line() for r in reports]


def _differs(rec: Profile, now: Profile) -> str:
    parts = [what for what, a, b in (("the game's name", rec.name, now.name), ("[capture]", rec.capture, now.capture),
                                      ("[actions]", rec.actions, now.actions)) if a != b]
    return " and ".join(parts) or "what the frames and actions depend on"


def needs_relabel(path, reader, profile: Profile) -> bool:
    """Whether the rules of ``profile`` differ from those dataset ``reader`` was recorded with (its rewards and
    ends must then be worked out again); a :class:`DatasetError` when the data cannot be used with ``profile``
    at all (another game, capture or action set)."""
    if reader.profile_sha256 == profile.sha256:
        return False
    rec = recorded_profile(path, reader.profile_text)
    if rec is None or rec.recording_sha256 != profile.recording_sha256:
        why = f"; {_differs(rec, profile)} changed since" if rec is not None else ""
        raise DatasetError(
            f"{path} was recorded with profile '{reader.profile_name}' (sha256 {reader.profile_sha256[:12]}), but the "
            f"profile given is '{profile.name}' from {profile.source} (sha256 {profile.sha256[:12]}){why}. Only the "
            "rules (reward, done, pause), reset, window and safety may change after recording: use the profile the "
            "data was recorded with, or record new data.")
    if rec.rules == profile.rules and all(
            json_equal(rec.extractor_signature(n), profile.extractor_signature(n)) for n in profile.rule_inputs()
            if rec.rules.extractors[n].image):
        return False
    rule_columns(path, reader.extractors, reader.extractor_signatures, profile)  # can it be done at all
    return True


def relabel_episode(path, reader, name: str, ep: dict, profile: Profile,
                    logic: RuleLogic | None = None) -> Relabelled:
    """Episode ``name`` of dataset ``reader`` (loaded as ``ep``) under the rules of ``profile``."""
    cols = rule_columns(path, reader.extractors, reader.extractor_signatures, profile)
    if "readings" not in ep:
        raise DatasetError(f"{path} {name} stores no readings (the file has extractors {reader.extractors}); the "
                           "file is damaged.")
    values = episode_values(ep["readings"], cols)
    return relabel_steps(logic or RuleLogic(profile.rules), values, ep["reward_human"])


def preview(path, profile: Profile) -> FileReport | None:
    """What reading dataset ``path`` under the rules of ``profile`` changes (None: recorded with these rules);
    reads no frames and writes nothing."""
    from hakisa.data.dataset import DatasetReader

    with DatasetReader(path) as r:
        if not needs_relabel(path, r, profile):
            return None
        logic, report = RuleLogic(profile.rules), FileReport(str(path))
        for name in r.episode_names():
            if r.info(name).status == "broken":
                report.notes.append(f"{name} is damaged and left out (see `hakisa inspect {path}`)")
                continue
            ep = r.load(name, frames=False)
            if len(ep["rewards"]):
                report.add(ep, relabel_episode(path, r, name, ep, profile, logic))
        return report
