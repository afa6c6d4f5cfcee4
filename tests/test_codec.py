import numpy as np
import pytest

from hakisa.codec import KEY, LEFT_CLICK, MOUSE_MOVE, NOOP, RIGHT_CLICK, Action, ActionCodec, TickInput
from hakisa.profile import ActionSpec

KEYS = ActionSpec(keys=(("left",), ("right",), ("space",), ("left", "space"), ("right", "space")),
                  mouse="none", mouse_grid=(32, 18))
MOUSE = ActionSpec(keys=(("space",),), mouse="absolute", mouse_grid=(32, 18))


def tick(held=(), pressed=(), mouse=None, moved=False, clicks=()):
    return TickInput(frozenset(held), tuple(pressed), mouse, moved, tuple(clicks))


def test_held_chords_map_to_the_listed_combination():
    c = ActionCodec(KEYS, (640, 360))
    assert c.encode(tick()) == Action(NOOP)
    assert c.encode(tick(held={"left"})) == Action(KEY, 0)
    assert c.encode(tick(held={"space", "left"})) == Action(KEY, 3)
    # a key not in the vocabulary is ignored; a tap inside one tick still counts as held
    assert c.encode(tick(held={"q"})) == Action(NOOP)
    assert c.encode(tick(held=set(), pressed=["space"])) == Action(KEY, 2)
    # left+right is not listed: the most recently pressed key decides
    assert c.encode(tick(held={"left", "right"}, pressed=["left", "right"])) == Action(KEY, 1)
    # left+right+space: a listed two-key chord containing the latest press wins
    assert c.encode(tick(held={"left", "right", "space"}, pressed=["right", "space", "left"])) == Action(KEY, 3)


def test_mouse_cells_clicks_beat_keys_and_moves():
    c = ActionCodec(MOUSE, (640, 360))
    assert c.encode(tick(mouse=(639, 359), moved=True)) == Action(MOUSE_MOVE, 31, 17)
    assert c.encode(tick(held={"space"}, mouse=(0, 0), moved=True)) == Action(KEY, 0)
    assert c.encode(tick(held={"space"}, clicks=[("left", 100, 50)])) == Action(LEFT_CLICK, 5, 2)
    assert c.encode(tick(clicks=[("right", 20, 350)])) == Action(RIGHT_CLICK, 1, 17)


@pytest.mark.parametrize("spec", [KEYS, MOUSE, ActionSpec(keys=(), mouse="absolute", mouse_grid=None)])
def test_raw_to_heads_to_input_round_trips(spec):
    c = ActionCodec(spec, (320, 180))
    rng = np.random.default_rng(0)
    for _ in range(300):
        ct = int(rng.choice(np.flatnonzero(c.command_mask())))
        a1 = int(rng.choice(np.flatnonzero(c.action_1_mask(ct)))) if c.action_1_mask(ct).any() else 0
        a2 = int(rng.choice(np.flatnonzero(c.action_2_mask(ct)))) if c.action_2_mask(ct).any() else 0
        cmd = c.decode((ct, a1, a2))
        clicks = [(cmd.click, *cmd.mouse)] if cmd.click else []
        raw = tick(held=cmd.held, pressed=sorted(cmd.held), mouse=cmd.mouse, moved=cmd.mouse is not None,
                   clicks=clicks)
        assert c.encode(raw) == Action(ct, a1, a2), (ct, a1, a2, cmd)


def test_masks_say_which_heads_apply():
    c = ActionCodec(KEYS, (640, 360))
    assert c.command_mask().tolist() == [True, True, False, False, False]
    assert c.action_1_mask(KEY).sum() == 5 and not c.action_1_mask(NOOP).any()
    assert not c.action_2_mask(KEY).any()
    uses1, uses2 = ActionCodec.head_usage(np.array([NOOP, KEY, MOUSE_MOVE, LEFT_CLICK]))
    assert uses1.tolist() == [False, True, True, True] and uses2.tolist() == [False, False, True, True]
    with pytest.raises(ValueError, match="actions.mouse"):
        c.decode((MOUSE_MOVE, 1, 1))
    with pytest.raises(ValueError, match="not a key chord"):
        c.decode((KEY, 9, 0))
