"""run.py's parser: argument types, and one subparser per command, added by the command's module.

A flag belongs to the commands that take it: any other command refuses it, by name. Without a
command run.py starts a run (`run.py --local` is `run.py start --local`), and the command may
come after options (`run.py --stack prod list`)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from components import PROJECT_DIR
from runner import data as user_data
from runner import execution
from runner.errors import UsageError

RUNS_DIR = PROJECT_DIR / "runs"
DEFAULT_COMMAND = "start"
_NEGATIVE_NUMBER = re.compile(r"-\d|-\.\d")


class BadArguments(Exception):
    """Flags argparse accepted one by one that do not go together: reported as argparse reports its
    own mistakes (the usage, then one line), exit 2."""


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def usd(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount in US dollars (e.g. 0.50)")
    return value


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0-65535; 0 picks a free one)")
    return value


def list_size(text: str) -> int:
    value = positive_int(text)
    if value > 1000:  # ListExecutions' maxResults limit
        raise argparse.ArgumentTypeError(f"{text!r} is more than 1000")
    return value


def execution_name(text: str) -> str:
    try:
        return execution.check_name(text)
    except UsageError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def seed(text: str) -> int:
    try:
        return execution.parse_seed(text)
    except UsageError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("--seed ")) from None


def split(text: str) -> tuple[float, float]:
    try:
        return user_data.parse_split(text)
    except UsageError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix(f"--split {text!r}: ")) from None


def runs_dir(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty: give a directory, e.g. --runs-dir runs")
    return Path(text).expanduser()


def hyperparameter(text: str) -> tuple[str, str]:
    try:
        return execution.parse_hyperparameter(text)
    except UsageError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def stack_options(sub: argparse.ArgumentParser, local_help: str | None = None) -> argparse._ArgumentGroup:
    """--stack, --outputs-file and --json; with `local_help`, --local too (the stack `run.py serve` keeps up)."""
    group = sub.add_argument_group("where the stack is")
    group.add_argument(
        "--stack",
        metavar="NAME",
        help="Pulumi stack to read outputs from (default: the selected stack; "
        "with --local: the stack file whose settings to use, default dev)",
    )
    group.add_argument(
        "--outputs-file", metavar="FILE", help="read outputs from FILE (`pulumi stack output --json`), - for stdin"
    )
    group.add_argument(
        "--json", action="store_true", help="print exactly one JSON object on stdout and nothing else there"
    )
    if local_help:
        group.add_argument("--local", action="store_true", help=local_help)
    return group


SERVED_STACK_HELP = "the stack `run.py serve` keeps up locally (a --local run's emulator ends with it)"


def add_command(
    commands, name: str, run, *, elsewhere: str | None = None, hints: dict[str, str] | None = None, **kwargs
) -> argparse.ArgumentParser:
    """The subparser of command `name`, run by `run(args)`. Another command's flag given to it is refused
    as not applying (`elsewhere`: why, for a command that starts no run) or, for start's flags, as
    applying only when starting a run (`hints`: a flag's note there)."""
    sub = commands.add_parser(name, **kwargs)
    sub.set_defaults(run=run, elsewhere=elsewhere, hints=hints or {})
    return sub


class _RunPy(argparse.ArgumentParser):
    """The top parser: its help also shows start's options, as run.py without a command starts a run."""

    def format_help(self) -> str:
        return super().format_help() + "\n" + commands_of(self)[DEFAULT_COMMAND].format_help()


def build_parser() -> argparse.ArgumentParser:
    from runner.cli import cleanup, follow, models, runs, serve, start, stop
    from runner.cli import list as listing
    from runner.version import VersionAction

    parser = _RunPy(
        prog="run.py",
        description="Start an execution of the training pipeline, follow it live, then fetch the predictions "
        "and score them; or look after the stack's executions, models and past runs. "
        "`run.py COMMAND --help` shows a command's options.",
        epilog="exit codes: 0 success (or detached), 1 the execution failed or its results could "
        "not be fetched or saved, 2 usage error, 130 interrupted",
    )
    parser.add_argument("--version", action=VersionAction, help="print which code this is (git commit) and exit")
    commands = parser.add_subparsers(
        title="commands",
        dest="command",
        metavar="COMMAND",
        parser_class=argparse.ArgumentParser,
        description="without a command, run.py starts a new execution (start)",
    )
    for module in (start, follow, listing, cleanup, stop, models, runs, serve):
        module.add_parser(commands)
    return parser


def commands_of(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subparser of each of the parser's commands, by name."""
    return next(action.choices for action in parser._actions if isinstance(action, argparse._SubParsersAction))


def _flags(sub: argparse.ArgumentParser) -> dict[str, bool]:
    """Each option string of `sub` and of its own subcommands, with whether it takes a value."""
    flags = {}
    for action in sub._actions:
        flags.update(dict.fromkeys(action.option_strings, action.nargs != 0))
        if isinstance(action, argparse._SubParsersAction):
            for inner in action.choices.values():
                flags.update(_flags(inner))
    return flags


def _commands_flags(commands: dict[str, argparse.ArgumentParser]) -> dict[str, bool]:
    """Every command's flags, with whether each takes a value (the same in every command that has it)."""
    return {flag: takes_value for sub in commands.values() for flag, takes_value in _flags(sub).items()}


def _is_flag(word: str) -> bool:
    return word.startswith("-") and word != "-" and not _NEGATIVE_NUMBER.match(word)


def _known(word: str, flags: dict[str, bool]) -> str | None:
    """The flag `word` names in `flags`: itself, or the one flag a --prefix of it abbreviates."""
    flag = word.split("=", 1)[0]
    if flag in flags:
        return flag
    matches = [known for known in flags if flag.startswith("--") and known.startswith(flag)]
    return matches[0] if len(matches) == 1 else None


def with_command(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """`argv` with its command first, after run.py's own --help and --version: `--stack prod list` is
    `list --stack prod`, and no command is start."""
    commands = commands_of(parser)
    own = {flag: False for action in parser._actions for flag in action.option_strings}  # --help, --version
    flags = _commands_flags(commands)
    first: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(argv):
        word = argv[index]
        if word == "--":
            break
        if not _is_flag(word):  # the command, or a word argparse refuses as none
            return first + [word] + rest + argv[index + 1 :] if word in commands else argv
        if _known(word, own):
            first.append(word)
        else:
            flag = _known(word, flags)
            takes_value = "=" not in word and flag is not None and flags[flag]
            rest += argv[index : index + 1 + takes_value]
            index += takes_value
        index += 1
    return first + [DEFAULT_COMMAND] + rest + argv[index:]


def agreeing(flags: list[str], one: str, several: str) -> str:
    """'--label only applies' or '--label, --test only apply': the verb agreeing with the flags."""
    return f"{', '.join(flags)} {one if len(flags) == 1 else several}"


def _foreign(sub: argparse.ArgumentParser, words: list[str], flags: dict[str, bool]) -> list[str]:
    """The flags among `words` (a command's own) that run.py has (`flags`) but the command `sub` does not take.
    Found before argparse parses: it would take such a flag's value for a positional and name that."""
    own, foreign = _flags(sub), []
    index = 0
    while index < len(words) and words[index] != "--":
        word = words[index]
        if _is_flag(word):
            flag = _known(word, own)
            if flag is None:
                flag = _known(word, flags)
                foreign.append(flag or word.split("=", 1)[0])
            index += "=" not in word and flag is not None and {**flags, **own}[flag]
        index += 1
    return foreign


def _not_applying(command: str, sub: argparse.ArgumentParser, flags: list[str], start_flags: dict[str, bool]) -> str:
    """The line refusing flags run.py has but `command` does not take."""
    elsewhere, hints = sub.get_default("elsewhere"), sub.get_default("hints")
    if elsewhere:
        return f"{agreeing(flags, 'does not apply', 'do not apply')} to {command} ({elsewhere})"
    if command != DEFAULT_COMMAND and all(flag in start_flags for flag in flags):
        notes = "".join(f" ({hints[flag]})" for flag in flags if flag in hints)
        return f"{agreeing(flags, 'only applies', 'only apply')} when starting a run, not to {command}{notes}"
    where = "when starting a run" if command == DEFAULT_COMMAND else f"to {command}"
    return f"{agreeing(flags, 'does not apply', 'do not apply')} {where}"


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """The arguments of `argv`'s command; a flag of another command is refused here, exit 2."""
    argv = with_command(parser, argv)
    commands = commands_of(parser)
    position = next((index for index, word in enumerate(argv) if not _is_flag(word)), None)
    if position is not None and argv[position] in commands:
        command = argv[position]
        foreign = _foreign(commands[command], argv[position + 1 :], _commands_flags(commands))
        if foreign:
            parser.error(_not_applying(command, commands[command], foreign, _flags(commands[DEFAULT_COMMAND])))
    return parser.parse_args(argv)
