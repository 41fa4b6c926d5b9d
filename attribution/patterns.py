"""Regular expressions that people edit (channel rules in the admin, pattern settings) run on RE2.

RE2 matches in time linear in the input, so a rule like `^(a+)+$` can't stall a web worker on a
hostile 30-character UTM value (Python's `re` backtracks exponentially on it). RE2 refuses what it
can't run in linear time (backreferences, lookaround): such a pattern is refused when it is saved.
"""

from __future__ import annotations

import functools

import re2

MAX_PATTERN_LENGTH = 255  # the rule columns' max_length
MAX_INPUT_LENGTH = 1000  # UTM values are cut to 500 on intake; anything longer is not ours to classify


class PatternError(ValueError):
    pass


def _options(*, ignore_case: bool) -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is reported to whoever typed it, not to stderr
    options.case_sensitive = not ignore_case
    return options


class Pattern:
    """A compiled RE2 pattern; `search`/`match` take any text and answer a bool."""

    __slots__ = ("pattern", "_compiled")

    def __init__(self, pattern: str, *, ignore_case: bool = False):
        if len(pattern) > MAX_PATTERN_LENGTH:
            raise PatternError(f"longer than {MAX_PATTERN_LENGTH} characters")
        try:
            self._compiled = re2.compile(pattern, options=_options(ignore_case=ignore_case))
        except re2.error as exc:
            detail = exc.args[0] if exc.args else exc
            if isinstance(detail, bytes):
                detail = detail.decode("utf-8", "replace")
            raise PatternError(str(detail)) from None
        except UnicodeEncodeError:
            raise PatternError("contains an invalid character (lone surrogate)") from None
        self.pattern = pattern

    def search(self, text: str) -> bool:
        return self._compiled.search(_input(text)) is not None

    def match(self, text: str) -> bool:
        """Anchored at the start, like `re.match`."""
        return self._compiled.match(_input(text)) is not None

    def __repr__(self):
        return f"Pattern({self.pattern!r})"

    def __eq__(self, other):
        return isinstance(other, Pattern) and other.pattern == self.pattern

    def __hash__(self):
        return hash(self.pattern)


def _input(text) -> str:
    text = str(text or "")[:MAX_INPUT_LENGTH]
    if text.isascii():
        return text
    # RE2 works on UTF-8: a lone surrogate (from JSON's "\ud800") can't be encoded, so it becomes "?".
    return text.encode("utf-8", "replace").decode("utf-8")


@functools.lru_cache(maxsize=256)
def pattern_compile(pattern: str, *, ignore_case: bool = False) -> Pattern:
    """Compile an edited pattern for RE2; PatternError says why it can't be used."""
    return Pattern(pattern, ignore_case=ignore_case)
