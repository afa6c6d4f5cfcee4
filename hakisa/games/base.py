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
DAY_NIGHT_FRAMES = 60 * 60  # a day and a night: one minute of game time
NIGHT_FADE_FRAMES = 90  # each fade takes 1.5 s
NIGHT_SKY = (6, 8, 34)  # what the world fades towards at night
DIALOG_BG = (20, 60, 110)  # the "CONTINUE?" dialog of a game with menus
TITLE_BG = (16, 70, 40)  # its title screen
YES_BOX = (104, 96, 48, 18)  # logical x, y, w, h of the dialog's buttons
NO_BOX = (168, 96, 48, 18)
STALE_SCORE_FRAMES = 48  # after a continue, the HUD shows the old score this long (as some real games do)
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


def check_profile_for(name: str, profile) -> None:
    """Refuse to play the bundled game ``name`` with the profile of another bundled game (a checkpoint
    studied on dodge and run with ``--headless runner``): its network knows another game's screen and keys.
    A profile named after no bundled game (a user's own, a test's) is left to the caller."""
    from hakisa.errors import HakisaError

    if profile.name != name and profile.name in GAMES:
        raise HakisaError(f"the profile '{profile.name}' (from {profile.source}) is for the bundled game "
                          f"'{profile.name}', not '{name}': a checkpoint or profile of one game cannot play "
                          f"another. Use --headless {profile.name}, or a checkpoint trained on {name}.")


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
    _night_shade: ClassVar[pygame.Surface | None] = None

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
        # with ``menus`` set, a game over shows a "CONTINUE? YES / NO" dialog (Y/N or a click on a button): yes starts
        # the next game at once but leaves the old score on the HUD for STALE_SCORE_FRAMES; no goes to a title
        # screen that ENTER leaves. ``screen`` is "play", "continue" or "title". Off by default.
        self.menus = False
        # with ``day_night`` set, the world darkens to night and back every DAY_NIGHT_FRAMES, fading over
        # NIGHT_FADE_FRAMES, as some games' palettes do (the HUD and the menus keep their colours)
        self.day_night = False
        # every game starts with ``start_score`` points (0): a HUD showing many digits at once, to teach digits from
        self.start_score = 0
        self.screen = "play"
        self._stale: tuple[int, int] | None = None  # (score shown, frames left)
        self._surf: pygame.Surface | None = None
        self._scaled: pygame.Surface | None = None
        self.reset()

    # ----------------------------------------------------------- life cycle
    def reset(self) -> None:
        """Start episode ``self.episode`` afresh (rng derived from seed and episode)."""
        self.rng = np.random.default_rng([self.seed, self.episode])
        self.score = self.start_score
        self.lives = self.max_lives
        self.game_over = False
        self.episode_frame = 0
        self.over_frames = 0
        self.losses: list[dict[str, Any]] = []
        self._prev_held: frozenset[str] = frozenset()
        self.screen = "play"
        self._stale = None
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
        if self._stale is not None:
            self._stale = (self._stale[0], self._stale[1] - 1) if self._stale[1] > 1 else None
        if self.game_over and self.menus:
            self.over_frames += 1
            self._menu_step(inp)
        elif self.game_over:
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
                self.screen = "continue" if self.menus else "play"
        self._prev_held = inp.held

    def _menu_step(self, inp: GameInput) -> None:
        """The continue dialog and the title screen of a game with menus."""
        pressed = inp.held - self._prev_held
        if self.over_frames < RESTART_MIN_FRAMES // 2:
            return
        if self.screen == "continue":
            clicked = [self.to_logical(x, y) for b, x, y in inp.clicks if b == "left"]

            def on(box) -> bool:
                bx, by, bw, bh = box
                return any(bx <= x < bx + bw and by <= y < by + bh for x, y in clicked)

            if "y" in pressed or on(YES_BOX):
                old = self.score
                self.restart()
                self._stale = (old, STALE_SCORE_FRAMES)
            elif "n" in pressed or on(NO_BOX):
                self.screen = "title"
        elif self.screen == "title" and ("enter" in pressed or "space" in pressed):
            self.restart()

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
            "game_over": self.game_over, "paused": self.paused, "screen": self.screen, "night": self.night(), "frame": self.frame, "episode": self.episode,
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
        if self.game_over and self.menus:
            self._draw_menu(surf)
        elif self.game_over:
            self._draw_game_over(surf)
        else:
            surf.fill(self.background)
            self._draw_world(surf)
            self._draw_night(surf)
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

    def night(self) -> float:
        """How far into night the world is: 0 by day, 1 at night (0 when ``day_night`` is off)."""
        if not self.day_night:
            return 0.0
        half, fade = DAY_NIGHT_FRAMES // 2, NIGHT_FADE_FRAMES
        t = self.frame % DAY_NIGHT_FRAMES
        if t < half - fade:
            return 0.0
        if t < half:
            return (t - (half - fade)) / fade
        if t < DAY_NIGHT_FRAMES - fade:
            return 1.0
        return 1.0 - (t - (DAY_NIGHT_FRAMES - fade)) / fade

    def _draw_night(self, surf: pygame.Surface) -> None:
        level = self.night()
        if level > 0:
            if Game._night_shade is None:
                Game._night_shade = pygame.Surface((LOGICAL_W, LOGICAL_H), 0, 32)
                Game._night_shade.fill(NIGHT_SKY)
            Game._night_shade.set_alpha(int(round(215 * level)))
            surf.blit(Game._night_shade, (0, 0))

    def _draw_hud(self, surf: pygame.Surface) -> None:
        surf.fill(HUD_BG, (0, 0, LOGICAL_W, HUD_H))
        shown = self._stale[0] if self._stale is not None else self.score
        draw_text(surf, f"SCORE {shown}", 16, WHITE, (4, 2))
        if self.level is not None:
            draw_text(surf, f"LEVEL {self.level}", 16, WHITE, (LOGICAL_W // 2 + 16, 2), "midtop")
        for i in range(self.max_lives):  # one heart block per life, right-aligned
            x = LOGICAL_W - 12 - 11 * (self.max_lives - 1 - i)
            surf.fill(LIFE_ON if i < self.lives else LIFE_OFF, (x, 3, 8, 8))

    @staticmethod
    def _draw_paused_shade(surf: pygame.Surface) -> None:
        shade = pygame.Surface((LOGICAL_W, LOGICAL_H), 0, 32)
        shade.fill((0, 0, 0))
        shade.set_alpha(170)
        surf.blit(shade, (0, 0))

    def _draw_paused(self, surf: pygame.Surface) -> None:
        """The world dimmed to a third, and a band across the middle."""
        self._draw_paused_shade(surf)
        surf.fill(PAUSE_BAND, (0, 76, LOGICAL_W, 28))
        draw_text(surf, f"PAUSED - press {PAUSE_KEY.upper()}", 16, (40, 30, 0), (LOGICAL_W // 2, 90), "center")

    def _draw_menu(self, surf: pygame.Surface) -> None:
        cx = LOGICAL_W // 2
        if self.screen == "title":
            surf.fill(TITLE_BG)
            draw_text(surf, self.name.upper(), 44, WHITE, (cx, 62), "center")
            draw_text(surf, "press ENTER to play", 16, (200, 240, 200), (cx, 110), "center")
            return
        surf.fill(self.background)  # the last moment of play, dimmed, under the dialog
        self._draw_world(surf)
        self._draw_night(surf)
        self._draw_hud(surf)
        self._draw_paused_shade(surf)
        surf.fill(DIALOG_BG, (80, 56, 160, 68))
        draw_text(surf, "CONTINUE?", 20, WHITE, (cx, 74), "center")
        for box, label, colour in ((YES_BOX, "YES", (60, 160, 80)), (NO_BOX, "NO", (120, 120, 130))):
            surf.fill(colour, box)
            draw_text(surf, label, 14, WHITE, (box[0] + box[2] // 2, box[1] + box[3] // 2), "center")

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
