"""The action codec: raw input <-> the three factored heads, with masks.

One codec, built from the profile, is used by every command: ``record`` labels
the human's ticks with it, ``study``/``consolidate`` train heads under its masks,
``explore``/``play`` decode head indices back into input.

Heads
  ``command_type``  0 no-op, 1 key, 2 mouse move, 3 left click, 4 right click
  ``action_1``      for ``key``: index into the profile's key chords;
                    for mouse commands: the X cell of the mouse grid
  ``action_2``      for mouse commands: the Y cell; unused otherwise

Hold semantics (what an action means for one tick)
  ``noop``          no key or button is held during the tick
  ``key k``         exactly the keys of chord ``k`` are held during the tick
                    (keys not in it are released at the start of the tick)
  ``mouse_move``    the pointer moves to the centre of cell (x, y); no key held
  ``left_click`` / ``right_click``  the pointer moves to the cell and the
                    button is pressed and released within the tick; no key held

Labelling the human (several things can happen in one tick, one is kept):
a new button press beats a held key chord, which beats a mouse move, which
beats nothing.  Keys pressed and released inside one tick count as held
during it, so quick taps are never lost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hakisa.profile import ActionSpec

COMMANDS: tuple[str, ...] = ("noop", "key", "mouse_move", "left_click", "right_click")
NOOP, KEY, MOUSE_MOVE, LEFT_CLICK, RIGHT_CLICK = range(len(COMMANDS))
MOUSE_COMMANDS = (MOUSE_MOVE, LEFT_CLICK, RIGHT_CLICK)


@dataclass(frozen=True)
class Action:
    """One factored action; unused heads are 0."""

    command_type: int
    action_1: int = 0
    action_2: int = 0

    def as_tuple(self) -> tuple[int, int, int]:
        return (self.command_type, self.action_1, self.action_2)


NONE_ACTION = Action(NOOP, 0, 0)


@dataclass(frozen=True)
class TickInput:
    """What the human did during one tick (the interval ending at an observation)."""

    held: frozenset[str]  # keys held at the end of the tick
    pressed: tuple[str, ...]  # keys pressed during the tick, in order
    mouse: tuple[int, int] | None  # pointer position at the end of the tick (captured-area pixels)
    moved: bool  # the pointer moved during the tick
    clicks: tuple[tuple[str, int, int], ...]  # (button, x, y) presses during the tick


@dataclass(frozen=True)
class Command:
    """Decoded action: what to hold and where to point/click during one tick."""

    held: frozenset[str]
    mouse: tuple[int, int] | None = None
    click: str | None = None  # "left" or "right"


class ActionCodec:
    """Maps raw input to head indices and back, for one profile and capture size."""

    def __init__(self, actions: ActionSpec, capture_size: tuple[int, int]):
        self.spec = actions
        self.capture_size = (int(capture_size[0]), int(capture_size[1]))
        self.chords = actions.keys
        self._chord_sets = [frozenset(c) for c in self.chords]
        self._chord_index = {c: i for i, c in enumerate(self._chord_sets)}
        self.key_set = actions.key_set
        if actions.mouse == "none":
            self.grid = (1, 1)
        elif actions.mouse_grid is None:
            self.grid = self.capture_size
        else:
            self.grid = actions.mouse_grid
        self.n_command = len(COMMANDS)
        self.n_action_1 = max(len(self.chords), self.grid[0] if actions.mouse != "none" else 1, 1)
        self.n_action_2 = self.grid[1] if actions.mouse != "none" else 1

    # ----- masks -------------------------------------------------------------------------
    def command_mask(self) -> np.ndarray:
        """Bool mask over command types the profile allows (no-op is always allowed)."""
        m = np.zeros(self.n_command, dtype=bool)
        m[NOOP] = True
        m[KEY] = bool(self.chords)
        if self.spec.mouse != "none":
            m[[MOUSE_MOVE, LEFT_CLICK, RIGHT_CLICK]] = True
        return m

    def action_1_mask(self, command_type: int) -> np.ndarray:
        """Bool mask over action_1 values valid for ``command_type`` (all False if the head is unused)."""
        m = np.zeros(self.n_action_1, dtype=bool)
        if command_type == KEY:
            m[: len(self.chords)] = True
        elif command_type in MOUSE_COMMANDS and self.spec.mouse != "none":
            m[: self.grid[0]] = True
        return m

    def action_2_mask(self, command_type: int) -> np.ndarray:
        """Bool mask over action_2 values valid for ``command_type`` (all False if the head is unused)."""
        m = np.zeros(self.n_action_2, dtype=bool)
        if command_type in MOUSE_COMMANDS and self.spec.mouse != "none":
            m[: self.grid[1]] = True
        return m

    @staticmethod
    def head_usage(command_type: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
        """(uses action_1, uses action_2) for each command type: heads that do not apply never train."""
        c = np.asarray(command_type)
        return (c != NOOP), np.isin(c, MOUSE_COMMANDS)

    # ----- encode ------------------------------------------------------------------------
    def cell_of(self, x: float, y: float) -> tuple[int, int]:
        """Grid cell containing pixel (x, y) of the captured area (clamped to the grid)."""
        w, h = self.capture_size
        cx = int(np.clip(x * self.grid[0] // max(w, 1), 0, self.grid[0] - 1))
        cy = int(np.clip(y * self.grid[1] // max(h, 1), 0, self.grid[1] - 1))
        return cx, cy

    def cell_center(self, cx: int, cy: int) -> tuple[int, int]:
        """Pixel (x, y) at the centre of a grid cell, in captured-area pixels."""
        w, h = self.capture_size
        return (int((cx + 0.5) * w / self.grid[0]), int((cy + 0.5) * h / self.grid[1]))

    def chord_for(self, held: frozenset[str], pressed: tuple[str, ...] = ()) -> int | None:
        """Index of the chord that best describes the held keys, or None if no listed key is held.

        An exact match wins; otherwise the largest listed chord made only of held keys;
        ties (and chords that are not subsets) go to the chord with the most recent press.
        """
        keys = frozenset(k for k in held if k in self.key_set)
        if not keys:
            return None
        exact = self._chord_index.get(keys)
        if exact is not None:
            return exact
        recency = {k: i for i, k in enumerate(pressed)}

        def score(i: int) -> tuple[int, int, int]:
            c = self._chord_sets[i]
            subset = int(c <= keys)
            overlap = len(c & keys) if subset else 0
            latest = max((recency.get(k, -1) for k in c), default=-1)
            return (subset, overlap, latest)

        best = max(range(len(self._chord_sets)), key=score)
        return best if self._chord_sets[best] & keys else None

    def encode(self, tick: TickInput) -> Action:
        """Label one tick of human input with the three heads (see module docstring)."""
        mouse_on = self.spec.mouse != "none"
        if mouse_on and tick.clicks:
            button, x, y = tick.clicks[0]
            if button in ("left", "right"):
                cx, cy = self.cell_of(x, y)
                return Action(LEFT_CLICK if button == "left" else RIGHT_CLICK, cx, cy)
        held_now = tick.held | frozenset(tick.pressed)
        chord = self.chord_for(held_now, tick.pressed)
        if chord is not None:
            return Action(KEY, chord, 0)
        if mouse_on and tick.moved and tick.mouse is not None:
            cx, cy = self.cell_of(*tick.mouse)
            return Action(MOUSE_MOVE, cx, cy)
        return NONE_ACTION

    # ----- decode ------------------------------------------------------------------------
    def decode(self, action: Action | tuple[int, int, int]) -> Command:
        """Turn head indices into what is held and where the pointer goes during one tick."""
        c, a1, a2 = action.as_tuple() if isinstance(action, Action) else tuple(int(v) for v in action)
        if c == KEY:
            if not 0 <= a1 < len(self.chords):
                raise ValueError(f"action_1={a1} is not a key chord index (0..{len(self.chords) - 1})")
            return Command(held=self._chord_sets[a1])
        if c in MOUSE_COMMANDS:
            if self.spec.mouse == "none":
                raise ValueError(f"command {COMMANDS[c]!r} but the profile has actions.mouse = \"none\"")
            pos = self.cell_center(min(max(a1, 0), self.grid[0] - 1), min(max(a2, 0), self.grid[1] - 1))
            click = {LEFT_CLICK: "left", RIGHT_CLICK: "right"}.get(c)
            return Command(held=frozenset(), mouse=pos, click=click)
        if c != NOOP:
            raise ValueError(f"command_type={c} is not one of 0..{len(COMMANDS) - 1} ({', '.join(COMMANDS)})")
        return Command(held=frozenset())

    def describe(self, action: Action | tuple[int, int, int]) -> str:
        """Short human-readable text for an action, e.g. 'key left+space' or 'left_click (12, 7)'."""
        c, a1, a2 = action.as_tuple() if isinstance(action, Action) else tuple(int(v) for v in action)
        if c == KEY and 0 <= a1 < len(self.chords):
            return "key " + "+".join(self.chords[a1])
        if c in MOUSE_COMMANDS:
            return f"{COMMANDS[c]} ({a1},{a2})"
        return COMMANDS[c] if 0 <= c < len(COMMANDS) else f"? {c}"

    def to_dict(self) -> dict:
        """JSON-serialisable description stored in datasets and checkpoints."""
        return {"commands": list(COMMANDS), "chords": ["+".join(c) for c in self.chords],
                "mouse": self.spec.mouse, "grid": list(self.grid),
                "capture_size": list(self.capture_size),
                "n_action_1": self.n_action_1, "n_action_2": self.n_action_2}
