"""Find, follow and focus a game window on X11 with python-xlib."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from Xlib import X, Xatom, display as xdisplay
from Xlib.error import BadDrawable, BadMatch, BadWindow, XError

from hakisa import patterns
from hakisa.errors import WindowNotFoundError
from hakisa.profile import WindowSpec

_BAD = (BadWindow, BadDrawable, BadMatch, XError)


@dataclass(frozen=True)
class WindowInfo:
    wid: int
    title: str
    wm_class: str
    pid: int | None
    viewable: bool


def _title(d: xdisplay.Display, w) -> str:
    try:
        prop = w.get_full_property(d.intern_atom("_NET_WM_NAME"), d.intern_atom("UTF8_STRING"))
        if prop and prop.value:
            v = prop.value
            return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
        name = w.get_wm_name()
        if isinstance(name, bytes):
            name = name.decode("latin-1")
        return name or ""
    except _BAD:
        return ""


def list_windows(d: xdisplay.Display) -> list[WindowInfo]:
    """Every window in the tree that has a title (depth-first, top-level first)."""
    out: list[WindowInfo] = []
    pid_atom = d.intern_atom("_NET_WM_PID")
    stack = [d.screen().root]
    while stack:
        w = stack.pop()
        try:
            children = w.query_tree().children
        except _BAD:
            continue
        for c in children:
            stack.append(c)
            title = _title(d, c)
            if not title:
                continue
            try:
                cls = c.get_wm_class() or ("", "")
                attrs = c.get_attributes()
                pidp = c.get_full_property(pid_atom, Xatom.CARDINAL)
            except _BAD:
                continue
            out.append(WindowInfo(c.id, title, ".".join(x for x in cls if x),
                                  int(pidp.value[0]) if pidp and len(pidp.value) else None,
                                  attrs.map_state == X.IsViewable))
    return out


def _process_name(pid: int | None) -> str:
    if pid is None:
        return ""
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8") as fh:
            comm = fh.read().strip()
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
        return f"{comm} {cmd}"
    except OSError:
        return ""


def matches(info: WindowInfo, spec: WindowSpec) -> bool:
    """True if a window matches the profile's title (and class / process, when given).

    Titles and classes are whatever other programs chose, so the patterns are matched in linear time
    (RE2) on a bounded prefix of them (see :mod:`hakisa.patterns`): no title can hang hakisa.
    """
    if not patterns.search(spec.title, info.title, "[window] title"):
        return False
    if spec.window_class and not patterns.search(spec.window_class, info.wm_class, "[window] class"):
        return False
    if spec.process and spec.process not in _process_name(info.pid):
        return False
    return True


class GameWindow:
    """A handle on one X window: where it is, whether it lives, whether it has focus."""

    def __init__(self, wid: int, title: str, display_name: str | None = None):
        self.wid = wid
        self.title = title
        self.d = xdisplay.Display(display_name)
        self.w = self.d.create_resource_object("window", wid)
        self.root = self.d.screen().root

    def close(self) -> None:
        try:
            self.d.close()
        except Exception:
            pass

    def geometry(self) -> tuple[int, int, int, int] | None:
        """Client area (x, y, width, height) in root (screen) pixels, or None if the window is gone."""
        try:
            g = self.w.get_geometry()
            t = self.root.translate_coords(self.w, 0, 0)  # the window's (0, 0) in screen pixels
            return (int(t.x), int(t.y), int(g.width), int(g.height))
        except _BAD:
            return None

    def alive(self) -> bool:
        try:
            return self.w.get_attributes().map_state == X.IsViewable
        except _BAD:
            return False

    def _ancestors(self, w) -> list[int]:
        chain = []
        try:
            while w is not None and w.id != self.root.id:
                chain.append(w.id)
                w = w.query_tree().parent
        except _BAD:
            pass
        return chain

    def has_focus(self) -> bool:
        """True if keyboard input goes to this window (or a child of it, or the frame around it)."""
        try:
            focus = self.d.get_input_focus().focus
            if isinstance(focus, int) or focus is None or focus.id == self.root.id:
                # PointerRoot / None: keys go to the window under the pointer
                child = self.root.query_pointer().child
                if not child:
                    return False
                focus = child
            if focus.id == self.wid:
                return True
            if self.wid in self._ancestors(focus):
                return True  # focus on a child of the game window
            return focus.id in self._ancestors(self.w)  # focus on a window-manager frame around it
        except _BAD:
            return False

    def focus(self) -> None:
        """Raise the window and give it keyboard focus (used by tests and the agent)."""
        try:
            self.w.configure(stack_mode=X.Above)
            self.w.set_input_focus(X.RevertToParent, X.CurrentTime)
            self.d.sync()
        except _BAD:
            pass


def find_window(spec: WindowSpec, timeout: float = 3.0, display_name: str | None = None) -> GameWindow:
    """Wait up to ``timeout`` seconds for a viewable window matching ``spec``.

    Raises :class:`WindowNotFoundError` listing the titles that do exist.
    """
    d = xdisplay.Display(display_name)
    try:
        deadline = time.monotonic() + timeout
        while True:
            wins = list_windows(d)
            hits = [w for w in wins if w.viewable and matches(w, spec)]
            if hits:
                # prefer the largest match (a game's client window over tiny helper windows)
                best = max(hits, key=lambda w: _area(d, w.wid))
                return GameWindow(best.wid, best.title, display_name)
            if time.monotonic() >= deadline:
                titles = sorted({w.title for w in wins if w.viewable})
                listed = "; ".join(repr(t) for t in titles[:15]) or "none"
                raise WindowNotFoundError(
                    f"no window matches title /{spec.title}/"
                    + (f" class /{spec.window_class}/" if spec.window_class else "")
                    + (f" process {spec.process!r}" if spec.process else "")
                    + f" after {timeout:g} s on display {os.environ.get('DISPLAY', '?')}. "
                    f"Start the game first (or fix [window] in the profile). Visible windows: {listed}.")
            time.sleep(0.1)
    finally:
        d.close()


def visible_windows(display_name: str | None = None) -> list[tuple[WindowInfo, int, int, str]]:
    """Every viewable window with a title: its info, width, height and process name, largest first."""
    d = xdisplay.Display(display_name)
    try:
        out = []
        for w in list_windows(d):
            if not w.viewable:
                continue
            try:
                g = d.create_resource_object("window", w.wid).get_geometry()
            except _BAD:
                continue
            out.append((w, int(g.width), int(g.height), _process_name(w.pid).split(" ")[0]))
        return sorted(out, key=lambda r: -r[1] * r[2])
    finally:
        d.close()


def _area(d: xdisplay.Display, wid: int) -> int:
    try:
        g = d.create_resource_object("window", wid).get_geometry()
        return int(g.width) * int(g.height)
    except _BAD:
        return 0
