"""The live dashboard in a real headless Chromium against `hakisa play` on the real dodge window, with a
stream's chat voting (miniircd and bots): the page shows frames, actions and votes that match the dataset
the same run wrote; served on 127.0.0.1 only by default. HAKISA_GUIDE_SHOTS=tools/guide keeps its screenshot
for the README."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest

from conftest import ROOT, hakisa_cmd

sys.path.insert(0, str(ROOT / "tools"))
from chatbots import Bot, IrcServer  # noqa: E402
from test_studio import chrome  # noqa: E402

from hakisa.profile import load_profile  # noqa: E402


@pytest.mark.display
def test_dashboard_shows_the_frames_actions_and_votes_the_dataset_holds(game_window, holder_checkpoint,
                                                                         tmp_path):
    game = game_window("dodge", title="hakisa: dodge dashboard")
    text = load_profile("dodge").text.replace('title = "^hakisa: dodge"', f'title = "^{game.title}$"')
    prof = tmp_path / "dodge.toml"
    prof.write_text(text + "\n[feedback.chat]\ndelay = 1.0\nwindow = 1.0\n")
    irc = IrcServer()
    out = tmp_path / "play.h5"
    p = subprocess.Popen(hakisa_cmd("play", "--checkpoint", str(holder_checkpoint), "--profile", str(prof),
                                    "--record", str(out),
                                    "--seconds", "20", "--no-takeover", "--chat", irc.url(), "--dashboard",
                                    "--dashboard-port", "0"),
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    d = None
    seen, lines = [], []
    try:
        url = None
        while url is None or not any("chat: reading" in x for x in lines):
            lines.append(p.stdout.readline())
            assert lines[-1], "".join(lines)
            if "the dashboard is at " in lines[-1]:
                url = lines[-1].split("the dashboard is at ")[1].split()[0]
        assert url.startswith("http://127.0.0.1:")  # this machine only, unless told
        rest = []
        threading.Thread(target=lambda: rest.extend(p.stdout), daemon=True).start()
        d = chrome()
        d.get(url)
        state = lambda: json.loads(d.execute_script("return JSON.stringify(window.dash.last)"))  # noqa: E731
        t_end = time.monotonic() + 20
        while time.monotonic() < t_end and not (state() or {}).get("tick"):
            time.sleep(0.1)
        bots = [Bot(irc.port, f"viewer{i}") for i in range(3)]
        for k in range(12):  # votes while the page is watched; snapshots of what it showed
            bots[k % 3].say("good bot" if k % 3 else "bad bot")
            time.sleep(0.5)
            s = state()
            if s and s.get("tick") is not None:
                seen.append(s)
        time.sleep(1.0)
        final = state()
        assert "AGENT is in control" in d.find_element("id", "control").text
        # read in one script: the page rebuilds the table on every update, so rows found one call earlier go stale
        who = d.execute_script("return [...document.querySelectorAll('#votes tbody tr')].map(r => r.dataset.who)")
        assert who and all(who)
        path = tmp_path / "dashboard.png"
        d.save_screenshot(str(path))
        if os.environ.get("HAKISA_GUIDE_SHOTS"):
            shutil.copy(path, os.path.join(os.environ["HAKISA_GUIDE_SHOTS"], "dashboard.png"))
        print("dashboard screenshot:", path)
        for b in bots:
            b.close()
        p.wait(timeout=60)
    finally:
        if d is not None:
            d.quit()
        if p.poll() is None:
            p.kill()
        irc.stop()
    assert p.returncode == 0, "".join(lines + rest)
    assert len(seen) >= 8

    from hakisa.data.dataset import DatasetReader

    with DatasetReader(out) as r:
        eps = [ep for _, ep in r.iter_episodes()]
    checked = 0
    for s in seen:  # the frame the page showed is the observation stored for that step, the action the one taken
        ep = eps[s["episode"]]
        i = s["step"]
        if i >= len(ep["command_type"]):
            continue  # the episode's last tick: cut before its action was written
        shown = cv2.imdecode(np.frombuffer(base64.b64decode(s["frame"]), np.uint8), cv2.IMREAD_UNCHANGED)
        stored = ep["observations"][i]
        assert np.array_equal(shown.reshape(stored.shape), stored), (s["episode"], i)
        assert [int(ep[k][i]) for k in ("command_type", "action_1", "action_2")] == s["action"]
        assert int(ep["tick"][i]) == s["tick"]
        checked += 1
    assert checked >= 6, checked
    # every vote the page listed is in the dataset, with the same who and when
    stored_votes = {(w.decode(), round(float(t), 6)) for ep in eps
                    for w, t in zip(ep.get("votes_who", []), ep.get("votes_time", []))}
    shown_votes = {(v["who"], round(v["t"], 6)) for v in final["votes"] if v["source"] == "chat"}
    assert len(shown_votes) >= 6
    lost = next((int(x.split("; ")[1].split()[0]) for x in rest if "votes from chat" in x and "; " in x), 0)
    assert len(shown_votes - stored_votes) <= lost, (shown_votes - stored_votes, lost)  # in a reset: no step
    assert len(final["heads"]) == 3 and len(final["heads"][1]["q"]) == len(final["heads"][1]["names"])


def test_a_taken_dashboard_port_is_said_with_the_option_to_change(holder_checkpoint, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        out = tmp_path / "play.h5"
        r = subprocess.run(hakisa_cmd("play", "--checkpoint", str(holder_checkpoint), "--headless", "dodge",
                                      "--dashboard", "--dashboard-port", str(port), "--episodes", "1",
                                      "--record", str(out)), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and f"127.0.0.1:{port}" in r.stderr and "pick another --dashboard-port" in r.stderr
    assert not out.exists()
