"""Scripted players for the demo games (pure Python, no OS input).

:class:`DemoPolicy` plays like a decent but imperfect human: it reacts to what
it saw ``reaction_frames`` ago, holds keys for realistic stretches, moves the
mouse like a hand, clicks at most about three times a second and blunders now
and then.  :class:`RandomPolicy` mashes random inputs, for baselines.
Both return the input the player *wants* now as a :class:`GameInput`, with
positions in window pixels.
"""

from __future__ import annotations

import math
import random
from collections import deque
from typing import Any

from hakisa.games.base import GameInput, make_game

POLICY_GAMES = ("dodge", "clicker", "bricks", "runner", "gems")
RUNNER_JITTER = 1.5  # frames: spread of the runner demonstrator's jump timing
RUNNER_BLUNDERS = 0.3  # its blunders, relative to the other games' rate


def _check_game(game_name: str) -> None:
    if game_name not in POLICY_GAMES:
        raise ValueError(f"no policy for game {game_name!r}; known: {', '.join(POLICY_GAMES)}")


def _sign(v: float) -> int:
    return (v > 0) - (v < 0)


def _fold(x: float, lo: float, hi: float) -> float:
    """Where a point moving freely to ``x`` ends up between walls at ``lo`` and ``hi`` (mirror bounces)."""
    span = hi - lo
    if span <= 0:
        return lo
    t = (x - lo) % (2 * span)
    return lo + (t if t <= span else 2 * span - t)


_DIRS = [(1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1)]  # gems: 8 directions, y down


def _dir_keys(d: tuple[int, int]) -> set[str]:
    dx, dy = d
    return ({"right"} if dx > 0 else {"left"} if dx < 0 else set()) | (
        {"down"} if dy > 0 else {"up"} if dy < 0 else set())


class DemoPolicy:
    """An imperfect-human demonstrator for every bundled game (:data:`POLICY_GAMES`)."""

    def __init__(self, game_name: str, seed: int = 0, reaction_frames: int = 9,
                 mistake_rate: float = 0.05) -> None:
        """``mistake_rate``: chance of a blunder per decision (about one decision per 10 frames)."""
        _check_game(game_name)
        self.game_name = game_name
        self.reaction_frames = max(0, int(reaction_frames))
        self.mistake_rate = float(mistake_rate)
        self.rng = random.Random(int(seed) * 1_000_003 + 7)
        self._seen: deque[dict[str, Any]] = deque()
        self._t = 0  # frames acted
        self._blunder: GameInput | None = None
        self._blunder_left = 0
        self._over = 0  # frames we have seen the game-over screen
        self._restart_at = 0
        self._episode: int | None = None  # the game's episode number we last saw
        # dodge
        self._move = 0  # -1 left, 0 none, +1 right (held direction)
        self._fire_left = 0  # frames space stays held
        self._moves: deque[int] = deque([0] * self.reaction_frames, maxlen=self.reaction_frames)
        self._target: int | None = None
        # clicker
        self._hand: list[float] | None = None
        self._aim: int | None = None
        self._aim_offset = (0.0, 0.0)
        self._clicked: dict[int, int] = {}  # target id -> frame we clicked it
        self._click_cd = 0
        self._dwell = 0
        # bricks
        self._serve_wait: int | None = None
        self._aim_err = 0.0
        self._falling = False
        self._hold = 0  # frames the current press / release lasts at least
        # runner
        self._jumped: set[int] = set()
        self._jitter: dict[int, float] = {}
        # gems
        self._dir: tuple[int, int] | None = None
        self._steps: deque[tuple[float, float]] = deque([(0.0, 0.0)] * self.reaction_frames,
                                                        maxlen=self.reaction_frames)
        self._goal: int | None = None
        self._dir_hold = 0

    def act(self, state: dict[str, Any]) -> GameInput:
        """Input the player wants now, given the current ``state`` (seen with a delay)."""
        self._seen.append(state)
        while len(self._seen) > self.reaction_frames + 1:
            self._seen.popleft()
        seen = self._seen[0]
        if seen.get("episode") != self._episode:
            self._episode = seen.get("episode")
            self._forget_episode()
        self._t += 1
        self._click_cd = max(0, self._click_cd - 1)
        if self._hand is None and self.game_name == "clicker":
            w, h = state["size"]
            self._hand = list(state["mouse"]) if state.get("mouse") else [w / 2, h / 2]
        if len(self._seen) <= self.reaction_frames:  # nothing seen yet
            inp = self._hand_input() if self.game_name == "clicker" else GameInput()
        elif seen["game_over"]:
            inp = self._restart(seen)
        else:
            self._over = 0
            inp = self._blundering(seen)
            if inp is None:
                inp = getattr(self, "_" + self.game_name)(seen)
        if self.reaction_frames:
            dx = ("right" in inp.held) - ("left" in inp.held)
            self._moves.append(dx)
            if self.game_name == "gems":
                dy = ("down" in inp.held) - ("up" in inp.held)
                k = 1 / math.hypot(dx, dy) if dx or dy else 0.0
                self._steps.append((dx * k, dy * k))
        return inp

    # ----------------------------------------------------------- shared
    def _forget_episode(self) -> None:
        """A new episode began: forget what was remembered of the last one's objects. Games number their
        obstacles, targets and gems from 0 in every episode, so a remembered id would stand for a new object
        (a runner that "already jumped" cactus 3 would run into the new cactus 3)."""
        self._jumped.clear()
        self._jitter.clear()
        self._clicked.clear()
        self._target = self._aim = self._goal = None

    def _hand_input(self, click: bool = False) -> GameInput:
        x, y = round(self._hand[0]), round(self._hand[1])
        return GameInput(frozenset(), (x, y), (("left", x, y),) if click else ())

    def _restart(self, seen: dict[str, Any]) -> GameInput:
        """Wait ~1.5 s on the game-over screen, then press enter / click (retrying)."""
        self._move, self._fire_left, self._blunder_left, self._aim = 0, 0, 0, None
        if self._over == 0:
            self._restart_at = max(0, round(self.rng.gauss(90, 12)) - self.reaction_frames)
        self._over += 1
        k = self._over - self._restart_at
        if self.game_name == "clicker":
            return self._hand_input(click=k >= 0 and k % 40 == 0)
        return GameInput(frozenset({"enter"}) if k >= 0 and k % 40 < 5 else frozenset())

    def _blundering(self, seen: dict[str, Any]) -> GameInput | None:
        """Continue or start a blunder (wrong direction / idling); None when playing normally."""
        if self._blunder_left > 0:
            self._blunder_left -= 1
            return self._blunder
        # a runner's blunder is nearly always fatal: people make them less often there
        if self.rng.random() >= self.mistake_rate / 10 * (RUNNER_BLUNDERS if self.game_name == "runner" else 1.0):
            return None
        if self.game_name == "clicker":  # hesitate: the hand freezes
            self._blunder, self._blunder_left = self._hand_input(), self.rng.randint(10, 25)
        elif self.game_name == "runner":
            if self.rng.random() < 0.5:  # a jump for nothing
                self._blunder, self._blunder_left = GameInput(frozenset({"space"})), self.rng.randint(4, 9)
            else:  # looks away: no reaction for a while
                self._blunder, self._blunder_left = GameInput(), self.rng.randint(15, 40)
        elif self.game_name == "gems" and self.rng.random() < 0.5:  # off in a wrong direction
            d = self.rng.choice(_DIRS)
            self._blunder, self._blunder_left = GameInput(frozenset(_dir_keys(d))), self.rng.randint(6, 15)
            self._dir = None
        elif self.game_name == "gems":  # stops
            self._blunder, self._blunder_left = GameInput(), self.rng.randint(10, 30)
            self._dir = None
        elif self.rng.random() < 0.5:  # wrong way for a moment, fire held as before
            wrong = -self._move or self.rng.choice((-1, 1))
            keys = {"left" if wrong < 0 else "right"} | ({"space"} if self._fire_left else set())
            self._blunder, self._blunder_left = GameInput(frozenset(keys)), self.rng.randint(6, 15)
        else:  # let go of everything
            self._blunder, self._blunder_left = GameInput(), self.rng.randint(10, 30)
        self._move = 0
        self._blunder_left -= 1
        return self._blunder

    # ----------------------------------------------------------- dodge
    def _dodge(self, st: dict[str, Any]) -> GameInput:
        rf = self.reaction_frames
        w = st["size"][0]
        s = w / 320
        ship, spd, bspd = st["ship"], st["ship_speed"], st["bullet_speed"]
        half_ship = ship["w"] / 2
        # efference copy: where the ship is now, given the keys held since `st`
        x = min(max(ship["x"] + spd * sum(self._moves), half_ship), w - half_ship)
        ship_top = ship["y"] - ship["h"] / 2
        # rocks cannot be shot: keep out of the columns of those about to arrive
        danger = []
        for e in st["enemies"]:
            if e["kind"] != "rock":
                continue
            ey = e["y"] + e["vy"] * rf
            gap = ship_top - (ey + e["h"] / 2)
            if -ship["h"] - e["h"] < gap and gap / max(e["vy"], 1e-6) < 45:
                margin = half_ship + e["w"] / 2 + 3 * s
                danger.append((e["x"] - margin, e["x"] + margin))

        def unsafe(px: float) -> bool:
            return any(lo < px < hi for lo, hi in danger)

        # choose the invader to shoot: urgent and reachable, sticking with the current one
        best, best_cost, aim_x = None, math.inf, None
        for e in st["enemies"]:
            if e["kind"] != "invader":
                continue
            ex, ey = e["x"] + e["vx"] * rf, e["y"] + e["vy"] * rf
            if any(abs(bx - ex) < e["w"] / 2 and ey < by < ship_top for bx, by in st["bullets"]):
                continue  # a bullet is already on its way
            flight = max(0.0, ship_top - ey) / (bspd + e["vy"])
            ax = min(max(ex + e["vx"] * flight, half_ship), w - half_ship)
            if unsafe(ax):
                continue
            travel = abs(ax - x) / spd
            to_bottom = (st["bottom_y"] - ey - e["h"] / 2) / max(e["vy"], 1e-6)
            if travel + flight > to_bottom:
                continue  # cannot make it
            cost = to_bottom + travel - (40 if e["id"] == self._target else 0)
            if cost < best_cost:
                best, best_cost, aim_x = e, cost, ax
        self._target = best["id"] if best else None
        goal = aim_x if aim_x is not None else x
        if unsafe(x) or unsafe(goal):
            # escape to the nearest safe column (towards the goal if equally near)
            cands = [c for lo, hi in danger for c in (lo - s, hi + s) if half_ship <= c <= w - half_ship]
            safe = [c for c in cands if not unsafe(c)]
            if unsafe(x) and safe:
                goal = min(safe, key=lambda c: abs(c - x) + 0.2 * abs(c - goal))
        err = goal - x
        if self._move == 0:
            if abs(err) > 4 * s:
                self._move = _sign(err)
        elif err * self._move <= spd * 0.5:  # arrived (or overshot): let go
            self._move = 0
        if best is not None and aim_x is not None and abs(aim_x - x) < best["w"] / 2 + 2 * s:
            self._fire_left = self.rng.randint(10, 20)  # press and keep holding a while
        else:
            self._fire_left = max(0, self._fire_left - 1)
        keys = set()
        if self._move:
            keys.add("right" if self._move > 0 else "left")
        if self._fire_left:
            keys.add("space")
        return GameInput(frozenset(keys))

    # ----------------------------------------------------------- clicker
    def _clicker(self, st: dict[str, Any]) -> GameInput:
        rf = self.reaction_frames
        w, h = st["size"]
        s = min(w / 320, h / 180)
        hand = self._hand
        # a target we clicked is ignored until the delayed view shows the click missed
        targets = [t for t in st["targets"] if t["ttl"] - rf > 2
                   and self._t - self._clicked.get(t["id"], -10**9) > rf + 1]
        ids = {t["id"] for t in targets}
        if self._aim not in ids:
            self._aim = None
            best = math.inf
            for t in targets:
                travel = math.hypot(t["x"] - hand[0], t["y"] - hand[1]) / (6 * s)
                cost = (t["ttl"] - rf) + 2 * travel
                if cost < best:
                    best, self._aim = cost, t["id"]
            if self._aim is not None:
                a = self.rng.uniform(0, 2 * math.pi)
                self._aim_offset = (math.cos(a), math.sin(a))
                self._dwell = 0
        if self._aim is None:
            return self._hand_input()
        t = next(t for t in targets if t["id"] == self._aim)
        r_now = t["r0"] * (1 - min(1.0, (t["age"] + rf) / t["life"]))
        off = 0.25 * r_now
        tx, ty = t["x"] + off * self._aim_offset[0], t["y"] + off * self._aim_offset[1]
        dx, dy = tx - hand[0], ty - hand[1]
        d = math.hypot(dx, dy)
        step = min(d, max(2 * s, 0.3 * d), 9 * s)  # fast ballistic move, then slow homing
        if d > 0:
            hand[0] += dx / d * step
            hand[1] += dy / d * step
        hand[0] = min(max(hand[0] + self.rng.gauss(0, 0.3 * s), 0), w - 1)
        hand[1] = min(max(hand[1] + self.rng.gauss(0, 0.3 * s), 0), h - 1)
        inside = math.hypot(t["x"] - hand[0], t["y"] - hand[1]) <= 0.6 * r_now
        self._dwell = self._dwell + 1 if inside else 0
        if not (inside and self._dwell >= 2 and self._click_cd == 0):
            return self._hand_input()
        if self.rng.random() < self.mistake_rate:  # slip: a click that lands just outside
            a = self.rng.uniform(0, 2 * math.pi)
            m = self.rng.uniform(1.2, 1.8) * r_now + 2 * s
            hand[0], hand[1] = hand[0] + m * math.cos(a), hand[1] + m * math.sin(a)
        else:  # ordinary jitter of a few pixels
            hand[0] += self.rng.gauss(0, 0.8 * s)
            hand[1] += self.rng.gauss(0, 0.8 * s)
        hand[0], hand[1] = min(max(hand[0], 0), w - 1), min(max(hand[1], 0), h - 1)
        self._clicked[t["id"]] = self._t
        self._click_cd = 20 + self.rng.randint(0, 8)  # at most ~3 clicks per second
        self._aim = None
        if len(self._clicked) > 64:
            self._clicked = {k: v for k, v in self._clicked.items() if self._t - v < 600}
        return self._hand_input(click=True)

    # ----------------------------------------------------------- bricks
    def _bricks(self, st: dict[str, Any]) -> GameInput:
        rf = self.reaction_frames
        w = st["size"][0]
        s = w / 320
        pad, ball, spd = st["paddle"], st["ball"], st["paddle_speed"]
        half = pad["w"] / 2
        x = min(max(pad["x"] + spd * sum(self._moves), half), w - half)  # efference copy
        keys: set[str] = set()
        if ball["attached"]:
            self._falling = False
            if self._serve_wait is None:
                self._serve_wait = self.rng.randint(15, 60)  # a breath before serving
            self._serve_wait -= 1
            goal = x
            if self._serve_wait <= 0 and self._fire_left == 0:
                self._fire_left = self.rng.randint(4, 9)
        else:
            self._serve_wait = None
            r = ball["size"] / 2
            lo, hi, top, pad_top = r, w - r, st["top_y"] + r, pad["y"] - r
            bx, by, vx, vy = ball["x"] + ball["vx"] * rf, ball["y"] + ball["vy"] * rf, ball["vx"], ball["vy"]
            if by < top:  # bounced off the ceiling meanwhile
                by, vy = 2 * top - by, -vy
            if vy > 0:
                t = max(0.0, pad_top - by) / vy
            else:  # up to the ceiling (bricks ignored: a person cannot foresee those bounces), then down
                t = (by - top) / -vy + (pad_top - top) / -vy if vy < 0 else 0.0
            land = _fold(bx + vx * t, lo, hi)
            falling = vy > 0
            if falling and not self._falling:  # a new approach: a fresh misjudgement and a chosen angle
                self._aim_err = self.rng.gauss(0, 3.0 * s) + self.rng.uniform(-0.45, 0.45) * half
            self._falling = falling
            goal = land + (self._aim_err if falling else 0.0)
            if not falling and abs(goal - x) < 40 * s:
                goal = x  # no hurry while the ball is going up
        goal = min(max(goal, half), w - half)
        err = goal - x
        # a press is held a few frames at least and a release lasts a moment (no flicker on a
        # slowly moving target), unless the error is large
        self._hold = max(0, self._hold - 1)
        if self._move == 0:
            if abs(err) > 3 * s and (self._hold == 0 or abs(err) > 24 * s):
                self._move = _sign(err)
                self._hold = self.rng.randint(3, 6)
        elif err * self._move <= spd * 0.5 and (self._hold == 0 or err * self._move < -12 * s):
            self._move = 0
            self._hold = self.rng.randint(2, 5)
        if self._move:
            keys.add("right" if self._move > 0 else "left")
        if self._fire_left:
            self._fire_left -= 1
            keys.add("space")
        return GameInput(frozenset(keys))

    # ----------------------------------------------------------- runner
    def _runner(self, st: dict[str, Any]) -> GameInput:
        rf = self.reaction_frames
        w, h = st["size"]
        sx, sy = w / 320, h / 180
        me, sp = st["runner"], st["speed"]
        front = me["x"] + 12 * sx  # standing width
        t_apex = st["jump_v"] / st["gravity"]
        keys: set[str] = set()
        duck = False
        for ob in st["obstacles"]:
            x_now = ob["x"] - sp * rf  # where it is now, seen rf frames ago
            if x_now + ob["w"] < me["x"] - 2 * sx:
                continue  # behind us
            if ob["y"] + ob["h"] < st["ground_y"] - 12 * sy:  # at head height: duck under it
                if x_now - front < sp * (8 + self._jitter.setdefault(ob["id"], self.rng.gauss(0, 1.5))):
                    duck = True
                break
            if ob["id"] in self._jumped:
                continue
            if ob["id"] not in self._jitter:
                slip = self.rng.random() < self.mistake_rate  # now and then badly timed
                self._jitter[ob["id"]] = self.rng.gauss(0, 4.0 if slip else RUNNER_JITTER)
            ideal = sp * t_apex - (ob["w"] + 12 * sx) / 2  # gap to it at take-off: apex over its middle
            if x_now - front <= ideal + sp * self._jitter[ob["id"]]:
                self._jumped.add(ob["id"])
                self._fire_left = self.rng.randint(4, 9)  # a tap, released before landing
            break
        if len(self._jumped) > 64:
            newest = max(self._jumped)
            self._jumped = {i for i in self._jumped if i > newest - 16}
            self._jitter = {i: v for i, v in self._jitter.items() if i > newest - 16}
        if duck:
            self._fire_left = 0
            keys.add("down")
        elif self._fire_left:
            self._fire_left -= 1
            keys.add("space")
        return GameInput(frozenset(keys))

    # ----------------------------------------------------------- gems
    def _gems(self, st: dict[str, Any]) -> GameInput:
        rf = self.reaction_frames
        w, h = st["size"]
        s = min(w / 320, h / 180)
        me, sp = st["player"], st["player_speed"]
        x = me["x"] + sp * sum(d[0] for d in self._steps) * w / 320 / s
        y = me["y"] + sp * sum(d[1] for d in self._steps) * h / 180 / s
        gems = st["gems"]
        if not gems:
            return GameInput()
        best, best_cost = None, math.inf
        for g in gems:
            cost = math.hypot(g["x"] - x, g["y"] - y) - (25 * s if g["id"] == self._goal else 0)
            for hz in st["hazards"]:  # gems next to a mine are less attractive
                if math.hypot(hz["x"] - g["x"], hz["y"] - g["y"]) < 20 * s:
                    cost += 40 * s
            if cost < best_cost:
                best, best_cost = g, cost
        self._goal = best["id"]
        gx, gy = best["x"] - x, best["y"] - y
        d = math.hypot(gx, gy) or 1.0
        vx, vy = gx / d, gy / d
        radius = 34 * s
        acute = False  # a mine about to touch us: change course at once
        for hz in st["hazards"]:
            reach = hz["r"] + me["r"]
            best_d, away = math.inf, (0.0, 0.0)
            for t in (rf, rf + 6, rf + 12, rf + 18):  # where it will be over the next third of a second
                hx, hy = hz["x"] + hz["vx"] * t, hz["y"] + hz["vy"] * t
                dd = math.hypot(x - hx, y - hy)
                if dd < best_d:
                    best_d, away = dd, ((x - hx) / (dd or 1.0), (y - hy) / (dd or 1.0))
            acute |= best_d < reach + 10 * s
            if best_d < radius + reach:
                push = 2.2 * (radius + reach - best_d) / radius
                vx, vy = vx + away[0] * push, vy + away[1] * push
        # keep clear of the edges a mine could pin us against
        m = 10 * s
        vx += (x < m) - (x > w - m)
        vy += (y < st["top_y"] + m) - (y > h - m)
        ang = math.atan2(vy, vx)
        self._dir_hold = max(0, self._dir_hold - 1)
        if math.hypot(vx, vy) < 0.2 or (self._dir_hold and not acute):
            want = self._dir
        else:
            want = _DIRS[round(ang / (math.pi / 4)) % 8]
            if self._dir is not None:  # keep holding the same keys unless clearly off course
                cur = math.atan2(self._dir[1], self._dir[0])
                diff = abs((ang - cur + math.pi) % (2 * math.pi) - math.pi)
                if diff < math.radians(35):
                    want = self._dir
        if want != self._dir:
            self._dir_hold = self.rng.randint(5, 10)  # a new direction is held a moment at least
        self._dir = want
        return GameInput(frozenset(_dir_keys(want))) if want else GameInput()


class RandomPolicy:
    """Holds random allowed inputs for random short durations (a baseline)."""

    def __init__(self, game_name: str, seed: int = 0) -> None:
        """Random player for ``game_name`` with its own rng stream from ``seed``."""
        _check_game(game_name)
        self.game_name = game_name
        self.rng = random.Random(int(seed) * 1_000_003 + 99991)
        self._left = 0
        self._held: frozenset[str] = frozenset()
        self._hand: list[float] | None = None
        self._dest = (0.0, 0.0)

    def act(self, state: dict[str, Any]) -> GameInput:
        """A random input, held for a random 3-60 frames."""
        rng = self.rng
        self._left -= 1
        if self.game_name in ("bricks", "runner", "gems"):
            if self._left <= 0:
                self._left = rng.randint(3, 30)
                if self.game_name == "bricks":  # like dodge: a direction or none, space half the time
                    keys = {rng.choice(("left", "right", None))} - {None}
                    keys |= {"space"} if rng.random() < 0.5 else set()
                elif self.game_name == "runner":
                    keys = {rng.choice(("space", "down", None, None))} - {None}
                else:
                    d = rng.choice(_DIRS + [None])
                    keys = _dir_keys(d) if d else set()
                keys |= {"enter"} if rng.random() < 0.05 else set()
                self._held = frozenset(keys)
            return GameInput(self._held)
        if self.game_name == "dodge":
            if self._left <= 0:
                self._left = rng.randint(3, 30)
                keys = {rng.choice(("left", "right", None))} - {None}
                keys |= {"space"} if rng.random() < 0.5 else set()
                keys |= {"enter"} if rng.random() < 0.05 else set()
                self._held = frozenset(keys)
            return GameInput(self._held)
        w, h = state["size"]
        s = min(w / 320, h / 180)
        if self._hand is None:
            self._hand = [w / 2, h / 2]
        if self._left <= 0:
            self._left = rng.randint(10, 60)
            self._dest = (rng.uniform(0, w - 1), rng.uniform(0, h - 1))
        dx, dy = self._dest[0] - self._hand[0], self._dest[1] - self._hand[1]
        d = math.hypot(dx, dy)
        if d > 0:
            step = min(d, 9 * s)
            self._hand[0] += dx / d * step
            self._hand[1] += dy / d * step
        x, y = round(self._hand[0]), round(self._hand[1])
        clicks = (("left", x, y),) if rng.random() < 3 / 60 else ()
        return GameInput(frozenset(), (x, y), clicks)


def make_policy(kind: str, game_name: str, seed: int = 0) -> DemoPolicy | RandomPolicy:
    """Build a ``"demo"`` or ``"random"`` policy for ``game_name``."""
    if kind == "demo":
        return DemoPolicy(game_name, seed)
    if kind == "random":
        return RandomPolicy(game_name, seed)
    raise ValueError(f"unknown policy {kind!r}; known: demo, random")


def play_episodes(game_name: str, policy: str = "demo", episodes: int = 5, seed: int = 0,
                  size: tuple[int, int] = (640, 360), max_frames: int = 36000) -> list[tuple[int, int]]:
    """Play ``episodes`` headless episodes (no rendering); returns (score, frames) per episode.

    An episode longer than ``max_frames`` is cut off there and counted as it stands.
    """
    game = make_game(game_name, seed, size)
    player = make_policy(policy, game_name, seed)
    results: list[tuple[int, int]] = []
    while len(results) < episodes:
        game.step(player.act(game.state()))
        if game.game_over and game.over_frames == 0:
            results.append((game.score, game.episode_frame))
        elif not game.game_over and game.episode_frame >= max_frames:
            results.append((game.score, game.episode_frame))
            game.restart()
    return results
