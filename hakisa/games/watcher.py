"""A scripted person watching the agent play a bundled game in memory, for benchmarks of corrections
(HG-DAgger): the demonstrator (:class:`hakisa.games.policy.DemoPolicy`) takes over when the agent is about to
lose a life and hands back after a while, exactly as :class:`hakisa.act.takeover.Takeover` lets a real person do
on a window. "About to lose" is read from the game's true state: a copy of the game, stepped ``horizon`` seconds
ahead with the agent's current input held, loses a life.

It stands in both for the person's hands (:meth:`__call__`, once per game frame: the demonstrator's input while
it has control, the agent's otherwise) and for the takeover listener (:meth:`tick`, once per agent tick), and
reports what the demonstrator pressed to an input tracker, so the loop records its ticks as human with the
actions the codec reads from that input, as `hakisa record` would.
"""

from __future__ import annotations

from hakisa.act.takeover import AGENT, PERSON, Control, TakeoverSpec
from hakisa.games.base import Game, GameInput
from hakisa.games.policy import DemoPolicy
from hakisa.games.source import GameActuator, PolicyPlayer
from hakisa.record.inputlog import InputTracker

FPS = 60


class ScriptedWatcher:
    def __init__(self, game: Game, agent: GameActuator, spec: TakeoverSpec = TakeoverSpec(idle=2.0), *,
                 horizon: float = 1.0, seed: int = 0, budget: float | None = None):
        """``spec.idle``: seconds the demonstrator keeps control once it has it; ``horizon``: how far ahead it
        looks (seconds of game time); ``budget``: at most this many seconds of its control in all (None: no
        limit), which is what a benchmark compares against more demonstration."""
        self.game, self.agent, self.spec = game, agent, spec
        self.horizon_frames = max(1, int(round(horizon * FPS)))
        self.budget_frames = None if budget is None else int(round(budget * FPS))
        self.policy = DemoPolicy(game.name, seed=seed)
        self.tracker = InputTracker()
        self.tracker.set_area((0, 0, *game.size))
        self.player = PolicyPlayer(game, self.policy, self.tracker)
        self.who = AGENT
        self._since = 0  # game frames since the demonstrator took control
        self.frames_in_control = 0
        self.takeovers = 0
        self.person_ticks = 0

    # ----- the loop's side (as hakisa.act.takeover.Takeover) --------------------------------------
    def set_area(self, rect) -> None:
        pass

    def about_to_lose(self) -> bool:
        g = self.game
        if g.game_over:
            return False
        sim = g.simulation_copy()
        inp = GameInput(self.agent.held, self.agent.mouse, ())
        lives = sim.lives
        for _ in range(self.horizon_frames):
            sim.step(inp)
            if sim.lives < lives or sim.game_over:
                return True
        return False

    def tick(self, now: float) -> Control:
        before = self.who
        spent = self.budget_frames is not None and self.frames_in_control >= self.budget_frames
        if self.who == AGENT:
            if not spent and self.about_to_lose():
                self.who, self._since = PERSON, 0
                self.player.held = set()
                self.takeovers += 1
        elif self._since >= self.spec.idle * FPS or self.game.game_over or spent:
            self.who = AGENT
            self.tracker.release_all()  # the demonstrator lets go of everything
            self.player.held = set()
        snap = self.tracker.snapshot()
        if self.who == PERSON:
            self.person_ticks += 1
        return Control(self.who, self.who != before, snap)

    # ----- the game's side: the input of one frame ------------------------------------------------
    def __call__(self) -> GameInput:
        if self.who == PERSON:
            self._since += 1
            self.frames_in_control += 1
            return self.player()
        self.policy.act(self.game.state())  # it watches all the time (its reaction delay needs the history)
        return self.agent()

    # the loop's actuator calls go to the agent's hands
    def apply(self, cmd, area) -> None:
        self.agent.apply(cmd, area)

    def tap(self, key: str) -> None:
        self.agent.tap(key)

    def click_at(self, x: int, y: int, area) -> None:
        self.agent.click_at(x, y, area)

    def release_all(self) -> None:
        self.agent.release_all()

    @property
    def held(self):
        return self.agent.held
