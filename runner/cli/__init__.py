"""run.py's command line: a parser, and one module per command.

  parser.py     argument types and the parser each command adds its own subparser to
  start.py      start a run (the default command: `run.py --local` is `run.py start --local`)
  follow.py     attach to an execution and save its results
  list.py, stop.py, cleanup.py, models.py (models, approve, reject): the deployed stack's executions and models
  runs.py       the workbench over runs/ (no AWS call)
  serve.py      the offline rehearsal as a local AWS endpoint
and what the commands share:
  stack.py      which stack (AWS, a local endpoint, the emulator), its clients, what a new run is checked against
  watch.py      following an execution to its end, Ctrl-C, its results saved
  report.py     a run's result, printed
  cost_gate.py  --max-cost, before anything starts
  machine.py    whether this machine can hold a local run
  exits.py      exit codes, and an error as one line
  streams.py    stdout and stderr whose reader may leave
"""

from __future__ import annotations

import sys

from runner.cli import parser
from runner.cli.streams import ReaderMayLeave


def main(argv: list[str] | None = None) -> int:
    """run.py: the exit code of the command `argv` (default: the process's arguments) names."""
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = ReaderMayLeave(sys.stdout), ReaderMayLeave(sys.stderr)
    try:
        return _main(sys.argv[1:] if argv is None else argv)
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        sys.stdout, sys.stderr = streams


def _main(argv: list[str]) -> int:
    arguments = parser.build_parser()
    from runner import suggest

    mistake = suggest.unknown_flag(argv, arguments)
    if mistake:
        arguments.error(mistake)
    args = parser.parse(arguments, argv)
    try:
        return args.run(args)
    except parser.BadArguments as error:
        arguments.error(str(error))
