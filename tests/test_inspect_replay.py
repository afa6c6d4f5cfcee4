import json
import subprocess

import cv2
from PIL import Image

from conftest import ROOT, hakisa_cmd
from test_dataset import write


def run(*args):
    return subprocess.run(hakisa_cmd(*args), cwd=ROOT, capture_output=True, text=True)


def test_inspect_summarises_and_fails_on_broken_files(tmp_path):
    path = tmp_path / "d.h5"
    write(path)
    r = run("inspect", str(path), "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["steps"] == 8 and [e["status"] for e in s["episodes"]] == ["terminated", "truncated"]
    assert s["command_type"]["key"] == 8 and s["actors"] == {"human": 8} and s["rewards"] == [2.5, 1.5]
    r = run("inspect", str(path))
    assert r.returncode == 0 and "key left+space" in r.stdout and "1 terminated, 1 truncated" in r.stdout
    cut = tmp_path / "cut.h5"
    cut.write_bytes(path.read_bytes()[:3000])
    r = run("inspect", str(path), str(cut))
    assert r.returncode == 1 and "cut.h5: BROKEN" in r.stderr and "truncated or corrupt" in r.stderr


def test_replay_writes_a_watchable_clip(tmp_path):
    path = tmp_path / "d.h5"
    write(path)
    r = run("replay", str(path), "--out", str(tmp_path / "c.mp4"), "--width", "256")
    assert r.returncode == 0, r.stderr
    cap = cv2.VideoCapture(str(tmp_path / "c.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6 + 4  # N+1 observations per episode
    ok, frame = cap.read()
    assert ok and frame.shape == (256, 256, 3)
    r = run("replay", str(path), "--out", str(tmp_path / "c.gif"), "--episode", "ep_000001")
    assert r.returncode == 0
    assert Image.open(tmp_path / "c.gif").n_frames == 4
    r = run("replay", str(path), "--out", str(tmp_path / "c.gif"))
    assert r.returncode == 2 and "--force" in r.stderr
    r = run("replay", str(path), "--out", str(tmp_path / "c.avi"))
    assert r.returncode == 2 and ".mp4 or .gif" in r.stderr
