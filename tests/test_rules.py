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
