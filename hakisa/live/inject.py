"""Input injection through the OS (pynput on X11, via XTEST).

Keys are injected by keysym (``KeyCode.from_vk``) or as pynput special keys, never
as plain characters: X games and other processes' listeners do not see those.

The injector is thread-safe: the agent loop presses while the focus watcher and the kill switch
(other threads) may release everything and *block* it at any moment; a blocked injector sends no
press, click or pointer move until every reason to block is lifted (releases always go out).
"""

from __future__ import annotations

import collections
import threading
import time

from pynput import keyboard, mouse

from hakisa.keys import X_KEYSYMS

ECHO_S = 0.5  # an injected event reaches the listeners well within this (about 1 ms under Xvfb)

_SPECIAL = {
    "space": keyboard.Key.space, "enter": keyboard.Key.enter, "esc": keyboard.Key.esc,
    "tab": keyboard.Key.tab, "backspace": keyboard.Key.backspace, "left": keyboard.Key.left,
    "right": keyboard.Key.right, "up": keyboard.Key.up, "down": keyboard.Key.down,
    "shift": keyboard.Key.shift, "ctrl": keyboard.Key.ctrl, "alt": keyboard.Key.alt,
    "home": keyboard.Key.home, "end": keyboard.Key.end, "page_up": keyboard.Key.page_up,
    "page_down": keyboard.Key.page_down, "delete": keyboard.Key.delete,
    **{f"f{i}": getattr(keyboard.Key, f"f{i}") for i in range(1, 21) if hasattr(keyboard.Key, f"f{i}")},
}
_BUTTONS = {"left": mouse.Button.left, "right": mouse.Button.right, "middle": mouse.Button.middle}


def _pynput_key(name: str):
    if name in _SPECIAL:
        return _SPECIAL[name]
    if name in X_KEYSYMS:
        return keyboard.KeyCode.from_vk(X_KEYSYMS[name])
    raise ValueError(f"cannot inject unknown key {name!r}")


def keysym_of(name: str) -> int:
    """The X keysym the injector sends for key ``name`` (its keycode is ``display.keysym_to_keycode``)."""
    key = _pynput_key(name)
    return key.value.vk if isinstance(key, keyboard.Key) else key.vk


class Injector:
    """Presses, releases, moves and clicks; remembers what it holds so it can release it all.

    Safe to call from several threads (one lock around every change). ``block(reason)`` releases
    everything and refuses presses, clicks and moves until ``unblock(reason)``."""

    def __init__(self):
        self.kb = keyboard.Controller()
        self.mouse = mouse.Controller()
        self.held: set[str] = set()
        self.buttons: set[str] = set()
        self.lock = threading.RLock()
        self.blocked_by: set[str] = set()  # reasons input is refused now (focus lost, stopped)
        self._sent: dict[tuple[str, str], collections.deque] = {}  # (kind, name) -> times sent, for take_echo

    def _note(self, kind: str, name: str) -> None:
        q = self._sent.setdefault((kind, name), collections.deque())
        now = time.monotonic()
        while q and now - q[0] > ECHO_S:  # nobody is listening for them: forget old ones
            q.popleft()
        q.append(now)

    def take_echo(self, kind: str, name: str, within: float = ECHO_S) -> bool:
        """Whether an input event that listeners saw (``kind`` "down" / "up" / "button_down" / "button_up" of key
        or button ``name``) is the echo of one this injector sent in the last ``within`` seconds; consumes it.
        Under X an XTEST event reaches every listener like a person's, so this is how they are told apart."""
        with self.lock:
            q = self._sent.get((kind, name))
            now = time.monotonic()
            while q and now - q[0] > within:
                q.popleft()
            if q:
                q.popleft()
                return True
            return False

    @property
    def blocked(self) -> bool:
        return bool(self.blocked_by)

    def block(self, reason: str) -> None:
        """Release everything now and send nothing new until ``unblock(reason)`` (from any thread)."""
        with self.lock:
            self.blocked_by.add(reason)
            self.release_all()

    def unblock(self, reason: str) -> None:
        with self.lock:
            self.blocked_by.discard(reason)

    def press(self, name: str) -> None:
        with self.lock:
            if self.blocked_by:
                return
            self._note("down", name)
            self.kb.press(_pynput_key(name))
            self.held.add(name)

    def release(self, name: str) -> None:
        with self.lock:
            self._note("up", name)
            self.kb.release(_pynput_key(name))
            self.held.discard(name)

    def tap(self, name: str) -> None:
        """Press and release ``name`` (nothing at all while blocked: no stray release either)."""
        with self.lock:
            if self.blocked_by:
                return
            self.press(name)
            self.release(name)

    def hold_only(self, keys: frozenset[str] | set[str]) -> None:
        """Make exactly ``keys`` held: release the others, press the missing ones."""
        with self.lock:
            for k in sorted(self.held - set(keys)):
                self.release(k)
            for k in sorted(set(keys) - self.held):
                self.press(k)

    def move(self, x: int, y: int) -> None:
        """Move the pointer to screen (root) pixel (x, y)."""
        with self.lock:
            if self.blocked_by:
                return
            self.mouse.position = (int(x), int(y))

    def button_down(self, button: str = "left") -> None:
        with self.lock:
            if self.blocked_by:
                return
            self._note("button_down", button)
            self.mouse.press(_BUTTONS[button])
            self.buttons.add(button)

    def button_up(self, button: str = "left") -> None:
        with self.lock:
            self._note("button_up", button)
            self.mouse.release(_BUTTONS[button])
            self.buttons.discard(button)

    def click(self, button: str = "left") -> None:
        with self.lock:
            if self.blocked_by:
                return
            self.button_down(button)
            self.button_up(button)

    def release_all(self) -> None:
        """Release every key and button this injector holds (call on any exit; from any thread)."""
        with self.lock:
            for k in list(self.held):
                try:
                    self.release(k)
                except Exception:
                    self.held.discard(k)
            for b in list(self.buttons):
                try:
                    self.button_up(b)
                except Exception:
                    self.buttons.discard(b)


class LiveActuator:
    """The agent loop's hands on a real window: area-relative commands become OS input."""

    def __init__(self, injector: Injector | None = None):
        self.inj = injector or Injector()

    def apply(self, cmd, area: tuple[int, int, int, int]) -> None:
        with self.inj.lock:  # one command at a time: a release from another thread waits for it
            self.inj.hold_only(cmd.held)
            if cmd.mouse is not None:
                self.inj.move(area[0] + cmd.mouse[0], area[1] + cmd.mouse[1])
            if cmd.click:
                self.inj.click(cmd.click)

    def tap(self, key: str) -> None:
        self.inj.tap(key)

    def click_at(self, x: int, y: int, area: tuple[int, int, int, int]) -> None:
        with self.inj.lock:
            self.inj.move(area[0] + x, area[1] + y)
            self.inj.click("left")

    def release_all(self) -> None:
        self.inj.release_all()

    def block(self, reason: str) -> None:
        """Release everything at once and send nothing until ``unblock(reason)`` (thread-safe)."""
        self.inj.block(reason)

    def unblock(self, reason: str) -> None:
        self.inj.unblock(reason)
