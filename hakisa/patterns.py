"""Regular expressions from profiles, matched against text that other programs choose (window titles).

``[window] title`` and ``class`` are written by the user and matched against whatever name any window
on the desktop gives itself.  With a backtracking engine (Python's ``re``) a pattern such as
``^(a+)+$`` takes exponential time on a long title of a's and hangs ``record``.  So these patterns are
compiled and matched with RE2 (the ``google-re2`` package), whose matching time is linear in the
length of the text for every pattern: no pattern can hang hakisa, and there is no timeout to tune on a
loaded machine or to report half-way.  The ``regex`` package's ``timeout=`` was the other candidate;
it bounds matching only: compiling ``a{4294967294}`` (13 characters) with it ran for more than 20 s,
which no match timeout catches, while RE2 bounds compiling too (repeat counts up to 1000, a memory
budget).  The price is RE2's syntax: no lookaround and no backreferences (refused when the profile
loads), and ``\\w``, ``\\d``, ``\\s`` are ASCII (``\\pL`` matches any letter).

Patterns are capped at :data:`MAX_PATTERN_CHARS` when the profile loads, and only the first
:data:`MAX_SUBJECT_CHARS` characters of a title (or class) are searched; a longer one is searched as
that many characters followed by "…", the way a cut title is shown, so that ``$`` never matches at
the cut.
"""

from __future__ import annotations

import functools

import re2

from hakisa.errors import ProfileError

MAX_PATTERN_CHARS = 512  # a title pattern is a few words; this is far past any real one
MAX_SUBJECT_CHARS = 1024  # characters of a window title / class that are searched
_CUT_MARK = "\u2026"  # stands for the rest of a title longer than MAX_SUBJECT_CHARS

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print its own line on stderr for every bad pattern


@functools.lru_cache(maxsize=256)
def _compile(pattern: str) -> re2._Regexp:
    return re2.compile(pattern, _OPTIONS)


def pattern_problem(pattern: str) -> str | None:
    """What is wrong with ``pattern`` as a profile's regular expression, or None if it is usable."""
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"a regular expression of at most {MAX_PATTERN_CHARS} characters (this one has {len(pattern)})"
    try:
        _compile(pattern)
    except re2.error as exc:
        why = exc.args[0] if exc.args else exc
        why = why.decode("utf-8", "replace") if isinstance(why, bytes) else str(why)
        return (f"a valid regular expression in RE2 syntax ({why}); RE2 has no lookaround (?=...) (?!...) "
                "and no backreferences \\1")
    except UnicodeEncodeError:
        return "a regular expression of valid Unicode text"
    return None


def search(pattern: str, text: str, what: str = "pattern") -> bool:
    """True if ``pattern`` is found in ``text`` (at most :data:`MAX_SUBJECT_CHARS` characters of it).

    Linear time in the length of the text for every pattern (RE2).  A pattern that never went through
    profile validation and is unusable raises :class:`ProfileError` naming ``what`` and the pattern.
    """
    problem = pattern_problem(pattern)
    if problem is not None:
        raise ProfileError(f"{what} /{pattern}/ cannot be used; write {problem}.")
    subject = text if len(text) <= MAX_SUBJECT_CHARS else text[:MAX_SUBJECT_CHARS] + _CUT_MARK
    subject = subject.encode("utf-8", "replace").decode("utf-8")  # RE2 takes UTF-8: no lone surrogates
    return _compile(pattern).search(subject) is not None
