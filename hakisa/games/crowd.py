"""A scripted crowd for benchmarks: viewers of a bundled game in memory who vote in chat from its true state,
as people watching a stream would. When the score rises they type "good bot", when a life is lost "bad bot",
each seeing it the stream's delay late plus a reaction of their own, some looking away, some getting it wrong.
Their messages go through the same :class:`hakisa.crowd.votes.Crowd` (one vote per person per window, a rate)
and the same crediting as a real chat, on the game's own clock."""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from hakisa.crowd.votes import Crowd
from hakisa.profile import ChatSpec


@dataclass(frozen=True)
class CrowdSpec:
    viewers: int = 20
    stream_delay: float = 2.0  # seconds the stream shows the game late
    reaction: float = 0.8  # mean seconds from seeing it to the message arriving (lognormal)
    attention: float = 0.5  # chance a viewer reacts to a given moment
    noise: float = 0.1  # chance a reacting viewer votes the wrong way


class ScriptedCrowd:
    def __init__(self, game, chat: ChatSpec, vote, clock, spec: CrowdSpec = CrowdSpec(), seed: int = 0):
        self.game, self.vote, self.clock, self.spec = game, vote, clock, spec
        self.crowd = Crowd(chat)
        self.rng = np.random.default_rng(seed)
        self.queue: list[tuple[float, int, str, str]] = []  # (arrival, order, viewer, text)
        self._n = 0
        self._prev: tuple[float, int] | None = None
        self.events = 0

    def tick(self) -> None:
        """After each game step: what the viewers saw happen, and the messages due by now."""
        t = self.clock.now()
        s = self.game.state()
        now = (float(s.get("score", 0) or 0), int(s.get("lives", 0) or 0))
        prev, self._prev = self._prev, now
        if prev is not None and not s.get("game_over"):
            if now[0] > prev[0]:
                self._react(t, "good bot", "bad bot")
            if now[1] < prev[1]:
                self._react(t, "bad bot", "good bot")
        while self.queue and self.queue[0][0] <= t:
            at, _, who, text = heapq.heappop(self.queue)
            v = self.crowd.offer(at, who, text)
            if v is not None:
                self.vote(v)

    def _react(self, t: float, right: str, wrong: str) -> None:
        sp, rng = self.spec, self.rng
        self.events += 1
        for i in range(sp.viewers):
            if rng.random() >= sp.attention:
                continue
            text = wrong if rng.random() < sp.noise else right
            mu = np.log(max(1e-3, sp.reaction)) - 0.125  # lognormal of sigma 0.5 with mean `reaction`
            arrival = t + sp.stream_delay + float(rng.lognormal(mu, 0.5))
            self._n += 1
            heapq.heappush(self.queue, (arrival, self._n, f"viewer{i:03d}", text))
