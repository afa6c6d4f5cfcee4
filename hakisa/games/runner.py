"""Runner: a side-scrolling jumping game where timing matters.

The runner keeps running right (the world scrolls left); holding "space" jumps
when on the ground (held through a landing, it jumps again), holding "down"
ducks (and, in the air, falls faster).  Cacti and low birds must be jumped
over, birds at head height ducked under (jumping over those needs perfect
timing).  The
score counts the distance run (one point per 6 frames); touching an obstacle
costs a life and a second of blinking safety.  The world speeds up with time,
and birds come from about 20 seconds in.
"""

from __future__ import annotations

import math
from typing import Any

import pygame

from hakisa.games.base import LOGICAL_H, LOGICAL_W, Game, GameInput, register

GROUND_Y = 150.0  # top of the ground
RUNNER_X = 48.0  # left edge of the runner
RUNNER_W, RUNNER_H = 12, 18
DUCK_W, DUCK_H = 16, 9
JUMP_V, GRAVITY = 4.0, 0.28  # airtime 2v/g = 28.6 frames, apex v^2/2g = 28.6 px
SAFE_FRAMES = 60  # blinking safety after a hit
CACTUS, BIRD = "cactus", "bird"
LOW_BIRD_Y, HIGH_BIRD_Y = GROUND_Y - 11, GROUND_Y - 23  # bird tops: jump over the low one, duck the high one
BIRD_W, BIRD_H = 14, 8
MIN_SLACK, MIN_SLACK_LATE = 7.0, 3.0  # frames of leeway a cactus leaves for the jump: at the start, 3 min on


def clear_window(h: float) -> float:
    """Frames of a jump during which the runner's feet are above height ``h`` (0 if never)."""
    disc = JUMP_V * JUMP_V - 2 * GRAVITY * h
    return 2 * math.sqrt(disc) / GRAVITY if disc > 0 else 0.0


@register
class Runner(Game):
    """Keyboard runner: jump with space, duck with down."""

    name = "runner"
    controls = "keyboard"
    background = (120, 180, 230)
    restart_hint = "press ENTER or SPACE"
    _backdrop: pygame.Surface | None = None
    _ground: pygame.Surface | None = None

    def _reset_world(self) -> None:
        self.y = 0.0  # feet height above the ground
        self.vy = 0.0
        self.ducking = False
        self.distance = 0.0  # logical px scrolled
        self.obstacles: list[dict[str, Any]] = []  # id, kind, x, top, w, h
        self.next_gap = 160.0
        self.next_id = 0
        self.safe = 0
        self.run_frames = 0

    def minutes(self) -> float:
        """Game time of the current episode in minutes (drives difficulty)."""
        return self.episode_frame / 3600

    def speed(self) -> float:
        """Scroll speed in logical px per frame."""
        return min(6.5, 3.0 + 1.2 * self.minutes())

    def on_ground(self) -> bool:
        return self.y <= 0.0 and self.vy == 0.0

    def hitbox(self) -> tuple[float, float, float, float]:
        """The runner's logical (x0, y0, x1, y1)."""
        w, h = (DUCK_W, DUCK_H) if self.ducking else (RUNNER_W, RUNNER_H)
        bottom = GROUND_Y - self.y
        return RUNNER_X, bottom - h, RUNNER_X + w, bottom

    def _spawn(self) -> None:
        s = self.speed()
        rng = self.rng
        if self.episode_frame > 1200 and rng.random() < 0.3:
            top = LOW_BIRD_Y if rng.random() < 0.45 else HIGH_BIRD_Y
            ob = {"kind": BIRD, "top": top, "w": BIRD_W, "h": BIRD_H}
        else:
            h = float(rng.integers(10, 23))
            # as wide as the jump allows with the minimum slack to spare at this speed
            slack = MIN_SLACK + (MIN_SLACK_LATE - MIN_SLACK) * min(1.0, self.minutes() / 3)
            w_max = s * (clear_window(h) - slack) - RUNNER_W
            w = float(rng.integers(6, max(7, min(26, int(w_max)) + 1)))
            ob = {"kind": CACTUS, "top": GROUND_Y - h, "w": w, "h": h}
        ob.update(id=self.next_id, x=float(LOGICAL_W + 4))
        self.next_id += 1
        self.obstacles.append(ob)
        airtime = 2 * JUMP_V / GRAVITY
        self.next_gap = s * (airtime + 14) + ob["w"] + float(rng.exponential(s * 40))

    def _update(self, inp: GameInput) -> None:
        held = inp.held
        s = self.speed()
        self.run_frames += 1
        if self.run_frames % 6 == 0:
            self.score += 1
        self.distance += s
        self.safe = max(0, self.safe - 1)
        # the runner
        if self.on_ground():
            self.ducking = "down" in held
            if "space" in held and not self.ducking:
                self.vy = JUMP_V
        else:
            self.ducking = False
        if not self.on_ground():
            self.y += self.vy
            self.vy -= GRAVITY * (2.5 if "down" in held else 1.0)
            if self.y <= 0.0:
                self.y, self.vy = 0.0, 0.0
                self.ducking = "down" in held
        # the world
        self.next_gap -= s
        if self.next_gap <= 0:
            self._spawn()
        x0, y0, x1, y1 = self.hitbox()
        kept = []
        for ob in self.obstacles:
            ob["x"] -= s
            if ob["x"] + ob["w"] < 0:
                continue
            if (not self.safe and ob["x"] < x1 - 1 and ob["x"] + ob["w"] > x0 + 1
                    and ob["top"] < y1 - 1 and ob["top"] + ob["h"] > y0 + 1):
                self.lose_life(ob["kind"])
                self.safe = SAFE_FRAMES
                continue
            kept.append(ob)
        self.obstacles = kept

    def _draw_world(self, surf: pygame.Surface) -> None:
        if Runner._backdrop is None:
            Runner._backdrop = pygame.Surface((LOGICAL_W, LOGICAL_H), 0, 32)
            Runner._backdrop.fill(self.background)
            for i, (hx, hh) in enumerate([(0, 30), (70, 44), (150, 26), (215, 50), (290, 34)]):
                pygame.draw.circle(Runner._backdrop, (150, 200, 170) if i % 2 else (140, 190, 160),
                                   (hx, int(GROUND_Y) + 10), hh)
            # the ground strip is twice as wide as the screen so it can scroll seamlessly
            Runner._ground = pygame.Surface((2 * LOGICAL_W, LOGICAL_H - int(GROUND_Y)), 0, 32)
            Runner._ground.fill((150, 110, 70))
            Runner._ground.fill((90, 160, 70), (0, 0, 2 * LOGICAL_W, 3))
            for i in range(60):
                x, y = (i * 71) % LOGICAL_W, 6 + (i * 37) % (LOGICAL_H - int(GROUND_Y) - 8)
                for dx in (0, LOGICAL_W):
                    Runner._ground.fill((110, 80, 50), (x + dx, y, 3, 2))
        surf.blit(Runner._backdrop, (0, 0))
        # clouds drift at a third of the speed
        off = int(self.distance / 3) % (LOGICAL_W + 60)
        for cx, cy in ((40, 30), (170, 46), (260, 24)):
            x = (cx - off) % (LOGICAL_W + 60) - 30
            surf.fill((240, 245, 250), (x, cy, 30, 8))
            surf.fill((240, 245, 250), (x + 8, cy - 4, 14, 4))
        surf.blit(Runner._ground, (-(int(self.distance) % LOGICAL_W), int(GROUND_Y)))
        for ob in self.obstacles:
            x, top, w, h = round(ob["x"]), round(ob["top"]), int(ob["w"]), int(ob["h"])
            if ob["kind"] == CACTUS:
                surf.fill((30, 120, 50), (x, top, w, h))
                surf.fill((20, 90, 35), (x + 2, top + 2, max(1, w - 4), 2))
            else:
                flap = (self.episode_frame // 8) % 2
                surf.fill((70, 50, 90), (x, top + 2, w, 4))
                surf.fill((70, 50, 90), (x + 4, top + (0 if flap else 5), 6, 3))
                surf.fill((240, 180, 40), (x - 2, top + 3, 2, 2))
        if self.safe % 8 < 4:
            x0, y0, x1, y1 = (round(v) for v in self.hitbox())
            surf.fill((200, 40, 60), (x0, y0, x1 - x0, y1 - y0))
            surf.fill((255, 255, 255), (x1 - 4, y0 + 2, 2, 2))

    def _world_state(self) -> dict[str, Any]:
        sx, sy = self.sx, self.sy
        x0, y0, x1, y1 = self.hitbox()
        return {
            "runner": {"x": round(x0 * sx, 1), "y": round(y0 * sy, 1), "w": round((x1 - x0) * sx, 1),
                       "h": round((y1 - y0) * sy, 1), "vy": round(-self.vy * sy, 3),
                       "on_ground": self.on_ground(), "ducking": self.ducking, "safe": self.safe},
            "speed": round(self.speed() * sx, 3), "ground_y": round(GROUND_Y * sy, 1),
            "jump_v": round(JUMP_V * sy, 3), "gravity": round(GRAVITY * sy, 4),
            "obstacles": [{"id": o["id"], "kind": o["kind"], "x": round(o["x"] * sx, 1),
                           "y": round(o["top"] * sy, 1), "w": round(o["w"] * sx, 1), "h": round(o["h"] * sy, 1)}
                          for o in self.obstacles],
        }
