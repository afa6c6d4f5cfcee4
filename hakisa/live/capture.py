"""Screen capture of a window's client area with mss (create it in the thread that grabs)."""

from __future__ import annotations

import numpy as np
import mss


class ScreenGrabber:
    """Grabs screen rectangles as (H, W, 4) BGRA uint8 arrays (no copy)."""

    channel_order = "bgra"

    def __init__(self):
        factory = getattr(mss, "MSS", None) or mss.mss
        self.sct = factory()
        mon = self.sct.monitors[0]
        self.screen = (mon["left"], mon["top"], mon["width"], mon["height"])

    def clip(self, rect: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """Clip a rectangle to the screen (a window partly off-screen is grabbed where visible)."""
        x, y, w, h = rect
        sx, sy, sw, sh = self.screen
        x0, y0 = max(x, sx), max(y, sy)
        x1, y1 = min(x + w, sx + sw), min(y + h, sy + sh)
        return (x0, y0, max(1, x1 - x0), max(1, y1 - y0))

    def grab(self, rect: tuple[int, int, int, int]) -> np.ndarray:
        x, y, w, h = self.clip(rect)
        shot = self.sct.grab({"left": x, "top": y, "width": w, "height": h})
        return np.asarray(shot)

    def close(self) -> None:
        self.sct.close()
