"""Reward and done read from the screen, as declared in a profile's [rules].

Like stable-retro's scenario files, but on pixels: named regions (fractions of
the captured area), extractors that read one number from a region, reward as a
weighted change of extractor values (changes of the ``rises`` extractors count only
upwards; a step's total clipped to ``reward_clip``), done as conditions on them joined by
any/all, nested.

Every colour may be a list of colours: a pixel near any of them matches (a palette that
fades from day to night).

Extractors:

* ``color``: fraction of the region's pixels within ``tolerance`` of ``color``
  (a game-over screen, a lit life icon);
* ``count``: how many separate items of ``color`` the region shows (blobs of at least
  ``min_size`` pixels: lives as a number);
* ``bar``: fill fraction of a bar of ``color`` along ``axis`` (health);
* ``digits``: a number drawn in ``color``, read by matching each glyph against
  8x12 templates learnt from a screenshot (`hakisa regions --learn`); NaN when
  nothing readable is there;
* ``image``: how well a template image matches anywhere in the region
  (normalised correlation, 0..1);
* ``stuck``: seconds since the region last changed: some pixel of its 32x32 thumbnail
  moved by more than ``tolerance`` grey levels (for games that freeze or idle).
"""

from __future__ import annotations

import math
import operator
import time

import cv2
import numpy as np

from hakisa.errors import ProfileError
from hakisa.profile import GLYPH_H, GLYPH_W, Condition, Extractor, Profile, RulesSpec, AnyAll

_OPS = {">=": operator.ge, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
        ">": operator.gt, "<": operator.lt}

MAX_GLYPH_DISTANCE = 0.2  # share of a glyph's 96 cells that may differ from its template


def glyph_bitmap(mask: np.ndarray) -> np.ndarray:
    """One glyph's binary mask (cropped to its ink) -> bool (GLYPH_H, GLYPH_W) bitmap."""
    small = cv2.resize(mask.astype(np.float32), (GLYPH_W, GLYPH_H), interpolation=cv2.INTER_AREA)
    return small >= 0.5


def bitmap_to_text(b: np.ndarray) -> str:
    return "/".join("".join("1" if v else "0" for v in row) for row in b)


def text_to_bitmap(t: str) -> np.ndarray:
    return np.array([[c == "1" for c in row] for row in t.split("/")], bool)


def split_glyphs(mask: np.ndarray) -> list[list[tuple[int, int, int, int]]]:
    """Glyph boxes (x, y, w, h) in a binary text mask, grouped into words, left to right.

    A glyph is a connected blob of ink (blobs stacked above each other, like the parts of
    a "%" or an "i", are one glyph); words are split where the gap is wider than a third of
    the text height (the space in "SCORE 120")."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    blobs = sorted((int(x), int(y), int(w), int(h)) for x, y, w, h, _ in stats[1:n])
    boxes: list[list[int]] = []
    for x, y, w, h in blobs:
        if boxes:
            bx, by, bw, bh = boxes[-1]
            overlap = min(bx + bw, x + w) - max(bx, x)
            if overlap > 0.5 * min(bw, w):  # same column: one glyph
                x0, y0 = min(bx, x), min(by, y)
                boxes[-1] = [x0, y0, max(bx + bw, x + w) - x0, max(by + bh, y + h) - y0]
                continue
        boxes.append([x, y, w, h])
    if not boxes:
        return []
    height = max(b[3] for b in boxes)
    words, word = [], [tuple(boxes[0])]
    for prev, box in zip(boxes, boxes[1:]):
        if box[0] - (prev[0] + prev[2]) > height / 3:
            words.append(word)
            word = []
        word.append(tuple(box))
    words.append(word)
    return words


def equal_split(box: tuple[int, int, int, int], k: int) -> list[tuple[int, int, int, int]]:
    """Cut a box into ``k`` equally wide boxes (digits that touch in the game's font)."""
    x, y, w, h = box
    cuts = [x + round(i * w / k) for i in range(k + 1)]
    return [(a, y, b - a, h) for a, b in zip(cuts, cuts[1:]) if b > a]


def trim(mask: np.ndarray, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """Shrink a box to the ink inside it."""
    x, y, w, h = box
    sub = mask[y:y + h, x:x + w]
    cols, rows = np.flatnonzero(sub.any(axis=0)), np.flatnonzero(sub.any(axis=1))
    if not len(cols):
        return box
    return (x + int(cols[0]), y + int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))


class DigitReader:
    """Reads a number by template-matching each glyph (fast: well under a millisecond for a score box)."""

    def __init__(self, glyphs: tuple[tuple[str, str], ...]):
        self.digits = [d for d, _ in glyphs]
        self.templates = np.array([text_to_bitmap(t).reshape(-1) for _, t in glyphs], bool).reshape(
            len(glyphs), GLYPH_W * GLYPH_H)

    def _match(self, mask: np.ndarray, box: tuple[int, int, int, int]) -> tuple[str, float]:
        x, y, w, h = trim(mask, box)
        b = glyph_bitmap(mask[y:y + h, x:x + w]).reshape(-1)
        dist = (self.templates != b).mean(axis=1)
        i = int(np.argmin(dist))
        return self.digits[i], float(dist[i])

    def read_blob(self, mask: np.ndarray, box: tuple[int, int, int, int]) -> str | None:
        """The digits in one blob of ink: one glyph, or several that touch (cut into equal widths,
        the number of cuts that matches the templates best)."""
        if not self.digits:
            return None
        best, best_d = None, MAX_GLYPH_DISTANCE
        for k in range(1, max(1, int(box[2] / (0.3 * box[3]))) + 1):
            parts = [self._match(mask, part) for part in equal_split(box, k)]
            d = max(p[1] for p in parts)
            if d <= best_d:
                best, best_d = "".join(p[0] for p in parts), d
        return best

    def read(self, mask: np.ndarray) -> float:
        """The rightmost word made only of known digits, as a number (NaN if none)."""
        for word in reversed(split_glyphs(mask)):
            chars = [self.read_blob(mask, box) for box in word]
            if all(c is not None for c in chars):
                return float(int("".join(chars)))
        return math.nan


class RuleLogic:
    """A profile's reward, done and pause rules on extractor readings (no pixels): what the live loops use
    on each frame and what relabelling uses on readings stored in a dataset."""

    def __init__(self, rules: RulesSpec):
        self.rules = rules

    def reward(self, before: dict[str, float] | None, after: dict[str, float]) -> float:
        """Weighted change of the extractors between two frames (0 for the first frame; an
        unreadable value, NaN, changes nothing; a ``rises`` extractor's drop counts 0), clipped to
        +-``reward_clip`` when that is set."""
        if before is None:
            return 0.0
        total = 0.0
        rises = self.rules.rises
        for n, w in self.rules.reward.items():
            d = after[n] - before[n]
            if math.isfinite(d):
                total += w * (max(d, 0.0) if n in rises else d)
        clip = self.rules.reward_clip
        return float(min(max(total, -clip), clip) if clip > 0 else total)

    @classmethod
    def holds(cls, c: Condition | AnyAll, values: dict[str, float]) -> bool:
        """Whether condition (or nested test) ``c`` holds for the extractor readings ``values``."""
        if isinstance(c, AnyAll):
            test = any if c.mode == "any" else all
            return test(cls.holds(i, values) for i in c.items)
        return bool(_OPS[c.op](values[c.extractor], c.value))

    @classmethod
    def _any_or_all(cls, any_of: tuple, all_of: tuple, values: dict[str, float]) -> bool:
        """True if any item of ``any_of`` holds or every item of ``all_of`` (non-empty) does."""
        if any(cls.holds(c, values) for c in any_of):
            return True
        return bool(all_of) and all(cls.holds(c, values) for c in all_of)

    def paused(self, values: dict[str, float]) -> bool:
        """True if the game shows its pause rule: any ``pause.any`` condition or every ``pause.all`` one."""
        return self._any_or_all(self.rules.pause_any, self.rules.pause_all, values)

    def done(self, values: dict[str, float]) -> bool:
        """True if any ``done.any`` condition holds or every ``done.all`` condition does (each item a condition
        or a nested any/all test)."""
        return self._any_or_all(self.rules.done_any, self.rules.done_all, values)


class RuleEngine(RuleLogic):
    """Evaluates a profile's extractors on full-resolution captured frames."""

    def __init__(self, rules: RulesSpec | Profile, channel_order: str = "rgb"):
        profile = rules if isinstance(rules, Profile) else None
        super().__init__(profile.rules if profile else rules)
        self.channel_order = channel_order
        self.active = bool(self.rules.extractors)
        self._digits = {n: DigitReader(e.glyphs) for n, e in self.rules.extractors.items() if e.kind == "digits"}
        self._images: dict[str, np.ndarray] = {}
        for n, e in self.rules.extractors.items():
            if e.kind == "image":
                path = profile.resolve(e.image) if profile else None
                img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) if path is not None and path.is_file() else None
                if img is None:
                    raise ProfileError(f"rules.extractors.{n}.image: cannot read {e.image!r}"
                                       + (f" (looked for {path})" if path else "")
                                       + "; give an image file (PNG) next to the profile, e.g. one cut from "
                                       "`hakisa regions --screenshot`.")
                self._images[n] = img
        self._stuck: dict[str, tuple[np.ndarray | None, float]] = {}
        self._last_digits: dict[str, tuple[np.ndarray, float]] = {}  # a score changes rarely: reuse its read

    def reset(self) -> None:
        """Forget state kept between frames (the stuck timers), e.g. at a new episode."""
        self._stuck.clear()

    def box(self, frame_shape: tuple[int, ...], region: str) -> tuple[int, int, int, int]:
        """A region's pixel box (x0, y0, x1, y1) in a frame of ``frame_shape``."""
        x, y, w, h = self.rules.regions[region]
        fh, fw = frame_shape[:2]
        x0, y0 = int(round(x * fw)), int(round(y * fh))
        return x0, y0, max(x0 + 1, int(round((x + w) * fw))), max(y0 + 1, int(round((y + h) * fh)))

    def _crop(self, frame: np.ndarray, region: str, max_pixels: int | None = 40_000) -> np.ndarray:
        """The region's pixels, sampled on a regular grid of at most ``max_pixels`` (cost stays flat)."""
        x0, y0, x1, y1 = self.box(frame.shape, region)
        step = 1 if max_pixels is None else max(1, int(((x1 - x0) * (y1 - y0) / max_pixels) ** 0.5))
        crop = frame[y0:y1:step, x0:x1:step]
        return crop if step == 1 else np.ascontiguousarray(crop)

    def _match(self, crop: np.ndarray, ex: Extractor) -> np.ndarray:
        """uint8 mask (255 where every channel is within ``tolerance`` of one of the colours)."""
        mask = None
        for r, g, b in ex.colors:
            ref = (b, g, r) if self.channel_order == "bgra" else (r, g, b)
            lo = [max(0, c - ex.tolerance) for c in ref]
            hi = [min(255, c + ex.tolerance) for c in ref]
            if crop.shape[2] == 4:  # ignore alpha
                lo, hi = lo + [0], hi + [255]
            hit = cv2.inRange(crop, np.asarray(lo, np.uint8), np.asarray(hi, np.uint8))
            mask = hit if mask is None else cv2.bitwise_or(mask, hit)
        return mask

    def _gray(self, crop: np.ndarray) -> np.ndarray:
        code = cv2.COLOR_BGRA2GRAY if crop.shape[2] == 4 else (
            cv2.COLOR_BGR2GRAY if self.channel_order.startswith("bgr") else cv2.COLOR_RGB2GRAY)
        return cv2.cvtColor(np.ascontiguousarray(crop), code)

    def extract(self, frame: np.ndarray, now: float | None = None) -> dict[str, float]:
        """Read every extractor from one frame: ``{name: value}``."""
        out: dict[str, float] = {}
        for name, ex in self.rules.extractors.items():
            if ex.kind == "color":
                hit = self._match(self._crop(frame, ex.region), ex)
                out[name] = cv2.countNonZero(hit) / hit.size
            elif ex.kind == "bar":  # fraction of columns (x) or rows (y) that are mostly the bar's colour
                hit = self._match(self._crop(frame, ex.region), ex)
                filled = cv2.reduce(hit, 0 if ex.axis == "x" else 1, cv2.REDUCE_AVG) >= 128
                out[name] = float(filled.mean())
            elif ex.kind == "count":
                hit = self._match(self._crop(frame, ex.region, None), ex)
                n, _, stats, _ = cv2.connectedComponentsWithStats(hit, connectivity=8)
                out[name] = float((stats[1:n, cv2.CC_STAT_AREA] >= ex.min_size).sum())
            elif ex.kind == "digits":
                hit = self._match(self._crop(frame, ex.region, None), ex)
                last = self._last_digits.get(name)
                if last is not None and last[0].shape == hit.shape and np.array_equal(last[0], hit):
                    out[name] = last[1]
                else:
                    out[name] = self._digits[name].read(hit > 0)
                    self._last_digits[name] = (hit, out[name])
            elif ex.kind == "image":
                gray = self._gray(self._crop(frame, ex.region, None))
                tpl = self._images[name]
                if gray.shape[0] < tpl.shape[0] or gray.shape[1] < tpl.shape[1]:
                    out[name] = 0.0
                else:
                    res = cv2.matchTemplate(gray, tpl, cv2.TM_CCOEFF_NORMED)
                    out[name] = float(max(0.0, np.nan_to_num(res).max()))
            else:  # stuck
                t = time.monotonic() if now is None else now
                small = cv2.resize(self._gray(self._crop(frame, ex.region)), (32, 32), interpolation=cv2.INTER_AREA)
                last, since = self._stuck.get(name, (None, t))
                if last is None or int(cv2.absdiff(small, last).max()) > ex.tolerance:
                    self._stuck[name] = (small, t)
                    since = t
                out[name] = float(t - since)
        return out
