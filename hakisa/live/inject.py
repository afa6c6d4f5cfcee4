"""Input injection through the OS (pynput on X11, via XTEST).

Keys are injected by keysym (``KeyCode.from_vk``) or as pynput special keys, never
as plain characters: X games and other processes' listeners do not see those.
"""

from __future__ import annotations

from pynput import keyboard, mouse

from hakisa.keys import X_KEYSYMS

_SPECIAL = {
    "space": keyboard.Key.space, "enter": keyboard.Key.enter, "esc": keyboard.Key.esc,
    "tab": keyboard.Key.tab, "backspace": keyboard.Key.backspace, "left": keyboard.Key.left,
    "right": keyboard.Key.right, "up": keyboard.Key.up, "down": keyboard.Key.down,
    "shift": keyboard.Key.shift, "ctrl": keyboard.Key.ctrl, "alt": keyboard.Key.alt,
    "home": keyboard.Key.home, "end": keyboard.Key.end, "page_up": keyboard.Key.page_up,
    "page_down": keyboard.Key.page_down, "delete": keyboard.Key.delete,
    **{f"f{i}": getattr(keyboard.Key, f"f{i}") for i in range(1, 21) if hasattr(keyboard.Key, f"f{i}")},
}
_BUTTONS = {"left": mouse.Button.left, "right": mouse.Button.right, "middle": mouse.Button.middle}


def _pynput_key(name: str):
    if name in _SPECIAL:
        return _SPECIAL[name]
    if name in X_KEYSYMS:
        return keyboard.KeyCode.from_vk(X_KEYSYMS[name])
    raise ValueError(f"cannot inject unknown key {name!r}")


class Injector:
    """Presses, releases, moves and clicks; remembers what it holds so it can release it all."""

    def __init__(self):
        self.kb = keyboard.Controller()
        self.mouse = mouse.Controller()
        self.held: set[str] = set()
        self.buttons: set[str] = set()

    def press(self, name: str) -> None:
        self.kb.press(_pynput_key(name))
        self.held.add(name)

    def release(self, name: str) -> None:
        self.kb.release(_pynput_key(name))
        self.held.discard(name)

    def hold_only(self, keys: frozenset[str] | set[str]) -> None:
        """Make exactly ``keys`` held: release the others, press the missing ones."""
        for k in sorted(self.held - set(keys)):
            self.release(k)
        for k in sorted(set(keys) - self.held):
            self.press(k)

    def move(self, x: int, y: int) -> None:
        """Move the pointer to screen (root) pixel (x, y)."""
        self.mouse.position = (int(x), int(y))

    def button_down(self, button: str = "left") -> None:
        self.mouse.press(_BUTTONS[button])
        self.buttons.add(button)

    def button_up(self, button: str = "left") -> None:
        self.mouse.release(_BUTTONS[button])
        self.buttons.discard(button)

    def click(self, button: str = "left") -> None:
        self.button_down(button)
        self.button_up(button)

    def release_all(self) -> None:
        """Release every key and button this injector holds (call on any exit)."""
        for k in list(self.held):
            try:
                self.release(k)
            except Exception:
                self.held.discard(k)
        for b in list(self.buttons):
            try:
                self.button_up(b)
            except Exception:
                self.buttons.discard(b)


class LiveActuator:
    """The agent loop's hands on a real window: area-relative commands become OS input."""

    def __init__(self, injector: Injector | None = None):
        self.inj = injector or Injector()

    def apply(self, cmd, area: tuple[int, int, int, int]) -> None:
        self.inj.hold_only(cmd.held)
        if cmd.mouse is not None:
            self.inj.move(area[0] + cmd.mouse[0], area[1] + cmd.mouse[1])
        if cmd.click:
            self.inj.click(cmd.click)

    def tap(self, key: str) -> None:
        self.inj.press(key)
        self.inj.release(key)

    def click_at(self, x: int, y: int, area: tuple[int, int, int, int]) -> None:
        self.inj.move(area[0] + x, area[1] + y)
        self.inj.click("left")

    def release_all(self) -> None:
        self.inj.release_all()
