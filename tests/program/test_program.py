"""The real Pulumi program (`__main__.py`) under mocks: resources, IAM, definition, outputs, config errors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote

import pulumi  # noqa: E402
import pytest
from dev_stack import PREFIX
from pulumi_mocks import ACCOUNT, PROJECT_DIR, run_program

# pulumi_aws warns about its own deprecated classes when their modules load; not about this program.
pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated in favor of:DeprecationWarning")

BUCKET = "aws:s3/bucket:Bucket"
PUBLIC_ACCESS = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
FUNCTION = "aws:lambda/function:Function"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
STATE_MACHINE = "aws:sfn/stateMachine:StateMachine"
SEED = "training-pipeline-seed"
VALIDATE = "training-pipeline-validate"
EVALUATE = "training-pipeline-evaluate"
COMPONENT = "training-pipeline:index:TrainingPipeline"

IMAGES = {
    "us-west-2": "246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-xgboost:3.2-0",
    "us-east-1": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0",
}
# Placeholders of the AWS sample this project replaces (seed-definition.asl.json).
PLACEHOLDERS = ("123456789012", "1jn1le6gadwfz", "433757028032", "ml.m4", "xgboost:latest")
# Actions the Service Authorization Reference lists without resource-level permissions, plus
# sagemaker:ListTags, which the AWS `.sync` policy (sagemaker-iam docs) grants on "*".
STAR_OK = {
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "ecr:GetAuthorizationToken",
    "cloudwatch:PutMetricData",
    "sagemaker:ListTags",
}
OUTPUTS = {
    "bucketName",
    "stateMachineArn",
    "stateMachineName",
    "seedFunctionName",
    "sageMakerRoleArn",
    "trainingImage",
    "region",
    "consoleUrl",
    "jobNamePrefix",
    "runDefaults",
}


def deployed(config=None, **kwargs):
    """The program's registrations, which must have succeeded."""
    result = run_program(config, **kwargs)
    assert result.error is None, result.error
    return result


@pytest.fixture(scope="module")
def run():
    return deployed()


@pytest.fixture(scope="module")
def east():
    return deployed(region="us-east-1")


@pytest.fixture(scope="module")
def custom():
    """Everything that can differ from the defaults, differing."""
    return deployed(
        {
            "tracing": True,
            "logLevel": "ALL",
            "forceDestroy": True,
            "trainingInstanceCount": 2,
            "logRetentionDays": 30,
            "jobNamePrefix": "team-a",
            "runsExpireDays": 7,
            "hyperparameters": ["objective=binary:logistic", "num_round=20"],
            "dataSources": ["s3://team-data/datasets/", "s3://whole-bucket/"],
        }
    )


@pytest.fixture(scope="module")
def china():
    return deployed(region="cn-north-1")


@pytest.fixture(scope="module")
def govcloud():
    return deployed(region="us-gov-west-1")


def as_list(value):
    return value if isinstance(value, list) else [value]


def statements(document):
    return document["Statement"]


def definition_of(result):
    return result.one(STATE_MACHINE).inputs["definition"]


def role_policy(result, role_suffix):
    """The document of the RolePolicy attached to the role whose resource name ends with role_suffix."""
    role = result.one(ROLE, f"training-pipeline-{role_suffix}-role")
    policies = [p for p in result.of_type(ROLE_POLICY) if p.inputs["role"] == role.outputs["name"]]
    assert len(policies) == 1
    return json.loads(policies[0].inputs["policy"])


def trust(result, role_suffix):
    return json.loads(result.one(ROLE, f"training-pipeline-{role_suffix}-role").inputs["assumeRolePolicy"])


# --- shape and outputs ---------------------------------------------------------------------


def test_component_parents_every_resource(run):
    component = run.one(COMPONENT, "training-pipeline")
    children = [r for r in run.resources if r is not component]
    assert {r.parent for r in children} == {component.urn}
    assert all(r.name.startswith("training-pipeline-") for r in children)
    assert component.urn in run.component_outputs, "register_outputs was not called"
    assert len(run.of_type(ROLE_POLICY)) == 5 and len(run.of_type(ROLE)) == 5
    assert {function.name for function in run.of_type(FUNCTION)} == {SEED, VALIDATE, EVALUATE}


def test_outputs(run):
    assert set(run.outputs) == OUTPUTS
    bucket = run.one(BUCKET).outputs
    machine = run.one(STATE_MACHINE).outputs
    assert run.outputs["bucketName"] == bucket["bucket"]
    assert run.outputs["stateMachineArn"] == machine["arn"]
    assert run.outputs["stateMachineName"] == machine["name"]
    assert run.outputs["seedFunctionName"] == run.one(FUNCTION, SEED).outputs["name"]
    assert run.outputs["sageMakerRoleArn"] == run.one(ROLE, "training-pipeline-sagemaker-role").outputs["arn"]
    assert run.outputs["trainingImage"] == IMAGES["us-west-2"]
    assert run.outputs["region"] == "us-west-2"
    assert run.outputs["jobNamePrefix"] == PREFIX
    assert run.outputs["runDefaults"] == {
        "rows": 5000,
        "hyperparameters": {"objective": "reg:logistic", "eval_metric": "rmse", "num_round": "5"},
        "shards": 1,
        "dataSources": [],
        "volumeSizeGb": 30,
        "qualityGate": "",
        "training": {
            "image_version": "3.2-0",
            "instance_type": "ml.m5.xlarge",
            "instance_count": 1,
            "max_runtime_seconds": 3600,
        },
    }
    assert run.outputs["consoleUrl"] == (
        "https://console.aws.amazon.com/states/home?region=us-west-2#/statemachines/view/"
        + quote(machine["arn"], safe="")
    )


def test_china_partition(china):
    assert china.outputs["consoleUrl"].startswith("https://console.amazonaws.cn/states/home?region=cn-north-1#")
    assert china.outputs["trainingImage"].endswith(".amazonaws.com.cn/sagemaker-xgboost:3.2-0")
    for name, document in china.policy_documents().items():
        for statement in statements(document):
            for resource in as_list(statement.get("Resource", [])):
                assert resource == "*" or resource.startswith("arn:aws-cn:"), (name, resource)
    repository = china.outputs["trainingImage"].split(".")[0]
    assert f"arn:aws-cn:ecr:cn-north-1:{repository}:repository/sagemaker-xgboost" in json.dumps(
        role_policy(china, "sagemaker")
    )


@pytest.mark.parametrize("fixture,partition", [("run", "aws"), ("china", "aws-cn"), ("govcloud", "aws-us-gov")])
def test_every_arn_carries_the_stack_partition(request, fixture, partition):
    """`arn:aws:` in aws-cn or aws-us-gov fails executions with an uncatchable States.Runtime."""
    result = request.getfixturevalue(fixture)
    definition = json.loads(definition_of(result))
    arns = re.findall(r"arn:[a-z-]+:[^\"]*", definition_of(result)) + re.findall(
        r"arn:[a-z-]+:[^\"]*", json.dumps(result.policy_documents())
    )
    assert arns and {arn.split(":")[1] for arn in arns} == {partition}
    integrations = [
        state["Resource"]
        for state in definition["States"].values()
        if state.get("Resource", "").split(":")[2:3] == ["states"]
    ]
    assert sorted(integrations) == sorted(
        f"arn:{partition}:states:::{action}"
        for action in (
            "sagemaker:createTrainingJob.sync",
            "sagemaker:createModel",
            "sagemaker:createTransformJob.sync",
            "aws-sdk:sagemaker:stopTrainingJob",
            "aws-sdk:sagemaker:stopTransformJob",
            "aws-sdk:sagemaker:createModelPackage",
        )
    )


# --- the definition ------------------------------------------------------------------------


@pytest.mark.parametrize("fixture,region", [("run", "us-west-2"), ("east", "us-east-1")])
def test_definition_is_rendered_from_the_stack(request, fixture, region):
    result = request.getfixturevalue(fixture)
    text = definition_of(result)
    definition = json.loads(text)
    function_arn = result.one(FUNCTION, SEED).outputs["arn"]
    bucket = result.one(BUCKET).outputs["bucket"]
    role_arn = result.one(ROLE, "training-pipeline-sagemaker-role").outputs["arn"]
    assert function_arn.startswith(f"arn:aws:lambda:{region}:{ACCOUNT}:function:")
    assert definition["States"]["Generate dataset"]["Resource"] == function_arn
    assert definition["States"]["Prepare dataset"]["Resource"] == function_arn
    assert definition["States"]["Validate input"]["Resource"] == result.one(FUNCTION, VALIDATE).outputs["arn"]
    assert definition["States"]["Validate input"]["Parameters"]["bucket"] == bucket
    assert f"s3://{bucket}/runs/" in text
    train = definition["States"]["Train model (XGBoost)"]["Parameters"]
    assert train["RoleArn"] == role_arn
    assert train["AlgorithmSpecification"]["TrainingImage"] == IMAGES[region]
    save = definition["States"]["Save Model"]["Parameters"]
    assert save["ExecutionRoleArn"] == role_arn and save["PrimaryContainer"]["Image"] == IMAGES[region]
    for placeholder in PLACEHOLDERS:
        assert placeholder not in text, placeholder


def test_definition_follows_settings(custom):
    definition = json.loads(definition_of(custom))
    assert definition["States"]["Generate dataset"]["Parameters"]["shards"] == 2
    train = definition["States"]["Train model (XGBoost)"]["Parameters"]
    assert train["ResourceConfig"]["InstanceCount"] == 2
    validate = definition["States"]["Validate input"]["Parameters"]
    assert validate["jobNamePrefix"] == "team-a"
    assert validate["defaults"] == {
        "rows": 5000,
        "shards": 2,
        "hyperparameters": {"objective": "binary:logistic", "num_round": "20"},
        "dataSources": ["s3://team-data/datasets/", "s3://whole-bucket/"],
        "volumeSizeGb": 30,
        "qualityGate": "",
        "training": {
            "image_version": "3.2-0",
            "instance_type": "ml.m5.xlarge",
            "instance_count": 2,
            "max_runtime_seconds": 3600,
        },
    }


def test_definition_passes_statelint(run):
    from statelint.config import Config
    from statelint.linter import Linter

    assert Linter.validate(definition_of(run), Config([], False, False)) == []


def test_definition_is_accepted_by_moto(run):
    import boto3
    from moto import mock_aws

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        client = boto3.client("stepfunctions", region_name="us-west-2")
        created = client.create_state_machine(
            name="training-pipeline", definition=definition_of(run), roleArn=f"arn:aws:iam::{ACCOUNT}:role/states"
        )
        assert created["stateMachineArn"]


def test_definition_is_compact_and_stable(run):
    text = definition_of(run)
    assert text == json.dumps(json.loads(text), separators=(",", ":"), sort_keys=True)
    again = run_program()
    assert definition_of(again) == text


# --- state machine, function, log groups -----------------------------------------------------


def test_state_machine(run, custom):
    machine = run.one(STATE_MACHINE).inputs
    assert machine["type"] == "STANDARD"
    assert machine["roleArn"] == run.one(ROLE, "training-pipeline-states-role").outputs["arn"]
    log_group = run.one(LOG_GROUP, "training-pipeline-states-logs").outputs
    assert log_group["name"].startswith("/aws/vendedlogs/states/")
    assert log_group["retentionInDays"] == 14
    assert machine["loggingConfiguration"] == {
        "level": "ERROR",
        "includeExecutionData": True,
        "logDestination": f"{log_group['arn']}:*",
    }
    assert machine["tracingConfiguration"] == {"enabled": False}
    changed = custom.one(STATE_MACHINE).inputs
    assert changed["loggingConfiguration"]["level"] == "ALL"
    assert changed["tracingConfiguration"] == {"enabled": True}
    assert custom.one(LOG_GROUP, "training-pipeline-states-logs").inputs["retentionInDays"] == 30


def test_state_machine_waits_for_the_role_policies(run):
    """MockResourceArgs has no dependencies, so RecordingMonitor keeps RegisterResourceRequest.dependencies.

    The definition and role inputs never reference a RolePolicy, so a policy URN there can
    only come from `depends_on`.
    """
    machine = run.one(STATE_MACHINE)
    policy_urns = {policy.urn for policy in run.of_type(ROLE_POLICY)}
    assert len(policy_urns) == 5
    assert policy_urns <= set(machine.dependencies)
    for urns in machine.property_dependencies.values():
        assert not policy_urns & set(urns)
    for function in (SEED, VALIDATE, EVALUATE):
        assert run.one(ROLE_POLICY, f"{function}-policy").urn in run.one(FUNCTION, function).dependencies


def test_seed_function(run, custom):
    function = run.one(FUNCTION, SEED).inputs
    assert function["handler"] == "lambda_src.seed_dataset.handler"
    assert function["runtime"] in ("python3.12", "python3.13")
    assert function["memorySize"] == 1769
    assert function["timeout"] == 900
    assert function["role"] == run.one(ROLE, "training-pipeline-seed-role").outputs["arn"]
    log_group = run.one(LOG_GROUP, "training-pipeline-seed-logs").outputs
    assert function["loggingConfig"]["logGroup"] == log_group["name"]
    assert log_group["retentionInDays"] == 14
    code = function["code"]
    assert isinstance(code, pulumi.AssetArchive)
    assert "lambda_src/seed_dataset.py" in code.assets
    source = (PROJECT_DIR / "lambda_src").resolve()
    for name, asset in code.assets.items():
        assert "__pycache__" not in name and not name.endswith(".pyc")
        assert Path(asset.path).resolve().parent == source  # resolved from the project, not the cwd
    # Where it writes and the rules of names are its own configuration, never its events'.
    assert function["environment"]["variables"] == {
        "RUNS_BUCKET": run.one(BUCKET).outputs["bucket"],
        "JOB_NAME_PREFIX": PREFIX,
        "DATA_SOURCES": "[]",
        "TRAINING_SHARDS": "1",
    }
    assert custom.one(FUNCTION, SEED).inputs["environment"]["variables"]["TRAINING_SHARDS"] == "2"
    assert json.loads(custom.one(FUNCTION, SEED).inputs["environment"]["variables"]["DATA_SOURCES"]) == [
        "s3://team-data/datasets/",
        "s3://whole-bucket/",
    ]


def test_validation_function(run, custom):
    """Its own function, role and log group: same package and runtime, another handler, no environment."""
    function = run.one(FUNCTION, VALIDATE).inputs
    seed = run.one(FUNCTION, SEED).inputs
    assert function["handler"] == "lambda_src.execution_input.handler"
    assert function["runtime"] == seed["runtime"] and function["code"].assets.keys() == seed["code"].assets.keys()
    assert function["role"] == run.one(ROLE, "training-pipeline-validate-role").outputs["arn"]
    assert not function.get("environment")
    log_group = run.one(LOG_GROUP, "training-pipeline-validate-logs")
    assert function["loggingConfig"]["logGroup"] == log_group.outputs["name"]
    assert log_group.outputs["name"].startswith("/aws/lambda/training-pipeline-dev-validate-")
    for result in (run, custom):
        retention = {result.one(LOG_GROUP, f"{name}-logs").inputs["retentionInDays"] for name in (SEED, VALIDATE)}
        assert len(retention) == 1


def test_the_validation_role_may_write_its_logs_and_nothing_else(run, custom):
    """It parses untrusted input: not one S3 action (nor any other beyond its own log group)."""
    for result in (run, custom):
        log_group_arn = result.one(LOG_GROUP, "training-pipeline-validate-logs").outputs["arn"]
        document = role_policy(result, "validate")
        granted = {
            (action, resource)
            for statement in statements(document)
            for action in as_list(statement["Action"])
            for resource in as_list(statement["Resource"])
        }
        assert granted == {("logs:CreateLogStream", f"{log_group_arn}:*"), ("logs:PutLogEvents", f"{log_group_arn}:*")}
        assert not [
            action
            for statement in statements(document)
            for action in as_list(statement["Action"])
            if action.lower().startswith("s3:")
        ]


# --- bucket --------------------------------------------------------------------------------


def test_bucket_hardening(run, custom):
    bucket = run.one(BUCKET)
    assert bucket.inputs["forceDestroy"] is False  # destroy keeps a bucket that holds data
    assert custom.one(BUCKET).inputs["forceDestroy"] is True
    name = bucket.outputs["bucket"]
    block = run.one(PUBLIC_ACCESS).inputs
    assert block["bucket"] == name
    assert all(
        block[key] is True
        for key in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    encryption = run.one(ENCRYPTION).inputs
    assert encryption["bucket"] == name
    [rule] = encryption["rules"]
    # SSE-S3: with KMS the Lambda and SageMaker roles would need key grants too.
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    policy = run.one(BUCKET_POLICY)
    assert policy.inputs["bucket"] == name
    assert run.one(PUBLIC_ACCESS).urn in policy.dependencies
    deny, write_once = statements(json.loads(policy.inputs["policy"]))
    arn = bucket.outputs["arn"]
    # The seeding role's writes of run data must be conditional (If-None-Match): S3 enforces write-once.
    assert write_once == {
        "Sid": "SeedingWritesOnce",
        "Effect": "Deny",
        "Action": "s3:PutObject",
        "Resource": f"{arn}/runs/*/csv/*",
        "Principal": {"AWS": run.one(ROLE, "training-pipeline-seed-role").outputs["arn"]},
        "Condition": {"Null": {"s3:if-none-match": "true"}, "Bool": {"s3:ObjectCreationOperation": "true"}},
    }
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert set(as_list(deny["Resource"])) == {arn, f"{arn}/*"}
    assert as_list(deny["Action"]) == ["s3:*"]
    [lifecycle] = run.one(LIFECYCLE).inputs["rules"]
    assert run.one(LIFECYCLE).inputs["bucket"] == name
    assert lifecycle["status"] == "Enabled" and lifecycle["filter"] == {"prefix": "runs/"}
    assert lifecycle["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 1}
    assert lifecycle["expiration"] == {"days": 30}  # the default runsExpireDays
    assert lifecycle["noncurrentVersionExpiration"] == {"noncurrentDays": 1}
    [custom_rule] = custom.one(LIFECYCLE).inputs["rules"]
    assert custom_rule["expiration"] == {"days": 7} and custom_rule["filter"] == {"prefix": "runs/"}


def test_runs_expire_days_zero_keeps_runs_but_still_drops_incomplete_uploads():
    [rule] = deployed({"runsExpireDays": 0}).one(LIFECYCLE).inputs["rules"]
    assert rule["filter"] == {"prefix": "runs/"} and rule["abortIncompleteMultipartUpload"] == {
        "daysAfterInitiation": 1
    }
    assert "expiration" not in rule and "noncurrentVersionExpiration" not in rule


def test_a_run_longer_than_a_standard_execution_may_last_is_refused():
    # spot: the training state waits maxWaitSeconds plus an hour; a Standard execution lasts a year at most.
    result = run_program({"spotTraining": True, "maxWaitSeconds": 365 * 86400, "runsExpireDays": 0})
    assert str(result.error).startswith(
        "invalid config training-pipeline:maxWaitSeconds: a run could take 31554360 s with these settings, more "
        "than the year (31536000 s) a Standard execution may run"
    ), result.error
    assert result.resources == []


def test_runs_expire_days_must_outlast_the_longest_run():
    # 6 attempts of each Lambda state (60 s validation, 900 s seeding, 900 s evaluation), 3 days of training and the
    # training state's hour of slack, an hour of transform: 3 days are too short, 4 are not.
    result = run_program({"maxRuntimeSeconds": 3 * 86400, "runsExpireDays": 3})
    message = str(result.error)
    assert message == (
        "invalid config training-pipeline:runsExpireDays: 3 is too short: a run can take up to "
        "277560 s with these settings and its objects could expire while it runs; raise "
        "runsExpireDays, or set 0 to keep runs for good"
    ), message
    assert result.resources == []
    [rule] = deployed({"maxRuntimeSeconds": 3 * 86400, "runsExpireDays": 4}).one(LIFECYCLE).inputs["rules"]
    assert rule["expiration"] == {"days": 4}


# --- IAM -----------------------------------------------------------------------------------


def test_no_wildcard_actions_and_star_only_where_unavoidable(run, custom):
    for result in (run, custom):
        for name, document in result.policy_documents().items():
            for statement in statements(document):
                if statement["Effect"] != "Allow":
                    continue
                actions = as_list(statement["Action"])
                assert not any("*" in action for action in actions), (name, actions)
                if "*" in as_list(statement.get("Resource", [])):
                    assert set(actions) <= STAR_OK, (name, actions)


def test_s3_resources_are_this_bucket(run):
    arn = run.one(BUCKET).outputs["arn"]
    for name, document in run.policy_documents().items():
        for statement in statements(document):
            touches_s3 = any(action.startswith("s3:") for action in as_list(statement["Action"]))
            for resource in as_list(statement.get("Resource", [])):
                if touches_s3 or resource.startswith("arn:aws:s3"):
                    assert resource == arn or resource.startswith(f"{arn}/"), (name, resource)


def test_trust_policies(run):
    for suffix, service in (
        ("seed", "lambda"),
        ("validate", "lambda"),
        ("sagemaker", "sagemaker"),
        ("states", "states"),
    ):
        [statement] = statements(trust(run, suffix))
        assert statement["Principal"] == {"Service": f"{service}.amazonaws.com"}
        assert statement["Action"] == "sts:AssumeRole"
    for suffix in ("states", "sagemaker"):  # confused-deputy guard for the service roles
        [statement] = statements(trust(run, suffix))
        assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_seed_function_policy(run):
    bucket_arn = run.one(BUCKET).outputs["arn"]
    log_group_arn = run.one(LOG_GROUP, "training-pipeline-seed-logs").outputs["arn"]
    granted = {
        (action, resource)
        for statement in statements(role_policy(run, "seed"))
        for action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    }
    assert granted == {
        ("logs:CreateLogStream", f"{log_group_arn}:*"),
        ("logs:PutLogEvents", f"{log_group_arn}:*"),
        # A run's csv/ objects, the only ones it writes; its upload, deleted once read.
        ("s3:PutObject", f"{bucket_arn}/runs/*/csv/*"),
        ("s3:AbortMultipartUpload", f"{bucket_arn}/runs/*/csv/*"),
        ("s3:DeleteObject", f"{bucket_arn}/runs/*/csv/*"),
        ("s3:DeleteObject", f"{bucket_arn}/runs/*/upload/*"),
        ("s3:ListBucket", bucket_arn),  # one run's prefix only: does the run hold anything yet?
        ("s3:GetObject", f"{bucket_arn}/runs/*/upload/*"),  # a file run.py uploaded for the run
    }
    [listing] = [
        statement
        for statement in statements(role_policy(run, "seed"))
        if as_list(statement["Action"]) == ["s3:ListBucket"]
    ]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": "runs/*/"}}


def test_seed_function_reads_the_data_sources_and_nothing_else(custom):
    """Each dataSources location: GetObject under its prefix, ListBucket of its bucket with s3:prefix
    inside it (none for a whole bucket); no other bucket, no other action."""
    bucket_arn = custom.one(BUCKET).outputs["arn"]
    reads = [
        statement
        for statement in statements(role_policy(custom, "seed"))
        if set(as_list(statement["Action"])) & {"s3:GetObject", "s3:ListBucket"}
    ]
    simplified = sorted(
        (action, resource, json.dumps(statement.get("Condition"), sort_keys=True))
        for statement in reads
        for action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    )
    assert simplified == sorted(
        [
            ("s3:ListBucket", bucket_arn, json.dumps({"StringLike": {"s3:prefix": "runs/*/"}})),
            ("s3:GetObject", f"{bucket_arn}/runs/*/upload/*", "null"),
            ("s3:GetObject", "arn:aws:s3:::team-data/datasets/*", "null"),
            ("s3:ListBucket", "arn:aws:s3:::team-data", json.dumps({"StringLike": {"s3:prefix": "datasets/*"}})),
            ("s3:GetObject", "arn:aws:s3:::whole-bucket/*", "null"),
            ("s3:ListBucket", "arn:aws:s3:::whole-bucket", "null"),
        ]
    )


@pytest.mark.parametrize(
    "sources, message",
    [
        (["s3://team-data/datasets"], "must end with '/'"),
        (["https://team-data/datasets/"], "is not an S3 URI"),
        (["s3://Team_Data/"], "does not name a valid S3 bucket"),
        (["s3://team-data/a/../b/"], "'..' segments"),
        ("s3://team-data/", "expected a list of S3 locations"),
        (
            [f"s3://team-data/{index:03d}/" + "d" * 100 + "/" for index in range(30)],
            "3,720 characters as JSON, more than the 3,584 the seeding function's environment can hold",
        ),
    ],
)
def test_bad_data_sources_stop_pulumi_up_naming_the_key(sources, message):
    result = run_program({"dataSources": sources})
    assert result.error is not None and "dataSources" in str(result.error) and message in str(result.error)


@pytest.mark.parametrize("key", ["runs/", "", f"runs/{PREFIX}--victim/upload/"])
def test_a_data_source_overlapping_the_stacks_runs_stops_pulumi_up(key):
    """The bucket's name is generated (known to the program inside an apply only): a location
    covering its runs/ would let a run read other runs' data and pending uploads."""
    from runner.emulator.engine import auto_name

    bucket = auto_name("training-pipeline-data")
    result = run_program({"dataSources": ["s3://team-data/datasets/", f"s3://{bucket}/{key}"]})
    assert result.error is not None
    assert str(result.error).startswith(
        f"invalid config training-pipeline:dataSources: s3://{bucket}/{key} overlaps "
        f"s3://{bucket}/runs/, where the stack keeps every run's data"
    ), result.error
    assert not [r for r in result.of_type(FUNCTION) if r.name == SEED]


@pytest.mark.parametrize("fixture,region", [("run", "us-west-2"), ("east", "us-east-1")])
def test_sagemaker_policy(request, fixture, region):
    result = request.getfixturevalue(fixture)
    document = role_policy(result, "sagemaker")
    by_action = {}
    for statement in statements(document):
        for action in as_list(statement["Action"]):
            by_action.setdefault(action, []).append(statement)
    bucket_arn = result.one(BUCKET).outputs["arn"]
    registry = IMAGES[region].split(".")[0]
    [pull] = by_action["ecr:BatchGetImage"]
    assert as_list(pull["Resource"]) == [f"arn:aws:ecr:{region}:{registry}:repository/sagemaker-xgboost"]
    assert set(as_list(pull["Action"])) == {
        "ecr:BatchCheckLayerAvailability",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchGetImage",
    }
    assert as_list(by_action["ecr:GetAuthorizationToken"][0]["Resource"]) == ["*"]
    [listing] = by_action["s3:ListBucket"]
    assert as_list(listing["Resource"]) == [bucket_arn]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": "runs/*"}}
    for action in ("s3:GetObject", "s3:PutObject"):
        assert all(r.startswith(f"{bucket_arn}/") for r in as_list(by_action[action][0]["Resource"]))
    for action in ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"):
        assert as_list(by_action[action][0]["Resource"]) == [
            f"arn:aws:logs:{region}:{ACCOUNT}:log-group:/aws/sagemaker/*"
        ]
    [metrics] = by_action["cloudwatch:PutMetricData"]
    assert metrics["Condition"] == {"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}}


def test_state_machine_policy(run, custom):
    document = role_policy(run, "states")
    by_action = {}
    for statement in statements(document):
        for action in as_list(statement["Action"]):
            by_action.setdefault(action, []).append(statement)
    sagemaker = f"arn:aws:sagemaker:us-west-2:{ACCOUNT}"
    for kind, actions in (
        ("training-job", ("CreateTrainingJob", "DescribeTrainingJob", "StopTrainingJob")),
        ("transform-job", ("CreateTransformJob", "DescribeTransformJob", "StopTransformJob")),
        ("model", ("CreateModel",)),
    ):
        for action in actions:
            [statement] = by_action[f"sagemaker:{action}"]
            assert as_list(statement["Resource"]) == [f"{sagemaker}:{kind}/{PREFIX}--*"]
    jobs_tags, package_tags = by_action["sagemaker:AddTags"]
    assert set(as_list(jobs_tags["Resource"])) == {
        f"{sagemaker}:{kind}/{PREFIX}--*" for kind in ("training-job", "transform-job", "model")
    }
    # Registration: the stack's group and its versions, nothing else.
    assert as_list(package_tags["Resource"]) == [f"{sagemaker}:model-package/{PREFIX}/*"]
    [register] = by_action["sagemaker:CreateModelPackage"]
    assert set(as_list(register["Resource"])) == {
        f"{sagemaker}:model-package-group/{PREFIX}",
        f"{sagemaker}:model-package/{PREFIX}/*",
    }
    assert as_list(by_action["sagemaker:ListTags"][0]["Resource"]) == ["*"]
    [pass_role] = by_action["iam:PassRole"]
    assert as_list(pass_role["Resource"]) == [run.one(ROLE, "training-pipeline-sagemaker-role").outputs["arn"]]
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    for action in ("events:PutTargets", "events:PutRule", "events:DescribeRule"):
        assert set(as_list(by_action[action][0]["Resource"])) == {
            f"arn:aws:events:us-west-2:{ACCOUNT}:rule/StepFunctionsGetEventsForSageMaker{kind}JobsRule"
            for kind in ("Training", "Transform")
        }
    # The definition invokes the unqualified ARNs: no `:*` for versions and aliases it never uses.
    # The three functions, in a statement each, and no other.
    assert sorted(as_list(statement["Resource"]) for statement in by_action["lambda:InvokeFunction"]) == sorted(
        [run.one(FUNCTION, name).outputs["arn"]] for name in (SEED, VALIDATE, EVALUATE)
    )
    assert as_list(by_action["logs:CreateLogDelivery"][0]["Resource"]) == ["*"]
    assert not any(action.startswith("xray:") for action in by_action)
    # Tracing on: X-Ray; another prefix: its own pattern only.
    traced = json.dumps(role_policy(custom, "states"))
    assert "xray:PutTraceSegments" in traced
    assert f"{sagemaker}:training-job/team-a--*" in traced and "xgb-dev" not in traced


def test_parliament_finds_nothing(run, custom):
    import parliament

    for result in (run, custom):
        for name, document in result.policy_documents().items():
            if name.endswith(".assumeRolePolicy"):
                continue  # trust policies have no Resource; parliament reviews permission policies
            findings = parliament.analyze_policy_string(json.dumps(document)).findings
            assert findings == [], (name, [(f.issue, f.detail) for f in findings])


# --- bad config --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config,key",
    [
        ({"trainingInstanceCount": 0}, "trainingInstanceCount"),
        ({"xgboostVersion": "latest"}, "xgboostVersion"),
        ({"xgboostVersion": "9.9"}, "xgboostVersion"),
        ({"hyperparameters": ["objective=reg:logistic"]}, "hyperparameters"),
        ({"hyperparameters": ["objective=reg:nonsense", "num_round=5"]}, "hyperparameters"),
        ({"rows": 0}, "rows"),
        ({"logLevel": "DEBUG"}, "logLevel"),
        ({"jobNamePrefix": "bad_prefix"}, "jobNamePrefix"),
        ({"jobNamePrefix": "Team-A"}, "jobNamePrefix"),  # SageMaker ARNs are lower case
        ({"jobNamePrefix": "team--a"}, "jobNamePrefix"),  # `--` ends a prefix
        ({"hyperparameters": ["objective=reg:logistic", "eval_metric=auc", "num_round=5"]}, "hyperparameters"),
        ({"hyperparameters": ["num_round=5", "eta=2"]}, "hyperparameters"),
        ({"hyperparameters": ["num_round=5", "sagemaker_program=train.py"]}, "hyperparameters"),
        ({"transformInstanceCount": 2}, "transformInstanceCount"),
        ({"maxRuntimeSeconds": 29 * 24 * 3600}, "maxRuntimeSeconds"),
        ({"logRetentionDays": 10}, "logRetentionDays"),
        ({"runsExpireDays": -1}, "runsExpireDays"),
        ({"runsExpireDays": "soon"}, "runsExpireDays"),
        ({"runsExpireDays": 2**31}, "runsExpireDays"),
        ({"transformTimeoutSeconds": 0}, "transformTimeoutSeconds"),
        ({"transformTimeoutSeconds": 365 * 24 * 3600 + 1}, "transformTimeoutSeconds"),
    ],
)
def test_bad_config_fails_before_any_resource(config, key):
    result = run_program(config)
    assert isinstance(result.error, pulumi.RunError), repr(result.error)
    message = str(result.error)
    assert message.startswith(f"invalid config training-pipeline:{key}: "), message
    assert "\n" not in message
    assert result.resources == []


# --- the deploy docs match the project -------------------------------------------------------


def _table(text: str, heading: str) -> dict[str, list[str]]:
    """First-column key (without backticks) -> cells, of the table under `## <heading>`."""
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    cells = [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows]
    return {row[0].strip("`"): row[1:] for row in cells}


def test_deploy_docs_match_pulumi_yaml_and_outputs():
    import yaml

    text = (PROJECT_DIR / "docs" / "configuration.md").read_text()
    declared = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["config"]
    documented = _table(text, "Reference")
    assert list(documented) == list(declared)
    for key, spec in declared.items():
        default = spec["default"]
        expected = f"`{default}`" if isinstance(default, str) and default else f"`{json.dumps(default)}`"
        assert documented[key][1] == expected, key
    assert set(_table(text, "Stack outputs")) == OUTPUTS


# --- the engine double ---------------------------------------------------------------------------


def test_a_resource_type_the_engine_double_cannot_create_fails_the_deployment_naming_it(monkeypatch):
    from runner.emulator import engine

    monkeypatch.delitem(engine.RESOURCES, LOG_GROUP)
    result = run_program()
    assert isinstance(result.error, Exception)
    assert f"cannot deploy resource type {LOG_GROUP} (training-pipeline-" in str(result.error)


def test_outputs_come_from_the_emulator(run):
    """ARNs and names are the ones moto returned for the resources the program registered."""
    import boto3
    from moto import mock_aws

    function = run.one(FUNCTION, SEED).outputs
    assert function["arn"] == f"arn:aws:lambda:us-west-2:{ACCOUNT}:function:{function['name']}"
    assert function["sourceCodeHash"]  # moto's CodeSha256 of the package built from the AssetArchive
    role = run.one(ROLE, "training-pipeline-sagemaker-role").outputs
    assert role["uniqueId"].startswith("AROA")
    assert ("aws:index/getCallerIdentity:getCallerIdentity", {}) in [(token, dict(args)) for token, args in run.invokes]
    with mock_aws():  # a fresh emulator knows none of it: the run's emulator was its own
        assert boto3.client("s3", region_name="us-west-2").list_buckets()["Buckets"] == []
