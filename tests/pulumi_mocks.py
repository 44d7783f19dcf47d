"""Run the real Pulumi program (`__main__.py`) in-process under `pulumi.runtime.set_mocks`.

`run_program(config, region=...)` returns a `ProgramRun`: every registered resource with its
inputs, mocked outputs, parent and dependency URNs, the stack outputs, the invokes made, and
the error the program raised, if any.

- `AwsMocks.new_resource` answers with plausible physical names and ARNs (bucket name = the
  resource name + a 7-hex suffix, as Pulumi auto-names; ARNs in the region's partition).
- `AwsMocks.call` answers the invokes the program makes: caller identity (account
  111122223333, not the AWS samples' placeholder 123456789012), region, partition, and
  `aws:iam/getPolicyDocument:getPolicyDocument`, rendered faithfully from the statements the
  program sends (as the provider renders them), so the IAM tests inspect real documents.
- `RecordingMonitor` keeps what the mock monitor otherwise drops: `MockResourceArgs` carries
  no dependencies, but the `RegisterResourceRequest` does (`dependencies` holds the URNs of
  explicit `depends_on` plus the resources the inputs came from), so the monitor records it.
"""

from __future__ import annotations

import contextvars
import dataclasses
import hashlib
import json
import runpy
import sys
from pathlib import Path
from typing import Any, Optional

import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

import pulumi  # noqa: E402
from pulumi.runtime import mocks as pulumi_mocks  # noqa: E402
from pulumi.runtime import settings as pulumi_settings  # noqa: E402

PROJECT = "training-pipeline"
ACCOUNT = "111122223333"
PROGRAM = PROJECT_DIR / "__main__.py"


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _suffix(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:7]


# --- aws:iam/getPolicyDocument, rendered as the provider renders it --------------------------

def _get(mapping: dict, *names: str) -> Any:
    for name in names:
        if mapping.get(name) is not None:
            return mapping[name]
    return None


def _string_or_list(values: list[str]) -> Any:
    """The provider writes one value as a string, several as a reverse-sorted list."""
    values = list(dict.fromkeys(values))
    return values[0] if len(values) == 1 else sorted(values, reverse=True)


def _principals(principals: list[dict]) -> Any:
    if len(principals) == 1 and principals[0]["type"] == "*" and list(principals[0]["identifiers"]) == ["*"]:
        return "*"
    rendered: dict[str, list[str]] = {}
    for principal in principals:
        rendered.setdefault(principal["type"], []).extend(principal["identifiers"])
    return {kind: _string_or_list(ids) for kind, ids in rendered.items()}


def render_policy_document(args: dict) -> dict:
    """IAM JSON (Version/Id/Statement/Sid/Effect/Action/Resource/Principal/Condition) from invoke args."""
    unsupported = [key for key in ("sourceJson", "overrideJson", "sourcePolicyDocuments",
                                   "overridePolicyDocuments", "source_json", "override_json")
                   if args.get(key)]
    if unsupported:
        raise NotImplementedError(f"getPolicyDocument mock does not merge {unsupported}")
    document: dict[str, Any] = {"Version": args.get("version") or "2012-10-17"}
    if _get(args, "policyId", "policy_id"):
        document["Id"] = _get(args, "policyId", "policy_id")
    statements = []
    for raw in args.get("statements") or []:
        statement: dict[str, Any] = {}
        if raw.get("sid"):
            statement["Sid"] = raw["sid"]
        statement["Effect"] = raw.get("effect") or "Allow"
        for key, names in (("Action", ("actions",)), ("NotAction", ("notActions", "not_actions")),
                           ("Resource", ("resources",)),
                           ("NotResource", ("notResources", "not_resources"))):
            values = _get(raw, *names)
            if values:
                statement[key] = _string_or_list(values)
        for key, names in (("Principal", ("principals",)),
                           ("NotPrincipal", ("notPrincipals", "not_principals"))):
            values = _get(raw, *names)
            if values:
                statement[key] = _principals(values)
        conditions = raw.get("conditions")
        if conditions:
            rendered: dict[str, dict[str, Any]] = {}
            for condition in conditions:
                rendered.setdefault(condition["test"], {})[condition["variable"]] = \
                    _string_or_list(condition["values"])
            statement["Condition"] = rendered
        statements.append(statement)
    document["Statement"] = statements
    return document


# --- mocks ---------------------------------------------------------------------------------

class AwsMocks(pulumi.runtime.Mocks):
    def __init__(self, region: str = "us-west-2", account: str = ACCOUNT) -> None:
        self.region = region
        self.account = account
        self.partition = partition_of(region)
        self.inputs: dict[tuple[str, str], dict] = {}
        self.invokes: list[tuple[str, dict]] = []

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        region = self.region if regional else ""
        return f"arn:{self.partition}:{service}:{region}:{self.account}:{resource}"

    def call(self, args: pulumi.runtime.MockCallArgs):
        self.invokes.append((args.token, args.args))
        dns_suffix = "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": self.account, "id": self.account, "userId": "AIDAEXAMPLEUSERID",
                    "arn": f"arn:{self.partition}:iam::{self.account}:user/pulumi-test"}
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region, "id": self.region,
                    "endpoint": f"ec2.{self.region}.{dns_suffix}", "description": self.region}
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": self.partition, "id": self.partition, "dnsSuffix": dns_suffix,
                    "reverseDnsPrefix": "cn.com.amazonaws" if self.partition == "aws-cn" else "com.amazonaws"}
        if args.token == "aws:iam/getPolicyDocument:getPolicyDocument":
            document = render_policy_document(args.args)
            minified = json.dumps(document, separators=(",", ":"))
            return {"json": json.dumps(document, indent=2), "minifiedJson": minified,
                    "id": hashlib.sha256(minified.encode()).hexdigest()[:10]}
        raise NotImplementedError(f"no mock for invoke {args.token}")

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        inputs = dict(args.inputs)
        self.inputs[(args.typ, args.name)] = inputs
        if not args.custom:
            return f"{args.name}-id", {}
        generated = f"{args.name}-{_suffix(args.name)}"
        outputs = dict(inputs)
        typ = args.typ
        if typ == "aws:s3/bucket:Bucket":
            bucket = inputs.get("bucket") or generated
            outputs.update(bucket=bucket, arn=f"arn:{self.partition}:s3:::{bucket}",
                           bucketDomainName=f"{bucket}.s3.amazonaws.com", region=self.region)
            return bucket, outputs
        if typ == "aws:iam/role:Role":
            role = inputs.get("name") or generated
            outputs.update(name=role, arn=self.arn("iam", f"role/{role}", regional=False),
                           uniqueId="AROAEXAMPLE" + _suffix(role).upper())
            return role, outputs
        if typ == "aws:lambda/function:Function":
            function = inputs.get("name") or generated
            arn = self.arn("lambda", f"function:{function}")
            outputs.update(name=function, arn=arn, qualifiedArn=f"{arn}:$LATEST", version="$LATEST",
                           invokeArn=f"arn:{self.partition}:apigateway:{self.region}:lambda:path/"
                                     f"2015-03-31/functions/{arn}/invocations")
            return function, outputs
        if typ == "aws:cloudwatch/logGroup:LogGroup":
            group = inputs.get("name") or (inputs["namePrefix"] + _suffix(args.name)
                                           if inputs.get("namePrefix") else generated)
            outputs.update(name=group, arn=self.arn("logs", f"log-group:{group}"))
            return group, outputs
        if typ == "aws:sfn/stateMachine:StateMachine":
            machine = inputs.get("name") or generated
            outputs.update(name=machine, arn=self.arn("states", f"stateMachine:{machine}"),
                           status="ACTIVE")
            return machine, outputs
        if typ == "aws:iam/rolePolicy:RolePolicy":
            policy = inputs.get("name") or generated
            outputs.update(name=policy)
            return f"{inputs.get('role')}:{policy}", outputs
        return generated, outputs


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

    def __init__(self, mocks: AwsMocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registered] = []
        self.component_outputs: dict[str, dict] = {}

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registrations.append(Registered(
                urn=response.urn, type=request.type, name=request.name, parent=request.parent,
                custom=request.custom, inputs=self.mocks.inputs[(request.type, request.name)],
                outputs=self.resources[response.urn].state, dependencies=list(request.dependencies),
                property_dependencies={key: list(value.urns)
                                       for key, value in request.propertyDependencies.items()}))
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
    error: Optional[BaseException]
    mocks: AwsMocks

    def of_type(self, typ: str) -> list[Registered]:
        return [resource for resource in self.resources if resource.type == typ]

    def one(self, typ: str, name: Optional[str] = None) -> Registered:
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


def stack_config(stack: str = "dev") -> dict[str, Any]:
    """The `config:` block of Pulumi.<stack>.yaml."""
    path = PROJECT_DIR / f"Pulumi.{stack}.yaml"
    return (yaml.safe_load(path.read_text()) or {}).get("config", {}) if path.exists() else {}


def _as_config_string(value: Any) -> str:
    """Pulumi hands config to programs as strings; structured values as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def run_program(config: Optional[dict[str, Any]] = None, *, region: str = "us-west-2",
                stack: str = "dev", account: str = ACCOUNT, base_stack_file: bool = True) -> ProgramRun:
    """Run `__main__.py` under mocks; `config` holds `training-pipeline:` keys without the namespace.

    The base is Pulumi.<stack>.yaml (as `pulumi up` would read it), then `config`, then
    `aws:region`. Each run gets a fresh context, so runs do not share the root stack.
    """
    values = dict(stack_config(stack)) if base_stack_file else {}
    values.update({f"{PROJECT}:{key}": value for key, value in (config or {}).items()})
    values["aws:region"] = region
    all_config = {key: _as_config_string(value) for key, value in values.items() if value is not None}
    mocks = AwsMocks(region=region, account=account)
    monitor = RecordingMonitor(mocks)
    outputs: dict[str, Any] = {}

    def body() -> Optional[BaseException]:
        pulumi_settings.ROOT.set(None)
        pulumi.runtime.set_all_config(all_config)
        pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)

        @pulumi.runtime.test
        def program():
            runpy.run_path(str(PROGRAM), run_name="__main__")
            exported = pulumi.runtime.get_root_resource().outputs
            return pulumi.Output.all(**exported).apply(outputs.update)

        try:
            program()
        except Exception as error:  # noqa: BLE001 - handed to the test
            return error
        return None

    error = contextvars.copy_context().run(body)
    return ProgramRun(resources=monitor.registrations, outputs=outputs, invokes=mocks.invokes,
                      component_outputs=monitor.component_outputs, error=error, mocks=mocks)
