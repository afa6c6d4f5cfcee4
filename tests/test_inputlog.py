from hakisa.data.dataset import mask_names
from hakisa.record.inputlog import BUTTON_DOWN, KEY_DOWN, KEY_UP, InputTracker


def test_holds_come_from_press_release_pairs_not_autorepeat():
    t = InputTracker()
    t.key_down("left", 1.0)
    t.key_down("left", 1.6)  # X autorepeat
    t.key_down("left", 1.65)
    s = t.snapshot()
    assert s.tick_input.held == {"left"} and s.tick_input.pressed == ("left",)
    assert [e[1] for e in s.events] == [KEY_DOWN]
    s = t.snapshot()  # still held, nothing new
    assert s.tick_input.held == {"left"} and s.tick_input.pressed == () and s.events == []
    assert mask_names(s.held_mask) == ["left"]
    t.key_up("left", 2.0)
    s = t.snapshot()
    assert s.tick_input.held == frozenset() and [e[1] for e in s.events] == [KEY_UP]


def test_a_tap_inside_one_tick_is_kept():
    t = InputTracker()
    t.key_down("space", 1.0)
    t.key_up("space", 1.01)
    s = t.snapshot()
    assert s.tick_input.held == frozenset() and s.tick_input.pressed == ("space",)


def test_keys_pressed_in_another_window_are_never_logged():
    focus = {"game": False}
    t = InputTracker(accept_key=lambda: focus["game"])
    t.key_down("a", 1.0)
    t.key_up("a", 1.1)
    s = t.snapshot()
    assert s.events == [] and s.tick_input.pressed == () and t.rejected_keys == 1
    focus["game"] = True
    t.key_down("b", 2.0)
    focus["game"] = False  # left the game while holding b: its release is still logged
    t.key_up("b", 2.5)
    s = t.snapshot()
    assert [e[1] for e in s.events] == [KEY_DOWN, KEY_UP]


def test_kill_switch_calls_back_and_is_not_logged():
    hits = []
    t = InputTracker(kill_key="f12", on_kill=lambda: hits.append(1))
    t.key_down("f12")
    t.key_up("f12")
    assert hits == [1] and t.snapshot().events == []


def test_mouse_is_kept_only_inside_the_captured_area_in_its_pixels():
    t = InputTracker()
    t.set_area((100, 50, 640, 360))
    t.move(10, 10)
    t.button("left", True, 10, 10)
    s = t.snapshot()
    assert s.events == [] and s.mouse_xy == (-1, -1) and not s.tick_input.moved
    t.move(150, 60)
    t.button("left", True, 150, 60)
    t.button("left", False, 151, 60)
    s = t.snapshot()
    assert s.mouse_xy == (51, 10) and s.tick_input.clicks == (("left", 50, 10),)
    assert BUTTON_DOWN in [e[1] for e in s.events]
