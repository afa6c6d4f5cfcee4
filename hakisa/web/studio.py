"""`hakisa studio`: a local web page for making a game's profile.

The page (``static/studio.*``, no build step) shows the live game window or screenshots; the person draws
and names regions with the mouse, sets each extractor's kind, colours and tolerance while its reading
updates, teaches digits by typing the number a screenshot shows (the learnt glyphs are drawn, and a colour
and tolerance that read every labelled screenshot are suggested), tries the reward, done and pause rules
on a few seconds of the live window (or on the screenshots in order) as curves, and saves the TOML profile.

:class:`Studio` is the state and the work, as plain methods on JSON-shaped data (tested without a
browser); :func:`serve` puts it behind an HTTP server bound to 127.0.0.1 by default.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np

from hakisa.errors import HakisaError
from hakisa.profile import Profile, parse_profile
from hakisa.resources import check_writable
from hakisa.screen.regions import diagnose_rows, learn_glyphs, read_with
from hakisa.screen.rules import RuleEngine
from hakisa.web.draft import rules_of, with_rules
from hakisa.web.server import Raw, handler, make_server

MAX_SHOTS = 64
TOLERANCES = (12, 24, 40, 64, 96)


def _finite(v: float) -> float | None:
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


class Studio:
    """What the page works on: the profile it started from, the screenshots, and the live window if any."""

    def __init__(self, base: Profile, out: str | Path, shots: list[np.ndarray] | None = None,
                 names: list[str] | None = None, grab=None):
        self.base, self.out = base, Path(out)
        self.shots: list[np.ndarray] = list(shots or [])
        self.names = list(names or [f"screenshot {i + 1}" for i in range(len(self.shots))])
        self.grab = grab  # () -> RGB frame of the live window, or None without one
        self.live_frame: np.ndarray | None = None  # the live frame the page shows
        self.lock = threading.Lock()

    # ----- state --------------------------------------------------------------------------------------
    def state(self) -> dict:
        return {"profile": self.base.source, "game": self.base.name, "out": str(self.out), "live": self.grab is not None,
                "rules": rules_of(self.base.text), "tick_hz": self.base.capture.tick_hz,
                "shots": [self._shot_info(i) for i in range(len(self.shots))]}

    def _shot_info(self, i: int) -> dict:
        h, w = self.shots[i].shape[:2]
        return {"id": i, "name": self.names[i], "width": w, "height": h}

    def shot(self, key: str) -> np.ndarray:
        """Screenshot ``key`` (its number, or ``live`` for a fresh grab of the window)."""
        if key == "live":  # the frame the page shows (the latest grabbed), so readings and teaching match it
            if self.live_frame is None:
                self.grab_live()
            return self.live_frame
        try:
            return self.shots[int(key)]
        except (ValueError, IndexError):
            raise HakisaError(f"there is no screenshot {key!r} (there are {len(self.shots)}).") from None

    def grab_live(self) -> np.ndarray:
        """A fresh frame of the live window (it becomes the one the page shows)."""
        if self.grab is None:
            raise HakisaError("there is no live window: start the studio with the game running (without "
                              "--screenshot), or use the screenshots.")
        with self.lock:
            self.live_frame = self.grab()
        return self.live_frame

    def snapshot(self) -> dict:
        """Keep the live window's frame the page shows as a new screenshot."""
        if len(self.shots) >= MAX_SHOTS:
            raise HakisaError(f"the studio keeps at most {MAX_SHOTS} screenshots.")
        frame = self.shot("live")
        self.shots.append(frame)
        self.names.append(f"window at {time.strftime('%H:%M:%S')}")
        return self._shot_info(len(self.shots) - 1)

    def png(self, key: str) -> bytes:
        """Screenshot ``key`` as PNG; ``live`` grabs the window afresh."""
        frame = self.grab_live() if key == "live" else self.shot(key)
        ok, buf = cv2.imencode(".png", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        return buf.tobytes()

    # ----- the profile being made ---------------------------------------------------------------------
    def text(self, rules: dict) -> str:
        return with_rules(self.base.text, rules)

    def profile(self, rules: dict) -> Profile:
        """The draft as a validated profile (a :class:`~hakisa.errors.ProfileError` says what is wrong)."""
        return parse_profile(self.text(rules), source="the studio's profile", base_dir=self.base.base_dir)

    def read(self, rules: dict, key: str) -> dict:
        """Every extractor's reading on one screenshot, and whether the done and pause rules hold there."""
        try:
            profile = self.profile(rules)
        except HakisaError as exc:
            return {"ok": False, "error": str(exc)}
        shot = self.shot(key)
        eng = RuleEngine(profile, "rgb")
        values = eng.extract(shot, now=0.0)
        boxes = {n: list(eng.box(shot.shape, n)) for n in profile.rules.regions}
        return {"ok": True, "values": {n: _finite(v) for n, v in values.items()}, "boxes": boxes,
                "done": bool(profile.rules.has_done and eng.done(values)),
                "paused": bool(profile.rules.has_pause and eng.paused(values)), "toml": self.text(rules)}

    def learn(self, rules: dict, extractor: str, labels: list[dict]) -> dict:
        """Glyphs for digits ``extractor`` from screenshots labelled with the number each shows
        (``[{"shot": id, "value": "120"}]``), merged; each labelled screenshot read again with them; and the
        colour and tolerance that read the most labelled screenshots right."""
        profile = self.profile(rules)
        if not labels:
            raise HakisaError(f"teach {extractor}: type the number a screenshot shows first.")
        shots = [(self.shot(str(lab["shot"])), str(lab["value"]).strip()) for lab in labels]
        try:
            glyphs = _learn_all(profile, extractor, shots, {})
        except HakisaError as exc:  # said for `regions --learn`; here it is the teach button
            problem = str(exc).replace("--learn ", "teach ").replace(
                "Check the region and colour with `hakisa regions --out shot.png`, or use a screenshot that shows "
                "the number.", "Check the region and the colour, or take a picture that shows the number.")
            return {"glyphs": None, "problem": problem, "reads": [],
                    "suggest": suggest_colour(profile, extractor, shots)}
        reads = [{"shot": lab["shot"], "value": v, "reads": _finite(read_with(profile, img, extractor, glyphs))}
                 for lab, (img, v) in zip(labels, shots)]
        return {"glyphs": glyphs, "problem": None, "reads": reads,
                "suggest": suggest_colour(profile, extractor, shots)}

    def try_rules(self, rules: dict, seconds: float) -> dict:
        """The rules over time: a few seconds of the live window at the tick rate, or the screenshots in order."""
        profile = self.profile(rules)
        if self.grab is not None and seconds > 0:
            frames, times = [], []
            period, t0 = 1.0 / profile.capture.tick_hz, time.monotonic()
            while time.monotonic() - t0 < min(seconds, 60.0):
                frames.append(self.grab_live())
                times.append(time.monotonic() - t0)
                time.sleep(max(0.0, t0 + len(frames) * period - time.monotonic()))
        else:
            frames, times = self.shots, [float(i) for i in range(len(self.shots))]
        if not frames:
            raise HakisaError("nothing to try the rules on: take a screenshot of the window first.")
        eng = RuleEngine(profile, "rgb")
        rows = [eng.extract(f, t) for f, t in zip(frames, times)]
        done = [bool(profile.rules.has_done and eng.done(r)) for r in rows]
        paused = [bool(profile.rules.has_pause and eng.paused(r)) for r in rows]
        # as in the record and agent loops: no reward out of a game over or a pause (a new game's full lives
        # are no prize), nor into a pause
        rewards = [0.0] + [0.0 if done[i - 1] or paused[i - 1] or paused[i] else eng.reward(rows[i - 1], rows[i])
                           for i in range(1, len(rows))]
        _, warnings = diagnose_rows(profile, rows)
        return {"warnings": warnings, "t": times, "values": {n: [_finite(r[n]) for r in rows] for n in profile.rules.extractors},
                "reward": rewards, "done": done, "paused": paused,
                "source": "live window" if self.grab is not None and seconds > 0 else "screenshots"}

    def save(self, rules: dict) -> dict:
        """Write the profile to the studio's --out (validated first; the old file, if any, is kept as .bak)."""
        text = self.text(rules)
        parse_profile(text, source=str(self.out), base_dir=self.base.base_dir)
        check_writable(self.out, "--out")
        if self.out.exists():
            self.out.with_suffix(self.out.suffix + ".bak").write_bytes(self.out.read_bytes())
        tmp = self.out.with_suffix(self.out.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(self.out)
        return {"path": str(self.out), "toml": text}


def _with_extractor(profile: Profile, name: str, **change) -> Profile:
    ex = dataclasses.replace(profile.rules.extractors[name], **change)
    extractors = {**profile.rules.extractors, name: ex}
    return dataclasses.replace(profile, rules=dataclasses.replace(profile.rules, extractors=extractors))


def _learn_all(profile: Profile, extractor: str, shots: list[tuple[np.ndarray, str]], known: dict) -> dict:
    glyphs = dict(known)
    for img, value in shots:
        glyphs = learn_glyphs(profile, img, extractor, value, glyphs)
    return glyphs


def suggest_colour(profile: Profile, extractor: str, shots: list[tuple[np.ndarray, str]]) -> dict | None:
    """The colour (among the region's commonest) and tolerance whose learnt glyphs read the most labelled
    screenshots right: ``{"color", "tolerance", "right", "of"}``, or None when no pair reads any."""
    ex = profile.rules.extractors[extractor]
    eng = RuleEngine(profile, "rgb")
    pixels = np.concatenate([eng._crop(img, ex.region, None).reshape(-1, 3) for img, _ in shots])
    q = (pixels // 32).astype(np.int32)
    keys, inverse, counts = np.unique(q[:, 0] * 64 + q[:, 1] * 8 + q[:, 2], return_inverse=True, return_counts=True)
    order = np.argsort(-counts)[1:7]  # the commonest is the background
    colours = [tuple(int(c) for c in np.median(pixels[inverse.ravel() == k], axis=0)) for k in order]
    colours = [tuple(ex.colors[0])] * bool(ex.colors) + colours
    right: dict[tuple, dict[int, int]] = {}  # colour -> tolerance -> screenshots read right
    for colour in dict.fromkeys(colours):
        for tol in TOLERANCES:
            trial = _with_extractor(profile, extractor, color=colour, colors=(colour,), tolerance=tol)
            try:
                glyphs = _learn_all(trial, extractor, shots, {})
            except HakisaError:
                continue
            right.setdefault(colour, {})[tol] = sum(read_with(trial, img, extractor, glyphs) == float(v)
                                                    for img, v in shots)
    top = max((n for tols in right.values() for n in tols.values()), default=0)
    if not top:
        return None
    # the colour that reads them all at the most tolerances, at the middle one of those: away from both edges
    colour, tols = max(right.items(), key=lambda kv: sum(n == top for n in kv[1].values()))
    good = [t for t, n in tols.items() if n == top]
    best = {"color": list(colour), "tolerance": good[len(good) // 2], "right": int(top), "of": len(shots)}
    return best


# ----- HTTP ---------------------------------------------------------------------------------------------

def handler_for(studio: Studio):
    def get(path: str):
        if path == "/api/state":
            return studio.state()
        if path.startswith("/shot/") and path.endswith(".png"):
            return Raw(studio.png(path[len("/shot/"):-4]), "image/png")
        return None

    def post(path: str, body: dict):
        rules = copy.deepcopy(body.get("rules", {}))
        if path == "/api/read":
            return studio.read(rules, str(body.get("shot", "0")))
        if path == "/api/snapshot":
            return studio.snapshot()
        if path == "/api/learn":
            return studio.learn(rules, str(body["extractor"]), list(body.get("labels", [])))
        if path == "/api/try":
            return studio.try_rules(rules, float(body.get("seconds", 0)))
        if path == "/api/save":
            return studio.save(rules)
        return None

    return handler("studio.html", get, post, errors=(HakisaError, KeyError, ValueError, TypeError),
                   name="hakisa-studio")


def serve(studio: Studio, host: str = "127.0.0.1", port: int = 8765) -> ThreadingHTTPServer:
    """The studio's HTTP server (not yet serving: call ``serve_forever``); port 0 picks a free one."""
    return make_server(handler_for(studio), host, port, "studio")
