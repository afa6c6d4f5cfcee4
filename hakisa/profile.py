"""Game profiles: one TOML file per game, validated field by field.

A profile says how to find the game's window, what to capture and how often,
which inputs the agent may use, how to read reward and done from the screen,
and which key stops everything.  See ``profiles/*.toml`` for commented examples.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hakisa.errors import ProfileError
from hakisa.keys import KEY_NAMES, normalize_key, system_chord_reason
from hakisa.patterns import pattern_problem

MAX_TICK_HZ = 60.0
MAX_PROFILE_BYTES = 1 << 20
COLOR_MODES = ("rgb", "gray")
MOUSE_MODES = ("none", "absolute")
EXTRACTOR_KINDS = ("color", "bar", "digits", "count", "image", "stuck")
GLYPH_W, GLYPH_H = 8, 12  # digit templates are stored as 8x12 bitmaps (rows of "0"/"1")
CONDITION_OPS = (">=", "<=", "==", "!=", ">", "<")
_CONDITION_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|==|!=|>|<)\s*(-?[0-9.]+)\s*$")


@dataclass(frozen=True)
class WindowSpec:
    """How to find the game's window: a regular expression (RE2 syntax) searched in the title."""

    title: str
    window_class: str | None = None  # optional regex (RE2 syntax) on WM_CLASS
    process: str | None = None  # optional process name (matched against _NET_WM_PID's command)


@dataclass(frozen=True)
class CaptureSpec:
    """What to grab and how it is stored."""

    region: tuple[int, int, int, int] | None  # x, y, w, h inside the client area (pixels); None = all of it
    tick_hz: float  # ticks per second of the record/play loop
    frame_width: int  # stored observation width (pixels)
    frame_height: int  # stored observation height (pixels)
    color: str  # "rgb" or "gray"
    # the part of the captured area the agent sees, as fractions [x, y, w, h] (None: all of it); the rules read the
    # whole captured area, so the score can be read far from the action while the agent's view stays tight
    observe: tuple[float, float, float, float] | None = None

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of a stored observation."""
        return (self.frame_height, self.frame_width, 3 if self.color == "rgb" else 1)


@dataclass(frozen=True)
class ActionSpec:
    """The action vocabulary: key chords the agent may hold, and the mouse."""

    keys: tuple[tuple[str, ...], ...]  # each entry is a chord of canonical key names
    mouse: str  # "none" or "absolute"
    mouse_grid: tuple[int, int] | None  # (columns, rows) of the click grid; None = full pixel resolution

    @property
    def key_set(self) -> frozenset[str]:
        """Every key that appears in some chord."""
        return frozenset(k for chord in self.keys for k in chord)


@dataclass(frozen=True)
class Extractor:
    """Reads one number from a named screen region."""

    name: str
    kind: str  # see EXTRACTOR_KINDS and README "Profiles"
    region: str
    color: tuple[int, int, int] | None = None  # color, bar, digits, count: the (first) colour looked for
    tolerance: int = 30  # color/bar/digits/count: per-channel distance; stuck: grey levels a change must exceed
    axis: str = "x"  # for "bar": "x" fills left to right, "y" bottom to top
    glyphs: tuple[tuple[str, str], ...] = ()  # digits: (digit, 8x12 bitmap rows joined by "/")
    image: str | None = None  # image: template file (relative to the profile's folder)
    colors: tuple[tuple[int, int, int], ...] = ()  # every colour that counts (a palette that fades); color = the first
    min_size: int = 4  # count: pixels a blob needs to count as an item (smaller specks are noise)

    def __post_init__(self):
        if self.color is not None and not self.colors:
            object.__setattr__(self, "colors", (tuple(self.color),))


@dataclass(frozen=True)
class Condition:
    """`extractor op value`, e.g. ``game_over >= 0.5``."""

    extractor: str
    op: str
    value: float
    text: str


@dataclass(frozen=True)
class AnyAll:
    """Conditions joined by ``any`` (or) or ``all`` (and); items are :class:`Condition` or nested tests."""

    mode: str  # "any" or "all"
    items: tuple  # of Condition | AnyAll

    @property
    def text(self) -> str:
        return f"{self.mode}({', '.join(i.text for i in self.items)})"


@dataclass(frozen=True)
class RulesSpec:
    """Reward and done read from the screen (regions are fractions of the captured area)."""

    regions: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)
    extractors: dict[str, Extractor] = field(default_factory=dict)
    reward: dict[str, float] = field(default_factory=dict)  # extractor -> weight of its change
    done_any: tuple[Condition | AnyAll, ...] = ()
    done_all: tuple[Condition | AnyAll, ...] = ()
    score: str | None = None  # extractor reported as the episode's score (play's table)
    pause_any: tuple[Condition | AnyAll, ...] = ()  # the game is paused: checked before done (see PauseSpec)
    pause_all: tuple[Condition | AnyAll, ...] = ()
    rises: tuple[str, ...] = ()  # extractors whose drops earn nothing (a score display reset after a continue)
    reward_clip: float = 0.0  # a step's screen reward is clipped to +-this (0: not clipped)

    @property
    def has_done(self) -> bool:
        return bool(self.done_any or self.done_all)

    @property
    def has_pause(self) -> bool:
        return bool(self.pause_any or self.pause_all)


@dataclass(frozen=True)
class SafetySpec:
    """What keeps the user's desktop safe while the agent plays."""

    kill_switch: str  # stops record / play / explore at once, from any window
    max_apm: float = 0.0  # cap on the agent's actions (input changes) per minute; 0 = no cap
    # system chords (hakisa.keys.SYSTEM_CHORDS) the profile may still use, each a canonical chord
    # listed in actions.keys or a key of reset.keys
    allow_system_keys: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class ResetStep:
    """One step of a reset sequence: wait until ``until`` holds (if given), then tap the keys and click the points."""

    keys: tuple[str, ...] = ()
    clicks: tuple[tuple[float, float], ...] = ()  # fractions of the captured area
    until: "Condition | AnyAll | None" = None
    timeout: float = 10.0  # seconds to wait for ``until`` before the sequence starts over


@dataclass(frozen=True)
class ResetSpec:
    """Input that starts a new episode after game over: keys tapped and clicks, in order, or ``steps`` through
    menus and dialogs (see :mod:`hakisa.act.reset`)."""

    keys: tuple[str, ...] = ()
    clicks: tuple[tuple[float, float], ...] = ()  # fractions of the captured area
    wait: float = 1.0  # seconds after game over before the sequence
    retry: float = 3.0  # seconds between repeats while the game-over screen stays
    timeout: float = 30.0  # give up (stop with an error) after this many seconds
    steps: tuple[ResetStep, ...] = ()

    def sequence(self) -> tuple[ResetStep, ...]:
        return self.steps or (ResetStep(self.keys, self.clicks),)


@dataclass(frozen=True)
class PauseSpec:
    """What to do while ``[rules.pause]`` holds (a pause screen, a "continue?" dialog): nothing is sent and no step
    is recorded; after ``wait`` s the unpause keys are tapped and the clicks clicked, again every ``retry`` s."""

    keys: tuple[str, ...] = ()
    clicks: tuple[tuple[float, float], ...] = ()  # fractions of the captured area
    wait: float = 0.5
    retry: float = 2.0
    timeout: float = 60.0  # give up (stop with an error) when the game stays paused this long
    on_focus_loss: str = "end"  # "end": losing focus cuts the episode; "keep": it goes on once focus (and play) is back


@dataclass(frozen=True)
class ChatSpec:
    """Reward from a stream's chat ([feedback.chat]): phrases people type, credited to what they saw, which a
    stream shows ``delay`` seconds late, with every person's say limited so no one can dominate."""

    good: tuple[str, ...] = ("good bot",)  # phrases (or emotes) that are a vote for; case and spacing ignored
    bad: tuple[str, ...] = ("bad bot",)
    value: float = 0.5  # reward of one vote (times the person's weight), spread over the credited steps
    delay: float = 3.0  # the stream's delay plus reading and typing: the window ends this long before the message
    window: float = 3.0  # seconds of play one vote is credited to; also one vote per person per window
    rate: int = 6  # votes counted per person per minute at most
    cap: float = 0.5  # the crowd's reward on any one step is clipped to +-this
    weights: tuple[tuple[str, float], ...] = ()  # (lowercase name, weight): others weigh 1


@dataclass(frozen=True)
class FeedbackSpec:
    """Reward from a person watching: hotkeys credited back over the last few seconds."""

    good: str = "f9"
    bad: str = "f10"
    value: float = 1.0  # reward of one press, spread evenly over the credited steps
    window: float = 2.0  # seconds of play credited by one press
    delay: float = 0.3  # the person reacts this late: the window ends this long before the press
    chat: ChatSpec = field(default_factory=ChatSpec)

    @property
    def hold(self) -> float:
        """How long a step must wait before it is written: the latest any vote for it can arrive."""
        return max(self.window + self.delay, self.chat.window + self.chat.delay)


@dataclass(frozen=True)
class Profile:
    """A validated game profile, with the exact text it was read from."""

    name: str
    window: WindowSpec
    capture: CaptureSpec
    actions: ActionSpec
    rules: RulesSpec
    safety: SafetySpec
    text: str
    source: str = "<string>"
    reset: ResetSpec = field(default_factory=ResetSpec)
    feedback: FeedbackSpec = field(default_factory=FeedbackSpec)
    pause: PauseSpec = field(default_factory=PauseSpec)
    base_dir: str | None = None  # folder that relative files (images) are read from

    def resolve(self, relpath: str) -> Path:
        """A file named in the profile, relative to the profile's folder."""
        p = Path(relpath)
        if not p.is_absolute() and self.base_dir:
            p = Path(self.base_dir) / p
        return p

    @property
    def sha256(self) -> str:
        """Hash of the profile text; datasets and checkpoints carry it to refuse mix-ups."""
        return hashlib.sha256(self.text.encode()).hexdigest()

    @property
    def recording_sha256(self) -> str:
        """Hash of what recorded frames and actions depend on: the game's name, its capture and its actions.

        The rules (reward, done, pause), reset, safety and window may change after recording: data whose
        recording hash matches is read under the new rules (see :mod:`hakisa.data.relabel`)."""
        ident = {"name": self.name, "capture": asdict(self.capture), "actions": asdict(self.actions)}
        return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()

    def records_like(self, text: str, sha256: str) -> bool:
        """Whether data or a network made with the profile ``text`` (declared hash ``sha256``) fits this one:
        the same profile, or one that differs only where recordings do not depend on it (rules, reset,
        window, safety)."""
        if sha256 == self.sha256:
            return True
        if hashlib.sha256(text.encode()).hexdigest() != sha256:
            return False
        try:
            other = parse_profile(text)
        except Exception:  # another hakisa's profile syntax: it cannot be matched by content
            return False
        return other.recording_sha256 == self.recording_sha256

    def extractor_signature(self, name: str) -> dict:
        """What extractor ``name`` reads, as plain data (its region as a box): two recordings' readings of an
        extractor can be compared, and reused under new rules, only where the signatures are equal."""
        ex = self.rules.extractors[name]
        sig = json.loads(json.dumps(asdict(ex)))
        sig.pop("name")
        sig["region"] = list(self.rules.regions[ex.region])
        if ex.image:  # the template's content, not its file name
            try:
                sig["image"] = hashlib.sha256(self.resolve(ex.image).read_bytes()).hexdigest()
            except OSError:
                pass
        return sig

    def rule_inputs(self) -> list[str]:
        """The extractors the reward, done and pause rules (and the score) read, in the profile's order."""
        used = set(self.rules.reward) | set(self.rules.rises)
        if self.rules.score:
            used.add(self.rules.score)

        def walk(items) -> None:
            for c in items:
                if isinstance(c, AnyAll):
                    walk(c.items)
                else:
                    used.add(c.extractor)

        walk(self.rules.done_any + self.rules.done_all + self.rules.pause_any + self.rules.pause_all)
        return [n for n in self.rules.extractors if n in used]


BUNDLED_PROFILES = Path(__file__).resolve().parent / "profiles"


def bundled_profiles() -> list[str]:
    """Names of the profiles shipped with hakisa (usable as ``--profile NAME``)."""
    return sorted(x.stem for x in BUNDLED_PROFILES.glob("*.toml"))


def load_profile(path: str | Path) -> Profile:
    """Read and validate a profile file (or a bundled profile by name, e.g. "dodge").

    Raises :class:`ProfileError` naming the bad field, its value and what is allowed.
    """
    p = Path(path)
    if not p.is_file() and (BUNDLED_PROFILES / f"{path}.toml").is_file():
        p = BUNDLED_PROFILES / f"{path}.toml"
    if not p.is_file():
        raise ProfileError(f"profile {str(path)!r} does not exist; give a TOML file or one of the bundled "
                           f"profiles: {', '.join(bundled_profiles())}.")
    try:
        size = p.stat().st_size
        if size > MAX_PROFILE_BYTES:
            raise ProfileError(f"profile {str(path)!r} is {size} bytes; a profile is a short TOML file (at most "
                               f"{MAX_PROFILE_BYTES} bytes). Check that --profile names the right file.")
        raw = p.read_bytes()
    except OSError as exc:
        raise ProfileError(f"profile {str(path)!r} cannot be read ({exc.strerror or exc}).") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProfileError(f"profile {str(path)!r} is not UTF-8 text (byte {raw[exc.start]:#04x} at offset "
                           f"{exc.start}); save it as UTF-8.") from None
    return parse_profile(text, source=str(path), base_dir=str(p.resolve().parent))


def parse_profile(text: str, source: str = "<string>", base_dir: str | None = None) -> Profile:
    """Validate profile TOML text and build a :class:`Profile`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{source}: not valid TOML ({exc}). Fix the syntax and try again.") from None
    except RecursionError:
        raise ProfileError(f"{source}: nested too deeply to be a profile.") from None
    v = _Validator(source)
    v.only(data, "", {"game", "window", "capture", "actions", "rules", "safety", "reset", "feedback", "pause"})
    game = v.table(data, "game", required=True)
    v.only(game, "game", {"name", "description"})
    name = v.string(game, "game.name", required=True, pattern=r"^[A-Za-z0-9_.-]+$",
                    allowed="letters, digits, '_', '.', '-'")
    v.string(game, "game.description")

    win = v.table(data, "window", required=True)
    v.only(win, "window", {"title", "class", "process"})
    window = WindowSpec(
        title=v.regex(win, "window.title", required=True),
        window_class=v.regex(win, "window.class"),
        process=v.string(win, "window.process"),
    )

    cap = v.table(data, "capture")
    v.only(cap, "capture", {"region", "tick_hz", "frame_width", "frame_height", "color", "observe"})
    region = cap.get("region")
    if region is not None:
        if (not isinstance(region, list) or len(region) != 4
                or not all(isinstance(n, int) and not isinstance(n, bool) for n in region)
                or region[0] < 0 or region[1] < 0 or region[2] <= 0 or region[3] <= 0):
            v.fail("capture.region", region, "four integers [x, y, width, height] with x, y >= 0 and width, height > 0")
        region = tuple(region)
    capture = CaptureSpec(
        region=region,
        tick_hz=v.number(cap, "capture.tick_hz", default=20.0, lo=1.0, hi=MAX_TICK_HZ),
        frame_width=int(v.number(cap, "capture.frame_width", default=84, lo=16, hi=1024, integer=True)),
        frame_height=int(v.number(cap, "capture.frame_height", default=84, lo=16, hi=1024, integer=True)),
        color=v.choice(cap, "capture.color", COLOR_MODES, default="gray"),
        observe=_fraction_box(v, cap.get("observe"), "capture.observe") if "observe" in cap else None,
    )

    act = v.table(data, "actions", required=True)
    v.only(act, "actions", {"keys", "mouse", "mouse_grid"})
    keys_raw = act.get("keys", [])
    if not isinstance(keys_raw, list) or not all(isinstance(k, str) for k in keys_raw):
        v.fail("actions.keys", keys_raw, 'a list of key names or chords such as ["left", "space", "left+space"]')
    chords: list[tuple[str, ...]] = []
    for entry in keys_raw:
        chord = []
        for part in _chord_parts(entry):
            canon = normalize_key(part)
            if canon is None:
                v.fail("actions.keys", entry, f"known key names joined by '+'; {part!r} is not a key "
                       f"(known: {', '.join(KEY_NAMES[:40])}, ...)")
            chord.append(canon)
        t = tuple(sorted(set(chord)))
        if t in chords:
            v.fail("actions.keys", entry, "each key or chord listed once")
        chords.append(t)
    mouse = v.choice(act, "actions.mouse", MOUSE_MODES, default="none")
    grid_raw = act.get("mouse_grid", [32, 18])
    grid: tuple[int, int] | None
    if grid_raw == "full":
        grid = None
    elif (isinstance(grid_raw, list) and len(grid_raw) == 2
          and all(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 4096 for n in grid_raw)):
        grid = (grid_raw[0], grid_raw[1])
    else:
        v.fail("actions.mouse_grid", grid_raw, '[columns, rows] with 1..4096 each, or "full" for pixel resolution')
    if not chords and mouse == "none":
        v.fail("actions", act, 'at least one entry in actions.keys or actions.mouse = "absolute"')
    actions = ActionSpec(keys=tuple(chords), mouse=mouse, mouse_grid=grid)

    rules = _parse_rules(v, v.table(data, "rules"))

    saf = v.table(data, "safety")
    v.only(saf, "safety", {"kill_switch", "max_apm", "allow_system_keys"})
    kill_canon = v.key(saf, "safety.kill_switch", "f12", forbidden=actions.key_set)
    max_apm = float(v.number(saf, "safety.max_apm", 0, 0, 100_000))

    rs = v.table(data, "reset")
    v.only(rs, "reset", {"keys", "clicks", "wait", "retry", "timeout", "steps"})
    rkeys, rclicks = _parse_presses(v, rs, "reset", kill_canon, "enter")
    raw_steps = rs.get("steps", [])
    if not isinstance(raw_steps, list) or not all(isinstance(t, dict) for t in raw_steps):
        v.fail("reset.steps", raw_steps, "[[reset.steps]] tables, each with keys, clicks and/or until")
    if raw_steps and (rkeys or rclicks):
        v.fail("reset.keys", rs.get("keys") or rs.get("clicks"), "no keys or clicks beside [[reset.steps]]: put them "
               "in a step of their own")
    steps, step_keys = [], []
    for i, t in enumerate(raw_steps):
        where = f"reset.steps[{i}]"
        v.only(t, where, {"keys", "clicks", "until", "timeout"})
        keys, clicks = _parse_presses(v, t, where, kill_canon, "enter")
        until = None
        if "until" in t:
            until = _parse_conditions(v, [t["until"]], f"{where}.until", rules.extractors)[0]
        if not (keys or clicks or until):
            v.fail(where, t, "keys, clicks or until (a condition the screen must show first)")
        steps.append(ResetStep(keys, clicks, until, float(v.number(t, f"{where}.timeout", 10.0, 0.1, 3600))))
        step_keys += t.get("keys", [])
    reset = ResetSpec(keys=rkeys, clicks=rclicks, wait=float(v.number(rs, "reset.wait", 1.0, 0, 600)),
                      retry=float(v.number(rs, "reset.retry", 3.0, 0.1, 600)),
                      timeout=float(v.number(rs, "reset.timeout", 30.0, 0.1, 3600)), steps=tuple(steps))
    ps = v.table(data, "pause")
    v.only(ps, "pause", {"keys", "clicks", "wait", "retry", "timeout", "on_focus_loss"})
    pkeys, pclicks = _parse_presses(v, ps, "pause", kill_canon, "p")
    pause = PauseSpec(keys=pkeys, clicks=pclicks, wait=float(v.number(ps, "pause.wait", 0.5, 0, 600)),
                      retry=float(v.number(ps, "pause.retry", 2.0, 0.1, 600)),
                      timeout=float(v.number(ps, "pause.timeout", 60.0, 0.1, 3600)),
                      on_focus_loss=v.choice(ps, "pause.on_focus_loss", ("end", "keep"), default="end"))
    if rules.has_pause and not (pause.keys or pause.clicks):
        raise ProfileError(f"{source}: [rules.pause] says when the game is paused, but [pause] has no keys or "
                           'clicks that unpause it; add e.g. [pause] keys = ["p"] (or clicks = [[0.5, 0.6]]).')
    allowed = _check_system_keys(v, saf, keys_raw, actions, {"reset.keys": rs.get("keys", []) + step_keys,
                                                             "pause.keys": ps.get("keys", [])})
    safety = SafetySpec(kill_switch=kill_canon, max_apm=max_apm, allow_system_keys=allowed)

    fb = v.table(data, "feedback")
    v.only(fb, "feedback", {"good", "bad", "value", "window", "delay", "chat"})
    taken = actions.key_set | {kill_canon}
    good = v.key(fb, "feedback.good", "f9", forbidden=taken)
    bad = v.key(fb, "feedback.bad", "f10", forbidden=taken | {good})
    feedback = FeedbackSpec(good=good, bad=bad, value=float(v.number(fb, "feedback.value", 1.0, 0, 1e6)),
                            window=float(v.number(fb, "feedback.window", 2.0, 0.01, 60)),
                            delay=float(v.number(fb, "feedback.delay", 0.3, 0, 10)), chat=_chat(v, fb))
    return Profile(name=name, window=window, capture=capture, actions=actions, rules=rules,
                   safety=safety, text=text, source=source, reset=reset, feedback=feedback, base_dir=base_dir,
                   pause=pause)



def _chord_parts(text: str) -> list[str]:
    """The key names of a chord such as "left+space" (a lone "+" is the key itself)."""
    return [s.strip() for s in text.split("+")] if text.strip() != "+" else ["+"]


def _parse_chord(text: str) -> tuple[str, ...] | None:
    """A chord as sorted canonical names (as in ActionSpec.keys), or None if a part is not a key."""
    canon = [normalize_key(part) for part in _chord_parts(text)]
    if any(c is None for c in canon):
        return None
    return tuple(sorted({c for c in canon if c is not None}))


def _parse_presses(v: "_Validator", table: dict, where: str, kill: str, example: str
                   ) -> tuple[tuple[str, ...], tuple[tuple[float, float], ...]]:
    """A sequence's keys (tapped in order) and clicks ([x, y] fractions of the captured area)."""
    keys = table.get("keys", [])
    if not isinstance(keys, list) or not all(isinstance(k, str) and normalize_key(k) for k in keys):
        v.fail(f"{where}.keys", keys, f'a list of key names tapped in order, e.g. ["{example}"]')
    clicks = table.get("clicks", [])
    if not isinstance(clicks, list) or not all(
            isinstance(c, list) and len(c) == 2 and all(isinstance(n, (int, float)) and not isinstance(n, bool)
                                                         and 0 <= n <= 1 for n in c) for c in clicks):
        v.fail(f"{where}.clicks", clicks, "a list of [x, y] fractions of the captured area (0..1), clicked in order")
    canon = tuple(normalize_key(k) for k in keys)
    if kill in canon:
        v.fail(f"{where}.keys", keys, f"keys other than the kill switch ({kill})")
    return canon, tuple((float(x), float(y)) for x, y in clicks)


def _chat(v: "_Validator", fb: dict) -> ChatSpec:
    """[feedback.chat]: phrases, delay, window and the crowd's limits."""
    ch = v.table(fb, "feedback.chat")
    v.only(ch, "feedback.chat", {"good", "bad", "value", "delay", "window", "rate", "cap", "weights"})
    d = ChatSpec()
    from hakisa.crowd.votes import words  # how messages are read: a phrase must be made of such words

    def phrases(key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        raw = ch.get(key, list(default))
        if (not isinstance(raw, list) or not raw or len(raw) > 100
                or not all(isinstance(p, str) and words(p) and len(p) <= 100 for p in raw)):
            v.fail(f"feedback.chat.{key}", raw, 'a list of 1-100 phrases of letters or digits, e.g. ["good bot", "PogChamp"]')
        return tuple(raw)

    good, bad = phrases("good", d.good), phrases("bad", d.bad)
    both = {"".join(words(p)) for p in good} & {"".join(words(p)) for p in bad}
    if both:
        v.fail("feedback.chat.bad", list(bad), f"phrases that are not also good ones ({', '.join(sorted(both))})")
    w = v.table(ch, "feedback.chat.weights")
    for name, weight in w.items():
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not 0 <= weight <= 100:
            v.fail(f"feedback.chat.weights.{name}", weight, "a weight from 0 (ignored) to 100")
    return ChatSpec(good=good, bad=bad, value=float(v.number(ch, "feedback.chat.value", d.value, 0, 1e6)),
                    delay=float(v.number(ch, "feedback.chat.delay", d.delay, 0, 120)),
                    window=float(v.number(ch, "feedback.chat.window", d.window, 0.05, 60)),
                    rate=int(v.number(ch, "feedback.chat.rate", d.rate, 1, 600, integer=True)),
                    cap=float(v.number(ch, "feedback.chat.cap", d.cap, 0, 1e6)),
                    weights=tuple(sorted((str(k).lower(), float(x)) for k, x in w.items())))


def _check_system_keys(v: "_Validator", saf: dict, keys_raw: list[str], actions: ActionSpec,
                       tapped: dict[str, list[str]]) -> tuple[tuple[str, ...], ...]:
    """Refuse desktop chords (alt+f4, ctrl+alt+..., super, ...) unless ``[safety] allow_system_keys`` names them.

    Only what is held at one time can form a chord, so each actions.keys entry is checked on its own and
    each reset key alone: the injector releases the keys of one action before it presses the next
    action's (``Injector.hold_only``), every exit from an episode releases everything before the reset
    sequence, and that sequence taps its keys one after another.  So a profile that lists ``alt`` and
    ``f4`` as two separate actions is fine: they are never held together.  Returns the opt-ins.
    """
    raw = saf.get("allow_system_keys", [])
    if not isinstance(raw, list) or not all(isinstance(k, str) for k in raw):
        v.fail("safety.allow_system_keys", raw, 'a list of chords from actions.keys or reset.keys, e.g. ["ctrl+w"]')
    taps = {f: [(normalize_key(k),) for k in raw_keys] for f, raw_keys in tapped.items()}
    used = set(actions.keys) | {chord for chords in taps.values() for chord in chords}
    allowed: list[tuple[str, ...]] = []
    for entry in raw:
        chord = _parse_chord(entry)
        if chord is None:
            v.fail("safety.allow_system_keys", entry, "known key names joined by '+', as in actions.keys")
        if chord not in used:
            v.fail("safety.allow_system_keys", entry, "a chord listed in actions.keys or a key listed in "
                   "reset.keys or pause.keys (an opt-in for a key the profile never sends is a mistake)")
        if system_chord_reason(chord) is None:
            v.fail("safety.allow_system_keys", entry, "a system chord that needs an opt-in; this one is "
                   "allowed anyway, remove it from the list")
        if chord in allowed:
            v.fail("safety.allow_system_keys", entry, "each chord listed once")
        allowed.append(chord)
    for fieldname, chords in (("actions.keys", zip(actions.keys, keys_raw)),
                              *((f, zip(taps[f], tapped[f])) for f in tapped)):
        for chord, text in chords:
            reason = system_chord_reason(chord)
            if reason is not None and chord not in allowed:
                name = "+".join(chord)
                v.fail(fieldname, text, f"keys and chords that do not act on the desktop ({reason}); if the game "
                       f'really needs it, opt in with [safety] allow_system_keys = ["{name}"]')
    return tuple(allowed)


def _fraction_box(v: "_Validator", box, where: str) -> tuple[float, float, float, float]:
    if (not isinstance(box, list) or len(box) != 4
            or not all(isinstance(n, (int, float)) and not isinstance(n, bool) for n in box)
            or box[0] < 0 or box[1] < 0 or box[2] <= 0 or box[3] <= 0
            or box[0] + box[2] > 1.0 + 1e-9 or box[1] + box[3] > 1.0 + 1e-9):
        v.fail(where, box, "[x, y, width, height] as fractions of the captured area (0..1, inside it)")
    return tuple(float(n) for n in box)


def _parse_rules(v: "_Validator", rules: dict) -> RulesSpec:
    v.only(rules, "rules", {"regions", "extractors", "reward", "done", "pause", "score", "rises", "reward_clip"})
    regions: dict[str, tuple[float, float, float, float]] = {}
    for rname, box in v.table(rules, "regions").items():
        regions[rname] = _fraction_box(v, box, f"rules.regions.{rname}")
    extractors: dict[str, Extractor] = {}
    for ename, spec in v.table(rules, "extractors").items():
        where = f"rules.extractors.{ename}"
        if not isinstance(spec, dict):
            v.fail(where, spec, "a table with kind and region (and what the kind needs)")
        kind = v.choice(spec, f"{where}.kind", EXTRACTOR_KINDS, required=True)
        allowed = {"kind", "region", "tolerance"} | {
            "color": {"color"}, "bar": {"color", "axis"}, "digits": {"color", "glyphs"},
            "count": {"color", "min_size"}, "image": {"image"}, "stuck": set()}[kind]
        v.only(spec, where, allowed)
        region = v.string(spec, f"{where}.region", required=True)
        if region not in regions:
            v.fail(f"{where}.region", region, f"a region named in [rules.regions] ({', '.join(regions) or 'none defined'})")
        colors: tuple[tuple[int, int, int], ...] = ()
        if kind in ("color", "bar", "digits", "count"):
            color = spec.get("color")
            many = color if isinstance(color, list) and color and all(isinstance(c, list) for c in color) else [color]
            if not all(isinstance(c, list) and len(c) == 3 and all(isinstance(x, int) and not isinstance(x, bool)
                                                                    and 0 <= x <= 255 for x in c) for c in many):
                v.fail(f"{where}.color", color, "[r, g, b] with integers 0..255, or a list of such colours "
                       "([[r, g, b], [r, g, b]]: a pixel near any of them counts)")
            colors = tuple(tuple(c) for c in many)
        glyphs: tuple[tuple[str, str], ...] = ()
        if kind == "digits":
            raw = spec.get("glyphs", {})
            bitmap = re.compile(rf"^([01]{{{GLYPH_W}}}/){{{GLYPH_H - 1}}}[01]{{{GLYPH_W}}}$")
            if not isinstance(raw, dict) or not all(
                    isinstance(d, str) and len(d) == 1 and d.isdigit() and isinstance(b, str) and bitmap.match(b)
                    for d, b in raw.items()):
                v.fail(f"{where}.glyphs", raw, f"a table digit -> {GLYPH_W}x{GLYPH_H} bitmap (rows of 0/1 joined "
                       "by '/'); make it with `hakisa regions --learn NAME=VALUE` on a screenshot")
            glyphs = tuple(sorted(raw.items()))
        image = None
        if kind == "image":
            image = v.string(spec, f"{where}.image", required=True)
        default_tol = {"stuck": 8}.get(kind, 30)
        extractors[ename] = Extractor(
            name=ename, kind=kind, region=region, color=colors[0] if colors else None, colors=colors,
            tolerance=int(v.number(spec, f"{where}.tolerance", default=default_tol, lo=0, hi=255, integer=True)),
            axis=v.choice(spec, f"{where}.axis", ("x", "y"), default="x"), glyphs=glyphs, image=image,
            min_size=int(v.number(spec, f"{where}.min_size", default=4, lo=1, hi=1_000_000, integer=True)),
        )
    reward: dict[str, float] = {}
    for ename, weight in v.table(rules, "reward").items():
        if ename not in extractors:
            v.fail(f"rules.reward.{ename}", ename, f"an extractor named in [rules.extractors] ({', '.join(extractors) or 'none defined'})")
        if not isinstance(weight, (int, float)) or isinstance(weight, bool):
            v.fail(f"rules.reward.{ename}", weight, "a number: the weight of this extractor's change")
        reward[ename] = float(weight)
    done = v.table(rules, "done")
    v.only(done, "rules.done", {"any", "all"})
    parsed = {key: _parse_conditions(v, done.get(key, []), f"rules.done.{key}", extractors) for key in ("any", "all")}
    pause = v.table(rules, "pause")
    v.only(pause, "rules.pause", {"any", "all"})
    paused = {key: _parse_conditions(v, pause.get(key, []), f"rules.pause.{key}", extractors) for key in ("any", "all")}
    score = v.string(rules, "rules.score")
    if score is not None and score not in extractors:
        v.fail("rules.score", score, f"an extractor named in [rules.extractors] ({', '.join(extractors) or 'none defined'})")
    rises = rules.get("rises", [])
    if not isinstance(rises, list) or not all(isinstance(n, str) and n in rules.get("reward", {}) for n in rises):
        v.fail("rules.rises", rises, "a list of extractors weighted in [rules.reward] whose drops earn nothing "
               'within an episode, e.g. ["score"]')
    clip = v.number(rules, "rules.reward_clip", default=0.0, lo=0.0, hi=1e9)
    return RulesSpec(regions=regions, extractors=extractors, reward=reward,
                     done_any=parsed["any"], done_all=parsed["all"], pause_any=paused["any"], pause_all=paused["all"],
                     score=score, rises=tuple(rises),
                     reward_clip=float(clip))


def _parse_conditions(v: "_Validator", conds, where: str, extractors: dict, depth: int = 0) -> tuple:
    """A list of conditions ("lives <= 0") and nested tests ({ all = [...] } or { any = [...] })."""
    if not isinstance(conds, list):
        v.fail(where, conds, 'a list of conditions such as ["game_over >= 0.5"]')
    out = []
    for item in conds:
        if isinstance(item, dict):
            if len(item) != 1 or next(iter(item)) not in ("any", "all") or depth >= 4:
                v.fail(where, item, "a nested test: a table with one key, any or all, holding a list of conditions "
                       '(e.g. { all = ["dark >= 0.6", "icon >= 0.8"] }), at most 4 levels deep')
            mode, inner = next(iter(item.items()))
            items = _parse_conditions(v, inner, f"{where}.{mode}", extractors, depth + 1)
            if not items:
                v.fail(f"{where}.{mode}", inner, "at least one condition")
            out.append(AnyAll(mode, items))
            continue
        m = _CONDITION_RE.match(item) if isinstance(item, str) else None
        if not m:
            v.fail(where, item, f"'EXTRACTOR OP NUMBER' with OP one of {' '.join(CONDITION_OPS)}, or a nested "
                   "{ any = [...] } / { all = [...] }")
        if m.group(1) not in extractors:
            v.fail(where, item, f"a condition on an extractor named in [rules.extractors] ({', '.join(extractors) or 'none defined'})")
        out.append(Condition(extractor=m.group(1), op=m.group(2), value=float(m.group(3)), text=item.strip()))
    return tuple(out)


class _Validator:
    """Small helpers that raise ProfileError with the field, the value and what is allowed."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, fieldname: str, value: Any, allowed: str) -> None:
        raise ProfileError(f"{self.source}: field '{fieldname}' has value {value!r}; expected {allowed}.")

    def only(self, table: dict, where: str, allowed: set[str]) -> None:
        for key in table:
            if key not in allowed:
                name = f"{where}.{key}" if where else key
                raise ProfileError(f"{self.source}: unknown field '{name}'; "
                                   f"allowed here: {', '.join(sorted(allowed))}.")

    def table(self, data: dict, key: str, required: bool = False) -> dict:
        leaf = key.rsplit(".", 1)[-1]
        if leaf not in data:
            if required:
                raise ProfileError(f"{self.source}: missing section [{key}].")
            return {}
        val = data[leaf]
        if not isinstance(val, dict):
            self.fail(key, val, "a table")
        return val

    def string(self, data: dict, key: str, required: bool = False, pattern: str | None = None,
               allowed: str = "") -> str | None:
        leaf = key.rsplit(".", 1)[-1]
        if leaf not in data:
            if required:
                raise ProfileError(f"{self.source}: missing field '{key}'.")
            return None
        val = data[leaf]
        if not isinstance(val, str) or not val:
            self.fail(key, val, "a non-empty string")
        if pattern and not re.match(pattern, val):
            self.fail(key, val, allowed or f"a string matching {pattern}")
        return val

    def regex(self, data: dict, key: str, required: bool = False) -> str | None:
        """A regular expression matched against outside text: RE2 syntax, capped (see hakisa.patterns)."""
        val = self.string(data, key, required)
        if val is not None:
            problem = pattern_problem(val)
            if problem is not None:
                self.fail(key, val, problem)
        return val

    def number(self, data: dict, key: str, default: float, lo: float, hi: float, integer: bool = False) -> float:
        leaf = key.rsplit(".", 1)[-1]
        val = data.get(leaf, default)
        ok = isinstance(val, (int, float)) and not isinstance(val, bool) and lo <= val <= hi
        if integer and not isinstance(val, int):
            ok = False
        if not ok:
            self.fail(key, val, f"{'an integer' if integer else 'a number'} from {lo:g} to {hi:g}")
        return val

    def key(self, data: dict, key: str, default: str, forbidden: frozenset[str] | set[str] = frozenset()) -> str:
        """One key name (canonical), not one of ``forbidden`` (keys with another job)."""
        raw = self.string(data, key) or default
        canon = normalize_key(raw)
        if canon is None:
            self.fail(key, raw, "one key name, e.g. \"f12\" or \"pause\"")
        if canon in forbidden:
            self.fail(key, raw, f"a key with no other job (not one of {', '.join(sorted(forbidden))})")
        return canon

    def choice(self, data: dict, key: str, options: tuple[str, ...], default: str | None = None,
               required: bool = False) -> str:
        leaf = key.rsplit(".", 1)[-1]
        if leaf not in data:
            if required:
                raise ProfileError(f"{self.source}: missing field '{key}' (one of {', '.join(options)}).")
            return default
        val = data[leaf]
        if val not in options:
            self.fail(key, val, f"one of {', '.join(repr(o) for o in options)}")
        return val
