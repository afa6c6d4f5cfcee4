"""`hakisa regions`: see what a profile's rules read on a screenshot, name new regions, learn digits.

Pure functions on an RGB screenshot of the captured area; the CLI grabs the
screenshot from the live window when none is given.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from hakisa.errors import HakisaError
from hakisa.profile import GLYPH_H, GLYPH_W, Profile
from hakisa.screen.rules import DigitReader, RuleEngine, bitmap_to_text, equal_split, glyph_bitmap, split_glyphs, text_to_bitmap, trim

_PALETTE = [(255, 200, 0), (0, 220, 255), (255, 90, 200), (120, 255, 120), (255, 140, 60), (180, 140, 255)]


def num(v: float) -> str:
    """A reading for people: whole numbers in full (a score of 9876543210, not 9.877e+09), else 4 digits."""
    v = float(v)
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else f"{v:.4g}"


def read_rules(profile: Profile, shot: np.ndarray) -> dict[str, float]:
    """Every extractor's value on one RGB screenshot."""
    return RuleEngine(profile, "rgb").extract(shot, now=0.0)


def describe(profile: Profile, shot: np.ndarray) -> str:
    """Text table: regions in pixels, each extractor's reading, reward weights and done conditions."""
    eng = RuleEngine(profile, "rgb")
    values = eng.extract(shot, now=0.0)
    h, w = shot.shape[:2]
    lines = [f"screenshot {w}x{h}", "regions (pixels x0,y0 - x1,y1):"]
    for name in profile.rules.regions:
        x0, y0, x1, y1 = eng.box(shot.shape, name)
        lines.append(f"  {name:<16} {x0:>5},{y0:<5} - {x1:>5},{y1:<5}")
    lines.append("extractors:")
    for name, ex in profile.rules.extractors.items():
        v = values[name]
        extra = ""
        if ex.kind == "digits" and not ex.glyphs:
            extra = "  (no glyphs yet: run with --learn NAME=VALUE)"
        shown = "unreadable" if isinstance(v, float) and math.isnan(v) else num(v)
        lines.append(f"  {name:<16} {ex.kind:<7} on {ex.region:<14} = {shown}{extra}")
    if profile.rules.reward:
        r = profile.rules
        lines.append("reward = " + " + ".join(f"{w:g} x {'rise' if n in r.rises else 'change'}({n})"
                                              for n, w in r.reward.items())
                     + (f", clipped to +-{r.reward_clip:g} per step" if r.reward_clip > 0 else ""))
    conds = [c.text for c in profile.rules.done_any]
    if conds:
        lines.append(f"done if any of: {', '.join(conds)} -> {eng.done(values)}")
    if profile.rules.done_all:
        lines.append(f"done if all of: {', '.join(c.text for c in profile.rules.done_all)} -> {eng.done(values)}")
    return "\n".join(lines)


def annotate(profile: Profile, shot: np.ndarray, extra: dict[str, tuple[float, float, float, float]] | None = None
             ) -> np.ndarray:
    """The screenshot with each region outlined and labelled with its extractors' readings (RGB)."""
    eng = RuleEngine(profile, "rgb")
    values = eng.extract(shot, now=0.0)
    img = shot.copy()
    regions = dict(profile.rules.regions)
    regions.update(extra or {})
    for i, (name, frac) in enumerate(regions.items()):
        color = _PALETTE[i % len(_PALETTE)]
        h, w = img.shape[:2]
        x0, y0 = int(round(frac[0] * w)), int(round(frac[1] * h))
        x1, y1 = int(round((frac[0] + frac[2]) * w)) - 1, int(round((frac[1] + frac[3]) * h)) - 1
        cv2.rectangle(img, (x0, y0), (x1, y1), color, 1)
        reads = [f"{n}={values[n]:.6g}" for n, e in profile.rules.extractors.items() if e.region == name]
        label = name + (": " + " ".join(reads) if reads else "")
        ty = y1 + 14 if y0 < 14 else y0 - 4
        cv2.putText(img, label, (x0 + 2, ty), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(img, label, (x0 + 2, ty), cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, 1, cv2.LINE_AA)
    return img


def region_fraction(box: tuple[int, int, int, int], size: tuple[int, int]) -> tuple[float, float, float, float]:
    """A pixel box (x, y, w, h) in a screenshot of ``size`` (w, h) as the profile's fractions."""
    x, y, bw, bh = box
    w, h = size
    if bw <= 0 or bh <= 0 or x < 0 or y < 0 or x + bw > w or y + bh > h:
        raise HakisaError(f"region {box} is not inside the {w}x{h} screenshot; give x,y,width,height in its pixels.")
    return (round(x / w, 4), round(y / h, 4), round(bw / w, 4), round(bh / h, 4))


SOLID_GLYPH = 0.9  # a learnt glyph with more ink than this share is a block (a border, a background), not a digit


def learn_glyphs(profile: Profile, shot: np.ndarray, extractor: str, value: str,
                 known: dict[str, str] | None = None) -> dict[str, str]:
    """Glyph templates for ``extractor`` (a digits extractor) from a screenshot that shows ``value``.

    The rightmost word in the region with as many glyphs as ``value`` has digits is taken; its glyphs
    join ``known`` (by default the extractor's templates in the profile; new ones replace old ones), so
    several screenshots together can teach all ten digits. Returns digit -> bitmap text."""
    ex = profile.rules.extractors.get(extractor)
    if ex is None or ex.kind != "digits":
        digits = [n for n, e in profile.rules.extractors.items() if e.kind == "digits"]
        known = ", ".join(digits) or 'none; add one with kind = "digits"'
        raise HakisaError(f"--learn {extractor}={value}: {extractor!r} is not a digits extractor of the profile "
                          f"(digits extractors: {known}).")
    if not value.isdigit():
        raise HakisaError(f"--learn {extractor}={value}: give the number the screenshot shows, digits only.")
    eng = RuleEngine(profile, "rgb")
    mask = eng._match(eng._crop(shot, ex.region, None), ex) > 0
    # the rightmost word whose ink splits into len(value) glyphs (touching glyphs cut by width)
    pieces = None
    for word in reversed(split_glyphs(mask)):
        total = sum(b[2] for b in word)
        counts = [max(1, round(len(value) * b[2] / total)) for b in word]
        if sum(counts) == len(value):
            pieces = [p for b, k in zip(word, counts) for p in equal_split(b, k)]
            break
    if pieces is None:
        raise HakisaError(f"--learn {extractor}={value}: no word in region {ex.region!r} (colour {' or '.join(str(list(c)) for c in ex.colors)}, "
                          f"tolerance {ex.tolerance}) splits into {len(value)} glyphs. Check the region and colour "
                          "with `hakisa regions --out shot.png`, or use a screenshot that shows the number.")
    glyphs = dict(ex.glyphs) if known is None else dict(known)
    for digit, box in zip(value, pieces):
        x, y, w, h = trim(mask, box)
        bitmap = glyph_bitmap(mask[y:y + h, x:x + w])
        if bitmap.mean() > SOLID_GLYPH:
            raise HakisaError(f"--learn {extractor}={value}: the glyph for {digit!r} is a solid block "
                              f"({100 * bitmap.mean():.0f}% ink): region {ex.region!r} catches something of the "
                              f"digits' colour besides them (a border, a bright background). Shrink the region to "
                              "the number, or raise the colour's contrast with a smaller tolerance; `hakisa regions "
                              "--out shot.png` draws the region.")
        glyphs[digit] = bitmap_to_text(bitmap)
    return dict(sorted(glyphs.items()))


def read_with(profile: Profile, shot: np.ndarray, extractor: str, glyphs: dict[str, str]) -> float:
    """What ``extractor`` reads on ``shot`` with the templates ``glyphs`` (NaN: unreadable)."""
    ex = profile.rules.extractors[extractor]
    eng = RuleEngine(profile, "rgb")
    mask = eng._match(eng._crop(shot, ex.region, None), ex) > 0
    return DigitReader(tuple(sorted(glyphs.items()))).read(mask)


def show_glyphs(glyphs: dict[str, str]) -> str:
    """Every glyph drawn with '#', side by side, with its digit above it."""
    drawn = [show_glyph(b).split("\n") for b in glyphs.values()]
    head = "  ".join(f"{d:<{GLYPH_W}}" for d in glyphs)
    rows = ["  ".join(g[i] for g in drawn) for i in range(GLYPH_H)]
    return "\n".join([head, *rows])


def glyphs_toml(extractor: str, glyphs: dict[str, str]) -> str:
    """The TOML table to paste into the profile (replacing an older one)."""
    return f"[rules.extractors.{extractor}.glyphs]\n" + "\n".join(f'"{d}" = "{b}"' for d, b in glyphs.items())


def show_glyph(text: str) -> str:
    """A glyph bitmap drawn with '#' for humans."""
    return "\n".join("".join("#" if v else "." for v in row) for row in text_to_bitmap(text))


def load_screenshot(path: str | Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise HakisaError(f"cannot read screenshot {str(path)!r}: give a PNG or JPEG file.")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def save_image(path: str | Path, rgb: np.ndarray) -> None:
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise HakisaError(f"cannot write {str(path)!r}; check the folder exists and the name ends in .png.")


def diagnose(profile: Profile, frames: list[np.ndarray], times: list[float] | None = None) -> tuple[str, list[str]]:
    """What every extractor and the done and pause rules read over many frames of the game (RGB), and which of
    them read nothing useful: always the same value, a colour always filling its region, digits unreadable on
    most frames, a done or pause rule that holds on most of them. Returns (report, warnings)."""
    eng = RuleEngine(profile, "rgb")
    rows = [eng.extract(f, None if times is None else t) for f, t in zip(frames, times or [None] * len(frames))]
    return diagnose_rows(profile, rows)


def diagnose_rows(profile: Profile, rows: list[dict[str, float]], where: list[str] | None = None,
                  shown: list[tuple[str, int]] | None = None) -> tuple[str, list[str]]:
    """:func:`diagnose` on readings already made (one dict per frame: a recording's stored readings); ``where``
    names each frame (e.g. ``ep_000003 obs 120``) so a warning can point at examples, and ``shown`` (a list) gets
    ``(what, frame index)`` for up to three example frames of each warning."""
    from hakisa.screen.rules import RuleLogic

    eng = RuleLogic(profile.rules)
    n = len(rows)

    def examples(mask, what: str) -> str:
        hits = np.flatnonzero(mask)
        idx = hits[np.unique(np.linspace(0, len(hits) - 1, 3).astype(int))] if len(hits) else hits  # spread out
        if shown is not None:
            shown.extend((what, int(i)) for i in idx)
        if where is None or not len(idx):
            return ""
        return f" (e.g. {', '.join(where[i] for i in idx)})"

    lines = [f"{n} frames: {'extractor':<16} {'kind':<7} {'min':>11} {'max':>11} {'values':>7} {'unreadable':>10}"]
    warnings: list[str] = []
    for name, ex in profile.rules.extractors.items():
        if rows and name not in rows[0]:
            continue  # not recorded
        v = np.array([r[name] for r in rows], float)
        ok = v[np.isfinite(v)]
        nan_share = 1 - len(ok) / max(1, n)
        lo, hi = (num(ok.min()), num(ok.max())) if len(ok) else ("-", "-")
        lines.append(f"{'':<{len(str(n)) + 8}}{name:<16} {ex.kind:<7} {lo:>11} {hi:>11} {len(np.unique(ok)):>7} "
                     f"{100 * nan_share:>9.0f}%")
        if nan_share > 0.5:
            eg = examples(~np.isfinite(v), name + " unreadable")
            warnings.append(f"{name}: unreadable on {100 * nan_share:.0f}% of the frames{eg}: "
                            "check its region, colour and tolerance (`--out` draws the region), and its glyphs "
                            "(`--learn`)")
        elif len(ok) and ok.min() == ok.max():
            examples(np.isfinite(v), f"{name} = {num(ok.min())}")
            warnings.append(f"{name}: always {num(ok.min())} on all {n} frames: it reads nothing that changes "
                            "(the region may miss what it should watch, or the colour never appears)")
        elif ex.kind in ("color", "bar") and len(ok) and ok.min() > 0.95:
            examples(np.isfinite(v), f"{name} fills its region")
            warnings.append(f"{name}: at least {ok.min():.2f} on every frame: the colour fills its region, so a "
                            "background of that colour is probably inside it")
    for what, has, test in (("done", profile.rules.has_done, eng.done), ("pause", profile.rules.has_pause, eng.paused)):
        if has and n:
            try:
                holds = np.array([test(r) for r in rows])
            except KeyError as exc:  # a rule on an extractor the recording does not hold
                lines.append(f"  {what}: reads {exc}, which was not recorded")
                continue
            share = float(holds.mean())
            eg = examples(holds, what + " holds") if share > 0.5 else ""
            lines.append(f"  {what} holds on {100 * share:.0f}% of the frames")
            if share > 0.5:
                warnings.append(f"the {what} rule holds on {100 * share:.0f}% of the frames{eg}: check "
                                "its thresholds while the game is being played")
    return "\n".join(lines), warnings


def recording_rows(path, profile: Profile) -> tuple[list[dict[str, float]], list[str], list[tuple[str, int]], list[str]]:
    """A recording's stored readings of the extractors ``profile`` reads as it read them when recording: one dict per
    observation, its name (``ep_000003 obs 120``), where to find its frame (episode, index), and notes on the
    extractors left out (not recorded, or reading something else now)."""
    from hakisa.data.dataset import DatasetReader
    from hakisa.data.relabel import json_equal

    rows, where, at, notes = [], [], [], []
    with DatasetReader(path) as r:
        if not r.extractors:
            raise HakisaError(f"{path} was recorded before hakisa stored each frame's extractor readings; diagnose a "
                              "live window with --watch or screenshots with --screenshot instead.")
        cols = {}
        for n in profile.rules.extractors:
            if n not in r.extractors:
                notes.append(f"{n}: not recorded in {path}")
            elif not json_equal(profile.extractor_signature(n), r.extractor_signatures.get(n, {})):
                notes.append(f"{n}: reads something else now than when {path} was recorded; left out")
            else:
                cols[n] = r.extractors.index(n)
        for name in r.episode_names():
            if r.info(name).status == "broken":
                notes.append(f"{name} is damaged and left out")
                continue
            ep = r.load(name, frames=False)
            if "readings" not in ep:
                continue
            for i, row in enumerate(ep["readings"].tolist()):
                rows.append({n: row[c] for n, c in cols.items()})
                where.append(f"{name} obs {i}")
                at.append((name, i))
    return rows, where, at, notes


def example_sheet(path, picks: list[tuple[str, tuple[str, int]]], width: int = 168) -> np.ndarray:
    """The recorded frames of ``picks`` (label, (episode, index)) side by side, each labelled (RGB)."""
    from hakisa.data.dataset import DatasetReader

    tiles = []
    with DatasetReader(path) as r:
        for label, (name, i) in picks:
            f = np.asarray(r.f["episodes"][name]["observations"][i])
            f = np.repeat(f, 3, axis=2) if f.shape[2] == 1 else f
            h = int(round(f.shape[0] * width / f.shape[1]))
            tile = cv2.resize(f, (width, h), interpolation=cv2.INTER_NEAREST)
            tile = np.vstack([np.zeros((30, width, 3), np.uint8), tile])
            cv2.putText(tile, label[:26], (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 200, 0), 1, cv2.LINE_AA)
            cv2.putText(tile, f"{name} obs {i}", (3, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (200, 200, 200), 1,
                        cv2.LINE_AA)
            tiles.append(tile)
    rows = [np.hstack(tiles[k:k + 6] + [np.zeros_like(tiles[0])] * (6 - len(tiles[k:k + 6])))
            for k in range(0, len(tiles), 6)]
    return np.vstack(rows)
