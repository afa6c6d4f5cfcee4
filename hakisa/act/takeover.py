"""Corrections from the person watching (HG-DAgger): whoever presses one of the game's keys or buttons while the
agent plays takes control at the next tick. From then on the agent sends nothing; the person's ticks are
recorded as human, with the actions the codec reads from their input, as in `hakisa record`; the step during
which they took over carries an intervention penalty (RLIF: the takeover itself says the agent was wrong). The
agent has control again once the person has been idle (no game key held, no key or button pressed) for
``idle`` seconds, or at once when they press the hand-back key.

The agent's own injected input reaches the same listeners (under X, XTEST events look like anybody's), so
the injector counts what it sends (:meth:`hakisa.live.inject.Injector.take_echo`) and those events are
not taken for the person's.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Callable

from hakisa.record.inputlog import InputTracker, TickSnapshot

AGENT, PERSON = "agent", "person"


@dataclass(frozen=True)
class TakeoverSpec:
    idle: float = 2.0  # seconds without the person's input before the agent has control again
    penalty: float = 1.0  # taken off the reward of the step during which the person took over
    hand_back: str | None = None  # a key that gives control back at once (not one of the game's)


@dataclass(frozen=True)
class Control:
    who: str  # AGENT or PERSON
    changed: bool  # control changed hands at this tick
    snapshot: TickSnapshot  # the person's input since the last tick (what they did, when the step before was theirs)


class Takeover:
    """Who controls the game. Listener threads call :meth:`key` / :meth:`button` / :meth:`move`; the acting
    thread calls :meth:`tick` once per tick."""

    def __init__(self, spec: TakeoverSpec, keys: set[str], buttons: set[str] = frozenset(),
                 accept_key: Callable[[], bool] = lambda: True,
                 is_echo: Callable[[str, str], bool] = lambda kind, name: False):
        self.spec = spec
        self.keys, self.buttons = set(keys), set(buttons)
        self.is_echo = is_echo
        self.tracker = InputTracker(accept_key=accept_key)
        self._lock = threading.Lock()
        self._claim = False  # the person pressed something since the last tick
        self._last_input = -math.inf
        self._give_back = False
        self.who = AGENT
        self.takeovers = 0
        self.person_ticks = 0

    def set_area(self, rect: tuple[int, int, int, int]) -> None:
        self.tracker.set_area(rect)

    # ----- listener side ------------------------------------------------------------------------
    def key(self, name: str | None, down: bool, t: float) -> None:
        if name is None:
            return
        if down and name == self.spec.hand_back:
            with self._lock:
                self._give_back = True
            return
        if name not in self.keys or self.is_echo("down" if down else "up", name):
            return
        if down:
            self.tracker.key_down(name, t)
            with self._lock:
                if self.tracker.is_held(name):  # accepted: the game window had focus
                    self._claim, self._last_input = True, t
        else:
            self.tracker.key_up(name, t)
            with self._lock:
                self._last_input = max(self._last_input, t)

    def button(self, name: str, down: bool, x: int, y: int, t: float) -> None:
        if name not in self.buttons or self.is_echo("button_down" if down else "button_up", name):
            return
        self.tracker.button(name, down, x, y, t)
        if down and self.tracker.inside(x, y):
            with self._lock:
                self._claim, self._last_input = True, t

    def move(self, x: int, y: int, t: float) -> None:
        self.tracker.move(x, y, t)  # used only while the person has control (the agent moves the pointer too)

    # ----- acting side --------------------------------------------------------------------------
    def tick(self, now: float) -> Control:
        with self._lock:
            claim, self._claim = self._claim, False
            give_back, self._give_back = self._give_back, False
            last = self._last_input
        snap = self.tracker.snapshot()
        before = self.who
        if claim:
            self.who = PERSON
        elif self.who == PERSON and (give_back or (not self.tracker.holding() and now - last >= self.spec.idle)):
            self.who = AGENT
        changed = self.who != before
        if changed and self.who == PERSON:
            self.takeovers += 1
        if self.who == PERSON:
            self.person_ticks += 1
        return Control(self.who, changed, snap)
