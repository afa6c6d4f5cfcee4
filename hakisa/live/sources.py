"""A FrameSource over a real window: follows it as it moves, grabs its client area."""

from __future__ import annotations

import threading
from typing import Callable

import numpy as np

from hakisa.errors import HakisaError
from hakisa.live.capture import ScreenGrabber
from hakisa.live.x11 import GameWindow, find_window


def find_game(profile, wait: float, focus: bool = False):
    """The profile's game window (focused if asked) and its captured area in screen pixels."""
    win = find_window(profile.window, timeout=wait)
    try:
        geo = win.geometry()
        if geo is None:
            raise HakisaError(f"window {win.title!r} vanished while hakisa was starting; start the game and retry.")
        if focus:
            win.focus()
    finally:
        win.close()
    return win, apply_region(geo, profile.capture.region)


class WindowFrameSource:
    """Grabs a window's client area (or a region of it) with mss; open() in the grabbing thread.

    ``focus_gate``: a second opinion on focus that must also say yes, e.g. an event-driven
    :class:`hakisa.live.guard.FocusWatcher` (the per-tick question to the X server stays)."""

    channel_order = "bgra"

    def __init__(self, wid: int, title: str, region: tuple[int, int, int, int] | None = None,
                 focus_gate: Callable[[], bool] | None = None):
        self.wid, self.title, self.region = wid, title, region
        self.focus_gate = focus_gate
        self.win: GameWindow | None = None
        self.grabber: ScreenGrabber | None = None

    def open(self) -> None:
        self.win = GameWindow(self.wid, self.title)
        self.grabber = ScreenGrabber()

    def area(self) -> tuple[int, int, int, int] | None:
        geo = self.win.geometry()
        if geo is None:
            return None
        return apply_region(geo, self.region)

    def focused(self) -> bool:
        if self.focus_gate is not None and not self.focus_gate():
            return False
        return self.win.has_focus()

    def grab(self, rect: tuple[int, int, int, int]) -> np.ndarray:
        return self.grabber.grab(rect)

    def close(self) -> None:
        if self.grabber:
            self.grabber.close()
        if self.win:
            self.win.close()


def apply_region(client: tuple[int, int, int, int], region: tuple[int, int, int, int] | None):
    """The profile's capture region (client pixels) placed on screen and clipped to the client area."""
    x, y, w, h = client
    if region is None:
        return client
    rx, ry, rw, rh = region
    rx, ry = min(rx, max(w - 1, 0)), min(ry, max(h - 1, 0))
    return (x + rx, y + ry, max(1, min(rw, w - rx)), max(1, min(rh, h - ry)))


class FocusProbe:
    """``probe()`` says whether a window has keyboard focus; each thread gets its own X connection."""

    def __init__(self, wid: int, title: str):
        self.wid, self.title = wid, title
        self._local = threading.local()

    def __call__(self) -> bool:
        win = getattr(self._local, "win", None)
        if win is None:
            win = self._local.win = GameWindow(self.wid, self.title)
        return win.has_focus()
