"""The learner's replay buffer: steps fed one at a time give the same n-step returns, bootstrap frames and
stacks as the whole episodes loaded at once; a step is sampleable only once its horizon is known."""

from __future__ import annotations

import numpy as np
import pytest

from hakisa.data.transitions import HUMAN, Transitions
from hakisa.learn.buffer import ReplayBuffer

AGENT = HUMAN + 1


def episodes(seed: int, n_eps: int = 6):
    rng = np.random.default_rng(seed)
    out = []
    for e in range(n_eps):
        L = int(rng.integers(1, 30))
        frames = rng.integers(0, 255, (L + 1, 6, 5, 1), dtype=np.uint8)
        acts = rng.integers(0, 3, (L, 3))
        actor = rng.choice([HUMAN, AGENT], L).astype(np.uint8)
        rew = rng.normal(size=L).astype(np.float32)
        terminated = bool(rng.integers(2))
        out.append((frames, acts, actor, rew, terminated))
    return out


def as_transitions(eps) -> Transitions:
    frames, obs, start, episode, acts, actor, rew, term, trunc = ([] for _ in range(9))
    base = 0
    for k, (f, a, who, r, t) in enumerate(eps):
        L = len(r)
        frames.append(f)
        obs.append(base + np.arange(L))
        start.append(np.full(L, base))
        episode.append(np.full(L, k))
        acts.append(a)
        actor.append(who)
        rew.append(r)
        term.append(np.r_[np.zeros(L - 1, bool), t])
        trunc.append(np.r_[np.zeros(L - 1, bool), not t])
        base += L + 1
    c = np.concatenate
    A = c(acts)
    return Transitions(c(frames), c(obs), c(start), c(episode), A[:, 0], A[:, 1], A[:, 2], c(actor), c(rew), c(term),
                       c(trunc), [f"x:{k}" for k in range(len(eps))])


@pytest.mark.parametrize("n", [1, 3, 10])
def test_live_steps_match_whole_episodes(n):
    eps = episodes(n)
    T = as_transitions(eps)
    whole = ReplayBuffer.from_transitions(T, n, 0.9, reward_scale=2.0, reward_clip=3.0)
    live = ReplayBuffer((6, 5, 1), n, 0.9, reward_scale=2.0, reward_clip=3.0, capacity=4)  # grows as it goes
    for f, a, who, r, t in eps:
        live.begin(f[0])
        for i in range(len(r)):
            live.step(tuple(int(v) for v in a[i]), int(who[i]), float(r[i]), t and i == len(r) - 1, f[i + 1])
            assert live.pending == min(i + 1, n - 1)  # everything older than the horizon is committed
        live.end(truncated=not t)
    assert len(live) == len(whole) == len(T)
    for name in ("obs", "ep_start", "episode", "command", "action_1", "action_2", "actor", "terminated", "truncated",
                 "boot"):
        np.testing.assert_array_equal(getattr(live, name), getattr(whole, name), err_msg=name)
    for name in ("reward", "returns", "disc"):
        np.testing.assert_allclose(getattr(live, name), getattr(whole, name), rtol=1e-5, atol=1e-6, err_msg=name)
    assert np.abs(live.reward).max() <= 3.0  # scaled, then clipped
    np.testing.assert_array_equal(live.frames, T.frames)
    np.testing.assert_array_equal(live.human_idx, np.flatnonzero(T.actor == HUMAN))
    np.testing.assert_array_equal(live.agent_idx, np.flatnonzero(T.actor != HUMAN))
    idx = np.arange(len(T))
    np.testing.assert_array_equal(live.stacked(live.obs[idx], live.ep_start[idx], 4),
                                  T.stacked(T.obs[idx], T.ep_start[idx], 4))
    assert live.n_episodes == len(eps)


def test_committed_steps_only_bootstrap_from_frames_that_exist():
    b = ReplayBuffer((2, 2, 1), 5, 0.5)
    b.begin(np.zeros((2, 2, 1), np.uint8))
    for i in range(12):
        b.step((0, 0, 0), AGENT, 1.0, False, np.full((2, 2, 1), i + 1, np.uint8))
        if len(b):
            assert b.boot.max() < b.n_frames  # the bootstrap frame has arrived
            np.testing.assert_allclose(b.returns, sum(0.5 ** k for k in range(5)))
            np.testing.assert_allclose(b.disc, 0.5 ** 5)
    assert len(b) == 8 and b.pending == 4
    b.end(truncated=False)  # terminated on its last step: no bootstrap there
    assert len(b) == 12 and b.disc[-1] == 0 and b.returns[-1] == 1.0
    assert b.disc[-2] == 0 and b.returns[-2] == pytest.approx(1.5)


def test_an_episode_without_steps_leaves_nothing_and_a_new_begin_ends_the_old_one():
    b = ReplayBuffer((2, 2, 1), 3, 0.9)
    b.begin(np.zeros((2, 2, 1), np.uint8))
    b.end(truncated=True)
    assert len(b) == 0 and b.n_episodes == 0 and b.sources == []
    b.begin(np.zeros((2, 2, 1), np.uint8))
    b.step((1, 0, 0), HUMAN, 0.0, False, np.ones((2, 2, 1), np.uint8))
    b.begin(np.zeros((2, 2, 1), np.uint8))  # the first is cut off (truncated) and kept
    assert len(b) == 1 and b.truncated[0] and b.disc[0] == pytest.approx(0.9) and b.n_episodes == 1
    with pytest.raises(RuntimeError):
        ReplayBuffer((2, 2, 1), 3, 0.9).step((0, 0, 0), AGENT, 0.0, False, np.zeros((2, 2, 1), np.uint8))
