"""Gems: collect gems among drifting mines, in a world whose look changes every level.

Hold the arrow keys ("left", "right", "up", "down", two at once for diagonals)
to move.  A gem is worth 10 points times the level; eight gems finish a level.
Touching a mine (a spiked square drifting and bouncing off the edges) or, from
level 3, the chaser (a spiked ring that slowly homes in) costs a life and
brings the player back to the middle with a moment of blinking safety.  Every
level has another background texture and another colour scheme, for the
background *and* the player, gems and mines (some light on dark, some dark on
light), in an order shuffled per episode: only shapes and motion stay the same,
so a learner cannot rely on fixed colours.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pygame

from hakisa.games.base import HUD_H, LOGICAL_H, LOGICAL_W, Game, GameInput, register

PLAYER_R = 5.0
PLAYER_SPEED = 2.2
GEM_R = 4.0
MINE_S = 10  # side of a mine's body
CHASER_R = 6.0
GEMS_PER_LEVEL = 8
GEMS_ON_SCREEN = 4
SAFE_FRAMES = 90
MINE, CHASER = "mine", "chaser"
TOP = HUD_H + 2  # top of the playfield

# texture, background colours a and b, player, gem, mine: light-on-dark and dark-on-light alike
SCHEMES = [
    ("stripes", (20, 24, 60), (32, 38, 84), (250, 250, 250), (255, 215, 60), (230, 60, 60)),
    ("checker", (70, 140, 60), (88, 160, 72), (30, 30, 150), (250, 250, 130), (110, 40, 20)),
    ("dots", (222, 202, 152), (196, 170, 118), (20, 70, 190), (230, 40, 160), (25, 25, 25)),
    ("bricks", (128, 44, 20), (156, 66, 34), (90, 230, 255), (255, 255, 255), (20, 20, 20)),
    ("waves", (204, 230, 245), (172, 210, 236), (150, 0, 0), (10, 170, 90), (60, 60, 200)),
    # here gems and mines differ in hue but hardly in brightness: in grey they look alike but for shape
    ("noise", (40, 70, 40), (62, 100, 32), (255, 160, 220), (120, 255, 255), (250, 240, 60)),
]


def _texture(kind: str, a: tuple[int, int, int], b: tuple[int, int, int]) -> pygame.Surface:
    """The playfield background of one scheme (drawn once, then cached)."""
    surf = pygame.Surface((LOGICAL_W, LOGICAL_H), 0, 32)
    surf.fill(a)
    if kind == "stripes":
        for x in range(-LOGICAL_H, LOGICAL_W, 16):
            pygame.draw.line(surf, b, (x, LOGICAL_H), (x + LOGICAL_H, 0), 5)
    elif kind == "checker":
        for y in range(0, LOGICAL_H, 16):
            for x in range((y // 16) % 2 * 16, LOGICAL_W, 32):
                surf.fill(b, (x, y, 16, 16))
    elif kind == "dots":
        for y in range(4, LOGICAL_H, 12):
            for x in range(4 + (y // 12) % 2 * 6, LOGICAL_W, 12):
                surf.fill(b, (x, y, 3, 3))
    elif kind == "bricks":
        for y in range(0, LOGICAL_H, 10):
            surf.fill(b, (0, y, LOGICAL_W, 1))
            for x in range((y // 10) % 2 * 12, LOGICAL_W, 24):
                surf.fill(b, (x, y, 1, 10))
    elif kind == "waves":
        for y in range(0, LOGICAL_H, 14):
            pts = [(x, y + 4 * math.sin(x / 9)) for x in range(0, LOGICAL_W + 4, 4)]
            pygame.draw.lines(surf, b, False, pts, 3)
    else:  # noise: a fixed speckle
        rng = np.random.default_rng(7)
        for x, y in zip(rng.integers(0, LOGICAL_W, 1400), rng.integers(0, LOGICAL_H, 1400)):
            surf.fill(b, (int(x), int(y), 2, 2))
    return surf


@register
class Gems(Game):
    """Keyboard collector: move with the arrow keys, take the gems, avoid the mines."""

    name = "gems"
    controls = "keyboard"
    restart_hint = "press ENTER or SPACE"
    _textures: dict[int, pygame.Surface] = {}

    def _reset_world(self) -> None:
        self.order = [int(i) for i in self.rng.permutation(len(SCHEMES))]
        self.px, self.py = LOGICAL_W / 2, (TOP + LOGICAL_H) / 2
        self.safe = SAFE_FRAMES
        self.next_id = 0
        self._start_level(1)

    @property
    def scheme(self) -> int:
        """Index into SCHEMES of the current level's look."""
        return self.order[(self.level - 1) % len(self.order)]

    def _start_level(self, level: int) -> None:
        self.level = level
        self.collected = 0  # gems taken in this level
        self.gems: list[dict[str, Any]] = []
        self.hazards: list[dict[str, Any]] = []  # id, kind, x, y, vx, vy
        for _ in range(min(8, 2 + level)):
            x, y = self._free_spot(60)
            a = float(self.rng.uniform(0, 2 * math.pi))
            sp = float(self.rng.uniform(0.6, 1.0)) * (0.7 + 0.12 * level)
            self._add_hazard(MINE, x, y, sp * math.cos(a), sp * math.sin(a))
        if level >= 3:
            x, y = self._free_spot(90)
            self._add_hazard(CHASER, x, y, 0.0, 0.0)
        while len(self.gems) < GEMS_ON_SCREEN:
            self._spawn_gem()

    def _add_hazard(self, kind: str, x: float, y: float, vx: float, vy: float) -> None:
        self.hazards.append({"id": self.next_id, "kind": kind, "x": x, "y": y, "vx": vx, "vy": vy})
        self.next_id += 1

    def _free_spot(self, clear: float) -> tuple[float, float]:
        """A random point at least ``clear`` from the player (and 20 from hazards), after a few tries."""
        for _ in range(20):
            x = float(self.rng.uniform(12, LOGICAL_W - 12))
            y = float(self.rng.uniform(TOP + 12, LOGICAL_H - 12))
            if math.hypot(x - self.px, y - self.py) > clear and all(
                    math.hypot(x - h["x"], y - h["y"]) > 20 for h in self.hazards):
                break
        return x, y

    def _spawn_gem(self) -> None:
        x, y = self._free_spot(40)
        self.gems.append({"id": self.next_id, "x": x, "y": y})
        self.next_id += 1

    def chaser_speed(self) -> float:
        return min(1.3, 0.5 + 0.08 * self.level)

    def _update(self, inp: GameInput) -> None:
        held = inp.held
        dx = ("right" in held) - ("left" in held)
        dy = ("down" in held) - ("up" in held)
        if dx or dy:
            k = PLAYER_SPEED / math.hypot(dx, dy)
            self.px = min(max(self.px + dx * k, PLAYER_R), LOGICAL_W - PLAYER_R)
            self.py = min(max(self.py + dy * k, TOP + PLAYER_R), LOGICAL_H - PLAYER_R)
        self.safe = max(0, self.safe - 1)
        for h in self.hazards:
            if h["kind"] == CHASER:
                ddx, ddy = self.px - h["x"], self.py - h["y"]
                d = math.hypot(ddx, ddy) or 1.0
                h["vx"], h["vy"] = ddx / d * self.chaser_speed(), ddy / d * self.chaser_speed()
            h["x"] += h["vx"]
            h["y"] += h["vy"]
            half = MINE_S / 2
            if not half <= h["x"] <= LOGICAL_W - half:
                h["vx"] = -h["vx"]
                h["x"] = min(max(h["x"], half), LOGICAL_W - half)
            if not TOP + half <= h["y"] <= LOGICAL_H - half:
                h["vy"] = -h["vy"]
                h["y"] = min(max(h["y"], TOP + half), LOGICAL_H - half)
        for g in list(self.gems):
            if math.hypot(g["x"] - self.px, g["y"] - self.py) < PLAYER_R + GEM_R + 3:
                self.gems.remove(g)
                self.score += 10 * self.level
                self.collected += 1
                if self.collected >= GEMS_PER_LEVEL:
                    self._start_level(self.level + 1)
                    self.safe = max(self.safe, 30)
                    return
                if self.collected + len(self.gems) < GEMS_PER_LEVEL:
                    self._spawn_gem()
        if self.safe:
            return
        for h in self.hazards:
            reach = PLAYER_R + (MINE_S / 2 if h["kind"] == MINE else CHASER_R) - 1
            if abs(h["x"] - self.px) < reach and abs(h["y"] - self.py) < reach:
                self.lose_life(h["kind"])
                self.px, self.py = LOGICAL_W / 2, (TOP + LOGICAL_H) / 2
                self.safe = SAFE_FRAMES
                break

    def _draw_world(self, surf: pygame.Surface) -> None:
        kind, a, b, player, gem, mine = SCHEMES[self.scheme]
        tex = Gems._textures.get(self.scheme)
        if tex is None:
            tex = Gems._textures[self.scheme] = _texture(kind, a, b)
        surf.blit(tex, (0, 0))
        for g in self.gems:
            x, y = round(g["x"]), round(g["y"])
            pygame.draw.polygon(surf, gem, [(x, y - 5), (x + 4, y), (x, y + 5), (x - 4, y)])
        for h in self.hazards:
            x, y = round(h["x"]), round(h["y"])
            if h["kind"] == MINE:
                surf.fill(mine, (x - 3, y - 3, 7, 7))
                for ex, ey in ((-5, -5), (3, -5), (-5, 3), (3, 3)):  # spikes on the corners
                    surf.fill(mine, (x + ex, y + ey, 2, 2))
            else:
                pygame.draw.circle(surf, mine, (x, y), int(CHASER_R), 2)
                for ex, ey in ((-1, -9), (-1, 7), (-9, -1), (7, -1)):  # four spikes
                    surf.fill(mine, (x + ex, y + ey, 2, 2))
        if self.safe % 8 < 4:
            x, y = round(self.px), round(self.py)
            pygame.draw.circle(surf, player, (x, y), int(PLAYER_R), 2)
            surf.fill(player, (x - 1, y - 1, 3, 3))

    def _world_state(self) -> dict[str, Any]:
        sx, sy = self.sx, self.sy
        s = min(sx, sy)
        px, py = self.to_window(self.px, self.py)
        return {
            "level": self.level, "scheme": SCHEMES[self.scheme][0], "collected": self.collected,
            "player": {"x": px, "y": py, "r": round(PLAYER_R * s, 2), "safe": self.safe},
            "player_speed": round(PLAYER_SPEED * s, 3), "top_y": round(TOP * sy, 1),
            "gems": [{"id": g["id"], "x": round(g["x"] * sx, 1), "y": round(g["y"] * sy, 1),
                      "r": round(GEM_R * s, 2)} for g in self.gems],
            "hazards": [{"id": h["id"], "kind": h["kind"], "x": round(h["x"] * sx, 1), "y": round(h["y"] * sy, 1),
                         "vx": round(h["vx"] * sx, 3), "vy": round(h["vy"] * sy, 3),
                         "r": round((MINE_S / 2 if h["kind"] == MINE else CHASER_R) * s, 2)}
                        for h in self.hazards],
        }
