"""Run the real Pulumi program (`__main__.py`) in-process under the rehearsal's engine double.

`run_program(config, region=...)` deploys the program into a fresh emulator (moto) through
`runner.emulator.engine.EmulatorEngine`, the same double `run.py --local` uses, and returns a
`ProgramRun`: every registered resource with its inputs, the outputs the double returned (as
AWS would: ARNs and names come from the emulator), parent and dependency URNs, the stack
outputs, the invokes made, and the error the program raised, if any. The account is
111122223333 (MOTO_ACCOUNT_ID for the run), not the AWS samples' placeholder 123456789012.

`RecordingMonitor` keeps what the mock monitor otherwise drops: `MockResourceArgs` carries
no dependencies, but the `RegisterResourceRequest` does (`dependencies` holds the URNs of
explicit `depends_on` plus the resources the inputs came from), so the monitor records it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from moto import mock_aws  # noqa: E402
from pulumi.runtime import mocks as pulumi_mocks  # noqa: E402

from runner.emulator.engine import EmulatorEngine, stack_config  # noqa: E402
from runner.emulator.engine import run_program as run_under_engine  # noqa: E402

PROJECT = "training-pipeline"
ACCOUNT = "111122223333"


class RecordingEngine(EmulatorEngine):
    """The engine double, remembering each resource's inputs for the monitor's record."""

    def __init__(self, region: str) -> None:
        super().__init__(region)
        self.inputs: dict[tuple[str, str], dict] = {}

    def new_resource(self, args):
        self.inputs[(args.typ, args.name)] = dict(args.inputs)
        return super().new_resource(args)


@dataclasses.dataclass
class Registered:
    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    inputs: dict
    outputs: dict
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock monitor, plus a record of each registration's parent and dependency URNs."""

    def __init__(self, mocks: RecordingEngine) -> None:
        super().__init__(mocks)
        self.registrations: list[Registered] = []
        self.component_outputs: dict[str, dict] = {}

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registrations.append(
                Registered(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    parent=request.parent,
                    custom=request.custom,
                    inputs=self.mocks.inputs[(request.type, request.name)],
                    outputs=self.resources[response.urn].state,
                    dependencies=list(request.dependencies),
                    property_dependencies={
                        key: list(value.urns) for key, value in request.propertyDependencies.items()
                    },
                )
            )
        return response

    def RegisterResourceOutputs(self, request):
        from pulumi.runtime import rpc

        self.component_outputs[request.urn] = rpc.deserialize_properties(request.outputs)
        return super().RegisterResourceOutputs(request)


@dataclasses.dataclass
class ProgramRun:
    resources: list[Registered]
    outputs: dict[str, Any]
    invokes: list[tuple[str, dict]]
    component_outputs: dict[str, dict]
    error: BaseException | None
    engine: RecordingEngine

    def of_type(self, typ: str) -> list[Registered]:
        return [resource for resource in self.resources if resource.type == typ]

    def one(self, typ: str, name: str | None = None) -> Registered:
        found = [r for r in self.of_type(typ) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {typ} {name or ''}, found {[r.name for r in found]}"
        return found[0]

    def by_urn(self, urn: str) -> Registered:
        return next(resource for resource in self.resources if resource.urn == urn)

    def policy_documents(self) -> dict[str, dict]:
        """Every IAM document the program registered: role trust, role policies, bucket policy."""
        documents = {}
        for resource in self.resources:
            for key in ("assumeRolePolicy", "policy"):
                if isinstance(resource.inputs.get(key), str):
                    documents[f"{resource.name}.{key}"] = json.loads(resource.inputs[key])
        return documents


def run_program(
    config: dict[str, Any] | None = None,
    *,
    region: str = "us-west-2",
    stack: str = "dev",
    account: str = ACCOUNT,
    base_stack_file: bool = True,
) -> ProgramRun:
    """Deploy `__main__.py` into a fresh emulator; `config` holds `training-pipeline:` keys without the namespace.

    The base is Pulumi.<stack>.yaml (as `pulumi up` would read it), then `config`, then
    `aws:region`.
    """
    values = dict(stack_config(stack)) if base_stack_file else {}
    values.update({f"{PROJECT}:{key}": value for key, value in (config or {}).items()})
    values["aws:region"] = region
    engine = RecordingEngine(region)
    monitor = RecordingMonitor(engine)
    saved_account = os.environ.get("MOTO_ACCOUNT_ID")
    os.environ["MOTO_ACCOUNT_ID"] = account
    try:
        with mock_aws():
            outputs, error = run_under_engine(engine, values, project=PROJECT, stack=stack, monitor=monitor)
    finally:
        if saved_account is None:
            os.environ.pop("MOTO_ACCOUNT_ID", None)
        else:
            os.environ["MOTO_ACCOUNT_ID"] = saved_account
    return ProgramRun(
        resources=monitor.registrations,
        outputs=outputs,
        invokes=engine.invokes,
        component_outputs=monitor.component_outputs,
        error=error,
        engine=engine,
    )
