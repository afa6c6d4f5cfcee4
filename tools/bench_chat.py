#!/usr/bin/env python3
"""Benchmark what a stream's chat costs the agent loop: `hakisa play` on the bundled dodge window (a private
Xvfb when there is no display; a checkpoint that always holds one key, from tools/bench_killswitch.py;
recording on) without chat, with a quiet chat, and through a flood of 10,000 messages in 10 s from 50 senders
on a local IRC server (miniircd), one of them spamming "good bot", and the same with the live dashboard open
(its page polled 4 times a second, as the browser does). Prints grab -> inject latency p50 / p99, ticks/s,
missed ticks and the votes counted.

    .venv/bin/python tools/bench_chat.py [--seconds 16] [--messages 10000] [--senders 50]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_killswitch import holding_checkpoint  # noqa: E402
from chatbots import Bot, IrcServer  # noqa: E402
from xsession import game_with_demonstrator  # noqa: E402

from hakisa.live.xvfb import virtual_display  # noqa: E402
from hakisa.profile import load_profile  # noqa: E402


def play(ckpt: Path, profile: Path, out: Path, seconds: float, chat: str | None, on_reading=None,
         dashboard: bool = False) -> dict:
    cmd = [sys.executable, "-m", "hakisa", "play", "--checkpoint", str(ckpt), "--profile", str(profile), "--record",
           str(out), "--seconds", str(seconds), "--no-takeover", "--force"] + (["--chat", chat] if chat else []) + (
           ["--dashboard", "--dashboard-port", "0"] if dashboard else [])
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    polled = {"n": 0}
    for line in p.stdout:
        lines.append(line)
        if dashboard and "the dashboard is at " in line:
            url = line.split("the dashboard is at ")[1].split()[0]
            threading.Thread(target=poll, args=(url, p, polled), daemon=True).start()
        if on_reading is not None and "chat: reading" in line:
            threading.Thread(target=on_reading, daemon=True).start()
    p.wait()
    log = "".join(lines)
    if p.returncode != 0:
        raise SystemExit(f"hakisa play failed:\n{log}")
    lat = re.search(r"latency p50 ([\d.]+) ms, p99 ([\d.]+) ms", log)
    rate = re.search(r"([\d.]+) ticks/s, missed ticks (\d+)", log)
    acts = re.search(r"(\d+) actions", log)
    votes = re.search(r"(\d+) votes from chat", log)
    return {"p50": float(lat[1]), "p99": float(lat[2]), "hz": float(rate[1]), "missed": int(rate[2]),
            "actions": int(acts[1]), "votes": int(votes[1]) if votes else 0, "polls": polled["n"]}


def poll(url: str, p: subprocess.Popen, polled: dict) -> None:
    """What the dashboard page does: fetch /api/live (the frame and everything else) 4 times a second."""
    import urllib.request

    while p.poll() is None:
        try:
            with urllib.request.urlopen(url + "api/live", timeout=2) as r:
                r.read()
            polled["n"] += 1
        except OSError:
            pass
        time.sleep(0.25)


def flood(port: int, messages: int, senders: int, seconds: float, done: dict) -> None:
    bots = [Bot(port, f"flood{i:03d}") for i in range(senders)]
    t0 = time.monotonic()
    for n in range(messages):
        b = bots[n % senders]
        b.say("good bot" if b.nick == "flood000" else f"lol {n} PogChamp")
        if n % 100 == 99:
            time.sleep(max(0.0, t0 + (n + 1) * seconds / messages - time.monotonic()))
    done["seconds"] = time.monotonic() - t0
    for b in bots:
        b.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=16.0, help="seconds of play per run (16)")
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--senders", type=int, default=50)
    ap.add_argument("--flood-seconds", type=float, default=10.0)
    args = ap.parse_args()
    rows = []
    with virtual_display("1280x720"), tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ["XDG_CACHE_HOME"] = str(work / "cache")
        ckpt = holding_checkpoint(work / "hold-left.pt")
        prof = work / "dodge-chat.toml"
        prof.write_text(load_profile("dodge").text + "\n[feedback.chat]\ngood = [\"good bot\"]\nbad = [\"bad bot\"]\n")
        server = IrcServer()
        try:
            with game_with_demonstrator("dodge", work / "dodge.jsonl", size="640x360", play=False):
                rows.append(("no chat", play(ckpt, prof, work / "a.h5", args.seconds, None), None))
                rows.append(("chat, quiet", play(ckpt, prof, work / "b.h5", args.seconds, server.url()), None))
                done: dict = {}
                res = play(ckpt, prof, work / "c.h5", args.seconds, server.url(),
                           on_reading=lambda: flood(server.port, args.messages, args.senders, args.flood_seconds, done))
                rows.append((f"chat, {args.messages:,} msgs / {done.get('seconds', float('nan')):.1f} s, "
                             f"{args.senders} senders", res, done))
                done2: dict = {}
                res = play(ckpt, prof, work / "d.h5", args.seconds, server.url(), dashboard=True,
                           on_reading=lambda: flood(server.port, args.messages, args.senders, args.flood_seconds, done2))
                rows.append((f"the same flood, dashboard polled {res['polls']} times", res, done2))
        finally:
            server.stop()
    print(f"\nhakisa play on a 640x360 dodge window under Xvfb, 20 Hz, recording, {args.seconds:g} s per run, "
          f"{os.cpu_count()} cores")
    print(f"{'run':<44}{'actions':>8}{'ticks/s':>9}{'missed':>8}{'p50 ms':>8}{'p99 ms':>8}{'votes':>7}")
    for label, r, _ in rows:
        print(f"{label:<44}{r['actions']:>8}{r['hz']:>9.1f}{r['missed']:>8}{r['p50']:>8.2f}{r['p99']:>8.2f}"
              f"{r['votes']:>7}")
    base = rows[0][1]["p99"]
    print(f"p99 with the flood - without chat: {rows[2][1]['p99'] - base:+.2f} ms; with the dashboard too: "
          f"{rows[3][1]['p99'] - base:+.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
