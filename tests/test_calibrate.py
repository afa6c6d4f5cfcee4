"""Calibration: offsets that make the greedy clone act as often as the human, where its values say to act."""

import numpy as np
import pytest
import torch

from hakisa.codec import KEY, NOOP, ActionCodec
from hakisa.learn.calibrate import action_classes, fit_action_bias
from hakisa.learn.losses import ActionBias, HeadMasks, greedy, sample
from hakisa.profile import parse_profile

from conftest import profile_text

PROFILE = parse_profile(profile_text("x", hz=60))  # keys only
MASKS = HeadMasks(ActionCodec(PROFILE.actions, (320, 180)))
N_CHORDS = int(MASKS.a1[KEY].sum())


def values(evidence: np.ndarray, chord_values: np.ndarray) -> tuple[torch.Tensor, ...]:
    """Q values of N frames: no-op 0, KEY's command value ``evidence - 1`` (so pressing is never greedy), the
    chords' values ``chord_values`` (N, n_chords)."""
    n = len(evidence)
    qc = torch.full((n, MASKS.command.shape[0]), -5.0)
    qc[:, NOOP] = 0.0
    qc[:, KEY] = torch.as_tensor(evidence - 1.0, dtype=torch.float32)
    q1 = torch.full((n, MASKS.a1.shape[1]), -5.0)
    q1[:, :N_CHORDS] = torch.as_tensor(chord_values, dtype=torch.float32)
    return qc, q1, torch.zeros(n, MASKS.a2.shape[1])


def test_calibrated_greedy_acts_as_often_as_the_human_on_the_frames_its_values_rank_highest():
    """The human pressed chord 2 on the 20% of frames where the evidence was highest; the network ranks the frames
    right but is never sure enough to press, so greedy play idles. After calibration it presses on about 20% of
    the frames, nearly all of them the human's."""
    rng = np.random.default_rng(0)
    n = 2000
    evidence = rng.random(n)
    chords = np.full((n, N_CHORDS), -2.0)
    chords[:, 2] = evidence - 1.0
    qs = values(evidence, chords)
    human = np.zeros((n, 3), np.int64)
    pressed = evidence >= np.quantile(evidence, 0.8)
    human[pressed, 0], human[pressed, 1] = KEY, 2
    assert (greedy(qs, MASKS)[:, 0] == NOOP).all()

    bias, report = fit_action_bias(qs, human, MASKS, N_CHORDS, scale=0.1)
    assert report["tv_before"] == pytest.approx(0.2, abs=0.01) and report["tv_after"] < 0.01
    assert bias.command[NOOP] == 0 and (bias.action_1[NOOP] == 0).all()  # the human's most common class (no-op here) is the reference
    acts = greedy(qs, MASKS, bias=bias)
    keyed = (acts[:, 0] == KEY).numpy()
    assert abs(keyed.mean() - 0.2) < 0.01
    assert (keyed & pressed).sum() / pressed.sum() > 0.95  # where its values were highest, as the human did
    assert (acts[keyed, 1] == 2).all()


def test_two_sided_calibration_gives_a_rare_chord_its_share_and_raise_only_leaves_an_eager_clone_alone():
    """The human pressed chord 0 on 30% of frames and chord 3 on 10%; the network always presses, and prefers
    chord 0 among the chords. Two-sided calibration makes it idle on 60% and press chord 3 on about 10% of
    frames, and draws at a low temperature follow the calibrated greedy action. The default (raise only) never
    pushes an action down against the human's most common one (no-op), so this clone, which acts more than the
    human, still never idles; it only gets chord 3 its share."""
    rng = np.random.default_rng(1)
    n = 3000
    evidence = rng.random(n) + 1.0  # pressing always beats idling
    chords = np.full((n, N_CHORDS), -3.0)
    chords[:, 0] = 1.0
    chords[:, 3] = rng.random(n) * 0.5
    qs = values(evidence, chords)
    human = np.zeros((n, 3), np.int64)
    order = rng.permutation(n)
    human[order[:900], 0], human[order[:900], 1] = KEY, 0
    rare = order[900:1200]
    human[rare, 0], human[rare, 1] = KEY, 3
    bias, report = fit_action_bias(qs, human, MASKS, N_CHORDS, scale=0.1, raise_only=False)
    shares = np.asarray(report["after"])
    cls = action_classes(human, MASKS.command.shape[0], N_CHORDS)
    assert shares[1 + 3] == pytest.approx((cls == 1 + 3).mean(), abs=0.01)
    assert shares[0] == pytest.approx(0.6, abs=0.01)
    calibrated = greedy(qs, MASKS, bias=bias)
    drawn = sample(qs, MASKS, 1e-4, np.random.default_rng(0), bias=bias)
    assert (drawn == calibrated).all(1).float().mean() > 0.99  # ties at the threshold may go either way
    # raise only: chord 3 is still raised to its share, but pressing is never pushed down toward idling
    kept, report = fit_action_bias(qs, human, MASKS, N_CHORDS, scale=0.1)
    assert (kept.command == 0).all() and (kept.action_1 >= 0).all()
    assert report["after"][0] == report["before"][0] == 0 and report["after"][1 + 3] == pytest.approx(0.1, abs=0.01)


def test_an_action_bias_round_trips_and_refuses_the_wrong_shapes():
    n_command, n_action_1 = MASKS.command.shape[0], MASKS.a1.shape[1]
    b = ActionBias(np.arange(n_command), np.ones((n_command, n_action_1)))
    back = ActionBias.from_dict(b.to_dict(), n_command, n_action_1)
    assert torch.equal(back.command, b.command) and torch.equal(back.action_1, b.action_1)
    with pytest.raises(ValueError, match="expected"):
        ActionBias.from_dict(b.to_dict(), n_command, n_action_1 + 1)
    with pytest.raises(ValueError, match="finite"):
        ActionBias.from_dict({"command": [float("nan")] * n_command, "action_1": b.to_dict()["action_1"]},
                             n_command, n_action_1)


def test_study_refuses_an_unknown_calibration(tmp_path):
    from hakisa.learn.study import StudyConfig, study

    with pytest.raises(ValueError, match="calibrate must be 'raise', 'match' or 'off'"):
        study(PROFILE, [str(tmp_path / "none.h5")], tmp_path / "s.pt", StudyConfig(calibrate="sometimes"),
              progress=False, log=lambda m: None)


def test_the_agent_acts_with_its_offsets_greedily_and_when_exploring():
    """An agent whose values never favour pressing presses chord 2 once its offset says so, greedy or with
    epsilon-exploration's greedy branch."""
    from types import SimpleNamespace

    from hakisa.act.agent import Agent

    qs = values(np.array([0.5]), np.array([[-2.0, -2.0, -0.5] + [-2.0] * (N_CHORDS - 3)]))

    class Fixed(torch.nn.Module):
        cfg = SimpleNamespace(stack=1)

        def forward(self, x):
            return qs

    codec = ActionCodec(PROFILE.actions, (320, 180))
    plain = Agent(Fixed(), codec)
    assert plain.act(np.zeros((8, 8, 1), np.uint8))[0].command_type == NOOP
    n_command, n_action_1 = MASKS.command.shape[0], MASKS.a1.shape[1]
    action_1 = np.zeros((n_command, n_action_1))
    action_1[KEY, 2] = 2.0  # KEY's joint value (-0.5 + -0.5 + 2) / 2 = 0.5 > no-op's 0
    agent = Agent(Fixed(), codec, bias=ActionBias(np.zeros(n_command), action_1))
    a, _, is_greedy = agent.act(np.zeros((8, 8, 1), np.uint8))
    assert (a.command_type, a.action_1, is_greedy) == (KEY, 2, True)
    a, _, is_greedy = agent.act(np.zeros((8, 8, 1), np.uint8), epsilon=1e-9, rng=np.random.default_rng(0))
    assert (a.command_type, a.action_1, is_greedy) == (KEY, 2, True)
