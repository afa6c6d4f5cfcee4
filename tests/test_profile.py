import pytest

from hakisa.errors import ProfileError
from hakisa.profile import bundled_profiles, load_profile, parse_profile

from conftest import profile_text


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
    p = parse_profile('[game]\nname = "g"\n[window]\ntitle = "G"\n[actions]\nkeys = ["Return", "ctrl+c"]\n')
    assert p.capture.tick_hz == 20 and p.capture.frame_shape == (84, 84, 1)
    assert p.actions.keys == (("enter",), ("c", "ctrl"))
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
