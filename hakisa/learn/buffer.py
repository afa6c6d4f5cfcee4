"""The learner's replay: every step it samples from, the datasets it started with and then the actor's
steps as they arrive, with n-step returns kept up to date.

Steps are stored as in :class:`hakisa.data.transitions.Transitions` (frames once, uint8; step i goes from
frame ``obs[i]`` to ``obs[i] + 1``; stacks built by index arithmetic), in arrays that grow by doubling.
Steps of the episode being played come in one at a time (:meth:`begin`, :meth:`step`, :meth:`end`); a
step becomes sampleable (``len(buffer)``) once its n-step return is known: when the n - 1 steps after it
have arrived, or its episode has ended. So the committed steps are always ``[0, len)``, and a learner
never bootstraps from a frame that is not there yet.

Only one thread may use a buffer (the learner's); the actor hands its steps over through a queue
(:mod:`hakisa.learn.online`).
"""

from __future__ import annotations

import numpy as np

from hakisa.data.transitions import HUMAN, Transitions, stack_frames

_STEP_FIELDS = {"obs": np.int64, "ep_start": np.int64, "episode": np.int64, "command": np.int64,
                "action_1": np.int64, "action_2": np.int64, "actor": np.uint8, "reward": np.float32,
                "terminated": bool, "truncated": bool, "returns": np.float32, "boot": np.int64, "disc": np.float32}


class ReplayBuffer:
    def __init__(self, frame_shape: tuple[int, int, int], n_step: int, gamma: float, reward_scale: float = 1.0,
                 reward_clip: float = 0.0, capacity: int = 1024):
        h, w, c = frame_shape
        self.frame_shape = (h, w, c)
        self.n, self.gamma = int(n_step), float(gamma)
        self.reward_scale, self.reward_clip = float(reward_scale), float(reward_clip)
        self._frames = np.zeros((capacity, h, w, c), np.uint8)
        self._s = {k: np.zeros(capacity, t) for k, t in _STEP_FIELDS.items()}
        self.n_frames = 0
        self.size = 0  # committed steps
        self.pending = 0  # steps of the live episode not yet committed
        self.n_episodes = 0
        self.sources: list[str] = []
        self._live: int | None = None  # first step index of the live episode
        self._live_start = 0  # its first frame
        self._human = _Growing()
        self._agent = _Growing()
        self._pow = self.gamma ** np.arange(self.n + 1)
        self.device_frames = None  # a copy of the frames on the learner's device (hakisa.learn.batches)

    # ----- reading (the Transitions interface the learner uses) -----------------------------------
    def __len__(self) -> int:
        return self.size

    def __getattr__(self, name: str) -> np.ndarray:
        s = self.__dict__.get("_s")
        if s is not None and name in s:
            return s[name][: self.size]
        raise AttributeError(name)

    @property
    def frames(self) -> np.ndarray:
        return self._frames[: self.n_frames]

    @property
    def live_episode(self) -> int:
        """The episode number of the episode being played (its committed steps carry it), or -1 when none is."""
        return self.n_episodes if self._live is not None else -1

    @property
    def human_idx(self) -> np.ndarray:
        return self._human.view()

    @property
    def agent_idx(self) -> np.ndarray:
        return self._agent.view()

    def stacked(self, frame_idx: np.ndarray, first_idx: np.ndarray, stack: int) -> np.ndarray:
        offs = frame_idx[:, None] - np.arange(stack - 1, -1, -1)[None, :]
        offs = np.maximum(offs, first_idx[:, None])
        return stack_frames(self._frames[offs])

    def mirror(self, frames) -> None:
        """Keep ``frames`` (a :class:`hakisa.learn.batches.DeviceFrames` holding this buffer's frames so far) in
        step: every frame that arrives is appended there too."""
        if len(frames) != self.n_frames:
            raise ValueError(f"mirror has {len(frames)} frames, the buffer {self.n_frames}")
        self.device_frames = frames

    # ----- bulk loading ---------------------------------------------------------------------------
    @classmethod
    def from_transitions(cls, T: Transitions, n_step: int, gamma: float, reward_scale: float = 1.0,
                         reward_clip: float = 0.0, spare_steps: int = 0) -> "ReplayBuffer":
        """A buffer holding every step of ``T`` (rewards scaled and clipped), with room for ``spare_steps`` more."""
        b = cls(T.frames.shape[1:], n_step, gamma, reward_scale, reward_clip,
                capacity=max(1, len(T.frames) + spare_steps + spare_steps // 50 + 16))
        b._reserve_frames(len(T.frames))
        b._reserve_steps(len(T))
        b._frames[: len(T.frames)] = T.frames
        b.n_frames = len(T.frames)
        r = b._reward(T.reward)
        from dataclasses import replace

        ret, boot, disc = replace(T, reward=r).n_step(n_step, gamma)
        n = len(T)
        for k, v in (("obs", T.obs), ("ep_start", T.ep_start), ("episode", T.episode), ("command", T.command),
                     ("action_1", T.action_1), ("action_2", T.action_2), ("actor", T.actor), ("reward", r),
                     ("terminated", T.terminated), ("truncated", T.truncated), ("returns", ret), ("boot", boot),
                     ("disc", disc)):
            b._s[k][:n] = v
        b.size, b.n_episodes, b.sources = n, T.n_episodes, list(T.sources)
        human = T.actor == HUMAN
        b._human.extend(np.flatnonzero(human))
        b._agent.extend(np.flatnonzero(~human))
        return b

    # ----- the live episode -----------------------------------------------------------------------
    def begin(self, frame: np.ndarray, source: str = "online") -> None:
        """A new episode starts at ``frame`` (an unfinished one before it is ended as truncated)."""
        if self._live is not None:
            self.end(truncated=True)
        self._live_start = self.n_frames
        self._put_frame(frame)
        self._live = self.size
        self.pending = 0
        self.sources.append(source)

    def step(self, action: tuple[int, int, int], actor: int, reward: float, terminated: bool,
             frame: np.ndarray) -> None:
        """The live episode's next step: ``action`` by ``actor`` was taken, ``reward`` received, ``frame`` seen."""
        if self._live is None:
            raise RuntimeError("ReplayBuffer.step before begin")
        self._reserve_steps(1)
        i = self.size + self.pending
        s = self._s
        s["obs"][i] = self.n_frames - 1
        s["ep_start"][i] = self._live_start
        s["episode"][i] = self.n_episodes
        s["command"][i], s["action_1"][i], s["action_2"][i] = action
        s["actor"][i] = actor
        s["reward"][i] = self._reward(np.float32(reward))
        s["terminated"][i], s["truncated"][i] = bool(terminated), False
        self._put_frame(frame)
        self.pending += 1
        if self.pending >= self.n:  # the oldest pending step's horizon is complete
            self._commit()

    def end(self, truncated: bool) -> None:
        """The live episode ended: terminated at its last step, or cut off there (``truncated``)."""
        if self._live is None:
            return
        total = self.size + self.pending
        if total > self._live:  # an episode with steps
            last = total - 1
            self._s["terminated"][last], self._s["truncated"][last] = not truncated, truncated
            # the last n steps' horizons end here: (re)compute them, committed already or not
            self._returns(max(self._live, total - self.n, 0), total, total)
            for i in range(self.size, total):
                (self._human if self._s["actor"][i] == HUMAN else self._agent).append(i)
            self.size, self.pending = total, 0
            self.n_episodes += 1
        else:
            self.sources.pop()
        self._live = None

    def _commit(self) -> None:
        """Commit the oldest pending step: the n - 1 steps after it have arrived."""
        i = self.size
        self._returns(i, i + 1, i + self.pending)
        (self._human if self._s["actor"][i] == HUMAN else self._agent).append(i)
        self.size += 1
        self.pending -= 1

    def _returns(self, lo: int, hi: int, end: int) -> None:
        """n-step returns, bootstrap frames and discounts of steps ``[lo, hi)``; ``end`` is one past the newest
        step of their episode."""
        s, n, rew = self._s, self.n, self._s["reward"]
        for i in range(lo, hi):
            h = min(n, end - i)  # steps inside the horizon
            s["returns"][i] = float(np.dot(self._pow[:h], rew[i : i + h]))
            j = i + h - 1
            s["boot"][i] = s["obs"][j] + 1
            s["disc"][i] = 0.0 if s["terminated"][j] else self._pow[h]

    # ----- storage --------------------------------------------------------------------------------
    def _reward(self, r):
        r = np.asarray(r, np.float32) * np.float32(self.reward_scale)
        if self.reward_clip > 0:
            r = np.clip(r, -self.reward_clip, self.reward_clip)
        return r.astype(np.float32)

    def _put_frame(self, frame: np.ndarray) -> None:
        """Append one frame (and to the device copy, when there is one)."""
        self._reserve_frames(1)
        self._frames[self.n_frames] = frame
        if self.device_frames is not None:
            self.device_frames.append(frame)
        self.n_frames += 1

    def _reserve_frames(self, k: int) -> None:
        if self.n_frames + k > len(self._frames):
            new = np.zeros((max(2 * len(self._frames), self.n_frames + k), *self.frame_shape), np.uint8)
            new[: self.n_frames] = self._frames[: self.n_frames]
            self._frames = new

    def _reserve_steps(self, k: int) -> None:
        need = self.size + self.pending + k
        cap = len(self._s["obs"])
        if need > cap:
            cap = max(2 * cap, need)
            for key, a in self._s.items():
                b = np.zeros(cap, a.dtype)
                b[: len(a)] = a
                self._s[key] = b

    @property
    def nbytes(self) -> int:
        return self._frames.nbytes + sum(a.nbytes for a in self._s.values())


class _Growing:
    """An int64 array that is appended to."""

    def __init__(self):
        self.a = np.zeros(1024, np.int64)
        self.n = 0

    def append(self, v: int) -> None:
        if self.n == len(self.a):
            self.a = np.resize(self.a, 2 * len(self.a))
        self.a[self.n] = v
        self.n += 1

    def extend(self, vs: np.ndarray) -> None:
        if self.n + len(vs) > len(self.a):
            self.a = np.resize(self.a, max(2 * len(self.a), self.n + len(vs)))
        self.a[self.n : self.n + len(vs)] = vs
        self.n += len(vs)

    def view(self) -> np.ndarray:
        return self.a[: self.n]
