"""The stack outputs the run script needs: from `pulumi stack output --json`, a file or stdin."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from typing import cast

from components import PROJECT_DIR
from lambda_src.execution_input import RunDefaults
from runner.endpoint import CREDENTIALS_KEY, ENDPOINT_KEY, EndpointKey, local_endpoint_url, private_problem
from runner.errors import UsageError


@dataclasses.dataclass(frozen=True)
class StackOutputs:
    bucket_name: str
    state_machine_arn: str
    state_machine_name: str
    region: str
    job_name_prefix: str
    console_url: str
    run_defaults: RunDefaults  # what executions get unless their input says otherwise
    # The local emulator's least-privilege report (runner.emulator.iam): what each role called, under
    # which statement, and which statements no call needed, for one execution (its ARN). None on AWS.
    iam_report: Callable[[str], dict] | None = None
    # The local endpoint (`run.py serve`) that holds this stack, and the key it admits (never
    # the operator's own AWS credentials); None for a stack on AWS.
    endpoint_url: str | None = None
    endpoint_key: EndpointKey | None = None

    KEYS = {
        "bucketName": "bucket_name",
        "stateMachineArn": "state_machine_arn",
        "stateMachineName": "state_machine_name",
        "region": "region",
        "jobNamePrefix": "job_name_prefix",
        "consoleUrl": "console_url",
    }

    @classmethod
    def from_dict(cls, values: object, source: str) -> StackOutputs:
        if not isinstance(values, dict):
            raise UsageError(f"{source} is not a JSON object of stack outputs")
        missing = [key for key in cls.KEYS if not values.get(key)]
        if missing:
            raise UsageError(
                f"{source} lacks {', '.join(missing)}: deploy this project's stack "
                "(pulumi up) or pass the outputs it exported"
            )
        defaults = values.get("runDefaults")
        if (
            not isinstance(defaults, dict)
            or not isinstance(defaults.get("hyperparameters"), dict)
            or type(defaults.get("rows")) is not int
        ):
            raise UsageError(
                f"{source} lacks runDefaults ({{rows, hyperparameters}}): update the "
                "stack with this project's program (pulumi up)"
            )
        endpoint, endpoint_key = values.get(ENDPOINT_KEY), None
        if endpoint is not None:
            try:
                endpoint = local_endpoint_url(endpoint)
            except ValueError as error:
                raise UsageError(
                    f"{source}: {ENDPOINT_KEY} {str(endpoint)[:200]!r} is not a local endpoint: "
                    f"{error} (run.py serve writes http://127.0.0.1:PORT)"
                ) from None
            endpoint_key = EndpointKey.from_dict(values.get(CREDENTIALS_KEY))
            if endpoint_key is None:
                raise UsageError(
                    f"{source} lacks {CREDENTIALS_KEY} (the key run.py serve admits): use the "
                    "outputs file run.py serve wrote"
                )
        run_defaults = cast(RunDefaults, defaults)  # rows and hyperparameters checked; the rest read with .get
        outputs = cls(
            **{field: str(values[key]) for key, field in cls.KEYS.items()},
            run_defaults=run_defaults,
            endpoint_url=endpoint,
            endpoint_key=endpoint_key,
        )
        arn_region = arn_part(outputs.state_machine_arn, 3)
        if arn_region != outputs.region:
            raise UsageError(
                f"{source}: region {outputs.region!r} disagrees with stateMachineArn, which is "
                f"in {arn_region!r}: use the outputs of one stack, unedited"
            )
        return outputs


def arn_part(arn: str, index: int) -> str:
    """Field `index` of an ARN (`arn:partition:service:region:account:...`), '' if it has none."""
    parts = arn.split(":")
    return parts[index] if len(parts) > index else ""


def load_outputs(stack: str | None, outputs_file: str | None) -> StackOutputs:
    """Read outputs from a file (`-` is stdin) or else from the Pulumi CLI."""
    if outputs_file:
        source = "stdin" if outputs_file == "-" else outputs_file
        problem = None
        try:
            if outputs_file == "-":
                text = sys.stdin.read()
            else:
                with open(outputs_file, encoding="utf-8") as file:
                    problem, text = private_problem(os.fstat(file.fileno())), file.read()
            values = json.loads(text)
        except OSError as error:
            raise UsageError(f"cannot read outputs file {outputs_file}: {error.strerror}") from None
        except json.JSONDecodeError as error:
            raise UsageError(
                f"{source} is not JSON ({error.msg} at line {error.lineno}); "
                "produce it with: pulumi stack output --json"
            ) from None
        if problem and isinstance(values, dict) and ENDPOINT_KEY in values:
            raise UsageError(
                f"{source} names a local endpoint and its key but is {problem}: anyone who "
                "can change it chooses where run.py sends your data; use the file run.py serve "
                "wrote (yours, mode 0600)"
            )
        return StackOutputs.from_dict(values, source)

    if shutil.which("pulumi") is None:
        raise UsageError(
            "the pulumi CLI is not on PATH: install it, or pass --outputs-file FILE "
            "(from `pulumi stack output --json`), or try the offline rehearsal with --local"
        )
    command = ["pulumi", "stack", "output", "--json"] + (["--stack", stack] if stack else [])
    # Run where Pulumi.yaml is, so run.py works from any directory.
    result = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT_DIR)
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["no error output"])[-1]
        raise UsageError(
            f"`{' '.join(command)}` failed: {detail} "
            "(select a deployed stack with --stack NAME, or run `pulumi up` first)"
        )
    try:
        values = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise UsageError(f"`{' '.join(command)}` did not print JSON") from None
    return StackOutputs.from_dict(values, f"stack {stack or '(current)'}")
