"""Canonical key names shared by every part of hakisa.

Profiles, datasets, the recorder, the injector and the bundled games all speak
of keys by these lower-case names ("a", "7", "space", "left", "f12", ...).
A dataset stores held keys as a bitmask over :data:`KEY_NAMES`, so the order of
this table is part of the dataset format: append new names, never reorder.
"""

from __future__ import annotations

import string
from collections.abc import Iterable

_LETTERS = list(string.ascii_lowercase)
_DIGITS = list(string.digits)
_FUNCTION = [f"f{i}" for i in range(1, 25)]
_NAMED = [
    "space", "enter", "esc", "tab", "backspace",
    "left", "right", "up", "down",
    "shift", "ctrl", "alt", "cmd", "caps_lock",
    "insert", "delete", "home", "end", "page_up", "page_down",
    "minus", "equal", "comma", "period", "slash", "semicolon", "quote",
    "bracketleft", "bracketright", "backslash", "grave",
    "kp_0", "kp_1", "kp_2", "kp_3", "kp_4", "kp_5", "kp_6", "kp_7", "kp_8", "kp_9",
    "kp_enter", "kp_plus", "kp_minus", "kp_multiply", "kp_divide", "kp_decimal",
    "menu", "pause", "print_screen", "scroll_lock", "num_lock",
]

#: Every key hakisa knows, in dataset bit order.  Index 127 is reserved for keys
#: the table does not name ("unknown"), so unusual keys are never silently lost.
KEY_NAMES: tuple[str, ...] = tuple(_LETTERS + _DIGITS + _FUNCTION + _NAMED)
UNKNOWN_KEY = "unknown"
KEY_TABLE_SIZE = 128  # bits per held-key mask row; names beyond the table map to 127
assert len(KEY_NAMES) < KEY_TABLE_SIZE
KEY_INDEX: dict[str, int] = {name: i for i, name in enumerate(KEY_NAMES)}
KEY_INDEX[UNKNOWN_KEY] = KEY_TABLE_SIZE - 1

# Other spellings (pynput, pygame, X keysyms, people) mapped to canonical names.
_ALIASES = {
    "return": "enter", "escape": "esc", "control": "ctrl", "ctrl_l": "ctrl", "ctrl_r": "ctrl",
    "left ctrl": "ctrl", "right ctrl": "ctrl", "control_l": "ctrl", "control_r": "ctrl",
    "shift_l": "shift", "shift_r": "shift", "left shift": "shift", "right shift": "shift",
    "alt_l": "alt", "alt_r": "alt", "alt_gr": "alt", "left alt": "alt", "right alt": "alt",
    "meta": "cmd", "super": "cmd", "cmd_l": "cmd", "cmd_r": "cmd", "super_l": "cmd", "super_r": "cmd",
    "left meta": "cmd", "right meta": "cmd", "left super": "cmd", "right super": "cmd",
    "caps lock": "caps_lock", "capslock": "caps_lock", "page up": "page_up", "pageup": "page_up",
    "prior": "page_up", "page down": "page_down", "pagedown": "page_down", "next": "page_down",
    "arrow_left": "left", "arrow_right": "right", "arrow_up": "up", "arrow_down": "down",
    "spacebar": "space", " ": "space", "del": "delete", "ins": "insert", "bksp": "backspace",
    "-": "minus", "=": "equal", ",": "comma", ".": "period", "/": "slash", ";": "semicolon",
    "'": "quote", "apostrophe": "quote", "[": "bracketleft", "]": "bracketright",
    "\\": "backslash", "`": "grave", "print screen": "print_screen", "print": "print_screen",
    "scroll lock": "scroll_lock", "numlock": "num_lock", "num lock": "num_lock",
    "[0]": "kp_0", "[1]": "kp_1", "[2]": "kp_2", "[3]": "kp_3", "[4]": "kp_4",
    "[5]": "kp_5", "[6]": "kp_6", "[7]": "kp_7", "[8]": "kp_8", "[9]": "kp_9",
    "[+]": "kp_plus", "[-]": "kp_minus", "[*]": "kp_multiply", "[/]": "kp_divide",
    "[.]": "kp_decimal", "keypad enter": "kp_enter",
    # shifted characters resolve to the key that makes them (US layout)
    "!": "1", "@": "2", "#": "3", "$": "4", "%": "5", "^": "6", "&": "7", "*": "8",
    "(": "9", ")": "0", "_": "minus", "+": "equal", "<": "comma", ">": "period",
    "?": "slash", ":": "semicolon", '"': "quote", "{": "bracketleft", "}": "bracketright",
    "|": "backslash", "~": "grave",
}


def normalize_key(name: str) -> str | None:
    """Return the canonical name for ``name`` (any common spelling), or None if unknown."""
    if not name:
        return None
    if name in KEY_INDEX:
        return name
    low = name.lower()
    if low in KEY_INDEX:
        return low
    low = _ALIASES.get(low, _ALIASES.get(name, low))
    if low in KEY_INDEX:
        return low
    low = low.replace(" ", "_")
    return low if low in KEY_INDEX else None


def key_index(name: str) -> int:
    """Bit index of a canonical key name in the dataset's held-key mask (127 = unknown)."""
    return KEY_INDEX.get(name, KEY_TABLE_SIZE - 1)


def key_name(index: int) -> str:
    """Canonical name for a bit index of the held-key mask."""
    if 0 <= index < len(KEY_NAMES):
        return KEY_NAMES[index]
    return UNKNOWN_KEY


def is_valid_key(name: str) -> bool:
    """True if ``name`` is already a canonical key name."""
    return name in KEY_NAMES


#: X11 keysyms for canonical names, used to inject keys that every X client sees
#: (pynput's plain-character injection is invisible to other processes' listeners).
X_KEYSYMS: dict[str, int] = {
    **{c: ord(c) for c in _LETTERS + _DIGITS},
    **{f"f{i}": 0xFFBE + i - 1 for i in range(1, 25)},
    "space": 0x20, "enter": 0xFF0D, "esc": 0xFF1B, "tab": 0xFF09, "backspace": 0xFF08,
    "left": 0xFF51, "up": 0xFF52, "right": 0xFF53, "down": 0xFF54,
    "shift": 0xFFE1, "ctrl": 0xFFE3, "alt": 0xFFE9, "cmd": 0xFFEB, "caps_lock": 0xFFE5,
    "insert": 0xFF63, "delete": 0xFFFF, "home": 0xFF50, "end": 0xFF57,
    "page_up": 0xFF55, "page_down": 0xFF56,
    "minus": 0x2D, "equal": 0x3D, "comma": 0x2C, "period": 0x2E, "slash": 0x2F,
    "semicolon": 0x3B, "quote": 0x27, "bracketleft": 0x5B, "bracketright": 0x5D,
    "backslash": 0x5C, "grave": 0x60,
    **{f"kp_{i}": 0xFFB0 + i for i in range(10)},
    "kp_enter": 0xFF8D, "kp_plus": 0xFFAB, "kp_minus": 0xFFAD, "kp_multiply": 0xFFAA,
    "kp_divide": 0xFFAF, "kp_decimal": 0xFFAE,
    "menu": 0xFF67, "pause": 0xFF13, "print_screen": 0xFF61, "scroll_lock": 0xFF14,
    "num_lock": 0xFF7F,
}
_KEYSYM_TO_NAME = {v: k for k, v in X_KEYSYMS.items()}
_KEYSYM_TO_NAME.update({ord(c.upper()): c for c in _LETTERS})
_KEYSYM_TO_NAME.update({0xFFE2: "shift", 0xFFE4: "ctrl", 0xFFEA: "alt", 0xFE03: "alt", 0xFFEC: "cmd"})


def name_from_keysym(keysym: int) -> str | None:
    """Canonical name for an X11 keysym, or None."""
    return _KEYSYM_TO_NAME.get(keysym)


# ----- keys and chords that belong to the desktop, not to a game -------------------------------------

_LOCK_KEYS = ("caps_lock", "num_lock", "scroll_lock")
_ALT_FUNCTION = {"f1": "opens the desktop's application menu", "f2": "opens the desktop's run-a-command dialog",
                 "f4": "closes the focused window"}
_ALT_FUNCTION_OTHER = "is a window-manager shortcut (move, resize, maximize, menus)"

#: Why a chord is a system chord: each entry is (keys, reason); a chord that holds *all* of an entry's
#: keys (and maybe more: ``ctrl+shift+w`` holds ``ctrl+w``) is a system chord.  Checked in this order,
#: so the first reason that applies is the one reported.
#:
#: * ``cmd`` (super / meta / the Windows key), alone or in any chord: the desktop's launcher, window
#:   tiling, workspace and lock-screen shortcuts;
#: * ``ctrl+alt`` with anything: switch virtual terminals (``ctrl+alt+f1``), kill the X server
#:   (``ctrl+alt+backspace``), log out or lock (``ctrl+alt+delete``, ``ctrl+alt+l``), open a terminal;
#: * ``alt`` with a function key (``alt+f4`` closes the window, ``alt+f2`` runs a command), ``tab``,
#:   ``grave`` or ``esc`` (switch windows), ``space`` (the window menu) or ``print_screen`` (the
#:   kernel's magic SysRq key);
#: * ``ctrl`` with ``w``, ``q``, ``t``, ``n`` (close, quit, new tab or window), ``tab`` or ``esc``
#:   (switch tabs, the start menu), ``c``, ``d``, ``z``, ``backslash`` or ``pause`` (interrupt, end of
#:   input, suspend, quit or break a program in a terminal); ``shift`` variants included;
#: * lone keys: ``menu`` (a context menu outside the game), ``print_screen`` (the desktop's screenshot
#:   tool takes the focus) and the lock keys ``caps_lock``, ``num_lock``, ``scroll_lock`` (they toggle a
#:   state that stays after hakisa releases every key; ``scroll_lock`` twice switches some KVMs).
#:
#: ``pause`` alone is not refused: it is a common in-game pause key and the desktop gives it no job.
SYSTEM_CHORDS: tuple[tuple[frozenset[str], str], ...] = (
    (frozenset({"cmd"}), "the super/meta key (cmd) drives the desktop's launcher, windows and lock screen"),
    (frozenset({"ctrl", "alt"}), "ctrl+alt chords switch virtual terminals, kill the X server or log out"),
    *((frozenset({"alt", k}), f"alt+{k} {_ALT_FUNCTION.get(k, _ALT_FUNCTION_OTHER)}") for k in _FUNCTION),
    (frozenset({"alt", "tab"}), "alt+tab switches to another window"),
    (frozenset({"alt", "grave"}), "alt+grave switches to another window"),
    (frozenset({"alt", "esc"}), "alt+esc switches to another window"),
    (frozenset({"alt", "space"}), "alt+space opens the window menu"),
    (frozenset({"alt", "print_screen"}), "alt+print_screen is the kernel's magic SysRq key"),
    (frozenset({"ctrl", "w"}), "ctrl+w closes the tab or window"),
    (frozenset({"ctrl", "q"}), "ctrl+q quits the application"),
    (frozenset({"ctrl", "t"}), "ctrl+t opens a new tab"),
    (frozenset({"ctrl", "n"}), "ctrl+n opens a new window"),
    (frozenset({"ctrl", "tab"}), "ctrl+tab switches tabs"),
    (frozenset({"ctrl", "esc"}), "ctrl+esc opens the desktop's start menu"),
    (frozenset({"ctrl", "c"}), "ctrl+c interrupts a program in a terminal"),
    (frozenset({"ctrl", "d"}), "ctrl+d ends the input of a program in a terminal"),
    (frozenset({"ctrl", "z"}), "ctrl+z suspends a program in a terminal"),
    (frozenset({"ctrl", "backslash"}), "ctrl+backslash kills a program in a terminal"),
    (frozenset({"ctrl", "pause"}), "ctrl+pause (break) interrupts a program"),
    (frozenset({"menu"}), "the menu key opens a context menu outside the game"),
    (frozenset({"print_screen"}), "print_screen starts the desktop's screenshot tool, which takes the focus"),
    *((frozenset({k}), f"{k} toggles a keyboard state that stays after hakisa stops") for k in _LOCK_KEYS),
)
assert all(k in KEY_INDEX for keys, _ in SYSTEM_CHORDS for k in keys)


def system_chord_reason(chord: Iterable[str]) -> str | None:
    """Why holding ``chord`` (canonical key names) together would act on the desktop, or None if it is safe.

    See :data:`SYSTEM_CHORDS` for the table.  Keys held at different times never form a chord: a
    profile may list ``alt`` and ``f4`` as two actions, since the injector never holds both at once.
    """
    held = frozenset(chord)
    for keys, reason in SYSTEM_CHORDS:
        if keys <= held:
            return reason
    return None
