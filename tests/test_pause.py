"""A game that pauses (a pause screen, or by itself when it loses focus) is not a game over: with [rules.pause]
the agent loop sends nothing while the pause shows, taps [pause]'s keys to unpause, records no step meanwhile and
goes on with the same episode; [pause] on_focus_loss says whether losing focus cuts the episode. On the bundled
dodge game (pausable, as many real games are), read from its real renders."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from hakisa.act.loop import Schedule  # noqa: E402
from hakisa.data.dataset import DatasetReader  # noqa: E402
from hakisa.errors import ProfileError  # noqa: E402
from hakisa.games.source import HeadlessFrameSource  # noqa: E402
from hakisa.profile import load_profile, parse_profile  # noqa: E402
from hakisa.screen.rules import RuleEngine  # noqa: E402

from test_loop import make_loop  # noqa: E402

PAUSE_RULES = '''
[rules.extractors.paused]          # the band across a paused game
kind = "color"
region = "middle"
color = [240, 190, 40]
tolerance = 30
[rules.pause]
any = ["paused >= 0.5"]
[pause]
keys = ["p"]
wait = 0.5
retry = 2.0
on_focus_loss = "{focus}"
'''


def pausing_dodge(focus: str = "keep"):
    text = load_profile("dodge").text.replace("[rules.regions]", "[rules.regions]\nmiddle = [0.0, 0.44, 1.0, 0.12]")
    return parse_profile(text + PAUSE_RULES.format(focus=focus))


class PausingSource(HeadlessFrameSource):
    """Headless dodge that is pausable; it pauses itself at grab ``pause_at``, and loses focus for grabs in
    ``unfocused`` (pausing itself then, as the window does). Counts the grabs that showed the pause."""

    pause_at: int | None = None
    unfocused: range = range(0)

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.game.pausable = True
        self.grabs = 0
        self.paused_grabs = 0
        self.game_overs = 0
        self._was_over = False

    def focused(self) -> bool:
        if self.grabs in self.unfocused:
            self.game.paused = True
            self.grabs += 1  # time passes while another window has the keyboard (the loop may ask twice a tick)
            return False
        return True

    def grab(self, rect):
        if self.grabs == self.pause_at:
            self.game.paused = True
        self.grabs += 1
        frame = super().grab(rect)
        self.paused_grabs += self.game.paused
        self.game_overs += self.game.game_over and not self._was_over
        self._was_over = self.game.game_over
        return frame


def test_the_pause_band_is_read_only_on_paused_frames():
    from hakisa.games import make_game

    eng = RuleEngine(pausing_dodge(), "rgb")
    for size in ((320, 180), (640, 360), (1280, 720)):
        game = make_game("dodge", size=size)
        game.pausable = True
        assert not eng.paused(eng.extract(game.render()))
        game.paused = True
        v = eng.extract(game.render())
        assert eng.paused(v) and not eng.done(v)  # dimmed, but not the game-over screen


def test_a_pause_is_waited_out_and_unpaused_and_the_episode_goes_on(tmp_path):
    class Source(PausingSource):
        pause_at = 40

    loop, act, writer, game = make_loop(tmp_path, profile=pausing_dodge(), schedule=Schedule(1.0, 1.0, 1),
                                        source_cls=Source, max_steps=150)
    stats = loop.run()
    writer.close()
    src = loop.source
    assert stats.pauses == 1 and stats.game_paused_ticks == src.paused_grabs
    assert 10 <= src.paused_grabs <= 12  # wait 0.5 s (10 ticks at 20 Hz), then P, then play again
    assert not game.paused
    # every episode that ended was a real game over; the pause cut none
    ended = [e.status for e in stats.episodes]
    assert ended.count("terminated") == src.game_overs
    with DatasetReader(tmp_path / "play.h5") as r:
        steps = sum(r.info(n).n_steps for n in r.episode_names())
    assert steps == stats.actions - len(stats.episodes)  # no step for a paused tick (each episode's last action
    # has no outcome yet)


@pytest.mark.parametrize("focus", ["keep", "end"])
def test_losing_focus_keeps_or_ends_the_episode_as_the_profile_says(tmp_path, focus):
    class Source(PausingSource):
        unfocused = range(30, 50)

    loop, act, writer, game = make_loop(tmp_path, profile=pausing_dodge(focus), schedule=Schedule(1.0, 1.0, 1),
                                        source_cls=Source, max_steps=100)
    stats = loop.run()
    writer.close()
    assert stats.paused_ticks >= 10 and stats.pauses == 1 and not game.paused  # unpaused once focus was back
    truncated_early = [e for e in stats.episodes[:-1] if e.status == "truncated"]
    assert len(truncated_early) == (1 if focus == "end" else 0)


def test_a_pause_rule_needs_a_way_to_unpause():
    text = pausing_dodge().text.replace('keys = ["p"]\n', "")
    with pytest.raises(ProfileError, match=r"\[pause\] has no keys or clicks"):
        parse_profile(text)
    with pytest.raises(ProfileError, match="'pause.on_focus_loss'"):
        parse_profile(pausing_dodge().text.replace('on_focus_loss = "keep"', 'on_focus_loss = "wait"'))
    with pytest.raises(ProfileError, match="'pause.keys'"):
        parse_profile(pausing_dodge().text.replace('keys = ["p"]', 'keys = ["f12"]'))  # the kill switch


def test_the_gym_env_waits_out_a_pause_inside_the_step():
    from hakisa.act.env import HakisaEnv
    from hakisa.codec import KEY
    from hakisa.games import make_game
    from hakisa.games.source import GameActuator
    from hakisa.record.recorder import VirtualClock

    game = make_game("dodge", size=(320, 180))
    game.pausable = True
    act = GameActuator()
    env = HakisaEnv(pausing_dodge(), HeadlessFrameSource(game, act, 3), act, clock=VirtualClock())
    env.reset()
    right = env.codec.chord_for(frozenset({"right"}))
    env.step([KEY, right, 0])
    game.paused = True
    frame_before = game.frame
    _, reward, terminated, truncated, _ = env.step([KEY, right, 0])
    assert not game.paused and not terminated and not truncated  # unpaused with P inside the step
    assert game.frame - frame_before >= 3 * 10  # it waited [pause] wait (0.5 s = 10 ticks) first
    env.close()


def test_the_recorder_stores_no_step_while_the_game_is_paused_and_keeps_the_episode(tmp_path):
    from hakisa.games import make_game
    from hakisa.games.base import GameInput
    from hakisa.games.policy import DemoPolicy
    from hakisa.games.source import PolicyPlayer, record_headless
    from hakisa.record.recorder import VirtualClock

    game = make_game("dodge", seed=3, size=(320, 180))
    game.pausable = True
    clock = VirtualClock()
    seen = {"frames": 0}

    def factory(tracker):
        player = PolicyPlayer(game, DemoPolicy("dodge", seed=3), tracker, clock)

        def frame_input():
            seen["frames"] += 1
            f = seen["frames"]
            if f == 300:
                game.paused = True  # the game pauses itself (a dialog, focus elsewhere)
            if f == 600:  # the person presses P, 5 s later
                return GameInput(game._prev_held | {"p"}, None, ())
            return player()

        return frame_input

    stats = record_headless(game, pausing_dodge(), tmp_path / "rec.h5", 20, factory, 3, clock)
    assert not game.paused and 95 <= stats.paused <= 105  # 5 s at 20 Hz not stored
    with DatasetReader(tmp_path / "rec.h5") as r:
        statuses = [r.info(n).status for n in r.episode_names()]
    assert statuses.count("terminated") == game.episode  # episodes end at real game overs only
