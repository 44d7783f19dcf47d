"""`run.py runs [list | show NAME | compare A B ...]`: the workbench over runs/, read from the runs'
summary.json files (no AWS call)."""

from __future__ import annotations

import argparse
import json
import os
import sys

from runner import results
from runner.cli import parser
from runner.cli.exits import EXIT_USAGE
from runner.errors import UsageError


def add_parser(commands) -> None:
    past = parser.add_command(
        commands,
        "runs",
        run,
        elsewhere="it reads past runs",
        help="past runs in runs/ (local and AWS): list them, show one, compare several",
        description="Read the runs' summary.json files; no AWS call. Without a subcommand: one line per run.",
    )
    past.add_argument(
        "--runs-dir",
        type=parser.runs_dir,
        default=parser.RUNS_DIR,
        metavar="DIR",
        help="where the runs are (default runs/ in the project directory)",
    )
    past.add_argument("--json", action="store_true", help="print one JSON object")
    # A view's own --runs-dir and --json are suppressed when not given: they would undo the ones before it.
    views = past.add_subparsers(dest="view", metavar="VIEW")
    listed = views.add_parser("list", help="one line per run (the default)", argument_default=argparse.SUPPRESS)
    listed.add_argument("--runs-dir", type=parser.runs_dir, metavar="DIR", help="where the runs are")
    listed.add_argument("--json", action="store_true", help="print one JSON object")
    one = views.add_parser("show", help="one run: settings, metrics, timings, files, failure")
    one.add_argument("run_name", metavar="NAME", help="the run's folder name, or a prefix naming one run")
    several = views.add_parser("compare", help="runs side by side (rows that differ are marked *)")
    several.add_argument("run_names", metavar="NAME", nargs="+", help="two or more runs")
    several.add_argument(
        "--with-times",
        action="store_true",
        help="also compare start times and durations (always different, so left out)",
    )


def run(args: argparse.Namespace) -> int:
    from runner import workbench

    def strict_json(value) -> str:
        return json.dumps(results.strict(value), allow_nan=False)

    try:
        if args.view == "show":
            found = workbench.find(args.runs_dir, args.run_name)
            print(strict_json({**found.record(), "summary": found.summary}) if args.json else workbench.show(found))
        elif args.view == "compare":
            if len(args.run_names) < 2:
                raise UsageError("compare needs two or more runs: run.py runs compare A B ...")
            text, record = workbench.compare(
                [workbench.find(args.runs_dir, name) for name in args.run_names], with_times=args.with_times
            )
            print(strict_json(record) if args.json else text)
        else:
            text, records = workbench.list_runs(args.runs_dir)
            print(strict_json({"runs_dir": str(args.runs_dir), "runs": records}) if args.json else text)
    except UsageError as error:
        print(f"run.py: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `run.py runs | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
