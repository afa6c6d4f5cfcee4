"""Keeping an agent's input inside its game window while a session runs on a real window.

* :class:`FocusWatcher`: a thread with its own X connection that listens to the game window's focus
  events (and, for the PointerRoot focus mode, the pointer entering and leaving it) and blocks the
  injector the moment focus leaves: everything held is released before the agent loop's own
  per-tick check would notice;
* :class:`AutorepeatGuard`: X autorepeat off for exactly the keycodes the agent may press while the
  session runs. No client can act before the X server moves the focus, so a key held when focus
  moves would otherwise autorepeat into the newly focused window until it is released. The game
  does not need autorepeat: hakisa holds keys by press/release pairs. The keycodes changed are
  written to a state file under the cache folder first, so a session killed with SIGKILL is
  repaired by the next one (:func:`restore_leftovers`);
* :class:`InputGuard`: both, plus :meth:`InputGuard.stop_input` for the kill switch (release at once,
  send nothing more), used by `hakisa play` / `explore` and the gymnasium environment.
"""

from __future__ import annotations

import json
import os
import re
import select
import threading
import time
from pathlib import Path
from typing import Callable, Iterable

from Xlib import X, display as xdisplay

from hakisa.resources import cache_dir, pid_alive
from hakisa.live.x11 import _BAD, GameWindow

FOCUS_MASK = X.FocusChangeMask | X.StructureNotifyMask | X.EnterWindowMask | X.LeaveWindowMask
FRAME_MASK = X.FocusChangeMask | X.StructureNotifyMask  # on window-manager frames around the game window


def agent_keys(profile) -> tuple[str, ...]:
    """Every key an agent session may press: the profile's action keys and its reset keys."""
    return tuple(sorted(set(profile.actions.key_set) | set(profile.reset.keys)))


# ----- focus ----------------------------------------------------------------------------------------

class FocusWatcher:
    """Calls ``on_lost()`` as soon as the window loses the keyboard focus and ``on_back()`` when it has it
    again; ``focused()`` says which, from any thread.

    Event driven: FocusIn/FocusOut on the window and on any window-manager frame around it, pointer
    Enter/Leave (with PointerRoot focus the keyboard follows the pointer, and no focus event comes),
    unmap and destroy. A FocusOut releases first and asks the X server afterwards. A keyboard grab by
    another client (a menu, a screenshot tool, the window manager's switcher) counts as lost focus
    until it ends. Every ``recheck`` seconds the state is also asked afresh."""

    def __init__(self, wid: int, title: str, on_lost: Callable[[], None], on_back: Callable[[], None],
                 display_name: str | None = None, recheck: float = 0.25):
        self.wid, self.title = wid, title
        self.on_lost, self.on_back = on_lost, on_back
        self.display_name, self.recheck = display_name, recheck
        self._focused = threading.Event()
        self._stopping = threading.Event()
        self._grab: str | None = None  # None, "ours" (the game grabbed the keyboard) or "other"
        self._win: GameWindow | None = None
        self._thread: threading.Thread | None = None
        self._wake_r = self._wake_w = -1

    def focused(self) -> bool:
        return self._focused.is_set()

    def start(self) -> "FocusWatcher":
        self._win = GameWindow(self.wid, self.title, self.display_name)
        self._win.d.set_error_handler(lambda *a: None)  # a frame that vanished mid-select is not an error
        self._select()
        self._decide()
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="hakisa-focus", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._stopping.set()
            os.write(self._wake_w, b"x")
            self._thread.join(timeout=1.0)
            self._thread = None
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1
        if self._win is not None:
            self._win.close()
            self._win = None

    # ----- inside -----------------------------------------------------------------------------
    def _select(self) -> None:
        win = self._win
        try:
            win.w.change_attributes(event_mask=FOCUS_MASK)
            for wid in win._ancestors(win.w)[1:]:  # frames a window manager put around it (not the root)
                win.d.create_resource_object("window", wid).change_attributes(event_mask=FRAME_MASK)
            win.d.sync()
        except _BAD:
            pass

    def _lost(self) -> None:
        self._focused.clear()
        self.on_lost()

    def _decide(self) -> None:
        """Ask the X server where the keyboard goes now, and block or unblock accordingly."""
        if self._grab != "other" and self._win.has_focus():
            if not self._focused.is_set():
                self._focused.set()
                self.on_back()
        else:
            self._lost()

    def _handle(self, ev) -> tuple[bool, bool]:
        """(release at once, ask again) for one event."""
        t = ev.type
        own = getattr(getattr(ev, "window", None), "id", None) == self.wid
        if t == X.FocusOut:
            if ev.mode == X.NotifyGrab:
                self._grab = "other"
            elif ev.mode == X.NotifyUngrab:
                self._grab = None
            if ev.detail == X.NotifyInferior and ev.mode == X.NotifyNormal:
                return False, True  # focus moved into a child of this window (or of its frame)
            return True, True
        if t == X.FocusIn:
            if ev.mode == X.NotifyGrab:
                if own:
                    self._grab = "ours"  # the game itself grabbed the keyboard: keys still go to it
            elif ev.mode in (X.NotifyNormal, X.NotifyUngrab):
                self._grab = None
            return False, True
        if t in (X.UnmapNotify, X.DestroyNotify) and own:
            return True, True
        if t == X.ReparentNotify and own:
            self._select()
            return False, True
        if t in (X.EnterNotify, X.LeaveNotify, X.MapNotify):
            return False, True
        return False, False

    def _run(self) -> None:
        d = self._win.d
        fd = d.fileno()
        try:
            while not self._stopping.is_set():
                ask = False
                if not d.pending_events():  # (a reply read during _decide can bring events along: never wait then)
                    ready, _, _ = select.select([fd, self._wake_r], [], [], self.recheck)
                    if self._wake_r in ready:
                        return
                    ask = not ready  # nothing came: ask anyway, now and then
                released = False
                while d.pending_events():
                    release, again = self._handle(d.next_event())
                    if release and not released:
                        released = True
                        self._lost()  # release before the round trips that ask where the focus is now
                    ask |= again
                if ask:
                    self._decide()
        except Exception:  # noqa: BLE001 - the X connection broke: nothing may be sent any more
            self._lost()


# ----- autorepeat -----------------------------------------------------------------------------------

def _display_id(d: xdisplay.Display) -> str:
    """The display as a file-name part: "host:N" without the screen number, unsafe characters replaced."""
    name = d.get_display_name() or os.environ.get("DISPLAY", "")
    m = re.match(r"^(.*?:\d+)(\.\d+)?$", name)
    return re.sub(r"[^A-Za-z0-9_.-]", "_", m.group(1) if m else name) or "default"


def _set_repeat(d: xdisplay.Display, keycodes: Iterable[int], on: bool) -> None:
    mode = X.AutoRepeatModeOn if on else X.AutoRepeatModeOff
    for kc in keycodes:
        d.change_keyboard_control(key=int(kc), auto_repeat_mode=mode)
    d.sync()


def repeating(d: xdisplay.Display, keycode: int) -> bool:
    """Whether the X server autorepeats ``keycode`` (its per-key setting; the global switch aside)."""
    bits = d.get_keyboard_control().auto_repeats
    return bool(bits[keycode // 8] >> (keycode % 8) & 1)


def restore_leftovers(d: xdisplay.Display, folder: Path | None = None) -> list[tuple[int, list[int]]]:
    """Turn autorepeat back on for the keycodes that sessions on this display switched off and never
    restored (killed with SIGKILL, or the machine lost power); returns (pid, keycodes) per state file.

    A state file of a session still running (its process is alive) is left alone."""
    folder = folder or cache_dir()
    done = []
    for f in sorted(folder.glob(f"autorepeat-{_display_id(d)}-*.json")):
        try:
            info = json.loads(f.read_text(encoding="utf-8"))
            pid = int(info["pid"])
            codes = [int(k) for k in info["keycodes"] if 8 <= int(k) <= 255]
        except (OSError, ValueError, KeyError, TypeError):
            codes, pid = [], -1  # unreadable: nothing to restore from it
        if pid == os.getpid() or (pid > 0 and pid_alive(pid)):
            continue
        _set_repeat(d, codes, True)
        try:
            f.unlink()
        except OSError:
            pass
        done.append((pid, codes))
    return done


class AutorepeatGuard:
    """X autorepeat off for the keycodes of ``keys`` from :meth:`start` to :meth:`restore`.

    Only keys that autorepeat now are changed, and only those are turned back on. Before changing
    anything the keycodes are written to ``autorepeat-DISPLAY-PID.json`` in the cache folder, and the
    file is deleted after the restore; :meth:`start` first repairs what earlier sessions left."""

    def __init__(self, keys: Iterable[str], display_name: str | None = None, folder: Path | None = None,
                 announce: Callable[[str], None] | None = None):
        self.keys = tuple(keys)
        self.display_name, self.folder, self.announce = display_name, folder, announce
        self.changed: list[int] = []
        self.state_file: Path | None = None
        self.d: xdisplay.Display | None = None

    def keycodes(self) -> list[int]:
        from hakisa.live.inject import keysym_of

        codes = {self.d.keysym_to_keycode(keysym_of(k)) for k in self.keys}
        return sorted(c for c in codes if c)

    def start(self) -> "AutorepeatGuard":
        self.d = xdisplay.Display(self.display_name)
        folder = self.folder or cache_dir()
        for pid, codes in restore_leftovers(self.d, folder):
            if self.announce and codes:
                self.announce(f"turned X autorepeat back on for keycodes {', '.join(map(str, codes))}, left off by "
                              f"an earlier hakisa session (pid {pid}) that did not finish")
        codes = [kc for kc in self.keycodes() if repeating(self.d, kc)]
        if not codes:
            return self
        self.state_file = folder / f"autorepeat-{_display_id(self.d)}-{os.getpid()}.json"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = self.state_file.with_name(self.state_file.name + ".tmp")
            tmp.write_text(json.dumps({"display": self.d.get_display_name(), "pid": os.getpid(), "time": time.time(),
                                       "keycodes": codes, "keys": list(self.keys)}), encoding="utf-8")
            os.replace(tmp, self.state_file)
        except OSError as exc:
            self.state_file = None
            if self.announce:
                self.announce(f"warning: cannot write {folder} ({exc.strerror or exc}); if this session is killed "
                              f"with SIGKILL, turn autorepeat back on with `xset r KEYCODE` for keycodes "
                              f"{', '.join(map(str, codes))}")
        self.changed = codes
        _set_repeat(self.d, codes, False)
        return self

    def restore(self) -> None:
        """Turn autorepeat back on for what :meth:`start` turned off (idempotent)."""
        if self.d is None:
            return
        try:
            if self.changed:
                _set_repeat(self.d, self.changed, True)
            self.changed = []
            if self.state_file is not None:
                self.state_file.unlink(missing_ok=True)
                self.state_file = None
        except Exception:  # noqa: BLE001 - the X server is gone: the state file stays for the next session
            pass
        finally:
            try:
                self.d.close()
            except Exception:  # noqa: BLE001
                pass
            self.d = None


# ----- both -------------------------------------------------------------------------------------------

class InputGuard:
    """What keeps one agent session's input in its game window; a context manager.

    ``actuator`` must have ``block(reason)``, ``unblock(reason)`` and ``release_all()``
    (:class:`hakisa.live.inject.LiveActuator`); ``focused()`` is for the frame source's focus check."""

    def __init__(self, wid: int, title: str, actuator, keys: Iterable[str],
                 announce: Callable[[str], None] | None = None, display_name: str | None = None):
        self.actuator = actuator
        self.autorepeat = AutorepeatGuard(keys, display_name, announce=announce)
        self.watcher = FocusWatcher(wid, title, lambda: actuator.block("focus"), lambda: actuator.unblock("focus"),
                                    display_name)
        self._open = False
        self._lock = threading.Lock()

    def __enter__(self) -> "InputGuard":
        self.autorepeat.start()
        self._open = True
        try:
            self.watcher.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def focused(self) -> bool:
        return self.watcher.focused()

    def stop_input(self) -> None:
        """The kill switch: release everything now and send nothing more (from any thread)."""
        self.actuator.block("stopped")

    def close(self) -> None:
        """Stop watching, release everything, restore autorepeat (idempotent; every exit path)."""
        with self._lock:
            if not self._open:
                return
            self._open = False
            try:
                self.watcher.stop()
                self.actuator.release_all()  # before autorepeat is back on
            finally:
                self.autorepeat.restore()
