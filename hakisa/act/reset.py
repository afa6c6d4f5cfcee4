"""Getting back into play: the profile's [reset] sequence after a game over, and its [pause] sequence while the
game shows its pause rule, each run tick by tick (the agent loop and the gym environment share them).

A plain ``[reset]`` taps its keys and clicks its points; with ``[[reset.steps]]`` it is a sequence through
menus and dialogs: each step first waits until its ``until`` condition holds on the screen (a title screen, a
"continue?" dialog), then taps its keys and clicks its points, one step per tick so the game can answer. No
episode starts while a sequence is under way, so a title screen between two games is never played or recorded.
A step that waits longer than its ``timeout`` starts the sequence over (after ``retry``) when the game-over screen
is back, and is an error that names the step otherwise; so is a game that does not get back into play within
``[reset] timeout`` seconds of its game over.
"""

from __future__ import annotations

import math

from hakisa.profile import Profile


def press_sequence(seq, actuator, rect: tuple[int, int, int, int]) -> None:
    """Tap ``seq.keys``, then click ``seq.clicks`` (fractions of the captured area ``rect``)."""
    for key in seq.keys:
        actuator.tap(key)
    for fx, fy in seq.clicks:
        actuator.click_at(int(fx * rect[2]), int(fy * rect[3]), rect)


class ResetRunner:
    """Runs the profile's reset sequence; call :meth:`tick` on every tick while no episode is open."""

    def __init__(self, profile: Profile, actuator, rules):
        self.spec = profile.reset
        self.act, self.rules = actuator, rules
        self.steps = self.spec.sequence()
        self.i: int | None = None  # the step under way (None: no sequence running)
        self.step_since = 0.0
        self.over_since: float | None = None  # game over (or a sequence) since
        self.last_start = -math.inf

    @property
    def busy(self) -> bool:
        """A sequence is under way: the screen between its steps is not play."""
        return self.i is not None

    def game_over(self, now: float) -> None:
        """An episode just ended at ``now``: the wait before the first sequence counts from here."""
        self.over_since = now

    def tick(self, now: float, values: dict[str, float], done: bool, rect) -> bool:
        """Advance the sequence on this tick's readings; True if it pressed something now (the frame in front of
        it is then still the old screen: an episode must not start on it)."""
        spec = self.spec
        if not done and not self.busy:
            self.over_since = None
            return False
        if self.over_since is None:
            self.over_since = now
        if now - self.over_since > spec.timeout:
            where = (f"waiting for step {self.i + 1} ({self.steps[self.i].until.text})"
                     if self.busy and self.steps[self.i].until is not None else "on its game-over screen")
            raise RuntimeError(f"the game was not back in play {spec.timeout:g} s after its game over (it was "
                               f"{where}); check [reset] in the profile (keys, clicks and steps that start a new "
                               "game)")
        if not self.busy:
            if now - self.over_since < spec.wait or now - self.last_start < spec.retry:
                return False
            self.i, self.step_since, self.last_start = 0, now, now
        step = self.steps[self.i]
        if step.until is not None and not self.rules.holds(step.until, values):
            if now - self.step_since > step.timeout:
                if not done:  # neither that screen nor the game-over one: nothing in the sequence applies now
                    raise RuntimeError(f"reset step {self.i + 1} waited {step.timeout:g} s for {step.until.text} and "
                                       "the screen shows neither that nor game over; check [[reset.steps]] in the "
                                       "profile (`hakisa regions` shows what each extractor reads)")
                self.i = None  # back on the game-over screen: the sequence starts over after retry
            return False
        press_sequence(step, self.act, rect)
        self.i += 1
        self.step_since = now
        if self.i == len(self.steps):
            self.i = None
        return True


class Unpauser:
    """While the game is paused: after ``[pause] wait`` s tap its keys and click its points, again every ``retry``
    s; an error after ``timeout`` s. :meth:`tick` on each paused tick, :meth:`clear` once play is back."""

    def __init__(self, profile: Profile, actuator):
        self.spec, self.act = profile.pause, actuator
        self.since: float | None = None  # paused since
        self.last = -math.inf

    def tick(self, now: float, rect) -> bool:
        """One paused tick at ``now``; True on the first tick of a pause (the caller then releases what is held)."""
        first = self.since is None
        if first:
            self.since, self.last = now, -math.inf
        p = self.spec
        if now - self.since > p.timeout:
            raise RuntimeError(f"the game stayed paused for {p.timeout:g} s; check [pause] in the profile (keys / "
                               "clicks that unpause it) and [rules.pause]")
        if now - self.since >= p.wait and now - self.last >= p.retry:
            press_sequence(p, self.act, rect)
            self.last = now
        return first

    def clear(self) -> None:
        self.since = None
