import os
import subprocess
import sys
import time

import pytest

from hakisa.errors import ProfileError
from hakisa.keys import SYSTEM_CHORDS, system_chord_reason
from hakisa.patterns import MAX_PATTERN_CHARS, MAX_SUBJECT_CHARS
from hakisa.profile import WindowSpec, bundled_profiles, load_profile, parse_profile

from conftest import ROOT, hakisa_cmd, profile_text


def test_bundled_profiles_load_and_hash_their_text():
    names = bundled_profiles()
    assert {"dodge", "clicker"} <= set(names)
    for name in names:
        p = load_profile(name)
        assert p.name == name
        assert len(p.sha256) == 64
        assert p.capture.tick_hz == 20
    assert load_profile("dodge").actions.keys[3] == ("left", "space")
    assert load_profile("clicker").actions.mouse == "absolute"


def test_defaults_fill_optional_fields():
    p = parse_profile('[game]\nname = "g"\n[window]\ntitle = "G"\n[actions]\nkeys = ["Return", "ctrl+a"]\n')
    assert p.capture.tick_hz == 20 and p.capture.frame_shape == (84, 84, 1)
    assert p.actions.keys == (("enter",), ("a", "ctrl"))
    assert p.safety.kill_switch == "f12"
    assert not p.rules.has_done


@pytest.mark.parametrize("change, field, hint", [
    (("tick_hz = 20", "tick_hz = 240"), "capture.tick_hz", "from 1 to 60"),
    (("tick_hz = 20", 'tick_hz = "fast"'), "capture.tick_hz", "number"),
    (('mouse = "none"', 'mouse = "relative"'), "actions.mouse", "'none', 'absolute'"),
    (('"left+space"', '"left+spcae"'), "actions.keys", "'spcae' is not a key"),
    (('kill_switch = "f12"', 'kill_switch = "left"'), "safety.kill_switch", "no other job"),
    (("frame_width = 64", "frame_width = 8"), "capture.frame_width", "from 16 to 1024"),
    (('title = "^T$"', 'title = "(unclosed"'), "window.title", "regular expression"),
    (("[capture]", "[capture]\ncolour = 1"), "capture.colour", "allowed here"),
])
def test_bad_fields_are_named_with_value_and_what_is_allowed(change, field, hint):
    text = profile_text("T").replace(*change)
    with pytest.raises(ProfileError) as err:
        parse_profile(text, source="bad.toml")
    msg = str(err.value)
    assert field in msg and hint in msg and "bad.toml" in msg


def test_rules_must_name_existing_regions_and_extractors():
    base = profile_text("T", done=True)
    with pytest.raises(ProfileError, match="rules.extractors.game_over.region.*playfield"):
        parse_profile(base.replace('region = "playfield"', 'region = "hud"'))
    with pytest.raises(ProfileError, match="rules.done.any"):
        parse_profile(base.replace('"game_over >= 0.5"', '"score >= 5"'))
    with pytest.raises(ProfileError, match="rules.done.any"):
        parse_profile(base.replace('"game_over >= 0.5"', '"game_over ~ 5"'))
    with pytest.raises(ProfileError, match="fractions"):
        parse_profile(base.replace("[0.0, 0.2, 1.0, 0.6]", "[0, 0, 640, 360]"))


def test_malformed_toml_and_missing_file():
    with pytest.raises(ProfileError, match="not valid TOML"):
        parse_profile("[game\nname=")
    with pytest.raises(ProfileError, match="missing section \\[window\\]"):
        parse_profile('[game]\nname = "g"\n[actions]\nkeys = ["a"]\n')
    with pytest.raises(ProfileError, match="does not exist.*dodge"):
        load_profile("no/such/profile.toml")


# ----- system chords ---------------------------------------------------------------------------------

SYSTEM_KEYS = ["alt+f4", "Alt+F4", "ctrl+alt+backspace", "ctrl+alt+f1", "ctrl+alt+delete", "alt+ctrl", "super",
               "meta", "cmd+left", "alt+tab", "alt+esc", "alt+space", "alt+f2", "alt+print_screen", "ctrl+w",
               "ctrl+shift+w", "ctrl+q", "ctrl+t", "ctrl+n", "ctrl+c", "ctrl+d", "ctrl+z", "ctrl+esc", "ctrl+tab",
               "ctrl+backslash", "menu", "print_screen", "caps_lock", "left+ctrl+w"]
SAFE_KEYS = ["alt", "ctrl", "shift", "f4", "pause", "esc", "tab", "alt+enter", "ctrl+s", "shift+tab", "left+space"]


def with_keys(actions: str = '"left", "right"', reset: str | None = None, allow: str | None = None) -> str:
    text = profile_text("T", keys=f"[{actions}]")
    if allow is not None:
        text = text.replace('kill_switch = "f12"', f'kill_switch = "f12"\nallow_system_keys = [{allow}]')
    if reset is not None:
        text += f"\n[reset]\nkeys = [{reset}]\n"
    return text


def canonical(chord: str) -> str:
    from hakisa.profile import _parse_chord

    return "+".join(_parse_chord(chord))


def test_the_system_chord_table():
    for chord in SYSTEM_KEYS:
        assert system_chord_reason(canonical(chord).split("+")), chord
    for chord in SAFE_KEYS:
        assert system_chord_reason(canonical(chord).split("+")) is None, chord
    assert "closes the focused window" in system_chord_reason(["alt", "f4"])
    assert all(reason for _, reason in SYSTEM_CHORDS)


@pytest.mark.parametrize("chord", SYSTEM_KEYS)
def test_a_system_chord_in_actions_is_refused_with_the_opt_in(chord):
    with pytest.raises(ProfileError) as err:
        parse_profile(with_keys(f'"left", "{chord}"'), source="bad.toml")
    msg = str(err.value)
    assert "bad.toml" in msg and "'actions.keys'" in msg and repr(chord) in msg, msg
    assert f'allow_system_keys = ["{canonical(chord)}"]' in msg, msg
    p = parse_profile(with_keys(f'"left", "{chord}"', allow=f'"{chord}"'))
    assert p.safety.allow_system_keys == (tuple(canonical(chord).split("+")),)


@pytest.mark.parametrize("key", [k for k in SYSTEM_KEYS if "+" not in k])
def test_a_system_key_in_reset_is_refused_with_the_opt_in(key):
    with pytest.raises(ProfileError) as err:
        parse_profile(with_keys(reset=f'"enter", "{key}"'), source="bad.toml")
    msg = str(err.value)
    assert "'reset.keys'" in msg and repr(key) in msg and f'allow_system_keys = ["{canonical(key)}"]' in msg, msg
    p = parse_profile(with_keys(reset=f'"enter", "{key}"', allow=f'"{canonical(key)}"'))
    assert p.reset.keys == ("enter", canonical(key))


def test_keys_held_at_different_times_are_not_a_chord():
    p = parse_profile(with_keys('"alt", "f4", "ctrl", "w", "alt+enter"', reset='"alt", "f4"'))
    assert p.actions.keys == (("alt",), ("f4",), ("ctrl",), ("w",), ("alt", "enter"))
    assert p.safety.allow_system_keys == ()


def test_the_opt_in_is_matched_after_canonicalisation():
    p = parse_profile(with_keys('"left", "Alt+F4", "Control_L+W"', allow='"f4+alt", "w+ctrl"'))
    assert p.safety.allow_system_keys == (("alt", "f4"), ("ctrl", "w"))


@pytest.mark.parametrize("allow, hint", [
    ('"ctrl+w"', "listed in actions.keys or a key listed in reset.keys"),  # not used by the profile
    ('"alt"', "listed in actions.keys"),  # only part of a chord that is used
    ('"left"', "allowed anyway"),  # used, but not a system chord
    ('"ctrl+wat"', "known key names"),
    ('"alt+f4", "f4+alt"', "listed once"),
])
def test_an_opt_in_that_names_no_used_system_chord_is_refused(allow, hint):
    with pytest.raises(ProfileError) as err:
        parse_profile(with_keys('"left", "alt+f4"', allow=allow), source="bad.toml")
    msg = str(err.value)
    assert "'safety.allow_system_keys'" in msg and hint in msg, msg


def test_the_opt_in_must_be_a_list_of_strings():
    for bad in ('"ctrl+w"', "[1]", "{}"):
        text = with_keys('"left"').replace('kill_switch = "f12"', f'kill_switch = "f12"\nallow_system_keys = {bad}')
        with pytest.raises(ProfileError, match="safety.allow_system_keys.*a list of chords"):
            parse_profile(text)


# ----- window patterns -------------------------------------------------------------------------------

def window(title: str, wm_class: str = ""):
    from hakisa.live.x11 import WindowInfo

    return WindowInfo(1, title, wm_class, None, True)


def test_a_catastrophic_title_pattern_cannot_hang_matching():
    from hakisa.live.x11 import matches

    spec = parse_profile(profile_text("T").replace('title = "^T$"', 'title = "^(a+)+$"')).window
    t0 = time.perf_counter()
    # with Python's backtracking re, ^(a+)+$ on 24 a's and a '!' takes a second, and twice as long per 'a'
    assert not matches(window("a" * 5000 + "!"), spec)
    assert not matches(window("a" * 1000 + "!"), spec)  # inside the searched prefix: the engine itself
    assert not matches(window("T", "a" * 1000 + "!"), WindowSpec(title="T", window_class="^(a+)+$"))
    assert matches(window("a" * 1000), spec)
    assert time.perf_counter() - t0 < 1.0


def test_only_the_start_of_a_long_title_is_searched():
    from hakisa.live.x11 import matches

    assert matches(window("x" * (MAX_SUBJECT_CHARS - 4) + "Game"), WindowSpec(title="Game$"))
    assert not matches(window("x" * MAX_SUBJECT_CHARS + "Game"), WindowSpec(title="Game"))
    assert not matches(window("a" * (MAX_SUBJECT_CHARS + 1)), WindowSpec(title="^a+$"))  # $ is not at the cut
    assert matches(window("a" * (MAX_SUBJECT_CHARS + 1)), WindowSpec(title="^a+"))


@pytest.mark.parametrize("pattern, hint", [
    ("(?=x)dodge", "RE2 syntax"),
    ("(a)\\\\1", "RE2 syntax"),
    ("(a{1000}){1000}", "repetition"),
    ("a" * (MAX_PATTERN_CHARS + 1), f"at most {MAX_PATTERN_CHARS} characters"),
])
def test_unusable_window_patterns_are_refused_at_load(pattern, hint):
    for field in ("title", "class"):
        text = profile_text("T").replace('title = "^T$"', f'title = "^T$"\n{field} = "{pattern}"'
                                         if field == "class" else f'title = "{pattern}"')
        with pytest.raises(ProfileError) as err:
            parse_profile(text, source="bad.toml")
        assert f"'window.{field}'" in str(err.value) and hint in str(err.value), str(err.value)


def test_a_pattern_that_skipped_validation_is_a_clear_error_when_matched():
    from hakisa.live.x11 import matches

    with pytest.raises(ProfileError, match=r"\[window\] title /\(\?=x\)/.*RE2"):
        matches(window("x"), WindowSpec(title="(?=x)"))


# ----- a real window: a refused profile touches nothing ----------------------------------------------

# Prints every key event the X server delivers (injected ones included) until its stdin closes.  In a
# process of its own: a pynput listener thread only ends at the next key event, which would be a lie here.
KEY_WATCHER = """
import os, sys
from pynput import keyboard
listener = keyboard.Listener(on_press=lambda k, *a: print("press", k, flush=True),
                             on_release=lambda k, *a: print("release", k, flush=True))
listener.start()
listener.wait()
print("ready", flush=True)
sys.stdin.read()
os._exit(0)
"""


def tap_shift() -> None:
    from Xlib import X, XK, display
    from Xlib.ext import xtest

    d = display.Display()
    try:
        code = d.keysym_to_keycode(XK.string_to_keysym("Shift_L"))
        xtest.fake_input(d, X.KeyPress, code)
        xtest.fake_input(d, X.KeyRelease, code)
        d.sync()
    finally:
        d.close()


@pytest.mark.display
def test_record_with_alt_f4_is_refused_and_the_window_gets_no_key(game_window, tmp_path):
    from Xlib import display

    g = game_window("dodge")
    g.window.focus()
    prof = tmp_path / "p.toml"
    prof.write_text(profile_text(g.title, keys='["left", "right", "alt+f4"]'))
    out = tmp_path / "r.h5"
    env = dict(os.environ, HAKISA_LOG_DIR=str(tmp_path / "logs"), PYTHONPATH=str(ROOT))
    watcher = subprocess.Popen([sys.executable, "-c", KEY_WATCHER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True, env=env)
    try:
        assert watcher.stdout.readline().strip() == "ready"
        r = subprocess.run(hakisa_cmd("record", "--profile", str(prof), "--out", str(out), "--seconds", "2"),
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        time.sleep(0.3)  # let any late event arrive
        tap_shift()  # the watcher's first line must be this probe: nothing came before it
        first = watcher.stdout.readline().strip()
    finally:
        rest, _ = watcher.communicate(timeout=10)  # closes its stdin: it exits
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    line = lines[0]
    assert line.startswith("hakisa record: error: "), line
    assert "'actions.keys'" in line and "'alt+f4'" in line and 'allow_system_keys = ["alt+f4"]' in line, line
    assert not list(tmp_path.glob("r*")), "nothing may be left behind"
    assert not list((tmp_path / "logs").glob("*")), "a clear refusal, not an internal error"
    assert first == "press Key.shift", f"the display delivered keys before the probe: {first} {rest}"
    d = display.Display()
    try:
        assert not any(d.query_keymap()), "no key may be down"
    finally:
        d.close()
    assert g.proc.poll() is None and g.window.alive(), "the game window must still be open"
