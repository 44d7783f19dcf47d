"""`run.py cleanup`: delete the SageMaker models this stack's runs created."""

from __future__ import annotations

import argparse
import json

from components.definition import TAG_EXECUTION
from lambda_src.execution_input import NAME_SEPARATOR
from runner.cli import parser, stack
from runner.outputs import StackOutputs
from runner.terminal import shown


def add_parser(commands) -> None:
    sub = parser.add_command(commands, "cleanup", run, help="delete the SageMaker models this stack's runs created")
    sub.add_argument("--dry-run", action="store_true", help="only list them")
    parser.stack_options(sub, parser.SERVED_STACK_HELP)


def run(args: argparse.Namespace) -> int:
    return stack.on_stack(args, _cleanup)


def _cleanup(args: argparse.Namespace, clients: stack.Clients, outputs: StackOutputs) -> int:
    """Delete models named `<prefix>--...` that carry this pipeline's execution tag."""
    prefix = f"{outputs.job_name_prefix}{NAME_SEPARATOR}"
    models = []
    for page in clients.sagemaker.get_paginator("list_models").paginate(NameContains=prefix):
        for model in page["Models"]:
            tags = clients.sagemaker.list_tags(ResourceArn=model["ModelArn"]).get("Tags", [])
            if model["ModelName"].startswith(prefix) and any(t["Key"] == TAG_EXECUTION for t in tags):
                models.append(model["ModelName"])
    for name in models:
        if not args.dry_run:
            clients.sagemaker.delete_model(ModelName=name)
    verb = "would delete" if args.dry_run else "deleted"
    if args.json:
        print(json.dumps({"dry_run": args.dry_run, "models": models}))
    else:
        print(f"{verb} {len(models)} model(s)" + "".join(f"\n  {shown(name)}" for name in models))
    return 0
