"""The live side: the only code that touches the screen, the keyboard and the mouse.

Nothing outside this package imports mss, pynput, pyautogui or Xlib, so
``study``, ``consolidate``, ``inspect`` and most tests run with no display.
Only X11 (Linux, and Xvfb where there is no screen) is implemented and tested;
Windows and macOS are not supported yet.
"""

from __future__ import annotations

import os
import sys

from hakisa.errors import DisplayError

NO_DISPLAY_HELP = (
    "Start a virtual one with `Xvfb :99 -screen 0 1280x720x24 & export DISPLAY=:99` (or run the command "
    "under `xvfb-run -a`). `hakisa study`, `hakisa inspect` and `hakisa replay` do not need a display.")


def require_display(command: str) -> str:
    """Return the X display name, or raise :class:`DisplayError` saying how to get one."""
    if sys.platform != "linux":
        raise DisplayError(f"`hakisa {command}` supports X11 on Linux only so far; "
                           f"{sys.platform} is untested and not supported yet.")
    name = os.environ.get("DISPLAY", "")
    if not name:
        raise DisplayError(f"`hakisa {command}` needs a screen, but DISPLAY is not set. {NO_DISPLAY_HELP}")
    from Xlib import display as xdisplay
    from Xlib.error import DisplayError as XDisplayError, DisplayConnectionError

    try:
        d = xdisplay.Display(name)
    except (XDisplayError, DisplayConnectionError, OSError) as exc:
        raise DisplayError(f"`hakisa {command}` needs a screen, but display {name!r} cannot be reached "
                           f"({exc}). {NO_DISPLAY_HELP}") from None
    d.close()
    return name
