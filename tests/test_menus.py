"""Games with menus, as real games have them: a "CONTINUE?" dialog at game over (Y/N or a click on a button), a
title screen, and a score display that resets late after a continue. The profile's [[reset.steps]] click through
them and wait for a screen to appear, no episode starts on a menu, and ``rises`` keeps the late score reset from
becoming a penalty. On the bundled dodge game with ``menus`` on, read from its real renders by the agent loop."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from hakisa.act.loop import Schedule  # noqa: E402
from hakisa.data.dataset import DatasetReader  # noqa: E402
from hakisa.errors import ProfileError  # noqa: E402
from hakisa.games import make_game  # noqa: E402
from hakisa.games.base import DIALOG_BG, NO_BOX, STALE_SCORE_FRAMES, TITLE_BG, YES_BOX, GameInput  # noqa: E402
from hakisa.games.source import HeadlessFrameSource  # noqa: E402
from hakisa.profile import load_profile, parse_profile  # noqa: E402

from test_loop import make_loop  # noqa: E402


def centre(box) -> tuple[float, float]:
    """A button's centre as fractions of the window (the profile's click coordinates)."""
    x, y, w, h = box
    return round((x + w / 2) / 320, 4), round((y + h / 2) / 180, 4)


def menus_dodge(reset: str, rises: bool = True):
    """dodge's profile for the game with menus: done is the dialog; the title screen has an extractor."""
    text = load_profile("dodge").text
    text = text.replace('any = ["game_over >= 0.5"]', 'any = ["dialog >= 0.2"]')
    head, _, tail = text.partition("[reset]")
    tail = tail.split("\n[", 1)[1]  # drop the old [reset] table
    if rises:
        text = text.replace('score = "score"                   # reported', 'rises = ["score"]\nscore = "score"  #')
        head = text.partition("[reset]")[0]
    return parse_profile(head + f'''
[rules.extractors.dialog]
kind = "color"
region = "playfield"
color = {list(DIALOG_BG)}
tolerance = 10
[rules.extractors.title]
kind = "color"
region = "playfield"
color = {list(TITLE_BG)}
tolerance = 10
''' + reset + "\n[" + tail)


CLICK_YES = f'''[reset]
wait = 0.6
[[reset.steps]]
clicks = [[{centre(YES_BOX)[0]}, {centre(YES_BOX)[1]}]]
'''
NO_THEN_TITLE = f'''[reset]
wait = 0.6
[[reset.steps]]
clicks = [[{centre(NO_BOX)[0]}, {centre(NO_BOX)[1]}]]
[[reset.steps]]
until = "title >= 0.5"
keys = ["enter"]
timeout = 5
'''


class MenuSource(HeadlessFrameSource):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.game.menus = True
        self.game_overs = 0
        self._was = False

    def grab(self, rect):
        frame = super().grab(rect)
        self.game_overs += self.game.game_over and not self._was
        self._was = self.game.game_over
        return frame


def test_the_dialog_the_title_and_the_late_score_reset():
    game = make_game("dodge", size=(320, 180))
    game.menus = True
    game.score, game.lives = 70, 0
    game.step()
    assert game.game_over and game.screen == "continue"
    for _ in range(40):
        game.step()
    game.step(GameInput(frozenset({"y"})))
    assert not game.game_over and game.score == 0 and game.episode == 1
    shown = [game.state()["screen"]]
    for _ in range(STALE_SCORE_FRAMES - 2):  # the HUD still says 70 (the stale display the profile must survive)
        game.step()
    assert game._stale is not None and game._stale[0] == 70
    game.step()
    game.step()
    assert game._stale is None
    game.lives = 0
    game.step()
    for _ in range(40):
        game.step()
    game.step(GameInput(frozenset({"n"})))
    assert game.screen == "title" and game.game_over
    game.step(GameInput(frozenset({"enter"})))
    assert not game.game_over and game.episode == 2 and shown == ["play"]


@pytest.mark.parametrize("rises", [True, False])
def test_clicking_continue_starts_each_game_and_rises_keeps_the_stale_score_from_costing(tmp_path, rises):
    loop, act, writer, game = make_loop(tmp_path, profile=menus_dodge(CLICK_YES, rises), schedule=Schedule(1.0, 1, 1),
                                        source_cls=MenuSource, max_episodes=3, max_steps=20000)
    stats = loop.run()
    writer.close()
    assert [e.status for e in stats.episodes] == ["terminated"] * 3 and loop.source.game_overs == 3
    with DatasetReader(tmp_path / "play.h5") as r:
        rewards = np.concatenate([r.load(n, frames=False)["rewards"] for n in r.episode_names()])
    if rises:  # never more than a life's worth of loss (-1) in one step...
        assert rewards.min() >= -1.01
    else:  # ...unless the old score's disappearance from the HUD counts: what `rises` is for
        assert rewards.min() < -1.5


def test_a_sequence_waits_for_the_title_screen_and_no_episode_starts_on_a_menu(tmp_path):
    loop, act, writer, game = make_loop(tmp_path, profile=menus_dodge(NO_THEN_TITLE), schedule=Schedule(1.0, 1, 1),
                                        source_cls=MenuSource, max_episodes=3, max_steps=20000)
    stats = loop.run()
    writer.close()
    assert [e.status for e in stats.episodes] == ["terminated"] * 3 and game.episode >= 2
    title_grey = 0.299 * TITLE_BG[0] + 0.587 * TITLE_BG[1] + 0.114 * TITLE_BG[2]
    with DatasetReader(tmp_path / "play.h5") as r:
        for n in r.episode_names():
            first = r.load(n)["observations"][0]
            assert np.median(first) < title_grey / 2  # play, not the title screen


def test_malformed_reset_steps_are_refused():
    with pytest.raises(ProfileError, match=r"'reset.steps\[0\]'.*keys, clicks or until"):
        menus_dodge("[reset]\n[[reset.steps]]\ntimeout = 3\n")
    with pytest.raises(ProfileError, match=r"'reset.steps\[0\].until'"):
        menus_dodge('[reset]\n[[reset.steps]]\nuntil = "nothing > 1"\n')
    with pytest.raises(ProfileError, match="'reset.keys'.*a step of their own"):
        menus_dodge('[reset]\nkeys = ["enter"]\n[[reset.steps]]\nkeys = ["y"]\n')


def test_a_step_waiting_for_a_screen_that_never_comes_stops_with_the_step_named(tmp_path):
    never = NO_THEN_TITLE.replace('until = "title >= 0.5"', 'until = "title >= 2"')  # a share is never 2
    loop, act, writer, game = make_loop(tmp_path, profile=menus_dodge(never), schedule=Schedule(1.0, 1, 1),
                                        source_cls=MenuSource, max_steps=20000)
    with pytest.raises(RuntimeError, match="reset step 2 waited 5 s for title >= 2"):
        loop.run()
    writer.close()
    assert game.screen == "title" and act.held == frozenset()  # where it was left, nothing held
