"""'Did you mean' for a name someone mistyped (standard library only: the Lambda package uses it)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice `word` most likely meant: a case-insensitive equal, else difflib's closest."""
    choices = [choice for choice in choices if isinstance(choice, str)]
    if not isinstance(word, str) or len(word) > 256:  # difflib's time grows with the lengths
        return None
    same_case = [choice for choice in choices if choice.lower() == word.lower()]
    if same_case:
        return same_case[0]
    by_lower = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.75)
    return by_lower[close[0]] if close else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)', or '' when nothing is close."""
    guess = closest(word, choices)
    return f" (did you mean {guess!r}?)" if guess is not None else ""
