"""The agent loop of `hakisa play` and `hakisa explore`: grab -> preprocess -> Q-network -> decode -> inject.

One thread acts, at the profile's tick rate (or as fast as it can with ``tick_hz=None``); a second
thread writes the dataset, so HDF5 never delays an action.  Written against small interfaces so the
same loop drives a real window (``hakisa.live``) and a headless game (tests, benchmarks):

* a FrameSource (see :mod:`hakisa.record.recorder`) gives the captured area, focus, and frames;
* an :class:`Actuator` holds keys, moves and clicks inside the captured area, and releases everything.

Safety: input is sent only while the game window has focus (checked every tick, just before
injecting); losing focus releases everything and pauses.  On a real window
:class:`hakisa.live.guard.InputGuard` acts first: it releases and blocks the injector at the focus
event itself, and keeps X autorepeat off for the agent's keys.  ``stop()`` (the kill switch, a signal)
wakes the loop at once; every exit path releases every held key and button.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from hakisa.codec import Action, ActionCodec, Command
from hakisa.data.dataset import ACTORS, DatasetWriter, Observation, held_mask
from hakisa.preprocess import observation
from hakisa.profile import Profile
from hakisa.record.recorder import Clock, FrameSource, RealClock
from hakisa.act.reset import ResetRunner, Unpauser
from hakisa.act.takeover import PERSON
from hakisa.screen.rules import RuleEngine

WARM_AHEAD_S = 0.006  # warm-up pass of the network this long before a tick
SPIN_S = 0.003  # busy-wait the last part of the wait for a tick
GREEDY, RANDOM, HUMAN = ACTORS.index("agent_greedy"), ACTORS.index("agent_random"), ACTORS.index("human")


class Actuator(Protocol):
    def apply(self, cmd: Command, area: tuple[int, int, int, int]) -> None: ...  # hold / point / click
    def tap(self, key: str) -> None: ...
    def click_at(self, x: int, y: int, area: tuple[int, int, int, int]) -> None: ...  # area pixels
    def release_all(self) -> None: ...


class Policy(Protocol):
    def reset(self) -> None: ...
    def act(self, frame: np.ndarray) -> tuple[Action, float, bool]: ...  # action, Q, greedy?


@dataclass
class Schedule:
    """Exploration: epsilon decays linearly from ``start`` to ``end`` over ``steps`` actions, or
    Boltzmann sampling at ``temperature`` (> 0 replaces epsilon; None: the checkpoint's play temperature)."""

    start: float = 0.0
    end: float = 0.0
    steps: int = 1
    temperature: float | None = 0.0

    def epsilon(self, step: int) -> float:
        f = min(1.0, step / max(1, self.steps))
        return self.start + (self.end - self.start) * f


class ApmCap:
    """Actions-per-minute cap (``[safety] max_apm``; 0 = none): may the agent change its input now?"""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self.times: collections.deque = collections.deque()

    def allow(self, now: float) -> bool:
        if not self.per_minute:
            return True
        while self.times and now - self.times[0] > 60:
            self.times.popleft()
        if len(self.times) >= self.per_minute:
            return False
        self.times.append(now)
        return True


class AgentPolicy:
    """An :class:`~hakisa.act.agent.Agent` with an exploration schedule."""

    def __init__(self, agent, schedule: Schedule | None = None, seed: int = 0):
        self.agent, self.schedule = agent, schedule or Schedule()
        if self.schedule.temperature is None:
            self.schedule = dataclasses.replace(self.schedule, temperature=agent.play_temperature)
        self.rng = np.random.default_rng(seed)
        self.steps = 0

    def reset(self) -> None:
        self.agent.reset()

    def warm(self) -> None:
        self.agent.warm()

    def act(self, frame: np.ndarray) -> tuple[Action, float, bool]:
        s = self.schedule
        out = self.agent.act(frame, epsilon=s.epsilon(self.steps), temperature=s.temperature, rng=self.rng)
        self.steps += 1
        return out


@dataclass
class EpisodeResult:
    number: int
    steps: int
    seconds: float
    reward: float  # sum of the screen's rewards
    feedback: int  # "good" / "bad" presses by watchers during the episode
    score: float  # the profile's score extractor at the end (NaN if it has none / unreadable)
    status: str  # terminated / truncated
    random_share: float  # share of actions chosen at random (explore)


@dataclass
class LoopStats:
    started: float = field(default_factory=time.monotonic)
    ticks: int = 0
    actions: int = 0
    missed: int = 0
    paused_ticks: int = 0  # ticks without focus: nothing sent
    game_paused_ticks: int = 0  # ticks the game showed its pause rule ([rules.pause]): nothing sent, nothing recorded
    pauses: int = 0  # times the game paused
    capped: int = 0  # action changes held back by the actions-per-minute cap
    changes: int = 0  # actions that differed from the one before (what the cap counts)
    latency_ms: collections.deque = field(default_factory=lambda: collections.deque(maxlen=100_000))
    stage_ms: dict = field(default_factory=lambda: {k: collections.deque(maxlen=100_000)
                                                    for k in ("grab", "rules", "preprocess", "network", "inject")})
    episodes: list[EpisodeResult] = field(default_factory=list)
    stop_reason: str = ""
    error: BaseException | None = None
    feedback: int = 0
    votes: int = 0  # votes from the crowd in chat
    vote_sum: float = 0.0  # the reward they gave
    votes_no_step: int = 0  # votes (chat or hotkeys) about a moment with no step on record (a reset, a pause)
    chat_counts: dict = field(default_factory=dict)  # what the chat reader and the crowd saw and dropped
    takeovers: int = 0  # times the person watching took control
    person_ticks: int = 0  # ticks they had it

    def latency(self) -> tuple[float, float]:
        """(p50, p99) of grab -> inject in ms."""
        if not self.latency_ms:
            return (math.nan, math.nan)
        a = np.asarray(self.latency_ms)
        return float(np.median(a)), float(np.percentile(a, 99))

    def rate(self) -> float:
        dt = time.monotonic() - self.started
        return self.ticks / dt if dt > 0 else 0.0


class _Writer:
    """Dataset writing off the acting thread. Rows wait until every vote for them can have come (the hotkeys'
    reaction delay and window, a stream's longer delay: ``FeedbackSpec.hold``), then are written in order, so
    a vote is credited to the steps that were on screen when the voter saw them, the end of an episode too."""

    def __init__(self, writer: DatasetWriter, profile: Profile, chat: bool = False, real_time: bool = True):
        self.w = writer
        self.real_time = real_time  # on a virtual clock (a game in memory) nothing is written by the wall clock
        self.fb = profile.feedback
        # and, in real time, half a second more: a vote can reach this thread a little after steps taken since it
        # was cast (on a game's own clock votes come in order with the steps)
        self.hold = (self.fb.hold if chat else self.fb.window + self.fb.delay) + (0.5 if real_time else 0.0)
        self.q: queue.SimpleQueue = queue.SimpleQueue()
        self.pending: collections.deque = collections.deque()  # items not yet written, oldest first
        self.counts: collections.Counter = collections.Counter()  # votes credited / credited to no step
        self.error: BaseException | None = None
        self._ep = -1  # serial of the episode the next step belongs to
        self._index = 0  # its next step's index in that episode
        self._last_t = -math.inf
        self.thread = threading.Thread(target=self._run, name="hakisa-write", daemon=True)
        self.thread.start()

    def put(self, *item) -> None:
        self.q.put(item)

    def close(self) -> None:
        self.q.put(None)
        self.thread.join(timeout=30)

    def _flush_pending(self, upto: float) -> None:
        while self.pending and self.pending[0]["t"] < upto:
            it = self.pending.popleft()
            if it["kind"] == "start":
                self.w.start_episode(it["obs"])
            elif it["kind"] == "end":
                self.w.end_episode(it["status"], it["stats"])
            else:
                self.w.add_step(it["action"], it["actor"], it["reward"] + it["human"] + it["crowd"], it["terminated"],
                                False, it["obs"], q_value=it["q"], reward_human=it["human"] + it["crowd"])
                for v in it.get("votes", ()):
                    self.w.add_vote(*v)

    def _add(self, item: dict) -> None:
        self._last_t = item["t"] = max(item["t"], self._last_t)  # written in arrival order, times never go back
        self.pending.append(item)

    def _credit(self, t: float, source: str, who: str, value: float, delay: float, window: float,
                cap: float) -> None:
        """Spread ``value`` over the waiting steps whose state was on screen from ``t - delay - window`` to
        ``t - delay``; each step's crowd reward stays within +-``cap``. The vote is kept with the first step it
        was credited to in each episode."""
        lo, hi = t - delay - window, t - delay
        hits = [it for it in self.pending if it["kind"] == "step" and lo <= it["t_state"] <= hi]
        if not hits:
            self.counts["votes for no step"] += 1
            return
        self.counts["votes"] += 1
        share = value / len(hits)
        given: dict[int, list] = {}
        for it in hits:
            if source == "chat":
                old = it["crowd"]
                it["crowd"] = min(cap, max(-cap, old + share))
                got = it["crowd"] - old
            else:
                it["human"] += share
                got = share
            row = given.setdefault(it["ep"], [it, 0.0, 0])
            row[1] += got
            row[2] += 1
        for first, total, n in given.values():
            first.setdefault("votes", []).append((t, source, who, total, first["index"], n))

    def _run(self) -> None:
        try:
            while True:
                try:
                    item = self.q.get(timeout=0.2)
                except queue.Empty:
                    if self.real_time:
                        self._flush_pending(time.monotonic() - self.hold)
                    self.w.maybe_flush()
                    continue
                if item is None:
                    break
                kind = item[0]
                if kind == "start":
                    self._ep, self._index = self._ep + 1, 0
                    self._add({"kind": "start", "t": item[1].time, "obs": item[1]})
                elif kind == "step":
                    st = item[1]
                    self._add({**st, "kind": "step", "t": st["t_state"], "crowd": 0.0, "ep": self._ep,
                               "index": self._index})
                    self._index += 1
                    self._flush_pending(st["t_obs"] - self.hold)
                elif kind == "feedback":  # a watcher's hotkey
                    t, sign = item[1], item[2]
                    self._credit(t, "hotkey", "hotkeys", sign * self.fb.value, self.fb.delay, self.fb.window,
                                 math.inf)
                elif kind == "vote":  # the crowd in chat (hakisa.crowd)
                    vote = item[1]
                    ch = self.fb.chat
                    self._credit(vote.t, "chat", vote.who, vote.value, ch.delay, ch.window, ch.cap)
                elif kind == "end":
                    self._add({"kind": "end", "t": self._last_t, "status": item[1], "stats": item[2]})
        except BaseException as exc:  # noqa: BLE001 - reported by the loop
            self.error = exc
        finally:
            if self.error is None:
                self._flush_pending(math.inf)


class AgentLoop:
    """Plays until stopped, a step/episode/time limit, or the window closes."""

    def __init__(self, profile: Profile, source: FrameSource, actuator: Actuator, policy: Policy,
                 codec: ActionCodec, *, writer: DatasetWriter | None = None, clock: Clock | None = None,
                 tick_hz: float | None = -1, max_steps: int | None = None, max_episodes: int | None = None,
                 max_seconds: float | None = None, area_interval: float = 0.1,
                 on_episode: Callable[[EpisodeResult], None] | None = None,
                 on_tick: Callable[[LoopStats], None] | None = None, warm: bool = True, takeover=None,
                 on_control: Callable[[str], None] | None = None, chat: bool = False, dashboard=None):
        self.profile, self.source, self.act, self.policy, self.codec = profile, source, actuator, policy, codec
        self.rules = RuleEngine(profile, source.channel_order)
        self.clock = clock or RealClock()
        hz = profile.capture.tick_hz if tick_hz == -1 else tick_hz
        self.period = 1.0 / hz if hz else 0.0
        self.max_steps, self.max_episodes, self.max_seconds = max_steps, max_episodes, max_seconds
        self.area_interval = area_interval
        self.on_episode, self.on_tick = on_episode, on_tick
        self.warm = warm  # a warm-up pass of the policy before each tick (see _sleep)
        self.takeover = takeover  # hakisa.act.takeover.Takeover: the person watching may take control
        self.on_control = on_control  # called with "agent" / "person" when control changes hands
        self.stats = LoopStats()
        self.chat = None  # hakisa.crowd.irc.ChatReader when a stream's chat votes (set by the session)
        self.dashboard = dashboard  # hakisa.web.dashboard.Dashboard: what people watching see
        self._stop = threading.Event()
        self._writer = (_Writer(writer, profile, chat, isinstance(self.clock, RealClock))  # chat: rows wait for its delay
                        if writer is not None else None)
        self._apm = ApmCap(profile.safety.max_apm)

    # ----- control --------------------------------------------------------------------------
    def stop(self, reason: str) -> None:
        """Stop within one tick (safe from any thread, e.g. the kill-switch listener)."""
        if not self._stop.is_set():
            self.stats.stop_reason = reason
            self._stop.set()

    def feedback(self, sign: int, t: float | None = None) -> None:
        """A watcher pressed "good" (+1) or "bad" (-1) at monotonic time ``t``."""
        self.stats.feedback += 1
        t = self.clock.now() if t is None else t
        if self._writer is not None:
            self._writer.put("feedback", t, int(sign))
        if self.dashboard is not None:
            self.dashboard.vote(t, "hotkey", "hotkeys", int(sign) * self.profile.feedback.value)

    def vote(self, vote) -> None:
        """A vote from the crowd in chat (:class:`hakisa.crowd.votes.Vote`, from any thread): credited to the
        steps on screen the stream's delay before it."""
        self.stats.votes += 1
        self.stats.vote_sum += vote.value
        if self._writer is not None:
            self._writer.put("vote", vote)
        if self.dashboard is not None:
            self.dashboard.vote(vote.t, "chat", vote.who, vote.value)

    def _sleep(self, seconds: float) -> bool:
        """Sleep (waking at once on stop); False if stopped."""
        if seconds > 0:
            if isinstance(self.clock, RealClock):
                # Between ticks the game evicts the network from the caches and an idle core is slow to wake:
                # a warm-up pass a few ms before the tick and a short spin at the end cut the latency (tools/bench_agent.py).
                end = time.perf_counter() + seconds
                warm = getattr(self.policy, "warm", None) if self.warm else None
                if warm is not None and seconds > WARM_AHEAD_S:
                    if self._stop.wait(seconds - WARM_AHEAD_S):
                        return False
                    warm()
                    seconds = end - time.perf_counter()
                if seconds > SPIN_S and self._stop.wait(seconds - SPIN_S):
                    return False
                while time.perf_counter() < end and not self._stop.is_set():
                    pass
                return not self._stop.is_set()
            self.clock.sleep(seconds)
        return not self._stop.is_set()

    # ----- the loop -------------------------------------------------------------------------
    def run(self) -> LoopStats:
        try:
            self.source.open()
            self._run()
        except BaseException as exc:
            self.stats.error = exc
            self.stats.stop_reason = self.stats.stop_reason or f"error: {exc}"
            raise
        finally:
            try:
                self.act.release_all()
            finally:
                self.source.close()
                if self._writer is not None:
                    self._writer.close()
                    self.stats.votes_no_step = self._writer.counts["votes for no step"]
                    if self._writer.error is not None and self.stats.error is None:
                        raise self._writer.error
        return self.stats

    def _run(self) -> None:
        cap, st, clock, src = self.profile.capture, self.stats, self.clock, self.source
        score_name = self.profile.rules.score
        t0 = clock.now()
        k = 0
        next_area = t0
        rect = None
        focused_before = True
        ep: dict | None = None  # the open episode
        resetter = ResetRunner(self.profile, self.act, self.rules)
        unpauser = Unpauser(self.profile, self.act)
        prev: dict | None = None  # the previous tick's action, to be written with this tick's frame
        current = Action(0, 0, 0)
        while not self._stop.is_set():
            now = clock.now()
            if self.period:
                due = t0 + k * self.period
                if now < due:
                    if not self._sleep(due - now):
                        break
                    now = clock.now()
                behind = int((now - due) / self.period)
                if behind >= 1:
                    st.missed += behind
                    k += behind
                k += 1
            if self.max_seconds is not None and now - t0 >= self.max_seconds:
                self.stop("time limit reached")
                break
            if now >= next_area or rect is None:
                rect = src.area()
                if rect is None:
                    self.stop("the game window closed")
                    break
                if self.takeover is not None:
                    self.takeover.set_area(rect)
                next_area = now + self.area_interval
            g0 = time.perf_counter()
            if not src.focused():  # another window has the keyboard: send nothing, cut the episode
                if focused_before:
                    self.act.release_all()
                    current = Action(0, 0, 0)
                    focused_before = False
                    if ep is not None and self.profile.pause.on_focus_loss == "end":
                        self._end_episode(ep, "truncated", prev)
                        ep, prev = None, None
                st.paused_ticks += 1
                continue
            focused_before = True
            raw = src.grab(rect)
            t_obs = clock.now()
            g1 = time.perf_counter()
            values = self.rules.extract(raw, t_obs) if self.rules.active else {}
            g2 = time.perf_counter()
            frame = observation(raw, cap, src.channel_order)
            g3 = time.perf_counter()
            st.ticks += 1
            if self.profile.rules.has_pause and self.rules.paused(values):  # before done: a pause is not game over
                if unpauser.tick(t_obs, rect):  # a new pause: nothing of the agent's stays held
                    st.pauses += 1
                    self.act.release_all()
                    current = Action(0, 0, 0)
                st.game_paused_ticks += 1
                continue
            unpauser.clear()
            done = self.rules.done(values) if self.profile.rules.has_done else False
            control = self.takeover.tick(t_obs) if self.takeover is not None else None
            person = control is not None and control.who == PERSON
            took_over = person and control.changed
            if control is not None and control.changed:
                if took_over:
                    self.act.release_all()  # nothing of the agent's stays held under the person's hands
                    current = Action(0, 0, 0)
                    st.takeovers += 1
                if self.on_control is not None:
                    self.on_control(control.who)
                if self.dashboard is not None:
                    self.dashboard.set_control(control.who)
            obs = Observation(frame, t_obs, k, held_mask(()), (-1, -1), 0, [], values)
            if ep is None:
                pressed = resetter.tick(t_obs, values, done, rect)  # game over, menus, dialogs: the reset sequence
                if done or resetter.busy or pressed:
                    continue
                ep = {"number": len(st.episodes), "t0": t_obs, "steps": 0, "reward": 0.0, "random": 0,
                      "score": math.nan, "fb0": st.feedback, "acts": 0}
                self.policy.reset()
                self.rules.reset()
                prev_values = values
                if self._writer is not None:
                    self._writer.put("start", obs)
                reward = 0.0
            else:
                reward = self.rules.reward(prev_values, values) if self.rules.active else 0.0
                prev_values = values
                ep["steps"] += 1
                ep["reward"] += reward
                if self._writer is not None:
                    row = {**prev, "reward": reward, "terminated": done, "obs": obs, "t_obs": t_obs,
                           "human": -self.takeover.spec.penalty if took_over else 0.0}
                    if prev["actor"] == HUMAN:  # what the person did between the two frames, read as record does
                        row["action"] = self.codec.encode(control.snapshot.tick_input).as_tuple()
                    self._writer.put("step", row)
                if done:
                    self.act.release_all()
                    self._end_episode(ep, "terminated", None)
                    ep, prev, current = None, None, Action(0, 0, 0)
                    resetter.game_over(t_obs)
                    if self.max_episodes is not None and len(st.episodes) >= self.max_episodes:
                        self.stop(f"{self.max_episodes} episodes played")
                    continue
            if score_name is not None and math.isfinite(values.get(score_name, math.nan)):
                ep["score"] = values[score_name]
            g4 = time.perf_counter()
            action, q, greedy = self.policy.act(frame)  # also while the person plays: keeps its frame stack going
            g5 = time.perf_counter()
            if person:  # the agent sends nothing; the step is the person's (its action read at the next tick)
                st.person_ticks += 1
                ep["acts"] += 1
                st.actions += 1
                prev = {"action": (0, 0, 0), "actor": HUMAN, "q": q, "t_state": t_obs}
                if self.on_tick is not None:
                    self.on_tick(st)
                if self.max_steps is not None and st.actions >= self.max_steps:
                    self.stop(f"{self.max_steps} steps taken")
                continue
            if action != current:
                if self._apm.allow(t_obs):
                    st.changes += 1
                else:
                    action, st.capped = current, st.capped + 1
            ep["random"] += not greedy
            ep["acts"] += 1
            if self._stop.is_set():
                break
            if not src.focused():  # focus went elsewhere while the network was thinking
                continue
            self.act.apply(self.codec.decode(action), rect)
            g6 = time.perf_counter()
            st.latency_ms.append((g6 - g0) * 1e3)
            for name, a, b in (("grab", g0, g1), ("rules", g1, g2), ("preprocess", g2, g3), ("network", g4, g5),
                               ("inject", g5, g6)):
                st.stage_ms[name].append((b - a) * 1e3)
            st.actions += 1
            current = action
            prev = {"action": action.as_tuple(), "actor": GREEDY if greedy else RANDOM, "q": q, "t_state": t_obs}
            if self.dashboard is not None:  # references only: the page's requests do the work
                self.dashboard.tick(t_obs, k, ep["number"], ep["steps"], frame, action, q,
                                    getattr(getattr(self.policy, "agent", None), "last_q", None), greedy, reward)
            if self.on_tick is not None:
                self.on_tick(st)
            if self.max_steps is not None and st.actions >= self.max_steps:
                self.stop(f"{self.max_steps} steps taken")
        if ep is not None:
            self._end_episode(ep, "truncated", prev)

    def _end_episode(self, ep: dict, status: str, prev: dict | None) -> None:
        st = self.stats
        dur = self.clock.now() - ep["t0"]
        res = EpisodeResult(ep["number"], ep["steps"], dur, ep["reward"], st.feedback - ep["fb0"], ep["score"], status,
                            ep["random"] / max(1, ep["acts"]))
        st.episodes.append(res)
        if self.dashboard is not None:
            self.dashboard.episode(res.number, res.score, res.reward, res.steps, status)
        if self._writer is not None:
            self._writer.put("end", status, {"duration_s": dur, "reward": ep["reward"],
                                             "score": ep["score"], "random_share": res.random_share})
        if self.on_episode is not None:
            self.on_episode(res)
