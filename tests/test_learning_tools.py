"""The learning pipeline behind tools/demo.py and tools/bench_learning.py, run for real at a tiny size:
demonstrations -> `hakisa study` -> `hakisa train` rounds -> every phase scored, a table and a plot."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from bench_learning import summary_table  # noqa: E402
from learning import Recipe, Row, format_table, parse_play_scores, plot_learning, run_pipeline  # noqa: E402


@pytest.mark.slow
def test_pipeline_runs_every_phase_and_resumes(tmp_path, capsys):
    recipe = Recipe(demo_minutes=0.4, study_steps=20, rounds=2, explore_steps=150, updates=20, episodes=2,
                    max_minutes=0.3, trial=2, online=300)
    root, tmp_path = tmp_path, tmp_path / "dodge-seed1"  # as tools/bench_learning.py names a seed's folder
    rows = run_pipeline("dodge", tmp_path, recipe, seed=1)
    assert [r.player for r in rows] == ["random", "demonstrator", "study", "round 1", "round 2", "online 1",
                                        "online 2"]
    from compare_online import rows_for  # the online curve read back for the side-by-side of variants

    study, = rows_for(root, "dodge", [1], "study")
    assert study[2] == {1: rows[2].scores}
    assert [(label, got) for label, _, got in rows_for(root, "dodge", [1], "none")] == [
        ("none 150", {1: rows[5].scores}), ("none 300", {1: rows[6].scores})]
    # the online run: one curve point per 150 actor steps, at 0.5 updates per step
    assert [r.extra["updates"] for r in rows[5:]] == [75, 150]
    assert rows[6].explore_hours == pytest.approx(300 / 20 / 3600)
    assert all(len(r.scores) == 2 for r in rows)
    # the demonstrator beats a random player even in 18 s episodes: the evaluation measures play
    assert rows[1].mean > rows[0].mean
    assert rows[2].demo_hours == pytest.approx(0.4 / 60, rel=0.1)
    # the studied clone plays the way `hakisa trial` chose from its own score
    assert rows[2].extra["played"].startswith(("drawn", "greedy"))
    assert rows[2].explore_hours == 0 and rows[4].explore_hours == pytest.approx(2 * rows[3].explore_hours)
    for name in ("demo.h5", "study.pt", "rounds/round-1.pt", "rounds/round-2.pt", "online/seg-002.pt", "results.json"):
        assert (tmp_path / name).exists(), name
    saved = json.loads((tmp_path / "results.json").read_text())
    assert [r["scores"] for r in saved] == [r.scores for r in rows]
    table = format_table(rows, "t")
    assert "round 2" in table and "% of demo" in table
    plot_learning({"dodge": [rows, rows]}, tmp_path / "curve.png", "t")
    assert (tmp_path / "curve.png").stat().st_size > 1000
    # a second run reuses every phase's output and score: nothing is learnt or played again
    capsys.readouterr()
    again = run_pipeline("dodge", tmp_path, recipe, seed=1)
    out = capsys.readouterr().out
    assert "$ hakisa study" not in out and "$ hakisa train" not in out and "$ hakisa trial" not in out
    assert [r.scores for r in again] == [r.scores for r in rows]
    assert [r.seconds for r in again] == pytest.approx([r.seconds for r in rows], abs=1.0)
    # --pick on the finished run: `hakisa train --pick` keeps the start or a segment's checkpoint, scored as 'picked'
    from dataclasses import replace

    picked = run_pipeline("dodge", tmp_path, replace(recipe, pick=2), seed=1)
    assert [r.player for r in picked][:7] == [r.player for r in rows] and picked[7].player == "picked"
    chosen = json.loads((tmp_path / "online" / "online.json").read_text())["pick"]["chosen"]
    was = {"study.pt": rows[2], "seg-001.pt": rows[5], "seg-002.pt": rows[6]}[Path(chosen).name]
    assert picked[7].scores == was.scores and picked[7].extra["picked"] == Path(chosen).name
    assert rows_for(root, "dodge", [1], "none")[-1] == ("none picked", rows[6].explore_hours, {1: was.scores})


@pytest.mark.slow
def test_corrections_benchmark_gives_both_arms_the_same_person_minutes(tmp_path, capsys):
    """tools/bench_corrections.py at a tiny size: the clone plays under the scripted watcher, and study on its
    corrections is set against study on as many more minutes of demonstration."""
    from types import SimpleNamespace

    import numpy as np

    from bench_corrections import run_seed, summarize_watched, table
    from hakisa.data.dataset import DatasetReader
    from hakisa.data.transitions import TEACHERS

    recipe = Recipe(demo_minutes=0.3, study_steps=20, rounds=0, online=0, episodes=2, max_minutes=0.3, trial=0,
                    threads=1)
    args = SimpleNamespace(tag="t", horizon=2.0, minutes=0.1, steps=300, rounds=2)
    got = run_seed("dodge", tmp_path / "dodge-seed1", 1, recipe, args)
    wd = tmp_path / "dodge-seed1"
    # the watcher had control for at most its 0.1 minutes, and the extra demonstration is as long as that
    assert 0 < got["person_minutes"] <= 0.1 + 1 / 20 / 60
    with DatasetReader(wd / "more-t.h5") as r:
        more = sum(r.info(n).n_steps for n in r.episode_names()) / r.tick_hz / 60
    assert more == pytest.approx(got["person_minutes"], abs=0.02)
    with DatasetReader(wd / "watched-t.h5") as r:
        actors = np.concatenate([e["actor"] for _, e in r.iter_episodes(frames=False)])
    assert len(actors) == 299  # 300 actions: the last one's outcome is never seen
    watcher = int(np.isin(actors, TEACHERS).sum())  # recorded as human: the person's steps
    minutes, line = summarize_watched(wd / "watched-t.h5")
    assert minutes == got["person_minutes"] == watcher / 20 / 60
    assert line == got["watched"] and line.startswith(f"watcher {watcher} of 299 steps") and "takeovers" in line
    for name in ("corr-t.pt", "more-t.pt", "study.pt"):
        assert (wd / name).exists()
    assert all(len(got[k]) == 2 for k in ("study", "more", "corr", "demonstrator", "more_r2", "corr_r2"))
    # round 2: round 1's corrected clone was watched; its study learnt from both rounds' corrections, its baseline
    # from as many more minutes of demonstration as both
    from hakisa.learn.checkpoint import load_checkpoint

    assert got["person_minutes"] < got["person_minutes_r2"] <= 2 * (0.1 + 1 / 20 / 60)
    with DatasetReader(wd / "more-t-r2.h5") as r:
        more = sum(r.info(n).n_steps for n in r.episode_names()) / r.tick_hz / 60
    assert more == pytest.approx(got["person_minutes_r2"], abs=0.02)
    studied = [os.path.basename(d) for d in load_checkpoint(wd / "corr-t-r2.pt")["state"]["datasets"]]
    assert studied == ["demo.h5", "watched-t.h5", "watched-t-r2.h5"]
    printed = table("dodge", {1: got, 2: got}, "t")
    from hakisa.stats import mean, standard_error

    diff = mean(got["corr"]) - mean(got["more"])  # the same seed twice: its difference, its SE over sqrt(2)
    se = math.hypot(standard_error(got["corr"]), standard_error(got["more"])) / math.sqrt(2)
    assert "corr - more, 2 rounds" in printed
    row = next(line for line in printed.splitlines() if line.startswith("corr - more"))
    assert f"{diff:+.1f} +-{se:>5.1f}  (" in row and "over seeds +-0.0" in row, row
    # a second run reuses every output: nothing is played, recorded or studied again
    capsys.readouterr()
    assert run_seed("dodge", wd, 1, recipe, args) == got
    out = capsys.readouterr().out
    assert "$ hakisa" not in out and "make_demo_data" not in out


def test_summary_over_seeds_and_play_output_parsing():
    runs = [[Row("random", [0, 10]), Row("demonstrator", [100, 100]), Row("study", [50, 70], 0.3)],
            [Row("random", [10, 10]), Row("demonstrator", [100, 100]), Row("study", [90, 90], 0.3)]]
    text = summary_table("dodge", runs)
    study_line = next(line for line in text.splitlines() if line.startswith("study"))
    # seeds' means 60 and 90: mean 75, standard error 21.2 / sqrt(2) = 15, 75% of the demonstrator
    assert study_line.split()[1:4] == ["75.0", "15.0", "75%"]
    out = ("episode   1: terminated steps    812     40.6 s  reward    12.00  score      340  random   0.0%  "
           "feedback 0\nsomething else score 7\nepisode   2: truncated  steps     10      0.5 s  reward     0.00  "
           "score        -  random   0.0%  feedback 0\nepisode  10: terminated steps 5 0.2 s reward 1.00 score 20.5 "
           "random 0.0% feedback 0\n")
    assert parse_play_scores(out) == [340.0, 20.5]


@pytest.mark.slow
@pytest.mark.display
def test_demo_quick_end_to_end_on_real_windows(xserver, tmp_path):
    """tools/demo.py --quick: the demonstrator plays a real window while `hakisa record` records, study and an
    online train (two segments) learn from it, the pick keeps the best of the clone and both segments, and that
    agent then plays a real window through `hakisa play`, recorded and turned into a clip. A token-sized run: it
    proves the wiring, not the learning."""
    import subprocess

    from hakisa.data.dataset import DatasetReader

    out = tmp_path / "demo"
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "demo.py"), "--quick", "--seconds", "6",
                        "--play-episodes", "1", "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    with DatasetReader(out / "recorded.h5") as rec:  # the human side, from the real window
        assert rec.source == "record" and sum(rec.info(n).n_steps for n in rec.episode_names()) >= 60
    with DatasetReader(out / "play.h5") as play:  # the agent's side, in the real window
        assert play.source == "play"
        assert sum(play.info(n).n_steps for n in play.episode_names()) > 0
    assert (out / "play.mp4").stat().st_size > 0 and (out / "learning.png").stat().st_size > 0
    report = (out / "results.md").read_text()
    assert "budget: 0.02 h of demonstration" in r.stdout
    for player in ("random", "demonstrator", "study", "online 1", "online 2", "picked", "picked, window"):
        assert f"\n{player} " in report, player
    assert "best.pt" in r.stdout  # the window plays the checkpoint the pick kept
    assert "episode   1:" in r.stdout  # the agent's window episode, as `hakisa play` printed it


def test_evaluation_episodes_are_disjoint_from_training_seeds_and_batching_changes_nothing(tmp_path):
    """Agents are scored on game seeds no recording or exploration may use, in lockstep batches that give the
    same episodes as one game at a time; the behaviour summary counts commands and what ended lives."""
    import torch

    from eval_agent import EVAL_SEED_BASE, behaviour, check_training_seed, play_agent, play_policy
    from hakisa.codec import ActionCodec
    from hakisa.learn.model import QNetwork
    from hakisa.learn.training import model_config, save_run
    from hakisa.profile import load_profile

    assert check_training_seed(3) == 3
    with pytest.raises(SystemExit, match="reserved"):
        check_training_seed(EVAL_SEED_BASE)
    with pytest.raises(SystemExit, match="reserved"):
        run_pipeline("dodge", tmp_path, Recipe(rounds=1), seed=EVAL_SEED_BASE - 500)  # round 1 explores seed + 1000

    torch.manual_seed(0)
    profile = load_profile("dodge")
    codec = ActionCodec(profile.actions, (640, 360))
    mcfg = model_config(profile, codec, 2, (8, 8, 8), 16)
    out = tmp_path / "tiny.pt"
    save_run(out, QNetwork(mcfg), None, mcfg, codec, profile, {"config": {"select": "joint"}})
    from hakisa.learn.checkpoint import load_checkpoint

    blob = load_checkpoint(out, profile)
    one = play_agent("dodge", blob, 3, max_frames=600, batch=1)
    together = play_agent("dodge", blob, 3, max_frames=600, batch=3)
    assert one.scores == together.scores and one.seconds == together.seconds
    assert sum(one.commands.values()) == sum(round(s * profile.capture.tick_hz) for s in one.seconds)
    demo = play_policy("dodge", "demo", 3, max_frames=3600)
    over = sum(1 for s in demo.seconds if s < 60)  # ended before the 60 s cap: a game over, all 3 lives lost
    assert sum(demo.losses.values()) >= 3 * over
    assert demo.losses and all(isinstance(cause, str) for cause in demo.losses)
    line = behaviour(one)
    assert "s/episode" in line and "commands:" in line


def test_a_seeds_record_keeps_the_scores_a_later_run_did_not_compute(tmp_path):
    from bench_corrections import update_record

    record = tmp_path / "corrections-t.json"
    assert update_record(record, {"corr": [1.0], "corr_r2": [2.0]}) == {"corr": [1.0], "corr_r2": [2.0]}
    # a run of one round, as studied too: round 2's scores stay, round 1's are the new ones
    got = update_record(record, {"corr": [3.0], "corr_as_studied": [4.0]})
    assert got == {"corr": [3.0], "corr_r2": [2.0], "corr_as_studied": [4.0]} == json.loads(record.read_text())


def test_a_tried_checkpoint_can_be_scored_as_study_left_it(studied_dodge, tmp_path):
    """bench_corrections --as-studied: a copy that plays as the checkpoint did before any trial, weights unchanged;
    a checkpoint no trial changed is scored as it is."""
    import shutil

    import torch

    from bench_corrections import as_studied
    from hakisa.act.trial import Way, WayResult, trial_state
    from hakisa.learn.checkpoint import load_checkpoint, write_state

    ckpt = tmp_path / "study.pt"
    shutil.copy(studied_dodge[1], ckpt)
    assert as_studied(ckpt) == ckpt
    blob = load_checkpoint(ckpt)
    before = blob["state"].get("play_temperature")
    greedy = WayResult(Way(0.0, "prior", {"command": [1.0]}), [5.0], [30.0])
    write_state(ckpt, ckpt, trial_state(blob["state"], [greedy], greedy, "score"))
    copy = as_studied(ckpt)
    assert copy == tmp_path / "study.as-studied.pt"
    state = load_checkpoint(copy)["state"]
    assert "trial" not in state and state["play_temperature"] == before and state.get("action_bias") is None
    assert load_checkpoint(ckpt)["state"]["play_temperature"] == 0.0  # it still plays as tried
    for a, b in zip(load_checkpoint(copy)["model"].values(), blob["model"].values()):
        assert torch.equal(a, b)
    mtime = copy.stat().st_mtime_ns
    assert as_studied(ckpt) == copy and copy.stat().st_mtime_ns == mtime  # not written again while it is up to date
    drawn = WayResult(Way(0.1, "none", None), [6.0], [30.0])  # tried again: the same weights and the same before
    write_state(ckpt, ckpt, trial_state(load_checkpoint(ckpt)["state"], [drawn], drawn, "score"))
    assert as_studied(ckpt) == copy and copy.stat().st_mtime_ns == mtime


def test_trial_picks_reads_each_trial_and_what_it_was_worth(studied_dodge, tmp_path):
    """tools/trial_picks.py: a checkpoint's trial ways, the chosen one, and its scores as tried and as studied from
    the seed's score cache; a checkpoint scored only one way is left out."""
    import shutil

    from bench_corrections import as_studied
    from hakisa.act.trial import Way, WayResult, trial_state
    from hakisa.learn.checkpoint import load_checkpoint, write_state
    from trial_picks import format_rows, picks

    seed_dir = tmp_path / "dodge-seed0"
    seed_dir.mkdir()
    ckpt = seed_dir / "study.pt"
    shutil.copy(studied_dodge[1], ckpt)
    shutil.copy(studied_dodge[1], seed_dir / "more.pt")
    blob = load_checkpoint(ckpt)
    own, greedy = WayResult(Way(0.1, "none", None), [1.0, 3.0], [20.0, 30.0]), WayResult(Way(0.0, "none", None), [5.0])
    write_state(ckpt, ckpt, trial_state(blob["state"], [own, greedy], greedy, "score"))
    copy = as_studied(ckpt)
    scores = {f"dodge|{seed_dir / name}|50|1000000|2.0": {"scores": s} for name, s in (
        ("study.pt", [40.0, 60.0]), (copy.name, [10.0, 20.0]), ("more.pt", [7.0]))}
    (seed_dir / "scores.json").write_text(json.dumps(scores))
    rows = picks(seed_dir)
    assert [(r["checkpoint"], r["chosen"], r["tried"], r["studied"]) for r in rows] == [("study.pt", 1, 50.0, 15.0)]
    assert [w["mean"] for w in rows[0]["ways"]] == [2.0, 5.0] and rows[0]["measure"] == "score"
    line, = format_rows(seed_dir.name, rows)
    assert line.split()[-3:] == ["50.0", "15.0", "+35.0"] and "*    5.0" in line


def test_compare_online_steps_each_seed_against_its_own_checkpoint_before():
    from compare_online import change

    before = {0: [10.0, 20.0], 1: [30.0, 30.0, 30.0]}
    d, se = change({0: [20.0, 30.0], 2: [99.0]}, before)  # seed 2 has nothing before it: left out
    assert d == pytest.approx(10.0) and se == pytest.approx(math.hypot(5.0, 5.0))
    d, se = change({0: [20.0, 30.0], 1: [40.0, 40.0, 40.0]}, before)
    assert d == pytest.approx(10.0) and se == pytest.approx(math.sqrt(2 * 25.0) / 2)
    assert change({2: [1.0]}, before) is None


def test_score_cache_keeps_what_another_benchmark_wrote_meanwhile(tmp_path):
    """Two benchmarks from one study share its scores.json: a result added while the other was playing its
    episodes is kept when the other writes its own."""
    from learning import _remember

    cache = tmp_path / "scores.json"
    _remember(cache, "a", {"scores": [1.0]})
    cache.write_text(json.dumps({**json.loads(cache.read_text()), "b": {"scores": [2.0]}}))  # the other benchmark
    _remember(cache, "c", {"scores": [3.0]})
    assert json.loads(cache.read_text()) == {"a": {"scores": [1.0]}, "b": {"scores": [2.0]}, "c": {"scores": [3.0]}}
    assert not (tmp_path / "scores.json.tmp").exists()
