"""Nothing left behind, nothing lost: failed runs leave no empty or partial outputs, --force keeps the old
files until the new run has something, killed checkpoint writes are cleaned up by the next run, an earlier
crashed exploration is kept, a full disk or a read-only folder is found before the work starts."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import hakisa.cli as cli  # noqa: E402
from hakisa.codec import ActionCodec  # noqa: E402
from hakisa.data.dataset import DatasetReader, DatasetWriter  # noqa: E402
from hakisa.errors import OutputError  # noqa: E402
from hakisa.learn.checkpoint import clean_stale_tmp, save_checkpoint  # noqa: E402
from hakisa.learn.model import ModelConfig, QNetwork  # noqa: E402
from hakisa.profile import load_profile  # noqa: E402

from conftest import ROOT, profile_text  # noqa: E402
from test_dataset import PROFILE, obs, write  # noqa: E402

DODGE = load_profile("dodge")


def dodge_checkpoint(path) -> None:
    codec = ActionCodec(DODGE.actions, (320, 180))
    cfg = ModelConfig(frame_shape=DODGE.capture.frame_shape, stack=2, n_command=codec.n_command,
                      n_action_1=codec.n_action_1, n_action_2=codec.n_action_2, channels=(8, 8), hidden=16)
    save_checkpoint(path, model=QNetwork(cfg), optimizer=None, model_config=cfg.to_dict(), codec=codec.to_dict(),
                    profile=DODGE, preprocessing={}, state={"step": 0, "phase": "study", "final": True})


def main(argv, capsys):
    rc = cli.main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_explore_with_steps_runs_and_keeps_an_earlier_crashed_part(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HAKISA_LOG_DIR", str(tmp_path / "logs"))
    ckpt, out = tmp_path / "c.pt", tmp_path / "x.h5"
    dodge_checkpoint(ckpt)
    argv = ["explore", "--checkpoint", ckpt, "--out", out, "--headless", "dodge", "--size", "320x180", "--steps", "15",
            "--no-tick-limit"]
    rc, stdout, err = main(argv, capsys)  # `explore --steps N` used to crash on every run (args.seconds)
    assert rc == 0, err
    with DatasetReader(out) as r:
        assert 10 <= sum(r.info(e).n_steps for e in r.episode_names()) <= 15
    (tmp_path / "x.h5.part").write_bytes(b"what a crashed run left")
    rc, stdout, err = main(argv + ["--force"], capsys)
    assert rc == 0, err
    kept = list(tmp_path.glob("x.crashed-*.h5"))
    assert [p.read_bytes() for p in kept] == [b"what a crashed run left"] and str(kept[0]) in err
    assert not (tmp_path / "x.h5.part").exists() and not (tmp_path / "logs").exists()


def test_a_profile_error_after_the_dataset_opened_leaves_no_dataset(tmp_path, capsys, monkeypatch):
    """An extractor whose template image is missing fails when the loop starts: no .part, no .h5."""
    text = DODGE.text + '\n[rules.extractors.logo]\nkind = "image"\nregion = "playfield"\nimage = "missing.png"\n'
    if "[rules.regions]" not in DODGE.text or "playfield" not in DODGE.text:
        pytest.skip("the dodge profile has no playfield region")
    prof = tmp_path / "p.toml"
    prof.write_text(text)
    ckpt = tmp_path / "c.pt"
    dodge_checkpoint(ckpt)
    rc, _, err = main(["explore", "--checkpoint", ckpt, "--profile", prof, "--out", tmp_path / "x.h5", "--headless",
                       "dodge", "--steps", "5"], capsys)
    assert rc == 2 and "Traceback" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt", "p.toml"], err


def test_full_disk_before_the_first_step_is_one_clear_error_and_no_file(tmp_path, monkeypatch):
    """The disk fills before anything is stored: one OutputError (no IndexError while closing), nothing kept."""
    w = DatasetWriter(tmp_path / "d.h5", PROFILE, write.__globals__["CODEC"], flush_interval=0.0)
    w.start_episode(obs(0))
    import hakisa.data.dataset as ds

    real = shutil.disk_usage
    monkeypatch.setattr(ds.shutil, "disk_usage", lambda p: real(p)._replace(free=0))
    with pytest.raises(OutputError, match="full .* before anything was recorded"):
        w.add_step((0, 0, 0), 1, 0.0, False, False, obs(1))
    assert w.discard_if_empty() and not (tmp_path / "d.h5").exists()


def test_full_disk_later_keeps_what_was_written(tmp_path, monkeypatch):
    w = DatasetWriter(tmp_path / "d.h5", PROFILE, write.__globals__["CODEC"], flush_interval=0.0)
    w.start_episode(obs(0))
    for i in range(1, 6):
        w.add_step((1, 0, 0), 1, 0.0, False, False, obs(i))
    import hakisa.data.dataset as ds

    real = shutil.disk_usage
    monkeypatch.setattr(ds.shutil, "disk_usage", lambda p: real(p)._replace(free=0))
    with pytest.raises(OutputError, match="5 steps\\) is saved"):
        w.add_step((1, 0, 0), 1, 0.0, False, False, obs(6))
    assert not w.discard_if_empty()
    with DatasetReader(tmp_path / "d.h5") as r:
        info = r.info("ep_000000")
        assert info.n_steps == 5 and not info.problems and info.status == "truncated"


def test_a_killed_checkpoint_write_is_cleaned_by_the_next_run(tmp_path):
    out = tmp_path / "o.pt"
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = [tmp_path / f"o.pt.{dead.pid}.abc.tmp", tmp_path / "o.pt.xyz123.tmp"]  # a dead writer, an old name
    live = tmp_path / f"o.pt.{os.getppid()}.def.tmp"  # a write still in progress elsewhere
    other = tmp_path / "other.pt.1.tmp"
    for p in stale + [live, other]:
        p.write_bytes(b"half")
    assert sorted(clean_stale_tmp(out)) == sorted(stale)
    assert live.exists() and other.exists()
    dodge_checkpoint(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["o.pt", live.name, other.name])


def test_study_force_keeps_the_old_metrics_until_the_new_run_has_some(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HAKISA_LOG_DIR", str(tmp_path / "logs"))
    (tmp_path / "p.toml").write_text(profile_text("T"))
    write(tmp_path / "d.h5", episodes=((30, "terminated"), (20, "truncated")))
    base = ["study", "--profile", tmp_path / "p.toml", "--data", tmp_path / "d.h5", "--out", tmp_path / "o.pt",
            "--steps", "4", "--eval-every", "2", "--batch-size", "4", "--quiet", "--threads", "1"]
    rc, _, err = main(base, capsys)
    assert rc == 0, err
    metrics = tmp_path / "o.pt.metrics.jsonl"
    old = metrics.read_bytes()
    assert old.count(b"\n") == 2

    import hakisa.learn.study as st

    def fail(*a, **k):
        raise KeyboardInterrupt  # stopped before its first evaluation

    monkeypatch.setattr(st, "evaluate", fail)
    rc, _, err = main(base + ["--force"], capsys)
    assert rc == 130 and metrics.read_bytes() == old
    monkeypatch.undo()

    # --resume with other data is refused before any work
    write(tmp_path / "d2.h5", episodes=((12, "terminated"),))
    rc, _, err = main(base[:4] + [tmp_path / "d2.h5"] + base[5:] + ["--resume"], capsys)
    assert rc == 2 and "different files or contents" in err and metrics.read_bytes() == old


@pytest.fixture
def small_mount(tmp_path):
    """A tmpfs of 2 MB (root only) for full-disk and read-only cases."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)])


def test_out_on_a_read_only_or_full_folder_is_refused_before_work(tmp_path, small_mount, capsys, monkeypatch):
    monkeypatch.setenv("HAKISA_LOG_DIR", str(tmp_path / "logs"))
    (tmp_path / "p.toml").write_text(profile_text("T"))
    write(tmp_path / "d.h5")
    # full: 2 MB is less than a study run's checkpoints or a recording need
    rc, _, err = main(["study", "--profile", tmp_path / "p.toml", "--data", tmp_path / "d.h5", "--out",
                       small_mount / "o.pt", "--quiet"], capsys)
    assert rc == 2 and "free" in err and "needs about" in err, err
    monkeypatch.delenv("DISPLAY", raising=False)
    rc, _, err = main(["record", "--profile", tmp_path / "p.toml", "--out", small_mount / "r.h5"], capsys)
    assert rc == 2 and "free" in err, err
    # read-only, as root (permission bits would not stop root; the probe write does)
    subprocess.run(["mount", "-o", "remount,ro", str(small_mount)], check=True)
    rc, _, err = main(["study", "--profile", tmp_path / "p.toml", "--data", tmp_path / "d.h5", "--out",
                       small_mount / "o.pt", "--quiet"], capsys)
    assert rc == 2 and "cannot write in" in err and "read-only" in err.lower(), err
    assert list(small_mount.iterdir()) == []


def test_replay_failure_leaves_no_partial_clip_and_keeps_the_old_one(tmp_path, capsys, monkeypatch):
    write(tmp_path / "d.h5")
    old = tmp_path / "c.gif"
    old.write_bytes(b"GIF89a old clip")
    import hakisa.data.replay as rp

    real = rp.render_frames

    def dies(*a, **k):
        for i, item in enumerate(real(*a, **k)):
            if i == 3:
                raise OSError(28, "No space left on device")
            yield item

    monkeypatch.setattr(rp, "render_frames", dies)
    monkeypatch.setenv("HAKISA_LOG_DIR", str(tmp_path / "logs"))
    rc, _, err = main(["replay", tmp_path / "d.h5", "--out", old, "--force"], capsys)
    assert rc == 2 and "disk is full" in err
    assert old.read_bytes() == b"GIF89a old clip"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.gif", "d.h5", "logs"]


def test_memory_budget_is_checked_before_frames_are_read(tmp_path, monkeypatch):
    from hakisa.data.transitions import load_transitions
    from hakisa.errors import ResourceError

    write(tmp_path / "d.h5")
    monkeypatch.setenv("HAKISA_MEMORY_BUDGET", "20K")  # 10 frames of 64x64 are 40 KB
    with pytest.raises(ResourceError, match="HAKISA_MEMORY_BUDGET"):
        load_transitions([str(tmp_path / "d.h5")], PROFILE)
    monkeypatch.setenv("HAKISA_MEMORY_BUDGET", "10M")
    assert len(load_transitions([str(tmp_path / "d.h5")], PROFILE)) == 8
