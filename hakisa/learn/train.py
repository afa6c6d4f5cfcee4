"""`hakisa train`: leave it learning. K rounds of explore -> consolidate, each round's data and checkpoint
kept in a run folder, resumable after a crash without repeating or losing a round.

Round k explores with the newest checkpoint (round k-1's, or the starting one) and writes
``round-k.h5``; then consolidates the demonstrations plus every round's data so far, starting from
that checkpoint, into ``round-k.pt``. ``train.json`` records what each round did (written atomically
after every phase). On restart:

* a round whose checkpoint is final is skipped;
* a round whose dataset is complete but whose consolidate was cut short resumes it from its last
  checkpoint (same update count, same data);
* an exploration cut short left only ``round-k.h5.part``; it is kept as ``round-k.crashed-<time>.h5`` (not used
  by later rounds) and the exploration redone.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hakisa.learn.checkpoint import CheckpointError, load_checkpoint
from hakisa.learn.consolidate import ConsolidateConfig, consolidate
from hakisa.errors import HakisaError
from hakisa.act.loop import Schedule
from hakisa.profile import Profile
from hakisa.act.session import SessionSpec, episode_line, run_agent


@dataclass
class TrainConfig:
    rounds: int = 3
    explore_steps: int = 6000  # agent steps per round
    epsilon: float = 0.2  # epsilon falls from this to epsilon_end over each round's exploration
    epsilon_end: float = 0.02
    headless: str | None = None  # explore a bundled game in memory
    size: tuple[int, int] = (640, 360)
    focus: bool = False
    wait: float = 3.0
    seed: int = 0
    consolidate: ConsolidateConfig = field(default_factory=ConsolidateConfig)


def write_json(path: Path, obj: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def open_run(path: Path, profile: Profile, start, demos, fresh: dict) -> tuple[dict, bool]:
    """A run's record (``train.json``, ``online.json``): read and checked against this profile, starting checkpoint
    and data when it exists, else written anew as ``fresh`` plus those. Returns (record, whether it existed)."""
    demos = [str(d) for d in demos]
    if path.exists():
        record = json.loads(path.read_text())
        wd = path.parent
        if record.get("profile_sha256") != profile.sha256:
            raise HakisaError(f"{wd} holds a run for profile '{record.get('profile_name')}', not '{profile.name}'; "
                              "choose another --workdir.")
        if record.get("start") != str(start) or record.get("demos") != demos:
            raise HakisaError(f"{wd} holds a run that started from {record.get('start')} with {record.get('demos')}; "
                              "resume it with the same --from and --data, or choose another --workdir.")
        return record, True
    record = {"profile_name": profile.name, "profile_sha256": profile.sha256, "start": str(start), "demos": demos,
              **fresh}
    write_json(path, record)
    return record, False


def _episodes_summary(stats) -> dict:
    eps = stats.episodes
    scores = np.array([e.score for e in eps], float)
    rewards = np.array([e.reward for e in eps], float)
    finite = scores[np.isfinite(scores)]
    return {"episodes": len(eps), "steps": stats.actions,
            "reward_mean": float(rewards.mean()) if len(eps) else math.nan,
            "score_mean": float(finite.mean()) if len(finite) else math.nan,
            "stop_reason": stats.stop_reason}


def train(profile: Profile, demos: list[str], start: str, workdir: str | Path, cfg: TrainConfig,
          progress: bool = True, log=print) -> dict:
    """Run (or resume) the rounds; returns the run record (also in ``workdir/train.json``)."""
    from hakisa.limits import CONSOLIDATE, TRAIN, check_config

    check_config(cfg, TRAIN)
    check_config(cfg.consolidate, CONSOLIDATE)
    wd = Path(workdir)
    load_checkpoint(start, profile)  # refuses a missing file or another profile's checkpoint up front
    from hakisa.data.transitions import check_same_profile

    check_same_profile([str(d) for d in demos], profile)  # and data that cannot be used, before --workdir is made
    if cfg.headless is None:  # and no screen for the window
        from hakisa.live import require_display

        require_display("train")
    if wd.exists() and not wd.is_dir():
        raise HakisaError(f"--workdir {wd} is a file; give a folder for the rounds.")
    wd.mkdir(parents=True, exist_ok=True)
    record_path = wd / "train.json"
    record, resumed = open_run(record_path, profile, start, demos, {"rounds": []})
    if resumed:
        log(f"train: resuming {wd} ({len([r for r in record['rounds'] if r.get('done')])} rounds done)")
    parent = str(start)
    for k in range(1, cfg.rounds + 1):
        data_k, ckpt_k = wd / f"round-{k}.h5", wd / f"round-{k}.pt"
        rounds = record["rounds"]
        if len(rounds) < k:
            rounds.append({"round": k, "data": str(data_k), "checkpoint": str(ckpt_k), "parent": parent})
        entry = rounds[k - 1]
        if entry.get("done"):
            parent = str(ckpt_k)
            continue
        if not data_k.exists():
            blob = load_checkpoint(parent, profile)
            spec = SessionSpec("explore", Schedule(cfg.epsilon, cfg.epsilon_end, cfg.explore_steps), out=str(data_k),
                               headless=cfg.headless, size=cfg.size, seed=cfg.seed + 1000 * k, focus=cfg.focus,
                               wait=cfg.wait, max_steps=cfg.explore_steps, checkpoint_name=parent)
            log(f"train: round {k}/{cfg.rounds}: exploring {cfg.explore_steps} steps with {parent}")
            stats = run_agent(profile, blob, spec, on_episode=lambda r: log("  " + episode_line(r)) if progress else None)
            if stats.stop_reason.startswith(("kill switch", "SIGINT", "SIGTERM")) or stats.error is not None:
                raise HakisaError(f"round {k} exploration stopped ({stats.stop_reason}); run the same command again "
                                  "to resume.")
            entry["explore"] = _episodes_summary(stats)
            write_json(record_path, record)
        data = [str(d) for d in demos] + [str(wd / f"round-{j}.h5") for j in range(1, k + 1)]
        resume = False
        if ckpt_k.exists():
            try:
                st = load_checkpoint(ckpt_k, profile)["state"]
            except CheckpointError:
                st = {}
            if st.get("phase") == "consolidate" and st.get("final"):  # finished; only the record was not written
                entry["consolidate"] = {k2: v for k2, v in st.get("metrics", {}).items() if k2 != "histogram"}
                entry["done"] = True
                write_json(record_path, record)
                parent = str(ckpt_k)
                continue
            resume = st.get("phase") == "consolidate"
        log(f"train: round {k}/{cfg.rounds}: consolidating {len(data)} datasets "
            + (f"(resuming {ckpt_k})" if resume else f"from {parent}"))
        res = consolidate(profile, data, ckpt_k, cfg.consolidate, parent=None if resume else parent, resume=resume,
                          progress=progress, log=log)
        entry["consolidate"] = {k2: v for k2, v in res.metrics.items() if k2 != "histogram"}
        entry["done"] = True
        write_json(record_path, record)
        parent = str(ckpt_k)
    plot_rounds(record, wd / "train.png", profile.name)
    return record


def plot_rounds(record: dict, path: Path, name: str) -> None:
    """Explore score and reward per round, and consolidate's Q and agreement."""
    done = [r for r in record["rounds"] if r.get("explore")]
    if not done:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = [r["round"] for r in done]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    for key in ("score_mean", "reward_mean"):
        a.plot(ks, [r["explore"].get(key, math.nan) for r in done], marker="o", label=key)
    a.set_xlabel("round")
    a.set_title("exploration episodes (epsilon-greedy)")
    a.legend()
    cons = [r for r in done if r.get("consolidate")]
    for key in ("mean_q", "td_error", "agree_human"):
        b.plot([r["round"] for r in cons], [r["consolidate"].get(key, math.nan) for r in cons], marker="o", label=key)
    b.set_xlabel("round")
    b.set_title("after consolidate")
    from matplotlib.ticker import MaxNLocator

    for ax in (a, b):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    b.legend()
    fig.suptitle(f"hakisa train: {name}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
