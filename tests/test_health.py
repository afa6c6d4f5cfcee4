"""Training that cannot die silently: the health check on deliberately broken networks and runs."""

import os

import numpy as np
import torch

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from hakisa.codec import ActionCodec
from hakisa.learn.health import check_health, human_shares, verdict
from hakisa.learn.losses import HeadMasks
from hakisa.learn.model import ModelConfig, QNetwork
from hakisa.profile import parse_profile

from conftest import profile_text

PROFILE = parse_profile(profile_text("x"))
CODEC = ActionCodec(PROFILE.actions, (320, 180))
MASKS = HeadMasks(CODEC)


def net(norm="none", seed=0) -> QNetwork:
    torch.manual_seed(seed)
    return QNetwork(ModelConfig(frame_shape=(64, 64, 1), stack=2, n_command=CODEC.n_command,
                                n_action_1=CODEC.n_action_1, n_action_2=CODEC.n_action_2, channels=(8, 16, 16),
                                hidden=32, norm=norm))


def probe(n=128, seed=0):
    """Frames of different moments (a bright square wandering over noise) and a varied human."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 40, (n, 2, 64, 64), dtype=np.uint8)
    for i in range(n):
        r, c = rng.integers(0, 48, 2)
        x[i, :, r : r + 16, c : c + 16] = 255
    human = np.zeros((n, 3), np.int64)
    human[:, 0] = rng.choice([0, 1], n, p=[0.6, 0.4])
    human[human[:, 0] == 1, 1] = rng.integers(0, CODEC.n_action_1, int((human[:, 0] == 1).sum()))
    return torch.from_numpy(x), human


def test_a_network_whose_first_layer_died_is_reported_in_plain_words():
    m = net()
    with torch.no_grad():
        m.trunk[0].bias.fill_(-1e4)  # conv1 never fires again: the output cannot depend on the screen
    x, human = probe()
    h = check_health(m, x, human, MASKS, what="the clone")
    kinds = {p.kind for p in h.problems}
    assert {"dead_units", "no_input_dependence", "one_action"} <= kinds
    assert h.dead["conv1"] == 1.0 and h.top_share == 1.0
    dead = next(p for p in h.problems if p.kind == "dead_units")
    assert "conv1 100%" in dead.message and "--lr" in dead.message
    text, degenerate = verdict({"acc_exact": 0.6, "acc_active": 0.0, "acc_command": 0.6, "share_active": 0.4}, h,
                               human_shares(human[:, 0]))
    assert degenerate and "DEGENERATE" in text and "WARNING" in text
    assert "copies the idling" in text  # it never agreed with the human where the human acted


def test_a_clone_that_never_does_the_rare_thing_the_human_does_is_degenerate():
    """A runner clone that never jumps: healthy numbers, 99.6% agreement, and useless."""
    x, human = probe()
    h = check_health(net(), x, human, MASKS)
    h.problems.clear()
    text, degenerate = verdict({"acc_exact": 0.996, "acc_active": 0.0, "acc_command": 0.996,
                                "share_active": 0.004}, h, {"noop": 0.996, "key": 0.004})
    assert degenerate and "0.4% of held-out ticks where the human acted" in text
    text, degenerate = verdict({"acc_exact": 0.9, "acc_active": 0.6, "acc_command": 0.95, "share_active": 0.3},
                               h, {"noop": 0.7, "key": 0.3})
    assert "copies the idling" not in text


def test_half_a_layer_dead_is_a_warning_and_a_layer_nearly_all_dead_is_degenerate():
    """A runner clone with 58% of conv3 dead scored 3x random: warn, but do not call it unplayable."""
    from hakisa.learn.health import Problem

    x, human = probe()
    h = check_health(net(), x, human, MASKS)
    h.problems.clear()
    metrics = {"acc_exact": 0.9, "acc_active": 0.6, "acc_command": 0.95, "share_active": 0.3}
    shares = {"noop": 0.7, "key": 0.3}
    h.greedy_share = dict(shares)
    h.problems.append(Problem("dead_units", "the clone has dead units: conv3 58%"))
    h.dead["conv3"] = 0.58
    text, degenerate = verdict(metrics, h, shares)
    assert not degenerate and "WARNING: the clone has dead units" in text and "verdict: weakened" in text
    h.dead["conv3"] = 0.95
    text, degenerate = verdict(metrics, h, shares)
    assert degenerate and "verdict: DEGENERATE" in text


def test_a_fresh_network_is_alive_and_depends_on_its_input():
    for norm in ("none", "layer"):
        x, human = probe()
        h = check_health(net(norm), x, human, MASKS)
        assert max(h.dead.values()) < 0.5 and h.input_std > 1e-3, (norm, h.summary())
        assert not {p.kind for p in h.problems} & {"dead_units", "no_input_dependence", "not_finite"}


def test_nan_weights_and_a_flat_loss_are_reported():
    m = net()
    with torch.no_grad():
        m.value.weight.fill_(float("nan"))
    x, human = probe()
    assert [p.kind for p in check_health(m, x, human, MASKS).problems] == ["not_finite"]
    flat = check_health(net(), x, human, MASKS, losses=[1.0, 1.0, 0.999, 1.0])
    assert "loss_flat" in {p.kind for p in flat.problems}
    moving = check_health(net(), x, human, MASKS, losses=[1.0, 0.8, 0.6, 0.5])
    assert "loss_flat" not in {p.kind for p in moving.problems}


def test_layer_norm_checkpoints_round_trip_and_old_configs_mean_no_norm():
    from hakisa.learn.checkpoint import check_model_config, expected_shapes

    cfg = net("layer").cfg
    shapes = expected_shapes(cfg)
    assert any("trunk.1" in k for k in shapes) and set(shapes) == set(net("layer").state_dict())
    old = cfg.to_dict()
    del old["norm"]
    assert check_model_config(old, "old.pt").norm == "none"


def test_a_broken_learning_rate_prints_the_dead_network_warning_and_the_defaults_do_not(tmp_path, capsys):
    """`hakisa study` itself, default network, on the demonstrator's headless play: at --lr 1e-2 it says
    the network died and calls the clone degenerate; with the defaults it does not."""
    from test_study import PROFILE as DEMO_PROFILE, record_demo

    from hakisa.cli import main

    prof = tmp_path / "p.toml"
    prof.write_text(DEMO_PROFILE.text)
    data = [str(record_demo(tmp_path / "a.h5", seed=1)), str(record_demo(tmp_path / "b.h5", seed=2))]
    runs = {}
    for name, extra in (("broken", ["--lr", "1e-2"]), ("default", [])):
        rc = main(["study", "--profile", str(prof), "--data", *data, "--out", str(tmp_path / f"{name}.pt"),
                   "--steps", "100", "--batch-size", "32", "--eval-every", "50", "--threads", "1", "--quiet", *extra])
        out = capsys.readouterr()
        assert rc == 0, out.err
        runs[name] = out.out + out.err
    broken, default = runs["broken"], runs["default"]
    assert "study: WARNING at update" in broken and "has dead units" in broken
    assert "verdict: DEGENERATE" in broken
    assert "dead units (zero on every probe frame" not in default, default
    assert "held-out agreement with the human" in default and "verdict:" in default


def test_the_motion_input_is_the_frames_and_their_differences():
    """With ``motion`` the first convolution sees the stacked frames and what changed between them: on a still
    scene the difference channels are zero, so only the frame weights matter; a moving square changes the output."""
    torch.manual_seed(0)
    cfg = ModelConfig(frame_shape=(64, 64, 1), stack=3, n_command=CODEC.n_command, n_action_1=CODEC.n_action_1,
                      n_action_2=CODEC.n_action_2, channels=(8, 16, 16), hidden=32, norm="layer", motion=True)
    m = QNetwork(cfg).eval()
    assert m.trunk[0].in_channels == 3 + 2
    still = torch.zeros(2, 3, 64, 64, dtype=torch.uint8)
    still[:, :, 20:28, 20:28] = 200
    moving = still.clone()
    moving[:, 2] = 0
    moving[:, 2, 20:28, 30:38] = 200
    with torch.no_grad():
        base = m(still)
        m.trunk[0].weight[:, 3:] = 0  # without the difference weights the still scene reads the same
        assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(base, m(still)))
        assert not all(torch.allclose(a, b, atol=1e-4) for a, b in zip(base, m(moving)))
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    assert ModelConfig.from_dict({k: v for k, v in cfg.to_dict().items() if k != "motion"}).motion is False
