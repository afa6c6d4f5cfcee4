"""The imitation prior: offsets that take back the weights' pull on how often the clone acts (logit adjustment)."""

import numpy as np
import pytest
import torch

from hakisa.codec import KEY, NOOP, ActionCodec
from hakisa.learn.losses import HeadMasks, command_values, imitation_nll, sample
from hakisa.learn.study import Prior, imitation_prior
from hakisa.profile import parse_profile

from conftest import profile_text

PROFILE = parse_profile(profile_text("x", hz=60))  # keys only
MASKS = HeadMasks(ActionCodec(PROFILE.actions, (320, 180)))


def fit(acts: torch.Tensor, weight: torch.Tensor, tau: float) -> tuple[torch.Tensor, ...]:
    """Q values of one state fitted by the weighted imitation cross-entropy to the demonstrated ``acts``."""
    n = len(acts)
    params = [torch.zeros(1, 5, requires_grad=True), torch.zeros(1, 5, requires_grad=True), torch.zeros(1, 1)]
    opt = torch.optim.Adam(params[:2], lr=0.05)
    for _ in range(500):
        qs = tuple(p.expand(n, -1) for p in params)
        loss = (imitation_nll(qs, acts, MASKS, tau).sum(1) * weight).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return tuple(p.detach().expand(n, -1) for p in params)


def test_the_prior_takes_back_the_weights_pull_so_drawn_play_acts_at_the_humans_rate():
    """The human pressed chord 2 on 30% of ticks; the pressed ticks weigh 4 (balance and keyframes), so the fitted
    policy presses on 0.3 * 4 / (0.3 * 4 + 0.7) = 63% of draws. The prior's offsets bring it back to 30%, and
    half of them to the odds in between."""
    n, tau = 1000, 0.1
    acts = torch.zeros(n, 3, dtype=torch.long)
    acts[:300, 0], acts[:300, 1] = KEY, 2
    weight = torch.where(acts[:, 0] == KEY, 4.0, 1.0)
    qs = fit(acts, weight, tau)
    rng = np.random.default_rng(0)
    assert (sample(qs, MASKS, tau, rng)[:, 0] == KEY).float().mean().item() == pytest.approx(0.63, abs=0.04)

    prior = imitation_prior(weight.numpy(), acts[:, 0].numpy(), acts[:, 1].numpy(), MASKS, tau, joint=True)
    assert prior.command[NOOP] == 0 and prior.command[KEY] == pytest.approx(np.log(4))  # against the common one
    assert (prior.action_1 == 0).all()  # one chord only: nothing to take back within KEY
    full = prior.scaled(1.0)
    shift = (command_values(qs, MASKS, bias=full) - command_values(qs, MASKS))[0]
    assert shift[KEY].item() == pytest.approx(-tau * np.log(4), abs=1e-5) and shift[NOOP].item() == 0
    assert (sample(qs, MASKS, tau, rng, bias=full)[:, 0] == KEY).float().mean().item() == pytest.approx(0.3, abs=0.04)
    # half of them: odds 0.3 * 2 : 0.7
    assert (sample(qs, MASKS, tau, rng, bias=prior.scaled(0.5))[:, 0] == KEY).float().mean().item() == pytest.approx(
        0.6 / 1.3, abs=0.04)


def test_the_prior_weighs_chords_within_their_command_and_ignores_steps_not_imitated():
    """Chord 1 weighs twice chord 0 within KEY; steps of weight 0 (the run-up to a loss) do not count; the prior
    round-trips through a checkpoint's state."""
    command = np.array([NOOP] * 6 + [KEY] * 4 + [KEY] * 3)
    action_1 = np.array([0] * 6 + [0] * 4 + [1] * 3)
    weight = np.array([1.0] * 6 + [1.0] * 4 + [2.0] * 2 + [0.0])
    prior = imitation_prior(weight, command, action_1, MASKS, 0.1, joint=False)
    assert prior.action_1[KEY, 1] == pytest.approx(np.log(2)) and prior.action_1[KEY, 0] == 0
    assert prior.command[KEY] == pytest.approx(np.log(8 / 6))  # (4 + 4) / 6 imitated key steps against no-op's 1
    bias = prior.scaled(1.0)
    assert bias.command[KEY].item() == pytest.approx(-0.1 * np.log(8 / 6))  # head by head: no scaling by heads
    again = Prior.from_dict(prior.to_dict()).scaled(1.0)
    assert torch.equal(again.command, bias.command) and torch.equal(again.action_1, bias.action_1)


def test_a_damaged_prior_is_refused_in_plain_words():
    good = imitation_prior(np.ones(4), np.array([NOOP, NOOP, KEY, KEY]), np.zeros(4, np.int64), MASKS, 0.1,
                           True).to_dict()
    for bad in ({**good, "command": [0.0]}, {k: v for k, v in good.items() if k != "scale"},
                {**good, "action_1": [[float("nan")] * 5] * 5}):
        with pytest.raises(ValueError, match="imitation prior"):
            Prior.from_dict(bad)
