"""Keyboard and mouse listening with pynput (X RECORD), feeding an InputTracker."""

from __future__ import annotations

import time
from typing import Callable

from pynput import keyboard, mouse

from hakisa.record.inputlog import InputTracker
from hakisa.keys import name_from_keysym, normalize_key


def key_to_name(key) -> str | None:
    """Canonical name of a pynput key (Key enum member or KeyCode), or None if unknown."""
    if isinstance(key, keyboard.Key):
        name = normalize_key(key.name)
        if name is None and key.value is not None and key.value.vk is not None:
            name = name_from_keysym(key.value.vk)
        return name
    char = getattr(key, "char", None)
    if char:
        name = normalize_key(char)
        if name:
            return name
    vk = getattr(key, "vk", None)
    return name_from_keysym(vk) if vk is not None else None


class InputListener:
    """Runs pynput keyboard and mouse listeners that feed ``tracker``; a context manager."""

    def __init__(self, tracker: InputTracker, keyboard_only: bool = False):
        self.tracker = tracker
        t = tracker
        self._kb = keyboard.Listener(
            on_press=lambda k, injected=False: t.key_down(key_to_name(k), time.monotonic()),
            on_release=lambda k, injected=False: t.key_up(key_to_name(k), time.monotonic()))
        self._mouse = None if keyboard_only else mouse.Listener(
            on_move=lambda x, y, injected=False: t.move(int(x), int(y), time.monotonic()),
            on_click=lambda x, y, b, down, injected=False: t.button(b.name, down, int(x), int(y), time.monotonic()),
            on_scroll=lambda x, y, dx, dy, injected=False: t.scroll(int(x), int(y), dx, dy, time.monotonic()))

    def start(self) -> "InputListener":
        self._kb.start()
        if self._mouse:
            self._mouse.start()
        self._kb.wait()
        if self._mouse:
            self._mouse.wait()
        return self

    def stop(self) -> None:
        self._kb.stop()
        if self._mouse:
            self._mouse.stop()

    def __enter__(self) -> "InputListener":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class HotkeyListener:
    """Calls ``actions[name]()`` when key ``name`` is pressed in any window (kill switch, feedback keys).

    The agent never injects these keys (the profile forbids them in actions.keys), so injected
    events need no filtering here."""

    def __init__(self, actions: dict[str, Callable[[], None]]):
        self.actions = dict(actions)

        def on_press(key, injected=False):
            fn = self.actions.get(key_to_name(key))
            if fn is not None:
                fn()

        self._kb = keyboard.Listener(on_press=on_press)

    def __enter__(self) -> "HotkeyListener":
        self._kb.start()
        self._kb.wait()
        return self

    def __exit__(self, *exc) -> None:
        # No join: pynput's X RECORD thread only notices the stop at the next input event anywhere (after
        # a signal that can take seconds). It is a daemon thread and, with the actions cleared, inert.
        self.actions.clear()
        self._kb.stop()


class TakeoverListener:
    """Feeds a :class:`hakisa.act.takeover.Takeover` with every key, button and pointer event; a context manager.

    pynput tells a listener about its own process's Controller twice: at once, flagged ``injected``, and again when
    the X server echoes the XTEST event, unflagged like anybody's input. The first is dropped here; the echo is told
    from the person's by the injector's count (:meth:`hakisa.live.inject.Injector.take_echo`). No join on exit, as
    for :class:`HotkeyListener`."""

    def __init__(self, takeover):
        t = takeover

        def key(k, down: bool, injected: bool) -> None:
            if not injected:
                t.key(key_to_name(k), down, time.monotonic())

        def click(x, y, b, down, injected=False) -> None:
            if not injected:
                t.button(b.name, down, int(x), int(y), time.monotonic())

        self._kb = keyboard.Listener(on_press=lambda k, injected=False: key(k, True, injected),
                                     on_release=lambda k, injected=False: key(k, False, injected))
        self._mouse = mouse.Listener(on_move=lambda x, y, injected=False: t.move(int(x), int(y), time.monotonic()),
                                     on_click=click)

    def __enter__(self) -> "TakeoverListener":
        self._kb.start()
        self._mouse.start()
        self._kb.wait()
        self._mouse.wait()
        return self

    def __exit__(self, *exc) -> None:
        self._kb.stop()
        self._mouse.stop()
