"""`hakisa train` (online): one actor plays while one learner keeps learning from everything seen so far.

The actor is :func:`hakisa.act.session.run_agent` (the real window in real time, with the guard, kill switch
and feedback keys, or a bundled game in memory as fast as it goes). Every step it takes is written to the
run's datasets as in `hakisa explore`, and a copy of each row goes, through a queue, into the learner's
:class:`~hakisa.learn.buffer.ReplayBuffer`, which already holds the demonstrations and the run's earlier
data. The learner is a :class:`~hakisa.learn.consolidate.Consolidator` kept for the whole run (its Adam
state and target network are never reset) making ``replay_ratio`` updates per actor step, and the actor
picks up its weights every ``sync_every`` updates. The settings follow DQfD (an imitation loss of weight 1 on
the demonstrations, whose share of each batch falls from ``human_ratio`` to ``human_ratio_end`` over the run,
low epsilon, a Polyak-averaged target, n-step returns), except that the imitation loss is study's
cross-entropy of softmax(Q / 0.1), not DQfD's large margin, which measurably pulled studied clones down.

On a bundled game in memory the learner runs on the acting thread, between ticks, so the replay ratio is
exact and a run is repeatable up to thread timing; on a window it runs on its own thread so the actor
keeps its tick rate, and makes what it still owes when the segment ends.

The run folder (``--workdir``) holds ``seg-K.h5`` (``segment_steps`` actor steps each), ``online.pt`` (the
newest weights, optimizer and target, written every ``save_seconds`` and at each segment's end),
``seg-K.pt`` (a copy at each segment's end, for learning curves), ``online.json`` (what each segment
did) and ``online.png``. With ``pick`` > 0 the run ends by playing the checkpoint it started from and each
``seg-K.pt`` that many episodes each, on the game, and copies the best to ``best.pt`` (:func:`pick_best`): the
learner's newest checkpoint is not always its best, nor better than its start (README, "Keeping the best
checkpoint"). Stopped at any moment (kill switch, Ctrl+C, a crash) and run again, it goes on
from ``online.pt`` with every dataset it finished, plus what an interrupted segment had flushed
(at most a second or so is lost).
"""

from __future__ import annotations

import math
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hakisa.errors import HakisaError
from hakisa.learn.consolidate import ConsolidateConfig, Consolidator
from hakisa.profile import Profile


def _online_consolidate() -> ConsolidateConfig:
    # study's cross-entropy on the human steps, not DQfD's margin: on dodge the margin pulled the clone down by
    # 20 points over 0.33 h of play, the cross-entropy held it (README, "The online loop and corrections on dodge")
    return ConsolidateConfig(imitation="nll", margin_weight=1.0, tau=0.005, human_ratio=0.25)


@dataclass
class OnlineConfig:
    steps: int = 24000  # actor steps in all (20 minutes of play at 20 Hz)
    replay_ratio: float = 0.5  # learner updates per actor step
    epsilon: float = 0.02  # each head's chance of a random index, falling linearly to epsilon_end over the run
    epsilon_end: float = 0.01
    temperature: float | None = None  # the actor draws from softmax(Q / T) (replaces epsilon); None: the checkpoint's
    #                                   play temperature. Only how it explores: its checkpoints play at the start's
    human_ratio_end: float = 0.1  # the demonstrations' batch share falls linearly from consolidate.human_ratio to this
    sync_every: int = 50  # learner updates between weight copies into the actor
    save_seconds: float = 30.0  # online.pt at least this often (wall clock)
    segment_steps: int = 6000  # actor steps per dataset file (and per learning-curve point)
    pick: int = 0  # > 0: at the end, this many episodes of the start and of each seg-K.pt; the best -> best.pt
    pick_seconds: float = 300.0  # each checkpoint's play in the pick at most (headless: game time)
    headless: str | None = None  # a bundled game in memory instead of the window
    size: tuple[int, int] = (640, 360)
    focus: bool = False
    wait: float = 3.0
    seed: int = 0
    takeover: object = None  # hakisa.act.takeover.TakeoverSpec: the person watching may take control (headless: the
    # scripted demonstrator, hakisa.games.watcher)
    watch_horizon: float = 1.0  # headless: seconds the scripted watcher looks ahead for a lost life
    chat: str | None = None  # irc://HOST[:PORT]/#CHANNEL: the crowd in that chat votes (on a window)
    dashboard: object = None  # hakisa.web.dashboard.Dashboard: what people watching see, the learning curve too
    consolidate: ConsolidateConfig = field(default_factory=_online_consolidate)


class Learner:
    """The learner's side: rows from the actor's writer thread come in through :meth:`tap`; :meth:`catch_up`
    (acting thread, headless) or :meth:`run_thread` (its own thread, live) makes the updates due."""

    def __init__(self, c: Consolidator, cfg: OnlineConfig, steps_before: int):
        self.c, self.cfg = c, cfg
        self.q: queue.SimpleQueue = queue.SimpleQueue()
        self.steps_before = steps_before  # actor steps of earlier segments
        self.updates_before = c.step - int(round(cfg.replay_ratio * steps_before))  # updates not owed to the actor
        self.actions = 0  # the current segment's actor steps (set by the acting thread)
        self.published: dict | None = None  # newest weights for the actor (a new dict each time)
        self.error: BaseException | None = None
        self.sums: dict[str, float] = {}
        self.n = 0
        self.busy = 0.0
        self.last_save = time.monotonic()
        self.save = None  # set by the run: writes online.pt

    # ----- rows in ------------------------------------------------------------------------------
    def tap(self, kind: str, *item) -> None:
        self.q.put((kind, item))

    def drain(self) -> None:
        b = self.c.T
        while True:
            try:
                kind, item = self.q.get_nowait()
            except queue.Empty:
                return
            if kind == "start":
                b.begin(item[0])
            elif kind == "step":
                b.step(*item)
            else:
                b.end(truncated=item[0])

    # ----- updates ------------------------------------------------------------------------------
    def total_steps(self) -> int:
        return self.steps_before + self.actions

    def due(self) -> int:
        return self.updates_before + int(self.cfg.replay_ratio * self.total_steps())

    def human_ratio(self) -> float:
        """The demonstrations' share of a batch now: from consolidate.human_ratio down to human_ratio_end."""
        cfg = self.cfg
        f = min(1.0, self.total_steps() / max(1, cfg.steps))
        return cfg.consolidate.human_ratio + (cfg.human_ratio_end - cfg.consolidate.human_ratio) * f

    def update(self) -> None:
        cfg, c = self.cfg, self.c
        c.human_ratio = self.human_ratio()
        t0 = time.perf_counter()
        m = c.update()
        self.busy += time.perf_counter() - t0
        self.n += 1
        for k, v in m.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        if c.step % cfg.sync_every == 0:
            self.publish()

    def publish(self) -> None:
        self.published = {k: v.detach().to("cpu", copy=True) for k, v in self.c.model.state_dict().items()}

    def catch_up(self) -> None:
        """Every update due by now (headless: on the acting thread after each action)."""
        self.drain()
        while self.c.step < self.due():
            self.update()
        self._maybe_save()

    def _maybe_save(self) -> None:
        if self.save is not None and time.monotonic() - self.last_save >= self.cfg.save_seconds:
            self.save(final=False)
            self.last_save = time.monotonic()

    def run_thread(self, stop: threading.Event) -> None:
        """Live: update whenever one is due, else wait a little; until ``stop``."""
        try:
            while not stop.is_set():
                self.drain()
                if self.c.step < self.due():
                    self.update()
                else:
                    stop.wait(0.005)
                self._maybe_save()
        except BaseException as exc:  # noqa: BLE001 - the acting thread raises it
            self.error = exc

    def take_metrics(self) -> dict:
        out = {f"train_{k}": v / self.n for k, v in self.sums.items()} if self.n else {}
        if self.n and self.busy > 0:
            out["updates_per_s"] = self.n / self.busy
        self.sums, self.n, self.busy = {}, 0, 0.0
        return out


class OnlinePolicy:
    """The actor's policy: an :class:`~hakisa.act.loop.AgentPolicy` that loads the learner's newest weights
    (between two actions, on the acting thread) whenever there are new ones."""

    def __init__(self, inner, learner: Learner):
        self.inner, self.learner = inner, learner
        self._loaded = None

    def reset(self) -> None:
        self.inner.reset()

    def warm(self) -> None:
        self.inner.warm()

    def act(self, frame):
        w = self.learner.published
        if w is not None and w is not self._loaded:
            self.inner.agent.model.load_state_dict(w)
            self._loaded = w
        return self.inner.act(frame)


def _segment_datasets(wd: Path, log) -> list[Path]:
    """The run's finished datasets, and what interrupted segments flushed (readable ones only)."""
    from hakisa.data.dataset import DatasetReader
    from hakisa.errors import DatasetError

    out = []
    for p in sorted(wd.glob("seg-*.h5")):
        try:
            with DatasetReader(p) as r:
                bad = [n for n in r.episode_names() if r.info(n).problems]
        except (DatasetError, OSError) as exc:
            log(f"train: leaving out {p.name}, which cannot be read ({exc})")
            continue
        if bad:
            log(f"train: leaving out {p.name}: episode {bad[0]} is damaged (see `hakisa inspect {p}`)")
            continue
        out.append(p)
    return out


def _hours_in(paths) -> float:
    """Hours of steps in the datasets ``paths``, each at its own tick rate (the unreadable ones count nothing; the
    run says why when it leaves them out)."""
    from hakisa.data.dataset import DatasetReader

    hours = 0.0
    for p in paths:
        try:
            with DatasetReader(p) as r:
                hours += sum(r.info(n).n_steps for n in r.episode_names()) / r.tick_hz / 3600
        except (HakisaError, OSError):
            continue
    return hours


def _steps_in(paths: list[Path]) -> int:
    from hakisa.data.dataset import DatasetReader

    n = 0
    for p in paths:
        with DatasetReader(p) as r:
            n += sum(r.info(e).n_steps for e in r.episode_names())
    return n


def train_online(profile: Profile, demos: list[str], start: str, workdir: str | Path, cfg: OnlineConfig,
                 progress: bool = True, log=print) -> dict:
    """Run (or resume) an online run; returns its record (also in ``workdir/online.json``)."""
    import torch

    from hakisa.act.agent import Agent
    from hakisa.act.loop import AgentPolicy, Schedule
    from hakisa.act.session import SessionSpec, episode_line, run_agent
    from hakisa.data.dataset import keep_crashed_part
    from hakisa.data.transitions import check_same_profile
    from hakisa.learn.checkpoint import CheckpointError, load_checkpoint
    from hakisa.learn.train import write_json, open_run
    from hakisa.learn.training import dataset_lineage
    from hakisa.limits import CONSOLIDATE, ONLINE, check_config

    check_config(cfg, ONLINE)
    check_config(cfg.consolidate, CONSOLIDATE)
    wd = Path(workdir)
    start_blob = load_checkpoint(start, profile)
    check_same_profile([str(d) for d in demos], profile)
    if cfg.headless is None:  # on the window: refused before a run folder is written
        from hakisa.live import require_display

        require_display("train")
    if wd.exists() and not wd.is_dir():
        raise HakisaError(f"--workdir {wd} is a file; give a folder for the run.")
    hz = profile.capture.tick_hz
    log(f"train: from {_hours_in(demos):.2f} h of data ({len(demos)} file(s)); {cfg.steps} actor steps "
        f"({cfg.steps / hz / 3600:.2f} h of play at {hz:g} Hz), about {int(cfg.replay_ratio * cfg.steps)} learner "
        "updates")
    wd.mkdir(parents=True, exist_ok=True)
    record_path, ckpt = wd / "online.json", wd / "online.pt"
    record, _ = open_run(record_path, profile, start, demos, {"mode": "online", "segments": []})
    for part in wd.glob("seg-*.h5.part"):  # an interrupted segment: keep what it flushed, under a new name
        kept = keep_crashed_part(part)
        log(f"train: an earlier run stopped during {part.name[:-5]}; what it wrote is kept as {kept.name}")
    segs = _segment_datasets(wd, log)
    # actor steps so far: each finished segment's (its last action's outcome is never seen, so its dataset holds
    # one step fewer), and the steps an interrupted one flushed
    finished = {Path(s["data"]).name for s in record["segments"]}
    steps_before = sum(s["steps"] for s in record["segments"]) + _steps_in([p for p in segs if p.name not in finished])
    if steps_before >= cfg.steps and ckpt.exists():
        log(f"train: {wd} has played its {cfg.steps} steps already")
        if cfg.pick > 0 and "pick" not in record:
            pick_best(profile, record, wd, start, start_blob, cfg, log)
        return record
    data = [str(d) for d in demos] + [str(p) for p in segs]
    resume_blob = None
    if ckpt.exists():
        try:
            resume_blob = load_checkpoint(ckpt, profile)
        except CheckpointError as exc:
            log(f"train: {ckpt} cannot be read ({exc}); starting the learner again from {start}")
    c = Consolidator(profile, data, cfg.consolidate, parent=str(ckpt) if resume_blob else str(start), log=log,
                     spare_steps=max(0, cfg.steps - steps_before) + cfg.segment_steps, anchor=str(start))
    if resume_blob is not None:
        c.restore(resume_blob, ckpt)
        c.lineage = {**resume_blob["state"].get("lineage", c.lineage), "datasets": dataset_lineage(data)}
        log(f"train: resuming at {steps_before} actor steps, {c.step} updates")
    # the checkpoints play at the start's temperature (the way `hakisa trial` chose); --temperature is how the actor
    # explores. The start's action offsets were fitted to it: most often they take back how study's imitation
    # weights raised the rare actions' odds (study --prior). A learner that imitates every human step alike
    # pulls those odds back down itself, so its checkpoints play without the offsets, and with them they pressed
    # a runner's jump key too seldom (README, "The online learner on runner: the start's offsets hid what it learned").
    # An anchor holds the start's odds, so with one they stay. The actor explores with the start's offsets
    # throughout, as it was measured.
    start_state = start_blob["state"]
    keep = {k: start_state[k] for k in ("action_bias", "play_temperature") if k in start_state}
    explore_bias = None
    if start_state.get("action_bias"):
        from hakisa.learn.losses import ActionBias

        explore_bias = ActionBias.from_dict(start_state["action_bias"], c.codec.n_command, c.codec.n_action_1)
        c.act_bias = explore_bias.to(c.dev)
        if cfg.consolidate.imitation_weights != "study" and cfg.consolidate.anchor == 0:
            keep["action_bias"] = None
            log("train: the start plays with action offsets fitted to its study; this learner imitates every human "
                "step alike, so its checkpoints play without them (--imitation-weights study or --anchor keeps them)")
    learner = Learner(c, cfg, steps_before)

    def state_extra() -> dict:
        steps = learner.total_steps()
        return {**keep, "online": {"actor_steps": steps, "hours_play": steps / hz / 3600, "start": str(start),
                                   "workdir": str(wd)}}

    def save(final: bool) -> None:
        c.save(ckpt, final=final, last=c.history[-1] if c.history else {}, extra_state=state_extra())

    learner.save = save
    blob = resume_blob or start_blob
    agent = Agent.from_checkpoint(blob)
    agent.bias = explore_bias  # a resumed run explores as it began
    learner.publish()
    threads = cfg.consolidate.threads
    k = len(record["segments"]) + 1
    while learner.total_steps() < cfg.steps:
        n = min(cfg.segment_steps, cfg.steps - learner.total_steps())
        out = wd / f"seg-{k:03d}.h5"
        if out.exists():
            k += 1
            continue
        done_f = learner.total_steps() / cfg.steps
        eps0 = cfg.epsilon + (cfg.epsilon_end - cfg.epsilon) * done_f
        eps1 = cfg.epsilon + (cfg.epsilon_end - cfg.epsilon) * min(1.0, (learner.total_steps() + n) / cfg.steps)
        spec = SessionSpec("explore", Schedule(eps0, eps1, n, temperature=cfg.temperature), out=str(out),
                           headless=cfg.headless, size=cfg.size, seed=cfg.seed + 1000 * k, focus=cfg.focus, wait=cfg.wait, max_steps=n,
                           checkpoint_name=str(ckpt), takeover=cfg.takeover, chat=cfg.chat, dashboard=cfg.dashboard,
                           watch_horizon=cfg.watch_horizon)
        learner.actions = 0
        first = [True]

        def on_tick(st) -> None:
            learner.actions = st.actions
            if cfg.headless:
                if first[0]:
                    torch.set_num_threads(threads)  # the learner's updates run here, between ticks
                    first[0] = False
                learner.catch_up()
            elif learner.error is not None:
                raise learner.error

        episodes: list = []

        def on_episode(r) -> None:
            episodes.append(r)
            if progress:
                log("  " + episode_line(r) + f"  updates {c.step}")

        log(f"train: segment {k}: {n} actor steps from step {learner.total_steps()} (epsilon {eps0:.3f} -> "
            f"{eps1:.3f}, demonstrations {100 * learner.human_ratio():.0f}% of each batch), {c.step} updates so far")
        stop = threading.Event()
        th = None
        if not cfg.headless:
            th = threading.Thread(target=learner.run_thread, args=(stop,), name="hakisa-learn", daemon=True)
        policy = OnlinePolicy(AgentPolicy(agent, spec.schedule, seed=spec.seed), learner)
        t0 = time.monotonic()
        try:
            if th is not None:
                th.start()
            stats = run_agent(profile, blob, spec, on_episode=on_episode, agent=agent, on_tick=on_tick,
                              tap=learner.tap, policy=policy)
        finally:
            stop.set()
            if th is not None:
                th.join(timeout=60)
            learner.drain()
            save(final=False)
        if learner.error is not None:
            raise learner.error
        if not stats.stop_reason.startswith(("kill switch", "SIGINT", "SIGTERM")) and stats.error is None:
            learner.actions = stats.actions
            while c.step < learner.due():  # what a learner thread had not caught up with when the segment ended
                learner.update()
        if learner.error is not None:
            raise learner.error
        wall = time.monotonic() - t0
        ev = c.evaluate()
        health = c.health()
        metrics = {"step": c.step, **learner.take_metrics(), **ev, **health.metrics()}
        c.history.append({kk: v for kk, v in metrics.items() if kk != "histogram"})
        save(final=False)
        import shutil

        snap = wd / f"seg-{k:03d}.pt"
        shutil.copyfile(ckpt, snap)
        scores = np.array([e.score for e in episodes], float)
        entry = {"segment": k, "data": str(out), "checkpoint": str(snap), "steps": stats.actions,
                 "actor_steps": learner.total_steps(), "hours_play": learner.total_steps() / hz / 3600,
                 "updates": c.step, "episodes": len(episodes),
                 "score_mean": float(np.nanmean(scores)) if np.isfinite(scores).any() else math.nan,
                 "reward_mean": float(np.mean([e.reward for e in episodes])) if episodes else math.nan,
                 "ticks_per_s": stats.actions / wall if wall > 0 else math.nan, "missed_ticks": stats.missed,
                 "latency_p50_ms": stats.latency()[0], "latency_p99_ms": stats.latency()[1],
                 "takeovers": stats.takeovers, "person_steps": stats.person_ticks,
                 "wall_s": wall, "stop_reason": stats.stop_reason,
                 **{kk: metrics[kk] for kk in ("td_error", "mean_q", "agree_human", "moved", "kl_start", "updates_per_s")
                    if kk in metrics}}
        record["segments"].append(entry)
        record.pop("pick", None)  # an earlier pick (before --steps was raised) did not see this segment
        write_json(record_path, record)
        if cfg.dashboard is not None:
            cfg.dashboard.learning({kk: entry.get(kk) for kk in ("segment", "hours_play", "updates", "score_mean",
                                                                  "reward_mean", "td_error", "mean_q")})
        if stats.stop_reason.startswith(("kill switch", "SIGINT", "SIGTERM")) or stats.error is not None:
            raise HakisaError(f"training stopped ({stats.stop_reason}) after {learner.total_steps()} actor steps and "
                              f"{c.step} updates; run the same command again to go on.")
        learner.steps_before += stats.actions
        learner.actions = 0
        k += 1
    save(final=True)
    plot_online(record, wd / "online.png", profile.name)
    if cfg.pick > 0:
        pick_best(profile, record, wd, start, start_blob, cfg, log)
    return record


PICK_SEED = 2_000_000  # headless: the pick's games are seeds PICK_SEED + seed, ... (the benchmarks score from 1,000,000)


def pick_best(profile: Profile, record: dict, wd: Path, start, start_blob: dict, cfg: OnlineConfig, log) -> dict:
    """Play the checkpoint the run started from and each segment's checkpoint ``cfg.pick`` episodes each (on the
    window, or the headless game on the same seeds for all), each the way it plays, and copy the best to
    ``wd/best.pt``. The start comes first, so where none scores more it is kept: on a profile that reads lives and no
    score every finished game sums to the same reward, and the start wins the tie. Recorded as ``record["pick"]``."""
    import shutil

    from hakisa.act.loop import Schedule
    from hakisa.act.session import SessionSpec, episode_line
    from hakisa.act.trial import choose, pick_record, run_pick, table
    from hakisa.learn.checkpoint import load_checkpoint
    from hakisa.learn.train import write_json

    candidates = [(str(start), start_blob)] + [(s["checkpoint"], load_checkpoint(s["checkpoint"], profile))
                                               for s in record["segments"]]
    where = f"the headless {cfg.headless}" if cfg.headless else "the game window"
    log(f"train: picking the best of {len(candidates)} checkpoints (the start and each segment's): {cfg.pick} "
        f"episodes each on {where}, at most {cfg.pick_seconds:g} s each")
    spec = SessionSpec("play", Schedule(temperature=None), headless=cfg.headless, size=cfg.size,
                       seed=PICK_SEED + cfg.seed, focus=cfg.focus, wait=cfg.wait, max_seconds=cfg.pick_seconds,
                       checkpoint_name="pick")
    results, measure = run_pick(profile, candidates, spec, cfg.pick, announce=log,
                                on_episode=lambda r: log("  " + episode_line(r)))
    chosen = choose(results)
    log(table(results, chosen, measure, what="checkpoint"))
    best = wd / "best.pt"
    tmp = best.with_name(best.name + ".tmp")
    shutil.copyfile(chosen.name, tmp)
    tmp.replace(best)
    record["pick"] = {**pick_record(results, chosen, measure, cfg.pick), "best": str(best)}
    write_json(wd / "online.json", record)
    log(f"train: {best} is {chosen.name}")
    return record["pick"]


def plot_online(record: dict, path: Path, name: str) -> None:
    """Exploration score per segment against hours of play, and the learner's TD error, Q, agreement with the human
    and share of greedy choices moved from the start's."""
    segs = record.get("segments", [])
    if not segs:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h = [s["hours_play"] for s in segs]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    a.plot(h, [s.get("score_mean", math.nan) for s in segs], marker="o", label="score (while learning)")
    a.set_xlabel("hours of play")
    a.set_title("the actor's episodes")
    a.legend()
    for key in ("td_error", "mean_q", "agree_human", "moved"):
        b.plot(h, [s.get(key, math.nan) for s in segs], marker="o", label=key)
    b.set_xlabel("hours of play")
    b.set_title("the learner")
    b.legend()
    fig.suptitle(f"hakisa train (online): {name}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
