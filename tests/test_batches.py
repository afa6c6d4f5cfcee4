"""Batches built on the learning device (the CPU here, through the same torch gathers a GPU runs): they equal
the host's numpy stacks and shifts sample for sample, a seeded study or consolidate learns the same weights
either way, the live replay keeps the device's frames in step, and mixed precision changes little."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hakisa.errors import ConfigError
from hakisa.learn.batches import DeviceFrames, batches_on_device, draw_shifts
from hakisa.learn.buffer import ReplayBuffer
from hakisa.learn.training import random_shift

from test_buffer import as_transitions, episodes

CPU = torch.device("cpu")


@pytest.mark.parametrize("stack, pad, channels", [(1, 0, 1), (4, 4, 1), (3, 2, 3)])
def test_device_stacks_and_shifts_equal_the_hosts(stack, pad, channels):
    rng = np.random.default_rng(0)
    T = as_transitions(episodes(1))
    frames = rng.integers(0, 256, (len(T.frames), 12, 10, channels), dtype=np.uint8)
    T.frames = frames
    dev = DeviceFrames(frames, CPU)
    idx = rng.integers(0, len(T), 64)
    host = T.stacked(T.obs[idx], T.ep_start[idx], stack)
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    if pad:
        host = random_shift(host, pad, a)
        shift = (*draw_shifts(b, len(idx), pad), pad)
    else:
        shift = None
    got = dev.stacked(T.obs[idx], T.ep_start[idx], stack, shift)
    assert got.dtype == torch.uint8 and got.shape == host.shape
    assert np.array_equal(got.numpy(), host)
    if pad:  # both generators were advanced alike: the next batch is drawn the same too
        assert a.integers(1 << 30) == b.integers(1 << 30)


def test_device_frames_grow_and_keep_every_frame():
    rng = np.random.default_rng(2)
    first = rng.integers(0, 256, (3, 4, 4, 1), dtype=np.uint8)
    f = DeviceFrames(first, CPU)
    more = rng.integers(0, 256, (20, 4, 4, 1), dtype=np.uint8)
    for fr in more:
        f.append(fr)
    assert len(f) == 23
    allf = np.concatenate([first, more])
    got = f.stacked(np.arange(23), np.zeros(23, np.int64), 1)
    assert np.array_equal(got.numpy()[:, 0], allf[..., 0])


def test_the_live_replay_keeps_its_device_copy_in_step():
    eps = episodes(3)
    T = as_transitions(eps[:2])
    b = ReplayBuffer.from_transitions(T, 3, 0.9, spare_steps=10)
    b.mirror(DeviceFrames(T.frames, CPU, spare=2))
    for frames, acts, actor, rew, term in eps[2:]:
        b.begin(frames[0])
        for t in range(len(rew)):
            b.step(tuple(acts[t]), int(actor[t]), float(rew[t]), bool(term and t == len(rew) - 1), frames[t + 1])
        b.end(truncated=not term)
    assert len(b.device_frames) == b.n_frames
    idx = np.arange(len(b))
    for which in (b.obs, b.boot):
        host = b.stacked(which[idx], b.ep_start[idx], 4)
        assert np.array_equal(b.device_frames.stacked(which[idx], b.ep_start[idx], 4).numpy(), host)
    with pytest.raises(ValueError, match="mirror has"):
        b.mirror(DeviceFrames(T.frames, CPU))


def test_where_batches_are_built_is_checked():
    assert batches_on_device("auto", CPU, 10) is False  # auto: only on a GPU
    assert batches_on_device("device", CPU, 10) is True and batches_on_device("host", CPU, 10) is False
    with pytest.raises(ConfigError, match="--batches 'gpu'"):
        batches_on_device("gpu", CPU, 10)


def test_a_seeded_study_learns_the_same_weights_with_batches_on_the_host_or_the_device(tmp_path):
    from test_study import PROFILE, TINY, record_demo

    from hakisa.learn.checkpoint import load_checkpoint
    from hakisa.learn.study import StudyConfig, study

    data = [str(record_demo(tmp_path / "d.h5", seconds=10, seed=4))]
    out = {}
    for where in ("host", "device"):
        lines = []
        study(PROFILE, data, tmp_path / f"{where}.pt", StudyConfig(**{**TINY, "steps": 8, "eval_every": 8},
                                                                   batches=where), progress=False, log=lines.append)
        assert any("batches built on cpu" in m for m in lines) == (where == "device")
        out[where] = load_checkpoint(tmp_path / f"{where}.pt")["model"]
    for k, v in out["host"].items():
        torch.testing.assert_close(out["device"][k], v, rtol=1e-5, atol=1e-6)


def test_a_seeded_consolidate_makes_the_same_updates_with_batches_on_the_host_or_the_device(tmp_path):
    from test_consolidate import PROFILE, TINY, write_synthetic

    from hakisa.learn.consolidate import ConsolidateConfig, Consolidator

    data = [str(tmp_path / "h.h5"), str(tmp_path / "a.h5")]
    write_synthetic(data[0], "human", 4)
    write_synthetic(data[1], "agent", 4, seed=1)
    runs = {}
    for where in ("host", "device"):
        c = Consolidator(PROFILE, data, ConsolidateConfig(**{**TINY, "augment": 2}, batches=where),
                         log=lambda m: None)
        assert (c.T.device_frames is not None) == (where == "device")
        runs[where] = [c.update()["loss"] for _ in range(5)]
    np.testing.assert_allclose(runs["device"], runs["host"], rtol=1e-5)


def test_mixed_precision_forward_passes_stay_close_and_return_float32():
    from hakisa.learn.model import ModelConfig, QNetwork

    torch.manual_seed(0)
    net = QNetwork(ModelConfig(frame_shape=(84, 84, 1), stack=4, n_command=5, n_action_1=7, n_action_2=1,
                               channels=(32, 64, 64), hidden=256, norm="layer"))
    x = torch.randint(0, 256, (8, 4, 84, 84), dtype=torch.uint8)
    with torch.no_grad():
        full = net(x)
        net.amp = True
        half = net(x)
    for f, h in zip(full, half):
        assert h.dtype == torch.float32
        assert (f - h).abs().max() < 0.05 * (f.abs().max() + 1)


def test_an_online_run_with_batches_on_the_device_keeps_the_device_frames_with_the_replay(tmp_path, studied_dodge,
                                                                                           monkeypatch):
    from test_online import DODGE, cfg

    from hakisa.learn.consolidate import Consolidator
    from hakisa.learn.online import train_online

    demo, ckpt = studied_dodge
    seen = []
    real_update = Consolidator.update

    def checking_update(self):
        seen.append((len(self.T.device_frames), self.T.n_frames))
        return real_update(self)

    monkeypatch.setattr(Consolidator, "update", checking_update)
    c = cfg(60)
    c.consolidate.batches = "device"
    rec = train_online(DODGE, [demo], ckpt, tmp_path / "run", c, progress=False, log=lambda m: None)
    assert rec["segments"][-1]["updates"] == 30 and len(seen) == 30
    assert all(d == n for d, n in seen) and seen[-1][1] > seen[0][1]  # the device copy grew with the replay


def test_study_and_consolidate_run_in_mixed_precision(tmp_path):
    import math

    from test_consolidate import PROFILE as SYN, TINY as CTINY, write_synthetic
    from test_study import PROFILE, TINY, record_demo

    from hakisa.learn.consolidate import ConsolidateConfig, Consolidator
    from hakisa.learn.study import StudyConfig, study

    data = [str(record_demo(tmp_path / "d.h5", seconds=6, seed=5))]
    res = study(PROFILE, data, tmp_path / "amp.pt", StudyConfig(**{**TINY, "steps": 4, "eval_every": 4}, amp=True),
                progress=False, log=lambda m: None)
    assert math.isfinite(res.metrics["loss"])
    write_synthetic(tmp_path / "h.h5", "human", 3)
    c = Consolidator(SYN, [str(tmp_path / "h.h5")], ConsolidateConfig(**CTINY, amp=True), log=lambda m: None)
    assert c.model.amp and c.target.amp and math.isfinite(c.update()["loss"])
