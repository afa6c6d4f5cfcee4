"""Study on real (headless-recorded) data: training, checkpoints, resume, and refusing bad input."""

import os
import pickle

import numpy as np
import pytest
import torch

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from hakisa.act.agent import Agent
from hakisa.learn.checkpoint import CheckpointError, load_checkpoint
from hakisa.codec import KEY, NOOP, ActionCodec
from hakisa.data.transitions import Transitions, load_transitions
from hakisa.data.dataset import DatasetWriter
from hakisa.errors import DatasetError, DeviceError
from hakisa.games import make_game
from hakisa.games.policy import DemoPolicy
from hakisa.games.source import PolicyPlayer, record_headless
from hakisa.learn.losses import HeadMasks, greedy, imitation_nll, margin_loss, sample
from hakisa.profile import parse_profile
from hakisa.record.recorder import VirtualClock
from hakisa.learn.study import StudyConfig, command_weights, imitated_steps, keyframe_scores, study
from hakisa.learn.training import pick_device

from conftest import profile_text

PROFILE = parse_profile(profile_text("x", hz=60))


def record_demo(path, profile=PROFILE, seconds=20, seed=1):
    """The demonstrator playing headless dodge, recorded by the real record loop (virtual clock)."""
    game = make_game("dodge", seed=seed, size=(320, 180))
    clock = VirtualClock()
    record_headless(game, profile, path, seconds,
                    lambda tracker: PolicyPlayer(game, DemoPolicy("dodge", seed=seed), tracker, clock), 3, clock)
    return path


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory):
    d = tmp_path_factory.mktemp("demo")
    return [str(record_demo(d / "a.h5", seed=1)), str(record_demo(d / "b.h5", seed=2))]


TINY = dict(steps=30, batch_size=16, eval_every=15, channels=(8, 16, 16), hidden=32, threads=1)


def test_study_trains_writes_metrics_plot_and_a_safe_checkpoint(tmp_path, demo_data):
    out = tmp_path / "s.pt"
    lines = []
    res = study(PROFILE, demo_data, out, StudyConfig(**TINY, calibrate="raise"), progress=False, log=lines.append)
    assert any("on cpu" in m for m in lines) and any("are not imitated" in m for m in lines)
    assert res.step == 30 and len(res.history) == 2
    for k in ("acc_command", "acc_exact", "acc_active", "confusion", "samples_per_s", "read_share"):
        assert k in res.metrics
    assert sum(map(sum, res.metrics["confusion"])) == res.metrics["n"] > 0
    assert (tmp_path / "s.pt.png").stat().st_size > 1000
    assert len((tmp_path / "s.pt.metrics.jsonl").read_text().splitlines()) == 2
    blob = load_checkpoint(out, PROFILE)
    assert blob["state"]["step"] == 30 and blob["state"]["datasets"] == demo_data
    assert blob["preprocessing"] == {"width": 64, "height": 64, "color": "gray", "stack": 4}
    agent = Agent.from_checkpoint(blob)
    action, q, greedy_flag = agent.act(np.zeros((64, 64, 1), np.uint8))
    assert greedy_flag
    assert agent.codec.command_mask()[action.command_type] and np.isfinite(q)
    # the calibration offsets travel in the checkpoint, and the agent acts with them; by default there are none
    assert any("calibrated how often the greedy clone acts" in m for m in lines)
    assert agent.bias is not None and (agent.bias.command >= 0).all() and (agent.bias.action_1 >= 0).all()
    assert torch.equal(agent.bias.action_1, torch.tensor(blob["state"]["action_bias"]["action_1"]))
    raw = study(PROFILE, demo_data, tmp_path / "raw.pt", StudyConfig(**TINY), progress=False, log=lambda m: None)
    assert raw.step == 30 and Agent.from_checkpoint(load_checkpoint(tmp_path / "raw.pt")).bias is None
    # the weights' pull is kept in every checkpoint; --prior plays with (a share of) it taken back
    from hakisa.learn.study import Prior

    pull = Prior.from_dict(load_checkpoint(tmp_path / "raw.pt")["state"]["imitation_prior"])
    study(PROFILE, demo_data, tmp_path / "p.pt", StudyConfig(**TINY, prior=0.5), progress=False, log=lambda m: None)
    adjusted = Agent.from_checkpoint(load_checkpoint(tmp_path / "p.pt")).bias
    assert torch.allclose(adjusted.command, pull.scaled(0.5).command) and adjusted.command.abs().sum() > 0
    with pytest.raises(ValueError, match="choose one"):
        study(PROFILE, demo_data, tmp_path / "x.pt", StudyConfig(**TINY, prior=1.0, calibrate="raise"),
              progress=False, log=lambda m: None)
    # play draws from the fitted policy unless told otherwise; a margin clone plays greedily
    from hakisa.act.loop import AgentPolicy, Schedule

    assert blob["state"]["play_temperature"] == 0.1 and agent.play_temperature == 0.1
    assert AgentPolicy(agent, Schedule(temperature=None)).schedule.temperature == 0.1
    assert AgentPolicy(agent, Schedule(temperature=0.0)).schedule.temperature == 0.0
    study(PROFILE, demo_data, tmp_path / "m.pt", StudyConfig(**TINY, imitation="margin"), progress=False,
          log=lambda m: None)
    assert Agent.from_checkpoint(load_checkpoint(tmp_path / "m.pt")).play_temperature == 0.0
    # damaged fields are refused in plain words
    for key, value, says in (("play_temperature", "hot", "play_temperature is 'hot'"),
                             ("action_bias", {"command": [0, 1], "action_1": []}, "calibration offsets are damaged")):
        bad = {**blob, "state": {**blob["state"], key: value}}
        with pytest.raises(CheckpointError, match=says):
            Agent.from_checkpoint(bad)


def test_a_compiled_update_learns_what_the_plain_one_does(tmp_path, demo_data, monkeypatch):
    """--compile traces the update with torch.compile. Traced here with the eager backend (the graph capture
    without the C++ compiler's minute of code generation): the same seed gives the same losses."""
    real = torch.compile
    calls = []

    def eager(fn, **kw):
        calls.append(kw)
        return real(fn, backend="eager", **kw)

    monkeypatch.setattr(torch, "compile", eager)
    plain = study(PROFILE, demo_data, tmp_path / "a.pt", StudyConfig(**TINY, calibrate="off"), progress=False,
                  log=lambda m: None)
    assert calls == []
    compiled = study(PROFILE, demo_data, tmp_path / "b.pt", StudyConfig(**TINY, calibrate="off", compile=True),
                     progress=False, log=lambda m: None)
    assert len(calls) == 1
    for h0, h1 in zip(plain.history, compiled.history, strict=True):
        assert h1["loss"] == pytest.approx(h0["loss"], rel=1e-4)
        assert h1["acc_exact"] == pytest.approx(h0["acc_exact"], abs=1e-6)


def test_resume_continues_where_it_stopped(tmp_path, demo_data):
    out = tmp_path / "r.pt"
    study(PROFILE, demo_data, out, StudyConfig(**{**TINY, "steps": 15}), progress=False, log=lambda m: None)
    first = load_checkpoint(out)["model"]
    res = study(PROFILE, demo_data, out, StudyConfig(**TINY), resume=str(out), progress=False, log=lambda m: None)
    assert res.step == 30 and [h["step"] for h in res.history] == [15, 30]
    assert any(not torch.equal(first[k], v) for k, v in load_checkpoint(out)["model"].items())


def test_checkpoints_of_other_profiles_and_unsafe_pickles_are_refused(tmp_path, demo_data):
    out = tmp_path / "s.pt"
    study(PROFILE, demo_data, out, StudyConfig(**{**TINY, "steps": 15}), progress=False, log=lambda m: None)
    other = parse_profile(profile_text("other game", name="othergame"), source="other.toml")
    with pytest.raises(CheckpointError, match="profile 'testgame'.*'othergame' from other.toml"):
        load_checkpoint(out, other)

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.pt"
    with open(evil, "wb") as fh:
        pickle.dump({"format": "hakisa-checkpoint", "x": Evil()}, fh)
    torch.save({"format": "hakisa-checkpoint", "x": Evil()}, tmp_path / "evil2.pt")
    for f in (evil, tmp_path / "evil2.pt"):
        with pytest.raises(CheckpointError, match="could run code|corrupt"):
            load_checkpoint(f)
    assert not marker.exists()
    blob = torch.load(out, weights_only=True)  # a network described with a field this version lacks
    blob["model_config"] = blob["model_config"][:-1] + ', "wings": 2}'
    torch.save(blob, tmp_path / "newer.pt")
    with pytest.raises(CheckpointError, match="with wings, which this hakisa .* does not know"):
        load_checkpoint(tmp_path / "newer.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt or not a torch file"):
        load_checkpoint(tmp_path / "junk.pt")


def test_mixed_empty_and_truncated_datasets_are_refused(tmp_path, demo_data):
    other = parse_profile(profile_text("x", hz=30, name="othergame"))
    odd = record_demo(tmp_path / "odd.h5", profile=other, seconds=0.5)
    with pytest.raises(DatasetError, match="different profiles.*'testgame'.*'othergame'"):
        load_transitions(demo_data + [str(odd)])
    with pytest.raises(DatasetError, match="recorded with profile 'othergame'.*given is 'testgame'"):
        load_transitions([str(odd)], PROFILE)
    empty = tmp_path / "empty.h5"
    DatasetWriter(empty, PROFILE, ActionCodec(PROFILE.actions, (320, 180))).close()
    with pytest.raises(DatasetError, match="empty"):
        load_transitions([str(empty)])
    cut = tmp_path / "cut.h5"
    cut.write_bytes(open(demo_data[0], "rb").read()[:5000])
    with pytest.raises(DatasetError, match="truncated or corrupt"):
        load_transitions([str(cut)])


def test_margin_loss_is_zero_only_when_the_demonstrated_action_leads_by_the_margin():
    codec = ActionCodec(PROFILE.actions, (320, 180))
    masks = HeadMasks(codec)
    acts = torch.tensor([[1, 2, 0]])  # key, chord 2
    qc = torch.tensor([[0.0, 1.0, 5.0, 5.0, 5.0]])  # invalid commands (mouse) must not count
    q1 = torch.tensor([[0.0, 0.0, 1.0, 0.0, 0.5]])
    q2 = torch.tensor([[9.0]])
    loss = margin_loss((qc, q1, q2), acts, masks, margin=0.8)
    assert torch.allclose(loss, torch.tensor([[0.0, 0.3, 0.0]]))  # action_2 does not apply to keys
    assert greedy((qc, q1, q2), masks).tolist() == [[1, 2, 0]]


def test_joint_selection_weighs_no_op_against_the_best_chord_not_the_command_head_alone():
    masks = HeadMasks(ActionCodec(PROFILE.actions, (320, 180)))
    qc = torch.tensor([[1.0, 0.8, -5.0, -5.0, -5.0]])  # the command head alone prefers no-op
    q1 = torch.tensor([[0.0, 0.0, 3.0, 0.0, 0.0]])  # ...but chord 2 is worth far more: (0.8 + 3) / 2 > 1
    q2 = torch.tensor([[0.0]])
    assert greedy((qc, q1, q2), masks, joint=False).tolist() == [[0, 0, 0]]
    assert greedy((qc, q1, q2), masks, joint=True).tolist() == [[1, 2, 0]]
    q1[0, 2] = 1.1  # (0.8 + 1.1) / 2 < 1: no-op is the better joint action now
    assert greedy((qc, q1, q2), masks).tolist() == [[0, 0, 0]]


def test_sampling_follows_the_joint_values_and_never_picks_an_invalid_action():
    masks = HeadMasks(ActionCodec(PROFILE.actions, (320, 180)))  # keys only: the mouse commands are invalid
    qc = torch.tensor([[1.0, 0.8, 9.0, 9.0, 9.0]]).repeat(4000, 1)
    q1 = torch.tensor([[0.0, 0.0, 1.6, 0.0, 0.0]]).repeat(4000, 1)  # no-op 1.0 against chord 2's (0.8 + 1.6) / 2
    q2 = torch.zeros(4000, 1)
    rng = np.random.default_rng(0)
    assert torch.equal(sample((qc, q1, q2), masks, 0.0, rng), greedy((qc, q1, q2), masks))
    cold = sample((qc, q1, q2), masks, 0.01, rng)
    assert (cold == greedy((qc, q1, q2), masks)).all(1).float().mean() > 0.99  # 0.2 below the best is rare
    warm = sample((qc, q1, q2), masks, 0.5, rng)
    c, a1 = warm[:, 0].numpy(), warm[:, 1].numpy()
    assert set(c) <= {NOOP, KEY}  # never a mouse command, though the command head scores them highest
    assert (warm[c == NOOP, 1:] == 0).all()  # heads that do not apply stay 0
    # softmax over the joint values 1.0 and 1.2 at T = 0.5: P(no-op) = 1 / (1 + e^0.4) = 0.40
    assert abs((c == NOOP).mean() - 0.40) < 0.04
    keyed = a1[c == KEY]
    assert (keyed == 2).mean() > 0.3 and len(set(keyed)) == len(q1[0])  # chord 2 most often, every chord drawn


def test_imitation_nll_fits_how_often_the_human_acted_and_sampling_at_its_temperature_plays_like_that():
    """In one state the human idled 70% of the time and pressed chord 2 30% of the time (a serve after a random
    wait): fitted Q values give no-op and the chord those odds under softmax(joint value / T), while the margin
    loss only asks for an order, and drawing at T acts like the human."""
    masks = HeadMasks(ActionCodec(PROFILE.actions, (320, 180)))
    n, tau = 1000, 0.1
    acts = torch.zeros(n, 3, dtype=torch.long)
    acts[:300, 0], acts[:300, 1] = KEY, 2
    params = [torch.zeros(1, 5, requires_grad=True), torch.zeros(1, 5, requires_grad=True), torch.zeros(1, 1)]
    opt = torch.optim.Adam(params[:2], lr=0.05)
    for _ in range(400):
        qs = tuple(p.expand(n, -1) for p in params)
        loss = imitation_nll(qs, acts, masks, tau).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    qs = tuple(p.detach().expand(n, -1) for p in params)
    nll = imitation_nll(qs, acts, masks, tau)
    assert (nll[acts[:, 0] == NOOP, 1:] == 0).all()  # a head that does not apply costs nothing
    assert nll.sum(1).mean().item() == pytest.approx(-(0.7 * np.log(0.7) + 0.3 * np.log(0.3)), abs=0.02)
    drawn = sample(qs, masks, tau, np.random.default_rng(0))
    keyed = drawn[:, 0] == KEY
    assert abs(keyed.float().mean().item() - 0.3) < 0.05 and (drawn[keyed, 1] == 2).float().mean() > 0.95
    assert (greedy(qs, masks)[:, 0] == NOOP).all()  # greedy takes the most likely action every time


def test_balancing_never_boosts_no_op_above_the_other_commands():
    # no-op 20%, key 80%: inverse-frequency weights would make no-op weigh 2x a key tick
    cmd = np.array([0] * 20 + [1] * 80)
    w, p = command_weights(cmd, 5, balance=0.5)
    assert p[:2].tolist() == [0.2, 0.8] and w[0] == pytest.approx(w[1]) and (p * w).sum() == pytest.approx(1)
    w, _ = command_weights(cmd, 5, balance=0.5, boost_noop=True)
    assert w[0] == pytest.approx(2 * w[1])
    # a rare click is still boosted, and a frequent no-op is left as it is
    cmd = np.array([0] * 60 + [2] * 35 + [3] * 5)
    w, p = command_weights(cmd, 5, balance=0.5)
    assert w[3] > w[2] and w[0] <= w[2] and (p * w).sum() == pytest.approx(1)


def test_balancing_by_action_gives_a_rare_key_its_own_weight():
    from types import SimpleNamespace

    from hakisa.learn.study import action_classes, class_weights

    # no-op 60%, chord 0 ("left") 30%, chord 2 ("space", a launch key) 2%, a left click 8%
    command = np.array([0] * 60 + [1] * 30 + [1] * 2 + [3] * 8)
    action_1 = np.array([0] * 60 + [0] * 30 + [2] * 2 + [5] * 8)
    T = SimpleNamespace(command=command, action_1=action_1)
    by_command, _ = action_classes(T, 5, 3, "command")
    assert by_command.tolist() == command.tolist()
    cls, labels = action_classes(T, 5, 3, "action")
    assert labels[int(cls[0])] == ("command", 0) and labels[int(cls[60])] == ("chord", 0)
    assert labels[int(cls[90])] == ("chord", 2) and labels[int(cls[99])] == ("command", 3)
    w, p = class_weights(cls, len(labels), 0.5, noop=0)
    assert w[cls[90]] > w[cls[99]] > w[cls[60]] >= w[cls[0]] and (p * w).sum() == pytest.approx(1)
    wc, _ = command_weights(command, 5, 0.5)
    assert wc[1] < w[cls[90]]  # by command, the rare key weighs only what every key weighs


def test_keyframes_by_change_and_by_surprise_under_the_action_history():
    # episode 0 alternates 0/1 every step (the history predicts each change); episode 1 holds 0, then changes
    # once to a command that never followed 0 before
    T = steps([0] * 8 + [1] * 8, [0] * 16)
    T.command[:] = [0, 1] * 4 + [0] * 7 + [2]
    change = keyframe_scores(T, np.arange(16), "change")
    assert change.tolist() == [1] + [1] * 7 + [1] + [0] * 6 + [1]  # episode starts count as changes
    surprise = keyframe_scores(T, np.arange(16), "surprise")
    assert ((0 <= surprise) & (surprise <= 1)).all()
    assert surprise[15] > surprise[3]  # the one unexpected change weighs more than a habitual one
    assert surprise[15] > surprise[12]  # ...and more than holding on where holding is usual
    with pytest.raises(ValueError, match="keyframe_by"):
        keyframe_scores(T, np.arange(16), "often")


def test_imitation_weights_are_studys_weights_as_a_rule_for_any_step():
    from hakisa.learn.study import ImitationWeights, action_classes, class_weights

    # two episodes: no-op held with a few key presses (chords 0 and 2), the second ending in a click
    T = steps([0] * 10 + [1] * 10, [0] * 20)
    T.command[:] = [0, 0, 1, 1, 0, 0, 0, 1, 0, 0] + [0, 0, 0, 1, 1, 1, 0, 0, 3, 0]
    T.action_1[:] = [0, 0, 0, 0, 0, 0, 0, 2, 0, 0] + [0, 0, 0, 2, 2, 0, 0, 0, 5, 0]
    idx = np.arange(20)
    for by in ("command", "action"):
        settings = {"balance": 0.5, "balance_by": by, "boost_noop": False, "keyframe": 4.0, "keyframe_by": "change"}
        rule = ImitationWeights.fit(T, idx, settings, 5, 3)
        classes, labels = action_classes(T, 5, 3, by)
        w, _ = class_weights(classes, len(labels), 0.5)
        studys = (1 + 4 * keyframe_scores(T, idx, "change")) * w[classes]  # study's weights, before its scaling
        np.testing.assert_allclose(rule(T, idx), studys / studys.mean(), rtol=1e-6)
        # a step weighs the same looked up alone (a learner's batch) as among all steps
        np.testing.assert_allclose(rule(T, np.array([13, 3, 10])), rule(T, idx)[[13, 3, 10]], rtol=1e-6)
    # a key press held on weighs less than the tick it began; the first tick of an episode is a keyframe
    assert rule(T, np.array([2]))[0] > rule(T, np.array([3]))[0] and rule(T, np.array([10]))[0] > rule(T, np.array([11]))[0]
    # settings read from a study checkpoint's state, carried by a learner's, and none from anything else
    conf = {**StudyConfig().__dict__}
    assert ImitationWeights.settings_of({"phase": "study", "config": conf})["balance"] == 0.5
    assert ImitationWeights.settings_of({"phase": "consolidate", "config": {}, "imitation_weights": settings}) == settings
    assert ImitationWeights.settings_of({"phase": "consolidate", "config": {"lr": 1e-4}}) is None
    surprise = ImitationWeights.fit(T, idx, {**settings, "keyframe_by": "surprise"}, 5, 3)
    assert "change" in surprise.note


def test_n_step_returns_stop_at_terminations_and_bootstrap_truncations():
    # two episodes of 3 steps: the first terminated, the second truncated
    T = Transitions(frames=np.zeros((8, 1, 1, 1), np.uint8), obs=np.array([0, 1, 2, 4, 5, 6]),
                    ep_start=np.array([0, 0, 0, 4, 4, 4]), episode=np.array([0, 0, 0, 1, 1, 1]),
                    command=np.zeros(6, np.int64), action_1=np.zeros(6, np.int64), action_2=np.zeros(6, np.int64),
                    actor=np.ones(6, np.uint8), reward=np.array([1, 1, 1, 1, 1, 1], np.float32),
                    terminated=np.array([0, 0, 1, 0, 0, 0], bool), truncated=np.array([0, 0, 0, 0, 0, 1], bool),
                    sources=["a", "b"])
    ret, boot, disc = T.n_step(2, 0.5)
    assert ret.tolist() == [1.5, 1.5, 1.0, 1.5, 1.5, 1.0]
    assert disc.tolist() == [0.25, 0.0, 0.0, 0.25, 0.25, 0.5]  # no bootstrap past a termination
    assert boot.tolist() == [2, 3, 3, 6, 7, 7]
    assert T.stacked(np.array([5]), np.array([4]), 3)[0, :, 0, 0].tolist() == [0, 0, 0]


def steps(episode, reward):
    n = len(episode)
    return Transitions(frames=np.zeros((n + 4, 1, 1, 1), np.uint8), obs=np.arange(n), ep_start=np.zeros(n, np.int64),
                       episode=np.array(episode), command=np.zeros(n, np.int64), action_1=np.zeros(n, np.int64),
                       action_2=np.zeros(n, np.int64), actor=np.ones(n, np.uint8),
                       reward=np.array(reward, np.float32), terminated=np.zeros(n, bool), truncated=np.zeros(n, bool),
                       sources=[str(e) for e in sorted(set(episode))])


def test_the_seconds_before_a_loss_are_not_imitated():
    # 2 ticks per second, 1.5 s -> the loss step and the 2 before it; never across an episode's start
    T = steps([0, 0, 0, 0, 0, 1, 1, 1, 1], [0, 0, 1, 0, -1, 0, -1, 0, -0.2])
    keep = imitated_steps(T, seconds=1.5, loss_reward=-0.5, tick_hz=2)
    assert keep.tolist() == [1, 1, 0, 0, 0, 0, 0, 1, 1]  # -0.2 is not a loss at threshold -0.5
    assert imitated_steps(T, 0.0, -0.5, 2).tolist() == [1] * 9  # 0 s: off
    assert imitated_steps(T, 1.5, -0.1, 2).tolist() == [1, 1, 0, 0, 0, 0, 0, 0, 0]


def test_a_correction_is_not_forgotten_for_the_agents_loss_after_it():
    # a person corrects ticks 2-4 of the agent's episode; the agent loses a life at tick 6,
    # 2 ticks after the hand-back, and takes the takeover's penalty at tick 1: at 4 ticks per second, 1.5 s would
    # reach back over the correction, but only the agent's own run-up to its loss is left out
    from hakisa.data.transitions import ACTORS

    T = steps([0] * 9, [0, -1, 0, 0, 0, 0, -1, 0, 0])
    person, agent, random = ACTORS.index("human"), ACTORS.index("agent_greedy"), ACTORS.index("agent_random")
    T.actor = np.array([agent, agent, person, person, person, agent, random, agent, agent], np.uint8)
    assert imitated_steps(T, seconds=1.5, loss_reward=-0.5, tick_hz=4).tolist() == [0, 0, 1, 1, 1, 0, 0, 1, 1]
    # the person's own loss still takes their run-up away
    T.reward = np.array([0, 0, 0, 0, -1, 0, 0, 0, 0], np.float32)
    assert imitated_steps(T, seconds=1.5, loss_reward=-0.5, tick_hz=4).tolist() == [1, 1, 0, 0, 0, 1, 1, 1, 1]


def test_device_choice_is_checked():
    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(DeviceError, match="not a device"):
        pick_device("gpu please")
    with pytest.raises(DeviceError, match="only cpu and cuda"):
        pick_device("meta")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="sees no CUDA GPU; use --device cpu"):
            pick_device("cuda")


def test_study_command_line(tmp_path, demo_data):
    import subprocess

    from conftest import ROOT, hakisa_cmd

    prof = tmp_path / "p.toml"
    prof.write_text(PROFILE.text)
    out = tmp_path / "c.pt"
    r = subprocess.run(hakisa_cmd("study", "--profile", str(prof), "--data", *demo_data, "--out", str(out),
                                  "--steps", "6", "--eval-every", "3", "--batch-size", "8", "--quiet"),
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "held-out" in r.stdout and "human \\ agent" in r.stdout and out.exists()
    r = subprocess.run(hakisa_cmd("study", "--profile", str(prof), "--data", *demo_data, "--out", str(out)),
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "--force" in r.stderr
    r = subprocess.run(hakisa_cmd("study", "--profile", "dodge", "--data", demo_data[0], "--out",
                                  str(tmp_path / "d.pt")), cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "recorded with profile 'testgame'" in r.stderr and not (tmp_path / "d.pt").exists()
    if not torch.cuda.is_available():
        r = subprocess.run(hakisa_cmd("study", "--profile", str(prof), "--data", *demo_data, "--out",
                                      str(tmp_path / "g.pt"), "--device", "cuda"), cwd=ROOT, capture_output=True, text=True)
        assert r.returncode == 2 and "sees no CUDA GPU" in r.stderr and not (tmp_path / "g.pt").exists()


def test_photometric_augmentation_is_one_affine_change_per_sample():
    """Every frame and channel of a sample gets the same contrast, brightness and (maybe) inversion; samples differ."""
    from hakisa.learn.training import random_photometric

    x = np.random.default_rng(0).integers(40, 216, (16, 4, 12, 12), dtype=np.uint8)
    y = random_photometric(x, np.random.default_rng(1), invert=0.5)
    assert y.shape == x.shape and y.dtype == np.uint8
    slopes = []
    for xi, yi in zip(x.astype(float), y.astype(float)):
        inside = (yi > 0) & (yi < 255)  # not clipped
        a, d = np.polyfit(xi[inside], yi[inside], 1)
        assert np.abs(a * xi[inside] + d - yi[inside]).max() <= 1.0  # one affine map, up to rounding
        assert 0.5 - 0.01 <= abs(a) <= 1.5 + 0.01
        slopes.append(a)
    assert min(slopes) < 0 < max(slopes)  # some inverted, some not
    assert len({round(s, 2) for s in slopes}) > 8
    kept = random_photometric(x, np.random.default_rng(1), invert=0.0).astype(float)
    assert all(np.corrcoef(xi.ravel(), yi.ravel())[0, 1] > 0.9 for xi, yi in zip(x.astype(float), kept))


def test_with_the_agents_play_in_the_data_only_the_peoples_steps_are_imitated(tmp_path):
    """HG-DAgger's aggregation: a person's corrections inside the agent's own play are imitated, the agent's steps
    are not (they still train the TD term). Here the person always presses left and the agent always right, in
    the same two situations; the clone presses left."""
    from test_consolidate import CODEC, LEFT, PROFILE as SYN, RIGHT, frame

    from hakisa.data.dataset import ACTORS, Observation

    def write(path, actor, chord, episodes):
        rng = np.random.default_rng(3)
        w = DatasetWriter(path, SYN, CODEC, source="record" if actor == "human" else "explore")
        for _ in range(episodes):
            s = int(rng.integers(2))
            w.start_episode(Observation(frame(s), 0.0, 0))
            for t in range(20):
                s = int(rng.integers(2))
                w.add_step((KEY, chord, 0), ACTORS.index(actor), 0.0, False, False, Observation(frame(s), t + 1.0, t + 1))
            w.end_episode("truncated")
        w.close()
        return str(path)

    data = [write(tmp_path / "h.h5", "human", LEFT, 10), write(tmp_path / "a.h5", "agent_greedy", RIGHT, 30)]
    logs = []
    study(SYN, data, tmp_path / "s.pt", StudyConfig(steps=300, batch_size=32, eval_every=300, channels=(8, 16),
                                                    hidden=32, stack=1, augment=0, threads=1, lr=1e-3, holdout=0.1),
          progress=False, log=logs.append)
    assert any("imitating the 200 steps people" in m and "agent's 600 train the TD term only" in m for m in logs)
    model = Agent.from_checkpoint(load_checkpoint(tmp_path / "s.pt", SYN)).model
    masks = HeadMasks(CODEC)
    with torch.no_grad():
        for s in (0, 1):
            x = torch.from_numpy(np.ascontiguousarray(frame(s).transpose(2, 0, 1)[None]))
            assert int(greedy(model(x), masks)[0, 1]) == LEFT


def test_held_out_steps_are_whole_episodes_or_the_tail_of_every_episode():
    from test_buffer import as_transitions, episodes

    T = as_transitions(episodes(7, n_eps=5))
    sizes = np.bincount(T.episode)
    train, held = T.split(0.2, 0, by="tail")
    assert len(np.intersect1d(train, held)) == 0 and len(train) + len(held) == len(T)
    for e in range(T.n_episodes):  # every episode in both parts (when long enough), its end held out
        steps = np.flatnonzero(T.episode == e)
        h = np.intersect1d(steps, held)
        assert len(h) == int(round(sizes[e] - np.ceil(sizes[e] * 0.8)))
        if len(h):
            assert h.min() > np.intersect1d(steps, train).max()
    train, held = T.split(0.2, 0)  # whole episodes
    assert len(held) and not set(T.episode[held]) & set(T.episode[train])
    with pytest.raises(ValueError, match="'episode' or 'tail'"):
        T.split(0.2, 0, by="level")


def test_study_says_when_whole_held_out_episodes_are_far_more_than_asked(tmp_path, demo_data):
    lines = []
    study(PROFILE, demo_data, tmp_path / "e.pt", StudyConfig(**{**TINY, "steps": 2, "eval_every": 2}, holdout=0.1),
          progress=False, log=lines.append)
    assert any("--holdout-by tail" in m for m in lines)  # two recordings: one is half the steps
    lines.clear()
    study(PROFILE, demo_data, tmp_path / "t.pt", StudyConfig(**{**TINY, "steps": 2, "eval_every": 2}, holdout=0.1,
                                                            holdout_by="tail"), progress=False, log=lines.append)
    assert not any("--holdout-by tail" in m for m in lines)
    assert any("held out)" in m for m in lines)
