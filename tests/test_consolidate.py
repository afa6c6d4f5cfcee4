"""Consolidate on a tiny synthetic game written in the real dataset format: Q-learning finds the best
actions where the demonstrator was wrong, the target network lags, terminations stop bootstrapping,
lineage is kept, and bad input is refused."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hakisa.learn.checkpoint import CheckpointError, load_checkpoint
from hakisa.codec import KEY, NOOP, ActionCodec
from hakisa.learn.consolidate import ConsolidateConfig, Consolidator, consolidate
from hakisa.data.transitions import HUMAN
from hakisa.data.dataset import ACTORS, DatasetWriter, Observation
from hakisa.errors import DatasetError
from hakisa.learn.losses import HeadMasks, greedy, joint_q
from hakisa.profile import parse_profile

from conftest import profile_text

PROFILE = parse_profile(profile_text("synthetic", keys='["left", "right"]').replace(
    "frame_width = 64\nframe_height = 64", "frame_width = 32\nframe_height = 32"))
CODEC = ActionCodec(PROFILE.actions, (64, 64))
LEFT, RIGHT = CODEC.chord_for(frozenset({"left"})), CODEC.chord_for(frozenset({"right"}))
AGENT = ACTORS.index("agent_random")
# Two situations, told apart by which half of the screen is lit. Pressing left pays 0.5 in A and 0.2
# in B, right pays 0 in A and 1 in B; the next situation is random. The best policy is A -> left,
# B -> right; the demonstrator always presses left.
REWARD = {(0, LEFT): 0.5, (1, LEFT): 0.2, (0, RIGHT): 0.0, (1, RIGHT): 1.0}
TINY = dict(batch_size=32, channels=(8, 16), hidden=32, stack=1, augment=0, threads=1, eval_every=100,
            eval_samples=256, n_step=1, gamma=0.5, lr=1e-3)


def frame(situation: int) -> np.ndarray:
    f = np.zeros((32, 32, 1), np.uint8)
    f[:, :16] = 255 if situation == 0 else 0
    f[:, 16:] = 255 if situation == 1 else 0
    return f


def write_synthetic(path, who: str, episodes: int, steps: int = 20, seed: int = 0, end: str = "terminated",
                    profile=PROFILE):
    rng = np.random.default_rng(seed)
    w = DatasetWriter(path, profile, CODEC, source="record" if who == "human" else "explore")
    for _ in range(episodes):
        s = int(rng.integers(2))
        w.start_episode(Observation(frame(s), 0.0, 0))
        for t in range(steps):
            if who == "human":
                c, a1 = KEY, LEFT
            else:
                c, a1 = [(NOOP, 0), (KEY, LEFT), (KEY, RIGHT)][rng.integers(3)]
            r = REWARD.get((s, a1), 0.0) if c == KEY else 0.0
            s = int(rng.integers(2))
            w.add_step((c, a1, 0), HUMAN if who == "human" else AGENT, r, False, False,
                       Observation(frame(s), t + 1.0, t + 1))
        w.end_episode(end)
    w.close()
    return str(path)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    d = tmp_path_factory.mktemp("synthetic")
    return [write_synthetic(d / "human.h5", "human", 20, seed=1), write_synthetic(d / "agent.h5", "agent", 30, seed=2)]


def greedy_in(model, situation: int) -> tuple[int, int]:
    with torch.no_grad():
        x = torch.from_numpy(frame(situation).transpose(2, 0, 1)[None].copy())
        a = greedy(model(x), HeadMasks(CODEC))[0]
    return int(a[0]), int(a[1])


def test_recovers_the_best_actions_where_the_demonstrator_was_wrong(tmp_path, synthetic):
    res = consolidate(PROFILE, synthetic, tmp_path / "c.pt", ConsolidateConfig(steps=600, target_every=100, **TINY),
                      progress=False, log=lambda m: None)
    blob = load_checkpoint(tmp_path / "c.pt", PROFILE)
    from hakisa.act.agent import Agent

    model = Agent.from_checkpoint(blob).model
    assert greedy_in(model, 0) == (KEY, LEFT)  # the demonstrator was right here
    assert greedy_in(model, 1) == (KEY, RIGHT)  # ... and wrong here: Q-learning on the agent's data fixes it
    m = res.metrics
    assert m["agree_human"] < 0.8 and 0 < m["mean_q"] < 3  # Q near r + gamma * V: about 0.75 + 0.5 * 0.75
    assert res.history[-1]["td_error"] < res.history[0]["td_error"]
    assert (tmp_path / "c.pt.png").stat().st_size > 1000
    assert len((tmp_path / "c.pt.metrics.jsonl").read_text().splitlines()) == 6
    assert sum(m["histogram"]["command"]) == 256


def test_target_network_lags_by_the_configured_interval(synthetic):
    c = Consolidator(PROFILE, synthetic, ConsolidateConfig(target_every=3, **TINY), log=lambda m: None)

    def same() -> bool:
        return all(torch.equal(a, b) for a, b in zip(c.model.state_dict().values(), c.target.state_dict().values()))

    snapshot = None
    for i in range(1, 8):
        c.update()
        if i % 3 == 0:
            assert same()
            snapshot = {k: v.clone() for k, v in c.model.state_dict().items()}
        else:
            assert not same()
            if snapshot is not None:  # still the copy made at the last multiple of 3
                assert all(torch.equal(snapshot[k], v) for k, v in c.target.state_dict().items())

    p = Consolidator(PROFILE, synthetic, ConsolidateConfig(target_every=10**9, tau=0.1, **TINY), log=lambda m: None)
    before = [t.clone() for t in p.target.parameters()]
    p.update()
    for b, t, o in zip(before, p.target.parameters(), p.model.parameters()):
        assert torch.allclose(t, 0.9 * b + 0.1 * o, atol=1e-6)


def test_truncated_episodes_bootstrap_and_terminated_ones_do_not(tmp_path):
    data = [write_synthetic(tmp_path / "term.h5", "agent", 1, steps=1, seed=3, end="terminated"),
            write_synthetic(tmp_path / "trunc.h5", "agent", 1, steps=1, seed=3, end="truncated")]
    c = Consolidator(PROFILE, data, ConsolidateConfig(**TINY), log=lambda m: None)
    assert list(c.T.terminated) == [True, False] and list(c.T.truncated) == [False, True]
    y = c.targets(np.array([0, 1]))
    r = float(c.T.reward[0])
    assert float(y[0]) == pytest.approx(r)  # no bootstrap after a termination
    xn = c._inputs(np.array([1]))[1]
    with torch.no_grad():
        boot = joint_q(c.target(xn), greedy(c.model(xn), c.masks), c.masks)
    assert float(boot) != 0.0
    assert float(y[1]) == pytest.approx(r + 0.5 * float(boot), abs=1e-6)  # bootstraps from its last frame


def test_lineage_resume_and_bad_input(tmp_path, synthetic):
    cfg = ConsolidateConfig(steps=200, **TINY)
    first = tmp_path / "a.pt"
    consolidate(PROFILE, synthetic, first, cfg, progress=False, log=lambda m: None)
    second = tmp_path / "b.pt"
    consolidate(PROFILE, synthetic[1:], second, ConsolidateConfig(steps=100, **TINY), parent=str(first),
                progress=False, log=lambda m: None)
    lin = load_checkpoint(second, PROFILE)["state"]["lineage"]
    assert lin["parent"]["path"] == str(first) and lin["parent"]["phase"] == "consolidate"
    assert [d["path"] for d in lin["datasets"]] == synthetic[1:]
    assert [d["path"] for d in lin["parent"]["lineage"]["datasets"]] == synthetic

    # an interrupted run (checkpoint at update 100 of 200) resumes where it stopped
    cut = tmp_path / "cut.pt"
    consolidate(PROFILE, synthetic, cut, ConsolidateConfig(steps=100, **TINY), progress=False, log=lambda m: None)
    res = consolidate(PROFILE, synthetic, cut, cfg, resume=True, progress=False, log=lambda m: None)
    assert res.step == 200 and [h["step"] for h in res.history] == [100, 200]
    assert len((tmp_path / "cut.pt.metrics.jsonl").read_text().splitlines()) == 2

    other = parse_profile(PROFILE.text.replace('name = "testgame"', 'name = "othergame"'))
    foreign = write_synthetic(tmp_path / "other.h5", "agent", 2, profile=other)
    with pytest.raises(DatasetError, match="'othergame'.*'testgame'"):
        Consolidator(PROFILE, [synthetic[0], foreign], cfg, log=lambda m: None)
    with pytest.raises(CheckpointError, match="othergame"):
        Consolidator(other, [foreign], cfg, parent=str(first), log=lambda m: None)
    with pytest.raises(CheckpointError, match="not an unfinished consolidate"):
        study_like = tmp_path / "s.pt"
        from hakisa.learn.study import StudyConfig, study

        study(PROFILE, synthetic[:1], study_like, StudyConfig(steps=2, batch_size=4, eval_every=2, stack=1,
                                                              channels=(8, 16), hidden=32, threads=1),
              progress=False, log=lambda m: None)
        Consolidator(PROFILE, synthetic, cfg, resume=str(study_like), log=lambda m: None)


def test_the_learner_runs_where_it_is_told(synthetic):
    """--device: the CPU here; a CUDA GPU when the machine has one (batches built on the CPU, moved over)."""
    from hakisa.errors import DeviceError

    c = Consolidator(PROFILE, synthetic, ConsolidateConfig(device="cpu", **TINY), log=lambda m: None)
    assert next(c.model.parameters()).device.type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="sees no CUDA GPU"):
            Consolidator(PROFILE, synthetic, ConsolidateConfig(device="cuda", **TINY), log=lambda m: None)
        return
    g = Consolidator(PROFILE, synthetic, ConsolidateConfig(device="cuda", **TINY), log=lambda m: None)
    m = g.update()
    assert math.isfinite(m["loss"]) and next(g.target.parameters()).device.type == "cuda"
    assert 0 <= g.evaluate()["agree_human"] <= 1 and g.health().metrics()


@pytest.mark.parametrize("imitation, light", [("margin", 0.1), ("nll", 0.01)])
def test_a_heavy_imitation_loss_holds_the_humans_choice_and_a_light_one_lets_returns_win(tmp_path, synthetic,
                                                                                        imitation, light):
    """Either imitation loss on the human steps: at weight 10 the human's left stays greedy where right pays more;
    light, the agent's returns overrule it (as in the test above). The cross-entropy at T = 0.1 pulls about ten
    times harder per unit of weight than the margin (its gradient carries 1 / T)."""
    from hakisa.act.agent import Agent

    for weight, want in ((10.0, LEFT), (light, RIGHT)):
        cfg = ConsolidateConfig(steps=600, target_every=100, imitation=imitation, margin_weight=weight, **TINY)
        out = tmp_path / f"{imitation}-{weight}.pt"
        consolidate(PROFILE, synthetic, out, cfg, progress=False, log=lambda m: None)
        assert greedy_in(Agent.from_checkpoint(load_checkpoint(out, PROFILE)).model, 1) == (KEY, want), weight
    with pytest.raises(ValueError, match="imitation must be"):
        Consolidator(PROFILE, synthetic, ConsolidateConfig(imitation="copy", **TINY), log=lambda m: None)


def write_delayed_loss(path, episodes: int = 40, steps: int = 40, seed: int = 3, actor: int = AGENT):
    """One situation; the agent presses noop, left or right at random, and every right costs a life (-1) five
    ticks later. The screen never shows a loss coming, so a 1-step TD target cannot tell right from left."""
    rng = np.random.default_rng(seed)
    w = DatasetWriter(path, PROFILE, CODEC, source="explore" if actor == AGENT else "record")
    for _ in range(episodes):
        w.start_episode(Observation(frame(0), 0.0, 0))
        due: list[int] = []
        for t in range(steps):
            c, a1 = [(NOOP, 0), (KEY, LEFT), (KEY, RIGHT)][rng.integers(3)]
            if (c, a1) == (KEY, RIGHT):
                due.append(t + 5)
            r = -1.0 if t in due else 0.0
            w.add_step((c, a1, 0), actor, r, False, False, Observation(frame(0), t + 1.0, t + 1))
        w.end_episode("truncated")
    w.close()
    return str(path)


def test_self_imitation_leaves_out_steps_that_ran_into_a_loss_and_steps_not_played_out(tmp_path):
    from hakisa.learn.buffer import ReplayBuffer

    path = write_delayed_loss(tmp_path / "delayed.h5", episodes=2, steps=12)
    cfg = ConsolidateConfig(self_imitation=1.0, loss_horizon=3 / PROFILE.capture.tick_hz, **TINY)
    c = Consolidator(PROFILE, [path], cfg, log=lambda m: None, spare_steps=64)
    T = c.T
    ok = c.survived(np.arange(len(T)))
    lost = np.flatnonzero(T.reward <= -0.5)
    for j in lost:  # the loss and the two steps before it in its episode
        first = np.flatnonzero(T.episode == T.episode[j])[0]
        assert not ok[max(first, j - 2) : j + 1].any()
    near = np.zeros(len(T), bool)
    for j in lost:
        near[max(0, j - 2) : j + 1] = True
    assert ok[~near].all()  # ended episodes: every other step is known and imitated
    # a live episode: the steps whose three ticks have not all been played are not imitated yet
    assert isinstance(T, ReplayBuffer)
    n0 = len(T)
    T.begin(frame(0))
    for _ in range(12):
        T.step((NOOP, 0, 0), AGENT, 0.0, False, frame(0))
    live = np.arange(n0, len(T))
    assert len(live) == 12 - (cfg.n_step - 1)  # committed once their n-step horizon (1) is known
    assert c.survived(live).tolist() == [True] * (len(live) - 2) + [False, False]
    T.end(truncated=True)
    assert c.survived(np.arange(n0, len(T))).all()
    # a person's correction (4 ticks), then the agent loses a life on its second tick back: the agent's run-up is
    # left out, the person's is not; a takeover's penalty on the agent's step before a person's ticks is the agent's
    n1 = len(T)
    T.begin(frame(0))
    for actor, reward in [(AGENT, 0.0), (AGENT, -1.0)] + [(HUMAN, 0.0)] * 4 + [(AGENT, 0.0), (AGENT, -1.0)] + [
            (AGENT, 0.0)] * 4:
        T.step((NOOP, 0, 0), actor, reward, False, frame(0))
    T.end(truncated=True)
    assert c.survived(np.arange(n1, len(T))).tolist() == [False, False] + [True] * 4 + [False, False] + [True] * 4


@pytest.mark.parametrize("who", ["agent", "human"])
def test_leaving_out_steps_before_losses_learns_what_the_returns_alone_cannot_see(tmp_path, who):
    """The delayed loss: imitating the agent's own steps (--self-imitation) or the human's (the online default)
    except those in a horizon that covers it, right's drawn share falls to under half of what it is when every step
    is imitated (agent: not imitated at all), where nothing tells the learner to avoid it (the data's share is a
    third)."""
    path = write_delayed_loss(tmp_path / "delayed.h5", actor=AGENT if who == "agent" else HUMAN)
    shares = {}
    for on in (False, True):
        flags = dict(self_imitation=1.0 if on else 0.0) if who == "agent" else dict(forget_before_loss=on)
        cfg = ConsolidateConfig(steps=400, loss_horizon=6 / PROFILE.capture.tick_hz, imitation="nll",
                                margin_weight=1.0, **flags, **TINY)
        c = Consolidator(PROFILE, [path], cfg, log=lambda m: None)
        for _ in range(cfg.steps):
            m = c.update()
        assert (m["self_loss"] > 0) == (on and who == "agent")
        with torch.no_grad():
            x = torch.from_numpy(frame(0).transpose(2, 0, 1)[None].copy())
            qs = c.model(x)
        from hakisa.learn.losses import command_values

        v = command_values(qs, c.masks)[0]
        key_p = torch.softmax(v / 0.1, 0)[KEY]
        right_p = float(key_p * torch.softmax(qs[1][0, [LEFT, RIGHT]] / 0.1, 0)[1])
        shares[on] = right_p
    assert shares[True] < 0.2 < shares[False] and shares[True] < shares[False] / 2, shares


def test_imitation_goes_on_at_the_temperature_the_start_was_studied_at(tmp_path, synthetic):
    """A clone studied to fit softmax(Q / 0.5) is consolidated (and trained online) fitting the same softmax unless
    told otherwise; a consolidated checkpoint passes its own on; without a start it is study's 0.1."""
    from hakisa.learn.consolidate import studied_temperature
    from hakisa.learn.study import StudyConfig, study

    studied = tmp_path / "s.pt"
    study(PROFILE, synthetic[:1], studied, StudyConfig(steps=2, batch_size=4, eval_every=2, stack=1, channels=(8, 16),
                                                       hidden=32, threads=1, temperature=0.5),
          progress=False, log=lambda m: None)
    assert studied_temperature(load_checkpoint(studied, PROFILE)) == 0.5
    c = Consolidator(PROFILE, synthetic, ConsolidateConfig(**TINY), parent=str(studied), log=lambda m: None)
    assert c.cfg.imitation_temperature == 0.5
    told = Consolidator(PROFILE, synthetic, ConsolidateConfig(imitation_temperature=0.2, **TINY), parent=str(studied),
                        log=lambda m: None)
    assert told.cfg.imitation_temperature == 0.2
    out = tmp_path / "c.pt"
    consolidate(PROFILE, synthetic, out, ConsolidateConfig(steps=2, **TINY), parent=str(studied), progress=False,
                log=lambda m: None)
    assert load_checkpoint(out, PROFILE)["state"]["config"]["imitation_temperature"] == 0.5
    assert Consolidator(PROFILE, synthetic, ConsolidateConfig(**TINY), parent=str(out),
                        log=lambda m: None).cfg.imitation_temperature == 0.5
    fresh = Consolidator(PROFILE, synthetic, ConsolidateConfig(**TINY), log=lambda m: None)
    assert fresh.cfg.imitation_temperature == 0.1
    assert studied_temperature({"state": {"config": {"temperature": "hot"}}}) == 0.1  # a damaged record: the default


def test_the_policy_kl_is_zero_for_the_same_values_and_matches_a_hand_count():
    from hakisa.learn.losses import policy_kl

    masks = HeadMasks(CODEC)
    g = torch.Generator().manual_seed(0)
    shapes = (CODEC.n_command, CODEC.n_action_1, CODEC.n_action_2)
    ref = tuple(torch.randn(2, n, generator=g) for n in shapes)
    assert torch.allclose(policy_kl(ref, ref, masks, 0.5), torch.zeros(2), atol=1e-6)
    # only the key chord's values differ and commands are chosen by the command head alone (not joint): the KL is
    # the chance of KEY times the chords' KL (x and y never apply)
    moved = (ref[0], ref[1] + torch.randn(2, shapes[1], generator=g), ref[2])
    from hakisa.learn.losses import command_values

    p_key = torch.softmax(command_values(ref, masks, joint=False) / 0.5, 1)[:, KEY]
    valid = masks.a1[KEY]
    p = torch.softmax(ref[1][:, valid] / 0.5, 1)
    q = torch.softmax(moved[1][:, valid] / 0.5, 1)
    want = p_key * (p * (p.log() - q.log())).sum(1)
    got = policy_kl(moved, ref, masks, 0.5, joint=False)
    assert (got > 0).all() and torch.allclose(got, want, atol=1e-5)


def test_an_anchor_holds_the_start_policy_where_returns_would_move_it(tmp_path, synthetic):
    """From a clone that presses the human's left everywhere, a light imitation lets the returns turn situation B to
    right (as above); the same run paying the KL to the start's policy at weight 10 keeps left. Without a start the
    anchor is refused."""
    from hakisa.act.agent import Agent
    from hakisa.errors import ConfigError

    start = tmp_path / "start.pt"
    consolidate(PROFILE, synthetic, start, ConsolidateConfig(steps=600, target_every=100, imitation="nll",
                                                             margin_weight=10.0, **TINY), progress=False,
                log=lambda m: None)
    assert greedy_in(Agent.from_checkpoint(load_checkpoint(start, PROFILE)).model, 1) == (KEY, LEFT)
    moved = {}
    for anchor, want in ((0.0, RIGHT), (10.0, LEFT)):
        out = tmp_path / f"a{anchor}.pt"
        res = consolidate(PROFILE, synthetic, out, ConsolidateConfig(steps=600, target_every=100, imitation="nll",
                                                                     margin_weight=0.01, anchor=anchor, **TINY),
                          parent=str(start), progress=False, log=lambda m: None)
        assert greedy_in(Agent.from_checkpoint(load_checkpoint(out, PROFILE)).model, 1) == (KEY, want), anchor
        assert (res.history[-1]["train_anchor_kl"] > 0) == (anchor > 0)
        moved[anchor] = res.metrics["moved"], res.metrics["kl_start"]
    # how far each moved from the start, on the evaluation steps: about half of them are situation B
    assert moved[0.0][0] > 0.3 and moved[10.0][0] < 0.1 and moved[0.0][1] > 10 * moved[10.0][1]
    assert "moved" not in Consolidator(PROFILE, synthetic, ConsolidateConfig(**TINY), log=lambda m: None).evaluate()
    with pytest.raises(ConfigError, match="--anchor"):
        Consolidator(PROFILE, synthetic, ConsolidateConfig(anchor=1.0, **TINY), log=lambda m: None)


def test_study_weights_keep_the_odds_study_gave_a_rare_action(tmp_path):
    """A person who presses left on a tenth of the ticks, whatever the screen: imitating every step alike fits a
    policy that presses about that often; weighing them as study does (a rare action and the ticks where the action
    changed count more) fits one that presses more often, as the studied clone was fitted. The checkpoint carries
    the settings on."""
    from hakisa.learn.losses import command_values

    rng = np.random.default_rng(3)
    path = tmp_path / "rare.h5"
    w = DatasetWriter(path, PROFILE, CODEC, source="record")
    for _ in range(20):
        w.start_episode(Observation(frame(0), 0.0, 0))
        for t in range(50):
            c = KEY if rng.random() < 0.1 else NOOP
            w.add_step((c, LEFT if c == KEY else 0, 0), HUMAN, 0.0, False, False, Observation(frame(0), t + 1.0, t + 1))
        w.end_episode("terminated")
    w.close()
    rate, logs = {}, []
    for how in ("uniform", "study"):
        out = tmp_path / f"{how}.pt"
        consolidate(PROFILE, [str(path)], out, ConsolidateConfig(steps=400, imitation="nll", margin_weight=10.0,
                                                                 imitation_weights=how, **TINY),
                    progress=False, log=logs.append)
        c = Consolidator(PROFILE, [str(path)], ConsolidateConfig(**TINY), parent=str(out), log=lambda m: None)
        with torch.no_grad():
            x = torch.from_numpy(frame(0).transpose(2, 0, 1)[None].copy())
            rate[how] = float(torch.softmax(command_values(c.model(x), c.masks) / 0.1, 1)[0, KEY])
        assert load_checkpoint(out, PROFILE)["state"]["imitation_weights"] is None  # no study behind it to carry
    assert rate["uniform"] < 0.16 and rate["study"] > 1.5 * rate["uniform"], rate
    assert any("study's default settings" in m for m in logs)
    with pytest.raises(ValueError, match="imitation_weights"):
        Consolidator(PROFILE, [str(path)], ConsolidateConfig(imitation_weights="rare", **TINY), log=lambda m: None)
