"""Clicker: a mouse aiming game.

Coloured round targets pop up at random places and shrink away over about two
seconds.  Left-clicking inside one scores 10 (15 for a small one); a target
that shrinks away costs a life.  Targets come faster and live shorter as the
episode goes on.  The right button is unused.
"""

from __future__ import annotations

import math
from typing import Any

import pygame

from hakisa.games.base import HUD_H, LOGICAL_H, LOGICAL_W, Game, GameInput, register

COLORS = [(240, 80, 80), (80, 200, 120), (90, 150, 255), (250, 200, 60), (200, 110, 240), (60, 220, 220)]
SMALL_R = 10.0  # targets born smaller than this are worth a bonus


@register
class Clicker(Game):
    """Mouse game: click the shrinking targets before they vanish."""

    name = "clicker"
    controls = "mouse"
    background = (16, 20, 30)
    restart_hint = "click to restart"

    def _reset_world(self) -> None:
        self.targets: list[dict[str, Any]] = []  # id, x, y, r0, age, life, color
        self.spawn_timer = 30
        self.next_id = 0
        self.mouse: tuple[float, float] | None = None  # logical
        self.effects: list[list[float]] = []  # [x, y, frames_left] hit rings
        self.miss_flash = 0

    def minutes(self) -> float:
        """Game time of the current episode in minutes (drives difficulty)."""
        return self.episode_frame / 3600

    @staticmethod
    def radius(t: dict[str, Any]) -> float:
        """Current radius (logical px) of target ``t``: shrinks linearly to 0 over its life."""
        return t["r0"] * (1 - t["age"] / t["life"])

    def _spawn(self) -> None:
        m = self.minutes()
        r0 = float(self.rng.uniform(max(7.0, 11 - 2 * m), 16.0))
        life = int(max(75, 130 - 30 * m) * float(self.rng.uniform(0.9, 1.1)))
        for _ in range(6):  # try to avoid overlapping an existing target
            x = float(self.rng.uniform(r0 + 2, LOGICAL_W - r0 - 2))
            y = float(self.rng.uniform(HUD_H + r0 + 2, LOGICAL_H - r0 - 2))
            if all(math.hypot(x - t["x"], y - t["y"]) > r0 + t["r0"] + 2 for t in self.targets):
                break
        color = COLORS[int(self.rng.integers(len(COLORS)))]
        self.targets.append({"id": self.next_id, "x": x, "y": y, "r0": r0, "age": 0, "life": life,
                             "color": color})
        self.next_id += 1
        self.spawn_timer = max(14, int(62 / (1 + 1.3 * m) * float(self.rng.uniform(0.7, 1.3))))

    def _update(self, inp: GameInput) -> None:
        self.mouse = self.to_logical(*inp.mouse) if inp.mouse is not None else None
        for button, wx, wy in inp.clicks:
            if button != "left":
                continue
            x, y = self.to_logical(wx, wy)
            for t in reversed(self.targets):  # newest is drawn on top
                if math.hypot(x - t["x"], y - t["y"]) <= self.radius(t) + 1:
                    self.score += 15 if t["r0"] < SMALL_R else 10
                    self.targets.remove(t)
                    self.effects.append([t["x"], t["y"], 10])
                    break
        self.miss_flash = max(0, self.miss_flash - 1)
        alive = []
        for t in self.targets:
            t["age"] += 1
            if t["age"] >= t["life"]:
                self.lose_life("target expired")
                self.miss_flash = 15
            else:
                alive.append(t)
        self.targets = alive
        self.effects = [[x, y, n - 1] for x, y, n in self.effects if n > 1]
        self.spawn_timer -= 1
        if self.spawn_timer <= 0:
            self._spawn()

    def _draw_world(self, surf: pygame.Surface) -> None:
        if self.miss_flash:
            pygame.draw.rect(surf, (200, 40, 40), (0, HUD_H, LOGICAL_W, LOGICAL_H - HUD_H), 3)
        for x, y, n in self.effects:
            pygame.draw.circle(surf, (255, 255, 255), (round(x), round(y)), round(18 - n), 1)
        for t in self.targets:
            r = self.radius(t)
            center = (round(t["x"]), round(t["y"]))
            pygame.draw.circle(surf, t["color"], center, max(1, round(r)))
            if r >= 4:
                pygame.draw.circle(surf, (255, 255, 255), center, max(1, round(r / 3)))
        if self.mouse is not None:
            mx, my = round(self.mouse[0]), round(self.mouse[1])
            surf.fill((255, 255, 255), (mx - 3, my, 7, 1))
            surf.fill((255, 255, 255), (mx, my - 3, 1, 7))

    def _world_state(self) -> dict[str, Any]:
        s = min(self.sx, self.sy)
        mouse = list(self.to_window(*self.mouse)) if self.mouse is not None else None
        return {
            "mouse": mouse,
            "targets": [{"id": t["id"], "x": round(t["x"] * self.sx, 1), "y": round(t["y"] * self.sy, 1),
                         "r": round(self.radius(t) * s, 2), "r0": round(t["r0"] * s, 2),
                         "age": t["age"], "life": t["life"], "ttl": t["life"] - t["age"]}
                        for t in self.targets],
        }
