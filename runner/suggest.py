"""run.py's own mistakes: a flag it does not have, named as such with the closest flag it has."""

from __future__ import annotations

import argparse
import re

from lambda_src.suggestions import closest

_NEGATIVE_NUMBER = re.compile(r"-\d|-\.\d")


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    """Every option string of `parser` and of its subcommands, recursively."""
    flags = set()
    for action in parser._actions:
        flags.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                flags |= _flags(sub)
    return flags


def unknown_flag(argv: list[str], parser: argparse.ArgumentParser) -> str | None:
    """'unknown flag --lable (did you mean --label?)' for the first word of `argv` that looks like
    a flag but is none of run.py's (nor a prefix of one, which argparse accepts), else None.
    Checked before argparse parses: it would take the flag's value for a command and name that."""
    flags = _flags(parser)
    for word in argv:
        if word == "--":
            break
        if not word.startswith("-") or word == "-" or _NEGATIVE_NUMBER.match(word):
            continue
        flag = word.split("=", 1)[0]
        if flag in flags or (flag.startswith("--") and any(known.startswith(flag) for known in flags)):
            continue
        guess = closest(flag, [known for known in flags if known.startswith("--")])
        return f"unknown flag {flag}" + (f" (did you mean {guess}?)" if guess else ": run.py --help lists them")
    return None
