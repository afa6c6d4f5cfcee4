"""Rules can change after recording: a bundled game recorded under one done rule is read, trained on and
consolidated under another, with rewards and episode ends that match the game's own log; the pure
relabelling of one episode; and the clear refusals when the data cannot stand for the new rules."""

from __future__ import annotations

import json
import math
import os
import subprocess

import h5py
import numpy as np
import pytest

from hakisa.data.dataset import DatasetReader
from hakisa.data.relabel import preview, relabel_episode, relabel_steps
from hakisa.data.transitions import load_transitions
from hakisa.errors import DatasetError
from hakisa.profile import BUNDLED_PROFILES, parse_profile
from hakisa.screen.rules import RuleLogic

from conftest import ROOT, hakisa_cmd

DODGE_TEXT = (BUNDLED_PROFILES / "dodge.toml").read_text()
DODGE = parse_profile(DODGE_TEXT, source="dodge.toml", base_dir=str(BUNDLED_PROFILES))
# The first try at a done rule: the game-over share must reach 2, which it never does, so every game over,
# its screen and the restart are recorded as play in one long episode.
NEVER_TEXT = DODGE_TEXT.replace('any = ["game_over >= 0.5"]', 'any = ["game_over >= 2"]')
assert NEVER_TEXT != DODGE_TEXT


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """Two minutes of dodge played by the scripted demonstrator, recorded under the never-firing done rule;
    the game's own state at every grab is kept as the log to check against."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    from hakisa.games import make_game
    from hakisa.games.policy import DemoPolicy
    from hakisa.games.source import HeadlessFrameSource, PolicyPlayer, record_headless
    from hakisa.record.recorder import VirtualClock

    d = tmp_path_factory.mktemp("relabel")
    (d / "never.toml").write_text(NEVER_TEXT)
    never = parse_profile(NEVER_TEXT, source=str(d / "never.toml"), base_dir=str(BUNDLED_PROFILES))
    game, log = make_game("dodge", seed=5, size=(320, 180)), []
    grab = HeadlessFrameSource.grab

    def logged(self, rect):
        out = grab(self, rect)
        log.append(self.game.state())  # under the virtual clock, grab k is tick k
        return out

    policy = DemoPolicy("dodge", seed=5)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(HeadlessFrameSource, "grab", logged)
        record_headless(game, never, d / "rec.h5", 120, lambda t: PolicyPlayer(game, policy, t), frames_per_grab=3,
                        clock=VirtualClock(), force=True)
    game_overs = sum(1 for a, b in zip(log, log[1:]) if b["game_over"] and not a["game_over"])
    assert game_overs >= 2, "the demonstrator should lose at least twice in two minutes of dodge"
    return d, d / "rec.h5", log, game_overs


def test_recording_stores_every_extractors_reading(recording):
    _, rec, log, _ = recording
    with DatasetReader(rec) as r:
        assert r.extractors == ["game_over", "lives", "score"]
        [name] = r.episode_names()  # the never-firing rule kept it all in one episode
        ep = r.load(name, frames=False)
        assert ep["readings"].shape == (len(ep["rewards"]) + 1, 3)
        assert not ep["terminations"].any()
        lives = ep["readings"][:, 1] * 8.75  # the lit fraction, 8.75 per life
        truth = np.array([log[t]["lives"] for t in ep["tick"]])
        assert np.mean(np.abs(lives - truth) < 0.01) > 0.99


def test_new_done_rule_gives_the_games_own_rewards_and_ends(recording):
    _, rec, log, game_overs = recording
    with DatasetReader(rec) as r:
        name = r.episode_names()[0]
        ep = r.load(name, frames=False)
        rl = relabel_episode(rec, r, name, ep, DODGE)
    tick = ep["tick"]
    assert int(rl.terminated.sum()) == game_overs
    for a, b in rl.segments:
        assert not log[tick[b - 1]]["game_over"]
        if rl.terminated[b - 1]:  # the step into the game-over screen ends the episode
            assert log[tick[b]]["game_over"]
        else:
            assert b == len(rl.keep) and rl.truncated[b - 1]  # the recording stopped mid-game
        assert not log[tick[a]]["game_over"]
        if a:
            assert log[tick[a - 1]]["game_over"]  # the next episode starts once the game is back
    assert not rl.keep[[i for i in range(len(rl.keep)) if log[tick[i + 1]]["game_over"]
                        and not rl.terminated[i]]].any()  # game-over screens are not play
    kept = np.flatnonzero(rl.keep)
    expected = [0.1 * (log[tick[i + 1]]["score"] - log[tick[i]]["score"])
                - (log[tick[i]]["lives"] - log[tick[i + 1]]["lives"]) for i in kept]
    np.testing.assert_allclose(rl.rewards[kept], expected, atol=1e-3)
    assert (rl.rewards[rl.terminated] < 0).all()  # each game over costs the last life


def test_the_recording_rules_give_back_what_was_recorded(recording):
    _, rec, _, _ = recording
    never = parse_profile(NEVER_TEXT, base_dir=str(BUNDLED_PROFILES))
    with DatasetReader(rec) as r:
        name = r.episode_names()[0]
        ep = r.load(name, frames=False)
        rl = relabel_steps(RuleLogic(never.rules), [dict(zip(r.extractors, row)) for row in ep["readings"].tolist()],
                           ep["reward_human"])
    assert rl.keep.all() and rl.segments == [(0, len(ep["rewards"]))]
    np.testing.assert_allclose(rl.rewards, ep["rewards"], atol=1e-5)


def test_study_and_consolidate_train_on_the_recording_under_the_new_rule(recording, tmp_path):
    d, rec, _, game_overs = recording
    T = load_transitions([str(rec)], DODGE)
    assert T.n_episodes == game_overs + 1 and int(T.terminated.sum()) == game_overs
    [report] = T.relabelled
    assert (report.episodes_before, report.episodes_after) == (1, game_overs + 1)
    assert report.terminated_after == game_overs and report.steps_after == len(T)

    study = tmp_path / "study.pt"  # a network studied under the first rule...
    run = subprocess.run(hakisa_cmd("study", "--profile", str(d / "never.toml"), "--data", str(rec), "--out",
                                    str(study), "--steps", "4", "--eval-every", "2", "--batch-size", "8",
                                    "--threads", "1", "--quiet"),
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "rules changed" not in run.stderr
    out = tmp_path / "c.pt"  # ...goes on under the new one, on the same recording
    run = subprocess.run(hakisa_cmd("consolidate", "--profile", "dodge", "--data", str(rec), "--from", str(study),
                                    "--out", str(out), "--updates", "4", "--eval-every", "2", "--batch-size", "8",
                                    "--threads", "1", "--quiet"),
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "the rules changed since rec.h5 was recorded" in run.stderr  # the log says what the new rules did
    assert f"game overs 0 -> {game_overs}" in run.stderr and out.exists()
    again = subprocess.run(hakisa_cmd("study", "--profile", "dodge", "--data", str(rec), "--out",
                                      str(tmp_path / "s2.pt"), "--steps", "2", "--eval-every", "2", "--batch-size",
                                      "8", "--threads", "1", "--quiet"),
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"episodes 1 -> {game_overs + 1}" in again.stderr


def test_relabel_command_previews_each_file(recording):
    d, rec, _, game_overs = recording
    run = subprocess.run(hakisa_cmd("relabel", "--profile", "dodge", str(rec), "--json"), cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    [row] = json.loads(run.stdout)
    assert row["changed"] and row["terminated_before"] == 0 and row["terminated_after"] == game_overs
    same = subprocess.run(hakisa_cmd("relabel", "--profile", str(d / "never.toml"), str(rec)), cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert same.returncode == 0 and "nothing changes" in same.stdout
    assert preview(rec, parse_profile(NEVER_TEXT)) is None


# ----- refusals ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("change, expect", [
    (('color = [230, 40, 60]', 'color = [200, 40, 60]'), "extractor 'lives' read something else"),
    (('score = 0.1 ', 'score = 0.1\ncoins = 1 '), "no readings of extractor 'coins'"),
    (('frame_width = 84', 'frame_width = 64'), "[capture] changed"),
    (('keys = ["left", "right", "space", "left+space", "right+space"]', 'keys = ["left", "right"]'),
     "[actions] changed"),
])
def test_data_that_cannot_stand_for_the_new_rules_is_refused(recording, change, expect):
    _, rec, _, _ = recording
    text = DODGE_TEXT.replace(*change)
    assert text != DODGE_TEXT
    if "coins" in change[1]:
        text = text.replace("[rules.extractors.score]", '[rules.extractors.coins]\nkind = "color"\nregion = "score"\n'
                            'color = [255, 200, 0]\ntolerance = 10\n\n[rules.extractors.score]')
    profile = parse_profile(text, source="changed.toml", base_dir=str(BUNDLED_PROFILES))
    with pytest.raises(DatasetError, match=expect.replace("[", r"\[").replace("]", r"\]")):
        load_transitions([str(rec)], profile)


def test_data_recorded_before_readings_were_stored_is_refused_under_new_rules(recording, tmp_path):
    _, rec, _, _ = recording
    old = tmp_path / "old.h5"
    old.write_bytes(rec.read_bytes())
    with h5py.File(old, "r+") as f:  # what an older hakisa wrote: no readings, no extractors
        del f.attrs["extractors"]
        for g in f["episodes"].values():
            del g["readings"]
    with DatasetReader(old) as r:  # still a sound dataset...
        assert r.extractors == [] and all(r.info(n).status != "broken" for n in r.episode_names())
    assert len(load_transitions([str(old)], parse_profile(NEVER_TEXT)))  # ...under the rules it was recorded with
    with pytest.raises(DatasetError, match="before hakisa stored each frame's extractor readings"):
        load_transitions([str(old)], DODGE)


# ----- one episode, by hand ----------------------------------------------------------------------------------

PAUSING = parse_profile(DODGE_TEXT.replace('[rules.done]', '[rules.pause]\nany = ["score >= 90"]\n\n[rules.done]')
                        + '\n[pause]\nkeys = ["p"]\n')


def values(*rows):
    return [{"game_over": g, "lives": lv / 8.75, "score": s} for g, lv, s in rows]


def test_a_pause_cuts_the_play_and_a_game_over_ends_it():
    # obs: play, play, paused, paused, play, game over, game over, play, play
    v = values((0, 3, 10), (0, 3, 20), (0, 3, 95), (0, 3, 95), (0, 3, 30), (1, 2, 30), (1, 2, 0), (0, 3, 0),
               (0, 3, 10))
    human = np.zeros(len(v) - 1, np.float32)
    human[7] = 0.5  # a watcher's reward stays with its step
    rl = relabel_steps(RuleLogic(PAUSING.rules), v, human)
    assert rl.segments == [(0, 1), (4, 5), (7, 8)]
    assert rl.keep.tolist() == [True, False, False, False, True, False, False, True]
    assert rl.truncated.tolist() == [True, False, False, False, False, False, False, True]
    assert rl.terminated.tolist() == [False, False, False, False, True, False, False, False]
    assert rl.rewards[0] == pytest.approx(1.0)  # +10 score
    assert rl.rewards[4] == pytest.approx(-1.0)  # a life lost on the game-over screen
    assert rl.rewards[7] == pytest.approx(1.5)  # +10 score and the watcher's 0.5


def test_an_episode_that_starts_on_the_game_over_screen_starts_when_play_does():
    v = values((1, 0, 5), (1, 0, 5), (0, 3, 0), (0, 3, 10))
    rl = relabel_steps(RuleLogic(DODGE.rules), v, np.zeros(3, np.float32))
    assert rl.segments == [(2, 3)] and rl.keep.tolist() == [False, False, True]
    assert math.isclose(float(rl.rewards[2]), 1.0, abs_tol=1e-6) and rl.truncated[2]


# ----- what a recording's readings say about the rules ---------------------------------------------------------

def test_regions_over_a_recording_say_which_rule_reads_nothing_useful_and_show_frames(recording, tmp_path):
    d, rec, _, _ = recording
    good = subprocess.run(hakisa_cmd("regions", "--profile", "dodge", "--data", str(rec)), cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert good.returncode == 0, good.stderr
    assert "2401 recorded frames" in good.stdout and "no rule held on most frames" in good.stdout
    always = tmp_path / "always.toml"  # a done rule that holds on every frame
    always.write_text(DODGE_TEXT.replace('any = ["game_over >= 0.5"]', 'any = ["game_over >= 0"]'))
    sheet = tmp_path / "sheet.png"
    bad = subprocess.run(hakisa_cmd("regions", "--profile", str(always), "--data", str(rec), "--out", str(sheet)),
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    assert "the done rule holds on 100% of the frames (e.g. ep_000000 obs 0, ep_000000 obs 1200" in bad.stdout
    from hakisa.screen.regions import load_screenshot

    assert load_screenshot(sheet).shape[1] >= 3 * 168  # three example frames side by side
