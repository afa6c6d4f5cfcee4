"""The fixed-rate recording loop: grab thread -> queue -> writer thread.

Written against two small interfaces so it runs on a real window (``hakisa
record``) and on a headless game in tests:

* a :class:`FrameSource` gives the captured area's screen rectangle, whether the
  game still lives and has focus, and grabs frames;
* an :class:`~hakisa.record.inputlog.InputTracker` is fed by listeners and snapshotted
  once per tick.

The grab thread keeps a monotonic tick schedule (tick k is due at t0 + k/rate);
when it falls more than one period behind it skips to the current tick and
counts the skipped ones as missed.  It preprocesses the frame and reads the
profile's rules, then hands a small record to the writer thread, which labels the
action, splits episodes and writes HDF5.  Neither waits for the other.
"""

from __future__ import annotations

import collections
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from hakisa.codec import ActionCodec
from hakisa.data.dataset import ACTORS, DatasetWriter, Observation
from hakisa.record.inputlog import InputTracker, TickSnapshot
from hakisa.preprocess import observation
from hakisa.profile import Profile
from hakisa.screen.rules import RuleEngine

HUMAN = ACTORS.index("human")


class Clock(Protocol):
    def now(self) -> float: ...  # seconds, monotonic
    def sleep(self, seconds: float) -> None: ...


class RealClock:
    """The machine's monotonic clock (live recording)."""

    now = staticmethod(time.monotonic)
    sleep = staticmethod(time.sleep)


class VirtualClock:
    """Time that passes only when the loop sleeps: a headless game is recorded as fast as it runs."""

    def __init__(self, start: float = 0.0):
        self.t = start

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)


class FrameSource(Protocol):
    channel_order: str

    def open(self) -> None: ...  # called in the grab thread before the first grab
    def area(self) -> tuple[int, int, int, int] | None: ...  # captured area in screen pixels, None if gone
    def focused(self) -> bool: ...
    def grab(self, rect: tuple[int, int, int, int]) -> np.ndarray: ...
    def close(self) -> None: ...


@dataclass
class _Tick:
    tick: int
    time: float
    frame: np.ndarray | None  # None while the game does not have focus
    snap: TickSnapshot | None
    values: dict[str, float]
    focused: bool


@dataclass
class RecordStats:
    """Live and final numbers of a recording."""

    started: float = field(default_factory=time.monotonic)
    ticks: int = 0  # ticks grabbed
    missed: int = 0  # ticks skipped because the loop was late
    unfocused: int = 0  # ticks not stored because the game did not have focus
    paused: int = 0  # ticks not stored because the game showed its pause rule ([rules.pause])
    steps: int = 0  # actions written
    episodes: int = 0
    terminated: int = 0
    grab_ms: collections.deque = field(default_factory=lambda: collections.deque(maxlen=20000))
    stop_reason: str = ""
    error: BaseException | None = None

    last_tick: float = 0.0  # monotonic time of the latest grab

    def rate(self) -> float:
        """Achieved ticks per second between the first and the latest grab."""
        dt = self.last_tick - self.started
        return (self.ticks - 1) / dt if self.ticks > 1 and dt > 0 else 0.0

    def missed_pct(self) -> float:
        total = self.ticks + self.missed
        return 100.0 * self.missed / total if total else 0.0


class Recorder:
    """Records one session into ``writer`` until :meth:`stop` is called."""

    def __init__(self, profile: Profile, source: FrameSource, tracker: InputTracker, writer: DatasetWriter,
                 codec: ActionCodec, max_seconds: float | None = None, probe_interval: float = 0.1,
                 clock: Clock | None = None):
        self.profile = profile
        self.source = source
        self.tracker = tracker
        self.writer = writer
        self.codec = codec
        self.rules = RuleEngine(profile, source.channel_order)
        self.period = 1.0 / profile.capture.tick_hz
        self.max_seconds = max_seconds
        self.probe_interval = probe_interval
        self.clock = clock or RealClock()
        self.stats = RecordStats()
        self._stop = threading.Event()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._grabber = threading.Thread(target=self._guarded, args=(self._grab_loop,), name="hakisa-grab", daemon=True)
        self._writer = threading.Thread(target=self._guarded, args=(self._write_loop,), name="hakisa-write", daemon=True)
        self._ready = threading.Event()

    # ----- control ------------------------------------------------------------------------
    def start(self) -> "Recorder":
        self._grabber.start()
        self._writer.start()
        self._ready.wait(timeout=10)
        return self

    def stop(self, reason: str = "stopped") -> None:
        if not self.stats.stop_reason:
            self.stats.stop_reason = reason
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def wait(self, poll: float = 0.25, on_tick=None) -> RecordStats:
        """Block until stopped (or max_seconds), calling ``on_tick(stats)`` every ``poll`` seconds."""
        try:
            while not self._stop.wait(poll):
                if on_tick:
                    on_tick(self.stats)
        except KeyboardInterrupt:
            self.stop("Ctrl+C")
        self.join()
        return self.stats

    def join(self) -> None:
        self._grabber.join()
        self._writer.join()
        if self.stats.error is not None:
            raise self.stats.error

    def _guarded(self, fn) -> None:
        try:
            fn()
        except BaseException as exc:  # surfaced by join(); stop the other thread
            if self.stats.error is None:
                self.stats.error = exc
            self.stop(f"error: {exc}")
        finally:
            self._ready.set()  # never leave start() waiting

    # ----- grab thread --------------------------------------------------------------------
    def _grab_loop(self) -> None:
        sys.setswitchinterval(0.0005)  # let this thread take the GIL back promptly when its tick is due
        src, cap = self.source, self.profile.capture
        src.open()
        self._ready.set()
        try:
            clock = self.clock
            t0 = clock.now()
            self.stats.started = self.stats.last_tick = t0
            k = 0
            next_probe = t0
            rect, focused = None, False
            while not self._stop.is_set():
                due = t0 + k * self.period
                now = clock.now()
                if self.max_seconds is not None and now - t0 >= self.max_seconds:
                    self.stop("time limit reached")
                    break
                if now < due:
                    clock.sleep(due - now)
                    now = clock.now()
                behind = int((now - due) / self.period)
                if behind >= 1:  # more than a whole period late: skip to the current tick
                    self.stats.missed += behind
                    k += behind
                if now >= next_probe:  # where the window is and whether it has focus: a few X round trips
                    rect = src.area()
                    if rect is None:
                        self.stop("the game window closed")
                        break
                    self.tracker.set_area(rect)
                    focused = src.focused()
                    next_probe = now + self.probe_interval
                if not focused:  # nothing is stored while the player is elsewhere
                    self.tracker.snapshot()
                    self._queue.put(_Tick(k, clock.now(), None, None, {}, False))
                else:
                    g0 = time.perf_counter()
                    raw = src.grab(rect)
                    t_obs = clock.now()
                    snap = self.tracker.snapshot()
                    values = self.rules.extract(raw, t_obs) if self.rules.active else {}
                    frame = observation(raw, cap, src.channel_order)
                    self.stats.grab_ms.append((time.perf_counter() - g0) * 1e3)
                    self._queue.put(_Tick(k, t_obs, frame, snap, values, True))
                self.stats.ticks += 1
                self.stats.last_tick = t_obs
                k += 1
        finally:
            src.close()
            self._queue.put(None)

    # ----- writer thread ------------------------------------------------------------------
    def _write_loop(self) -> None:
        w, st = self.writer, self.stats
        open_ep = False
        prev_values: dict[str, float] | None = None
        ep_first_tick = ep_missed_base = 0
        ep_t0 = 0.0
        last_focus = True

        def obs_of(item: _Tick, events) -> Observation:
            s = item.snap
            return Observation(item.frame, item.time, item.tick, s.held_mask, s.mouse_xy, s.buttons, events,
                               item.values)

        def close_episode(status: str, last: _Tick | None) -> None:
            nonlocal open_ep
            dur = (last.time - ep_t0) if last else 0.0
            n_ticks = (last.tick - ep_first_tick) if last else 0
            missed = st.missed - ep_missed_base
            w.end_episode(status, {"missed_ticks": missed, "duration_s": dur,
                                            "achieved_hz": (n_ticks - missed) / dur if dur > 0 else 0.0})
            st.episodes += 1
            st.terminated += status == "terminated"
            open_ep = False

        last_item: _Tick | None = None
        while True:
            try:
                item = self._queue.get(timeout=0.2)
            except queue.Empty:
                if open_ep:
                    w.maybe_flush()
                continue
            if item is None:
                break
            if not item.focused:
                st.unfocused += 1
                if last_focus:
                    self.tracker.release_all()
                if open_ep and self.profile.pause.on_focus_loss == "end":  # the human left: the episode is cut
                    close_episode("truncated", last_item)
                last_focus = False
                continue
            last_focus = True
            if self.profile.rules.has_pause and self.rules.paused(item.values):
                st.paused += 1  # a pause screen or dialog: not play, not game over; the episode goes on after it
                continue
            done = self.rules.done(item.values) if self.profile.rules.has_done else False
            if not open_ep:
                if done:
                    continue  # still on the game-over screen: wait for the next game
                w.start_episode(obs_of(item, []), self.profile.capture.tick_hz)
                open_ep, prev_values = True, item.values
                ep_first_tick, ep_missed_base, ep_t0 = item.tick, st.missed, item.time
                last_item = item
                continue
            action = self.codec.encode(item.snap.tick_input).as_tuple()
            reward = self.rules.reward(prev_values, item.values) if self.rules.active else 0.0
            w.add_step(action, HUMAN, reward, done, False, obs_of(item, item.snap.events))
            st.steps += 1
            prev_values, last_item = item.values, item
            if done:
                close_episode("terminated", item)
        if open_ep:
            close_episode("truncated", last_item)


def summarize_grab_ms(stats: RecordStats) -> tuple[float, float]:
    """(median, 99th percentile) of per-tick grab+preprocess time in ms."""
    if not stats.grab_ms:
        return (0.0, 0.0)
    a = np.asarray(stats.grab_ms)
    return (float(np.median(a)), float(np.percentile(a, 99)))

