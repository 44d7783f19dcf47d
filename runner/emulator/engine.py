"""The engine double: the Pulumi program runs in-process and what it registers is created in the emulator.

`pulumi.runtime.set_mocks` lets a program run without the Pulumi CLI: every resource
registration goes to `Mocks.new_resource`, every data source to `Mocks.call`.
`EmulatorEngine` answers them the way the AWS provider would, against moto:

- `new_resource` creates the resource in moto with boto3 (one client per service) and returns
  the outputs AWS returns (ARNs, names, ids) on top of the inputs. A resource type it does
  not know stops the deployment naming the type: nothing the component registers is skipped.
- `call` answers the data sources the program uses: `getCallerIdentity` (moto's STS),
  `getPartition`, `getRegion`, and `getPolicyDocument` rendered as the provider renders it.

`run_program` runs `__main__.py` under the double with a stack's config, as `pulumi up` would.
The offline rehearsal (`runner.emulator.stack`) and the program tests (`tests/pulumi_mocks.py`)
both deploy through it: one description of the stack, the component.
"""

from __future__ import annotations

import contextvars
import hashlib
import io
import json
import runpy
import threading
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings

from components import PROJECT_DIR
from components.images import partition
from components.settings import DEFAULT_STACK, read_stack_config
from runner.emulator.preflight import auto_name

PROGRAM = PROJECT_DIR / "__main__.py"


class UnsupportedResource(Exception):
    """The program registered a resource type the engine double cannot create."""


# --- config --------------------------------------------------------------------------------


def stack_config(stack: str = DEFAULT_STACK, project_dir: Path = PROJECT_DIR) -> dict[str, Any]:
    """The `config:` block of Pulumi.<stack>.yaml the rehearsal deploys with (components.settings'
    reader; tests replace this to deploy with other values)."""
    return read_stack_config(stack, project_dir)


def config_string(value: Any) -> str:
    """Pulumi hands config to programs as strings; structured values as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


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
    unsupported = [
        key
        for key in ("sourceJson", "overrideJson", "sourcePolicyDocuments", "overridePolicyDocuments")
        if args.get(key)
    ]
    if unsupported:
        raise NotImplementedError(f"the engine double's getPolicyDocument does not merge {unsupported}")
    document: dict[str, Any] = {"Version": args.get("version") or "2012-10-17"}
    if args.get("policyId"):
        document["Id"] = args["policyId"]
    statements = []
    for raw in args.get("statements") or []:
        statement: dict[str, Any] = {}
        if raw.get("sid"):
            statement["Sid"] = raw["sid"]
        statement["Effect"] = raw.get("effect") or "Allow"
        for key, name in (
            ("Action", "actions"),
            ("NotAction", "notActions"),
            ("Resource", "resources"),
            ("NotResource", "notResources"),
        ):
            if raw.get(name):
                statement[key] = _string_or_list(raw[name])
        for key, name in (("Principal", "principals"), ("NotPrincipal", "notPrincipals")):
            if raw.get(name):
                statement[key] = _principals(raw[name])
        if raw.get("conditions"):
            rendered: dict[str, dict[str, Any]] = {}
            for condition in raw["conditions"]:
                rendered.setdefault(condition["test"], {})[condition["variable"]] = _string_or_list(condition["values"])
            statement["Condition"] = rendered
        statements.append(statement)
    document["Statement"] = statements
    return document


# --- the double ----------------------------------------------------------------------------


def _archive_zip(archive: Any) -> bytes:
    """A Lambda package from the program's `code`: an AssetArchive of file/string assets, or a FileArchive."""
    if isinstance(archive, pulumi.FileArchive):
        path = Path(archive.path)
        if path.is_file():
            return path.read_bytes()
        archive = pulumi.AssetArchive(
            {str(p.relative_to(path)): pulumi.FileAsset(str(p)) for p in sorted(path.rglob("*")) if p.is_file()}
        )
    if not isinstance(archive, pulumi.AssetArchive):
        raise UnsupportedResource(
            f"Lambda code of type {type(archive).__name__} is not supported "
            "by the engine double (use an AssetArchive or a FileArchive)"
        )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        for name, asset in sorted(archive.assets.items()):
            if isinstance(asset, pulumi.FileAsset):
                package.write(asset.path, name)
            elif isinstance(asset, pulumi.StringAsset):
                package.writestr(name, asset.text)
            else:
                raise UnsupportedResource(
                    f"Lambda asset {name!r} of type {type(asset).__name__} is not supported by the engine double"
                )
    return buffer.getvalue()


def _tags(inputs: dict) -> dict[str, str]:
    return dict(inputs.get("tags") or {})


class EmulatorEngine(pulumi.runtime.Mocks):
    """Pulumi mocks that deploy into the emulator (moto must be active) and answer as AWS would."""

    def __init__(self, region: str, session: boto3.session.Session | None = None) -> None:
        self.region = region
        self.partition = partition(region)[0]
        # boto3's default session, which run.py and the interpreter use too: the service models
        # loaded while deploying are not loaded again.
        if session is None and boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()
        self._session = session or boto3.DEFAULT_SESSION
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.invokes: list[tuple[str, dict]] = []
        self._account_id: str | None = None
        self._in_flight = 0
        self._closed = False
        self._idle = threading.Condition(self._lock)

    def close(self, timeout: float = 30.0) -> None:
        """Refuse further registrations and wait for those in flight: a program that failed
        leaves registrations running on Pulumi's executor threads after `run_program` returns."""
        with self._idle:
            self._closed = True
            self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def client(self, service: str):
        with self._lock:
            if service not in self._clients:
                extra = {}
                if service == "iam" and self.partition == "aws-us-gov":
                    # moto takes the partition from the endpoint's region, and botocore's
                    # GovCloud IAM endpoint (iam.us-gov.amazonaws.com) names none.
                    extra["endpoint_url"] = f"https://iam.{self.region}.amazonaws.com"
                self._clients[service] = self._session.client(service, region_name=self.region, **extra)
            return self._clients[service]

    # -- data sources ---------------------------------------------------------------------------

    def call(self, args: pulumi.runtime.MockCallArgs):
        self.invokes.append((args.token, args.args))
        dns_suffix = partition(self.region)[1]
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            identity = self.client("sts").get_caller_identity()
            self._account_id = identity["Account"]
            return {
                "accountId": identity["Account"],
                "id": identity["Account"],
                "userId": identity["UserId"],
                "arn": identity["Arn"],
            }
        if args.token == "aws:index/getRegion:getRegion":
            return {
                "name": self.region,
                "region": self.region,
                "id": self.region,
                "endpoint": f"ec2.{self.region}.{dns_suffix}",
                "description": self.region,
            }
        if args.token == "aws:index/getPartition:getPartition":
            return {
                "partition": self.partition,
                "id": self.partition,
                "dnsSuffix": dns_suffix,
                "reverseDnsPrefix": ".".join(reversed(dns_suffix.split("."))),
            }
        if args.token == "aws:iam/getPolicyDocument:getPolicyDocument":
            document = render_policy_document(args.args)
            minified = json.dumps(document, separators=(",", ":"))
            return {
                "json": json.dumps(document, indent=2),
                "minifiedJson": minified,
                "id": hashlib.sha256(minified.encode()).hexdigest()[:10],
            }
        raise UnsupportedResource(
            f"the engine double cannot answer the data source {args.token}: add it to runner/emulator/engine.py"
        )

    # -- resources ------------------------------------------------------------------------------

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        if not args.custom:  # a component: nothing to create
            return args.name, {}
        create = RESOURCES.get(args.typ)
        if create is None:
            raise UnsupportedResource(
                f"the local rehearsal cannot deploy resource type {args.typ} ({args.name}): "
                "add it to runner/emulator/engine.py"
            )
        with self._idle:
            if self._closed:
                raise UnsupportedResource(f"{args.typ} ({args.name}) registered after the deployment ended")
            self._in_flight += 1
        try:
            inputs = dict(args.inputs)
            physical_id, computed = create(self, args.name, inputs)
            return physical_id, {**inputs, **computed}
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def _bucket(self, name: str, inputs: dict):
        bucket = inputs.get("bucket") or auto_name(name)
        location = (
            {} if self.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": self.region}}
        )
        s3 = self.client("s3")
        s3.create_bucket(Bucket=bucket, **location)
        if inputs.get("tags"):
            s3.put_bucket_tagging(
                Bucket=bucket,
                Tagging={"TagSet": [{"Key": key, "Value": value} for key, value in _tags(inputs).items()]},
            )
        return bucket, {
            "bucket": bucket,
            "arn": f"arn:{self.partition}:s3:::{bucket}",
            "bucketDomainName": f"{bucket}.s3.amazonaws.com",
            "bucketRegionalDomainName": f"{bucket}.s3.{self.region}.amazonaws.com",
            "region": self.region,
        }

    def _public_access_block(self, name: str, inputs: dict):
        self.client("s3").put_public_access_block(
            Bucket=inputs["bucket"],
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": bool(inputs.get("blockPublicAcls")),
                "IgnorePublicAcls": bool(inputs.get("ignorePublicAcls")),
                "BlockPublicPolicy": bool(inputs.get("blockPublicPolicy")),
                "RestrictPublicBuckets": bool(inputs.get("restrictPublicBuckets")),
            },
        )
        return inputs["bucket"], {}

    def _encryption(self, name: str, inputs: dict):
        rules = []
        for rule in inputs["rules"]:
            default = rule["applyServerSideEncryptionByDefault"]
            by_default = {"SSEAlgorithm": default["sseAlgorithm"]}
            if default.get("kmsMasterKeyId"):
                by_default["KMSMasterKeyID"] = default["kmsMasterKeyId"]
            rules.append(
                {
                    "ApplyServerSideEncryptionByDefault": by_default,
                    **(
                        {"BucketKeyEnabled": rule["bucketKeyEnabled"]}
                        if rule.get("bucketKeyEnabled") is not None
                        else {}
                    ),
                }
            )
        self.client("s3").put_bucket_encryption(
            Bucket=inputs["bucket"], ServerSideEncryptionConfiguration={"Rules": rules}
        )
        return inputs["bucket"], {}

    def _lifecycle(self, name: str, inputs: dict):
        rules = []
        for rule in inputs["rules"]:
            converted: dict[str, Any] = {
                "ID": rule["id"],
                "Status": rule["status"],
                "Filter": {"Prefix": (rule.get("filter") or {}).get("prefix", "")},
            }
            if rule.get("abortIncompleteMultipartUpload"):
                converted["AbortIncompleteMultipartUpload"] = {
                    "DaysAfterInitiation": int(rule["abortIncompleteMultipartUpload"]["daysAfterInitiation"])
                }
            if rule.get("expiration"):
                converted["Expiration"] = {"Days": int(rule["expiration"]["days"])}
            if rule.get("noncurrentVersionExpiration"):
                converted["NoncurrentVersionExpiration"] = {
                    "NoncurrentDays": int(rule["noncurrentVersionExpiration"]["noncurrentDays"])
                }
            rules.append(converted)
        self.client("s3").put_bucket_lifecycle_configuration(
            Bucket=inputs["bucket"], LifecycleConfiguration={"Rules": rules}
        )
        return inputs["bucket"], {}

    def _bucket_policy(self, name: str, inputs: dict):
        self.client("s3").put_bucket_policy(Bucket=inputs["bucket"], Policy=inputs["policy"])
        return inputs["bucket"], {}

    def _role(self, name: str, inputs: dict):
        role_name = inputs.get("name") or auto_name(name)
        role = self.client("iam").create_role(
            RoleName=role_name,
            Path=inputs.get("path") or "/",
            AssumeRolePolicyDocument=inputs["assumeRolePolicy"],
            Tags=[{"Key": key, "Value": value} for key, value in _tags(inputs).items()],
        )["Role"]
        return role_name, {"name": role_name, "arn": role["Arn"], "uniqueId": role["RoleId"]}

    def _role_policy(self, name: str, inputs: dict):
        policy_name = inputs.get("name") or auto_name(name)
        self.client("iam").put_role_policy(
            RoleName=inputs["role"], PolicyName=policy_name, PolicyDocument=inputs["policy"]
        )
        return f"{inputs['role']}:{policy_name}", {"name": policy_name}

    def _log_group(self, name: str, inputs: dict):
        group = inputs.get("name") or (
            inputs["namePrefix"] + hashlib.sha256(name.encode()).hexdigest()[:26]
            if inputs.get("namePrefix")
            else auto_name(name)
        )
        logs = self.client("logs")
        logs.create_log_group(logGroupName=group, **({"tags": _tags(inputs)} if inputs.get("tags") else {}))
        if inputs.get("retentionInDays"):
            logs.put_retention_policy(logGroupName=group, retentionInDays=int(inputs["retentionInDays"]))
        # The provider's `arn` leaves out the `:*` that DescribeLogGroups appends.
        arn = f"arn:{self.partition}:logs:{self.region}:{self._account()}:log-group:{group}"
        return group, {"name": group, "arn": arn}

    def _function(self, name: str, inputs: dict):
        function_name = inputs.get("name") or auto_name(name)
        request: dict[str, Any] = {
            "FunctionName": function_name,
            "Role": inputs["role"],
            "Handler": inputs.get("handler"),
            "Runtime": inputs.get("runtime"),
            "Code": {"ZipFile": _archive_zip(inputs["code"])},
            "Timeout": int(inputs.get("timeout") or 3),
            "MemorySize": int(inputs.get("memorySize") or 128),
            "Description": inputs.get("description") or "",
            "Tags": _tags(inputs),
        }
        if inputs.get("environment"):
            request["Environment"] = {"Variables": dict(inputs["environment"].get("variables") or {})}
        if inputs.get("loggingConfig"):
            config = inputs["loggingConfig"]
            request["LoggingConfig"] = {
                key: config[source]
                for key, source in (
                    ("LogFormat", "logFormat"),
                    ("LogGroup", "logGroup"),
                    ("ApplicationLogLevel", "applicationLogLevel"),
                    ("SystemLogLevel", "systemLogLevel"),
                )
                if config.get(source)
            }
        created = self.client("lambda").create_function(**request)
        arn = created["FunctionArn"]
        return function_name, {
            "name": function_name,
            "arn": arn,
            "qualifiedArn": f"{arn}:$LATEST",
            "version": "$LATEST",
            "invokeArn": f"arn:{self.partition}:apigateway:{self.region}:lambda:path/2015-03-31/"
            f"functions/{arn}/invocations",
            "sourceCodeHash": created["CodeSha256"],
            "sourceCodeSize": created["CodeSize"],
        }

    def _state_machine(self, name: str, inputs: dict):
        machine_name = inputs.get("name") or auto_name(name)
        request: dict[str, Any] = {
            "name": machine_name,
            "definition": inputs["definition"],
            "roleArn": inputs["roleArn"],
            "type": inputs.get("type") or "STANDARD",
            "tags": [{"key": key, "value": value} for key, value in _tags(inputs).items()],
        }
        logging_config = inputs.get("loggingConfiguration")
        if logging_config:
            request["loggingConfiguration"] = {
                "level": logging_config.get("level", "OFF"),
                "includeExecutionData": bool(logging_config.get("includeExecutionData")),
                "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": logging_config["logDestination"]}}]
                if logging_config.get("logDestination")
                else [],
            }
        if inputs.get("tracingConfiguration") is not None:
            request["tracingConfiguration"] = {"enabled": bool(inputs["tracingConfiguration"].get("enabled"))}
        created = self.client("stepfunctions").create_state_machine(**request)
        return created["stateMachineArn"], {"name": machine_name, "arn": created["stateMachineArn"], "status": "ACTIVE"}

    def _model_package_group(self, name: str, inputs: dict):
        group = inputs.get("modelPackageGroupName") or auto_name(name)
        created = self.client("sagemaker").create_model_package_group(
            ModelPackageGroupName=group,
            **(
                {"ModelPackageGroupDescription": inputs["modelPackageGroupDescription"]}
                if inputs.get("modelPackageGroupDescription")
                else {}
            ),
            Tags=[{"Key": key, "Value": value} for key, value in _tags(inputs).items()],
        )
        return group, {"modelPackageGroupName": group, "arn": created["ModelPackageGroupArn"]}

    def _account(self) -> str:
        if self._account_id is None:
            self._account_id = self.client("sts").get_caller_identity()["Account"]
        return self._account_id


RESOURCES: dict[str, Callable[[EmulatorEngine, str, dict], tuple[str, dict]]] = {
    "aws:s3/bucket:Bucket": EmulatorEngine._bucket,
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": EmulatorEngine._public_access_block,
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": EmulatorEngine._encryption,
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": EmulatorEngine._lifecycle,
    "aws:s3/bucketPolicy:BucketPolicy": EmulatorEngine._bucket_policy,
    "aws:iam/role:Role": EmulatorEngine._role,
    "aws:iam/rolePolicy:RolePolicy": EmulatorEngine._role_policy,
    "aws:cloudwatch/logGroup:LogGroup": EmulatorEngine._log_group,
    "aws:lambda/function:Function": EmulatorEngine._function,
    "aws:sfn/stateMachine:StateMachine": EmulatorEngine._state_machine,
    "aws:sagemaker/modelPackageGroup:ModelPackageGroup": EmulatorEngine._model_package_group,
}


# --- running the program -------------------------------------------------------------------


def run_program(
    engine: EmulatorEngine,
    config: dict[str, Any],
    *,
    project: str,
    stack: str,
    monitor: pulumi_mocks.MockMonitor | None = None,
) -> tuple[dict[str, Any], BaseException | None]:
    """Run `__main__.py` under `engine` with `config` (full keys, e.g. `aws:region`).

    Returns the stack's exports and the error the program raised, if any. Each run gets a
    fresh context, so runs do not share the root stack resource.
    """
    all_config = {key: config_string(value) for key, value in config.items() if value is not None}
    outputs: dict[str, Any] = {}

    def body() -> BaseException | None:
        pulumi_settings.ROOT.set(None)
        pulumi.runtime.set_all_config(all_config)
        pulumi.runtime.set_mocks(engine, project=project, stack=stack, preview=False, monitor=monitor)

        @pulumi.runtime.test
        def program():
            runpy.run_path(str(PROGRAM), run_name="__main__")
            exported = pulumi.runtime.get_root_resource().outputs
            return pulumi.Output.all(**exported).apply(outputs.update)

        try:
            with warnings.catch_warnings():
                # pulumi_aws warns about its own deprecated classes as its modules load.
                warnings.filterwarnings("ignore", ".*deprecated in favor of", DeprecationWarning)
                program()
        except Exception as error:  # noqa: BLE001 - handed to the caller
            return error
        return None

    error = contextvars.copy_context().run(body)
    engine.close()
    return outputs, error
