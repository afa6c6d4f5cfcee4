"""The hakisa dataset format (HDF5), its writer and its reader.

Format version 1 (see docs in README "Dataset format"):

``/`` attributes
    ``format`` = "hakisa-dataset", ``format_version`` = 1, ``hakisa_version``,
    ``created`` (ISO time), ``source`` ("record", "explore", ...),
    ``profile_name``, ``profile_sha256``, ``profile_toml`` (the exact text),
    ``tick_hz``, ``frame_shape`` (H, W, C), ``capture_size`` (W, H pixels),
    ``codec`` (JSON), ``key_names`` / ``actors`` / ``event_kinds`` /
    ``buttons`` (JSON lists that give meaning to the integer codes below).
``/episodes/ep_NNNNNN`` — one group per episode, with N actions and N+1 observations:
    per observation (N+1): ``observations`` (uint8 H x W x C, chunked, compressed),
    ``obs_time`` (float64 monotonic seconds), ``tick`` (int64 tick number; gaps
    are missed ticks), ``held_keys`` (uint8 x 16: bitmask over ``key_names``),
    ``mouse_xy`` (int32 x 2, captured-area pixels, may lie outside it),
    ``mouse_buttons`` (uint8 bitmask over ``buttons``).  Row 0's input is "none".
    ``readings`` (float32 x E, when the profile has extractors; absent in older files): every
    extractor's reading of that frame, in the order of the root ``extractors`` attribute (JSON list of
    [name, signature]), so rewards and episode ends can be worked out again under changed rules.
    per action (N): ``command_type``, ``action_1``, ``action_2`` (int32),
    ``actor`` (uint8 over ``actors``), ``q_value`` (float32, NaN when a human acted),
    ``rewards`` (float32), ``terminations`` and ``truncations`` (bool, apart).
    Action i is what happened between observation i and observation i+1.
    raw events (M): ``events_time``, ``events_kind``, ``events_code`` (key index
    or button), ``events_x``, ``events_y``, ``events_step`` (the observation
    whose tick they fall in).
    attributes: ``status`` ("recording" while open, then "terminated" or
    "truncated"), ``started`` (ISO time), ``tick_hz``, ``missed_ticks``,
    ``achieved_hz``, ``duration_s``.

The writer flushes at least once per ``flush_interval`` seconds and at the end of
every episode, always leaving N+1 observations for N actions on disk, so a
killed writer loses at most the last interval and the file still opens.
"""

from __future__ import annotations

import datetime as _dt
import errno
import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np

from hakisa import __version__
from hakisa.codec import ActionCodec
from hakisa.errors import DatasetError, OutputError
from hakisa.keys import KEY_NAMES, KEY_TABLE_SIZE, key_index, key_name
from hakisa.profile import Profile

FORMAT_NAME = "hakisa-dataset"
FORMAT_VERSION = 1
ACTORS: tuple[str, ...] = ("none", "human", "agent_greedy", "agent_random", "scripted")
EVENT_KINDS: tuple[str, ...] = ("key_down", "key_up", "move", "button_down", "button_up", "scroll")
BUTTONS: tuple[str, ...] = ("left", "right", "middle")
MASK_BYTES = KEY_TABLE_SIZE // 8

_OBS_FIELDS = ("observations", "obs_time", "tick", "held_keys", "mouse_xy", "mouse_buttons")
_ACT_FIELDS = ("command_type", "action_1", "action_2", "actor", "q_value", "rewards",
               "terminations", "truncations")
_OPT_ACT_FIELDS = ("reward_human",)  # written by hakisa >= 0.2; read as zeros when absent
_EVT_FIELDS = ("events_time", "events_kind", "events_code", "events_x", "events_y", "events_step")
# votes of people watching (hotkeys and chat), one row per vote: when it came (monotonic s), its source, who
# (a salted hash of the name: nobody's name is stored), the reward it gave, and the steps it was credited to
_VOTE_FIELDS = ("votes_time", "votes_source", "votes_who", "votes_value", "votes_step", "votes_steps")
VOTE_SOURCES: tuple[str, ...] = ("hotkey", "chat")
WHO_BYTES = 12


@dataclass
class Observation:
    """One tick as seen: the stored frame and the input state at that moment."""

    frame: np.ndarray  # (H, W, C) uint8, already preprocessed
    time: float  # monotonic seconds
    tick: int
    held_mask: np.ndarray = field(default_factory=lambda: np.zeros(MASK_BYTES, np.uint8))
    mouse_xy: tuple[int, int] = (-1, -1)
    mouse_buttons: int = 0
    events: list[tuple[float, int, int, int, int]] = field(default_factory=list)  # time, kind, code, x, y
    readings: dict[str, float] | None = None  # each extractor's reading of this frame (NaN: not read)


MAX_PROFILE_BYTES = 1 << 20
_KIND_NAMES = {"u": "unsigned integers", "i": "integers", "f": "floats", "b": "booleans"}
# per array: accepted dtype kinds and the shape of one row (observations: the dataset's frame_shape)
_ARRAY_SPECS: dict[str, tuple[str, tuple[int, ...]]] = {
    "observations": ("u", ()), "obs_time": ("f", ()), "tick": ("iu", ()), "held_keys": ("u", (MASK_BYTES,)),
    "mouse_xy": ("iu", (2,)), "mouse_buttons": ("u", ()), "command_type": ("iu", ()), "action_1": ("iu", ()),
    "action_2": ("iu", ()), "actor": ("u", ()), "q_value": ("f", ()), "rewards": ("f", ()),
    "reward_human": ("f", ()), "terminations": ("b", ()), "truncations": ("b", ()),
    "events_time": ("f", ()), "events_kind": ("u", ()), "events_code": ("iu", ()), "events_x": ("iu", ()),
    "events_y": ("iu", ()), "events_step": ("iu", ()), "readings": ("f", ()),
    "votes_time": ("f", ()), "votes_source": ("u", ()), "votes_who": ("S", ()), "votes_value": ("f", ()),
    "votes_step": ("iu", ()), "votes_steps": ("iu", ()),
}


def _attr(attrs, key: str, default=None):
    """An attribute's value, or ``default``; values h5py cannot decode count as damaged."""
    try:
        v = attrs.get(key, default)
    except (OSError, TypeError, ValueError) as exc:
        raise DatasetError(f"the '{key}' attribute cannot be read ({exc}); the file is damaged.") from None
    if isinstance(v, np.ndarray) and v.shape == ():
        v = v.item()
    if isinstance(v, np.generic):
        v = v.item()
    return v


def _num_attr(attrs, key: str, default: float) -> float:
    v = _attr(attrs, key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
        return float(default)
    return float(v)


def _short(v) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _codec_info(text, where: str, error: type[Exception] = DatasetError) -> dict:
    """The codec description stored in datasets and checkpoints, checked field by field."""
    DatasetError = error  # noqa: N806 - the caller's error class
    try:
        c = json.loads(text)
    except (ValueError, TypeError):
        raise DatasetError(f"{where} is not JSON ({_short(text)}); the file is damaged.") from None
    if not isinstance(c, dict):
        raise DatasetError(f"{where} is {_short(c)}, not a JSON object; the file is damaged.")

    def ints(key: str, n: int, lo: int, hi: int) -> None:
        v = c.get(key)
        if (not isinstance(v, list) or len(v) != n
                or not all(isinstance(x, int) and not isinstance(x, bool) and lo <= x <= hi for x in v)):
            raise DatasetError(f"{where}: '{key}' is {_short(v)}; expected {n} integers from {lo} to {hi}.")

    ints("capture_size", 2, 1, 65536)
    for key in ("n_action_1", "n_action_2"):
        v = c.get(key, 1)
        if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 65536:
            raise DatasetError(f"{where}: '{key}' is {_short(v)}; expected an integer from 1 to 65536.")
    if "grid" in c:
        ints("grid", 2, 1, 65536)
    chords = c.get("chords", [])
    if not isinstance(chords, list) or not all(isinstance(x, str) for x in chords) or len(chords) > 65536:
        raise DatasetError(f"{where}: 'chords' is {_short(chords)}; expected a list of key chords as text.")
    return c


def _stored_rows(ds) -> int:
    """Rows of ``ds`` the file really holds data for.  An array can declare any number of rows while
    storing none of them (its chunks are never written, and read as zeros); hakisa's writer stores
    every chunk from the first row on, so the stored chunks say how far the real data goes."""
    n = ds.shape[0] if ds.shape else 0
    if n == 0:
        return 0
    if ds.chunks is None:  # contiguous or compact: all or nothing
        return n if ds.id.get_storage_size() >= ds.nbytes or ds.nbytes == 0 else 0
    per_block = 1
    for size, chunk in zip(ds.shape[1:], ds.chunks[1:]):
        per_block *= -(-size // chunk)
    needed = -(-n // ds.chunks[0]) * per_block
    stored = ds.id.get_num_chunks()
    if stored >= needed:
        return n
    return min(n, (stored // per_block) * ds.chunks[0])


def held_mask(names) -> np.ndarray:
    """Pack canonical key names into the dataset's 16-byte held-key mask."""
    bits = np.zeros(KEY_TABLE_SIZE, dtype=np.uint8)
    for n in names:
        bits[key_index(n)] = 1
    return np.packbits(bits)


def mask_names(mask: np.ndarray) -> list[str]:
    """Unpack a held-key mask into canonical key names."""
    return [key_name(int(i)) for i in np.flatnonzero(np.unpackbits(np.asarray(mask, np.uint8)))]


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="seconds")


def check_output_path(path: str | Path, force: bool) -> Path:
    """Refuse an existing file without ``force`` and an unwritable location, before any work starts."""
    p = Path(path)
    if p.exists() and not force:
        raise OutputError(f"{p} already exists; pass --force to overwrite it or choose another --out.")
    if p.exists() and p.is_dir():
        raise OutputError(f"{p} is a directory; give a file name such as {p / 'session.h5'}.")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"cannot write {p}: folder {parent} does not exist; create it first.")
    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise OutputError(f"cannot write {p}: no permission to write in {parent}; choose another --out.")
    return p


def check_episode_values(path, name: str, ep: dict, codec: dict) -> None:
    """An episode's recorded actions must lie inside the codec (``n_action_1`` / ``n_action_2``), its actors
    be known and its rewards finite; raises :class:`DatasetError` naming the file, episode and value."""
    from hakisa.codec import COMMANDS

    limits = (("command_type", len(COMMANDS)), ("action_1", int(codec.get("n_action_1", 1))),
              ("action_2", int(codec.get("n_action_2", 1))), ("actor", len(ACTORS)))
    for key, n in limits:
        a = ep[key]
        if len(a) and (int(a.min()) < 0 or int(a.max()) >= n):
            bad = int(a.min()) if int(a.min()) < 0 else int(a.max())
            what = "the known actors" if key == "actor" else "the dataset's codec"
            raise DatasetError(f"{path} {name}: {key} holds {bad}, outside 0..{n - 1} of {what}; the file is "
                               "damaged or was not written by hakisa.")
    if not np.isfinite(ep["rewards"]).all():
        raise DatasetError(f"{path} {name}: rewards hold NaN or infinite values; the file is damaged.")


def keep_crashed_part(part: str | Path) -> Path | None:
    """An earlier session's unfinished ``OUT.part`` (it crashed or was killed) is never deleted: it is
    renamed ``OUT-stem.crashed-YYYYmmdd-HHMMSS.h5`` beside it (still a readable dataset, see `hakisa
    inspect`) and the new path is returned (None when there was no ``.part``)."""
    part = Path(part)
    if not part.exists():
        return None
    final = Path(str(part)[: -len(".part")]) if str(part).endswith(".part") else part
    stamp = _dt.datetime.fromtimestamp(part.stat().st_mtime).strftime("%Y%m%d-%H%M%S")
    kept = final.with_name(f"{final.stem}.crashed-{stamp}{final.suffix}")
    n = 1
    while kept.exists():
        n += 1
        kept = final.with_name(f"{final.stem}.crashed-{stamp}-{n}{final.suffix}")
    os.replace(part, kept)
    return kept


class DatasetWriter:
    """Appends episodes to a new dataset file; use from one thread only."""

    def __init__(self, path: str | Path, profile: Profile, codec: ActionCodec, *, source: str = "record",
                 force: bool = False, compression: str | None = "lzf", chunk_frames: int = 32,
                 flush_interval: float = 1.0, extra_attrs: dict | None = None,
                 reserve_bytes: int = 1 << 20):
        self.path = check_output_path(path, force)
        self.profile = profile
        self.frame_shape = profile.capture.frame_shape
        self.chunk_frames = chunk_frames
        self.flush_interval = flush_interval
        self.compression = compression
        self.failed = False  # a write failed: the file may be inconsistent, nothing more is written
        self.disk_full = False  # stopped before the disk filled: the file is intact and closes normally
        self.reserve_bytes = reserve_bytes
        self.steps_written = 0  # actions handed to HDF5 so far, all episodes
        try:
            self.f = h5py.File(self.path, "w")
        except OSError as exc:
            raise OutputError(f"cannot create {self.path}: {exc}. Check the folder and free space.") from None
        a = self.f.attrs
        a["format"] = FORMAT_NAME
        a["format_version"] = FORMAT_VERSION
        a["hakisa_version"] = __version__
        a["created"] = _now_iso()
        a["source"] = source
        a["profile_name"] = profile.name
        a["profile_sha256"] = profile.sha256
        a["profile_toml"] = profile.text
        a["tick_hz"] = profile.capture.tick_hz
        a["frame_shape"] = np.asarray(self.frame_shape, np.int32)
        a["capture_size"] = np.asarray(codec.capture_size, np.int32)
        a["codec"] = json.dumps(codec.to_dict())
        a["key_names"] = json.dumps(list(KEY_NAMES))
        a["actors"] = json.dumps(list(ACTORS))
        a["event_kinds"] = json.dumps(list(EVENT_KINDS))
        a["buttons"] = json.dumps(list(BUTTONS))
        self.extractors = list(profile.rules.extractors)
        a["extractors"] = json.dumps([[n, profile.extractor_signature(n)] for n in self.extractors])
        for k, v in (extra_attrs or {}).items():
            a[k] = v
        self.episodes = self.f.create_group("episodes")
        self.n_episodes = 0
        self.group: h5py.Group | None = None
        self._buf: dict[str, list] = {}
        self._n_steps = 0
        self._last_flush = time.monotonic()
        self._guard(self.f.flush)

    # ----- episode lifecycle --------------------------------------------------------------
    def start_episode(self, first: Observation, tick_hz: float | None = None) -> str:
        """Open a new episode group with its first observation; returns the group name."""
        if self.group is not None:
            raise RuntimeError("start_episode() while an episode is open; call end_episode() first")
        name = f"ep_{self.n_episodes:06d}"
        self.n_episodes += 1
        g = self.episodes.create_group(name)
        H, W, C = self.frame_shape
        cf = self.chunk_frames
        g.create_dataset("observations", shape=(0, H, W, C), maxshape=(None, H, W, C), dtype=np.uint8,
                         chunks=(cf, H, W, C), compression=self.compression)
        specs = {"obs_time": (np.float64, ()), "tick": (np.int64, ()), "held_keys": (np.uint8, (MASK_BYTES,)),
                 "mouse_xy": (np.int32, (2,)), "mouse_buttons": (np.uint8, ()),
                 "command_type": (np.int32, ()), "action_1": (np.int32, ()), "action_2": (np.int32, ()),
                 "actor": (np.uint8, ()), "q_value": (np.float32, ()), "rewards": (np.float32, ()),
                 "reward_human": (np.float32, ()),
                 "terminations": (np.bool_, ()), "truncations": (np.bool_, ()),
                 "events_time": (np.float64, ()), "events_kind": (np.uint8, ()), "events_code": (np.int16, ()),
                 "events_x": (np.int32, ()), "events_y": (np.int32, ()), "events_step": (np.int32, ()),
                 "votes_time": (np.float64, ()), "votes_source": (np.uint8, ()), "votes_who": (f"S{WHO_BYTES}", ()),
                 "votes_value": (np.float32, ()), "votes_step": (np.int32, ()), "votes_steps": (np.int32, ())}
        for key, (dt, tail) in specs.items():
            g.create_dataset(key, shape=(0, *tail), maxshape=(None, *tail), dtype=dt,
                             chunks=(1024, *tail), compression=self.compression if tail else None)
        if self.extractors:
            E = len(self.extractors)
            g.create_dataset("readings", shape=(0, E), maxshape=(None, E), dtype=np.float32, chunks=(1024, E),
                             compression=self.compression)
        g.attrs["status"] = "recording"
        g.attrs["started"] = _now_iso()
        g.attrs["tick_hz"] = float(tick_hz or self.profile.capture.tick_hz)
        g.attrs["missed_ticks"] = 0
        self.group = g
        self._n_steps = 0
        self._buf = {k: [] for k in _OBS_FIELDS + _ACT_FIELDS + _OPT_ACT_FIELDS + _EVT_FIELDS + _VOTE_FIELDS}
        if self.extractors:
            self._buf["readings"] = []
        self._add_obs(first, 0)
        self._write_buffer(flush=True)
        return name

    def add_step(self, action: tuple[int, int, int], actor: int, reward: float, terminated: bool,
                 truncated: bool, obs: Observation, q_value: float = float("nan"),
                 reward_human: float = 0.0) -> None:
        """Append one action and the observation it led to. ``reward`` is the total; ``reward_human``
        the part of it given by people watching (the rest was read from the screen)."""
        if self.group is None:
            raise RuntimeError("add_step() with no open episode; call start_episode() first")
        b = self._buf
        b["command_type"].append(action[0])
        b["action_1"].append(action[1])
        b["action_2"].append(action[2])
        b["actor"].append(actor)
        b["q_value"].append(q_value)
        b["rewards"].append(reward)
        b["reward_human"].append(reward_human)
        b["terminations"].append(terminated)
        b["truncations"].append(truncated)
        self._n_steps += 1
        self._add_obs(obs, self._n_steps)
        if len(b["observations"]) >= self.chunk_frames or time.monotonic() - self._last_flush >= self.flush_interval:
            self._write_buffer(flush=time.monotonic() - self._last_flush >= self.flush_interval)

    def add_vote(self, t: float, source: str, who: str, value: float, first_step: int, n_steps: int) -> None:
        """A vote of someone watching, credited as ``value`` in all to ``n_steps`` steps of the open episode from
        ``first_step`` (0-based, as rewards are indexed); ``who``: a hash of their name, never the name."""
        if self.group is None:
            raise RuntimeError("add_vote() with no open episode")
        b = self._buf
        b["votes_time"].append(t)
        b["votes_source"].append(VOTE_SOURCES.index(source))
        b["votes_who"].append(who.encode("ascii", "replace")[:WHO_BYTES])
        b["votes_value"].append(value)
        b["votes_step"].append(first_step)
        b["votes_steps"].append(n_steps)

    def end_episode(self, status: str, stats: dict | None = None) -> int:
        """Close the open episode as "terminated" or "truncated"; returns its number of steps."""
        if self.group is None:
            return 0
        if status not in ("terminated", "truncated"):
            raise ValueError(f"status must be 'terminated' or 'truncated', got {status!r}")
        self._write_buffer(flush=False)
        g = self.group
        if self._n_steps and g["terminations"].shape[0] and not self.disk_full:
            # make the last step's flags agree with how the episode ended (rows a full disk dropped are
            # not on disk, and the last stored step is then a cut, not an end)
            g["terminations"][-1] = status == "terminated"
            g["truncations"][-1] = status == "truncated"
        g.attrs["status"] = status
        for k, v in (stats or {}).items():
            g.attrs[k] = v
        self.group = None
        self._guard(self.f.flush)
        self._last_flush = time.monotonic()
        return self._n_steps

    def set_episode_attrs(self, **attrs) -> None:
        """Update attributes of the open episode (e.g. live missed-tick counts)."""
        if self.group is not None:
            for k, v in attrs.items():
                self.group.attrs[k] = v

    def maybe_flush(self) -> None:
        """Write buffered rows and flush if the flush interval has passed."""
        if time.monotonic() - self._last_flush >= self.flush_interval:
            self._write_buffer(flush=True)

    def close(self, status: str = "truncated", stats: dict | None = None) -> None:
        """End any open episode with ``status`` and close the file.

        After a failed write (full disk) it only releases the file: what was flushed stays readable.
        """
        if not self.f.id.valid:
            return
        try:
            if self.group is not None and not self.failed:
                self.end_episode(status, stats)
        finally:
            try:
                self.f.close()
            except (OSError, RuntimeError):
                if not self.failed:
                    raise

    # ----- internals ----------------------------------------------------------------------
    def _add_obs(self, obs: Observation, index: int) -> None:
        b = self._buf
        if obs.frame.shape != self.frame_shape:
            raise ValueError(f"observation shape {obs.frame.shape} != profile frame shape {self.frame_shape}")
        b["observations"].append(obs.frame)
        b["obs_time"].append(obs.time)
        b["tick"].append(obs.tick)
        b["held_keys"].append(obs.held_mask)
        b["mouse_xy"].append(obs.mouse_xy)
        b["mouse_buttons"].append(obs.mouse_buttons)
        if self.extractors:
            r = obs.readings or {}
            b["readings"].append(np.array([r.get(n, np.nan) for n in self.extractors], np.float32))
        for t, kind, code, x, y in obs.events:
            b["events_time"].append(t)
            b["events_kind"].append(kind)
            b["events_code"].append(code)
            b["events_x"].append(x)
            b["events_y"].append(y)
            b["events_step"].append(index)

    def _check_space(self) -> None:
        """Stop cleanly before the disk fills: HDF5 cannot recover from a write that fails half-way."""
        pending = sum(len(rows) * (rows[0].nbytes if isinstance(rows[0], np.ndarray) else 8)
                      for rows in self._buf.values() if rows)
        if not pending:
            return
        free = shutil.disk_usage(self.path.parent).free
        if free < 4 * pending + self.reserve_bytes:
            for rows in self._buf.values():
                rows.clear()  # no room for them; what is already on disk stays intact
            self.disk_full = True
            raise OutputError(f"the disk holding {self.path} is full ({free / 1e6:.1f} MB free); recording "
                              f"stopped{self._what_is_kept()}. Free space and record again.")

    def _write_buffer(self, flush: bool) -> None:
        g = self.group
        if g is None:
            return
        self._check_space()

        def write():
            n_new = len(self._buf["command_type"])
            for key, rows in self._buf.items():
                if not rows:
                    continue
                ds = g[key]
                n = ds.shape[0]
                arr = np.asarray(rows, dtype=ds.dtype)
                ds.resize(n + len(arr), axis=0)
                ds[n:] = arr
                rows.clear()
            self.steps_written += n_new
            if flush:
                self.f.flush()

        self._guard(write)
        if flush:
            self._last_flush = time.monotonic()

    def _guard(self, fn) -> None:
        if self.failed:
            raise OutputError(f"{self.path}: an earlier write failed; nothing more is written.")
        try:
            fn()
        except (OSError, RuntimeError) as exc:  # h5py reports some write failures as RuntimeError
            self.failed = True
            full = getattr(exc, "errno", None) == errno.ENOSPC or "No space" in str(exc) or "errno = 28" in str(exc)
            reason = "the disk is full" if full else str(exc)
            raise OutputError(f"writing {self.path} failed: {reason}{self._what_is_kept()}; free space and record "
                              "again.") from None

    def _what_is_kept(self) -> str:
        if self.steps_written == 0:
            return " before anything was recorded"
        return (f" and everything up to the last flush (at most {self.flush_interval:g} s ago, {self.steps_written} "
                "steps) is saved")

    def discard_if_empty(self) -> bool:
        """Close, and delete the file when it holds no step at all (a run that failed before recording
        anything leaves nothing behind); returns whether it was deleted."""
        try:
            self.close("truncated")
        except Exception:  # noqa: BLE001 - closing after a failure; the file is deleted or kept as it is
            pass
        if self.steps_written == 0:
            try:
                self.path.unlink()
                return True
            except OSError:
                return False
        return False


class TapWriter:
    """A :class:`DatasetWriter` whose rows also go to ``tap`` (an online learner's queue), as they are written:
    ``tap("start", frame)``, ``tap("step", action, actor, reward, terminated, frame)``, ``tap("end", truncated)``.
    Everything else is the writer's; the file stays the record, the tap only a copy."""

    def __init__(self, writer: DatasetWriter, tap):
        self._w, self._tap = writer, tap

    def __getattr__(self, name):
        return getattr(self._w, name)

    def start_episode(self, first: Observation, tick_hz: float | None = None) -> str:
        name = self._w.start_episode(first, tick_hz)
        self._tap("start", first.frame)
        return name

    def add_step(self, action, actor, reward, terminated, truncated, obs: Observation, q_value: float = float("nan"),
                 reward_human: float = 0.0) -> None:
        self._w.add_step(action, actor, reward, terminated, truncated, obs, q_value=q_value, reward_human=reward_human)
        self._tap("step", tuple(action), int(actor), float(reward), bool(terminated), obs.frame)

    def end_episode(self, status: str, stats: dict | None = None) -> int:
        open_ = self._w.group is not None
        n = self._w.end_episode(status, stats)
        if open_:
            self._tap("end", status != "terminated")
        return n

    def close(self, status: str = "truncated", stats: dict | None = None) -> None:
        open_ = self._w.group is not None and not self._w.failed
        self._w.close(status, stats)
        if open_:
            self._tap("end", status != "terminated")

    def discard_if_empty(self) -> bool:
        return self._w.discard_if_empty()


# ======================================================================================
# reading
# ======================================================================================

@dataclass
class EpisodeInfo:
    """What a dataset knows about one episode without loading frames."""

    name: str
    n_steps: int
    status: str  # "terminated", "truncated" or "recording" (writer was killed: treated as truncated)
    tick_hz: float
    missed_ticks: int
    duration_s: float
    problems: list[str]


class DatasetReader:
    """Opens and validates a hakisa dataset; raises :class:`DatasetError` with the reason."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.exists():
            raise DatasetError(f"dataset {self.path} does not exist.")
        if self.path.is_dir():
            raise DatasetError(f"{self.path} is a folder, not a dataset file.")
        if self.path.stat().st_size == 0:
            raise DatasetError(f"{self.path} is empty (0 bytes): it was never written; record it again.")
        if not h5py.is_hdf5(self.path):
            raise DatasetError(f"{self.path} is not an HDF5 file (no HDF5 signature); "
                               "hakisa datasets are written by `hakisa record` or `hakisa explore`.")
        try:
            self.f = h5py.File(self.path, "r")
        except OSError as exc:
            raise DatasetError(f"{self.path} is truncated or corrupt and cannot be opened ({exc}).") from None
        try:
            self._validate_root()
        except DatasetError as exc:
            self.f.close()
            if str(self.path) not in str(exc):
                raise DatasetError(f"{self.path}: {exc}") from None
            raise
        except Exception:
            self.f.close()
            raise

    def _validate_root(self) -> None:
        """Every root attribute hakisa uses, checked for type and range before anything relies on it."""
        a = self.f.attrs
        fmt = _attr(a, "format")
        if not isinstance(fmt, str) or fmt != FORMAT_NAME:
            raise DatasetError(f"{self.path} is an HDF5 file but not a hakisa dataset "
                               f"(format attribute is {_short(fmt)}, expected {FORMAT_NAME!r}).")
        ver = _attr(a, "format_version")
        if not isinstance(ver, (int, np.integer)) or isinstance(ver, bool):
            raise DatasetError(f"{self.path}: format_version is {_short(ver)}, not a number; the file is damaged "
                               "or was not written by hakisa.")
        if int(ver) != FORMAT_VERSION:
            raise DatasetError(f"{self.path} has dataset format version {int(ver)}; this hakisa "
                               f"({__version__}) reads version {FORMAT_VERSION}.")
        for key in ("profile_sha256", "profile_name", "profile_toml", "frame_shape", "codec"):
            if key not in a:
                raise DatasetError(f"{self.path} lacks the '{key}' attribute; the file is damaged.")
        self.profile_sha256 = self._text(a, "profile_sha256", 64)
        if not re.fullmatch(r"[0-9a-f]{64}", self.profile_sha256):
            raise DatasetError(f"{self.path}: profile_sha256 is {_short(self.profile_sha256)}, not a sha256 hex "
                               "digest; the file is damaged.")
        self.profile_name = self._text(a, "profile_name", 200)
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,200}", self.profile_name):  # a game name: never a path
            raise DatasetError(f"{self.path}: profile_name {_short(self.profile_name)} is not a game name (letters, "
                               "digits, '_', '.', '-'); the file is damaged or crafted.")
        self.profile_text = self._text(a, "profile_toml", MAX_PROFILE_BYTES)
        if hashlib.sha256(self.profile_text.encode()).hexdigest() != self.profile_sha256:
            raise DatasetError(f"{self.path}: its copy of the profile does not match its profile hash; the file was "
                               "damaged or edited after it was written.")
        fs = np.asarray(_attr(a, "frame_shape"))
        if (fs.shape != (3,) or fs.dtype.kind not in "iu" or not 16 <= fs[0] <= 1024 or not 16 <= fs[1] <= 1024
                or fs[2] not in (1, 3)):
            raise DatasetError(f"{self.path}: frame_shape is {_short(fs.tolist())}; expected [height, width, channels] "
                               "with sides 16..1024 and 1 or 3 channels. The file is damaged.")
        self.frame_shape = tuple(int(x) for x in fs)
        self.codec_info = _codec_info(self._text(a, "codec", 1 << 20), f"{self.path}: the codec attribute")
        hz = _attr(a, "tick_hz", 0.0)
        if isinstance(hz, bool) or not isinstance(hz, (int, float, np.number)) or not 0 <= float(hz) <= 1000:
            raise DatasetError(f"{self.path}: tick_hz is {_short(hz)}; expected a number of ticks per second "
                               "(0..1000). The file is damaged.")
        self.tick_hz = float(hz)
        src = _attr(a, "source", "?")
        self.source = src if isinstance(src, str) else "?"
        self.extractors, self.extractor_signatures = self._extractors(a)
        eps = self.f.get("episodes", getclass=True)
        if eps is None:
            raise DatasetError(f"{self.path} has no 'episodes' group; the file is damaged.")
        if eps is not h5py.Group:
            raise DatasetError(f"{self.path}: /episodes is not a group (it is a {eps.__name__}); the file is damaged.")
        for name in self.f["episodes"]:
            kind = self.f["episodes"].get(name, getclass=True)
            if kind is not h5py.Group:
                raise DatasetError(f"{self.path}: /episodes/{name} is not an episode group (it is a "
                                   f"{getattr(kind, '__name__', kind)}); the file is damaged.")

    def _extractors(self, attrs) -> tuple[list[str], dict[str, dict]]:
        """The extractors whose readings the episodes store (``readings`` columns), with what each read;
        none for files written before hakisa stored readings."""
        if "extractors" not in attrs:
            return [], {}
        text = self._text(attrs, "extractors", MAX_PROFILE_BYTES)
        try:
            items = json.loads(text)
        except ValueError:
            items = None
        ok = isinstance(items, list) and all(
            isinstance(i, list) and len(i) == 2 and isinstance(i[0], str) and isinstance(i[1], dict) for i in items)
        names = [i[0] for i in items] if ok else []
        if not ok or len(set(names)) != len(names) or len(names) > 256:
            raise DatasetError(f"{self.path}: the 'extractors' attribute is {_short(text)}, not a list of distinct "
                               "[name, signature] pairs; the file is damaged.")
        return names, {n: sig for n, sig in items}

    def _text(self, attrs, key: str, limit: int) -> str:
        v = _attr(attrs, key)
        if isinstance(v, bytes):
            try:
                v = v.decode("utf-8")
            except UnicodeDecodeError:
                v = None
        if not isinstance(v, str):
            raise DatasetError(f"{self.path}: the '{key}' attribute is {_short(v)}, not text; the file is damaged.")
        if len(v) > limit:
            raise DatasetError(f"{self.path}: the '{key}' attribute is {len(v)} characters long (at most {limit}); "
                               "the file is damaged or crafted.")
        return v

    def __enter__(self) -> "DatasetReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.f.id.valid:
            self.f.close()

    def episode_names(self) -> list[str]:
        return sorted(self.f["episodes"].keys())

    def info(self, name: str) -> EpisodeInfo:
        """Episode summary, with a list of consistency problems (empty when healthy).

        Each array's type and shape are checked, and its row count is the rows the file really holds:
        an array declaring more rows than it has stored chunks for (a damaged or crafted file) is cut to
        what is stored and reported, so nothing is ever allocated for data that is not there."""
        g = self.f["episodes"][name]
        problems = []
        missing = [k for k in _OBS_FIELDS + _ACT_FIELDS + _EVT_FIELDS if k not in g]
        if missing:
            return EpisodeInfo(name, 0, "broken", 0.0, 0, 0.0, [f"missing arrays: {', '.join(missing)}"])
        rows: dict[str, int] = {}
        for k in _OBS_FIELDS + _ACT_FIELDS + _OPT_ACT_FIELDS + _EVT_FIELDS:
            if k not in g:
                continue
            why = self._check_array(g, k)
            if why:
                return EpisodeInfo(name, 0, "broken", 0.0, 0, 0.0, [why])
            ds = g[k]
            real = _stored_rows(ds)
            if ds.shape[0] - real > 2 * (ds.chunks[0] if ds.chunks else 0):  # more than a killed writer leaves
                problems.append(f"{k} declares {ds.shape[0]} rows but the file holds data for {real}; the rest "
                                "is missing (damaged or crafted file)")
            rows[k] = real
        if "readings" in g:
            why = self._check_array(g, "readings")
            if why:
                return EpisodeInfo(name, 0, "broken", 0.0, 0, 0.0, [why])
            rows["readings"] = _stored_rows(g["readings"])
        n_obs = min(rows[k] for k in _OBS_FIELDS + ("readings",) * ("readings" in rows))
        n_act = min(rows[k] for k in _ACT_FIELDS)
        if n_obs != n_act + 1:
            problems.append(f"{n_obs} observations for {n_act} actions (expected N+1 for N)")
        n_steps = max(0, min(n_act, n_obs - 1))
        status = _attr(g.attrs, "status", "recording")
        if not isinstance(status, str) or status not in ("recording", "terminated", "truncated"):
            problems.append(f"status attribute is {_short(status)}")
            status = "recording"
        t = g["obs_time"]
        duration = float(t[n_steps] - t[0]) if n_steps else 0.0
        if not np.isfinite(duration):
            problems.append("obs_time holds NaN or infinite times")
            duration = 0.0
        return EpisodeInfo(name, n_steps, status, _num_attr(g.attrs, "tick_hz", self.tick_hz),
                           int(_num_attr(g.attrs, "missed_ticks", 0)), duration, problems)

    def _check_array(self, g, key: str) -> str | None:
        """Why array ``key`` of episode ``g`` cannot be used (wrong kind, type or shape), or None."""
        obj = g.get(key, getclass=True)
        if obj is not h5py.Dataset:
            return f"{key} is not an array"
        ds = g[key]
        kind, tail = _ARRAY_SPECS[key]
        if key == "observations":
            tail = self.frame_shape
        elif key == "readings":
            tail = (len(self.extractors),)
        if ds.dtype.kind not in kind:
            return f"{key} has type {ds.dtype}, expected {'/'.join(_KIND_NAMES[c] for c in kind)}"
        if ds.ndim != 1 + len(tail) or tuple(ds.shape[1:]) != tuple(tail):
            return f"{key} has shape {ds.shape}, expected (rows, {', '.join(map(str, tail))})".replace(", )", ")")
        return None

    def load(self, name: str, frames: bool = True) -> dict[str, np.ndarray]:
        """Load one episode's arrays, cut to a consistent N actions / N+1 observations."""
        g = self.f["episodes"][name]
        info = self.info(name)
        if info.status == "broken":
            raise DatasetError(f"{self.path} {name}: {info.problems[0]}; the file is damaged.")
        n = info.n_steps
        from hakisa.resources import check_memory

        row_bytes = 64 + (int(np.prod(self.frame_shape)) if frames else 0)  # 64: the per-step arrays
        check_memory((n + 1) * row_bytes, f"reading {self.path} {name} ({n} steps{' with frames' * frames})")
        out = {}
        for k in _OBS_FIELDS:
            if k == "observations" and not frames:
                continue
            out[k] = g[k][: n + 1]
        if "readings" in g:
            out["readings"] = g["readings"][: n + 1].astype(np.float32)
        for k in _ACT_FIELDS:
            out[k] = g[k][:n]
        for k in _OPT_ACT_FIELDS:
            out[k] = g[k][:n] if k in g else np.zeros(n, np.float32)
        n_ev = min(_stored_rows(g[k]) for k in _EVT_FIELDS)
        ev_step = g["events_step"][:n_ev]
        keep = ev_step <= n
        for k in _EVT_FIELDS:
            out[k] = g[k][:n_ev][keep]
        if all(k in g for k in _VOTE_FIELDS):  # written by hakisa >= 0.3
            bad = [why for k in _VOTE_FIELDS if (why := self._check_array(g, k))]
            if bad:
                raise DatasetError(f"{self.path} {name}: {bad[0]}; the file is damaged.")
            n_v = min(_stored_rows(g[k]) for k in _VOTE_FIELDS)
            for k in _VOTE_FIELDS:
                out[k] = g[k][:n_v]
            out["votes_who"] = out["votes_who"].astype(f"S{WHO_BYTES}")
        if str(g.attrs.get("status", "recording")) == "recording" and n:
            out["truncations"][-1] = True  # a killed recording ends in a truncation
        return out

    def iter_episodes(self, frames: bool = True) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
        for name in self.episode_names():
            yield name, self.load(name, frames=frames)

