"""`run.py list`: the latest executions of the stack's state machine."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from runner.cli import parser, stack
from runner.outputs import StackOutputs
from runner.terminal import shown


def add_parser(commands) -> None:
    sub = parser.add_command(commands, "list", run, help="recent executions of this state machine")
    sub.add_argument("--max", type=parser.list_size, default=20, metavar="N", help="how many, 1-1000 (default 20)")
    parser.stack_options(sub, parser.SERVED_STACK_HELP)


def run(args: argparse.Namespace) -> int:
    return stack.on_stack(args, executions)


def executions(args: argparse.Namespace, clients: stack.Clients, outputs: StackOutputs) -> int:
    page = clients.sfn.list_executions(stateMachineArn=outputs.state_machine_arn, maxResults=args.max)
    rows = []
    for item in page["executions"]:
        end = item.get("stopDate") or datetime.now(UTC)
        rows.append(
            {
                "name": item["name"],
                "status": item["status"],
                "started": item["startDate"].isoformat(),
                "seconds": round((end - item["startDate"]).total_seconds(), 1),
            }
        )
    if args.json:
        print(json.dumps({"executions": rows}))
    elif not rows:
        print(f"no executions of {outputs.state_machine_name} yet: start one with run.py")
    for row in [] if args.json else rows:
        print(f"{row['started'][:19]}  {shown(row['status']):<10} {row['seconds']:>8.1f}s  {shown(row['name'])}")
    return 0
