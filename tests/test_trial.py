"""`hakisa trial`: the ways a clone can be played, scored on the game, and the best one kept in the checkpoint."""

import math
import subprocess

import pytest
import torch

from hakisa.act.agent import Agent
from hakisa.act.trial import Way, WayResult, choose, counted_games, trial_state, ways_of, with_way
from hakisa.errors import HakisaError
from hakisa.learn.checkpoint import load_checkpoint, write_state
from hakisa.learn.study import StudyConfig, study
from hakisa.profile import load_profile

from conftest import ROOT, hakisa_cmd
from test_study import TINY, record_demo


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """A tiny clone of the bundled dodge profile's demonstrator (its rules read dodge's score)."""
    d = tmp_path_factory.mktemp("trial")
    data = record_demo(d / "a.h5", profile=load_profile("dodge"), seconds=20, seed=3)
    out = d / "c.pt"
    study(load_profile("dodge"), [str(data)], str(out), StudyConfig(**TINY), progress=False, log=lambda *a: None)
    return out


def test_a_studied_clone_is_tried_four_ways_its_own_first(clone):
    blob = load_checkpoint(clone)
    ways = ways_of(blob)
    t = blob["state"]["play_temperature"]
    assert t > 0
    assert [(w.temperature, w.offsets) for w in ways] == [(t, "none"), (t, "prior"), (0.0, "none"), (0.0, "prior")]
    assert ways[0].label == f"drawn at T={t:g}" and ways[3].label.startswith("greedy, at the human's rates")
    # a clone with its own offsets (calibrated, or studied with --prior) is also tried without them
    own = ways[1].bias
    blob["state"]["action_bias"] = own
    assert [(w.offsets, w.bias is None) for w in ways_of(blob)][:2] == [("own", False), ("none", True)]
    # a consolidated checkpoint plays greedily with no offsets: one way, nothing to try
    blob["state"] = {"play_temperature": 0.0}
    assert len(ways_of(blob)) == 1


def test_the_best_mean_wins_a_tie_keeps_the_current_way_and_no_score_is_an_error():
    a, b, c = Way(0.1, "none", None), Way(0.0, "none", None), Way(0.0, "prior", {"command": [0.0]})
    assert choose([WayResult(a, [1, 3]), WayResult(b, [2, 2]), WayResult(c, [0, 1])]).way is a
    assert choose([WayResult(a, [1, 1]), WayResult(b, []), WayResult(c, [5])]).way is c
    with pytest.raises(HakisaError, match="no way of playing finished an episode"):
        choose([WayResult(a, []), WayResult(b, [])])
    # a profile that reads only lives: every game over sums to -3; however long they lived, the current way stays
    lives_only = [WayResult(a, [-3, -3], [20, 30]), WayResult(b, [-3, -3], [40, 44]), WayResult(c, [-3], [41])]
    assert choose(lives_only).way is a
    assert choose([WayResult(a, [-2, -3], [5, 5]), WayResult(b, [-3, -3], [60, 60])]).way is a  # reward first
    state = trial_state({"play_temperature": 0.1, "step": 3}, [WayResult(a, [1]), WayResult(c, [5])],
                        WayResult(c, [5]), "score")
    assert state["play_temperature"] == 0.0 and state["action_bias"] == {"command": [0.0]} and state["step"] == 3
    assert state["trial"]["before"] == {"play_temperature": 0.1, "action_bias": None}
    assert [w["mean"] for w in state["trial"]["ways"]] == [1.0, 5.0] and math.isnan(state["trial"]["ways"][0]["se"])


def test_a_game_the_time_limit_cut_short_counts_only_where_its_measure_so_far_is_a_fair_bound():
    from hakisa.act.loop import EpisodeResult, LoopStats

    def session(games, reason="time limit reached"):  # (score, reward, status) per game
        st = LoopStats()
        st.episodes = [EpisodeResult(i + 1, 100, 5.0, r, 0, sc, s, 0.0) for i, (sc, r, s) in enumerate(games)]
        st.stop_reason = reason
        return st

    def numbers(st, measure):
        return [e.number for e in counted_games(st, measure)]

    whole = [(100.0, -3.0, "terminated"), (200.0, -3.0, "terminated")]
    # a score only grows: a cut game already above the whole games' mean counts (a way with long games shows it
    # there), one below does not
    assert numbers(session(whole + [(2500.0, -1.0, "truncated")]), "score") == [1, 2, 3]
    assert numbers(session(whole + [(20.0, 0.0, "truncated")]), "score") == [1, 2]
    # a summed reward can fall (lives lost): a cut game's is no bound, so it never counts
    assert numbers(session(whole + [(2500.0, -1.0, "truncated")]), "reward") == [1, 2]
    # a way's only game counts even when cut; a session the time limit did not end counts as it is
    assert numbers(session([(20.0, 0.0, "truncated")]), "reward") == [1]
    assert numbers(session(whole + [(20.0, 0.0, "truncated")], "3 episodes played"), "score") == [1, 2, 3]


def test_writing_the_chosen_way_keeps_the_weights_and_the_agent_plays_it(clone, tmp_path):
    blob = load_checkpoint(clone)
    way = ways_of(blob)[3]  # greedy at the human's rates
    out = tmp_path / "c2.pt"
    write_state(clone, out, with_way(blob, way)["state"])
    again = load_checkpoint(out)
    assert all(torch.equal(again["model"][k], blob["model"][k]) for k in blob["model"])
    agent = Agent.from_checkpoint(again)
    assert agent.play_temperature == 0.0 and agent.bias is not None
    assert agent.bias.to_dict() == way.bias


def test_trial_command_plays_each_way_headless_and_updates_the_checkpoint(clone, tmp_path):
    out = tmp_path / "tried.pt"
    r = subprocess.run(hakisa_cmd("trial", "--checkpoint", str(clone), "--headless", "dodge", "--episodes", "2",
                                  "--seconds", "20", "--out", str(out)), cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("\n") >= 5 and "<- chosen" in r.stdout and "now plays" in r.stdout
    state = load_checkpoint(out)["state"]
    record = state["trial"]
    assert len(record["ways"]) == 4 and record["measure"] == "score"
    assert all(1 <= len(w["scores"]) <= 2 for w in record["ways"])  # 2 episodes, or fewer when 20 s cut them
    assert all(len(w["seconds"]) == len(w["scores"]) and min(w["seconds"]) > 0 for w in record["ways"])
    ways = record["ways"]  # the best mean; between equal means the earlier
    best = max(ways, key=lambda w: (w["mean"], -ways.index(w)))
    assert record["chosen"] == best["label"] and state["play_temperature"] == best["temperature"]
    assert (state["action_bias"] is not None) == (best["offsets"] == "prior")
    assert load_checkpoint(clone)["state"].get("trial") is None  # --out: the original is untouched
    r = subprocess.run(hakisa_cmd("trial", "--checkpoint", str(clone), "--headless", "dodge", "--out", str(out)),
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "--force" in r.stderr
    r = subprocess.run(hakisa_cmd("trial", "--checkpoint", str(clone), "--headless", "dodge", "--episodes", "0"),
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "--episodes" in r.stderr


def test_a_checkpoint_tried_again_offers_every_way_it_had_before_its_first_trial(clone):
    blob = load_checkpoint(clone)
    first = ways_of(blob)
    greedy_prior = next(w for w in first if w.temperature == 0 and w.offsets == "prior")
    tried = {**blob, "state": trial_state(blob["state"], [WayResult(greedy_prior, [9.0])], WayResult(greedy_prior, [9.0]),
                                          "score")}
    assert tried["state"]["play_temperature"] == 0.0  # it now plays greedily...
    assert ways_of(tried) == first  # ...but a second trial still tries the drawn ways
    again = trial_state(tried["state"], [WayResult(first[0], [1.0])], WayResult(first[0], [1.0]), "score")
    assert again["trial"]["before"] == {"play_temperature": blob["state"]["play_temperature"], "action_bias": None}
