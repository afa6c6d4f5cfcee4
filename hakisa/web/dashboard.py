"""The live dashboard: a local web page people watching a stream can see (a streamer can add it to the
broadcast as a browser source): the agent's view, the action it chose and its Q values per head, who is in
control, the reward stream by source (the screen, hotkeys, chat) with the latest votes, the score of each
episode, and the learning curve while `hakisa train` runs.

The acting thread only hands references over (:meth:`Dashboard.tick` stores a few objects under a lock); the
page's requests do the work (PNG encoding, turning tensors into lists) on the server's threads, at most a
few times a second, so watching costs the 20 Hz loop next to nothing. Served on 127.0.0.1 unless told
otherwise, by the same server as the studio, in the same look."""

from __future__ import annotations

import base64
import collections
import math
import threading
import time

import cv2
import numpy as np

from hakisa.codec import COMMANDS, ActionCodec
from hakisa.web.server import Raw, handler, make_server

KEEP_REWARDS = 1200  # the last minute of rewards at 20 Hz
KEEP_VOTES = 30


class Dashboard:
    """What a running agent shows; fed by the agent loop, read by the page."""

    def __init__(self, codec: ActionCodec | None, game: str, command: str):
        self.codec, self.game, self.command = codec, game, command
        self._lock = threading.Lock()
        self._tick: tuple | None = None  # the newest tick, as the loop handed it over
        self._frame_png: tuple[int, str] | None = None  # (tick, base64 PNG), encoded once per tick shown
        self.rewards: collections.deque = collections.deque(maxlen=KEEP_REWARDS)  # (t, screen reward)
        self.votes: collections.deque = collections.deque(maxlen=KEEP_VOTES)  # latest votes, newest last
        self.vote_totals = collections.Counter()  # reward given by source
        self.episodes: list[dict] = []
        self.curve: list[dict] = []  # learning curve points (train)
        self.control = "agent"
        self.now = time.monotonic  # the loop's clock (a game in memory runs on its own): set by the session
        self.started = time.monotonic()

    # ----- from the acting thread (cheap) -------------------------------------------------------------
    def tick(self, t: float, tick: int, episode: int, step: int, frame: np.ndarray, action, q: float, qs,
             greedy: bool, reward: float) -> None:
        with self._lock:
            self._tick = (t, tick, episode, step, frame, action, q, qs, greedy)
            self.rewards.append((t, reward))

    def vote(self, t: float, source: str, who: str, value: float) -> None:
        with self._lock:
            self.votes.append({"t": t, "source": source, "who": who, "value": value})
            self.vote_totals[source] += value

    def episode(self, number: int, score: float, reward: float, steps: int, status: str) -> None:
        with self._lock:
            self.episodes.append({"episode": number, "score": None if math.isnan(score) else score,
                                  "reward": reward, "steps": steps, "status": status})

    def learning(self, point: dict) -> None:
        with self._lock:
            self.curve.append(dict(point))

    def set_control(self, who: str) -> None:
        self.control = who

    # ----- for the page (on the server's threads) -------------------------------------------------------
    def snapshot(self) -> dict:
        with self._lock:
            tk = self._tick
            rewards = list(self.rewards)
            votes = list(self.votes)
            totals = dict(self.vote_totals)
            episodes = list(self.episodes[-200:])
            curve = list(self.curve)
        now = self.now()
        out = {"game": self.game, "command": self.command, "control": self.control, "now": now,
               "uptime_s": time.monotonic() - self.started, "votes": [{**v, "age_s": now - v["t"]} for v in votes],
               "vote_totals": totals, "episodes": episodes, "curve": curve,
               "rewards": {"t": [round(t - now, 3) for t, _ in rewards], "screen": [r for _, r in rewards]}}
        if tk is None:
            return {**out, "tick": None}
        t, tick, episode, step, frame, action, q, qs, greedy = tk
        a = action.as_tuple()
        out.update(tick=tick, episode=episode, step=step, age_s=now - t, action=list(a),
                   action_text=self.codec.describe(a), command_name=COMMANDS[a[0]], greedy=bool(greedy),
                   q=float(q), frame=self._png(tick, frame), heads=self._heads(qs))
        return out

    def _png(self, tick: int, frame: np.ndarray) -> str:
        cached = self._frame_png
        if cached is not None and cached[0] == tick:
            return cached[1]
        img = frame[..., ::-1] if frame.ndim == 3 and frame.shape[2] == 3 else frame  # RGB -> BGR for cv2
        ok, buf = cv2.imencode(".png", np.ascontiguousarray(img))
        png = base64.b64encode(buf.tobytes()).decode("ascii") if ok else ""
        self._frame_png = (tick, png)
        return png

    def _heads(self, qs) -> list[dict]:
        """Each head's Q values with their labels (command names; key chords; pointer cells)."""
        if qs is None:
            return []
        c = self.codec
        names = [list(COMMANDS), ["+".join(ch) for ch in c.chords] or [str(i) for i in range(c.n_action_1)],
                 [str(i) for i in range(c.n_action_2)]]
        if c.n_action_1 > len(c.chords):  # the pointer's x cells share action_1 with the chords
            names[1] = names[1] + [f"x{i}" for i in range(len(c.chords), c.n_action_1)]
        out = []
        for label, q, n in zip(("command_type", "action_1", "action_2"), qs, names):
            v = q.detach().float().reshape(-1).cpu().numpy()
            out.append({"head": label, "q": [round(float(x), 4) for x in v], "names": n[: len(v)]})
        return out


def serve_dashboard(dash: Dashboard, host: str = "127.0.0.1", port: int = 8766, announce=None):
    """Serve the dashboard on a daemon thread; returns the server (``server_address`` says where)."""

    def get(path: str):
        if path == "/api/live":
            return dash.snapshot()
        if path == "/frame.png":
            snap = dash.snapshot()
            return Raw(base64.b64decode(snap.get("frame") or ""), "image/png") if snap.get("tick") is not None \
                else None
        return None

    server = make_server(handler("dashboard.html", get, name="hakisa-dashboard"), host, port, "dashboard",
                         "--dashboard-port")
    threading.Thread(target=server.serve_forever, name="hakisa-dashboard", daemon=True).start()
    if announce:
        h, p = server.server_address[:2]
        announce(f"{dash.command}: the dashboard is at http://{h}:{p}/ (a browser source for a stream)")
        if host not in ("127.0.0.1", "localhost", "::1"):
            announce(f"warning: --dashboard-host {host} lets other machines see the game and the agent")
    return server
