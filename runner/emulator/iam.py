"""IAM on the emulator: each principal acts under its own role's deployed policies.

`AccessControl` hands out credentials for a role (moto's STS `AssumeRole`, as a service
would assume it) and evaluates every call made with them against what the program deployed:
the role's inline and attached policies as moto's IAM holds them now, and for S3 the bucket's
policy too. Explicit Deny wins; then any Allow; otherwise the call is refused with AWS's
message (`User: arn:aws:sts::...:assumed-role/<role>/<session> is not authorized to perform:
<action> on resource: <arn> because no identity-based policy allows the <action> action`).

Two ways calls are checked:
- requests sent to the emulator with a role's credentials (the seeding function's S3 calls,
  the state machine's Lambda and SageMaker calls, the SageMaker jobs' S3 calls): `installed()`
  hooks moto's per-request authorisation and forms the resource ARN and the condition keys
  the way AWS does (`_resource` below), including the checks a call implies (`iam:PassRole`
  with `iam:PassedToService` for a RoleArn, `sagemaker:AddTags` for Tags at creation);
- what a service does on a role's behalf without a request (Step Functions creating the
  `.sync` event rules, SageMaker pulling the image and writing logs): `authorize` at that moment.

Requests made with any other credentials (the operator's: run.py, tests) are not checked.

moto's own `moto.iam.access_control.IAMPolicyStatement` was the first candidate, but it does
not fit: a failed condition on an Allow statement counts as an explicit Deny, condition
operators other than StringEquals are treated as satisfied (the bucket's TLS-only Deny would
refuse everything), `*` becomes a regex without escaping the rest, and NotResource and
Service principals are not handled. What is below is the documented evaluation logic for one
account (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html),
limited to what the stack uses; a condition operator it does not know fails loudly.

`report()` is the least-privilege view: per role, each call (action, resource, the statement
that allowed it) and each statement no call used, with the reason when that is expected;
`report(execution=ARN)` counts only the calls made for that execution, so that executions
running together on one emulator (`run.py serve`) each get their own. A call belongs to the
execution whose task state made it, or whose SageMaker job did (`EXECUTION`, set by
`attributed()` as each state starts and carried into the threads it starts).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import json
import re
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import boto3
from botocore.config import Config
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import JsonRESTError
from moto.iam.access_control import PermissionResult
from moto.iam.models import iam_backends
from moto.s3.exceptions import S3AccessDeniedError
from moto.s3.models import FakeBucket, s3_backends
from moto.utilities.utils import get_partition

# Statements whose actions the rehearsal never exercises, and why (matched on every action).
UNEXERCISED = {
    "xray:": "X-Ray tracing is not emulated (and off unless `tracing` is set)",
    "logs:CreateLogDelivery": "Step Functions log delivery is not emulated",
    "logs:GetLogDelivery": "Step Functions log delivery is not emulated",
    "logs:UpdateLogDelivery": "Step Functions log delivery is not emulated",
    "logs:DeleteLogDelivery": "Step Functions log delivery is not emulated",
    "logs:ListLogDeliveries": "Step Functions log delivery is not emulated",
    "logs:PutResourcePolicy": "Step Functions log delivery is not emulated",
    "logs:DescribeResourcePolicies": "Step Functions log delivery is not emulated",
    "logs:DescribeLogGroups": "Step Functions log delivery is not emulated",
    "sagemaker:ListTags": "granted as AWS documents for .sync; the emulated integration does not call it",
    "logs:CreateLogStream": "the Lambda runtime's own log writes are not emulated (on AWS a refusal "
    "only drops the function's logs)",
    "logs:PutLogEvents": "the Lambda runtime's own log writes are not emulated (on AWS a refusal "
    "only drops the function's logs)",
}
# The seeding role's reads of a user's data (components/seed_policy.py): a generated run needs none.
DATA_ONLY = {
    "ReadRunUploads": "only runs with a file of their own (run.py --data FILE) read an upload",
    "ReadDataSources": "only runs with data in a dataSources location read it",
    "ListDataSources": "only runs with a dataSources prefix list it",
}
# Calls whose refusal AWS tolerates: the data is dropped, the run goes on.
BEST_EFFORT_REASON = "only best-effort calls need it (logs, metrics): without it AWS drops them and the run goes on"
_SERVICE_PRINCIPALS = {
    "states": "states.amazonaws.com",
    "sagemaker": "sagemaker.amazonaws.com",
    "lambda": "lambda.amazonaws.com",
}
# The ARN of the execution the current thread works for (None: the deployment, the operator).
EXECUTION: contextvars.ContextVar[str | None] = contextvars.ContextVar("execution", default=None)
_CLIENT_CONFIG = Config(parameter_validation=False, retries={"total_max_attempts": 1})


def default_session() -> boto3.session.Session:
    """boto3's default session: its clients share the service models the run already loaded."""
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    return boto3.DEFAULT_SESSION


@dataclasses.dataclass(frozen=True)
class Principal:
    role_arn: str
    session_name: str
    arn: str  # arn:<partition>:sts::<account>:assumed-role/<role name>/<session>
    access_key: str
    secret_key: str
    session_token: str

    @property
    def role_name(self) -> str:
        return self.role_arn.rsplit("/", 1)[-1]

    def environment(self) -> dict[str, str]:
        """The variables Lambda sets for its execution role."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }


@dataclasses.dataclass(frozen=True)
class Decision:
    allowed: bool
    statement: tuple[str, str] | None  # (policy, Sid or index) that allowed or denied
    message: str  # AWS's refusal message when not allowed


class AccessDenied(Exception):
    """A call refused by IAM; `str()` is AWS's message."""

    def __init__(self, action: str, message: str):
        super().__init__(message)
        self.action = action


class UnsupportedPolicy(Exception):
    """A policy uses something this evaluator does not implement."""


# --- evaluation ----------------------------------------------------------------------------


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _glob(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM wildcards: `*` any run of characters, `?` one character, all else literal."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL) is not None


def _condition_holds(operator: str, key: str, expected: Any, context: dict[str, str]) -> bool:
    if_exists = operator.endswith("IfExists")
    base = operator[: -len("IfExists")] if if_exists else operator
    values = [str(v).lower() if isinstance(v, bool) else str(v) for v in _as_list(expected)]
    if ":" in base:
        raise UnsupportedPolicy(f"condition set operator {operator} is not evaluated locally")
    if base == "Null":
        return (key not in context) == (values[0].lower() == "true")
    if key not in context:
        return if_exists or base.startswith(("StringNot", "ArnNot"))
    actual = context[key]
    tests = {
        "StringEquals": lambda v: actual == v,
        "StringNotEquals": lambda v: actual != v,
        "StringEqualsIgnoreCase": lambda v: actual.lower() == v.lower(),
        "StringNotEqualsIgnoreCase": lambda v: actual.lower() != v.lower(),
        "StringLike": lambda v: _glob(v, actual),
        "StringNotLike": lambda v: not _glob(v, actual),
        "ArnEquals": lambda v: _glob(v, actual),
        "ArnLike": lambda v: _glob(v, actual),
        "ArnNotEquals": lambda v: not _glob(v, actual),
        "ArnNotLike": lambda v: not _glob(v, actual),
        "Bool": lambda v: actual.lower() == v.lower(),
    }
    if base not in tests:
        raise UnsupportedPolicy(
            f"condition operator {operator} is not evaluated locally: add it to runner/emulator/iam.py"
        )
    negated = "Not" in base
    results = [tests[base](value) for value in values]
    return all(results) if negated else any(results)


def _principal_matches(statement: dict, principal: Principal, account: str) -> bool:
    """Whether a resource policy's statement names this principal."""
    if "NotPrincipal" in statement:
        raise UnsupportedPolicy("NotPrincipal is not evaluated locally")
    named = statement.get("Principal")
    if named is None or named == "*":
        return named == "*"
    for kind, identifiers in named.items():
        for identifier in _as_list(identifiers):
            if kind == "AWS" and identifier in (
                "*",
                account,
                f"arn:{partition_of_arn(principal.arn)}:iam::{account}:root",
                principal.role_arn,
                principal.arn,
            ):
                return True
    return False


def partition_of_arn(arn: str) -> str:
    return arn.split(":")[1]


def statement_applies(statement: dict, action: str, resource: str, context: dict[str, str]) -> bool:
    if "Action" in statement:
        if not any(_glob(pattern, action, ignore_case=True) for pattern in _as_list(statement["Action"])):
            return False
    elif any(_glob(pattern, action, ignore_case=True) for pattern in _as_list(statement.get("NotAction", []))):
        return False
    if "Resource" in statement:
        if not any(_glob(pattern, resource) for pattern in _as_list(statement["Resource"])):
            return False
    elif "NotResource" in statement:
        if any(_glob(pattern, resource) for pattern in _as_list(statement["NotResource"])):
            return False
    return all(
        _condition_holds(operator, key, expected, context)
        for operator, keys in (statement.get("Condition") or {}).items()
        for key, expected in keys.items()
    )


def _statement_id(statement: dict, index: int) -> str:
    return statement.get("Sid") or f"#{index}"


# --- the access control ----------------------------------------------------------------------


@dataclasses.dataclass
class _Call:
    role: str
    action: str
    resource: str
    statement: tuple[str, str] | None
    allowed: bool
    best_effort: bool
    execution: str | None = None


class AccessControl:
    """Credentials per role, the evaluation of each call, and the record of what was called."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.partition = get_partition(region)
        self._session = default_session()  # clients get the role's credentials explicitly
        self._lock = threading.Lock()
        self._sts = None
        self._account: str | None = None
        self._principals: dict[tuple[str, str], Principal] = {}
        self._by_key: dict[str, Principal] = {}
        self._clients: dict[tuple[str, str], Any] = {}
        self.calls: list[_Call] = []

    # -- principals and their clients -----------------------------------------------------------

    def principal(self, role_arn: str, session_name: str) -> Principal:
        """The role's session, as the service that assumes it gets it (moto's STS AssumeRole)."""
        with self._lock:
            found = self._principals.get((role_arn, session_name))
            if found is None:
                if self._sts is None:
                    self._sts = self._session.client("sts", region_name=self.region)
                assumed = self._sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)
                credentials = assumed["Credentials"]
                found = Principal(
                    role_arn=role_arn,
                    session_name=session_name,
                    arn=assumed["AssumedRoleUser"]["Arn"],
                    access_key=credentials["AccessKeyId"],
                    secret_key=credentials["SecretAccessKey"],
                    session_token=credentials["SessionToken"],
                )
                self._principals[(role_arn, session_name)] = found
                self._by_key[found.access_key] = found
                self._account = role_arn.split(":")[4]
            return found

    def client(self, service: str, principal: Principal, region: str | None = None):
        """One client per service and principal: its requests are checked against the role."""
        key = (service, principal.access_key)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self._session.client(
                    service,
                    region_name=region or self.region,
                    aws_access_key_id=principal.access_key,
                    aws_secret_access_key=principal.secret_key,
                    aws_session_token=principal.session_token,
                    config=_CLIENT_CONFIG,
                )
            return self._clients[key]

    def may_assume(self, role_arn: str, service: str, context: dict[str, str]) -> bool:
        """Whether the role's trust policy lets `service` assume it (with aws:SourceAccount/SourceArn)."""
        account = role_arn.split(":")[4]
        role = iam_backends[account][self.partition].get_role(role_arn.rsplit("/", 1)[-1])
        allowed = False
        for statement in _as_list(json.loads(role.assume_role_policy_document).get("Statement", [])):
            named = statement.get("Principal")
            services = _as_list(named.get("Service", [])) if isinstance(named, dict) else []
            if named != "*" and service not in services:
                continue
            if not statement_applies(
                {key: value for key, value in statement.items() if key != "Resource"},
                "sts:AssumeRole",
                role_arn,
                context,
            ):
                continue
            if statement.get("Effect") == "Deny":
                return False
            allowed = True
        return allowed

    def principal_for_key(self, access_key: str | None) -> Principal | None:
        return self._by_key.get(access_key or "")

    # -- evaluation -----------------------------------------------------------------------------

    def _documents(self, principal: Principal, resource: str) -> tuple[list, list]:
        """(identity policies, resource policies) as (name, document) pairs, read from moto now."""
        account = principal.role_arn.split(":")[4]
        iam = iam_backends[account][self.partition]
        role = iam.get_role(principal.role_name)
        identity = [(name, json.loads(document)) for name, document in role.policies.items()]
        for policy in role.managed_policies.values():
            version = next(v for v in policy.versions if v.is_default)
            identity.append((policy.name, json.loads(version.document)))
        resources = []
        if resource.startswith(f"arn:{self.partition}:s3:::"):
            bucket_name = resource.split(":::", 1)[1].split("/", 1)[0]
            bucket = s3_backends[account][self.partition].buckets.get(bucket_name)
            if bucket is not None and bucket.policy:
                resources.append((f"bucket policy of {bucket_name}", json.loads(bucket.policy)))
        return identity, resources

    def evaluate(
        self, principal: Principal, action: str, resource: str, context: dict[str, str] | None = None
    ) -> Decision:
        context = {
            "aws:SecureTransport": "true",
            "aws:PrincipalArn": principal.role_arn,
            "aws:PrincipalAccount": principal.role_arn.split(":")[4],
            **(context or {}),
        }
        identity, resources = self._documents(principal, resource)
        account = principal.role_arn.split(":")[4]
        shown = f'"{resource}"' if action.startswith("s3:") else resource  # S3 quotes it
        allowed_by = None
        for kind, policies in (("identity-based", identity), ("resource-based", resources)):
            for name, document in policies:
                for index, statement in enumerate(_as_list(document.get("Statement", []))):
                    if kind == "resource-based" and not _principal_matches(statement, principal, account):
                        continue
                    if not statement_applies(statement, action, resource, context):
                        continue
                    if statement.get("Effect") == "Deny":
                        article = "an" if kind == "identity-based" else "a"
                        return Decision(
                            False,
                            (name, _statement_id(statement, index)),
                            f"User: {principal.arn} is not authorized to perform: {action} "
                            f"on resource: {shown} with an explicit deny in {article} "
                            f"{kind} policy",
                        )
                    if allowed_by is None:
                        allowed_by = (name, _statement_id(statement, index))
        if allowed_by:
            return Decision(True, allowed_by, "")
        return Decision(
            False,
            None,
            f"User: {principal.arn} is not authorized to perform: {action} on "
            f"resource: {shown} because no identity-based policy allows "
            f"the {action} action",
        )

    def authorize(
        self,
        principal: Principal,
        action: str,
        resource: str,
        context: dict[str, str] | None = None,
        *,
        best_effort: bool = False,
    ) -> Decision:
        """Evaluate and record one call; raise AccessDenied when refused (unless best effort)."""
        decision = self.evaluate(principal, action, resource, context)
        with self._lock:
            self.calls.append(
                _Call(
                    principal.role_arn,
                    action,
                    resource,
                    decision.statement,
                    decision.allowed,
                    best_effort,
                    EXECUTION.get(),
                )
            )
        if not decision.allowed and not best_effort:
            raise AccessDenied(action, decision.message)
        return decision

    # -- the report -----------------------------------------------------------------------------

    def report(self, execution: str | None = None) -> dict[str, Any]:
        """Per role: the calls made (action, resource, statement) and the statements no call needed;
        with `execution` (an ARN), only the calls made for that execution count."""
        with self._lock:
            calls = [call for call in self.calls if execution is None or call.execution == execution]
            roles = sorted({principal.role_arn for principal in self._principals.values()})
        report: dict[str, Any] = {}
        for role_arn in roles:
            account = role_arn.split(":")[4]
            role = iam_backends[account][self.partition].get_role(role_arn.rsplit("/", 1)[-1])
            mine = [call for call in calls if call.role == role_arn]
            seen: dict[tuple, dict] = {}
            for call in mine:
                key = (call.action, call.resource, call.statement, call.allowed)
                entry = seen.setdefault(
                    key,
                    {
                        "action": call.action,
                        "resource": call.resource,
                        "allowed": call.allowed,
                        "statement": "/".join(call.statement) if call.statement else None,
                        "best_effort": call.best_effort,
                        "count": 0,
                    },
                )
                entry["count"] += 1
            statements = []
            for name, document in role.policies.items():
                for index, statement in enumerate(_as_list(json.loads(document).get("Statement", []))):
                    if statement.get("Effect") != "Allow":
                        continue
                    sid = _statement_id(statement, index)
                    used = [c for c in mine if c.allowed and c.statement == (name, sid)]
                    entry = {
                        "policy": name,
                        "statement": sid,
                        "actions": _as_list(statement.get("Action", [])),
                        "calls": len(used),
                        "required": any(not c.best_effort for c in used),
                    }
                    if not entry["required"]:
                        entry["reason"] = (
                            BEST_EFFORT_REASON
                            if used
                            else (unexercised_reason(entry["actions"]) or DATA_ONLY.get(sid.rstrip("0123456789")))
                        )
                    statements.append(entry)
            report[role_arn] = {"calls": list(seen.values()), "statements": statements}
        return report


def unexercised_reason(actions: list[str]) -> str | None:
    """Why a statement with these actions is expected to go unused, or None if it is not."""
    reasons = []
    for action in actions:
        reason = next(
            (
                why
                for prefix, why in UNEXERCISED.items()
                if action == prefix or (prefix.endswith(":") and action.startswith(prefix))
            ),
            None,
        )
        if reason is None:
            return None
        reasons.append(reason)
    return "; ".join(dict.fromkeys(reasons))


class _ContextThread(threading.Thread):
    """A thread that runs in a copy of its creator's context (`EXECUTION` included)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._context = contextvars.copy_context()

    def run(self) -> None:
        self._context.run(super().run)


@contextlib.contextmanager
def attributed() -> Iterator[None]:
    """Each state runs with `EXECUTION` set to its execution's ARN: `ExecutionState._eval_state`
    sets it, and the thread moto's interpreter starts for the state's work inherits it."""
    from moto.stepfunctions.parser.asl.component.state.exec import execute_state

    original = execute_state.ExecutionState._eval_state

    def eval_state(self, env) -> None:
        EXECUTION.set(env.states.context_object.context_object_data["Execution"]["Id"])
        original(self, env)

    execute_state.ExecutionState._eval_state = eval_state
    execute_state.Thread = _ContextThread
    try:
        yield
    finally:
        execute_state.ExecutionState._eval_state = original
        execute_state.Thread = threading.Thread


# --- the request hook ----------------------------------------------------------------------------


def _json_body(response) -> dict:
    try:
        return json.loads(response.body or "{}")
    except (TypeError, ValueError):
        return {}


def _sagemaker_arn(access: AccessControl, account: str, kind: str, name: str) -> str:
    # SageMaker lower-cases names in its ARNs.
    return f"arn:{access.partition}:sagemaker:{access.region}:{account}:{kind}/{name.lower()}"


_SAGEMAKER_NAMES = {
    "TrainingJob": ("training-job", "TrainingJobName"),
    "TransformJob": ("transform-job", "TransformJobName"),
    "Model": ("model", "ModelName"),
}


def _deleted_keys(body: bytes | str) -> list[str]:
    """The object keys of a DeleteObjects request body (`<Delete><Object><Key>...`)."""
    import xml.etree.ElementTree as ElementTree

    root = ElementTree.fromstring(body if isinstance(body, (bytes, str)) else b"")
    return [element.text or "" for element in root.iter() if element.tag.rsplit("}", 1)[-1] == "Key"]


def _object_creation_keys(query: dict, headers) -> dict[str, str]:
    """The conditional-write keys of an s3:PutObject request (S3 user guide, "Enforce conditional
    writes"): s3:if-none-match when the If-None-Match header is sent; s3:ObjectCreationOperation
    false for CreateMultipartUpload (?uploads) and UploadPart (?partNumber), which take no
    conditional header, true for PutObject and CompleteMultipartUpload."""
    keys = {"s3:ObjectCreationOperation": "false" if "uploads" in query or "partNumber" in query else "true"}
    for name, value in headers.items():
        if name.lower() == "if-none-match":
            keys["s3:if-none-match"] = value
    return keys


def _request_checks(
    access: AccessControl, principal: Principal, service: str, api: str, response, resource: str
) -> list[tuple[str, str, dict]]:
    """(action, resource ARN, condition keys) AWS checks for this request, in order."""
    account = principal.role_arn.split(":")[4]
    region = access.region
    if service == "s3":
        context = {}
        query = parse_qs(urlparse(response.uri).query, keep_blank_values=True)
        if api == "ListBucket" and "prefix" in query:
            context["s3:prefix"] = query["prefix"][0]
        if api == "PutObject":  # moto's name for PutObject, CopyObject and the multipart upload calls
            context.update(_object_creation_keys(query, response.headers))
        if api == "DeleteObject" and "delete" in query:  # DeleteObjects: s3:DeleteObject on each key
            return [("s3:DeleteObject", f"{resource}/{key}", {}) for key in _deleted_keys(response.body)]
        return [(f"s3:{api}", resource, context)]
    if service == "lambda" and api == "Invoke":
        path = unquote(urlparse(response.uri).path)
        function = path.split("/functions/", 1)[1].split("/invocations", 1)[0]
        if not function.startswith("arn:"):
            function = f"arn:{access.partition}:lambda:{region}:{account}:function:{function}"
        qualifier = parse_qs(urlparse(response.uri).query).get("Qualifier")
        if qualifier and function.count(":") == 6:
            function = f"{function}:{qualifier[0]}"
        return [("lambda:InvokeFunction", function, {})]
    if service == "sagemaker" and api == "CreateModelPackage" and _json_body(response).get("ModelPackageGroupName"):
        # A version of a group: AWS checks the package's ARN, model-package/<group>/<version>.
        group = _json_body(response)["ModelPackageGroupName"]
        from moto.sagemaker.models import sagemaker_backends

        versions = [
            package
            for package in sagemaker_backends[account][region].model_packages.values()
            if package.model_package_group_name == group
        ]
        arn = _sagemaker_arn(access, account, "model-package", f"{group}/{len(versions) + 1}")
        checks = [("sagemaker:CreateModelPackage", arn, {})]
        if _json_body(response).get("Tags"):
            checks.append(("sagemaker:AddTags", arn, {}))
        return checks
    if service == "sagemaker":
        body = _json_body(response)
        for suffix, (kind, name_key) in _SAGEMAKER_NAMES.items():
            if api.endswith(suffix) and name_key in body:
                arn = _sagemaker_arn(access, account, kind, body[name_key])
                checks = [(f"sagemaker:{api}", arn, {})]
                for role_key in ("RoleArn", "ExecutionRoleArn"):
                    if body.get(role_key):
                        checks.append(
                            ("iam:PassRole", body[role_key], {"iam:PassedToService": "sagemaker.amazonaws.com"})
                        )
                        checks.append(
                            ("sts:AssumeRole", body[role_key], {"aws:SourceAccount": account, "aws:SourceArn": arn})
                        )
                if api.startswith("Create") and body.get("Tags"):
                    checks.append(("sagemaker:AddTags", arn, {}))
                return checks
    raise UnsupportedPolicy(
        f"the local IAM check does not know the resource of {service}:{api}: add it to runner/emulator/iam.py"
    )


@contextlib.contextmanager
def installed(access: AccessControl) -> Iterator[AccessControl]:
    """Check every request made with a session's credentials while the block runs."""
    original = ActionAuthenticatorMixin._authenticate_and_authorize_action

    def authenticate_and_authorize(response, iam_request_cls, resource: str = "*") -> None:
        principal = access.principal_for_key(response.get_access_key())
        if principal is None:
            return original(response, iam_request_cls, resource)
        service = (
            response.headers.get("Authorization", "").split("Credential=", 1)[-1].split("/")[3]
            if "Credential=" in response.headers.get("Authorization", "")
            else response.service_name
        )
        api = response.data.get("Action") if service == "s3" else response._get_action()
        try:
            for action, arn, context in _request_checks(access, principal, service, api, response, resource):
                if action == "sts:AssumeRole":  # SageMaker must be able to assume the role it is given
                    if not access.may_assume(arn, "sagemaker.amazonaws.com", context):
                        error = JsonRESTError(
                            "ValidationException",
                            f"Could not assume role {arn}. Please ensure that the "
                            "role exists and allows principal 'sagemaker.amazonaws.com' to assume the role.",
                        )
                        raise error
                    continue
                access.authorize(principal, action, arn, context)
        except AccessDenied as denied:
            if service == "s3":
                error = S3AccessDeniedError()
                error.message = str(denied)
                raise error from None
            error = JsonRESTError("AccessDeniedException", str(denied))
            error.code = 403
            raise error from None
        except UnsupportedPolicy as gap:
            error = JsonRESTError("InternalFailure", str(gap))
            error.code = 500
            raise error from None

    original_bucket_permission = FakeBucket.__dict__["get_permission"]

    def get_permission(bucket, action: str, resource: str) -> PermissionResult:
        """moto's own bucket-policy check for object requests, with this evaluator: moto's treats
        the TLS-only Deny's `Bool` condition as met and so refuses every object request."""
        if bucket.policy is None:
            return PermissionResult.NEUTRAL
        result = PermissionResult.NEUTRAL
        for statement in _as_list(json.loads(bucket.policy).get("Statement", [])):
            if statement.get("Principal") == "*" and statement_applies(
                statement, action, resource, {"aws:SecureTransport": "true"}
            ):
                if statement.get("Effect") == "Deny":
                    return PermissionResult.DENIED
                result = PermissionResult.PERMITTED
        return result

    ActionAuthenticatorMixin._authenticate_and_authorize_action = authenticate_and_authorize
    FakeBucket.get_permission = get_permission
    try:
        yield access
    finally:
        ActionAuthenticatorMixin._authenticate_and_authorize_action = original
        FakeBucket.get_permission = original_bucket_permission
