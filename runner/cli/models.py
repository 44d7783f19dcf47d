"""`run.py models`, `approve VERSION`, `reject VERSION`: the stack's model package group, its
versions with their metrics, and their approval."""

from __future__ import annotations

import argparse
import json

from botocore.exceptions import BotoCoreError, ClientError

from runner import results
from runner.cli import parser, stack
from runner.cli.report import format_metrics
from runner.errors import UsageError
from runner.outputs import StackOutputs, arn_part
from runner.terminal import shown


def add_parser(commands) -> None:
    models = parser.add_command(
        commands, "models", run, help="the stack's registered models: versions, metrics, approval"
    )
    models.add_argument(
        "--max",
        type=parser.list_size,
        default=20,
        metavar="N",
        help="how many of the latest versions, 1-1000 (default 20)",
    )
    parser.stack_options(models, parser.SERVED_STACK_HELP)
    for name in ("approve", "reject"):
        verdict = parser.add_command(
            commands, name, run, help=f"{name} a registered model version (UpdateModelPackage)"
        )
        verdict.add_argument(
            "version", type=parser.positive_int, metavar="VERSION", help="the version number run.py models lists"
        )
        verdict.add_argument("--note", metavar="TEXT", help="why (the version's ApprovalDescription)")
        parser.stack_options(verdict, parser.SERVED_STACK_HELP)


def run(args: argparse.Namespace) -> int:
    return stack.on_stack(args, _models if args.command == "models" else _verdict)


def _model_group(outputs: StackOutputs) -> str:
    """The stack's model package group: named as its jobs (components.definition.model_package_group_name)."""
    return outputs.job_name_prefix


def _evaluation_metrics(s3, described: dict) -> dict:
    """The metrics of a version's ModelMetrics.ModelQuality.Statistics (evaluation.json), {} if unreadable."""
    uri = (((described.get("ModelMetrics") or {}).get("ModelQuality") or {}).get("Statistics") or {}).get("S3Uri")
    if not uri:
        return {}
    bucket, key = results.split_uri(uri)
    try:
        statistics = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read(1 << 20))
    except (BotoCoreError, ClientError, ValueError):
        return {}
    groups = [value for value in statistics.values() if isinstance(value, dict)] if isinstance(statistics, dict) else []
    return {
        name: metric["value"]
        for group in groups
        for name, metric in group.items()
        if isinstance(metric, dict) and results.finite_number(metric.get("value"))
    }


def _models(args: argparse.Namespace, clients: stack.Clients, outputs: StackOutputs) -> int:
    """The group's latest versions with their metrics (evaluation.json) and approval status."""
    group = _model_group(outputs)
    try:
        page = clients.sagemaker.list_model_packages(
            ModelPackageGroupName=group, SortBy="CreationTime", SortOrder="Descending", MaxResults=min(args.max, 100)
        )
    except ClientError as error:
        raise UsageError(
            f"cannot list the model package group {group}: {error}: deploy this project's stack (pulumi up) first"
        ) from None
    rows = []
    for item in page["ModelPackageSummaryList"][: args.max]:
        described = clients.sagemaker.describe_model_package(ModelPackageName=item["ModelPackageArn"])
        metadata = described.get("CustomerMetadataProperties") or {}
        rows.append(
            {
                "version": item.get("ModelPackageVersion"),
                "arn": item["ModelPackageArn"],
                "status": item.get("ModelApprovalStatus"),
                "created": item["CreationTime"].isoformat(),
                "execution": metadata.get("execution"),
                "objective": metadata.get("objective"),
                "metrics": _evaluation_metrics(clients.s3, described),
            }
        )
    if args.json:
        print(json.dumps({"group": group, "models": rows}))
    elif not rows:
        print(f"no model registered in {group} yet: a run that passes the quality gate registers one")
    for row in [] if args.json else rows:
        print(f"{row['version']:>4}  {shown(row['status']):<21} {row['created'][:19]}  {shown(row['execution'])}")
        if row["metrics"]:
            print(f"      {format_metrics(row['metrics'])}")
    return 0


def _verdict(args: argparse.Namespace, clients: stack.Clients, outputs: StackOutputs) -> int:
    """approve / reject VERSION: UpdateModelPackage on the group's version."""
    status = "Approved" if args.command == "approve" else "Rejected"
    group = _model_group(outputs)
    partition, region, account = (arn_part(outputs.state_machine_arn, index) for index in (1, 3, 4))
    arn = f"arn:{partition}:sagemaker:{region}:{account}:model-package/{group.lower()}/{args.version}"
    try:
        clients.sagemaker.describe_model_package(ModelPackageName=arn)
    except ClientError:
        raise UsageError(f"{group} has no version {args.version}: run.py models lists them") from None
    clients.sagemaker.update_model_package(
        ModelPackageArn=arn, ModelApprovalStatus=status, **({"ApprovalDescription": args.note} if args.note else {})
    )
    if args.json:
        print(json.dumps({"arn": arn, "version": args.version, "status": status}))
    else:
        print(f"{group} version {args.version}: {status}")
    return 0
