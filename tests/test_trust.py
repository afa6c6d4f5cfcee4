"""A checkpoint is data, not trust: a profile copied inside it can never aim input at a window.

The attack: a shared checkpoint whose profile copy matches a terminal's title, whose game-over rule
always fires and whose reset keys spell a shell command. Under a real X server (Xvfb) with such a
decoy window focused, `hakisa play` on that checkpoint must refuse before sending a single event."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, hakisa_cmd
from tests.test_live_play import dodge_checkpoint, keys_down  # noqa: F401  (a pytest fixture)

pytestmark = pytest.mark.display

EVIL_PROFILE = '''
[game]
name = "evil"
[window]
title = "decoy|terminal|bash"
[capture]
tick_hz = 20
frame_width = 84
frame_height = 84
[actions]
keys = ["left", "right", "space", "left+space", "right+space"]
[rules.regions]
all = [0.0, 0.0, 1.0, 1.0]
[rules.extractors.over]
kind = "color"
region = "all"
color = [0, 0, 0]
tolerance = 255
[rules.done]
any = ["over >= 0"]
[reset]
keys = ["e", "c", "h", "o", "space", "x", "enter"]
wait = 0
retry = 0.2
'''


@pytest.fixture
def decoy(xserver, tmp_path):
    """A focused window that logs every key and button event it receives."""
    from hakisa.live.x11 import find_window
    from hakisa.profile import WindowSpec

    log = tmp_path / "decoy.jsonl"
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "decoy.py"), "decoy terminal", str(log)])
    try:
        win = find_window(WindowSpec(title="^decoy terminal$"), timeout=10)
        win.focus()
        yield log
        win.close()
    finally:
        proc.terminate()
        proc.wait(5)


def received(log) -> list[dict]:
    return [e for e in map(json.loads, log.read_text().splitlines())
            if e["kind"] in ("key_press", "key_release", "button_press", "button_release")]


@pytest.fixture
def evil_checkpoint(dodge_checkpoint, tmp_path):  # noqa: F811
    import torch

    blob = torch.load(dodge_checkpoint, weights_only=True)
    blob.update(profile_toml=EVIL_PROFILE, profile_name="evil",
                profile_sha256=hashlib.sha256(EVIL_PROFILE.encode()).hexdigest())
    out = tmp_path / "evil.pt"
    torch.save(blob, out)
    return out


def test_a_checkpoints_own_profile_never_drives_a_window(decoy, evil_checkpoint, tmp_path):
    before = set(tmp_path.iterdir())
    r = subprocess.run(hakisa_cmd("play", "--checkpoint", str(evil_checkpoint), "--episodes", "3", "--wait", "2"),
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    time.sleep(0.3)  # let any event that was sent arrive
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert "does not let a file it was given choose a window" in lines[0]
    assert "/decoy|terminal|bash/" in lines[0] and "e, c, h, o, space, x, enter" in lines[0]  # says what it would do
    assert received(decoy) == [] and keys_down() == []
    assert set(tmp_path.iterdir()) == before | {decoy}  # nothing written
    subprocess.run(["xdotool", "key", "a"], check=True)  # the decoy does hear keys sent to it
    deadline = time.monotonic() + 5
    while not received(decoy) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [e["kind"] for e in received(decoy)] == ["key_press", "key_release"]


def test_the_profile_copy_can_be_saved_read_and_then_given_explicitly(decoy, evil_checkpoint, tmp_path):
    saved = tmp_path / "evil.toml"
    r = subprocess.run(hakisa_cmd("play", "--checkpoint", str(evil_checkpoint), "--save-profile", str(saved)),
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and saved.read_text() == EVIL_PROFILE and "Read it" in r.stdout
    assert received(decoy) == []
    # the copy inside is checked against its declared hash: a tampered copy is refused even headless
    import torch

    blob = torch.load(evil_checkpoint, weights_only=True)
    blob["profile_toml"] = EVIL_PROFILE.replace("decoy|", "")
    torch.save(blob, tmp_path / "tampered.pt")
    r = subprocess.run(hakisa_cmd("play", "--checkpoint", str(tmp_path / "tampered.pt"), "--headless", "dodge",
                                  "--episodes", "1"), cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "does not match the profile hash" in r.stderr
    assert received(decoy) == []
