"""A FrameSource over a headless bundled game, stepped once per grab (for tests and benchmarks)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from hakisa.games.base import NO_INPUT, Game, GameInput


class HeadlessFrameSource:
    """Each ``grab`` advances the game ``frames_per_grab`` frames with ``input_fn()`` and returns its pixels."""

    channel_order = "rgb"

    def __init__(self, game: Game, input_fn: Callable[[], GameInput] = lambda: NO_INPUT, frames_per_grab: int = 1):
        self.game = game
        self.input_fn = input_fn
        self.frames_per_grab = frames_per_grab
        self.closed = False
        self.after_grab: Callable[[], None] | None = None  # e.g. a scripted crowd watching the game

    def open(self) -> None:
        pass

    def area(self) -> tuple[int, int, int, int] | None:
        return None if self.closed else (0, 0, *self.game.size)

    def focused(self) -> bool:
        return True

    def grab(self, rect: tuple[int, int, int, int]) -> np.ndarray:
        for _ in range(self.frames_per_grab):
            self.game.step(self.input_fn())
        if self.after_grab is not None:
            self.after_grab()
        return self.game.render()

    def close(self) -> None:
        pass


class PolicyPlayer:
    """Plays a headless game with a scripted policy, reporting its key presses and releases (and clicks)
    to an input tracker as a person's keyboard would, so the record loop labels them like human input."""

    def __init__(self, game: Game, policy, tracker, clock=None):
        self.game, self.policy, self.tracker, self.clock = game, policy, tracker, clock
        self.held: set[str] = set()

    def __call__(self) -> GameInput:
        want = self.policy.act(self.game.state())
        t = self.clock.now() if self.clock is not None else None
        for k in sorted(self.held - want.held):
            self.tracker.key_up(k, t)
        for k in sorted(want.held - self.held):
            self.tracker.key_down(k, t)
        self.held = set(want.held)
        if want.mouse is not None:
            self.tracker.move(*want.mouse, t)
        for button, x, y in want.clicks:
            self.tracker.button(button, True, x, y, t)
            self.tracker.button(button, False, x, y, t)
        return want


def record_headless(game: Game, profile, out, seconds: float, player_factory, frames_per_grab: int = 1,
                    clock=None, force: bool = False):
    """Record a headless game with the real record loop (labels, episodes, dataset format).

    ``player_factory(tracker)`` returns the per-frame input function (e.g. a :class:`PolicyPlayer`).
    With a :class:`~hakisa.record.recorder.VirtualClock` it runs as fast as the game does. Returns the stats.
    """
    from hakisa.codec import ActionCodec
    from hakisa.data.dataset import DatasetWriter
    from hakisa.record.inputlog import InputTracker
    from hakisa.record.recorder import Recorder

    codec = ActionCodec(profile.actions, game.size)
    writer = DatasetWriter(out, profile, codec, force=force)
    tracker = InputTracker()
    tracker.set_area((0, 0, *game.size))
    source = HeadlessFrameSource(game, player_factory(tracker), frames_per_grab)
    rec = Recorder(profile, source, tracker, writer, codec, max_seconds=seconds, clock=clock)
    try:
        rec.start()
        return rec.wait(poll=0.05)
    finally:
        writer.close()


class GameActuator:
    """The agent loop's hands on a headless game: call it once per game frame for that frame's input."""

    def __init__(self):
        self.held: frozenset[str] = frozenset()
        self.mouse: tuple[int, int] | None = None
        self._taps: list[str] = []
        self._clicks: list[tuple[str, int, int]] = []
        self.applied = 0  # commands applied (tests check that nothing was sent)

    def apply(self, cmd, area) -> None:
        self.applied += 1
        self.held = cmd.held
        if cmd.mouse is not None:
            self.mouse = cmd.mouse
            if cmd.click:
                self._clicks.append((cmd.click, *cmd.mouse))

    def tap(self, key: str) -> None:
        self._taps.append(key)

    def click_at(self, x: int, y: int, area) -> None:
        self.mouse = (x, y)
        self._clicks.append(("left", x, y))

    def release_all(self) -> None:
        self.held = frozenset()

    def __call__(self) -> GameInput:
        inp = GameInput(self.held | frozenset(self._taps), self.mouse, tuple(self._clicks))
        self._taps, self._clicks = [], []
        return inp
