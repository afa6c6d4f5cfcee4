"""Bricks: a paddle-and-ball game with a small, fast ball.

Hold "left"/"right" to move the paddle; the ball waits on the paddle until
"space" launches it.  A brick is worth 10 to 60 points (higher rows more); the
ball leaving at the bottom costs a life.  Where the ball meets the paddle sets
its angle.  Clearing the wall starts the next level (a new wall, 100 points per
level cleared) with a faster ball; the ball also speeds up a little with every
paddle hit.
"""

from __future__ import annotations

import math
from typing import Any

import pygame

from hakisa.games.base import HUD_H, LOGICAL_H, LOGICAL_W, Game, GameInput, register

PADDLE_W, PADDLE_H, PADDLE_Y = 30, 4, 166.0  # PADDLE_Y: top edge
PADDLE_SPEED = 4.0
BALL = 3  # side of the square ball, logical px
COLS, ROWS = 14, 6
BRICK_W, BRICK_H, BRICK_GAP = 20, 7, 2
WALL_X0 = (LOGICAL_W - COLS * (BRICK_W + BRICK_GAP) + BRICK_GAP) // 2
WALL_Y0 = 30
ROW_COLORS = [(230, 70, 70), (240, 140, 50), (230, 210, 60), (80, 200, 100), (70, 160, 240), (160, 100, 230)]
MAX_ANGLE = math.radians(60)  # off vertical, at the paddle's ends


def ball_speed(level: int, hits: int) -> float:
    """Ball speed (logical px per frame) on ``level`` after ``hits`` paddle hits in the current life."""
    return 2.3 + 0.35 * (level - 1) + min(1.0, 0.02 * hits)


@register
class Bricks(Game):
    """Breakout-style keyboard game: move the paddle with left/right, launch with space."""

    name = "bricks"
    controls = "keyboard"
    background = (8, 12, 24)
    restart_hint = "press ENTER or SPACE"
    _backdrop: pygame.Surface | None = None

    def _reset_world(self) -> None:
        self.level = 1
        self.paddle_x = LOGICAL_W / 2  # centre
        self._new_wall()
        self._serve()

    def _new_wall(self) -> None:
        self.bricks = [[True] * COLS for _ in range(ROWS)]
        self.bricks_left = ROWS * COLS

    def _serve(self) -> None:
        """Put the ball back on the paddle, waiting for a launch."""
        self.attached = True
        self.hits = 0
        self.bx, self.by = self.paddle_x, PADDLE_Y - BALL / 2
        self.vx = self.vy = 0.0

    @staticmethod
    def brick_rect(row: int, col: int) -> tuple[int, int, int, int]:
        """Logical (x, y, w, h) of the brick at ``row``, ``col``."""
        return (WALL_X0 + col * (BRICK_W + BRICK_GAP), WALL_Y0 + row * (BRICK_H + BRICK_GAP), BRICK_W, BRICK_H)

    def _update(self, inp: GameInput) -> None:
        held = inp.held
        dx = ("right" in held) - ("left" in held)
        half = PADDLE_W / 2
        self.paddle_x = min(max(self.paddle_x + dx * PADDLE_SPEED, half), LOGICAL_W - half)
        if self.attached:
            self.bx = self.paddle_x
            if "space" in held:
                self.attached = False
                a = float(self.rng.uniform(math.radians(15), math.radians(40))) * float(self.rng.choice((-1, 1)))
                sp = ball_speed(self.level, 0)
                self.vx, self.vy = sp * math.sin(a), -sp * math.cos(a)
            return
        speed = math.hypot(self.vx, self.vy)
        n = max(1, math.ceil(speed / 1.5))  # sub-steps: the ball never skips a brick or the paddle
        for _ in range(n):
            if self._move(self.vx / n, self.vy / n):
                return

    def _move(self, dx: float, dy: float) -> bool:
        """One sub-step of the ball; True when the ball was lost or the wall was cleared."""
        r = BALL / 2
        px, py = self.bx, self.by
        self.bx, self.by = px + dx, py + dy
        if self.bx - r < 0:
            self.bx, self.vx = r, abs(self.vx)
        elif self.bx + r > LOGICAL_W:
            self.bx, self.vx = LOGICAL_W - r, -abs(self.vx)
        if self.by - r < HUD_H:
            self.by, self.vy = HUD_H + r, abs(self.vy)
        # paddle: only from above, while falling
        if self.vy > 0 and py + r <= PADDLE_Y < self.by + r and abs(self.bx - self.paddle_x) <= PADDLE_W / 2 + r:
            self.hits += 1
            off = max(-1.0, min(1.0, (self.bx - self.paddle_x) / (PADDLE_W / 2 + r)))
            sp = ball_speed(self.level, self.hits)
            a = off * MAX_ANGLE
            self.vx, self.vy = sp * math.sin(a), -sp * math.cos(a)
            self.by = PADDLE_Y - r
            return False
        if self.by - r > LOGICAL_H:
            self.lose_life("ball lost")
            self._serve()
            return True
        return self._hit_brick(px, py)

    def _hit_brick(self, px: float, py: float) -> bool:
        r = BALL / 2
        x0, x1, y0, y1 = self.bx - r, self.bx + r, self.by - r, self.by + r
        cw, ch = BRICK_W + BRICK_GAP, BRICK_H + BRICK_GAP
        for row in range(max(0, int((y0 - WALL_Y0) // ch)), min(ROWS, int((y1 - WALL_Y0) // ch) + 1)):
            for col in range(max(0, int((x0 - WALL_X0) // cw)), min(COLS, int((x1 - WALL_X0) // cw) + 1)):
                if not self.bricks[row][col]:
                    continue
                bx, by, bw, bh = self.brick_rect(row, col)
                if x1 <= bx or x0 >= bx + bw or y1 <= by or y0 >= by + bh:
                    continue
                self.bricks[row][col] = False
                self.bricks_left -= 1
                self.score += 10 * (ROWS - row)
                if px + r > bx and px - r < bx + bw:  # came from above or below
                    self.vy = -self.vy
                    self.by = py
                else:  # from the side
                    self.vx = -self.vx
                    self.bx = px
                if self.bricks_left == 0:
                    self.score += 100 * self.level
                    self.level += 1
                    self._new_wall()
                    self._serve()
                    return True
                return False
        return False

    def _draw_world(self, surf: pygame.Surface) -> None:
        if Bricks._backdrop is None:  # side rails and a faint grid, drawn once
            Bricks._backdrop = pygame.Surface((LOGICAL_W, LOGICAL_H), 0, 32)
            Bricks._backdrop.fill(self.background)
            for x in range(0, LOGICAL_W, 20):
                Bricks._backdrop.fill((16, 22, 40), (x, HUD_H, 1, LOGICAL_H - HUD_H))
            for y in range(HUD_H + 6, LOGICAL_H, 20):
                Bricks._backdrop.fill((16, 22, 40), (0, y, LOGICAL_W, 1))
        surf.blit(Bricks._backdrop, (0, 0))
        for row in range(ROWS):
            color = ROW_COLORS[row]
            shade = tuple(c // 2 for c in color)
            for col in range(COLS):
                if self.bricks[row][col]:
                    x, y, w, h = self.brick_rect(row, col)
                    surf.fill(color, (x, y, w, h))
                    surf.fill(shade, (x, y + h - 2, w, 2))
        px = round(self.paddle_x - PADDLE_W / 2)
        surf.fill((220, 220, 235), (px, int(PADDLE_Y), PADDLE_W, PADDLE_H))
        surf.fill((90, 200, 255), (px + 3, int(PADDLE_Y) + 1, PADDLE_W - 6, 2))
        surf.fill((255, 255, 255), (round(self.bx - BALL / 2), round(self.by - BALL / 2), BALL, BALL))

    def _world_state(self) -> dict[str, Any]:
        sx, sy = self.sx, self.sy
        paddle_x, paddle_y = self.to_window(self.paddle_x, PADDLE_Y)
        ball_x, ball_y = self.to_window(self.bx, self.by)
        return {
            "level": self.level,
            "paddle": {"x": paddle_x, "y": paddle_y, "w": round(PADDLE_W * sx, 1), "h": round(PADDLE_H * sy, 1)},
            "paddle_speed": round(PADDLE_SPEED * sx, 3),
            "ball": {"x": ball_x, "y": ball_y, "vx": round(self.vx * sx, 3), "vy": round(self.vy * sy, 3),
                     "size": round(BALL * sx, 1), "attached": self.attached},
            "bricks_left": self.bricks_left,
            "top_y": round(HUD_H * sy, 1),
        }
