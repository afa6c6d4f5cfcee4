"""Shared machinery for hakisa's bundled demo games.

Every game simulates a fixed logical world of 320x180 pixels in whole frames
(60 frames per second of *game* time, never wall-clock), draws it on a logical
surface and scales that with nearest-neighbour to the window size.  A headless
game (plain ``pygame.Surface``, no display) and a windowed one therefore produce
identical pixels for identical inputs.
"""

from __future__ import annotations

import json
import os
import signal
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame  # noqa: E402

from hakisa.keys import normalize_key  # noqa: E402

LOGICAL_W, LOGICAL_H = 320, 180
HUD_H = 14  # logical pixels of the HUD strip at the top
FPS = 60
RESTART_MIN_FRAMES = 60  # frames on the game-over screen before a restart is accepted
AUTO_RESTART_FRAMES = 180  # frames on the game-over screen before an automatic restart

HUD_BG = (28, 28, 44)
GAME_OVER_BG = (96, 0, 0)
PAUSE_BAND = (240, 190, 40)  # the band across a paused game ("PAUSED - press P")
PAUSE_KEY = "p"
WHITE = (255, 255, 255)
LIFE_ON = (230, 40, 60)
LIFE_OFF = (70, 70, 80)


@dataclass(frozen=True)
class GameInput:
    """What the player does during one frame.

    ``held``: canonical key names held during the frame; ``mouse``: pointer
    position in window pixels (None when unknown/outside); ``clicks``: buttons
    pressed during the frame as ``("left"|"right", x, y)`` in window pixels.
    """

    held: frozenset[str] = frozenset()
    mouse: tuple[int, int] | None = None
    clicks: tuple[tuple[str, int, int], ...] = ()


NO_INPUT = GameInput()

_FONTS: dict[int, pygame.font.Font] = {}


def get_font(size: int) -> pygame.font.Font:
    """pygame's default font at ``size`` (initialises pygame.font lazily, cached)."""
    if not pygame.font.get_init():
        pygame.font.init()
    font = _FONTS.get(size)
    if font is None:
        font = _FONTS[size] = pygame.font.Font(None, size)
    return font


def draw_text(surf: pygame.Surface, text: str, size: int, color: tuple[int, int, int],
              pos: tuple[int, int], anchor: str = "topleft") -> pygame.Rect:
    """Blit non-antialiased ``text`` onto ``surf`` with its ``anchor`` point at ``pos``."""
    img = get_font(size).render(text, False, color)
    rect = img.get_rect(**{anchor: pos})
    surf.blit(img, rect)
    return rect


GAMES: dict[str, type[Game]] = {}


def register(cls: type[Game]) -> type[Game]:
    """Class decorator adding a game to :data:`GAMES` under its ``name``."""
    GAMES[cls.name] = cls
    return cls


def make_game(name: str, seed: int = 0, size: tuple[int, int] = (640, 360)) -> Game:
    """Instantiate the registered game ``name``; unknown names raise ValueError."""
    cls = GAMES.get(name)
    if cls is None:
        raise ValueError(f"unknown game {name!r}; known games: {', '.join(sorted(GAMES))}")
    return cls(seed=seed, size=size)


class Game(ABC):
    """A deterministic, frame-stepped game.

    Attributes: ``score``, ``lives``, ``game_over``, ``frame`` (frames stepped
    since construction, never reset), ``episode`` (0-based), ``episode_frame``
    (frames played in the current episode), ``over_frames`` (frames spent on
    the game-over screen) and ``losses`` (what ended each life this episode:
    ``{"frame": episode_frame, "cause": text}``, in order; games call
    :meth:`lose_life`).
    """

    name: ClassVar[str] = "game"
    controls: ClassVar[str] = "keyboard"  # "keyboard" or "mouse": how a restart is requested
    max_lives: ClassVar[int] = 3
    background: ClassVar[tuple[int, int, int]] = (10, 10, 22)
    restart_hint: ClassVar[str] = "press ENTER"
    level: int | None = None  # games with levels set it; the HUD then shows "LEVEL n"

    def __init__(self, seed: int = 0, size: tuple[int, int] = (640, 360)) -> None:
        """Create the game for ``seed`` rendering at ``size`` (width, height) window pixels."""
        w, h = int(size[0]), int(size[1])
        if w <= 0 or h <= 0:
            raise ValueError(f"bad size {size!r}")
        self.seed = int(seed)
        self.size = (w, h)
        self.sx, self.sy = w / LOGICAL_W, h / LOGICAL_H
        self.frame = 0
        self.episode = 0
        # like many real games: with ``pausable`` set, P pauses and unpauses, and so may the window (focus lost);
        # while ``paused`` the world stands still under a dimmed screen. Off by default: play is unchanged.
        self.pausable = False
        self.paused = False
        self._surf: pygame.Surface | None = None
        self._scaled: pygame.Surface | None = None
        self.reset()

    # ----------------------------------------------------------- life cycle
    def reset(self) -> None:
        """Start episode ``self.episode`` afresh (rng derived from seed and episode)."""
        self.rng = np.random.default_rng([self.seed, self.episode])
        self.score = 0
        self.lives = self.max_lives
        self.game_over = False
        self.episode_frame = 0
        self.over_frames = 0
        self.losses: list[dict[str, Any]] = []
        self._prev_held: frozenset[str] = frozenset()
        self._reset_world()

    def restart(self) -> None:
        """Begin the next episode (episode += 1, score and lives reset)."""
        self.episode += 1
        self.reset()

    def step(self, inp: GameInput = NO_INPUT) -> None:
        """Advance exactly one frame (1/60 s of game time) with input ``inp``."""
        self.frame += 1
        if self.pausable and PAUSE_KEY in inp.held - self._prev_held and not self.game_over:
            self.paused = not self.paused
            self._prev_held = inp.held
            return
        if self.paused:
            self._prev_held = inp.held
            return
        if self.game_over:
            self.over_frames += 1
            wants = self.over_frames >= RESTART_MIN_FRAMES and self._restart_requested(inp)
            if wants or self.over_frames >= AUTO_RESTART_FRAMES:
                self.restart()
        else:
            self.episode_frame += 1
            self._update(inp)
            if self.lives <= 0:
                self.lives = 0
                self.game_over = True
        self._prev_held = inp.held

    def simulation_copy(self) -> "Game":
        """A deep copy to step ahead in (what-if play), without the render surfaces: it draws nothing."""
        import copy

        return copy.deepcopy(self, {id(self._surf): None, id(self._scaled): None})

    def lose_life(self, cause: str) -> None:
        """Take one life and log what took it (``state()["losses"]``, hence the window's ``--log``)."""
        self.lives -= 1
        self.losses.append({"frame": self.episode_frame, "cause": cause})

    def _restart_requested(self, inp: GameInput) -> bool:
        if self.controls == "mouse":
            return any(button == "left" for button, _, _ in inp.clicks)
        pressed = inp.held - self._prev_held  # newly pressed this frame
        return "enter" in pressed or "space" in pressed

    @abstractmethod
    def _reset_world(self) -> None:
        """Create the game-specific world for a new episode."""

    @abstractmethod
    def _update(self, inp: GameInput) -> None:
        """Advance the game-specific world one frame (only while not game over)."""

    @abstractmethod
    def _draw_world(self, surf: pygame.Surface) -> None:
        """Draw the world onto the 320x180 logical surface (below the HUD)."""

    @abstractmethod
    def _world_state(self) -> dict[str, Any]:
        """Game-specific entries of :meth:`state`, positions in window pixels."""

    # ----------------------------------------------------------- coordinates
    def to_window(self, x: float, y: float) -> tuple[float, float]:
        """Logical (320x180) coordinates to window pixels (rounded to 0.1)."""
        return round(x * self.sx, 1), round(y * self.sy, 1)

    def to_logical(self, x: float, y: float) -> tuple[float, float]:
        """Window pixels to logical (320x180) coordinates."""
        return x / self.sx, y / self.sy

    # ----------------------------------------------------------- state
    def state(self) -> dict[str, Any]:
        """JSON-serialisable snapshot: common fields plus entity positions in window pixels."""
        return {
            "game": self.name, "controls": self.controls, "size": list(self.size),
            "score": self.score, "lives": self.lives, "max_lives": self.max_lives,
            "game_over": self.game_over, "paused": self.paused, "frame": self.frame, "episode": self.episode,
            "episode_frame": self.episode_frame, "over_frames": self.over_frames,
            "losses": [dict(x) for x in self.losses],
            **self._world_state(),
        }

    # ----------------------------------------------------------- rendering
    def render_surface(self) -> pygame.Surface:
        """Draw the current frame and return it as a pygame Surface of ``size``."""
        if self._surf is None:
            self._surf = pygame.Surface((LOGICAL_W, LOGICAL_H), 0, 32)
            self._scaled = pygame.Surface(self.size, 0, 32)
        surf = self._surf
        if self.game_over:
            self._draw_game_over(surf)
        else:
            surf.fill(self.background)
            self._draw_world(surf)
            self._draw_hud(surf)
            if self.paused:
                self._draw_paused(surf)
        if self.size == (LOGICAL_W, LOGICAL_H):
            self._scaled.blit(surf, (0, 0))
        else:
            pygame.transform.scale(surf, self.size, self._scaled)
        return self._scaled

    def render(self) -> np.ndarray:
        """The window contents as an RGB uint8 array of shape (H, W, 3)."""
        surf = self.render_surface()
        w, h = self.size
        return np.frombuffer(bytearray(pygame.image.tobytes(surf, "RGB")), np.uint8).reshape(h, w, 3)

    def _draw_hud(self, surf: pygame.Surface) -> None:
        surf.fill(HUD_BG, (0, 0, LOGICAL_W, HUD_H))
        draw_text(surf, f"SCORE {self.score}", 16, WHITE, (4, 2))
        if self.level is not None:
            draw_text(surf, f"LEVEL {self.level}", 16, WHITE, (LOGICAL_W // 2 + 16, 2), "midtop")
        for i in range(self.max_lives):  # one heart block per life, right-aligned
            x = LOGICAL_W - 12 - 11 * (self.max_lives - 1 - i)
            surf.fill(LIFE_ON if i < self.lives else LIFE_OFF, (x, 3, 8, 8))

    def _draw_paused(self, surf: pygame.Surface) -> None:
        """The world dimmed to a third, and a band across the middle."""
        shade = pygame.Surface((LOGICAL_W, LOGICAL_H), 0, 32)
        shade.fill((0, 0, 0))
        shade.set_alpha(170)
        surf.blit(shade, (0, 0))
        surf.fill(PAUSE_BAND, (0, 76, LOGICAL_W, 28))
        draw_text(surf, f"PAUSED - press {PAUSE_KEY.upper()}", 16, (40, 30, 0), (LOGICAL_W // 2, 90), "center")

    def _draw_game_over(self, surf: pygame.Surface) -> None:
        surf.fill(GAME_OVER_BG)
        cx = LOGICAL_W // 2
        draw_text(surf, "GAME OVER", 44, WHITE, (cx, 62), "center")
        draw_text(surf, f"SCORE {self.score}", 28, (255, 220, 120), (cx, 100), "center")
        draw_text(surf, self.restart_hint, 16, (230, 170, 170), (cx, 136), "center")


def run_window(game: Game, title: str, log_path: str | None = None, fps: int = 60,
               max_seconds: float | None = None) -> int:
    """Play ``game`` in a real pygame window until closed, SIGTERM or ``max_seconds``.

    Keyboard and mouse events become a :class:`GameInput` each frame.  With
    ``log_path`` one JSON line per frame (time, frame, episode, score, lives,
    game_over, state) is appended and flushed.  Returns the number of frames run.
    """
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    pygame.display.init()
    pygame.font.init()
    screen = pygame.display.set_mode(game.size)
    pygame.display.set_caption(title)
    stop = False

    def _on_term(signum: int, frame: Any) -> None:
        nonlocal stop
        stop = True

    try:
        old_handler = signal.signal(signal.SIGTERM, _on_term)
    except ValueError:  # not in the main thread
        old_handler = None
    log = open(log_path, "a", encoding="utf-8") if log_path else None
    clock = pygame.time.Clock()
    held: set[str] = set()
    start = time.monotonic()
    frames = 0
    try:
        while not stop:
            clicks: list[tuple[str, int, int]] = []
            for ev in pygame.event.get():
                if ev.type == pygame.QUIT:
                    stop = True
                elif ev.type in (pygame.KEYDOWN, pygame.KEYUP):
                    key = normalize_key(pygame.key.name(ev.key))
                    if key and ev.type == pygame.KEYDOWN:
                        held.add(key)
                    elif key:
                        held.discard(key)
                elif ev.type == pygame.MOUSEBUTTONDOWN and ev.button in (1, 3):
                    clicks.append(("left" if ev.button == 1 else "right", int(ev.pos[0]), int(ev.pos[1])))
                elif ev.type == pygame.WINDOWFOCUSLOST or (
                        ev.type == pygame.ACTIVEEVENT and not ev.gain and ev.state & 2):
                    held.clear()
                    if game.pausable and not game.game_over:
                        game.paused = True  # as real games do when the player looks away
            if stop:
                break
            mouse = pygame.mouse.get_pos() if pygame.mouse.get_focused() else None
            game.step(GameInput(frozenset(held), mouse, tuple(clicks)))
            screen.blit(game.render_surface(), (0, 0))
            pygame.display.flip()
            frames += 1
            if log is not None:
                log.write(json.dumps({
                    "t": time.monotonic(), "frame": game.frame, "episode": game.episode,
                    "score": game.score, "lives": game.lives, "game_over": game.game_over, "paused": game.paused,
                    "state": game.state()}) + "\n")
                log.flush()
            if max_seconds is not None and time.monotonic() - start >= max_seconds:
                break
            clock.tick(fps)
    finally:
        if log is not None:
            log.close()
        if old_handler is not None:
            signal.signal(signal.SIGTERM, old_handler)
        pygame.display.quit()
    return frames
