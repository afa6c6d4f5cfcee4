"""Dodge: a held-key shooter.

Hold "left"/"right" to move the ship, hold "space" to auto-fire.  Red invaders
fall from the top: shooting one scores 10, letting one reach the bottom line or
touching one costs a life.  From about ten seconds in, grey rocks fall too:
bullets cannot break them and touching one costs a life, but they fall past
harmlessly, so they must be dodged.  Spawn rate and speed rise slowly.
"""

from __future__ import annotations

from typing import Any

import pygame

from hakisa.games.base import HUD_H, LOGICAL_H, LOGICAL_W, Game, GameInput, register

SHIP_W, SHIP_H, SHIP_Y = 16, 8, 164.0  # ship centre y
SHIP_SPEED = 3.0
BULLET_SPEED = 5.0
FIRE_COOLDOWN = 8
BOTTOM_Y = 176.0  # an invader whose lower edge reaches this line costs a life
INVADER, ROCK = "invader", "rock"

_STARS = [((i * 97) % LOGICAL_W, HUD_H + (i * 53) % (LOGICAL_H - HUD_H)) for i in range(40)]


@register
class Dodge(Game):
    """Keyboard shooter: move with left/right, fire with space, dodge the rocks."""

    name = "dodge"
    controls = "keyboard"
    restart_hint = "press ENTER or SPACE"
    _backdrop: pygame.Surface | None = None

    def _reset_world(self) -> None:
        self.ship_x = LOGICAL_W / 2
        self.bullets: list[list[float]] = []  # [x, y]
        self.enemies: list[dict[str, Any]] = []  # id, kind, x, y, vx, vy, s (side)
        self.cooldown = 0
        self.spawn_timer = 45
        self.next_id = 0
        self.hit_flash = 0

    def minutes(self) -> float:
        """Game time of the current episode in minutes (drives difficulty)."""
        return self.episode_frame / 3600

    def _spawn(self) -> None:
        m = self.minutes()
        rock = self.episode_frame > 600 and self.rng.random() < min(0.35, 0.15 + 0.15 * m)
        side = 14 if rock else 12
        vy = float(self.rng.uniform(0.8, 1.2)) * 0.55 * (1 + 0.9 * m) * (1.25 if rock else 1.0)
        vx = float(self.rng.uniform(-0.35, 0.35)) * min(1.0, m) if not rock else 0.0
        x = float(self.rng.uniform(side, LOGICAL_W - side))
        self.enemies.append({"id": self.next_id, "kind": ROCK if rock else INVADER,
                             "x": x, "y": HUD_H - side / 2, "vx": vx, "vy": vy, "s": side})
        self.next_id += 1
        interval = 58 / (1 + 1.2 * m)
        self.spawn_timer = max(12, int(interval * float(self.rng.uniform(0.7, 1.3))))

    def _update(self, inp: GameInput) -> None:
        held = inp.held
        dx = ("right" in held) - ("left" in held)
        self.ship_x = min(max(self.ship_x + dx * SHIP_SPEED, SHIP_W / 2), LOGICAL_W - SHIP_W / 2)
        self.cooldown = max(0, self.cooldown - 1)
        self.hit_flash = max(0, self.hit_flash - 1)
        if "space" in held and self.cooldown == 0:
            self.bullets.append([self.ship_x, SHIP_Y - SHIP_H / 2])
            self.cooldown = FIRE_COOLDOWN
        for b in self.bullets:
            b[1] -= BULLET_SPEED
        self.spawn_timer -= 1
        if self.spawn_timer <= 0:
            self._spawn()
        survivors = []
        for e in self.enemies:
            e["x"] += e["vx"]
            e["y"] += e["vy"]
            half = e["s"] / 2
            if not half <= e["x"] <= LOGICAL_W - half:
                e["vx"] = -e["vx"]
                e["x"] = min(max(e["x"], half), LOGICAL_W - half)
            if self._shot(e):
                continue
            if abs(e["x"] - self.ship_x) < half + SHIP_W / 2 and abs(e["y"] - SHIP_Y) < half + SHIP_H / 2:
                self.lose_life(f"hit by {e['kind']}")
                self.hit_flash = 20
                continue
            if e["y"] + half >= BOTTOM_Y:
                if e["kind"] == INVADER:
                    self.lose_life("invader landed")
                    self.hit_flash = 20
                continue
            survivors.append(e)
        self.enemies = survivors
        self.bullets = [b for b in self.bullets if b[1] > HUD_H]

    def _shot(self, e: dict[str, Any]) -> bool:
        """Resolve bullets against enemy ``e``; True if it was destroyed."""
        half = e["s"] / 2
        for b in self.bullets:
            if abs(b[0] - e["x"]) <= half + 1 and abs(b[1] - e["y"]) <= half + 3:
                self.bullets.remove(b)  # rocks absorb bullets too
                if e["kind"] == INVADER:
                    self.score += 10
                    return True
                return False
        return False

    def _draw_world(self, surf: pygame.Surface) -> None:
        if Dodge._backdrop is None:  # static stars and the bottom line, drawn once
            Dodge._backdrop = pygame.Surface((LOGICAL_W, LOGICAL_H), 0, 32)
            Dodge._backdrop.fill(self.background)
            for p in _STARS:
                Dodge._backdrop.set_at(p, (90, 90, 120))
            Dodge._backdrop.fill((150, 30, 40), (0, int(BOTTOM_Y), LOGICAL_W, 1))
        surf.blit(Dodge._backdrop, (0, 0))
        for e in self.enemies:
            s = e["s"]
            rect = pygame.Rect(round(e["x"] - s / 2), round(e["y"] - s / 2), s, s)
            if e["kind"] == INVADER:
                surf.fill((220, 50, 70), rect)
                surf.fill((255, 255, 255), (rect.x + 3, rect.y + 4, 2, 2))
                surf.fill((255, 255, 255), (rect.right - 5, rect.y + 4, 2, 2))
            else:
                pygame.draw.rect(surf, (120, 120, 128), rect, border_radius=4)
                surf.fill((80, 80, 88), (rect.x + 4, rect.y + 5, 4, 3))
        for bx, by in self.bullets:
            surf.fill((255, 230, 80), (round(bx) - 1, round(by) - 3, 2, 5))
        x, y = round(self.ship_x), round(SHIP_Y)
        color = (255, 120, 120) if self.hit_flash % 4 >= 2 else (80, 220, 255)
        pygame.draw.polygon(surf, color, [(x, y - 6), (x - 8, y + 4), (x + 8, y + 4)])
        surf.fill((40, 120, 200), (x - 6, y + 4, 12, 2))

    def _world_state(self) -> dict[str, Any]:
        sx, sy = self.sx, self.sy
        ship_x, ship_y = self.to_window(self.ship_x, SHIP_Y)
        return {
            "ship": {"x": ship_x, "y": ship_y, "w": round(SHIP_W * sx, 1), "h": round(SHIP_H * sy, 1)},
            "ship_speed": round(SHIP_SPEED * sx, 3), "bullet_speed": round(BULLET_SPEED * sy, 3),
            "fire_cooldown": self.cooldown, "bottom_y": round(BOTTOM_Y * sy, 1),
            "enemies": [{"id": e["id"], "kind": e["kind"], "x": round(e["x"] * sx, 1),
                         "y": round(e["y"] * sy, 1), "w": round(e["s"] * sx, 1),
                         "h": round(e["s"] * sy, 1), "vx": round(e["vx"] * sx, 3),
                         "vy": round(e["vy"] * sy, 3)} for e in self.enemies],
            "bullets": [list(self.to_window(bx, by)) for bx, by in self.bullets],
        }
