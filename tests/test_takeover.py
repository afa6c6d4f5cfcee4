"""Corrections from the person watching: pressing a game key takes control from the agent at the next tick; the
agent sends nothing while the person plays; their ticks are recorded as human with what they pressed; the
takeover step carries the penalty; control comes back after the idle time or the hand-back key; the agent's
own injected events never count as the person's."""

from __future__ import annotations

import math
import os

import numpy as np

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from hakisa.act.agent import Agent  # noqa: E402
from hakisa.act.loop import AgentLoop, AgentPolicy, Schedule  # noqa: E402
from hakisa.act.takeover import AGENT, PERSON, Takeover, TakeoverSpec  # noqa: E402
from hakisa.codec import KEY, ActionCodec  # noqa: E402
from hakisa.data.dataset import ACTORS, DatasetReader, DatasetWriter  # noqa: E402
from hakisa.games import make_game  # noqa: E402
from hakisa.games.source import GameActuator, HeadlessFrameSource  # noqa: E402
from hakisa.learn.model import ModelConfig, QNetwork  # noqa: E402
from hakisa.profile import load_profile  # noqa: E402
from hakisa.record.recorder import VirtualClock  # noqa: E402

DODGE = load_profile("dodge")
HUMAN = ACTORS.index("human")


def make(spec=TakeoverSpec(idle=1.0, penalty=2.0, hand_back="f9"), **kw) -> Takeover:
    t = Takeover(spec, {"left", "right", "space"}, **kw)
    t.set_area((0, 0, 640, 360))
    return t


def test_a_game_key_takes_control_and_idleness_gives_it_back():
    t = make()
    assert t.tick(0.0).who == AGENT
    t.key("f1", True, 0.01)  # not a game key: nothing happens
    assert t.tick(0.05).who == AGENT
    t.key("left", True, 0.06)
    c = t.tick(0.10)
    assert (c.who, c.changed) == (PERSON, True) and c.snapshot.tick_input.held == frozenset({"left"})
    t.key("left", False, 0.50)
    assert t.tick(1.0).who == PERSON  # idle only 0.5 s
    c = t.tick(1.55)
    assert (c.who, c.changed) == (AGENT, True) and c.snapshot is not None
    assert t.takeovers == 1 and t.person_ticks == 2


def test_a_held_key_keeps_control_and_the_hand_back_key_returns_it_at_once():
    t = make()
    t.key("right", True, 0.0)
    t.tick(0.05)
    assert t.tick(5.0).who == PERSON  # still held: never idle
    t.key("f9", True, 5.01)
    c = t.tick(5.05)
    assert (c.who, c.changed) == (AGENT, True)


def test_the_agents_own_injected_events_and_keys_outside_the_game_window_do_not_count():
    sent = {("down", "left"): 1, ("up", "left"): 1}

    def echo(kind, name):
        if sent.get((kind, name), 0) > 0:
            sent[(kind, name)] -= 1
            return True
        return False

    t = make(is_echo=echo)
    t.key("left", True, 0.0)  # the agent's press coming back through the listener
    t.key("left", False, 0.02)
    assert t.tick(0.05).who == AGENT
    t.key("left", True, 0.06)  # the next one is the person's
    assert t.tick(0.1).who == PERSON
    away = make(accept_key=lambda: False)  # another window has the keyboard
    away.key("space", True, 0.0)
    assert away.tick(0.05).who == AGENT


def loop_with(tmp_path, takeover: Takeover, script):
    """The dodge game in memory; ``script(tick, clock)`` plays the person from the acting thread."""
    game = make_game("dodge", seed=1, size=(320, 180))
    codec = ActionCodec(DODGE.actions, game.size)
    cfg = ModelConfig(frame_shape=DODGE.capture.frame_shape, n_command=codec.n_command,
                      n_action_1=codec.n_action_1, n_action_2=codec.n_action_2, channels=(8, 8), hidden=16)
    act = GameActuator()
    applied: list[int] = []
    real_apply = act.apply

    def apply(cmd, area):
        applied.append(ticks[0])
        real_apply(cmd, area)

    act.apply = apply
    ticks = [0]
    clock = VirtualClock()
    writer = DatasetWriter(tmp_path / "play.h5", DODGE, codec, source="play")
    takeover.set_area((0, 0, *game.size))
    changes: list[tuple[int, str]] = []

    def on_tick(st):
        ticks[0] += 1
        script(ticks[0], clock.now(), takeover)

    loop = AgentLoop(DODGE, HeadlessFrameSource(game, act, 3), act,
                     AgentPolicy(Agent(QNetwork(cfg), codec), Schedule(0.5, 0.5, 1), seed=0), codec, writer=writer,
                     clock=clock, max_steps=120, on_tick=on_tick, takeover=takeover,
                     on_control=lambda who: changes.append((ticks[0], who)))
    stats = loop.run()
    writer.close()
    with DatasetReader(tmp_path / "play.h5") as r:
        eps = [r.load(n) for n in r.episode_names()]
    return stats, applied, changes, eps, codec


def test_in_the_loop_the_person_plays_is_recorded_as_human_and_the_agent_sends_nothing(tmp_path):
    def person(tick, now, t):
        if tick == 30:
            t.key("right", True, now)  # between ticks 30 and 31
        if tick == 50:
            t.key("right", False, now)

    t = make(TakeoverSpec(idle=0.5, penalty=2.0))
    stats, applied, changes, eps, codec = loop_with(tmp_path, t, person)
    assert [who for _, who in changes] == [PERSON, AGENT]
    took, back = changes[0][0], changes[1][0]
    assert took == 30  # seen at the very next tick (on_tick counts from 1 after each action)
    assert 50 + 0.5 * 20 - 1 <= back <= 50 + 0.5 * 20 + 1  # idle 0.5 s at 20 Hz after the release
    # the agent sent nothing from the takeover tick until it had control back
    assert all(k < took or k >= back for k in applied)  # (apply sees the tick count before this tick's)
    assert len([k for k in applied if k >= back]) > 10  # and went on afterwards
    assert stats.takeovers == 1 and stats.person_ticks == back - took
    ep = eps[0]
    actor, cmd, a1 = ep["actor"], ep["command_type"], ep["action_1"]
    human = np.flatnonzero(actor == HUMAN)
    assert len(human) == back - took and np.all(np.diff(human) == 1)  # one run of the person's steps
    right = codec.chord_for(frozenset({"right"}))
    held = human[: 50 - 31]  # the steps whose whole interval had the key down: the person holding right
    assert np.all(cmd[held] == KEY) and np.all(a1[held] == right)
    assert np.all(cmd[human[50 - 31:]] == 0)  # released during the next one: idle from then on
    pen = ep["reward_human"]
    assert math.isclose(float(pen[human[0] - 1]), -2.0) and np.count_nonzero(pen) == 1  # the step taken over
    assert actor[human[0] - 1] != HUMAN


def test_without_a_takeover_nothing_changes(tmp_path):
    t = make()
    stats, applied, changes, eps, _ = loop_with(tmp_path, t, lambda tick, now, tk: None)
    assert changes == [] and stats.takeovers == 0 and len(applied) == stats.actions
    assert not np.any(eps[0]["actor"] == HUMAN) and not np.any(eps[0]["reward_human"])


def test_the_scripted_watcher_takes_over_before_a_loss_and_its_play_is_recorded_as_human(tmp_path):
    """Headless benchmarks: the demonstrator takes control when a copy of the game stepped a second ahead with the
    agent's input loses a life, plays (its input reaches the game, its ticks are recorded as human) and hands back."""
    from hakisa.act.session import SessionSpec, run_agent
    from hakisa.learn.checkpoint import load_checkpoint
    from hakisa.learn.study import StudyConfig, study
    import sys

    from conftest import ROOT

    sys.path.insert(0, str(ROOT / "tools"))
    from make_demo_data import record_demo

    demo, ckpt = str(tmp_path / "demo.h5"), str(tmp_path / "s.pt")
    record_demo("dodge", demo, 0.3, seed=3, size=(320, 180))
    study(DODGE, [demo], ckpt, StudyConfig(steps=5, batch_size=8, eval_every=5, channels=(8, 8), hidden=16,
                                           threads=1), progress=False, log=lambda m: None)
    blob = load_checkpoint(ckpt)
    out = tmp_path / "w.h5"

    def run(takeover, budget=None, horizon=1.0):
        return run_agent(DODGE, blob, SessionSpec("explore", Schedule(0.3, 0.3, 1), out=str(out), force=True,
                                                  headless="dodge", size=(320, 180), seed=5, max_steps=1200,
                                                  takeover=takeover, watch_budget=budget, watch_horizon=horizon))

    def losses(st) -> int:  # the screen's -1 per life lost
        with DatasetReader(out) as r:
            return int(sum(np.count_nonzero(r.load(n)["rewards"] - r.load(n)["reward_human"] < -0.5)
                           for n in r.episode_names()))

    base = run(None)
    lost_alone = losses(base)
    with DatasetReader(out) as r:
        assert not any(np.any(r.load(n)["actor"] == HUMAN) for n in r.episode_names())
    watched = run(TakeoverSpec(idle=1.0, penalty=1.5))
    with DatasetReader(out) as r:
        eps = [r.load(n) for n in r.episode_names()]
    actor = np.concatenate([e["actor"] for e in eps])
    pen = np.concatenate([e["reward_human"] for e in eps])
    assert watched.takeovers >= 1 and watched.person_ticks == np.count_nonzero(actor == HUMAN)
    assert np.count_nonzero(pen == -1.5) == watched.takeovers  # each takeover step carries the penalty
    human = actor == HUMAN
    cmd = np.concatenate([e["command_type"] for e in eps])
    assert np.mean(cmd[human] == KEY) > 0.3  # the demonstrator pressed keys, read as the codec's actions
    lost_watched = losses(watched)
    assert lost_watched < lost_alone  # its takeovers save lives (19 -> 12 here)
    spent = run(TakeoverSpec(idle=1.0), budget=0.5)  # half a second of its control in all
    assert spent.person_ticks <= 0.5 * 20 + 2
    # looking 2.5 s ahead instead of 1 s, it sees trouble sooner: it takes over more often and loses fewer lives
    early = run(TakeoverSpec(idle=1.0, penalty=1.5), horizon=2.5)
    assert early.takeovers > watched.takeovers and early.person_ticks > watched.person_ticks
    assert losses(early) <= lost_watched
