"""Hold-aware input tracking, fed by any event source (pynput live, or tests).

The tracker keeps the true held state from press/release pairs (X autorepeat
sends repeated presses for a held key; they are not new presses), accumulates
everything that happened since the previous tick, and hands it over at each
tick as a :class:`TickSnapshot`.  It never keeps a key press made while the game
window does not have focus; the release of a key pressed in the game is always
kept, so nothing stays "held" forever.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from hakisa.codec import TickInput
from hakisa.data.dataset import BUTTONS, EVENT_KINDS, held_mask
from hakisa.keys import key_index

KEY_DOWN, KEY_UP, MOVE, BUTTON_DOWN, BUTTON_UP, SCROLL = (EVENT_KINDS.index(k) for k in EVENT_KINDS)


@dataclass(frozen=True)
class TickSnapshot:
    """Input at one tick, in captured-area pixels."""

    tick_input: TickInput
    held_mask: np.ndarray
    mouse_xy: tuple[int, int]  # (-1, -1) when the pointer is outside the captured area
    buttons: int  # bitmask over dataset BUTTONS
    events: list[tuple[float, int, int, int, int]]  # (time, kind, code, x, y)


class InputTracker:
    """Thread-safe accumulator of keyboard and mouse events between ticks."""

    def __init__(self, accept_key: Callable[[], bool] = lambda: True, kill_key: str | None = None,
                 on_kill: Callable[[], None] | None = None, record_moves: bool = True):
        self._lock = threading.Lock()
        self.accept_key = accept_key
        self.kill_key = kill_key
        self.on_kill = on_kill
        self.record_moves = record_moves
        self._held: dict[str, float] = {}  # key -> press time
        self._pressed: list[str] = []
        self._buttons: set[str] = set()
        self._clicks: list[tuple[str, int, int]] = []
        self._events: list[tuple[float, int, int, int, int]] = []
        self._mouse_root: tuple[int, int] | None = None
        self._moved = False
        self._rect = (0, 0, 0, 0)  # captured area in root pixels: x, y, w, h
        self.rejected_keys = 0  # presses dropped because another window had focus

    def set_area(self, rect: tuple[int, int, int, int]) -> None:
        """Where the captured area is on screen (root pixels); mouse events are kept only inside it."""
        self._rect = rect

    def holding(self) -> bool:
        """Whether any key or button it tracks is held now."""
        with self._lock:
            return bool(self._held or self._buttons)

    def is_held(self, name: str) -> bool:
        with self._lock:
            return name in self._held

    def inside(self, x: int, y: int) -> bool:
        """Whether screen point (x, y) lies in the captured area."""
        return self._inside(x, y)

    def _inside(self, x: int, y: int) -> bool:
        rx, ry, rw, rh = self._rect
        return rx <= x < rx + rw and ry <= y < ry + rh

    def _rel(self, x: int, y: int) -> tuple[int, int]:
        return (x - self._rect[0], y - self._rect[1])

    # ----- event entry points (called from listener threads) ------------------------------
    def key_down(self, name: str | None, t: float | None = None) -> None:
        if name is None:
            return
        t = time.monotonic() if t is None else t
        if name == self.kill_key:
            if self.on_kill:
                self.on_kill()
            return
        with self._lock:
            if name in self._held:
                return  # autorepeat: still the same hold
        if not self.accept_key():
            with self._lock:
                self.rejected_keys += 1
            return
        with self._lock:
            self._held[name] = t
            self._pressed.append(name)
            self._events.append((t, KEY_DOWN, key_index(name), -1, -1))

    def key_up(self, name: str | None, t: float | None = None) -> None:
        if name is None:
            return
        t = time.monotonic() if t is None else t
        with self._lock:
            if self._held.pop(name, None) is None:
                return  # pressed elsewhere (or the kill key): never logged
            self._events.append((t, KEY_UP, key_index(name), -1, -1))

    def move(self, x: int, y: int, t: float | None = None) -> None:
        t = time.monotonic() if t is None else t
        with self._lock:
            self._mouse_root = (x, y)
            if self._inside(x, y):
                self._moved = True
                if self.record_moves:
                    rx, ry = self._rel(x, y)
                    self._events.append((t, MOVE, 0, rx, ry))

    def button(self, name: str, down: bool, x: int, y: int, t: float | None = None) -> None:
        t = time.monotonic() if t is None else t
        if name not in BUTTONS:
            return
        with self._lock:
            self._mouse_root = (x, y)
            rx, ry = self._rel(x, y)
            if down:
                if not self._inside(x, y):
                    return
                self._buttons.add(name)
                self._clicks.append((name, rx, ry))
                self._events.append((t, BUTTON_DOWN, BUTTONS.index(name), rx, ry))
            elif name in self._buttons:
                self._buttons.discard(name)
                self._events.append((t, BUTTON_UP, BUTTONS.index(name), rx, ry))

    def scroll(self, x: int, y: int, dx: int, dy: int, t: float | None = None) -> None:
        t = time.monotonic() if t is None else t
        with self._lock:
            if self._inside(x, y):
                rx, ry = self._rel(x, y)
                self._events.append((t, SCROLL, int(np.sign(dy) or np.sign(dx) * 2), rx, ry))

    def release_all(self, t: float | None = None) -> None:
        """Forget every hold (focus lost: the game releases them too), logging the releases."""
        t = time.monotonic() if t is None else t
        with self._lock:
            for name in list(self._held):
                self._events.append((t, KEY_UP, key_index(name), -1, -1))
            self._held.clear()

    # ----- tick side ----------------------------------------------------------------------
    def snapshot(self) -> TickSnapshot:
        """Everything since the previous snapshot, and the state now; resets the per-tick parts."""
        with self._lock:
            held = frozenset(self._held)
            pressed = tuple(self._pressed)
            clicks = tuple(self._clicks)
            events = self._events
            moved = self._moved
            mouse = self._mouse_root
            buttons = sum(1 << BUTTONS.index(b) for b in self._buttons)
            self._pressed, self._clicks, self._events, self._moved = [], [], [], False
        rel = self._rel(*mouse) if mouse is not None and self._inside(*mouse) else None
        tick = TickInput(held=held, pressed=pressed, mouse=rel, moved=moved, clicks=clicks)
        return TickSnapshot(tick, held_mask(held), rel if rel else (-1, -1), buttons, events)
