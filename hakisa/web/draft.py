"""A profile being edited: its ``[rules]`` tables as plain data, written back into the profile's text.

The studio edits only the rules (regions, extractors, reward, done, pause, score); every other table of the
profile it started from ([game], [window], [capture], [actions], [reset], ...) is kept as written, comments
included. :func:`with_rules` swaps the rules into the text; :func:`rules_of` reads them out.
"""

from __future__ import annotations

import json
import math
import re
import tomllib

from hakisa.errors import ProfileError

_HEADER = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_.\-\" ]+?)\s*\]\]?\s*(#.*)?$")
_BARE = re.compile(r"^[A-Za-z0-9_-]+$")

_COMMENTS = {
    "rules": "# what the agent's rewards and episode ends are read from (made with `hakisa studio`)",
    "rules.regions": "# fractions of the captured area: [x, y, width, height]",
    "rules.reward": "# reward = weight x change of each extractor's reading per step",
    "rules.done": "# the episode is over when these hold",
    "rules.pause": "# the game is paused (not play, not game over) when these hold; checked before done",
}


def rules_of(text: str) -> dict:
    """The ``[rules]`` table of profile ``text`` as plain data (empty when it has none)."""
    try:
        return tomllib.loads(text).get("rules", {})
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"the profile is not valid TOML: {exc}") from None


def _key(k: str) -> str:
    return k if _BARE.match(k) else json.dumps(k)


def toml_value(v) -> str:
    """One value in TOML: strings, numbers, booleans, lists and inline tables (as nested any/all)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ProfileError(f"{v} is not a number a profile can hold; give a finite number.")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise ProfileError(f"{v!r} ({type(v).__name__}) cannot be written into a profile.")


def _table(path: str, table: dict, out: list[str]) -> None:
    plain = {k: v for k, v in table.items() if not isinstance(v, dict)}
    nested = {k: v for k, v in table.items() if isinstance(v, dict)}
    if plain or not nested:
        if path in _COMMENTS:
            out.append(_COMMENTS[path])
        out.append(f"[{path}]")
        out.extend(f"{_key(k)} = {toml_value(v)}" for k, v in plain.items())
        out.append("")
    for k, v in nested.items():
        _table(f"{path}.{_key(k)}", v, out)


def rules_toml(rules: dict) -> str:
    """The ``[rules...]`` tables for ``rules`` (the shape :func:`rules_of` gives), with comments."""
    if not isinstance(rules, dict):
        raise ProfileError("the rules must be a table of regions, extractors, reward, done and pause.")
    out: list[str] = []
    order = ["regions", "extractors", "reward", "done", "pause"]
    top = {k: v for k, v in rules.items() if not isinstance(v, dict)}
    if top:
        _table("rules", top, out)
    for k in order + sorted(set(rules) - set(order) - set(top)):
        if isinstance(rules.get(k), dict) and (rules[k] or k in ("regions", "extractors")):
            _table(f"rules.{_key(k)}", rules[k], out)
    return "\n".join(out).rstrip() + "\n"


def _table_name(m: re.Match) -> str:
    """The dotted name of the table a header line (a :data:`_HEADER` match) opens, quotes and spaces taken out."""
    return m.group(1).replace('"', "").replace(" ", "")


def _is_rules(name: str) -> bool:
    return name == "rules" or name.startswith("rules.")


def with_rules(text: str, rules: dict) -> str:
    """Profile ``text`` with its ``[rules...]`` tables replaced by ``rules``; every other table and comment stays."""
    kept: list[str] = []
    at: int | None = None  # where the first rules table stood
    in_rules = False
    for line in text.splitlines():
        m = _HEADER.match(line)
        if m:
            in_rules = _is_rules(_table_name(m))
            if in_rules and at is None:
                at = len(kept)
        if not in_rules:
            kept.append(line)
    if at is None:
        at = len(kept)
    new = rules_toml(rules).rstrip("\n").splitlines()
    before, after = kept[:at], kept[at:]
    while before and not before[-1].strip():
        before.pop()
    return "\n".join([*before, "", *new, "", *after]).rstrip() + "\n"


def with_field(text: str, table: str, key: str, value: str, comment: str = "") -> str:
    """Profile ``text`` with ``key = "value"`` in ``[table]`` (the line replaced, or added under the header, or
    the table added at the end); every other line stays."""
    line = f"{key} = {json.dumps(value)}" + (f"  # {comment}" if comment else "")
    lines = text.splitlines()
    cur, header_at = None, None
    for i, ln in enumerate(lines):
        m = _HEADER.match(ln)
        if m:
            cur = _table_name(m)
            if cur == table:
                header_at = i
            continue
        if cur == table and re.match(rf"\s*{re.escape(key)}\s*=", ln):
            lines[i] = line
            return "\n".join(lines) + "\n"
    if header_at is None:
        return text.rstrip("\n") + f"\n\n[{table}]\n{line}\n"
    lines.insert(header_at + 1, line)
    return "\n".join(lines) + "\n"
