#!/usr/bin/env python3
"""The end-to-end demo: a bundled game in a real window, the scripted demonstrator playing it through
injected OS input, `hakisa record` recording, then `hakisa inspect` and `hakisa replay`.
Starts a virtual display (Xvfb) when there is no screen.

    .venv/bin/python tools/demo.py [--game dodge|clicker] [--seconds 60]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from xsession import ROOT, game_with_demonstrator, virtual_display


def hakisa(*args: str) -> None:
    print("$ hakisa " + " ".join(args), flush=True)
    r = subprocess.run([sys.executable, "-m", "hakisa", *args], cwd=ROOT)
    if r.returncode != 0:
        raise SystemExit(r.returncode)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--game", default="dodge", choices=["dodge", "clicker"])
    ap.add_argument("--seconds", type=float, default=60.0, help="how long to record (default 60)")
    ap.add_argument("--hz", type=int, default=None, help="tick rate (default: the profile's, 20 Hz)")
    args = ap.parse_args()
    out = ROOT / "datasets" / f"demo-{args.game}.h5"
    clip = ROOT / "datasets" / f"demo-{args.game}.mp4"
    with virtual_display("1280x720") as display:
        print(f"display {display}: starting {args.game} (1280x720) and the scripted demonstrator", flush=True)
        with game_with_demonstrator(args.game, Path("/tmp") / f"hakisa-demo-{args.game}.jsonl"):
            extra = ["--hz", str(args.hz)] if args.hz else []
            hakisa("record", "--profile", args.game, "--out", str(out.relative_to(ROOT)), "--force",
                   "--seconds", str(args.seconds), *extra)
    hakisa("inspect", str(out.relative_to(ROOT)))
    hakisa("replay", str(out.relative_to(ROOT)), "--out", str(clip.relative_to(ROOT)), "--force",
           "--max-steps", "1200")
    print(f"\ndone: dataset {out.relative_to(ROOT)}, replay {clip.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
