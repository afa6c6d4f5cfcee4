"""Checks of the machine's resources before long work starts: memory for data, space and permission
for outputs.  Each raises a :class:`~hakisa.errors.HakisaError` that says what is needed, what there
is, and what to do."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from hakisa.errors import OutputError, ResourceError

MEMORY_BUDGET_ENV = "HAKISA_MEMORY_BUDGET"  # e.g. "8G", "512M" or a number of bytes
MEMORY_SHARE = 0.8  # of the memory available now, when HAKISA_MEMORY_BUDGET is not set


def human_bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def parse_bytes(text: str) -> int:
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)i?b?\s*", str(text).lower())
    if not m:
        raise ResourceError(f"{MEMORY_BUDGET_ENV}={text!r}: write a size such as 8G, 512M or a number of bytes.")
    return int(float(m.group(1)) * 1024 ** " kmgt".index(m.group(2) or " "))


def available_memory() -> int:
    """Bytes of memory available to a new allocation now (MemAvailable), or total memory if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 34


def memory_budget() -> tuple[int, str]:
    """(bytes, how it was chosen): $HAKISA_MEMORY_BUDGET, else 80% of the memory available now."""
    env = os.environ.get(MEMORY_BUDGET_ENV)
    if env:
        return parse_bytes(env), f"{MEMORY_BUDGET_ENV}={env}"
    return int(MEMORY_SHARE * available_memory()), f"{MEMORY_SHARE:.0%} of the memory available now"


def check_memory(need: int, what: str) -> None:
    """Refuse to allocate ``need`` bytes for ``what`` when that is past the memory budget."""
    budget, how = memory_budget()
    if need > budget:
        raise ResourceError(f"{what} needs {human_bytes(need)} of memory, more than the budget of "
                            f"{human_bytes(budget)} ({how}). Use fewer or shorter datasets, or raise "
                            f"{MEMORY_BUDGET_ENV} if the machine really has the memory.")


def check_batch_memory(batch_size: int, stack: int, frame_shape: tuple[int, int, int],
                       flag: str = "--batch-size") -> None:
    """A training batch (input and next-state frame stacks as uint8, then float32 inside the network, with
    the first layers' activations and gradients: about 24 bytes per input byte) must fit the budget."""
    h, w, c = frame_shape
    need = 24 * batch_size * stack * h * w * c
    try:
        check_memory(need, f"{flag} {batch_size} (x {stack} stacked {w}x{h}x{c} frames)")
    except ResourceError as exc:
        raise ResourceError(f"{exc} Choose a smaller {flag}.") from None


def check_writable(path: str | Path, flag: str = "--out", need_bytes: int = 0, what: str = "") -> Path:
    """The folder of ``path`` exists, can really be written (a probe file is created and removed, which
    also catches read-only mounts that permission bits do not show) and has ``need_bytes`` free;
    ``path`` itself is not a folder.  Call before long work starts."""
    p = Path(path)
    if p.is_dir():
        raise OutputError(f"{flag} {p} is a folder; give a file name inside it, e.g. {p / ('out' + (p.suffix or ''))}.")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{flag} {p}: folder {parent} does not exist; create it first.")
    try:
        fd, probe = tempfile.mkstemp(prefix=".hakisa-probe-", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"{flag} {p}: cannot write in {parent} ({exc.strerror or exc}); choose another "
                          "folder or fix its permissions.") from None
    if p.exists() and not os.access(p, os.W_OK):
        raise OutputError(f"{flag} {p}: the existing file cannot be overwritten (no permission).")
    if need_bytes:
        free = shutil.disk_usage(parent).free
        if free < need_bytes:
            raise OutputError(f"{flag} {p}: only {human_bytes(free)} free in {parent}, and {what or 'this run'} needs "
                              f"about {human_bytes(need_bytes)}; free some space or choose another folder.")
    return p


def pid_alive(pid: int) -> bool:
    """True if process ``pid`` exists (also when it belongs to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cache_dir() -> Path:
    """hakisa's cache folder: $XDG_CACHE_HOME/hakisa, else ~/.cache/hakisa (crash logs, autorepeat state)."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "hakisa"
