"""`hakisa train` on the headless dodge game: rounds of explore -> consolidate that resume after a crash
without repeating or losing a round, and the CLI's consolidate / play --headless end to end."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from hakisa.learn.checkpoint import CheckpointError, load_checkpoint  # noqa: E402
from hakisa.learn.consolidate import ConsolidateConfig, Consolidator  # noqa: E402
from hakisa.data.dataset import DatasetReader  # noqa: E402
from hakisa.profile import load_profile, parse_profile  # noqa: E402
from hakisa.learn.train import TrainConfig, train  # noqa: E402

from conftest import ROOT, hakisa_cmd  # noqa: E402

DODGE = load_profile("dodge")
NET = dict(channels=(8, 16), hidden=32, threads=1)


@pytest.fixture(scope="module")
def start(studied_dodge):
    return studied_dodge


def cfg(rounds: int) -> TrainConfig:
    return TrainConfig(rounds=rounds, explore_steps=80, headless="dodge", size=(320, 180),
                       consolidate=ConsolidateConfig(steps=20, eval_every=10, batch_size=8, eval_samples=64,
                                                     **{k: v for k, v in NET.items()}))


def test_rounds_are_kept_and_a_crash_resumes_without_repeating_or_losing_a_round(tmp_path, start, monkeypatch):
    demo, ckpt = start
    wd = tmp_path / "run"
    rec = train(DODGE, [demo], ckpt, wd, cfg(1), progress=False, log=lambda m: None)
    assert [r["done"] for r in rec["rounds"]] == [True]
    r1 = (wd / "round-1.h5").stat().st_mtime_ns, (wd / "round-1.pt").stat().st_mtime_ns
    with DatasetReader(wd / "round-1.h5") as r:
        assert r.source == "explore" and sum(r.info(e).n_steps for e in r.episode_names()) >= 70
    lin = load_checkpoint(wd / "round-1.pt", DODGE)["state"]["lineage"]
    assert lin["parent"]["path"] == ckpt and [d["path"] for d in lin["datasets"]] == [demo, str(wd / "round-1.h5")]

    # round 2: an exploration cut short left a .part file; consolidate then crashes after its first checkpoint
    (wd / "round-2.h5.part").write_bytes(b"half a file")
    calls = {"n": 0}
    real_update = Consolidator.update

    def crashing_update(self):
        calls["n"] += 1
        if calls["n"] == 15:
            raise RuntimeError("power cut")
        return real_update(self)

    monkeypatch.setattr(Consolidator, "update", crashing_update)
    with pytest.raises(RuntimeError, match="power cut"):
        train(DODGE, [demo], ckpt, wd, cfg(2), progress=False, log=lambda m: None)
    assert (wd / "round-2.h5").exists() and not (wd / "round-2.h5.part").exists()
    assert [p.read_bytes() for p in wd.glob("round-2.crashed-*.h5")] == [b"half a file"]  # kept, not deleted
    assert load_checkpoint(wd / "round-2.pt", DODGE)["state"]["step"] == 10
    explored = (wd / "round-2.h5").stat().st_mtime_ns
    monkeypatch.setattr(Consolidator, "update", real_update)

    rec = train(DODGE, [demo], ckpt, wd, cfg(2), progress=False, log=lambda m: None)
    assert [r["done"] for r in rec["rounds"]] == [True, True]
    assert ((wd / "round-1.h5").stat().st_mtime_ns, (wd / "round-1.pt").stat().st_mtime_ns) == r1  # not repeated
    assert (wd / "round-2.h5").stat().st_mtime_ns == explored  # its exploration was kept
    st = load_checkpoint(wd / "round-2.pt", DODGE)["state"]
    assert st["final"] and [h["step"] for h in st["history"]] == [10, 20]  # resumed at update 10
    assert st["lineage"]["parent"]["path"] == str(wd / "round-1.pt")
    assert json.loads((wd / "train.json").read_text()) == rec
    assert (wd / "train.png").stat().st_size > 1000


def test_train_refuses_another_profile(tmp_path, start):
    demo, ckpt = start
    other = parse_profile(DODGE.text.replace('name = "dodge"', 'name = "dodge2"'), base_dir=DODGE.base_dir)
    with pytest.raises(CheckpointError, match="dodge2"):
        train(other, [demo], ckpt, tmp_path / "run", cfg(1), progress=False, log=lambda m: None)


def test_cli_consolidate_then_play_headless(tmp_path, start):
    demo, ckpt = start
    out = tmp_path / "c.pt"
    run = subprocess.run(hakisa_cmd("consolidate", "--profile", "dodge", "--data", demo, "--from", ckpt, "--out",
                                    str(out), "--updates", "10", "--eval-every", "10", "--batch-size", "8", "--quiet"),
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "TD error" in run.stdout and "command_type:" in run.stdout and out.exists()
    play = subprocess.run(hakisa_cmd("play", "--checkpoint", str(out), "--headless", "dodge", "--size", "320x180",
                                     "--episodes", "1", "--temperature", "0.1"),
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert play.returncode == 0, play.stderr
    assert "episode   1: terminated" in play.stdout and "1 episodes" in play.stdout
    again = subprocess.run(hakisa_cmd("consolidate", "--profile", "dodge", "--data", demo, "--out", str(out)),
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 2 and "already exists" in again.stderr
