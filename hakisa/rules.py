"""Reward and done read from the screen, as declared in a profile's [rules].

Like stable-retro's scenario files, but on pixels: named regions (fractions of
the captured area), extractors that read one number from a region, reward as a
weighted change of extractor values, done as conditions on them.
"""

from __future__ import annotations

import operator

import cv2
import numpy as np

from hakisa.profile import Condition, Extractor, RulesSpec

_OPS = {">=": operator.ge, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
        ">": operator.gt, "<": operator.lt}


class RuleEngine:
    """Evaluates a profile's extractors on full-resolution captured frames."""

    def __init__(self, rules: RulesSpec, channel_order: str = "rgb"):
        self.rules = rules
        self.channel_order = channel_order
        self.active = bool(rules.extractors)

    def _crop(self, frame: np.ndarray, region: str, max_pixels: int = 40_000) -> np.ndarray:
        """The region's pixels, sampled on a regular grid of at most ``max_pixels`` (cost stays flat)."""
        x, y, w, h = self.rules.regions[region]
        fh, fw = frame.shape[:2]
        x0, y0 = int(round(x * fw)), int(round(y * fh))
        x1, y1 = max(x0 + 1, int(round((x + w) * fw))), max(y0 + 1, int(round((y + h) * fh)))
        step = max(1, int(((x1 - x0) * (y1 - y0) / max_pixels) ** 0.5))
        crop = frame[y0:y1:step, x0:x1:step]
        return crop if step == 1 else np.ascontiguousarray(crop)

    def _match(self, crop: np.ndarray, ex: Extractor) -> np.ndarray:
        """uint8 mask (255 where every channel is within ``tolerance`` of the colour)."""
        r, g, b = ex.color
        ref = (b, g, r) if self.channel_order == "bgra" else (r, g, b)
        lo = [max(0, c - ex.tolerance) for c in ref]
        hi = [min(255, c + ex.tolerance) for c in ref]
        if crop.shape[2] == 4:  # ignore alpha
            lo, hi = lo + [0], hi + [255]
        return cv2.inRange(crop, np.asarray(lo, np.uint8), np.asarray(hi, np.uint8))

    def extract(self, frame: np.ndarray) -> dict[str, float]:
        """Read every extractor from one frame: ``{name: value}``."""
        out: dict[str, float] = {}
        for name, ex in self.rules.extractors.items():
            hit = self._match(self._crop(frame, ex.region), ex)
            if ex.kind == "color":
                out[name] = cv2.countNonZero(hit) / hit.size
            else:  # bar: fraction of columns (x) or rows (y) that are mostly the bar's colour
                filled = cv2.reduce(hit, 0 if ex.axis == "x" else 1, cv2.REDUCE_AVG) >= 128
                out[name] = float(filled.mean())
        return out

    def reward(self, before: dict[str, float] | None, after: dict[str, float]) -> float:
        """Weighted change of the extractors between two frames (0 for the first frame)."""
        if before is None:
            return 0.0
        return float(sum(w * (after[n] - before[n]) for n, w in self.rules.reward.items()))

    @staticmethod
    def _holds(c: Condition, values: dict[str, float]) -> bool:
        return bool(_OPS[c.op](values[c.extractor], c.value))

    def done(self, values: dict[str, float]) -> bool:
        """True if any ``done.any`` condition holds or every ``done.all`` condition does."""
        if any(self._holds(c, values) for c in self.rules.done_any):
            return True
        return bool(self.rules.done_all) and all(self._holds(c, values) for c in self.rules.done_all)
