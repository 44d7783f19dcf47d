"""Each principal of the rehearsal acts under its role's deployed policies.

The least-privilege check is generic over whatever statements the program renders: every
Allow statement of every role policy the program deployed is either needed (removing it
makes the pipeline fail, naming one of its actions) or reported as not needed, with the
reason; and all of them together are enough (the untouched stack succeeds).
"""

import io
import itertools
import json
import time
import zipfile

import boto3
import pytest
from emulated_execution import deployed_with, start_and_wait
from moto import mock_aws

from components.settings import load_stack_settings
from runner.emulator import local_stack
from runner.emulator.iam import AccessControl, AccessDenied, UnsupportedPolicy, statement_applies

_names = itertools.count(1)


# A dataSources location the rehearsal's stack names, in a bucket of its own in the emulator.
DATA_BUCKET = "iam-data-sources"
DATA_SOURCE = f"s3://{DATA_BUCKET}/datasets/"
CSV = "x,y,label\n" + "".join(f"{i % 7},{i % 5},{i % 2}\n" for i in range(80))


def _execute(outputs, rows=50, timeout=60, data=None):
    """One execution: generated (`data` None), from the dataSources bucket ("source") or from a
    file uploaded to the run's upload location, as run.py --data FILE does ("upload")."""
    name = f"{outputs['jobNamePrefix']}--iam-{next(_names)}-{int(time.time())}"
    execution_input = {"rows": rows}
    if data == "upload":
        key = f"runs/{name}/upload/data.csv"
        boto3.client("s3", region_name=outputs["region"]).put_object(
            Bucket=outputs["bucketName"], Key=key, Body=CSV.encode()
        )
        execution_input = {"data": {"uri": f"s3://{outputs['bucketName']}/{key}"}}
    elif data == "source":
        execution_input = {"data": {"uri": DATA_SOURCE}}
    return start_and_wait(outputs, name, execution_input, timeout)


def _role_policies(region):
    """(role name, policy name, document) of every inline role policy in the emulator."""
    iam = boto3.client("iam", region_name=region)
    for role in iam.list_roles()["Roles"]:
        for policy in iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]:
            document = iam.get_role_policy(RoleName=role["RoleName"], PolicyName=policy)["PolicyDocument"]
            yield role["RoleName"], policy, document if isinstance(document, dict) else json.loads(document)


# -- the evaluator ----------------------------------------------------------------------------------


def _allows(statement, action="s3:GetObject", resource="arn:aws:s3:::b/runs/x", context=None):
    return statement_applies({"Effect": "Allow", **statement}, action, resource, context or {})


def test_statement_matching_follows_iam_rules():
    assert _allows({"Action": "S3:getobject", "Resource": "arn:aws:s3:::b/runs/*"})  # actions ignore case
    assert not _allows({"Action": "s3:GetObject", "Resource": "arn:aws:s3:::B/runs/*"})  # resources do not
    assert not _allows(
        {"Action": "s3:GetObject", "Resource": "arn:aws:s3:::b.runs/*"}, resource="arn:aws:s3:::bxruns/x"
    )  # "." is literal
    assert _allows({"Action": "s3:Get?bject", "Resource": "*"})
    assert not _allows({"NotAction": "s3:Get*", "Resource": "*"})
    assert not _allows({"Action": "s3:*", "NotResource": "arn:aws:s3:::b/runs/*"})
    condition = {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    assert not _allows({"Action": "iam:PassRole", "Resource": "*", "Condition": condition}, "iam:PassRole")
    assert _allows(
        {"Action": "iam:PassRole", "Resource": "*", "Condition": condition},
        "iam:PassRole",
        context={"iam:PassedToService": "sagemaker.amazonaws.com"},
    )
    prefix = {"StringLike": {"s3:prefix": ["runs/*"]}}
    assert _allows(
        {"Action": "s3:ListBucket", "Resource": "*", "Condition": prefix},
        "s3:ListBucket",
        context={"s3:prefix": "runs/x/"},
    )
    assert not _allows(
        {"Action": "s3:ListBucket", "Resource": "*", "Condition": prefix},
        "s3:ListBucket",
        context={"s3:prefix": "other/"},
    )
    assert not _allows(
        {"Action": "s3:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        context={"aws:SecureTransport": "true"},
    )
    with pytest.raises(UnsupportedPolicy, match="NumericLessThan"):
        _allows(
            {"Action": "s3:*", "Resource": "*", "Condition": {"NumericLessThan": {"s3:max-keys": "10"}}},
            context={"s3:max-keys": "5"},
        )


def test_explicit_deny_wins_and_the_bucket_policy_applies():
    region = "us-west-2"
    with mock_aws():
        iam = boto3.client("iam", region_name=region)
        s3 = boto3.client("s3", region_name=region)
        trust = json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        )
        role = iam.create_role(RoleName="r", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
        iam.put_role_policy(
            RoleName="r",
            PolicyName="p",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Sid": "All", "Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                        {
                            "Sid": "NotSecret",
                            "Effect": "Deny",
                            "Action": "s3:GetObject",
                            "Resource": "arn:aws:s3:::bkt/secret/*",
                        },
                    ],
                }
            ),
        )
        s3.create_bucket(Bucket="bkt", CreateBucketConfiguration={"LocationConstraint": region})
        s3.put_bucket_policy(
            Bucket="bkt",
            Policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "NoDeletes",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:DeleteObject",
                            "Resource": "arn:aws:s3:::bkt/*",
                        }
                    ],
                }
            ),
        )
        access = AccessControl(region)
        principal = access.principal(role, "SageMaker")
        assert access.authorize(principal, "s3:GetObject", "arn:aws:s3:::bkt/runs/x").statement == ("p", "All")
        with pytest.raises(AccessDenied, match="with an explicit deny in an identity-based policy"):
            access.authorize(principal, "s3:GetObject", "arn:aws:s3:::bkt/secret/x")
        with pytest.raises(AccessDenied, match="with an explicit deny in a resource-based policy"):
            access.authorize(principal, "s3:DeleteObject", "arn:aws:s3:::bkt/runs/x")
        with pytest.raises(AccessDenied, match="because no identity-based policy allows the sagemaker:CreateModel"):
            access.authorize(principal, "sagemaker:CreateModel", "arn:aws:sagemaker:us-west-2:123456789012:model/m")
        report = access.report()[role]
        assert [(c["action"], c["allowed"]) for c in report["calls"]] == [
            ("s3:GetObject", True),
            ("s3:GetObject", False),
            ("s3:DeleteObject", False),
            ("sagemaker:CreateModel", False),
        ]


def test_a_generated_run_reports_why_the_data_statements_went_unused():
    """A plain run reads no user data: the seeding role's read statements are unused, with the reason."""
    with local_stack(load_stack_settings("dev")) as outputs:
        assert _execute(outputs)["status"] == "SUCCEEDED"
        report = outputs.iam_report()
    statements = {s["statement"]: s for entry in report.values() for s in entry["statements"]}
    uploads = statements["ReadRunUploads"]
    assert not uploads["required"] and uploads["calls"] == 0
    assert uploads["reason"] == "only runs with a file of their own (run.py --data FILE) read an upload"


# -- the rehearsal (one stack for the module: these tests come after the ones above, which
#    host their own emulator) -----------------------------------------------------------------


@pytest.fixture(scope="module")
def stack():
    with deployed_with(dataSources=[DATA_SOURCE]) as outputs:
        s3 = boto3.client("s3", region_name=outputs["region"])
        s3.create_bucket(Bucket=DATA_BUCKET, CreateBucketConfiguration={"LocationConstraint": outputs["region"]})
        s3.put_object(Bucket=DATA_BUCKET, Key="datasets/part-1.csv", Body=CSV.encode())
        s3.put_object(Bucket=DATA_BUCKET, Key="datasets/part-2.csv", Body=CSV.encode())
        s3.put_object(Bucket=DATA_BUCKET, Key="private/secret.csv", Body=CSV.encode())
        for data in (None, "upload", "source"):
            described = _execute(outputs, data=data)
            assert described["status"] == "SUCCEEDED", (data, described.get("cause"))
        yield outputs, outputs.iam_report()


def test_the_deployed_policies_together_allow_every_call(stack):
    outputs, report = stack
    assert len(report) == 5  # the validation, seeding, evaluation, SageMaker and state machine roles all acted
    for role, entry in report.items():
        refused = [call for call in entry["calls"] if not call["allowed"]]
        assert refused == [], (role, refused)
        assert all(call["statement"] for call in entry["calls"])
    calls = {call["action"] for entry in report.values() for call in entry["calls"]}
    assert {
        "s3:PutObject",
        "s3:GetObject",
        "s3:ListBucket",
        "lambda:InvokeFunction",
        "sagemaker:CreateTrainingJob",
        "sagemaker:CreateModel",
        "sagemaker:CreateTransformJob",
        "iam:PassRole",
        "events:PutRule",
        "ecr:BatchGetImage",
        "sagemaker:CreateModelPackage",
    } <= calls


def test_every_allow_statement_is_needed_or_reported_with_a_reason(stack):
    outputs, report = stack
    entries = {(s["policy"], s["statement"]): s for entry in report.values() for s in entry["statements"]}
    iam = boto3.client("iam", region_name=outputs["region"])
    problems = []
    # A refusal is retried like any AWS API error (Lambda.AWSLambdaException, 5 attempts, each
    # invoking the function again): without the definition's Retry blocks each run fails at
    # once, with the same cause.
    sfn = boto3.client("stepfunctions", region_name=outputs["region"])
    definition = sfn.describe_state_machine(stateMachineArn=outputs["stateMachineArn"])["definition"]
    no_retries = json.loads(definition)
    for state in no_retries["States"].values():
        state.pop("Retry", None)
    sfn.update_state_machine(stateMachineArn=outputs["stateMachineArn"], definition=json.dumps(no_retries))
    try:
        _remove_each_statement(outputs, entries, iam, problems)
    finally:
        sfn.update_state_machine(stateMachineArn=outputs["stateMachineArn"], definition=definition)
    removed = sum(1 for entry in entries.values() if entry["required"])
    assert removed >= 10  # each role has statements the pipeline needs
    assert problems == []
    # Among them the statements least privilege by function added; the validation role's only
    # statement (its logs) went through the loop above as unused, with its reason.
    required = {sid for (_, sid), entry in entries.items() if entry["required"]}
    assert {
        "InvokeValidationFunction",
        "InvokeSeedFunction",
        "ListRunPrefixes",
        "InvokeEvaluationFunction",
        "RegisterModelPackage",
        "TagModelPackageAtCreation",
        "ReadLabelsAndPredictions",
        "WriteEvaluation",
    } <= required
    validation = report[_function_role(outputs, "Validate input")]
    assert [(s["statement"], s["required"]) for s in validation["statements"]] == [("WriteOwnLogs", False)]


def _function_role(outputs, state: str) -> str:
    """The execution role of the function a state of the deployed definition invokes."""
    sfn = boto3.client("stepfunctions", region_name=outputs["region"])
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=outputs["stateMachineArn"])["definition"])
    function = definition["States"][state]["Resource"]
    return boto3.client("lambda", region_name=outputs["region"]).get_function(FunctionName=function)["Configuration"][
        "Role"
    ]


def test_the_validation_role_makes_no_call_and_the_seeding_role_writes(stack):
    """The report of one execution: the function that parses the input called nothing at all."""
    outputs, _ = stack
    described = _execute(outputs)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    report = outputs.iam_report(described["executionArn"])
    assert report[_function_role(outputs, "Validate input")]["calls"] == []
    seeding = {call["action"] for call in report[_function_role(outputs, "Generate dataset")]["calls"]}
    assert seeding == {"s3:ListBucket", "s3:PutObject"}


def _remove_each_statement(outputs, entries, iam, problems):
    for role, policy, document in list(_role_policies(outputs["region"])):
        for index, statement in enumerate(document["Statement"]):
            if statement["Effect"] != "Allow":
                continue
            sid = statement.get("Sid") or f"#{index}"
            entry = entries[(policy, sid)]
            if not entry["required"]:
                if not entry.get("reason"):
                    problems.append(f"{policy}/{sid}: unused and no reason given")
                continue
            narrowed = dict(document, Statement=[s for s in document["Statement"] if s is not statement])
            iam.put_role_policy(RoleName=role, PolicyName=policy, PolicyDocument=json.dumps(narrowed))
            try:
                # The statement is needed if any kind of run fails without it.
                for data in (None, "upload", "source"):
                    described = _execute(outputs, data=data)
                    if described["status"] != "SUCCEEDED":
                        break
            finally:
                iam.put_role_policy(RoleName=role, PolicyName=policy, PolicyDocument=json.dumps(document))
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            cause = described.get("cause") or ""
            if described["status"] != "FAILED":
                problems.append(f"{policy}/{sid}: still {described['status']} without it")
            elif not any(f"is not authorized to perform: {action} on resource: " in cause for action in actions):
                problems.append(f"{policy}/{sid}: failed, but the cause names none of {actions}: {cause[:300]}")
            elif actions == ["lambda:InvokeFunction"] and described["error"] != "Lambda.AWSLambdaException":
                problems.append(
                    f"{policy}/{sid}: Step Functions names a refused invoke "
                    f"Lambda.AWSLambdaException, not {described['error']}"
                )


def _function_with_the_seeding_role(outputs, name: str, handler_source: str):
    """Deploy `handler_source` as `<name>.handler` under the seeding function's role; an invoker."""
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr(f"{name}.py", handler_source)
    awslambda = boto3.client("lambda", region_name=outputs["region"])
    function = awslambda.get_function(FunctionName=outputs["seedFunctionName"])["Configuration"]
    awslambda.create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=function["Role"],
        Handler=f"{name}.handler",
        Code={"ZipFile": package.getvalue()},
    )

    def invoke(**event):
        response = awslambda.invoke(FunctionName=name, Payload=json.dumps({"bucket": outputs["bucketName"], **event}))
        return json.loads(response["Payload"].read())

    return invoke


def test_the_seeding_function_writes_as_its_role(stack):
    """Code deployed to the function acts with the function role's credentials, not the operator's."""
    outputs, _ = stack
    invoke = _function_with_the_seeding_role(
        outputs,
        "probe",
        (
            "import boto3\n"
            "def handler(event, context):\n"
            "    s3 = boto3.client('s3')\n"
            "    s3.put_object(Bucket=event['bucket'], Key=event['key'], Body=b'x', IfNoneMatch='*')\n"
            "    return 'written'\n"
        ),
    )
    assert invoke(key="runs/probe/csv/train/ok.txt") == "written"
    refused = invoke(key="elsewhere/no.txt")
    assert "AccessDenied" in refused["errorMessage"]
    assert (
        "is not authorized to perform: s3:PutObject on resource: "
        f'"arn:aws:s3:::{outputs["bucketName"]}/elsewhere/no.txt"' in refused["errorMessage"]
    )


@pytest.mark.parametrize(
    "call, key, action",
    [
        ("put", "runs/{run}/model/{run}/output/model.tar.gz", "s3:PutObject"),
        ("put", "runs/{run}/predictions/test.csv.out", "s3:PutObject"),
        ("put", "runs/{run}/upload/data.csv", "s3:PutObject"),
        ("delete", "runs/{run}/model/{run}/output/model.tar.gz", "s3:DeleteObject"),
        ("delete", "runs/{run}/checkpoints/xgboost-checkpoint.5", "s3:DeleteObject"),
        ("list", "runs/", "s3:ListBucket"),
        ("list", "runs/xgb", "s3:ListBucket"),
    ],
)
def test_the_seeding_role_touches_only_what_the_function_writes_and_deletes(stack, call, key, action):
    """Its writes are a run's csv/ objects, its deletes those and a run's upload, its listing one
    run's prefix: a model, predictions, checkpoints or an upload are not its to write or delete,
    and it cannot list runs/ to find the runs (finding F5)."""
    outputs, _ = stack
    invoke = _function_with_the_seeding_role(
        outputs,
        f"scope{next(_names)}",
        (
            "import boto3\n"
            "def handler(event, context):\n"
            "    s3 = boto3.client('s3')\n"
            "    if event['call'] == 'put':\n"
            "        s3.put_object(Bucket=event['bucket'], Key=event['key'], Body=b'x')\n"
            "    elif event['call'] == 'delete':\n"
            "        s3.delete_object(Bucket=event['bucket'], Key=event['key'])\n"
            "    else:\n"
            "        s3.list_objects_v2(Bucket=event['bucket'], Prefix=event['key'], Delimiter='/')\n"
            "    return 'done'\n"
        ),
    )
    run = f"{outputs['jobNamePrefix']}--victim-scope"
    s3 = boto3.client("s3", region_name=outputs["region"])
    key = key.format(run=run)
    if call == "delete":
        s3.put_object(Bucket=outputs["bucketName"], Key=key, Body=b"kept")
    refused = invoke(call=call, key=key)
    assert refused != "done" and f"is not authorized to perform: {action}" in refused["errorMessage"], refused
    if call == "delete":
        assert s3.get_object(Bucket=outputs["bucketName"], Key=key)["Body"].read() == b"kept"


@pytest.mark.parametrize(
    "how, written",
    [("put", False), ("put-if-none-match", True), ("multipart", False), ("multipart-if-none-match", True)],
)
def test_s3_refuses_the_seeding_roles_unconditional_writes_of_run_data(stack, how, written):
    """Write-once on the server (the bucket policy's SeedingWritesOnce): PutObject and
    CompleteMultipartUpload need If-None-Match; CreateMultipartUpload and UploadPart take no
    such header and pass (s3:ObjectCreationOperation false)."""
    outputs, _ = stack
    invoke = _function_with_the_seeding_role(
        outputs,
        f"writer{next(_names)}",
        (
            "import boto3\n"
            "def handler(event, context):\n"
            "    s3, how = boto3.client('s3'), event['how']\n"
            "    target = dict(Bucket=event['bucket'], Key=event['key'])\n"
            "    condition = {'IfNoneMatch': '*'} if how.endswith('if-none-match') else {}\n"
            "    if how.startswith('put'):\n"
            "        s3.put_object(**target, Body=b'x', **condition)\n"
            "    else:\n"
            "        upload = s3.create_multipart_upload(**target)['UploadId']\n"
            "        etag = s3.upload_part(**target, UploadId=upload, PartNumber=1, Body=b'x')['ETag']\n"
            "        s3.complete_multipart_upload(**target, UploadId=upload, **condition,\n"
            "            MultipartUpload={'Parts': [{'PartNumber': 1, 'ETag': etag}]})\n"
            "    return 'written'\n"
        ),
    )
    key = f"runs/{outputs['jobNamePrefix']}--write-once-{how}/csv/train/part-00000.csv"
    result = invoke(how=how, key=key)
    if written:
        assert result == "written", result
    else:
        assert "is not authorized to perform: s3:PutObject" in result["errorMessage"], result
        assert "explicit deny in a resource-based policy" in result["errorMessage"], result


def test_delete_objects_is_checked_on_each_key_as_aws_does(stack):
    """The seeding function cleans up with DeleteObjects: AWS checks s3:DeleteObject per object."""
    outputs, _ = stack
    invoke = _function_with_the_seeding_role(
        outputs,
        "deleter",
        (
            "import boto3\n"
            "def handler(event, context):\n"
            "    return boto3.client('s3').delete_objects(Bucket=event['bucket'], Delete={\n"
            "        'Objects': [{'Key': key} for key in event['keys']]})['Deleted']\n"
        ),
    )
    s3 = boto3.client("s3", region_name=outputs["region"])
    for key in ("runs/cleanup/csv/a.csv", "runs/cleanup/upload/b.csv", "elsewhere/c.csv"):
        s3.put_object(Bucket=outputs["bucketName"], Key=key, Body=b"x")

    assert [item["Key"] for item in invoke(keys=["runs/cleanup/csv/a.csv", "runs/cleanup/upload/b.csv"])] == [
        "runs/cleanup/csv/a.csv",
        "runs/cleanup/upload/b.csv",
    ]
    refused = invoke(keys=["runs/cleanup/csv/x.csv", "elsewhere/c.csv"])
    assert (
        "is not authorized to perform: s3:DeleteObject on resource: "
        f'"arn:aws:s3:::{outputs["bucketName"]}/elsewhere/c.csv"' in refused["errorMessage"]
    )


def test_the_seeding_function_reads_the_data_sources_and_nothing_else(stack):
    """Its role reads under dataSources (objects; listings with s3:prefix inside) and run uploads only."""
    outputs, _ = stack
    invoke = _function_with_the_seeding_role(
        outputs,
        "reader",
        (
            "import boto3\n"
            "def handler(event, context):\n"
            "    s3 = boto3.client('s3')\n"
            "    try:\n"
            "        if event.get('key') is None:\n"
            "            return [o['Key'] for o in s3.list_objects_v2(Bucket=event['data_bucket'],\n"
            "                    Prefix=event['prefix']).get('Contents', [])]\n"
            "        return s3.get_object(Bucket=event['data_bucket'], Key=event['key'])['Body'].read().decode()[:5]\n"
            "    except Exception as error:\n"
            "        return str(error)\n"
        ),
    )
    assert invoke(data_bucket=DATA_BUCKET, key="datasets/part-1.csv") == "x,y,l"
    assert invoke(data_bucket=DATA_BUCKET, prefix="datasets/") == ["datasets/part-1.csv", "datasets/part-2.csv"]
    refused_get = invoke(data_bucket=DATA_BUCKET, key="private/secret.csv")
    assert (
        f'is not authorized to perform: s3:GetObject on resource: "arn:aws:s3:::{DATA_BUCKET}/private/secret.csv"'
        in refused_get
    )
    assert "s3:ListBucket" in invoke(data_bucket=DATA_BUCKET, prefix="private/")
    assert "s3:ListBucket" in invoke(data_bucket=DATA_BUCKET, prefix="")
    s3 = boto3.client("s3", region_name=outputs["region"])
    s3.put_object(Bucket=outputs["bucketName"], Key="runs/x/csv/train/part-00000.csv", Body=b"1,2")
    assert "s3:GetObject" in invoke(data_bucket=outputs["bucketName"], key="runs/x/csv/train/part-00000.csv")


def test_the_report_is_written_as_json(stack, tmp_path):
    outputs, report = stack
    outputs.write_iam_report(tmp_path / "iam.json")
    written = json.loads((tmp_path / "iam.json").read_text())
    assert written.keys() == report.keys()
    for entry in written.values():
        for statement in entry["statements"]:
            assert statement["required"] or statement["reason"]


def test_sagemaker_must_be_able_to_assume_the_role_it_is_given(stack):
    """The trust policy counts too: SageMaker assumes the role with aws:SourceAccount set to the caller's."""
    outputs, _ = stack
    iam = boto3.client("iam", region_name=outputs["region"])
    role_name = outputs["sageMakerRoleArn"].rsplit("/", 1)[-1]
    trust = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    trust = trust if isinstance(trust, dict) else json.loads(trust)
    foreign = json.loads(json.dumps(trust).replace(outputs["sageMakerRoleArn"].split(":")[4], "999999999999"))
    assert foreign != trust  # the trust policy is scoped to this account
    iam.update_assume_role_policy(RoleName=role_name, PolicyDocument=json.dumps(foreign))
    try:
        described = _execute(outputs)
    finally:
        iam.update_assume_role_policy(RoleName=role_name, PolicyDocument=json.dumps(trust))
    assert described["status"] == "FAILED"
    assert described["error"] == "SageMaker.AmazonSageMakerException"
    assert f"Could not assume role {outputs['sageMakerRoleArn']}" in described["cause"]
