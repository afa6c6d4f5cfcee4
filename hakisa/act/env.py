"""A gymnasium ``Env`` over any profile's window, so other RL libraries can train on any game.

* observation: the preprocessed frame, ``Box(0, 255, (H, W, C), uint8)`` (stack frames with
  gymnasium's ``FrameStackObservation`` if the learner needs history);
* action: ``MultiDiscrete([n_command, n_action_1, n_action_2])``, the codec's three heads.  Heads
  that do not apply to the chosen command are ignored; an invalid command or index is sent as a
  no-op and flagged in ``info["invalid_action"]``.  ``info["action_mask"]`` (and ``action_masks()``
  for maskable learners) says what is valid;
* reward and ``terminated`` come from the profile's screen rules; ``truncated`` from
  ``max_episode_steps``, a lost focus or the kill switch;
* ``reset()`` releases everything and, if the game shows its game-over screen, presses the
  profile's reset sequence until a new game starts. ``reset(seed=...)`` restarts a headless game
  from that seed; a real window's game cannot be reseeded (the seed then only seeds ``np_random``).

The same safety rules as ``hakisa play``: input goes only to the focused game window, every key and
button is released on reset, truncation and close, and ``stop()`` (the kill switch) ends a step at once.

    env = gymnasium.make("hakisa/Window-v0", profile="dodge")          # a real window
    env = gymnasium.make("hakisa/Window-v0", profile="dodge", headless="dodge")  # the bundled game in memory
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any, Callable

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from hakisa.codec import Action, ActionCodec
from hakisa.errors import HakisaError
from hakisa.act.loop import ApmCap, Actuator
from hakisa.act.reset import ResetRunner, Unpauser
from hakisa.preprocess import observation
from hakisa.profile import Profile, load_profile
from hakisa.record.recorder import Clock, FrameSource, RealClock
from hakisa.screen.rules import RuleEngine


class StopRequested(HakisaError):
    """The kill switch (or ``stop()``) ended the run; every key and button has been released."""


class HakisaEnv(gym.Env):
    """One game window (or headless game) as a gymnasium environment, stepped at the profile's tick rate."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, profile: Profile, source: FrameSource, actuator: Actuator, *, clock: Clock | None = None,
                 tick_hz: float | None = -1, max_episode_steps: int | None = None, focus_wait: float = 10.0,
                 render_mode: str | None = None, on_close=None, reseed: Callable[[int], None] | None = None):
        self.profile, self.source, self.actuator = profile, source, actuator
        self.clock = clock or RealClock()
        hz = profile.capture.tick_hz if tick_hz == -1 else tick_hz
        self.period = 1.0 / hz if hz else 0.0
        self.max_episode_steps, self.focus_wait = max_episode_steps, focus_wait
        self.render_mode = render_mode
        self._on_close = on_close
        self._reseed = reseed  # restarts the game from a seed (headless games); a real window cannot be reseeded
        self.metadata = {**self.metadata, "render_fps": hz or 60}
        self.source.open()
        self.rect = self._area()
        self.codec = ActionCodec(profile.actions, (self.rect[2], self.rect[3]))
        self.rules = RuleEngine(profile, source.channel_order)
        self._apm = ApmCap(profile.safety.max_apm)
        cap = profile.capture
        self.observation_space = spaces.Box(0, 255, cap.frame_shape, np.uint8)
        self.action_space = spaces.MultiDiscrete([self.codec.n_command, self.codec.n_action_1, self.codec.n_action_2])
        n = self.codec.n_command
        self._mask = {"command": self.codec.command_mask(),
                      "action_1": np.stack([self.codec.action_1_mask(c) for c in range(n)]),
                      "action_2": np.stack([self.codec.action_2_mask(c) for c in range(n)])}
        self._stop = threading.Event()
        self._stop_reason = ""
        self._values: dict[str, float] = {}
        self._raw: np.ndarray | None = None  # the last captured frame, and its preprocessed observation
        self._obs: np.ndarray | None = None
        self._current = Action(0, 0, 0)
        self._steps = 0
        self._due = 0.0
        self._needs_reset = True
        self._closed = False

    # ----- control --------------------------------------------------------------------------
    def stop(self, reason: str = "stopped") -> None:
        """The kill switch: the step in progress (and every later one) raises :class:`StopRequested`."""
        self._stop_reason = reason
        self._stop.set()

    def action_masks(self) -> np.ndarray:
        """Flat validity mask over the MultiDiscrete's three heads (for maskable learners): a command is
        valid by the codec's command mask, an index of a head if it is valid for some valid command."""
        valid = self._mask["command"]
        return np.concatenate([valid, self._mask["action_1"][valid].any(0), self._mask["action_2"][valid].any(0)])

    # ----- gymnasium API --------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._check_stop()
        if seed is not None and self._reseed is not None:
            self._reseed(seed)
        self.actuator.release_all()
        self._current = Action(0, 0, 0)
        self._wait_for_focus()
        resetter = ResetRunner(self.profile, self.actuator, self.rules)
        obs = self._wait_out_pause(self._observe())
        while True:
            done = self.profile.rules.has_done and self.rules.done(self._values)
            try:
                pressed = resetter.tick(self.clock.now(), self._values, done, self.rect)
            except RuntimeError as exc:
                raise HakisaError(f"reset(): {exc}") from None
            if not (done or resetter.busy or pressed):
                break
            self._wait_for_focus()
            self._tick()
            obs = self._wait_out_pause(self._observe())
        self.rules.reset()
        self._values = self.rules.extract(self._raw, self.clock.now()) if self.rules.active else {}
        self._steps = 0
        self._needs_reset = False
        return obs, self._info()

    def step(self, action) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self._needs_reset:
            raise RuntimeError("call reset() before step() (and after an episode ends)")
        self._check_stop()
        act, invalid = self._to_action(action)
        capped = False
        if act != self._current and not self._apm.allow(self.clock.now()):
            act, capped = self._current, True
        if not self.source.focused():
            return self._lost_focus()
        self.actuator.apply(self.codec.decode(act), self.rect)
        self._current = act
        self._tick()
        if not self.source.focused():
            return self._lost_focus()
        prev = self._values
        obs = self._wait_out_pause(self._observe())
        reward = self.rules.reward(prev, self._values) if self.rules.active else 0.0
        terminated = bool(self.profile.rules.has_done and self.rules.done(self._values))
        self._steps += 1
        truncated = self.max_episode_steps is not None and self._steps >= self.max_episode_steps
        if terminated or truncated:
            self.actuator.release_all()
            self._current = Action(0, 0, 0)
            self._needs_reset = True
        info = self._info()
        info.update(invalid_action=invalid, capped=capped)
        return obs, float(reward), terminated, bool(truncated), info

    def render(self) -> np.ndarray | None:
        """The last captured frame as RGB (full capture size), for ``render_mode="rgb_array"``."""
        if self._raw is None:
            return None
        order = self.source.channel_order
        return self._raw[:, :, 2::-1].copy() if order.startswith("bgr") else self._raw[:, :, :3].copy()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.actuator.release_all()
        finally:
            self.source.close()
            if self._on_close is not None:
                self._on_close()
                self._on_close = None

    # ----- inside -----------------------------------------------------------------------------
    def _area(self) -> tuple[int, int, int, int]:
        rect = self.source.area()
        if rect is None:
            self.actuator.release_all()
            raise HakisaError(f"the game window for profile '{self.profile.name}' is gone; start the game again and "
                              "make a new environment.")
        return rect

    def _to_action(self, action) -> tuple[Action, bool]:
        a = np.asarray(action, dtype=np.int64).reshape(-1)
        if a.shape != (3,):
            raise ValueError(f"an action is 3 integers (command, action_1, action_2), got {action!r}")
        c, a1, a2 = (int(v) for v in a)
        m = self._mask
        if not (0 <= c < len(m["command"]) and m["command"][c]):
            return Action(0, 0, 0), True
        uses1, uses2 = m["action_1"][c].any(), m["action_2"][c].any()
        ok1 = not uses1 or (0 <= a1 < m["action_1"].shape[1] and m["action_1"][c, a1])
        ok2 = not uses2 or (0 <= a2 < m["action_2"].shape[1] and m["action_2"][c, a2])
        if not (ok1 and ok2):
            return Action(0, 0, 0), True
        return Action(c, a1 if uses1 else 0, a2 if uses2 else 0), False

    def _wait_out_pause(self, obs: np.ndarray) -> np.ndarray:
        """While the game shows its pause rule ([rules.pause]): send nothing, tap [pause]'s keys and clicks after
        its wait and every retry, and return the first observation after the pause (the same one if none)."""
        if not (self.profile.rules.has_pause and self.rules.paused(self._values)):
            return obs
        self.actuator.release_all()
        self._current = Action(0, 0, 0)
        unpauser = Unpauser(self.profile, self.actuator)
        while self.rules.paused(self._values):
            self._wait_for_focus()
            try:
                unpauser.tick(self.clock.now(), self.rect)
            except RuntimeError as exc:
                raise HakisaError(str(exc)) from None
            self._tick()
            obs = self._observe()
        return obs

    def _tick(self) -> None:
        """Wait for the next tick (waking at once on stop). Ticks keep a fixed schedule while the caller
        keeps up; a caller that fell behind gets a fresh schedule, so every action still has at least
        half a tick to act on the game before the next observation."""
        now = self.clock.now()
        if self.period:
            nxt = self._due + self.period
            self._due = nxt if nxt >= now + self.period / 2 else now + self.period
            wait = self._due - now
            if wait > 0:
                if isinstance(self.clock, RealClock):
                    self._stop.wait(wait)
                else:
                    self.clock.sleep(wait)
        self._check_stop()

    def _observe(self) -> np.ndarray:
        self.rect = self._area()
        raw = self.source.grab(self.rect)
        self._raw = raw
        if self.rules.active:
            self._values = self.rules.extract(raw, self.clock.now())
        cap = self.profile.capture
        self._obs = observation(raw, cap, self.source.channel_order)
        return self._obs

    def _info(self) -> dict[str, Any]:
        score = self.profile.rules.score
        return {"values": dict(self._values), "score": self._values.get(score, math.nan) if score else math.nan,
                "action_mask": {k: v.copy() for k, v in self._mask.items()}, "steps": self._steps}

    def _lost_focus(self):
        """Another window took the keyboard: release everything, send nothing, end the episode (truncated)."""
        self.actuator.release_all()
        self._current = Action(0, 0, 0)
        self._needs_reset = True
        info = self._info()
        info.update(invalid_action=False, capped=False, focus_lost=True)
        return self._obs.copy(), 0.0, False, True, info

    def _wait_for_focus(self) -> None:
        t0 = time.monotonic()
        while not self.source.focused():
            if time.monotonic() - t0 > self.focus_wait:
                raise HakisaError(f"the game window for profile '{self.profile.name}' has not had the keyboard focus "
                                  f"for {self.focus_wait:g} s; click on it (or make the env with focus=True).")
            if self._stop.wait(0.05):
                self._check_stop()

    def _check_stop(self) -> None:
        if self._stop.is_set():
            self.actuator.release_all()
            raise StopRequested(f"the run was stopped ({self._stop_reason}); every key and button is released")


def make_env(profile: str | Profile = "dodge", *, headless: str | None = None, seed: int = 0,
             size: tuple[int, int] = (640, 360), focus: bool = True, wait: float = 10.0,
             tick_hz: float | None = -1, max_episode_steps: int | None = None,
             render_mode: str | None = None) -> HakisaEnv:
    """An environment over ``profile``'s game window (found like `hakisa play` finds it; the profile's
    kill switch stops it), or with ``headless="dodge"`` over a bundled game in memory, stepped in
    game time (no display, no waiting)."""
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    if headless is not None:
        from hakisa.games import check_profile_for, make_game
        from hakisa.games.source import GameActuator, HeadlessFrameSource
        from hakisa.record.recorder import VirtualClock

        check_profile_for(headless, prof)
        game = make_game(headless, seed=seed, size=size)
        act = GameActuator()
        hz = prof.capture.tick_hz if tick_hz == -1 else (tick_hz or prof.capture.tick_hz)
        src = HeadlessFrameSource(game, act, max(1, round(60 / hz)))
        def reseed(s: int) -> None:
            game.seed, game.episode = int(s), 0
            game.reset()

        return HakisaEnv(prof, src, act, clock=VirtualClock(), tick_hz=tick_hz,
                         max_episode_steps=max_episode_steps, render_mode=render_mode, reseed=reseed)

    from hakisa.live.sources import find_game
    from hakisa.live import require_display

    require_display("the gymnasium environment")
    import atexit

    from hakisa.live.guard import InputGuard, agent_keys
    from hakisa.live.inject import LiveActuator
    from hakisa.live.listen import HotkeyListener
    from hakisa.live.sources import WindowFrameSource

    win, _ = find_game(prof, wait, focus=focus)
    act = LiveActuator()
    # as in `hakisa play`: focus events block the injector at once, no autorepeat for the agent's keys
    guard = InputGuard(win.wid, win.title, act, agent_keys(prof)).__enter__()
    try:
        env = HakisaEnv(prof, WindowFrameSource(win.wid, win.title, prof.capture.region, focus_gate=guard.focused),
                        act, tick_hz=tick_hz, max_episode_steps=max_episode_steps, render_mode=render_mode)
    except BaseException:
        guard.close()
        raise
    atexit.register(guard.close)  # an env never closed still restores autorepeat when Python exits
    kill = prof.safety.kill_switch

    def kill_switch() -> None:
        guard.stop_input()  # released now, in the listener's thread
        env.stop(f"kill switch ({kill})")

    hotkeys = HotkeyListener({kill: kill_switch})
    hotkeys.__enter__()

    def on_close() -> None:
        hotkeys.__exit__(None, None, None)
        guard.close()
        atexit.unregister(guard.close)

    env._on_close = on_close
    return env


if "hakisa/Window-v0" not in gym.registry:
    gym.register("hakisa/Window-v0", entry_point="hakisa.act.env:make_env", disable_env_checker=True)
