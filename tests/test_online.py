"""`hakisa train` online on the headless dodge game: the actor's every step reaches both the dataset and the
learner's replay, the learner keeps one optimizer and target for the whole run at the replay ratio, the actor
takes new weights as they come, and a run stopped in the middle goes on from where it was."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from hakisa.act.loop import GREEDY, RANDOM  # noqa: E402
from hakisa.data.dataset import DatasetReader  # noqa: E402
from hakisa.data.transitions import load_transitions  # noqa: E402
from hakisa.learn import online  # noqa: E402
from hakisa.learn.checkpoint import load_checkpoint  # noqa: E402
from hakisa.learn.consolidate import ConsolidateConfig, Consolidator  # noqa: E402
from hakisa.learn.online import OnlineConfig, train_online  # noqa: E402
from hakisa.profile import load_profile  # noqa: E402

from conftest import hakisa_cmd  # noqa: E402

DODGE = load_profile("dodge")
NET = dict(channels=(8, 16), hidden=32, threads=1)


@pytest.fixture(scope="module")
def start(studied_dodge):
    return studied_dodge


def cfg(steps: int, **kw) -> OnlineConfig:
    return OnlineConfig(steps=steps, segment_steps=60, headless="dodge", size=(320, 180), replay_ratio=0.5,
                        consolidate=ConsolidateConfig(batch_size=8, eval_samples=64, margin_weight=1.0, tau=0.01,
                                                      **NET), **kw)


def test_online_run_learns_at_the_replay_ratio_and_keeps_every_step(tmp_path, start, monkeypatch):
    demo, ckpt = start
    seen = {"buffer": 0, "loaded": 0}
    real_update, real_act = Consolidator.update, online.OnlinePolicy.act
    optimizers, targets = set(), set()

    def counting_update(self):
        optimizers.add(id(self.opt))
        targets.add(id(self.target))
        seen["buffer"] = max(seen["buffer"], len(self.T))
        return real_update(self)

    def watching_act(self, frame):
        before = self._loaded
        out = real_act(self, frame)
        seen["loaded"] += self._loaded is not before
        return out

    monkeypatch.setattr(Consolidator, "update", counting_update)
    monkeypatch.setattr(online.OnlinePolicy, "act", watching_act)
    wd = tmp_path / "run"
    rec = train_online(DODGE, [demo], ckpt, wd, cfg(120, sync_every=5), progress=False, log=lambda m: None)
    segs = rec["segments"]
    assert [s["steps"] for s in segs] == [60, 60] and segs[-1]["actor_steps"] == 120
    assert segs[-1]["updates"] == 60  # 0.5 updates per actor step, over both segments
    assert len(optimizers) == 1 and len(targets) == 1  # one learner for the whole run
    assert seen["loaded"] >= 10  # the actor took the learner's weights as they came (every 5 updates)
    # every step the actor took is in the datasets, as agent data, and reached the replay before the end
    demo_steps = len(load_transitions([demo], DODGE))
    T = load_transitions([str(wd / "seg-001.h5"), str(wd / "seg-002.h5")], DODGE)
    assert len(T) == 118 and set(np.unique(T.actor)) <= {GREEDY, RANDOM}  # a segment's last action has no outcome yet
    for s in segs:
        with DatasetReader(s["data"]) as r:
            assert r.source == "explore"
    assert seen["buffer"] > demo_steps + 60  # the second segment's learner saw the first's steps and its own
    st = load_checkpoint(wd / "online.pt", DODGE)
    assert st["state"]["final"] and st["state"]["step"] == 60 and st["state"]["online"]["actor_steps"] == 120
    assert st["optimizer"] and st["target"]
    for k in (1, 2):
        assert load_checkpoint(wd / f"seg-{k:03d}.pt", DODGE)["state"]["step"] == 30 * k
    assert json.loads((wd / "online.json").read_text()) == rec
    assert (wd / "online.png").stat().st_size > 1000
    # run again with a larger budget: it goes on (nothing is repeated) to the new total
    rec = train_online(DODGE, [demo], ckpt, wd, cfg(180), progress=False, log=lambda m: None)
    assert [s["actor_steps"] for s in rec["segments"]] == [60, 120, 180] and rec["segments"][-1]["updates"] == 90


def test_self_imitation_online_and_an_exploring_temperature_that_leaves_how_checkpoints_play(tmp_path, start):
    """The actor explores at --temperature while the learner imitates the actor's own steps that ran into no loss;
    the checkpoints still play the way the start did (the trial's choice)."""
    demo, ckpt = start
    c = cfg(120, temperature=0.5)
    c.consolidate.self_imitation, c.consolidate.loss_horizon = 1.0, 0.5
    wd = tmp_path / "run"
    rec = train_online(DODGE, [demo], ckpt, wd, c, progress=False, log=lambda m: None)
    assert rec["segments"][-1]["updates"] == 60
    blob = load_checkpoint(wd / "seg-002.pt", DODGE)
    assert blob["state"]["history"][-1]["train_self_loss"] > 0  # the first segment's steps were imitated
    assert blob["state"].get("play_temperature") == load_checkpoint(ckpt, DODGE)["state"].get("play_temperature")


def test_checkpoints_drop_the_starts_offsets_unless_the_learner_imitates_with_studys_weights(tmp_path, start):
    """A start that plays with action offsets (study --prior, chosen by the trial): a learner imitating every human
    step alike writes checkpoints without them; one imitating with study's weights (--imitation-weights study) keeps
    them, since the pull they take back is still there, and so does one anchored to the start's odds. All keep the
    start's play temperature."""
    from hakisa.learn.checkpoint import write_state

    demo, ckpt = start
    st = load_checkpoint(ckpt, DODGE)["state"]
    n_command, n_action_1 = len(st["imitation_prior"]["command"]), len(st["imitation_prior"]["action_1"][0])
    offsets = {"command": [0.0] + [-0.05] * (n_command - 1), "action_1": [[0.0] * n_action_1] * n_command}
    with_offsets = tmp_path / "start.pt"
    write_state(ckpt, with_offsets, {**st, "action_bias": offsets, "play_temperature": 0.1})
    logs = []
    for how, anchor, kept in (("uniform", 0.0, None), ("study", 0.0, offsets), ("uniform", 1.0, offsets)):
        c = cfg(60)
        c.consolidate.imitation_weights, c.consolidate.anchor = how, anchor
        wd = tmp_path / f"{how}-{anchor}"
        train_online(DODGE, [demo], with_offsets, wd, c, progress=False, log=logs.append)
        state = load_checkpoint(wd / "seg-001.pt", DODGE)["state"]
        assert state["action_bias"] == kept and state["play_temperature"] == 0.1, how
        assert state["imitation_weights"]["balance"] == st["config"]["balance"]  # study's settings carried on
    assert sum("play without them" in m for m in logs) == 1


def test_the_pick_plays_the_start_and_each_segment_on_the_same_games_and_keeps_the_best(tmp_path, start):
    """--pick: the start and each seg-K.pt play the same headless games, each the way it plays; best.pt is a copy of
    the best, and the start wins a tie. A checkpoint put in twice scores the same twice (the same games, the same
    draws), so the copy of the start ties with it and the start is kept."""
    import shutil

    demo, ckpt = start
    wd = tmp_path / "run"
    train_online(DODGE, [demo], ckpt, wd, cfg(120), progress=False, log=lambda m: None)
    shutil.copyfile(ckpt, wd / "seg-001.pt")  # segment 1's checkpoint is now the start itself
    logs: list[str] = []
    rec = train_online(DODGE, [demo], ckpt, wd, cfg(120, pick=3), progress=False, log=logs.append)
    pick = rec["pick"]
    assert pick["measure"] == "score" and pick["episodes"] == 3
    got = {c["checkpoint"]: c for c in pick["checkpoints"]}
    assert list(got) == [str(ckpt), str(wd / "seg-001.pt"), str(wd / "seg-002.pt")]
    assert all(len(c["scores"]) == 3 and all(np.isfinite(c["scores"])) for c in got.values())
    assert got[str(ckpt)]["scores"] == got[str(wd / "seg-001.pt")]["scores"]  # the same games, the same play
    best = max(c["mean"] for c in got.values())
    assert got[pick["chosen"]]["mean"] == best
    first_best = next(name for name, c in got.items() if c["mean"] == best)
    assert pick["chosen"] == first_best and pick["chosen"] != str(wd / "seg-001.pt")  # ties go to the earlier
    assert (wd / "best.pt").read_bytes() == open(pick["chosen"], "rb").read()
    assert json.loads((wd / "online.json").read_text())["pick"] == pick
    assert any("picking the best of 3 checkpoints" in m for m in logs) and any("<- chosen" in m for m in logs)
    # picked once: the same command again plays nothing more
    logs.clear()
    assert train_online(DODGE, [demo], ckpt, wd, cfg(120, pick=3), progress=False, log=logs.append)["pick"] == pick
    assert not any("picking" in m for m in logs)
    # a longer run from there: the pick did not see the new segment, so the record no longer has it
    rec = train_online(DODGE, [demo], ckpt, wd, cfg(180), progress=False, log=lambda m: None)
    assert len(rec["segments"]) == 3 and "pick" not in rec
    assert "pick" not in json.loads((wd / "online.json").read_text())


def test_a_stopped_run_goes_on_from_its_checkpoint_and_keeps_what_was_played(tmp_path, start, monkeypatch):
    demo, ckpt = start
    wd = tmp_path / "run"
    real = Consolidator.update
    calls = {"n": 0}

    def crash(self):
        calls["n"] += 1
        if calls["n"] == 45:  # in the second segment, after the first one's checkpoint
            raise RuntimeError("power cut")
        return real(self)

    monkeypatch.setattr(Consolidator, "update", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        train_online(DODGE, [demo], ckpt, wd, cfg(180), progress=False, log=lambda m: None)
    assert (wd / "seg-001.h5").exists() and (wd / "seg-002.h5.part").exists()
    at_crash = load_checkpoint(wd / "online.pt", DODGE)["state"]["step"]
    assert at_crash == 44  # saved on the way out, with the optimizer and target
    monkeypatch.setattr(Consolidator, "update", real)
    logs: list[str] = []
    rec = train_online(DODGE, [demo], ckpt, wd, cfg(180), progress=False, log=logs.append)
    kept = list(wd.glob("seg-002.crashed-*.h5"))
    assert len(kept) == 1 and any("kept as" in m for m in logs)
    with DatasetReader(kept[0]) as r:  # what the interrupted segment flushed is data of the run
        partial = sum(r.info(e).n_steps for e in r.episode_names())
    assert 0 < partial <= 60
    assert any(f"resuming at {60 + partial} actor steps, 44 updates" in m for m in logs)
    last = rec["segments"][-1]
    assert last["actor_steps"] == 180 and last["updates"] == 90  # the ratio holds across the restart
    st = load_checkpoint(wd / "online.pt", DODGE)["state"]
    assert str(kept[0]) in st["datasets"] and st["step"] == 90


def test_cli_train_online_headless(tmp_path, start):
    import subprocess

    demo, ckpt = start
    wd = tmp_path / "cli"
    out = subprocess.run(hakisa_cmd("train", "--profile", "dodge", "--data", demo, "--from", ckpt, "--workdir", str(wd),
                                    "--headless", "dodge", "--size", "320x180", "--steps", "40",
                                    "--segment-steps", "20", "--batch-size", "8", "--threads", "1", "--quiet"),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "0.00 h of play" in out.stderr and "about 20 learner updates" in out.stderr
    rows = [line.split() for line in out.stdout.splitlines() if line.strip() and line.split()[0].isdigit()]
    assert [r[0] for r in rows] == ["1", "2"] and rows[-1][2] == "20"
    st = load_checkpoint(wd / "online.pt", DODGE)["state"]
    assert st["config"]["margin_weight"] == 1.0 and st["config"]["tau"] == 0.005  # DQfD's settings by default...
    assert st["config"]["imitation"] == "nll"  # ... but study's loss on the human steps
    assert st["online"]["actor_steps"] == 40 and (wd / "online.png").exists()
    # --pick on the finished run: the start and both segments' checkpoints played, the best copied to best.pt
    out = subprocess.run(hakisa_cmd("train", "--profile", "dodge", "--data", demo, "--from", ckpt, "--workdir", str(wd),
                                    "--headless", "dodge", "--size", "320x180", "--steps", "40", "--segment-steps",
                                    "20", "--batch-size", "8", "--threads", "1", "--quiet", "--pick", "1"),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "picking the best of 3 checkpoints" in out.stderr and "best checkpoint:" in out.stdout
    assert (wd / "best.pt").exists() and "pick" in json.loads((wd / "online.json").read_text())
    bad = subprocess.run(hakisa_cmd("train", "--profile", "dodge", "--data", demo, "--from", ckpt, "--workdir",
                                    str(tmp_path / "w"), "--rounds", "1", "--pick", "3"), capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode != 0 and "--pick" in bad.stderr and "Traceback" not in bad.stderr
    # --watcher is for a bundled game in memory only; a hand-back key must not be one the game uses
    bad = subprocess.run(hakisa_cmd("train", "--profile", "dodge", "--data", demo, "--from", ckpt, "--workdir",
                                    str(tmp_path / "w"), "--watcher"), capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "--watcher" in bad.stderr and "--headless" in bad.stderr
    bad = subprocess.run(hakisa_cmd("train", "--profile", "dodge", "--data", demo, "--from", ckpt, "--workdir",
                                    str(tmp_path / "w"), "--hand-back", "left"), capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode != 0 and "already uses that key" in bad.stderr
    # the watcher's look-ahead needs the watcher, and must be a positive number of seconds
    for flags, said in ((["--headless", "dodge", "--watcher-horizon", "2"], "add --watcher"),
                        (["--headless", "dodge", "--watcher", "--watcher-horizon", "0"], "--watcher-horizon")):
        bad = subprocess.run(hakisa_cmd("train", "--profile", "dodge", "--data", demo, "--from", ckpt, "--workdir",
                                        str(tmp_path / "w"), *flags), capture_output=True, text=True, timeout=60)
        assert bad.returncode != 0 and said in bad.stderr, bad.stderr
        assert "Traceback" not in bad.stderr


def test_train_defaults_depend_on_the_mode():
    """Online: imitation weight 1 (study's cross-entropy), a Polyak target, epsilon 0.02; --rounds keeps the staged
    way's own."""
    from hakisa.cli import build_parser

    common = ["train", "--profile", "dodge", "--data", "d.h5", "--from", "c.pt", "--workdir", "w"]
    online = build_parser().parse_args(common)
    online.resolve(online)
    staged = build_parser().parse_args(common + ["--rounds", "2"])
    staged.resolve(staged)
    assert (online.margin_weight, online.tau, online.epsilon, online.epsilon_end, online.imitation) == (
        1.0, 0.005, 0.02, 0.01, "nll")
    assert (staged.margin_weight, staged.tau, staged.epsilon, staged.epsilon_end, staged.imitation) == (
        0.1, 0.0, 0.2, 0.02, "margin")
    given = build_parser().parse_args(common + ["--margin-weight", "0.3", "--epsilon", "0.1"])
    given.resolve(given)
    assert (given.margin_weight, given.epsilon) == (0.3, 0.1)


def test_online_train_refuses_another_games_checkpoint_and_leaves_no_run(tmp_path, start):
    from hakisa.learn.checkpoint import CheckpointError
    from hakisa.profile import parse_profile

    demo, ckpt = start
    other = parse_profile(DODGE.text.replace('name = "dodge"', 'name = "dodge2"'), base_dir=DODGE.base_dir)
    with pytest.raises(CheckpointError, match="dodge2"):
        train_online(other, [demo], ckpt, tmp_path / "run", cfg(60), progress=False, log=lambda m: None)
    assert not (tmp_path / "run").exists()
