"""A decoy X window for safety tests: it logs every key and button event it receives, one JSON line each.

    python tests/decoy.py TITLE LOGFILE

It stands in for a terminal or an editor that hakisa must never type into."""

from __future__ import annotations

import json
import sys
import time

from Xlib import X, display


def main() -> None:
    title, log = sys.argv[1], sys.argv[2]
    d = display.Display()
    root = d.screen().root
    w = root.create_window(700, 400, 300, 200, 0, d.screen().root_depth, X.InputOutput, X.CopyFromParent,
                           background_pixel=d.screen().white_pixel,
                           event_mask=X.KeyPressMask | X.KeyReleaseMask | X.ButtonPressMask | X.ButtonReleaseMask
                           | X.FocusChangeMask | X.StructureNotifyMask)
    w.set_wm_name(title)
    w.map()
    d.sync()
    kinds = {X.KeyPress: "key_press", X.KeyRelease: "key_release", X.ButtonPress: "button_press",
             X.ButtonRelease: "button_release", X.FocusIn: "focus_in", X.FocusOut: "focus_out"}
    with open(log, "a", buffering=1) as f:
        f.write(json.dumps({"t": time.monotonic(), "kind": "ready", "wid": w.id}) + "\n")
        while True:
            ev = d.next_event()
            if ev.type in kinds:
                f.write(json.dumps({"t": time.monotonic(), "kind": kinds[ev.type],
                                    "detail": int(getattr(ev, "detail", 0))}) + "\n")
            elif ev.type == X.DestroyNotify:
                return


if __name__ == "__main__":
    main()
