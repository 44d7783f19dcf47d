"""The `TrainingPipeline` component: bucket, validation and seeding Lambdas, roles, log groups, state machine.

Style follows pulumi/examples aws-py-hub-and-spoke-network: a dataclass of typed args, a
`ComponentResource` whose children are all named `f"{name}-..."` and parented to it, and
`register_outputs` last. The state machine definition comes from the Pulumi-free renderer in
`components.definition`, called inside `Output.all(...).apply(...)`.

IAM is least privilege, written as typed policy documents (`get_policy_document_output`):

- validation function (parses the untrusted execution input): logs to its own log group, and
  nothing else: no S3 action at all.
- seeding function: logs to its own log group; `PutObject`, `AbortMultipartUpload` under
  `runs/*/csv/*` (the only keys it writes), `DeleteObject` there and under `runs/*/upload/*`
  (a run's upload, once read); `ListBucket` of the bucket with `s3:prefix` `runs/*/` (its check
  that one run holds nothing yet); `GetObject` of run uploads
  (`runs/*/upload/*`, where run.py puts a local file); `GetObject` under each `dataSources`
  location and `ListBucket` of its bucket with `s3:prefix` inside it, and nothing else
  (components/seed_policy.py, compact enough for IAM's 10,240 characters, which the settings
  check). Its bucket, the stack's jobNamePrefix, dataSources and shard count are its environment,
  not its events'.
- SageMaker role (training jobs and models), assumable by SageMaker for this account only:
  list the bucket under `runs/`, read and write under `runs/*`, pull the training image's
  repository, SageMaker's own log groups and metric namespace.
- evaluation function: logs to its own log group; `GetObject` of a run's labels
  (`runs/*/csv/labels/*`) and predictions (`runs/*/predictions/*`), `PutObject` under
  `runs/*/evaluation/*`, nothing else.
- state machine role: the AWS `.sync` policy for SageMaker (docs: "IAM policies for Amazon
  SageMaker AI", sagemaker-iam), scoped to `<jobNamePrefix>--*`; invoke the validation, seeding
  and evaluation functions (unqualified, as the definition does), no other; `CreateModelPackage`
  (and `AddTags` at creation) in the stack's model package group only; log delivery; X-Ray when
  tracing is on.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pulumi
import pulumi_aws as aws
from pulumi import Output, ResourceOptions

from components import lambda_functions, seed_policy
from components.definition import TAG_STACK, model_package_group_name, render_definition
from components.names import bucket_resource
from components.settings import PipelineSettings
from lambda_src import bucket_layout
from lambda_src.execution_input import (
    BUCKET_VARIABLE,
    DATA_SOURCES_VARIABLE,
    JOB_NAME_PREFIX_VARIABLE,
    NAME_SEPARATOR,
    SHARDS_VARIABLE,
    InvalidExecutionInput,
    check_sources_outside_runs,
)

COMPONENT_TYPE = "training-pipeline:index:TrainingPipeline"
STATES_LOG_GROUP_PREFIX = "/aws/vendedlogs/states/"
# Managed rules Step Functions creates for `.sync` SageMaker integrations (sagemaker-iam docs).
SYNC_EVENT_RULES = (
    "StepFunctionsGetEventsForSageMakerTrainingJobsRule",
    "StepFunctionsGetEventsForSageMakerTransformJobsRule",
)

# Actions without resource-level permissions (Service Authorization Reference): granted on "*".
LOG_DELIVERY_ACTIONS = (
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
)
XRAY_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets")

# The host ends in the partition's DNS suffix: amazonaws.com(.cn), c2s.ic.gov (aws-iso), sc2s.sgov.gov, ...
_ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.(?P<dns_suffix>[a-z0-9-]+(?:\.[a-z0-9-]+)+)"
    r"/(?P<repository>[a-z0-9._/-]+)(?::[\w.-]+)?(?:@sha256:[0-9a-f]{64})?$"
)
_CONSOLE_HOSTS = {
    "aws": "console.aws.amazon.com",
    "aws-cn": "console.amazonaws.cn",
    "aws-us-gov": "console.amazonaws-us-gov.com",
}


def ecr_repository_arn(image_uri: str, partition: str) -> str:
    """`<account>.dkr.ecr.<region>.<partition's DNS suffix>/<repo>:<tag>` -> the repository's ARN."""
    match = _ECR_IMAGE.match(image_uri)
    if not match:
        raise ValueError(f"not an ECR image URI: {image_uri!r}")
    return f"arn:{partition}:ecr:{match['region']}:{match['account']}:repository/{match['repository']}"


def console_url(partition: str, region: str, state_machine_arn: str) -> str:
    """The Step Functions console page of a state machine, for the partition's console; a note
    instead of a link in a partition whose console host this project does not know (the ISO ones)."""
    host = _CONSOLE_HOSTS.get(partition)
    if host is None:
        return f"no console link for partition {partition}: open Step Functions in {region} in its console"
    return f"https://{host}/states/home?region={region}#/statemachines/view/{quote(state_machine_arn, safe='')}"


def name_pattern(prefix: str) -> str:
    """The ARN name pattern of this stack's SageMaker jobs and models.

    Prefixes are lower case (SageMaker lower-cases names in ARNs) and never contain the
    separator, so no other stack's names match `<prefix>--*`.
    """
    return f"{prefix}{NAME_SEPARATOR}*"


def seed_code_archive(source_dir: Path = lambda_functions.SOURCE_DIR) -> pulumi.AssetArchive:
    """The functions' package as the zip holds it (`lambda_src/...`), resolved from the project, not the working directory."""
    return pulumi.AssetArchive(
        {
            path.relative_to(source_dir.parent).as_posix(): pulumi.FileAsset(str(path))
            for path in lambda_functions.source_files(source_dir)
        }
    )


def _statement(
    sid: str,
    actions: Sequence[str],
    resources: Sequence[str],
    *,
    effect: str = "Allow",
    conditions: Sequence[tuple[str, str, Sequence[str]]] = (),
    principals: Sequence[tuple[str, Sequence[str]]] = (),
) -> aws.iam.GetPolicyDocumentStatementArgs:
    return aws.iam.GetPolicyDocumentStatementArgs(
        sid=sid,
        effect=effect,
        actions=list(actions),
        resources=list(resources) or None,
        conditions=[
            aws.iam.GetPolicyDocumentStatementConditionArgs(test=test, variable=variable, values=list(values))
            for test, variable, values in conditions
        ]
        or None,
        principals=[
            aws.iam.GetPolicyDocumentStatementPrincipalArgs(type=kind, identifiers=list(ids))
            for kind, ids in principals
        ]
        or None,
    )


def _trust(
    service: str, conditions: Sequence[tuple[str, str, Sequence[str]]] = ()
) -> list[aws.iam.GetPolicyDocumentStatementArgs]:
    return [
        _statement("AssumeRole", ["sts:AssumeRole"], [], principals=[("Service", [service])], conditions=conditions)
    ]


@dataclasses.dataclass(frozen=True)
class _Scope:
    """Plain values every ARN of the stack is built from."""

    partition: str
    region: str
    account: str

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account}:{resource}"


def checked_data_sources(data_sources: Sequence[str], bucket: str) -> tuple[str, ...]:
    """The stack's dataSources, none overlapping its own bucket's runs/ (pulumi up stops otherwise)."""
    try:
        return check_sources_outside_runs(tuple(data_sources), bucket)
    except InvalidExecutionInput as error:
        raise pulumi.RunError(f"invalid config {pulumi.get_project()}:{error}") from None


def _plain(statement: seed_policy.Statement) -> aws.iam.GetPolicyDocumentStatementArgs:
    return _statement(statement.sid, statement.actions, statement.resources, conditions=statement.conditions)


def own_logs_statement(log_group_arn: str) -> aws.iam.GetPolicyDocumentStatementArgs:
    return _plain(seed_policy.own_logs(log_group_arn))


def validation_function_statements(log_group_arn: str) -> list[aws.iam.GetPolicyDocumentStatementArgs]:
    """It parses what whoever may StartExecution wrote: it may write its logs, nothing else."""
    return [own_logs_statement(log_group_arn)]


def seed_function_statements(
    bucket_arn: str, log_group_arn: str, data_sources: Sequence[str] = ()
) -> list[aws.iam.GetPolicyDocumentStatementArgs]:
    """The seeding role's policy (components/seed_policy.py, which the settings measure too)."""
    return [_plain(statement) for statement in seed_policy.seed_statements(bucket_arn, log_group_arn, data_sources)]


def evaluation_function_statements(bucket_arn: str, log_group_arn: str) -> list[aws.iam.GetPolicyDocumentStatementArgs]:
    """Read a run's held-out labels and the transform's predictions, write its evaluation.json."""
    runs = f"{bucket_arn}/{bucket_layout.RUNS}/*"
    return [
        own_logs_statement(log_group_arn),
        _statement(
            "ReadLabelsAndPredictions",
            ["s3:GetObject"],
            [f"{runs}/{bucket_layout.LABELS}/*", f"{runs}/{bucket_layout.PREDICTIONS}/*"],
        ),
        _statement("WriteEvaluation", ["s3:PutObject"], [f"{runs}/{bucket_layout.EVALUATION}/*"]),
    ]


def sagemaker_statements(
    scope: _Scope, bucket_arn: str, image_uri: str
) -> list[aws.iam.GetPolicyDocumentStatementArgs]:
    return [
        _statement(
            "ListRunObjects",
            ["s3:ListBucket"],
            [bucket_arn],
            conditions=[("StringLike", "s3:prefix", [f"{bucket_layout.RUNS}/*"])],
        ),
        _statement("ReadWriteRunObjects", ["s3:GetObject", "s3:PutObject"], [f"{bucket_arn}/{bucket_layout.RUNS}/*"]),
        # GetAuthorizationToken has no resource-level permissions.
        _statement("EcrAuthorization", ["ecr:GetAuthorizationToken"], ["*"]),
        _statement(
            "PullTrainingImage",
            ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
            [ecr_repository_arn(image_uri, scope.partition)],
        ),
        _statement(
            "SageMakerLogs",
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            [scope.arn("logs", "log-group:/aws/sagemaker/*")],
        ),
        # PutMetricData has no resource-level permissions; the namespace condition scopes it.
        _statement(
            "SageMakerMetrics",
            ["cloudwatch:PutMetricData"],
            ["*"],
            conditions=[("StringLike", "cloudwatch:namespace", ["/aws/sagemaker/*"])],
        ),
    ]


def state_machine_statements(
    scope: _Scope,
    settings: PipelineSettings,
    *,
    sagemaker_role_arn: str,
    validation_function_arn: str,
    seed_function_arn: str,
    evaluation_function_arn: str,
) -> list[aws.iam.GetPolicyDocumentStatementArgs]:
    pattern = name_pattern(settings.job_name_prefix)
    group = model_package_group_name(settings).lower()  # SageMaker lower-cases names in ARNs
    training_jobs = [scope.arn("sagemaker", f"training-job/{pattern}")]
    transform_jobs = [scope.arn("sagemaker", f"transform-job/{pattern}")]
    models = [scope.arn("sagemaker", f"model/{pattern}")]
    statements = [
        _statement(
            "TrainingJobs",
            ["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob"],
            training_jobs,
        ),
        _statement(
            "TransformJobs",
            ["sagemaker:CreateTransformJob", "sagemaker:DescribeTransformJob", "sagemaker:StopTransformJob"],
            transform_jobs,
        ),
        _statement("Models", ["sagemaker:CreateModel"], models),
        # The definition tags jobs and models when it creates them.
        _statement("TagAtCreation", ["sagemaker:AddTags"], training_jobs + transform_jobs + models),
        # The AWS policy for `.sync` grants ListTags on "*"; kept as documented.
        _statement("ListTags", ["sagemaker:ListTags"], ["*"]),
        _statement(
            "PassSageMakerRole",
            ["iam:PassRole"],
            [sagemaker_role_arn],
            conditions=[("StringEquals", "iam:PassedToService", ["sagemaker.amazonaws.com"])],
        ),
        _statement(
            "SyncEventRules",
            ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            [scope.arn("events", f"rule/{rule}") for rule in SYNC_EVENT_RULES],
        ),
        _statement("InvokeValidationFunction", ["lambda:InvokeFunction"], [validation_function_arn]),
        _statement("InvokeSeedFunction", ["lambda:InvokeFunction"], [seed_function_arn]),
        _statement("InvokeEvaluationFunction", ["lambda:InvokeFunction"], [evaluation_function_arn]),
        # Register model: a version in the stack's group (its ARN is model-package/<group>/<version>).
        _statement(
            "RegisterModelPackage",
            ["sagemaker:CreateModelPackage"],
            [
                scope.arn("sagemaker", f"model-package-group/{group}"),
                scope.arn("sagemaker", f"model-package/{group}/*"),
            ],
        ),
        _statement(
            "TagModelPackageAtCreation", ["sagemaker:AddTags"], [scope.arn("sagemaker", f"model-package/{group}/*")]
        ),
        # Log delivery actions have no resource-level permissions.
        _statement("LogDelivery", LOG_DELIVERY_ACTIONS, ["*"]),
    ]
    if settings.tracing:
        statements.append(_statement("XRay", XRAY_ACTIONS, ["*"]))
    return statements


def tls_only_statements(bucket_arn: str) -> list[aws.iam.GetPolicyDocumentStatementArgs]:
    return [
        _statement(
            "DenyInsecureTransport",
            ["s3:*"],
            [bucket_arn, f"{bucket_arn}/*"],
            effect="Deny",
            principals=[("*", ["*"])],
            conditions=[("Bool", "aws:SecureTransport", ["false"])],
        )
    ]


def write_once_statements(bucket_arn: str, seed_role_arn: str) -> list[aws.iam.GetPolicyDocumentStatementArgs]:
    """The seeding role's writes of run data must be conditional (If-None-Match), so that S3
    itself, not only the function's code, keeps a run's objects from being replaced. From the S3
    user guide, "Enforce conditional writes": s3:if-none-match is present when the header is sent;
    s3:ObjectCreationOperation is false for CreateMultipartUpload and UploadPart, which take no
    conditional header (PutObject and CompleteMultipartUpload must carry it)."""
    return [
        _statement(
            "SeedingWritesOnce",
            ["s3:PutObject"],
            [f"{bucket_arn}/{bucket_layout.RUNS}/*/{bucket_layout.CSV}/*"],
            effect="Deny",
            principals=[("AWS", [seed_role_arn])],
            conditions=[("Null", "s3:if-none-match", ["true"]), ("Bool", "s3:ObjectCreationOperation", ["true"])],
        )
    ]


def runs_lifecycle_rule(expire_days: int) -> aws.s3.BucketLifecycleConfigurationRuleArgs:
    """Under runs/: a multipart upload left incomplete (a Lambda killed mid-upload cannot abort its
    own) is dropped after a day; objects expire `expire_days` after they were written (0: never),
    and so would a version an overwrite or delete left behind, should versioning be turned on."""
    s3 = aws.s3
    expiring = (
        {
            "expiration": s3.BucketLifecycleConfigurationRuleExpirationArgs(days=expire_days),
            "noncurrent_version_expiration": s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                noncurrent_days=1
            ),
        }
        if expire_days
        else {}
    )
    return s3.BucketLifecycleConfigurationRuleArgs(
        id="runs",
        status="Enabled",
        filter=s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=f"{bucket_layout.RUNS}/"),
        abort_incomplete_multipart_upload=s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
            days_after_initiation=1
        ),
        **expiring,
    )


@dataclasses.dataclass
class TrainingPipelineArgs:
    """Typed arguments of `TrainingPipeline`: validated settings (`PipelineSettings.from_config`)."""

    settings: PipelineSettings


class TrainingPipeline(pulumi.ComponentResource):
    """Seed a dataset with Lambda, train XGBoost on SageMaker, batch-transform, on Step Functions."""

    bucket: aws.s3.Bucket
    validation_function: aws.lambda_.Function
    seed_function: aws.lambda_.Function
    sagemaker_role: aws.iam.Role
    state_machine_role: aws.iam.Role
    state_machine: aws.sfn.StateMachine
    evaluation_function: aws.lambda_.Function
    model_package_group: aws.sagemaker.ModelPackageGroup
    role_policies: list[aws.iam.RolePolicy]
    console_url: Output[str]

    def __init__(self, name: str, args: TrainingPipelineArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        settings = args.settings
        tags = {TAG_STACK: settings.stack}

        def child(**kwargs: Any) -> ResourceOptions:
            return ResourceOptions(parent=self, **kwargs)

        def document(statements: Any) -> Output[str]:
            return aws.iam.get_policy_document_output(
                statements=statements, opts=pulumi.InvokeOutputOptions(parent=self)
            ).json

        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition
        scope = Output.all(partition, identity.account_id).apply(
            lambda values: _Scope(partition=values[0], region=settings.region, account=values[1])
        )

        # Bucket: private, encrypted, TLS only. Every execution writes under runs/<name>/.
        self.bucket = aws.s3.Bucket(
            bucket_resource(name), force_destroy=settings.force_destroy, tags=tags, opts=child()
        )
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-data-public-access",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child(),
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-data-encryption",
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="AES256"
                    )
                )
            ],
            opts=child(),
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-data-lifecycle",
            bucket=self.bucket.id,
            rules=[runs_lifecycle_rule(settings.runs_expire_days)],
            opts=child(),
        )

        def function_logs_and_role(function: str) -> tuple[aws.cloudwatch.LogGroup, aws.iam.Role]:
            """A Lambda function's own log group and its role (assumable by Lambda; policy apart)."""
            logs = aws.cloudwatch.LogGroup(
                f"{name}-{function}-logs",
                name_prefix=f"/aws/lambda/{name}-{settings.stack}-{function}-",
                retention_in_days=settings.log_retention_days,
                tags=tags,
                opts=child(),
            )
            role = aws.iam.Role(
                f"{name}-{function}-role",
                assume_role_policy=document(_trust("lambda.amazonaws.com")),
                tags=tags,
                opts=child(),
            )
            return logs, role

        # Validation function: it parses the untrusted execution input, so its role may do
        # nothing but write its logs. Same package as the seeding function, another handler.
        validation_log_group, validation_role = function_logs_and_role("validate")
        validation_policy = aws.iam.RolePolicy(
            f"{name}-validate-policy",
            role=validation_role.id,
            policy=document(validation_log_group.arn.apply(validation_function_statements)),
            opts=child(),
        )
        self.validation_function = aws.lambda_.Function(
            f"{name}-validate",
            description="Checks an execution's name and input against the stack's rules; writes nothing.",
            code=seed_code_archive(),
            handler=lambda_functions.VALIDATION_HANDLER,
            runtime=lambda_functions.RUNTIME,
            memory_size=lambda_functions.VALIDATION_MEMORY_MB,
            timeout=lambda_functions.VALIDATION_TIMEOUT_SECONDS,
            role=validation_role.arn,
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                log_format="Text", log_group=validation_log_group.name
            ),
            tags=tags,
            opts=child(depends_on=[validation_policy]),
        )

        # Seeding function, with its own log group and role.
        seed_log_group, seed_role = function_logs_and_role("seed")
        # The bucket's name is generated, so known here only: no data source may overlap its runs/.
        data_sources = self.bucket.bucket.apply(lambda bucket: checked_data_sources(settings.data_sources, bucket))
        seed_policy = aws.iam.RolePolicy(
            f"{name}-seed-policy",
            role=seed_role.id,
            policy=document(
                Output.all(self.bucket.arn, seed_log_group.arn, data_sources).apply(
                    lambda values: seed_function_statements(values[0], values[1], values[2])
                )
            ),
            opts=child(),
        )
        aws.s3.BucketPolicy(
            f"{name}-data-policy",
            bucket=self.bucket.id,
            policy=document(
                Output.all(self.bucket.arn, seed_role.arn).apply(
                    lambda values: tls_only_statements(values[0]) + write_once_statements(values[0], values[1])
                )
            ),
            # S3 rejects concurrent changes to a bucket's policy and its public access block.
            opts=child(depends_on=[public_access]),
        )
        self.seed_function = aws.lambda_.Function(
            f"{name}-seed",
            description="Writes a run's train/validation/test CSV under runs/<execution>/: generated, "
            "or prepared from the user's CSV.",
            code=seed_code_archive(),
            handler=lambda_functions.HANDLER,
            runtime=lambda_functions.RUNTIME,
            memory_size=lambda_functions.MEMORY_MB,
            timeout=lambda_functions.TIMEOUT_SECONDS,
            role=seed_role.arn,
            # Where runs live and the rules of their names: never taken from an event.
            environment=aws.lambda_.FunctionEnvironmentArgs(
                variables={
                    BUCKET_VARIABLE: self.bucket.bucket,
                    JOB_NAME_PREFIX_VARIABLE: settings.job_name_prefix,
                    DATA_SOURCES_VARIABLE: data_sources.apply(lambda sources: json.dumps(list(sources))),
                    SHARDS_VARIABLE: str(settings.shards),
                }
            ),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="Text", log_group=seed_log_group.name),
            tags=tags,
            opts=child(depends_on=[seed_policy]),
        )

        # Evaluation function: the held-out metrics, evaluation.json and the quality gate's verdict.
        evaluation_log_group, evaluation_role = function_logs_and_role("evaluate")
        evaluation_policy = aws.iam.RolePolicy(
            f"{name}-evaluate-policy",
            role=evaluation_role.id,
            policy=document(
                Output.all(self.bucket.arn, evaluation_log_group.arn).apply(
                    lambda values: evaluation_function_statements(values[0], values[1])
                )
            ),
            opts=child(),
        )
        self.evaluation_function = aws.lambda_.Function(
            f"{name}-evaluate",
            description="Scores a run's batch transform output against its held-out labels, writes "
            "runs/<execution>/evaluation/evaluation.json, judges the quality gate.",
            code=seed_code_archive(),
            handler=lambda_functions.EVALUATION_HANDLER,
            runtime=lambda_functions.RUNTIME,
            memory_size=lambda_functions.EVALUATION_MEMORY_MB,
            timeout=lambda_functions.EVALUATION_TIMEOUT_SECONDS,
            role=evaluation_role.arn,
            environment=aws.lambda_.FunctionEnvironmentArgs(
                variables={
                    BUCKET_VARIABLE: self.bucket.bucket,
                    JOB_NAME_PREFIX_VARIABLE: settings.job_name_prefix,
                }
            ),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                log_format="Text", log_group=evaluation_log_group.name
            ),
            tags=tags,
            opts=child(depends_on=[evaluation_policy]),
        )
        # The stack's model registry: every run that passes the quality gate is a version here.
        self.model_package_group = aws.sagemaker.ModelPackageGroup(
            f"{name}-models",
            model_package_group_name=model_package_group_name(settings),
            model_package_group_description=f"Models of the training pipeline's stack {settings.stack}",
            tags=tags,
            opts=child(),
        )

        # SageMaker execution role: training jobs and the model of the transform job.
        # Confused-deputy guard: SageMaker may assume it only for this account's jobs.
        self.sagemaker_role = aws.iam.Role(
            f"{name}-sagemaker-role",
            assume_role_policy=document(
                identity.account_id.apply(
                    lambda account: _trust(
                        "sagemaker.amazonaws.com", [("StringEquals", "aws:SourceAccount", [account])]
                    )
                )
            ),
            tags=tags,
            opts=child(),
        )
        sagemaker_policy = aws.iam.RolePolicy(
            f"{name}-sagemaker-policy",
            role=self.sagemaker_role.id,
            policy=document(
                Output.all(scope, self.bucket.arn).apply(
                    lambda values: sagemaker_statements(values[0], values[1], settings.training_image)
                )
            ),
            opts=child(),
        )

        # State machine role, its log group, the state machine.
        self.state_machine_role = aws.iam.Role(
            f"{name}-states-role",
            assume_role_policy=document(
                identity.account_id.apply(
                    lambda account: _trust("states.amazonaws.com", [("StringEquals", "aws:SourceAccount", [account])])
                )
            ),
            tags=tags,
            opts=child(),
        )
        states_policy = aws.iam.RolePolicy(
            f"{name}-states-policy",
            role=self.state_machine_role.id,
            policy=document(
                Output.all(
                    scope,
                    self.sagemaker_role.arn,
                    self.validation_function.arn,
                    self.seed_function.arn,
                    self.evaluation_function.arn,
                ).apply(
                    lambda values: state_machine_statements(
                        values[0],
                        settings,
                        sagemaker_role_arn=values[1],
                        validation_function_arn=values[2],
                        seed_function_arn=values[3],
                        evaluation_function_arn=values[4],
                    )
                )
            ),
            opts=child(),
        )
        self.role_policies = [validation_policy, seed_policy, evaluation_policy, sagemaker_policy, states_policy]
        states_log_group = aws.cloudwatch.LogGroup(
            f"{name}-states-logs",
            name_prefix=f"{STATES_LOG_GROUP_PREFIX}{name}-{settings.stack}-",
            retention_in_days=settings.log_retention_days,
            tags=tags,
            opts=child(),
        )
        self.state_machine = aws.sfn.StateMachine(
            f"{name}-state-machine",
            type="STANDARD",
            role_arn=self.state_machine_role.arn,
            definition=Output.all(
                partition,
                self.bucket.bucket,
                self.validation_function.arn,
                self.seed_function.arn,
                self.sagemaker_role.arn,
                self.evaluation_function.arn,
            ).apply(
                lambda values: render_definition(
                    settings,
                    partition=values[0],
                    bucket=values[1],
                    validation_function_arn=values[2],
                    seed_function_arn=values[3],
                    sagemaker_role_arn=values[4],
                    evaluation_function_arn=values[5],
                )
            ),
            logging_configuration=aws.sfn.StateMachineLoggingConfigurationArgs(
                level=settings.log_level,
                include_execution_data=True,
                log_destination=states_log_group.arn.apply(lambda arn: f"{arn}:*"),
            ),
            tracing_configuration=aws.sfn.StateMachineTracingConfigurationArgs(enabled=settings.tracing),
            tags=tags,
            # A fresh role may not be usable yet, and without the events permissions the state
            # machine cannot be created: wait for the policies, not only the roles.
            opts=child(depends_on=[*self.role_policies, self.model_package_group]),
        )

        self.console_url = Output.all(partition, self.state_machine.arn).apply(
            lambda values: console_url(values[0], settings.region, values[1])
        )
        self.register_outputs(
            {
                "bucketName": self.bucket.bucket,
                "stateMachineArn": self.state_machine.arn,
                "stateMachineName": self.state_machine.name,
                "seedFunctionName": self.seed_function.name,
                "modelPackageGroupName": self.model_package_group.model_package_group_name,
                "sageMakerRoleArn": self.sagemaker_role.arn,
                "trainingImage": settings.training_image,
                "consoleUrl": self.console_url,
            }
        )
