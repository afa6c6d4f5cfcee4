"""The record loop on a headless bundled game: episodes, labels, flags, rates (no display needed)."""

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from hakisa.codec import KEY, ActionCodec
from hakisa.data.dataset import DatasetReader
from hakisa.games import GameInput, make_game
from hakisa.games.policy import DemoPolicy
from hakisa.games.source import PolicyPlayer, record_headless
from hakisa.data.inspect import summarize
from hakisa.profile import parse_profile

from conftest import profile_text


def run(tmp_path, profile, game, input_fn, seconds, frames_per_grab=1):
    path = tmp_path / "rec.h5"
    stats = record_headless(game, profile, path, seconds, lambda tracker: (lambda: input_fn(tracker)),
                            frames_per_grab)
    return stats, path


def test_game_over_terminates_and_stop_truncates(tmp_path):
    """Nobody plays: dodge ends by itself (terminated); the restart starts a new episode."""
    profile = parse_profile(profile_text("x", hz=60, done=True))
    game = make_game("dodge", seed=3, size=(320, 180))
    # 20 game frames per tick: several games end and auto-restart within a few seconds
    stats, path = run(tmp_path, profile, game, lambda t: GameInput(), seconds=4, frames_per_grab=20)
    with DatasetReader(path) as r:
        infos = [r.info(n) for n in r.episode_names()]
        assert len(infos) >= 2
        assert all(i.status == "terminated" for i in infos[:-1])
        for n, info in zip(r.episode_names(), infos):
            ep = r.load(n)
            # the stop may land mid-game (truncated) or on the game-over screen (last one terminated)
            ended = ep["terminations"] if info.status == "terminated" else ep["truncations"]
            other = ep["truncations"] if info.status == "terminated" else ep["terminations"]
            assert ended[-1] and ended.sum() == 1 and not other.any()
            assert len(ep["observations"]) == len(ep["command_type"]) + 1
    assert stats.terminated == sum(i.status == "terminated" for i in infos) >= 1
    assert stats.ticks > 100


def test_human_input_is_labelled_with_the_held_chord(tmp_path):
    """The demo policy's wanted keys are fed into the tracker as events; labels must follow them."""
    profile = parse_profile(profile_text("x", hz=60))
    game = make_game("dodge", seed=1, size=(320, 180))
    policy = DemoPolicy("dodge", seed=1)

    players = {}

    def input_fn(tracker):
        player = players.setdefault("p", PolicyPlayer(game, policy, tracker))
        return player()

    stats, path = run(tmp_path, profile, game, input_fn, seconds=3)
    codec = ActionCodec(profile.actions, game.size)
    with DatasetReader(path) as r:
        ep = r.load("ep_000000", frames=False)
    from hakisa.data.dataset import mask_names

    keys = ep["command_type"] == KEY
    assert keys.mean() > 0.3  # the demonstrator holds keys most of the time
    # each action is the chord held at the end of its tick (no taps at this rate)
    for i in range(len(ep["command_type"])):
        held_next = frozenset(mask_names(ep["held_keys"][i + 1])) & codec.key_set
        expect = codec.chord_for(held_next)
        if expect is None:
            assert ep["command_type"][i] in (0, KEY)
        else:
            assert ep["command_type"][i] == KEY and ep["action_1"][i] == expect
    s = summarize(str(path))
    assert s.steps == len(ep["command_type"]) and s.command_hist[KEY] == keys.sum()
