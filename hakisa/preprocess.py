"""The one frame-preprocessing function: record, study, explore and play all call it."""

from __future__ import annotations

import cv2
import numpy as np


def preprocess_frame(frame: np.ndarray, width: int, height: int, color: str,
                     channel_order: str = "rgb") -> np.ndarray:
    """Resize a captured frame to the stored observation (height, width, C) uint8.

    ``frame`` is (H, W, 3 or 4) uint8 in ``channel_order`` "rgb" (games, datasets)
    or "bgra" (mss).  Area interpolation keeps thin sprites and digits from
    vanishing; colour conversion runs after the resize, on the small image.
    ``color`` is "rgb" (3 channels) or "gray" (1 channel).
    """
    if frame.ndim != 3 or frame.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H, W, 3|4) frame, got shape {frame.shape}")
    small = _area_resize(frame, width, height)
    if channel_order == "bgra":
        code = cv2.COLOR_BGRA2GRAY if color == "gray" else cv2.COLOR_BGRA2RGB
        small = cv2.cvtColor(small, code) if small.shape[2] == 4 else cv2.cvtColor(
            small, cv2.COLOR_BGR2GRAY if color == "gray" else cv2.COLOR_BGR2RGB)
    elif channel_order == "rgb":
        if small.shape[2] == 4:
            small = small[:, :, :3]
        if color == "gray":
            small = cv2.cvtColor(np.ascontiguousarray(small), cv2.COLOR_RGB2GRAY)
    else:
        raise ValueError(f"channel_order must be 'rgb' or 'bgra', got {channel_order!r}")
    if small.ndim == 2:
        small = small[:, :, None]
    return np.ascontiguousarray(small)


def _area_resize(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Area-average resize; shrinks by a whole factor first (OpenCV's fast path), then the rest."""
    h, w = frame.shape[:2]
    if (h, w) == (height, width):
        return np.ascontiguousarray(frame)
    k = min(w // width, h // height)
    if k >= 2:
        frame = cv2.resize(frame, (w // k, h // k), interpolation=cv2.INTER_AREA)
        if frame.shape[:2] == (height, width):
            return frame
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)


def observation(frame: np.ndarray, capture, channel_order: str = "rgb") -> np.ndarray:
    """The stored observation of a captured frame under a profile's ``[capture]``: its ``observe`` part (all of the
    frame by default), resized and converted by :func:`preprocess_frame`."""
    if capture.observe is not None:
        H, W = frame.shape[:2]
        x, y, w, h = capture.observe
        x0, y0 = int(round(x * W)), int(round(y * H))
        x1, y1 = max(x0 + 1, int(round((x + w) * W))), max(y0 + 1, int(round((y + h) * H)))
        frame = frame[y0:y1, x0:x1]
    return preprocess_frame(frame, capture.frame_width, capture.frame_height, capture.color, channel_order)
