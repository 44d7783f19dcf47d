"""`run.py serve`: the offline rehearsal as a local AWS endpoint until Ctrl-C. The server (moto's HTTP
application) is imported for this command only."""

from __future__ import annotations

import argparse
import errno
import sys
from pathlib import Path

from components.settings import DEFAULT_STACK
from runner.cli import parser
from runner.cli.exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE
from runner.errors import UsageError


def add_parser(commands) -> None:
    sub = parser.add_command(
        commands,
        "serve",
        run,
        elsewhere="it starts no run: clients do",
        help="serve the offline rehearsal as a local AWS endpoint until Ctrl-C",
        description="Deploy the stack into the AWS emulator as --local does and serve it over HTTP on "
        "127.0.0.1, for the AWS CLI, boto3 and run.py --outputs-file (and run.py --local, "
        "which uses it while it is up). Runs until Ctrl-C or SIGTERM.",
    )
    sub.add_argument("--stack", metavar="NAME", help="the stack file whose settings to use (default dev)")
    sub.add_argument(
        "--port",
        type=parser.port,
        default=5000,
        metavar="N",
        help="port on 127.0.0.1 (default 5000; 0 picks a free one)",
    )
    sub.add_argument(
        "--outputs-file",
        metavar="FILE",
        help="write the stack outputs and the endpoint's key there (`pulumi stack output --json` "
        "form, readable by you only) once it is up",
    )
    sub.add_argument("--verbose", action="store_true", help="log each request it answers")


def run(args: argparse.Namespace) -> int:
    stack_name = args.stack or DEFAULT_STACK
    outputs_file = Path(args.outputs_file) if args.outputs_file else None
    print(f"run.py serve: loading stack {stack_name} ...", file=sys.stderr, flush=True)
    from components.settings import SettingsError, load_stack_settings
    from runner.emulator import DeployError, server
    from runner.emulator.workarounds import service_models

    try:
        with service_models.installed():
            try:
                settings = load_stack_settings(stack_name)
            except SettingsError as error:
                raise UsageError(str(error)) from None
            server.serve(settings, args.port, outputs_file, verbose=args.verbose)
    except UsageError as error:
        print(f"run.py: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except DeployError as error:
        print(f"run.py: error: the program could not be deployed to the local emulator: {error}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            print(
                f"run.py: error: port {args.port} on 127.0.0.1 is in use: pick another with --port N "
                "(0 picks a free one)",
                file=sys.stderr,
            )
            return EXIT_USAGE
        print(f"run.py: error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("run.py serve: interrupted while deploying; nothing is served", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0
