"""Chat messages to votes: phrase matching that ignores case, spacing and punctuation, and a crowd that
counts one vote per person per window and at most ``rate`` a minute, weighs people, and hashes their names.

Pure: no network, no clock of its own (times are passed in), so the tests drive it directly."""

from __future__ import annotations

import collections
import hashlib
import os
import re
from dataclasses import dataclass, field

from hakisa.profile import ChatSpec

MAX_MESSAGE = 500  # characters of a message looked at (IRC lines are at most 512 bytes; Twitch's are longer)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def words(text: str) -> list[str]:
    """The lowercase runs of letters and digits in ``text``: "Good  BOT!!" -> ["good", "bot"]."""
    return _WORD.findall(text[:MAX_MESSAGE].lower())


def _joined_in(phrase: str, tokens: list[str]) -> bool:
    """Whether some run of whole consecutive ``tokens`` spells ``phrase`` (its words joined): spacing-tolerant
    ("goodbot", "good bot", "g o o d bot") but only at word edges ("notgoodbot" is not "good bot")."""
    for i in range(len(tokens)):
        acc = ""
        for tok in tokens[i:]:
            acc += tok
            if len(acc) >= len(phrase):
                break
        if acc == phrase:
            return True
    return False


@dataclass(frozen=True)
class Vote:
    t: float  # when the message arrived (the loop's clock)
    who: str  # a salted hash of the sender's name
    sign: int  # +1 good, -1 bad
    value: float  # reward it gives in all: sign x value x the person's weight


@dataclass
class Crowd:
    """Turns (time, sender, text) into at most one :class:`Vote`, counting why the rest were dropped."""

    spec: ChatSpec
    salt: bytes = field(default_factory=lambda: os.urandom(16))  # never stored: hashes differ between runs
    counts: collections.Counter = field(default_factory=collections.Counter)

    def __post_init__(self):
        self._good = ["".join(words(p)) for p in self.spec.good]
        self._bad = ["".join(words(p)) for p in self.spec.bad]
        self._weights = dict(self.spec.weights)
        self._last: dict[str, float] = {}  # sender -> time of their last counted vote
        self._recent: dict[str, collections.deque] = {}  # sender -> times of their counted votes in the last minute
        self._pruned = 0.0

    def sign(self, text: str) -> int:
        """+1 for a good phrase, -1 for a bad one, 0 for neither or both."""
        tokens = words(text)
        good = any(_joined_in(p, tokens) for p in self._good)
        bad = any(_joined_in(p, tokens) for p in self._bad)
        return int(good) - int(bad)

    def who(self, name: str) -> str:
        return hashlib.sha256(self.salt + name.lower().encode("utf-8", "replace")).hexdigest()[:12]

    def offer(self, t: float, sender: str, text: str) -> Vote | None:
        """The vote in one message, or None (why is counted in ``counts``)."""
        self.counts["messages"] += 1
        sign = self.sign(text)
        if sign == 0:
            self.counts["no vote"] += 1
            return None
        name = sender.lower()
        weight = self._weights.get(name, 1.0)
        if weight <= 0:
            self.counts["weight 0"] += 1
            return None
        last = self._last.get(name)
        if last is not None and t - last < self.spec.window:
            self.counts["again within the window"] += 1
            return None
        recent = self._recent.setdefault(name, collections.deque())
        while recent and t - recent[0] >= 60.0:
            recent.popleft()
        if len(recent) >= self.spec.rate:
            self.counts["over the rate"] += 1
            return None
        recent.append(t)
        self._last[name] = t
        self.counts["votes"] += 1
        self._prune(t)
        return Vote(t, self.who(name), sign, sign * self.spec.value * weight)

    def _prune(self, t: float) -> None:
        """Forget people quiet for a minute, so a flood of one-time senders cannot grow memory without end."""
        if t - self._pruned < 10.0:
            return
        self._pruned = t
        for name in [n for n, last in self._last.items() if t - last >= max(60.0, self.spec.window)]:
            self._last.pop(name, None)
            self._recent.pop(name, None)
