"""Screen rules that survive real games, read from the bundled dodge game's real renders: lives counted as items,
several colours per extractor, score drops that earn nothing, a clipped step reward, nested any/all in done; and
malformed rules refused with what is allowed."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from hakisa.errors import ProfileError  # noqa: E402
from hakisa.games import make_game  # noqa: E402
from hakisa.games.base import LIFE_OFF, LIFE_ON  # noqa: E402
from hakisa.profile import AnyAll, load_profile, parse_profile  # noqa: E402
from hakisa.screen.rules import RuleEngine  # noqa: E402

DODGE = load_profile("dodge")
HEAD = '''
[game]
name = "t"
[window]
title = "x"
[actions]
keys = ["left"]
'''


def dodge_rules(rules: str) -> str:
    """dodge's regions and score glyphs with other rules after them."""
    glyphs = "\n".join(f'"{d}" = "{b}"' for d, b in DODGE.rules.extractors["score"].glyphs)
    return HEAD + f'''
[rules.regions]
playfield = [0.0, 0.2, 1.0, 0.6]
lives = [0.875, 0.0, 0.125, 0.078]
score = [0.0, 0.0, 0.45, 0.078]
[rules.extractors.score]
kind = "digits"
region = "score"
color = [255, 255, 255]
tolerance = 40
[rules.extractors.score.glyphs]
{glyphs}
''' + rules


@pytest.mark.parametrize("size", [(320, 180), (640, 360), (1280, 720)])
def test_lives_are_counted_as_items_at_every_window_size(size):
    p = parse_profile(dodge_rules('''
[rules.extractors.lives]
kind = "count"
region = "lives"
color = [230, 40, 60]
tolerance = 24
'''))
    eng = RuleEngine(p, "rgb")
    game = make_game("dodge", size=size)
    for lives in (3, 2, 1, 0):
        game.lives = lives
        assert eng.extract(game.render())["lives"] == lives


def test_an_extractor_with_several_colours_matches_any_of_them():
    """The lit life squares in their own colour or in the unlit one: both count, as a palette fade needs."""
    lit, unlit = list(LIFE_ON), list(LIFE_OFF)
    p = parse_profile(dodge_rules(f'''
[rules.extractors.lit]
kind = "count"
region = "lives"
color = [{lit}]
tolerance = 24
[rules.extractors.either]
kind = "count"
region = "lives"
color = [{lit}, {unlit}]
tolerance = 24
'''))
    eng = RuleEngine(p, "rgb")
    game = make_game("dodge")
    game.lives = 1
    v = eng.extract(game.render())
    assert v["lit"] == 1 and v["either"] == 3
    assert p.rules.extractors["either"].colors == (tuple(lit), tuple(unlit))
    assert p.rules.extractors["lit"].color == tuple(lit)


def test_a_score_reset_earns_nothing_when_the_score_only_rises_and_steps_are_clipped():
    p = parse_profile(dodge_rules('''
[rules]
rises = ["score"]
reward_clip = 2.0
[rules.reward]
score = 0.1
'''))
    eng = RuleEngine(p, "rgb")
    game = make_game("dodge")
    readings = []
    for score in (500, 500, 0, 10, 40, 0, 0, 20):  # a continue: the old score stays, then the display resets
        game.score = score
        readings.append(eng.extract(game.render()))
    rewards = [eng.reward(a, b) for a, b in zip(readings, readings[1:])]
    assert rewards == pytest.approx([0.0, 0.0, 1.0, 2.0, 0.0, 0.0, 2.0])  # 40 -> 0 costs nothing; 3.0 clipped to 2
    plain = RuleEngine(DODGE, "rgb")
    assert plain.reward({"score": 500.0, "lives": 0.5}, {"score": 0.0, "lives": 0.5}) == pytest.approx(-50.0)


def test_done_joins_nested_any_and_all():
    p = parse_profile(dodge_rules('''
[rules.extractors.over]
kind = "color"
region = "playfield"
color = [96, 0, 0]
tolerance = 12
[rules.done]
any = ["over >= 0.9", { all = ["score >= 100", { any = ["score == 120", "score == 130"] }] }]
'''))
    eng = RuleEngine(p, "rgb")
    assert isinstance(p.rules.done_any[1], AnyAll) and p.rules.done_any[1].text.startswith("all(score >= 100")
    cases = {(0.0, 50.0): False, (0.95, 50.0): True, (0.0, 120.0): True, (0.0, 125.0): False, (0.0, 130.0): True}
    for (over, score), want in cases.items():
        assert eng.done({"over": over, "score": score}) is want, (over, score)


@pytest.mark.parametrize("rules, field, hint", [
    ('[rules.extractors.x]\nkind = "count"\nregion = "lives"\ncolor = [[1, 2], [3, 4, 5]]', "rules.extractors.x.color",
     "list of such colours"),
    ('[rules.extractors.x]\nkind = "count"\nregion = "lives"\ncolor = [1, 2, 3]\nmin_size = 0',
     "rules.extractors.x.min_size", "from 1"),
    ('[rules]\nrises = ["lives"]', "rules.rises", "weighted in [rules.reward]"),
    ('[rules]\nreward_clip = -1', "rules.reward_clip", ""),
    ('[rules.done]\nany = [{ some = ["score > 1"] }]', "rules.done.any", "one key, any or all"),
    ('[rules.done]\nany = [{ all = [] }]', "rules.done.any.all", "at least one condition"),
    ('[rules.done]\nany = [{ all = ["nothing > 1"] }]', "rules.done.any.all", "extractor named"),
])
def test_malformed_rules_are_refused_with_what_is_allowed(rules, field, hint):
    with pytest.raises(ProfileError, match=f"'{field}'") as e:
        parse_profile(dodge_rules(rules))
    assert hint in str(e.value)


def test_the_bundled_profiles_read_as_before():
    """One colour written as [r, g, b] still reads as one colour; the bundled games' lives and score are unchanged."""
    eng = RuleEngine(DODGE, "rgb")
    game = make_game("dodge")
    game.score, game.lives = 120, 2
    v = eng.extract(game.render())
    assert v["score"] == 120 and round(v["lives"] * 8.75) == 2
    assert DODGE.rules.rises == () and DODGE.rules.reward_clip == 0.0
    assert np.isclose(eng.reward({"score": 120.0, "lives": 0.5}, {"score": 0.0, "lives": 0.5}), -12.0)


def no_glyphs_profile(tmp_path, color="[255, 255, 255]"):
    """dodge's profile without its score glyphs (and the score in ``color``), written next to its screenshots."""
    text = DODGE.text.split("[rules.extractors.score.glyphs]")[0]
    rest = DODGE.text.split("[rules.extractors.score.glyphs]")[1].split("[rules.reward]", 1)[1]
    text = (text + "[rules.reward]" + rest).replace('color = [255, 255, 255]', f"color = {color}")
    path = tmp_path / "g.toml"
    path.write_text(text)
    return path


def shot(tmp_path, score: int) -> str:
    import cv2

    game = make_game("dodge", size=(640, 360))
    game.score = score
    path = tmp_path / f"s{score}.png"
    cv2.imwrite(str(path), cv2.cvtColor(game.render(), cv2.COLOR_RGB2BGR))
    return str(path)


def test_digits_learnt_from_several_screenshots_merge_and_read_every_number(tmp_path):
    import subprocess

    from conftest import hakisa_cmd

    from hakisa.screen.regions import learn_glyphs, load_screenshot, read_with

    prof = no_glyphs_profile(tmp_path)
    shots = {120: shot(tmp_path, 120), 34567: shot(tmp_path, 34567), 890: shot(tmp_path, 890)}
    r = subprocess.run(hakisa_cmd("regions", "--profile", str(prof), "--screenshot", shots[120],
                                  "--learn", "score=120", "--learn", f"score=34567@{shots[34567]}",
                                  "--learn", f"score=890@{shots[890]}"), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "score: 10 glyphs (0123456789)" in r.stdout and r.stdout.count("(ok)") == 3
    assert "MISREAD" not in r.stdout and "#" in r.stdout  # the glyphs are drawn
    # the same merge in code, then numbers none of the screenshots showed
    profile = load_profile(str(prof))
    glyphs: dict = {}
    for value, path in shots.items():
        glyphs = learn_glyphs(profile, load_screenshot(path), "score", str(value), glyphs)
    for score in (905132, 7, 4096):
        assert read_with(profile, load_screenshot(shot(tmp_path, score)), "score", glyphs) == score


def test_learning_digits_from_a_solid_block_is_refused_with_what_to_do(tmp_path):
    from hakisa.errors import HakisaError
    from hakisa.games.base import HUD_BG
    from hakisa.screen.regions import learn_glyphs, load_screenshot

    profile = load_profile(str(no_glyphs_profile(tmp_path, color=str(list(HUD_BG)))))  # the HUD's background
    with pytest.raises(HakisaError, match="solid block.*Shrink the region"):
        learn_glyphs(profile, load_screenshot(shot(tmp_path, 5)), "score", "5")


def test_the_agent_can_see_a_tight_view_while_the_rules_read_the_whole_capture(tmp_path):
    from hakisa.preprocess import observation, preprocess_frame

    text = DODGE.text.replace("color = \"gray\"", "color = \"gray\"\nobserve = [0.0, 0.2, 1.0, 0.6]")
    p = parse_profile(text)
    assert p.capture.observe == (0.0, 0.2, 1.0, 0.6)
    game = make_game("dodge", size=(640, 360))
    game.score = 340
    raw = game.render()
    obs = observation(raw, p.capture)
    assert obs.shape == (84, 84, 1)
    assert np.array_equal(obs, preprocess_frame(raw[72:288], 84, 84, "gray"))  # the playfield only, no HUD
    assert not np.array_equal(obs, observation(raw, DODGE.capture))
    assert RuleEngine(p, "rgb").extract(raw)["score"] == 340  # the score, outside the view, still read
    with pytest.raises(ProfileError, match="'capture.observe'"):
        parse_profile(DODGE.text.replace("color = \"gray\"", "color = \"gray\"\nobserve = [0.5, 0, 0.7, 1]"))


def test_diagnostics_say_which_rules_read_nothing_useful_over_many_frames(tmp_path):
    from hakisa.screen.regions import diagnose

    frames = []
    game = make_game("dodge", size=(640, 360))
    for score, lives in ((0, 3), (10, 3), (40, 2), (90, 1)):
        game.score, game.lives = score, lives
        frames.append(game.render())
    game.lives, game.game_over = 0, True
    frames.append(game.render())
    report, warnings = diagnose(DODGE, frames)
    assert "5 frames" in report and "done holds on 20% of the frames" in report
    assert warnings == []  # score, lives and game over all change; done holds on the game-over frame only
    wrong = parse_profile(DODGE.text.replace("color = [255, 255, 255]", "color = [0, 255, 0]"))  # digits' colour
    _, warnings = diagnose(wrong, frames[:4])
    assert any(w.startswith("score: unreadable on 100%") for w in warnings)
    assert any(w.startswith("game_over: always 0") for w in warnings)  # no game over among these frames
    full = parse_profile(DODGE.text.replace("color = [96, 0, 0]", "color = [28, 28, 44]").replace(
        'playfield = [0.0, 0.2, 1.0, 0.6]', 'playfield = [0.0, 0.0, 1.0, 0.06]'))  # the HUD's own background
    _, warnings = diagnose(full, frames[:4])
    assert any("fills its region" in w or "done rule holds" in w for w in warnings)


@pytest.mark.display
def test_watching_a_real_window_reports_what_reads_nothing(game_window):
    import subprocess

    from conftest import hakisa_cmd

    game_window("dodge", title="hakisa: dodge")  # nobody plays: the score stays 0 and no game ends
    r = subprocess.run(hakisa_cmd("regions", "--profile", "dodge", "--watch", "1.5"), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    frames = int(r.stdout.split("watched the window for 1.5 s: ")[1].split()[0])
    assert frames >= 15  # 20 Hz, on a loaded machine a few fewer
    assert "warning: score: always 0" in r.stdout and "warning: game_over: always 0" in r.stdout
