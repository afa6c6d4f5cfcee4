"""Bundled demo games for hakisa: small deterministic pygame games to learn on.

``make_game("dodge" | "clicker", seed, size)`` builds one; :func:`run_window`
plays it in a real window; :mod:`hakisa.games.policy` has scripted players.
"""

from hakisa.games.base import (
    GAMES, LOGICAL_H, LOGICAL_W, NO_INPUT, Game, GameInput, make_game, register, run_window,
)
from hakisa.games.clicker import Clicker
from hakisa.games.dodge import Dodge

__all__ = ["GAMES", "LOGICAL_H", "LOGICAL_W", "NO_INPUT", "Game", "GameInput", "make_game",
           "register", "run_window", "Clicker", "Dodge"]
