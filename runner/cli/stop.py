"""`run.py stop`: stop this stack's running executions (pulumi destroy cannot delete the state
machine while they run)."""

from __future__ import annotations

import argparse
import json

from runner.cli import parser, stack
from runner.outputs import StackOutputs
from runner.terminal import shown


def add_parser(commands) -> None:
    sub = parser.add_command(
        commands,
        "stop",
        run,
        help="stop this stack's running executions (pulumi destroy cannot delete the state machine while they run)",
    )
    sub.add_argument("--dry-run", action="store_true", help="only list them")
    parser.stack_options(sub, parser.SERVED_STACK_HELP)


def run(args: argparse.Namespace) -> int:
    return stack.on_stack(args, _stop)


def _stop(args: argparse.Namespace, clients: stack.Clients, outputs: StackOutputs) -> int:
    """Stop every RUNNING execution of this stack's state machine."""
    pages = clients.sfn.get_paginator("list_executions").paginate(
        stateMachineArn=outputs.state_machine_arn, statusFilter="RUNNING"
    )
    running = [item["executionArn"] for page in pages for item in page["executions"]]
    for arn in running:
        if not args.dry_run:
            clients.sfn.stop_execution(executionArn=arn, error="Stopped", cause="stopped by run.py stop")
    if args.json:
        print(json.dumps({"dry_run": args.dry_run, "executions": running}))
    else:
        verb = "would stop" if args.dry_run else "stopped"
        print(f"{verb} {len(running)} running execution(s)" + "".join(f"\n  {shown(arn)}" for arn in running))
    return 0
