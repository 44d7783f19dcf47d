"""The stack outputs the run script needs: from `pulumi stack output --json`, a file or stdin."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Callable, Optional

PROJECT_DIR = Path(__file__).resolve().parent.parent
# `run.py serve` adds this output: the URL of the local endpoint that holds the stack.
ENDPOINT_KEY = "localEndpoint"
# What a client of the local endpoint signs with: never the operator's own AWS credentials.
ENDPOINT_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class UsageError(Exception):
    """A problem the user fixes by changing how they call run.py; printed as one line, exit 2."""


@dataclasses.dataclass(frozen=True)
class StackOutputs:
    bucket_name: str
    state_machine_arn: str
    state_machine_name: str
    region: str
    job_name_prefix: str
    console_url: str
    run_defaults: dict  # {"rows", "hyperparameters"}: what executions get unless their input says otherwise
    # The local emulator's least-privilege report (runner.emulator.iam): what each role called, under
    # which statement, and which statements no call needed, for one execution (its ARN). None on AWS.
    iam_report: Optional[Callable[[str], dict]] = None
    # The local endpoint (`run.py serve`) that holds this stack; None for a stack on AWS.
    endpoint_url: Optional[str] = None

    KEYS = {"bucketName": "bucket_name", "stateMachineArn": "state_machine_arn",
            "stateMachineName": "state_machine_name", "region": "region",
            "jobNamePrefix": "job_name_prefix", "consoleUrl": "console_url"}

    @classmethod
    def from_dict(cls, values: object, source: str) -> "StackOutputs":
        if not isinstance(values, dict):
            raise UsageError(f"{source} is not a JSON object of stack outputs")
        missing = [key for key in cls.KEYS if not values.get(key)]
        if missing:
            raise UsageError(f"{source} lacks {', '.join(missing)}: deploy this project's stack "
                             "(pulumi up) or pass the outputs it exported")
        defaults = values.get("runDefaults")
        if not isinstance(defaults, dict) or not isinstance(defaults.get("hyperparameters"), dict) \
                or type(defaults.get("rows")) is not int:
            raise UsageError(f"{source} lacks runDefaults ({{rows, hyperparameters}}): update the "
                             "stack with this project's program (pulumi up)")
        endpoint = values.get(ENDPOINT_KEY)
        if endpoint is not None and (not isinstance(endpoint, str)
                                     or not endpoint.startswith(("http://127.", "http://localhost"))):
            raise UsageError(f"{source}: {ENDPOINT_KEY} {endpoint!r} is not a local endpoint "
                             "(http://127.0.0.1:PORT, as run.py serve writes it)")
        outputs = cls(**{field: str(values[key]) for key, field in cls.KEYS.items()}, run_defaults=defaults,
                      endpoint_url=endpoint)
        arn_region = arn_part(outputs.state_machine_arn, 3)
        if arn_region != outputs.region:
            raise UsageError(f"{source}: region {outputs.region!r} disagrees with stateMachineArn, which is "
                             f"in {arn_region!r}: use the outputs of one stack, unedited")
        return outputs


def arn_part(arn: str, index: int) -> str:
    """Field `index` of an ARN (`arn:partition:service:region:account:...`), '' if it has none."""
    parts = arn.split(":")
    return parts[index] if len(parts) > index else ""


def load_outputs(stack: str | None, outputs_file: str | None) -> StackOutputs:
    """Read outputs from a file (`-` is stdin) or else from the Pulumi CLI."""
    if outputs_file:
        source = "stdin" if outputs_file == "-" else outputs_file
        try:
            text = sys.stdin.read() if outputs_file == "-" else Path(outputs_file).read_text()
            values = json.loads(text)
        except OSError as error:
            raise UsageError(f"cannot read outputs file {outputs_file}: {error.strerror}") from None
        except json.JSONDecodeError as error:
            raise UsageError(f"{source} is not JSON ({error.msg} at line {error.lineno}); "
                             "produce it with: pulumi stack output --json") from None
        return StackOutputs.from_dict(values, source)

    if shutil.which("pulumi") is None:
        raise UsageError("the pulumi CLI is not on PATH: install it, or pass --outputs-file FILE "
                         "(from `pulumi stack output --json`), or try the offline rehearsal with --local")
    command = ["pulumi", "stack", "output", "--json"] + (["--stack", stack] if stack else [])
    # Run where Pulumi.yaml is, so run.py works from any directory.
    result = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT_DIR)
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["no error output"])[-1]
        raise UsageError(f"`{' '.join(command)}` failed: {detail} "
                         "(select a deployed stack with --stack NAME, or run `pulumi up` first)")
    try:
        values = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise UsageError(f"`{' '.join(command)}` did not print JSON") from None
    return StackOutputs.from_dict(values, f"stack {stack or '(current)'}")


# --- the local endpoint's record, for `run.py --local` to find one that is up -----------------

def stack_digest(stack: str, project_dir: Path = PROJECT_DIR) -> str:
    """What the deployed stack is made of: its config files and the program's sources. A served
    stack is reused only while this is unchanged (never another stack, never a stale program)."""
    digest = hashlib.sha256(stack.encode())
    files = [project_dir / "Pulumi.yaml", project_dir / f"Pulumi.{stack}.yaml", project_dir / "__main__.py"]
    for folder in ("components", "lambda_src"):
        files += sorted((project_dir / folder).rglob("*.py"))
    for path in files:
        digest.update(str(path.relative_to(project_dir)).encode())
        digest.update(path.read_bytes() if path.is_file() else b"\0missing")
    return digest.hexdigest()


def endpoint_record(stack: str, project_dir: Path = PROJECT_DIR) -> Path:
    """Where `run.py serve` notes the endpoint it serves `stack` on (outside the checkout)."""
    checkout = hashlib.sha256(str(project_dir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"run.py-serve-{os.getuid()}-{checkout}" / f"{stack}.json"


def served_stack(stack: str) -> Optional[dict]:
    """The outputs of an endpoint that is up for this very stack, or None (always None with
    RUN_PY_NO_ENDPOINT set: the test suite's --local runs deploy their own emulators).

    The record names the endpoint; the endpoint itself must answer that it serves this stack
    with the digest of the files as they are now."""
    if os.environ.get("RUN_PY_NO_ENDPOINT"):
        return None
    try:
        record = json.loads(endpoint_record(stack).read_text())
        if not record["endpoint"].startswith("http://127.0.0.1:"):  # only what serve writes
            return None
        with urllib.request.urlopen(f"{record['endpoint']}/_rehearsal/stack", timeout=2) as response:
            served = json.loads(response.read())
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if served.get("stack") != stack or served.get("digest") != stack_digest(stack):
        return None
    return served.get("outputs")
