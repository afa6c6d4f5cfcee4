"""Bundled demo games for hakisa: small deterministic pygame games to learn on.

``make_game(name, seed, size)`` builds one (``GAMES``: dodge, clicker, bricks,
runner, gems); :func:`run_window` plays it in a real window;
:mod:`hakisa.games.policy` has scripted players.
"""

from hakisa.games.base import (
    GAMES, LOGICAL_H, LOGICAL_W, NO_INPUT, Game, GameInput, check_profile_for, make_game, register,
    run_window,
)
from hakisa.games.bricks import Bricks
from hakisa.games.clicker import Clicker
from hakisa.games.dodge import Dodge
from hakisa.games.gems import Gems
from hakisa.games.runner import Runner

__all__ = ["GAMES", "LOGICAL_H", "LOGICAL_W", "NO_INPUT", "Game", "GameInput", "check_profile_for", "make_game",
           "register", "run_window", "Bricks", "Clicker", "Dodge", "Gems", "Runner"]
