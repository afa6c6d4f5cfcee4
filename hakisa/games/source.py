"""A FrameSource over a headless bundled game, stepped once per grab (for tests and benchmarks)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from hakisa.games.base import NO_INPUT, Game, GameInput


class HeadlessFrameSource:
    """Each ``grab`` advances the game ``frames_per_grab`` frames with ``input_fn()`` and returns its pixels."""

    channel_order = "rgb"

    def __init__(self, game: Game, input_fn: Callable[[], GameInput] = lambda: NO_INPUT, frames_per_grab: int = 1):
        self.game = game
        self.input_fn = input_fn
        self.frames_per_grab = frames_per_grab
        self.closed = False

    def open(self) -> None:
        pass

    def area(self) -> tuple[int, int, int, int] | None:
        return None if self.closed else (0, 0, *self.game.size)

    def focused(self) -> bool:
        return True

    def grab(self, rect: tuple[int, int, int, int]) -> np.ndarray:
        for _ in range(self.frames_per_grab):
            self.game.step(self.input_fn())
        return self.game.render()

    def close(self) -> None:
        pass
