"""A private virtual X display (Xvfb) for machines without a screen (CI, servers, benchmarks)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time

from hakisa.errors import DisplayError


def _free_display() -> int:
    for n in range(90, 400):
        if not os.path.exists(f"/tmp/.X11-unix/X{n}") and not os.path.exists(f"/tmp/.X{n}-lock"):
            return n
    raise DisplayError("no free X display number in :90..:399")


@contextlib.contextmanager
def virtual_display(size: str = "1280x720", reuse: bool = True):
    """Yield a display name, setting DISPLAY for this process and its children.

    With ``reuse`` an existing DISPLAY is used as it is; otherwise (or when there is none) a
    private Xvfb of ``size`` is started (``-noreset``: it outlives its clients) and stopped at exit.
    """
    if reuse and os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    if shutil.which("Xvfb") is None:
        raise DisplayError("Xvfb is not installed; run tools/setup.sh (it installs the xvfb package with apt).")
    n = _free_display()
    proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", f"{size}x24", "-nolisten", "tcp", "-noreset"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not os.path.exists(f"/tmp/.X11-unix/X{n}"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise DisplayError(f"Xvfb :{n} did not start")
        time.sleep(0.05)
    old = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = f":{n}"
    try:
        yield f":{n}"
    finally:
        proc.terminate()
        proc.wait(5)
        if old is None:
            os.environ.pop("DISPLAY", None)
        else:
            os.environ["DISPLAY"] = old
