"""The allowed range of every numeric flag and config field, in one place.

Each command's settings are described by a small declarative table: config field (or argparse
destination) -> :class:`Range`, with the flag that sets it.  ``hakisa.cli`` checks the parsed
arguments of every command against its table before any work starts, and the library entry points
(``study``, ``consolidate``, ``train``) check their config dataclasses against the same tables, so a
value that passes one passes the other.  The error names the flag, the value and the range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, is_dataclass

from hakisa.errors import ConfigError

MAX_STEPS = 100_000_000  # gradient updates / agent actions in one run
MAX_BATCH = 4096
MAX_THREADS = 256
MAX_SEED = 2**32 - 1  # numpy's seed range
MAX_SECONDS = 7 * 24 * 3600.0  # a week
MAX_PIXELS = 8192  # a side of a game / video / screenshot


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e13 else f"{v:g}"


@dataclass(frozen=True)
class Range:
    """Allowed values: ``lo``..``hi`` (open ends exclude the bound); ``optional`` admits None (the flag
    was not given); ``integer`` admits whole numbers only.  NaN and infinities are never allowed."""

    lo: float | None = None
    hi: float | None = None
    integer: bool = False
    lo_open: bool = False
    hi_open: bool = False
    optional: bool = False

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        lo = None if self.lo is None else _num(self.lo)
        hi = None if self.hi is None else _num(self.hi)
        if lo is not None and hi is not None:
            if self.lo_open or self.hi_open:
                return (f"{kind} {'>' if self.lo_open else '>='} {lo} and {'<' if self.hi_open else '<='} {hi}")
            return f"{kind} from {lo} to {hi}"
        if lo is not None:
            return f"{kind} {'>' if self.lo_open else '>='} {lo}"
        if hi is not None:
            return f"{kind} {'<' if self.hi_open else '<='} {hi}"
        return f"{kind} (finite)"

    def ok(self, value) -> bool:
        if value is None:
            return self.optional
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.integer and not isinstance(value, int):
            return False
        if not math.isfinite(value):
            return False
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return False
        if self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi):
            return False
        return True


@dataclass(frozen=True)
class Field:
    """One setting: its name in the config dataclass (or argparse destination), its flag and range."""

    name: str
    flag: str
    range: Range
    hint: str = ""  # what the value means, added to the error


def _f(name: str, r: Range, flag: str | None = None, hint: str = "") -> Field:
    return Field(name, flag or "--" + name.replace("_", "-"), r, hint)


POSITIVE_INT = Range(1, MAX_STEPS, integer=True)
COUNT = Range(0, MAX_STEPS, integer=True)
SHARE = Range(0, 1)
NONNEG = Range(0, 1e9)
SEED = Range(0, MAX_SEED, integer=True)
THREADS = Range(1, MAX_THREADS, integer=True)
BATCH = Range(1, MAX_BATCH, integer=True)
LR = Range(0, 1, lo_open=True)
AUGMENT = Range(0, 32, integer=True)
N_STEP = Range(1, 1000, integer=True)
STACK = Range(1, 32, integer=True)
HIDDEN = Range(1, 8192, integer=True)
WAIT = Range(0, 3600)

# ----- config dataclasses ------------------------------------------------------------------------
STUDY: tuple[Field, ...] = (
    _f("steps", POSITIVE_INT, hint="gradient updates"),
    _f("batch_size", BATCH),
    _f("lr", LR, hint="Adam learning rate"),
    _f("margin", Range(0, 1e6)),
    _f("temperature", Range(0, 1e6, lo_open=True), hint="of the imitated policy softmax(Q / T)"),
    _f("gamma", SHARE, hint="discount"),
    _f("n_step", N_STEP),
    _f("td_weight", Range(0, 1e6)),
    _f("weight_decay", Range(0, 1)),
    _f("target_every", POSITIVE_INT),
    _f("stack", STACK, hint="frames per network input"),
    _f("hidden", HIDDEN),
    _f("warmup", Range(0, 10_000_000, integer=True), hint="updates of learning-rate warm-up"),
    _f("keyframe", Range(0, 1e6)),
    _f("augment", AUGMENT, hint="pixels of random shift"),
    _f("photometric", SHARE, hint="chance per training sample"),
    _f("balance", Range(0, 10)),
    _f("prior", SHARE, hint="share of the weights' pull on action rates taken back at play"),
    _f("forget_before_loss", Range(0, 3600), hint="seconds"),
    _f("loss_reward", Range(-1e9, 1e9)),
    _f("holdout", Range(0, 1, lo_open=True, hi_open=True)),
    _f("eval_every", POSITIVE_INT),
    _f("seed", SEED),
    _f("threads", THREADS),
)

CONSOLIDATE: tuple[Field, ...] = (
    _f("steps", POSITIVE_INT, "--updates", "gradient updates"),
    _f("batch_size", BATCH),
    _f("lr", LR, hint="Adam learning rate"),
    _f("gamma", SHARE, hint="discount"),
    _f("n_step", N_STEP),
    _f("target_every", POSITIVE_INT),
    _f("tau", SHARE, hint="Polyak averaging; 0 = hard copies"),
    _f("grad_clip", Range(0, 1e9, lo_open=True)),
    _f("reward_scale", Range(-1e6, 1e6)),
    _f("reward_clip", Range(0, 1e9)),
    _f("margin", Range(0, 1e6)),
    _f("margin_weight", Range(0, 1e6)),
    _f("imitation_temperature", Range(0, 1e6, lo_open=True, optional=True), hint="of the imitated softmax(Q / T)"),
    _f("human_ratio", SHARE, hint="share of each batch"),
    _f("self_imitation", Range(0, 1e6)),
    _f("loss_horizon", Range(0, 3600, lo_open=True), hint="seconds"),
    _f("loss_reward", Range(-1e9, 1e9)),
    _f("cql_weight", Range(0, 1e6), "--cql"),
    _f("anchor", Range(0, 1e6), hint="weight of the KL to the start's policy"),
    _f("weight_decay", Range(0, 1)),
    _f("augment", AUGMENT, hint="pixels of random shift"),
    _f("eval_every", POSITIVE_INT),
    _f("eval_samples", Range(1, 1_000_000, integer=True)),
    _f("seed", SEED),
    _f("threads", THREADS),
    _f("stack", STACK),
    _f("hidden", HIDDEN),
)

TRAIN: tuple[Field, ...] = (
    _f("rounds", Range(1, 10_000, integer=True, optional=True), hint="leave it out to train online"),
    _f("explore_steps", POSITIVE_INT),
    _f("epsilon", SHARE),
    _f("epsilon_end", SHARE),
    _f("wait", WAIT, hint="seconds"),
    _f("seed", SEED),
)

WATCHER_HORIZON = Range(0, 10, lo_open=True, optional=True)

ONLINE: tuple[Field, ...] = (
    _f("steps", POSITIVE_INT, "--steps", "actor steps in all"),
    _f("replay_ratio", Range(0, 1000), hint="learner updates per actor step"),
    _f("epsilon", SHARE),
    _f("epsilon_end", SHARE),
    _f("human_ratio_end", SHARE, hint="the demonstrations' share of each batch at the end"),
    _f("temperature", Range(0, 1e6, optional=True), hint="0 = greedy with epsilon"),
    _f("takeover_idle", Range(0, 3600), hint="seconds"),
    _f("takeover_penalty", Range(-1e6, 1e6)),
    _f("watcher_horizon", WATCHER_HORIZON, hint="seconds the scripted watcher looks ahead"),
    _f("sync_every", POSITIVE_INT, hint="updates between weight copies into the actor"),
    _f("save_seconds", Range(1, 1e6), hint="seconds between checkpoints"),
    _f("segment_steps", POSITIVE_INT, hint="actor steps per dataset file"),
    _f("pick", COUNT, hint="episodes per checkpoint; 0 = no pick"),
    _f("pick_seconds", Range(0, 1e6, lo_open=True), hint="seconds of play per checkpoint at most"),
    _f("wait", WAIT, hint="seconds"),
    _f("seed", SEED),
)

# ----- commands without a config dataclass: argparse destinations -------------------------------
RECORD: tuple[Field, ...] = (
    _f("seconds", Range(0, MAX_SECONDS, lo_open=True, optional=True), hint="leave it out to record until stopped"),
    _f("hz", Range(1, 60, optional=True), hint="ticks per second; leave it out for the profile's rate"),
    _f("wait", WAIT, hint="seconds"),
)

REPLAY: tuple[Field, ...] = (
    _f("max_steps", Range(1, MAX_STEPS, integer=True, optional=True)),
    _f("width", Range(16, MAX_PIXELS, integer=True), hint="pixels"),
)

_AGENT_COMMON: tuple[Field, ...] = (
    _f("episodes", Range(1, MAX_STEPS, integer=True, optional=True), hint="leave it out for no limit"),
    _f("wait", WAIT, hint="seconds"),
    _f("seed", SEED),
    _f("epsilon", SHARE, hint="chance of a random choice"),
    _f("takeover_idle", Range(0, 3600), hint="seconds"),
    _f("takeover_penalty", Range(-1e6, 1e6)),
    _f("watcher_horizon", WATCHER_HORIZON, hint="seconds the scripted watcher looks ahead"),
    _f("watcher_minutes", Range(0, MAX_SECONDS / 60, lo_open=True, optional=True),
       hint="minutes of the scripted watcher's control at most"),
)

PLAY: tuple[Field, ...] = _AGENT_COMMON + (
    _f("seconds", Range(0, MAX_SECONDS, lo_open=True, optional=True)),
    _f("temperature", Range(0, 1e6, optional=True), hint="leave it out for the checkpoint's own"),
)

EXPLORE: tuple[Field, ...] = _AGENT_COMMON + (
    _f("temperature", Range(0, 1e6)),
    _f("steps", Range(1, MAX_STEPS, integer=True, optional=True), hint="actions"),
    _f("minutes", Range(0, MAX_SECONDS / 60, lo_open=True, optional=True)),
    _f("epsilon_end", SHARE),
    _f("decay_steps", Range(1, MAX_STEPS, integer=True, optional=True)),
)

REGIONS: tuple[Field, ...] = (_f("wait", WAIT, hint="seconds"),)

TRIAL: tuple[Field, ...] = (
    _f("episodes", Range(1, 10_000, integer=True), hint="episodes per way"),
    _f("seconds", Range(0, MAX_SECONDS, lo_open=True), hint="seconds of play per way"),
    _f("wait", WAIT, hint="seconds"),
    _f("seed", SEED),
)

STUDY_FLAGS = STUDY  # same names as the flags (study has no flag for gamma, target_every, hidden, ...)
CONSOLIDATE_FLAGS: tuple[Field, ...] = tuple(
    Field("updates" if f.name == "steps" else "cql" if f.name == "cql_weight" else f.name, f.flag, f.range, f.hint)
    for f in CONSOLIDATE)

# argparse destinations checked per command (fields a command has no flag for are skipped)
COMMANDS: dict[str, tuple[Field, ...]] = {
    "record": RECORD,
    "replay": REPLAY,
    "study": STUDY_FLAGS,
    "consolidate": CONSOLIDATE_FLAGS,
    "train": CONSOLIDATE_FLAGS + tuple({f.name: f for f in TRAIN + ONLINE
                                        if f.name not in {c.name for c in CONSOLIDATE_FLAGS}}.values()),
    "play": PLAY,
    "explore": EXPLORE,
    "regions": REGIONS,
    "trial": TRIAL,
}

SIZE_RANGE = Range(16, MAX_PIXELS, integer=True)


def _fail(f: Field, value, where: str = "") -> None:
    shown = value if not isinstance(value, float) or not value.is_integer() else (
        int(value) if abs(value) < 1e15 else value)
    hint = f" ({f.hint})" if f.hint else ""
    raise ConfigError(f"{f.flag} {shown!r}{hint}{where}: must be {f.range.describe()}.")


def check_fields(values, spec: tuple[Field, ...], where: str = "") -> None:
    """Check ``values`` (a dataclass, an argparse Namespace or a dict) against ``spec``; fields it does not
    have are skipped.  Raises :class:`ConfigError` naming the flag, the value and the allowed range."""
    get = values.get if isinstance(values, dict) else lambda k, d=None: getattr(values, k, d)
    missing = object()
    for f in spec:
        v = get(f.name, missing)
        if v is missing:
            continue
        if not f.range.ok(v):
            _fail(f, v, where)


def check_config(cfg, spec: tuple[Field, ...]) -> None:
    """A config dataclass against its table (the library entry points call this; so does the CLI)."""
    if not is_dataclass(cfg):
        raise TypeError(f"expected a config dataclass, got {type(cfg).__name__}")
    names = {f.name for f in fields(cfg)}
    check_fields({n: getattr(cfg, n) for n in names}, spec, f" ({type(cfg).__name__})")


def check_command(command: str, args) -> None:
    """Every numeric flag of ``command`` in the parsed ``args``."""
    check_fields(args, COMMANDS.get(command, ()))
    if getattr(args, "size", None) is not None:
        parse_size(args.size)


def parse_size(text: str, flag: str = "--size") -> tuple[int, int]:
    """``WIDTHxHEIGHT`` with each side within :data:`SIZE_RANGE`."""
    try:
        w, h = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise ConfigError(f"{flag} {text!r}: write WIDTHxHEIGHT, e.g. 640x360.") from None
    for side, v in (("width", w), ("height", h)):
        if not SIZE_RANGE.ok(v):
            raise ConfigError(f"{flag} {text!r}: the {side} must be {SIZE_RANGE.describe()} pixels.")
    return w, h
