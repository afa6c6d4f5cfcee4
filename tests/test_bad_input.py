"""The bad-input corpus: what a user or an attacker might hand to hakisa, and what must come back.

Every case runs the CLI in-process (``hakisa.cli.main``) and asserts: exit status 2 (``inspect``: 1,
its "a file is broken" answer), one clear line on stderr naming the problem, no traceback, no crash
log, no file left behind and every file that was there unchanged (by hash).  A handful of cases run
as real subprocesses to prove the top level too.  Generated cases cover every numeric flag of every
command, every root attribute of a dataset and the fields of a profile.

Run: ``pytest -q tests/test_bad_input.py`` (about half a minute).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import h5py
import numpy as np
import pytest
import torch

from conftest import ROOT, hakisa_cmd, profile_text
from test_dataset import CODEC, PROFILE, write

import hakisa.cli as cli
from hakisa.learn.checkpoint import save_checkpoint
from hakisa.learn.model import ModelConfig, QNetwork
from hakisa.limits import COMMANDS as FLAG_TABLES

PROFILE_TEXT = profile_text("T")
assert PROFILE.text == PROFILE_TEXT


# ----- the files every case starts from ---------------------------------------------------------------

def make_checkpoint(path: Path, profile=PROFILE, **cfg_over) -> None:
    cfg = ModelConfig(frame_shape=PROFILE.capture.frame_shape, stack=2, n_command=CODEC.n_command,
                      n_action_1=CODEC.n_action_1, n_action_2=CODEC.n_action_2, channels=(8, 8), hidden=16,
                      **cfg_over)
    model = QNetwork(cfg)
    opt = torch.optim.Adam(model.parameters())
    cap = PROFILE.capture
    save_checkpoint(path, model=model, optimizer=opt, model_config=cfg.to_dict(), codec=CODEC.to_dict(),
                    profile=profile, preprocessing={"width": cap.frame_width, "height": cap.frame_height,
                                                    "color": cap.color, "stack": cfg.stack},
                    state={"step": 0, "history": [], "phase": "study", "final": True})


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("base")
    (d / "p.toml").write_text(PROFILE_TEXT)
    write(d / "d.h5", episodes=((30, "terminated"), (20, "truncated")))
    make_checkpoint(d / "c.pt")
    return d


@pytest.fixture
def logs(tmp_path_factory, monkeypatch) -> Path:
    d = tmp_path_factory.mktemp("logs")
    monkeypatch.setenv("HAKISA_LOG_DIR", str(d))
    return d


def snapshot(folder: Path) -> dict[str, str]:
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def run_main(argv: list[str], capsys) -> tuple[int, str, str]:
    rc = cli.main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


# ----- cases ----------------------------------------------------------------------------------------

@dataclass
class Case:
    id: str
    argv: list[str]  # "{d}" is the case's folder, copies of the base files are in it
    expect: tuple[str, ...]  # substrings of the one error line (case-insensitive)
    prepare: Callable[[Path], None] | None = None
    env: dict = field(default_factory=dict)
    status: int = 2


def study(*extra: str, data: str = "{d}/d.h5", out: str = "{d}/o.pt") -> list[str]:
    return ["study", "--profile", "{d}/p.toml", "--data", data, "--out", out, "--quiet", "--steps", "4",
            "--eval-every", "2", *extra]


def consolidate(*extra: str, data: str = "{d}/d.h5", ckpt: str = "{d}/c.pt") -> list[str]:
    return ["consolidate", "--profile", "{d}/p.toml", "--data", data, "--from", ckpt, "--out", "{d}/o.pt",
            "--quiet", "--updates", "2", "--eval-every", "2", *extra]


def h5_attr(key: str, value) -> Callable[[Path], None]:
    def prep(d: Path) -> None:
        with h5py.File(d / "d.h5", "a") as f:
            if value is None:
                del f.attrs[key]
            else:
                f.attrs[key] = value
    return prep


def h5_edit(fn: Callable[[h5py.File], None]) -> Callable[[Path], None]:
    def prep(d: Path) -> None:
        with h5py.File(d / "d.h5", "a") as f:
            fn(f)
    return prep


def ep_replace(key: str, data) -> Callable[[h5py.File], None]:
    def fn(f: h5py.File) -> None:
        g = f["episodes/ep_000000"]
        del g[key]
        g[key] = data
    return fn


def ep_set(key: str, index, value) -> Callable[[h5py.File], None]:
    def fn(f: h5py.File) -> None:
        f["episodes/ep_000000"][key][index] = value
    return fn


def declare_rows(n: int) -> Callable[[h5py.File], None]:
    """Resize every array of an episode to ``n`` rows without writing them: a small file that declares
    a huge one (the 1.5 MB file declaring 10 M steps)."""
    def fn(f: h5py.File) -> None:
        g = f["episodes/ep_000000"]
        for k in g:
            g[k].resize(n + (k in ("observations", "obs_time", "tick", "held_keys", "mouse_xy", "mouse_buttons")),
                        axis=0)
    return fn


def ckpt_edit(fn: Callable[[dict], None]) -> Callable[[Path], None]:
    def prep(d: Path) -> None:
        blob = torch.load(d / "c.pt", weights_only=True)
        fn(blob)
        torch.save(blob, d / "c.pt")
    return prep


def ckpt_json(key: str, change: Callable[[dict], None]) -> Callable[[dict], None]:
    def fn(blob: dict) -> None:
        v = json.loads(blob[key])
        change(v)
        blob[key] = json.dumps(v)
    return fn


def write_file(name: str, data: bytes | str) -> Callable[[Path], None]:
    def prep(d: Path) -> None:
        p = d / name
        if isinstance(data, bytes):
            p.write_bytes(data)
        else:
            p.write_text(data)
    return prep


def other_profile_data(d: Path) -> None:
    from hakisa.codec import ActionCodec
    from hakisa.data.dataset import DatasetWriter
    from hakisa.profile import parse_profile
    from test_dataset import obs

    prof = parse_profile(profile_text("Other", name="other"))
    w = DatasetWriter(d / "d.h5", prof, ActionCodec(prof.actions, (640, 360)), force=True)
    w.start_episode(obs(0))
    for i in range(1, 6):
        w.add_step((0, 0, 0), 1, 0.0, False, False, obs(i))
    w.close()


def bricks_profile_and_checkpoint(d: Path) -> None:
    """b.toml: the test profile named after the bundled game bricks, and b.pt, a checkpoint made with it."""
    from hakisa.profile import parse_profile

    (d / "b.toml").write_text(profile_text("T", name="bricks"))
    make_checkpoint(d / "b.pt", profile=parse_profile(profile_text("T", name="bricks")))


def mkdir(name: str) -> Callable[[Path], None]:
    return lambda d: (d / name).mkdir()


def chain(*preps: Callable[[Path], None]) -> Callable[[Path], None]:
    def prep(d: Path) -> None:
        for p in preps:
            p(d)
    return prep


def unsafe_pickle(d: Path) -> None:
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save({"format": "hakisa-checkpoint", "x": Evil()}, d / "c.pt")


def with_action(chord: str) -> Callable[[Path], None]:
    """The base profile with one more action, ``chord``."""
    return write_file("p.toml", PROFILE_TEXT.replace('"right+space"]', f'"right+space", "{chord}"]'))


PLAY = ["play", "--checkpoint", "{d}/c.pt", "--profile", "{d}/p.toml", "--headless", "dodge", "--episodes", "1"]
RECORD = ["record", "--profile", "{d}/p.toml", "--out", "{d}/r.h5"]

CASES: list[Case] = [
    # ----- flags named in the issue ---------------------------------------------------------------
    Case("study-steps-0", study("--steps", "0"), ("--steps 0", "from 1")),
    Case("study-batch-negative", study("--batch-size", "-1"), ("--batch-size -1", "from 1 to 4096")),
    Case("study-batch-0", study("--batch-size", "0"), ("--batch-size 0",)),
    Case("study-batch-huge", study("--batch-size", "1000000000"), ("--batch-size 1000000000", "4096")),
    Case("study-lr-nan", study("--lr", "nan"), ("--lr nan",)),
    Case("study-lr-inf", study("--lr", "inf"), ("--lr inf",)),
    Case("study-eval-every-0", study("--eval-every", "0"), ("--eval-every 0",)),
    Case("study-stack-0", study("--stack", "0"), ("--stack 0", "from 1 to 32")),
    Case("study-threads-0", study("--threads", "0"), ("--threads 0",)),
    Case("study-n-step-0", study("--n-step", "0"), ("--n-step 0",)),
    Case("study-augment-negative", study("--augment", "-3"), ("--augment -3",)),
    Case("study-seed-negative", study("--seed", "-1"), ("--seed -1",)),
    Case("consolidate-updates-negative", consolidate("--updates", "-1"), ("--updates -1",)),
    Case("consolidate-target-every-0", consolidate("--target-every", "0"), ("--target-every 0",)),
    Case("consolidate-gamma-5", consolidate("--gamma", "5"), ("--gamma 5", "from 0 to 1")),
    Case("consolidate-human-ratio-2", consolidate("--human-ratio", "2"), ("--human-ratio 2",)),
    Case("train-rounds-0", ["train", "--profile", "{d}/p.toml", "--data", "{d}/d.h5", "--from", "{d}/c.pt",
                            "--workdir", "{d}/run", "--rounds", "0"], ("--rounds 0",)),
    Case("play-size-0x0", PLAY + ["--size", "0x0"], ("--size", "0x0")),
    Case("play-size-garbage", PLAY + ["--size", "big"], ("--size", "widthxheight")),
    Case("play-episodes-0", PLAY[:-2] + ["--episodes", "0"], ("--episodes 0",)),
    Case("play-epsilon-5", PLAY + ["--epsilon", "5"], ("--epsilon 5",)),
    Case("explore-epsilon-5", ["explore", "--checkpoint", "{d}/c.pt", "--out", "{d}/x.h5", "--steps", "5",
                               "--epsilon", "5"], ("--epsilon 5",)),
    Case("explore-no-limit", ["explore", "--checkpoint", "{d}/c.pt", "--profile", "{d}/p.toml", "--out", "{d}/x.h5",
                              "--headless", "dodge"], ("--steps", "--minutes")),
    Case("replay-width-0", ["replay", "{d}/d.h5", "--out", "{d}/c.mp4", "--width", "0"], ("--width 0",)),
    Case("record-hz-0", ["record", "--profile", "{d}/p.toml", "--out", "{d}/r.h5", "--hz", "0"], ("--hz 0",)),
    Case("record-seconds-0", ["record", "--profile", "{d}/p.toml", "--out", "{d}/r.h5", "--seconds", "0"],
         ("--seconds 0",)),
    # ----- profiles ---------------------------------------------------------------------------------
    Case("profile-not-utf8", study(), ("not utf-8",), write_file("p.toml", PROFILE_TEXT.encode() + b"\n# \xff\xfe\n")),
    Case("profile-binary", study(), ("not utf-8",), write_file("p.toml", bytes(range(256)))),
    Case("profile-missing", study(), ("does not exist",), lambda d: (d / "p.toml").unlink()),
    Case("profile-is-folder", study(), ("does not exist",), chain(lambda d: (d / "p.toml").unlink(), mkdir("p.toml"))),
    Case("profile-bad-toml", study(), ("not valid toml",), write_file("p.toml", "[game\nname = 1")),
    Case("profile-too-large", study(), ("bytes",), write_file("p.toml", PROFILE_TEXT + "#" * (2 << 20))),
    Case("profile-wrong-type", study(), ("capture.tick_hz", "'fast'"),
         write_file("p.toml", PROFILE_TEXT.replace("tick_hz = 20", 'tick_hz = "fast"'))),
    Case("profile-tick-nan", study(), ("capture.tick_hz",), write_file("p.toml", PROFILE_TEXT.replace("tick_hz = 20",
                                                                                                     "tick_hz = nan"))),
    Case("profile-unknown-section", study(), ("unknown field",),
         write_file("p.toml", PROFILE_TEXT + "\n[evil]\nx=1\n")),
    Case("profile-deep-nesting", study(), ("p.toml",), write_file("p.toml", "x = " + "[" * 5000 + "]" * 5000)),
    Case("profile-other-than-data", study(), ("recorded with profile",), other_profile_data),
    Case("profile-alt-f4-record", RECORD, ("actions.keys", "'alt+f4'", 'allow_system_keys = ["alt+f4"]'),
         with_action("alt+f4")),
    Case("profile-ctrl-alt-backspace", study(), ("actions.keys", "ctrl+alt", "allow_system_keys"),
         with_action("ctrl+alt+backspace")),
    Case("profile-super-reset-key", RECORD, ("reset.keys", "'super'", 'allow_system_keys = ["cmd"]'),
         write_file("p.toml", PROFILE_TEXT + '\n[reset]\nkeys = ["enter", "super"]\n')),
    Case("profile-allow-unused-chord", RECORD, ("safety.allow_system_keys", "'ctrl+w'", "actions.keys"),
         write_file("p.toml", PROFILE_TEXT.replace('kill_switch = "f12"',
                                                   'kill_switch = "f12"\nallow_system_keys = ["ctrl+w"]'))),
    Case("profile-allow-not-a-list", study(), ("safety.allow_system_keys", "a list of chords"),
         write_file("p.toml", PROFILE_TEXT.replace('kill_switch = "f12"',
                                                   'kill_switch = "f12"\nallow_system_keys = "alt+f4"'))),
    Case("profile-title-lookaround", RECORD, ("window.title", "re2 syntax"),
         write_file("p.toml", PROFILE_TEXT.replace('title = "^T$"', 'title = "^T(?! Launcher)"'))),
    Case("profile-title-huge-repeat", RECORD, ("window.title", "repetition"),
         write_file("p.toml", PROFILE_TEXT.replace('title = "^T$"', 'title = "((a{1000}){1000}){1000}"'))),
    Case("profile-title-too-long", RECORD, ("window.title", "at most 512 characters"),
         write_file("p.toml", PROFILE_TEXT.replace('title = "^T$"', f'title = "{"T" * 513}"'))),
    Case("profile-class-backreference", RECORD, ("window.class", "re2 syntax"),
         write_file("p.toml", PROFILE_TEXT.replace('title = "^T$"', 'title = "^T$"\nclass = "(a)\\\\1"'))),
    # ----- datasets ---------------------------------------------------------------------------------
    Case("data-no-match", study(data="{d}/nothing*.h5"), ("matches no file",)),
    Case("data-empty-file", study(), ("empty",), write_file("d.h5", b"")),
    Case("data-text-file", study(), ("not an hdf5 file",), write_file("d.h5", "hello")),
    Case("data-truncated", study(), ("truncated or corrupt",), lambda d: (d / "d.h5").write_bytes(
        (d / "d.h5").read_bytes()[:4000])),
    Case("data-is-folder", study(), ("folder",), chain(lambda d: (d / "d.h5").unlink(), mkdir("d.h5"))),
    Case("data-foreign-hdf5", study(), ("not a hakisa dataset",), h5_attr("format", "something-else")),
    Case("data-format-version-text", study(), ("format_version", "not a number"), h5_attr("format_version", "one")),
    Case("data-format-version-array", study(), ("format_version",), h5_attr("format_version", np.arange(3))),
    Case("data-format-version-99", study(), ("version 99",), h5_attr("format_version", 99)),
    Case("data-codec-not-json", study(), ("codec", "not json"), h5_attr("codec", "{not json")),
    Case("data-codec-list", study(), ("codec", "not a json object"), h5_attr("codec", "[1, 2]")),
    Case("data-codec-capture-negative", study(), ("capture_size",), h5_attr(
        "codec", json.dumps({**CODEC.to_dict(), "capture_size": [-5, 0]}))),
    Case("data-codec-huge-heads", study(), ("n_action_1",), h5_attr(
        "codec", json.dumps({**CODEC.to_dict(), "n_action_1": 10**12}))),
    Case("data-frame-shape-zero", study(), ("frame_shape",), h5_attr("frame_shape", np.zeros(3, np.int32))),
    Case("data-frame-shape-huge", study(), ("frame_shape",), h5_attr("frame_shape", np.array([100000, 100000, 3]))),
    Case("data-sha-not-text", study(), ("profile_sha256",), h5_attr("profile_sha256", 12345)),
    Case("data-no-profile", study(), ("profile_toml",), h5_attr("profile_toml", None)),
    Case("data-tick-hz-text", study(), ("tick_hz",), h5_attr("tick_hz", "fast")),
    Case("data-episodes-not-group", study(), ("/episodes is not a group",), h5_edit(
        lambda f: (f.__delitem__("episodes"), f.create_dataset("episodes", data=np.arange(3))))),
    Case("data-no-episodes", study(), ("no 'episodes' group",), h5_edit(lambda f: f.__delitem__("episodes"))),
    Case("data-episode-not-group", study(), ("ep_000000", "not an episode group"), h5_edit(
        lambda f: (f["episodes"].__delitem__("ep_000000"), f["episodes"].create_dataset("ep_000000", data=[1])))),
    Case("data-missing-array", study(), ("missing arrays",), h5_edit(
        lambda f: f["episodes/ep_000000"].__delitem__("rewards"))),
    Case("data-observations-float", study(), ("observations", "type"), h5_edit(
        ep_replace("observations", np.zeros((31, 64, 64, 1), np.float32)))),
    Case("data-observations-shape", study(), ("observations", "shape"), h5_edit(
        ep_replace("observations", np.zeros((31, 32, 32, 1), np.uint8)))),
    Case("data-array-is-group", study(), ("rewards", "not an array"), h5_edit(
        lambda f: (f["episodes/ep_000000"].__delitem__("rewards"), f["episodes/ep_000000"].create_group("rewards")))),
    Case("data-command-outside-codec", study(), ("command_type", "outside"), h5_edit(ep_set("command_type", 3, 7))),
    Case("data-command-negative", study(), ("command_type", "outside"), h5_edit(ep_set("command_type", 3, -2))),
    Case("data-action-outside-codec", study(), ("action_1", "outside"), h5_edit(ep_set("action_1", 2, 99))),
    Case("data-actor-unknown", study(), ("actor", "outside"), h5_edit(ep_set("actor", 2, 200))),
    Case("data-reward-nan", study(), ("rewards", "nan"), h5_edit(ep_set("rewards", 2, np.nan))),
    Case("data-declares-10m-steps", study(), ("declares", "10000001"), h5_edit(declare_rows(10_000_000))),
    Case("inspect-declares-10m-steps", ["inspect", "{d}/d.h5"], ("problem", "declares"),
         h5_edit(declare_rows(10_000_000)), status=1),
    Case("inspect-codec-not-json", ["inspect", "{d}/d.h5"], ("broken", "not json"), h5_attr("codec", "]["),
         status=1),
    Case("data-past-memory-budget", study(), ("memory", "budget"), env={"HAKISA_MEMORY_BUDGET": "100K"}),
    Case("memory-budget-garbage", study(), ("hakisa_memory_budget",), env={"HAKISA_MEMORY_BUDGET": "lots"}),
    Case("replay-episode-unknown", ["replay", "{d}/d.h5", "--out", "{d}/c.gif", "--episode", "ep_9"],
         ("no episode",)),
    Case("replay-action-outside-codec", ["replay", "{d}/d.h5", "--out", "{d}/c.gif"], ("action_1", "outside"),
         h5_edit(lambda f: (ep_set("command_type", 1, 3)(f), ep_set("action_1", 1, 2**31 - 1)(f)))),
    Case("replay-reward-inf", ["replay", "{d}/d.h5", "--out", "{d}/c.mp4"], ("rewards",),
         h5_edit(ep_set("rewards", 4, np.inf))),
    Case("replay-broken-data", ["replay", "{d}/d.h5", "--out", "{d}/c.gif"], ("not json",), h5_attr("codec", "x")),
    # ----- checkpoints ------------------------------------------------------------------------------
    Case("ckpt-missing", consolidate(ckpt="{d}/none.pt"), ("does not exist",)),
    Case("ckpt-folder", consolidate(ckpt="{d}/cdir"), ("does not exist",), mkdir("cdir")),
    Case("ckpt-empty", consolidate(), ("corrupt or not a torch file",), write_file("c.pt", b"")),
    Case("ckpt-text", consolidate(), ("corrupt or not a torch file",), write_file("c.pt", "hello")),
    Case("ckpt-unsafe-pickle", consolidate(), ("could run code",), unsafe_pickle),
    Case("ckpt-foreign-dict", consolidate(), ("not a hakisa checkpoint",),
         lambda d: torch.save({"weights": torch.zeros(3)}, d / "c.pt")),
    Case("ckpt-format-version-text", consolidate(), ("checkpoint format",),
         ckpt_edit(lambda b: b.__setitem__("format_version", "1"))),
    Case("ckpt-no-profile", consolidate(), ("profile_toml", "profile"),
         ckpt_edit(lambda b: b.__delitem__("profile_toml"))),
    Case("ckpt-profile-name-path", consolidate(), ("profile_name", "not a game name"),
         ckpt_edit(lambda b: b.__setitem__("profile_name", "../../../etc/passwd"))),
    Case("data-profile-name-path", study(), ("profile_name", "not a game name"),
         h5_attr("profile_name", "../x/../../evil")),
    Case("ckpt-sha-garbage", consolidate(), ("profile_sha256",),
         ckpt_edit(lambda b: b.__setitem__("profile_sha256", "zz"))),
    Case("ckpt-other-profile", consolidate(), ("was made for profile",),
         ckpt_edit(lambda b: b.__setitem__("profile_sha256", "0" * 64))),
    Case("ckpt-state-not-json", consolidate(), ("'state' is not json",),
         ckpt_edit(lambda b: b.__setitem__("state", "{oops"))),
    Case("ckpt-state-list", consolidate(), ("'state'", "not a json object"),
         ckpt_edit(lambda b: b.__setitem__("state", "[]"))),
    Case("ckpt-state-step-text", consolidate(), ("training state",),
         ckpt_edit(ckpt_json("state", lambda s: s.__setitem__("step", "many")))),
    Case("ckpt-config-not-json", consolidate(), ("'model_config' is not json",),
         ckpt_edit(lambda b: b.__setitem__("model_config", 17))),
    Case("ckpt-codec-not-json", consolidate(), ("codec", "not json"),
         ckpt_edit(lambda b: b.__setitem__("codec", "{{"))),
    Case("ckpt-codec-no-capture", consolidate(), ("capture_size",),
         ckpt_edit(ckpt_json("codec", lambda c: c.pop("capture_size")))),
    Case("ckpt-codec-disagrees", consolidate(), ("n_action_1",),
         ckpt_edit(ckpt_json("codec", lambda c: c.__setitem__("n_action_1", 3)))),
    Case("ckpt-hidden-2e9-float", consolidate(), ("hidden", "2000000000.0"),
         ckpt_edit(ckpt_json("model_config", lambda c: c.__setitem__("hidden", 2e9)))),
    Case("ckpt-hidden-2e9-int", consolidate(), ("hidden", "from 1 to 8192"),
         ckpt_edit(ckpt_json("model_config", lambda c: c.__setitem__("hidden", 2_000_000_000)))),
    Case("ckpt-stack-text", consolidate(), ("stack",),
         ckpt_edit(ckpt_json("model_config", lambda c: c.__setitem__("stack", "4")))),
    Case("ckpt-channels-many", consolidate(), ("channels",),
         ckpt_edit(ckpt_json("model_config", lambda c: c.__setitem__("channels", [1024] * 64)))),
    Case("ckpt-channels-too-deep", consolidate(), ("channels", "convolutions"),
         ckpt_edit(ckpt_json("model_config", lambda c: c.__setitem__("channels", [8] * 8)))),
    Case("ckpt-frame-shape-bad", consolidate(), ("frame_shape",),
         ckpt_edit(ckpt_json("model_config", lambda c: c.__setitem__("frame_shape", [64, 64])))),
    Case("ckpt-config-unknown-field", consolidate(), ("does not know",),
         ckpt_edit(ckpt_json("model_config", lambda c: c.__setitem__("dropout", 0.5)))),
    Case("ckpt-weight-shape", consolidate(), ("weight", "shape"),
         ckpt_edit(lambda b: b["model"].__setitem__("fc.0.weight", torch.zeros(3, 3)))),
    Case("ckpt-weight-missing", consolidate(), ("missing",), ckpt_edit(lambda b: b["model"].pop("value.bias"))),
    Case("ckpt-weights-not-tensors", consolidate(), ("weight tensors",),
         ckpt_edit(lambda b: b.__setitem__("model", {"a": 1}))),
    Case("ckpt-optimizer-not-dict", consolidate(), ("optimizer",),
         ckpt_edit(lambda b: b.__setitem__("optimizer", [1, 2]))),
    Case("play-ckpt-hidden-huge", PLAY, ("hidden",),
         ckpt_edit(ckpt_json("model_config", lambda c: c.__setitem__("hidden", 10**9)))),
    # ----- outputs ----------------------------------------------------------------------------------
    Case("study-out-exists", study(out="{d}/c.pt"), ("already exists", "--force")),
    Case("study-out-folder", study("--force", out="{d}/outdir"), ("is a folder",), mkdir("outdir")),
    Case("study-out-no-folder", study(out="{d}/nope/o.pt"), ("does not exist",)),
    Case("study-resume-missing", study("--resume"), ("does not exist yet",)),
    Case("study-force-bad-data-keeps-old", study("--force", out="{d}/c.pt"), ("not json",), h5_attr("codec", "x")),
    Case("study-metrics-is-folder", study(), ("metrics.jsonl", "folder"), mkdir("o.pt.metrics.jsonl")),
    Case("replay-out-exists", ["replay", "{d}/d.h5", "--out", "{d}/c.gif"], ("already exists",),
         write_file("c.gif", b"GIF89a")),
    Case("replay-out-avi", ["replay", "{d}/d.h5", "--out", "{d}/c.avi"], (".mp4 or .gif",)),
    Case("replay-out-folder", ["replay", "{d}/d.h5", "--out", "{d}/c.gif", "--force"], ("folder",), mkdir("c.gif")),
    Case("explore-out-exists", ["explore", "--checkpoint", "{d}/c.pt", "--profile", "{d}/p.toml", "--out",
                                "{d}/d.h5", "--headless", "dodge", "--steps", "5"], ("already exists",)),
    Case("train-workdir-is-file", ["train", "--profile", "{d}/p.toml", "--data", "{d}/d.h5", "--from", "{d}/c.pt",
                                   "--workdir", "{d}/d.h5", "--headless", "dodge"], ("is a file",)),
    # another bundled game's checkpoint or profile on --headless GAME: refused before anything is played
    *[Case(f"{argv[0]}-headless-other-game", argv, ("for the bundled game 'bricks', not 'dodge'",),
           bricks_profile_and_checkpoint) for argv in (
        ["play", "--checkpoint", "{d}/b.pt", "--profile", "{d}/b.toml", "--headless", "dodge", "--episodes", "1"],
        ["trial", "--checkpoint", "{d}/b.pt", "--profile", "{d}/b.toml", "--headless", "dodge"],
        ["explore", "--checkpoint", "{d}/b.pt", "--profile", "{d}/b.toml", "--out", "{d}/x.h5", "--headless",
         "dodge", "--steps", "5"],
        ["train", "--profile", "{d}/b.toml", "--data", "{d}/d.h5", "--from", "{d}/b.pt", "--workdir", "{d}/run",
         "--headless", "dodge"])],
    Case("regions-out-not-image", ["regions", "--profile", "{d}/p.toml", "--screenshot", "{d}/s.png", "--out",
                                   "{d}/x.txt"], (".png",)),
    Case("regions-bad-screenshot", ["regions", "--profile", "{d}/p.toml", "--screenshot", "{d}/d.h5"],
         ("cannot read screenshot",)),
    # ----- environment ------------------------------------------------------------------------------
    Case("record-no-display", ["record", "--profile", "{d}/p.toml", "--out", "{d}/r.h5"], ("display",),
         env={"DISPLAY": None}),
    Case("record-unreachable-display", ["record", "--profile", "{d}/p.toml", "--out", "{d}/r.h5"],
         ("cannot be reached",), env={"DISPLAY": ":9876"}),
    Case("play-no-display", PLAY[:-4] + ["--episodes", "1"], ("display",), env={"DISPLAY": None}),
    Case("explore-no-display", ["explore", "--checkpoint", "{d}/c.pt", "--profile", "{d}/p.toml", "--out",
                                "{d}/x.h5", "--steps", "5"], ("display",), env={"DISPLAY": None}),
    Case("train-no-display", ["train", "--profile", "{d}/p.toml", "--data", "{d}/d.h5", "--from", "{d}/c.pt",
                              "--workdir", "{d}/run"], ("`hakisa train` needs a screen",), env={"DISPLAY": None}),
    Case("regions-no-display", ["regions", "--profile", "{d}/p.toml"], ("display",), env={"DISPLAY": None}),
]


def _flag_cases() -> list[Case]:
    """Every numeric flag of every command, just outside its range (and NaN / infinity for numbers)."""
    argv_of = {
        "study": study(), "consolidate": consolidate(),
        "train": ["train", "--profile", "{d}/p.toml", "--data", "{d}/d.h5", "--from", "{d}/c.pt", "--workdir",
                  "{d}/run", "--headless", "dodge"],
        "play": PLAY[:-2], "explore": ["explore", "--checkpoint", "{d}/c.pt", "--profile", "{d}/p.toml", "--out",
                                       "{d}/x.h5", "--headless", "dodge", "--steps", "5"],
        "record": ["record", "--profile", "{d}/p.toml", "--out", "{d}/r.h5"],
        "replay": ["replay", "{d}/d.h5", "--out", "{d}/c.gif"],
        "regions": ["regions", "--profile", "{d}/p.toml", "--screenshot", "{d}/s.png"],
        "trial": ["trial", "--checkpoint", "{d}/c.pt", "--profile", "{d}/p.toml", "--headless", "dodge"],
    }
    cases = []
    for command, table in FLAG_TABLES.items():
        parser_flags = _parser_flags(command)
        for f in table:
            if f.flag not in parser_flags:
                continue  # a config field this command has no flag for (checked in the library)
            r = f.range
            bad = []
            if r.lo is not None:
                bad.append(r.lo - 1 if r.integer else r.lo - 0.5 - (0 if r.lo_open else 0.5))
            if r.hi is not None:
                bad.append(r.hi * 10 + 1 if r.integer else r.hi * 10 + 1)
            if not r.integer:
                bad += [math.nan, -math.inf]
            for v in bad:
                text = str(int(v)) if r.integer else repr(float(v))
                cases.append(Case(f"flag-{command}{f.flag}={text}", argv_of[command] + [f"{f.flag}={text}"], (f.flag,)))
    return cases


def _parser_flags(command: str) -> set[str]:
    sub = next(a for a in cli.build_parser()._subparsers._group_actions if hasattr(a, "choices"))
    return {s for a in sub.choices[command]._actions for s in a.option_strings}


def _attr_fuzz_cases() -> list[Case]:
    """Every root attribute of a dataset set to values of the wrong kind."""
    weird = [("int", 7), ("text", "x"), ("empty", ""), ("array", np.arange(4)), ("bytes", np.bytes_(b"\xff\xfe")),
             ("float-nan", np.nan), ("json-null", "null"), ("bool", True)]
    keys = ["format", "format_version", "profile_sha256", "profile_name", "profile_toml", "frame_shape", "codec",
            "tick_hz"]
    cases = []
    for key in keys:
        for label, v in weird:
            if ((key == "profile_name" and label in ("text", "json-null"))
                    or (key == "tick_hz" and label == "int")):
                continue  # valid values: any text is a name (the hash is what counts), a whole tick rate
            cases.append(Case(f"h5attr-{key}-{label}", study(), (), h5_attr(key, v)))
    return cases


def _profile_fuzz_cases(n: int = 24) -> list[Case]:
    """Profiles with one field replaced by a value of another type or range (seeded)."""
    rng = random.Random(13)
    fields_ = [("tick_hz = 20", "tick_hz = {}"), ("frame_width = 64", "frame_width = {}"),
               ("frame_height = 64", "frame_height = {}"), ('mouse = "none"', "mouse = {}"),
               ("mouse_grid = [32, 18]", "mouse_grid = {}"), ('kill_switch = "f12"', "kill_switch = {}"),
               ('title = "^T$"', "title = {}"), ('name = "testgame"', "name = {}")]
    values = ["-1", "0", "1e309", "nan", "inf", '"x"', "[]", "{}", "true", "[1, 2, 3]", '"(("', "99999999999",
              '"\\u0000"', "1.5", '["a", "b"]', "[[1]]"]
    cases = []
    seen = set()
    while len(cases) < n:
        old, new = rng.choice(fields_)
        v = rng.choice(values)
        if (old, v) in seen:
            continue
        seen.add((old, v))
        text = PROFILE_TEXT.replace(old, new.format(v))
        cases.append(Case(f"profile-fuzz-{old.split(' ')[0]}={v}", study(), (), write_file("p.toml", text)))
    return cases


def _episode_attr_cases() -> list[Case]:
    """An episode's own attributes of the wrong kind: reported as a problem, and study refuses the file."""
    cases = []
    for key in ("status", "tick_hz", "missed_ticks"):
        for label, v in (("array", np.arange(3)), ("text", "lots"), ("nan", np.nan), ("bytes", np.bytes_(b"\xff"))):
            if key == "status" and label == "nan":
                continue
            def prep(d: Path, key=key, v=v) -> None:
                with h5py.File(d / "d.h5", "a") as f:
                    f["episodes/ep_000000"].attrs[key] = v
            wrong_status = key == "status"
            cases.append(Case(f"h5episode-{key}-{label}", study() if wrong_status else ["inspect", "{d}/d.h5"],
                              ("status",) if wrong_status else (), prep, status=2 if wrong_status else 0))
    return cases


def _system_chord_cases() -> list[Case]:
    """A chord of each kind in hakisa.keys.SYSTEM_CHORDS, as an action (record) and, alone, as a reset key."""
    chords = ["cmd", "meta+left", "ctrl+alt+f1", "ctrl+alt+delete", "alt+f2", "alt+tab", "alt+esc", "alt+space",
              "alt+grave", "alt+print_screen", "ctrl+q", "ctrl+shift+w", "ctrl+t", "ctrl+n", "ctrl+tab", "ctrl+esc",
              "ctrl+c", "ctrl+d", "ctrl+z", "ctrl+backslash", "ctrl+pause", "menu", "print_screen", "caps_lock",
              "num_lock", "scroll_lock"]
    cases = [Case(f"system-chord-action-{c}", RECORD, ("actions.keys", f"'{c}'", "allow_system_keys"),
                  with_action(c)) for c in chords]
    cases += [Case(f"system-chord-reset-{c}", study(), ("reset.keys", f"'{c}'", "allow_system_keys"),
                   write_file("p.toml", PROFILE_TEXT + f'\n[reset]\nkeys = ["{c}"]\n'))
              for c in chords if "+" not in c]
    return cases


ALL = (CASES + _flag_cases() + _attr_fuzz_cases() + _profile_fuzz_cases() + _episode_attr_cases()
       + _system_chord_cases())


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 60 and len(ALL) >= 200, len(ALL)
    assert len({c.id for c in ALL}) == len(ALL), "case ids must be unique"


@pytest.mark.parametrize("case", ALL, ids=[c.id for c in ALL])
def test_bad_input_gets_one_clear_line(case: Case, base, tmp_path, logs, capsys, monkeypatch):
    d = tmp_path / "case"
    d.mkdir()
    for name in ("p.toml", "d.h5", "c.pt"):
        (d / name).write_bytes((base / name).read_bytes())
    if case.prepare:
        case.prepare(d)
    if any("s.png" in a for a in case.argv) and not (d / "s.png").exists():
        import cv2

        cv2.imwrite(str(d / "s.png"), np.zeros((90, 160, 3), np.uint8))
    for k, v in case.env.items():
        if v is None:
            monkeypatch.delenv(k, raising=False)
        else:
            monkeypatch.setenv(k, v)
    before = snapshot(d)
    rc, out, err = run_main([a.replace("{d}", str(d)) for a in case.argv], capsys)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err and "Traceback" not in out
    assert rc == case.status, (rc, err)
    assert not list(logs.iterdir()), f"an internal error, not a clear refusal: {err}"
    if case.status == 2:
        assert len(lines) == 1, err
        line = lines[0]
        assert line.startswith(f"hakisa {case.argv[0]}: error: "), line
    elif case.status == 0:  # a harmless oddity (an episode's statistics): inspect reports the file as it is
        line = out
        assert not lines, err
    else:  # inspect: one BROKEN line, or PROBLEM lines in the report
        line = err + out
        assert "BROKEN" in err or "PROBLEM" in out
    for want in case.expect:
        assert want.lower() in line.lower(), (want, line)
    assert snapshot(d) == before, "a failed run must leave no file behind and change none"


# ----- the top level: real processes -------------------------------------------------------------------

@pytest.mark.parametrize("argv,expect", [
    (["study", "--profile", "{d}/p.toml", "--data", "{d}/d.h5", "--out", "{d}/o.pt", "--lr", "nan"], "--lr nan"),
    (["inspect", "{d}/nothing.h5"], "does not exist"),
    (["consolidate", "--profile", "{d}/p.toml", "--data", "{d}/d.h5", "--from", "{d}/c.pt", "--out", "{d}/o.pt",
      "--updates", "-1"], "--updates -1"),
    (["record", "--profile", "{d}/p.toml", "--out", "{d}/r.h5"], "display"),
])
def test_real_processes_print_one_line_and_no_traceback(argv, expect, base, tmp_path):
    d = tmp_path
    for name in ("p.toml", "d.h5", "c.pt"):
        (d / name).write_bytes((base / name).read_bytes())
    env = dict(os.environ, HAKISA_LOG_DIR=str(tmp_path / "logs"), PYTHONPATH=str(ROOT))
    env.pop("DISPLAY", None)
    before = snapshot(d)
    r = subprocess.run(hakisa_cmd(*[a.replace("{d}", str(d)) for a in argv]), cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
    status = 1 if argv[0] == "inspect" else 2
    assert r.returncode == status and "Traceback" not in r.stderr, r.stderr
    assert len([ln for ln in r.stderr.splitlines() if ln.strip()]) == 1 and expect in r.stderr, r.stderr
    assert snapshot(d) == before


def test_an_unexpected_error_is_one_line_and_a_log_with_the_traceback(tmp_path):
    """A bug (here an injected one) never shows a traceback: one line that says where the log is, exit 1."""
    code = ("import sys, hakisa.cli as c\n"
            "def boom(args):\n    raise ValueError('injected failure')\n"
            "c.cmd_inspect = boom\nsys.exit(c.main(['inspect', 'x.h5']))\n")
    env = dict(os.environ, HAKISA_LOG_DIR=str(tmp_path / "logs"), PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "internal error" in lines[0] and "injected failure" in lines[0]
    logs = list((tmp_path / "logs").glob("hakisa-inspect-*.log"))
    assert len(logs) == 1 and str(logs[0]) in lines[0]
    text = logs[0].read_text()
    assert "Traceback" in text and "ValueError: injected failure" in text and "def boom" not in lines[0]


@pytest.mark.parametrize("exc,status,expect", [
    (OSError(28, "No space left on device", "/data/x.h5"), 2, "disk is full"),
    (PermissionError(13, "Permission denied", "/data/x.h5"), 2, "permission denied"),
    (MemoryError(), 2, "ran out of memory"),
    (RuntimeError("deep inside"), 1, "internal error"),
])
def test_environment_failures_anywhere_are_explained(exc, status, expect, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HAKISA_LOG_DIR", str(tmp_path))

    def boom(args):
        raise exc

    monkeypatch.setattr(cli, "cmd_inspect", boom)
    rc, out, err = run_main(["inspect", "x.h5"], capsys)
    assert rc == status and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert expect in err and str(next(tmp_path.glob("hakisa-inspect-*.log"))) in err


def test_a_failing_background_thread_is_one_line_and_a_log(tmp_path, monkeypatch, capsys):
    import threading

    monkeypatch.setenv("HAKISA_LOG_DIR", str(tmp_path))

    def work(args):
        t = threading.Thread(target=lambda: 1 / 0, name="grabber")
        t.start()
        t.join()
        return 0

    monkeypatch.setattr(cli, "cmd_inspect", work)
    hook = threading.excepthook
    rc, out, err = run_main(["inspect", "x.h5"], capsys)
    assert rc == 0 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "thread grabber" in err and "ZeroDivisionError" in err
    assert "Traceback" in next(tmp_path.glob("hakisa-inspect-*.log")).read_text()
    assert threading.excepthook is hook  # restored after the command


def test_a_batch_past_the_memory_budget_is_refused_before_loading(base, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HAKISA_MEMORY_BUDGET", "50M")  # 4096 x 4 frames of 64x64 need about 1.5 GB
    monkeypatch.setenv("HAKISA_LOG_DIR", str(tmp_path / "logs"))
    rc, _, err = run_main(["study", "--profile", base / "p.toml", "--data", base / "d.h5", "--out", tmp_path / "o.pt",
                           "--batch-size", "4096"], capsys)
    assert rc == 2 and "--batch-size 4096" in err and "smaller --batch-size" in err, err
    assert not list(tmp_path.iterdir())
