"""`run.py serve`: the rehearsal as a local AWS endpoint, driven over HTTP by real clients.

One server (a `run.py serve` subprocess on a free port) is shared by the module; the last test
ends it with SIGTERM and checks that nothing it started is left.
"""

import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from components import PROJECT_DIR

AWS_CLI = Path(sys.executable).parent / "aws"


def _children(pid: int) -> set[int]:
    """Every live descendant of `pid` (from /proc)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


class Endpoint:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.outputs_file = tmp / "outputs.json"
        # TMPDIR without XDG_RUNTIME_DIR: the endpoint's record (for run.py --local) stays inside
        # this test's folder.
        base = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("AWS_") and key not in ("RUN_PY_NO_ENDPOINT", "XDG_RUNTIME_DIR")
        }
        self.server_env = {**base, "TMPDIR": str(tmp)}
        self.log = (tmp / "serve.out").open("w"), (tmp / "serve.err").open("w")
        self.process = subprocess.Popen(
            [sys.executable, "run.py", "serve", "--port", "0", "--outputs-file", str(self.outputs_file)],
            cwd=PROJECT_DIR,
            env=self.server_env,
            stdout=self.log[0],
            stderr=self.log[1],
            text=True,
        )
        deadline = time.monotonic() + 120
        while not self.outputs_file.exists():
            assert self.process.poll() is None, (tmp / "serve.err").read_text()
            assert time.monotonic() < deadline, "the endpoint did not come up in 120 s"
            time.sleep(0.1)
        self.outputs = json.loads(self.outputs_file.read_text())
        self.url = self.outputs["localEndpoint"]
        self.key = self.outputs["localEndpointCredentials"]
        # What serve prints for a client: `export AWS_ENDPOINT_URL=... AWS_SHARED_CREDENTIALS_FILE=... ...`
        printed = next(
            line
            for line in (tmp / "serve.out").read_text().splitlines()
            if line.strip().startswith("export AWS_ENDPOINT_URL=")
        )
        self.client_env = {**self.server_env, **dict(word.split("=", 1) for word in printed.split()[1:])}

    def client(self, service: str):
        return boto3.session.Session().client(
            service,
            region_name=self.outputs["region"],
            endpoint_url=self.url,
            aws_access_key_id=self.key["accessKeyId"],
            aws_secret_access_key=self.key["secretAccessKey"],
        )

    def signed_get(self, path: str) -> dict:
        from runner.endpoint import EndpointKey, signed_get

        status, _, body = signed_get(f"{self.url}{path}", EndpointKey.from_dict(self.key), timeout=30)
        assert status == 200, body
        return json.loads(body)

    def run_py(self, *argv, env=None, timeout=180):
        return subprocess.run(
            [sys.executable, "run.py", *argv],
            cwd=PROJECT_DIR,
            env=env or self.server_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def close(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for handle in self.log:
            handle.close()


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    served = Endpoint(tmp_path_factory.mktemp("endpoint"))
    try:
        yield served
    finally:
        served.close()


def wait_for(sfn, arn: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            return described
        time.sleep(0.1)


def test_the_outputs_file_is_what_pulumi_stack_output_json_prints_plus_the_endpoint(endpoint):
    outputs = endpoint.outputs
    for key in ("bucketName", "stateMachineArn", "stateMachineName", "region", "jobNamePrefix", "runDefaults"):
        assert outputs[key]
    assert endpoint.url.startswith("http://127.0.0.1:")
    assert outputs["consoleUrl"] == f"local endpoint {endpoint.url} (run.py serve): no AWS console"
    printed = (endpoint.tmp / "serve.out").read_text()
    credentials = Path(endpoint.client_env["AWS_SHARED_CREDENTIALS_FILE"])
    assert (
        f"export AWS_ENDPOINT_URL={endpoint.url} AWS_SHARED_CREDENTIALS_FILE={credentials} "
        f"AWS_PROFILE=run-py-serve AWS_DEFAULT_REGION={outputs['region']}" in printed
    )
    assert f"aws stepfunctions start-execution --state-machine-arn {outputs['stateMachineArn']}" in printed
    # The key: a fresh one, readable by the user only, in the outputs file and the credentials file.
    assert outputs["localEndpointCredentials"]["accessKeyId"].startswith("AKIA")
    assert outputs["localEndpointCredentials"]["secretAccessKey"] in credentials.read_text()
    for path in (endpoint.outputs_file, credentials):
        assert path.stat().st_mode & 0o777 == 0o600


def test_the_aws_cli_starts_an_execution_and_run_py_follows_and_saves_it(endpoint, tmp_path):
    name = f"{endpoint.outputs['jobNamePrefix']}--by-hand-1"
    started = subprocess.run(
        [
            str(AWS_CLI),
            "stepfunctions",
            "start-execution",
            "--state-machine-arn",
            endpoint.outputs["stateMachineArn"],
            "--name",
            name,
            "--input",
            '{"rows": 1000}',
        ],
        env=endpoint.client_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode == 0, started.stderr
    arn = json.loads(started.stdout)["executionArn"]
    described = subprocess.run(
        [str(AWS_CLI), "stepfunctions", "describe-execution", "--execution-arn", arn],
        env=endpoint.client_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert json.loads(described.stdout)["name"] == name

    followed = endpoint.run_py(
        "follow", arn, "--outputs-file", str(endpoint.outputs_file), "--json", "--runs-dir", str(tmp_path)
    )
    assert followed.returncode == 0, followed.stderr
    summary = json.loads(followed.stdout)
    assert summary["status"] == "SUCCEEDED" and summary["rows"]["train"] == 1000
    assert summary["where"]["local"] is True and endpoint.url in summary["where"]["emulator"]
    assert summary["metrics"]["auc"] > 0.5
    report = json.loads(Path(summary["iam_report"]).read_text())
    calls = [call for role in report.values() for call in role["calls"]]
    assert calls and all(call["allowed"] for call in calls)
    # Only this execution's calls: its job and its objects, no other run's.
    named = [call["resource"] for call in calls if "--" in call["resource"]]
    assert named and all(name in resource for resource in named)


def test_a_boto3_script_and_run_py_list_and_stop(endpoint, tmp_path):
    sfn = endpoint.client("stepfunctions")
    prefix = endpoint.outputs["jobNamePrefix"]
    arn = sfn.start_execution(
        stateMachineArn=endpoint.outputs["stateMachineArn"],
        name=f"{prefix}--script-1",
        input=json.dumps({"rows": 500, "seed": 3}),
    )["executionArn"]
    assert wait_for(sfn, arn)["status"] == "SUCCEEDED"
    s3 = endpoint.client("s3")
    keys = [
        item["Key"]
        for item in s3.list_objects_v2(Bucket=endpoint.outputs["bucketName"], Prefix=f"runs/{prefix}--script-1/")[
            "Contents"
        ]
    ]
    assert any(key.endswith("predictions/test.csv.out") or "predictions" in key for key in keys)

    listed = endpoint.run_py("list", "--outputs-file", str(endpoint.outputs_file), "--json")
    assert listed.returncode == 0, listed.stderr
    assert f"{prefix}--script-1" in {row["name"] for row in json.loads(listed.stdout)["executions"]}

    # A big run is still training when `stop` comes.
    big = sfn.start_execution(
        stateMachineArn=endpoint.outputs["stateMachineArn"],
        name=f"{prefix}--script-big",
        input=json.dumps({"rows": 2_000_000, "hyperparameters": {"num_round": "200"}}),
    )
    stopped = endpoint.run_py("stop", "--outputs-file", str(endpoint.outputs_file), "--json")
    assert stopped.returncode == 0, stopped.stderr
    assert json.loads(stopped.stdout)["executions"] == [big["executionArn"]]
    assert wait_for(sfn, big["executionArn"])["status"] == "ABORTED"


def test_run_py_runs_through_its_aws_code_path_and_local_uses_the_running_endpoint(endpoint, tmp_path):
    ran = endpoint.run_py(
        "--outputs-file", str(endpoint.outputs_file), "--rows", "800", "--json", "--runs-dir", str(tmp_path)
    )
    assert ran.returncode == 0, ran.stderr
    assert f"(local endpoint {endpoint.url})" in ran.stderr
    assert json.loads(ran.stdout)["status"] == "SUCCEEDED"

    local = endpoint.run_py("--local", "--rows", "800", "--json", "--runs-dir", str(tmp_path))
    assert local.returncode == 0, local.stderr
    assert f"using the local endpoint run.py serve holds stack dev on, {endpoint.url}: no deployment" in local.stderr
    summary = json.loads(local.stdout)
    assert summary["status"] == "SUCCEEDED" and summary["where"]["stack"] == "dev"
    assert summary["where"]["stack_file"] == "Pulumi.dev.yaml"


def test_the_record_of_one_stack_is_never_used_for_another(endpoint, monkeypatch):
    from runner import endpoint as records

    monkeypatch.setenv("TMPDIR", str(endpoint.tmp))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.delenv("RUN_PY_NO_ENDPOINT", raising=False)
    monkeypatch.setattr(records.tempfile, "tempdir", None)  # gettempdir() reads TMPDIR again
    assert records.served_stack("dev")["localEndpoint"] == endpoint.url
    # A record for another stack that points at this endpoint: the endpoint says it serves dev.
    record = records.records_dir() / f"{records.record_name('prod')}.json"
    records.write_private(
        record,
        json.dumps(
            {
                "endpoint": endpoint.url,
                "pid": endpoint.process.pid,
                "stack": "prod",
                "localEndpointCredentials": endpoint.key,
            }
        ),
    )
    try:
        assert records.served_stack("prod") is None
    finally:
        record.unlink()
    # The program changed since the endpoint deployed it: not used either.
    monkeypatch.setattr(records, "stack_digest", lambda stack: "another program")
    assert records.served_stack("dev") is None


def test_twenty_executions_from_several_clients_at_once_all_succeed_each_in_its_own_prefix(endpoint):
    prefix, machine = endpoint.outputs["jobNamePrefix"], endpoint.outputs["stateMachineArn"]
    names = [f"{prefix}--many-{index:02d}" for index in range(20)]
    clients = [endpoint.client("stepfunctions") for _ in range(4)]

    def start(index: int) -> str:
        return clients[index % 4].start_execution(
            stateMachineArn=machine, name=names[index], input=json.dumps({"rows": 200, "seed": index})
        )["executionArn"]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        arns = list(pool.map(start, range(20)))
    statuses = [wait_for(clients[0], arn, timeout=300)["status"] for arn in arns]
    assert statuses == ["SUCCEEDED"] * 20

    s3 = endpoint.client("s3")
    for name in names:
        keys = [
            item["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(
                Bucket=endpoint.outputs["bucketName"], Prefix=f"runs/{name}/"
            )
            for item in page.get("Contents", [])
        ]
        assert keys and all(key.startswith(f"runs/{name}/") for key in keys)
        layout = sorted(key.removeprefix(f"runs/{name}/").replace(name, "NAME") for key in keys)
        if name == names[0]:
            expected = layout
        assert layout == expected  # nothing lost, nothing extra
    for arn, name in zip(arns, names):
        report = endpoint.signed_get(f"/_rehearsal/iam-report?execution={arn}")
        named = [
            call["resource"] for role in report.values() for call in role["calls"] if "--many-" in call["resource"]
        ]
        assert named and all(name in resource for resource in named), name
        invokes = Counter(
            call["action"] for role in report.values() for call in role["calls"] for _ in range(call["count"])
        )
        assert invokes["lambda:InvokeFunction"] >= 1 and invokes["sagemaker:CreateTrainingJob"] == 1


def test_a_second_serve_for_the_same_stack_is_refused_and_the_first_keeps_its_record(endpoint):
    record = next((endpoint.tmp / f"run.py-serve-{os.getuid()}").glob("*.json"))
    before = record.read_text()
    second = subprocess.run(
        [sys.executable, "run.py", "serve", "--port", "0", "--outputs-file", str(endpoint.tmp / "second.json")],
        cwd=PROJECT_DIR,
        env=endpoint.server_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 2
    assert second.stderr.strip().splitlines()[-1] == (
        f"run.py: error: stack dev of this checkout is already served by run.py serve on {endpoint.url} "
        f"(pid {endpoint.process.pid}): use that one, or stop it first"
    )
    assert "deploying" not in second.stderr and not (endpoint.tmp / "second.json").exists()
    assert record.read_text() == before and endpoint.process.poll() is None
    assert (
        endpoint.client("stepfunctions").describe_state_machine(stateMachineArn=endpoint.outputs["stateMachineArn"])[
            "status"
        ]
        == "ACTIVE"
    )


def test_requests_are_not_logged_without_verbose(endpoint):
    """Every test above sent requests; serve printed none of them (only --verbose does)."""
    logged = (endpoint.tmp / "serve.err").read_text()
    assert "HTTP/1.1" not in logged and "POST /" not in logged and "GET /" not in logged


def test_run_py_models_and_approve_work_over_http_and_only_the_approval_may_change(endpoint):
    """The registry commands through the serve's allowed calls: ListModelPackages and
    DescribeModelPackage (models), UpdateModelPackage with the approval fields only (approve)."""
    sfn, sagemaker = endpoint.client("stepfunctions"), endpoint.client("sagemaker")
    name = f"{endpoint.outputs['jobNamePrefix']}--registry-1"
    arn = sfn.start_execution(
        stateMachineArn=endpoint.outputs["stateMachineArn"], name=name, input=json.dumps({"rows": 500, "seed": 4})
    )["executionArn"]
    assert wait_for(sfn, arn)["status"] == "SUCCEEDED"
    outputs = ("--outputs-file", str(endpoint.outputs_file))

    listed = endpoint.run_py("models", *outputs, "--max", "1000", "--json")
    assert listed.returncode == 0, listed.stderr
    [model] = [row for row in json.loads(listed.stdout)["models"] if row["execution"] == name]
    assert model["status"] == "PendingManualApproval" and model["metrics"]["auc"] > 0.9

    approved = endpoint.run_py("approve", str(model["version"]), "--note", "checked by hand", *outputs)
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.strip().endswith(f"version {model['version']}: Approved")
    described = sagemaker.describe_model_package(ModelPackageName=model["arn"])
    assert described["ModelApprovalStatus"] == "Approved" and described["ApprovalDescription"] == "checked by hand"
    assert described["CustomerMetadataProperties"]["execution"] == name  # the run's record kept
    listed = endpoint.run_py("models", *outputs, "--max", "1000", "--json")
    statuses = {row["version"]: row["status"] for row in json.loads(listed.stdout)["models"]}
    assert statuses[model["version"]] == "Approved"

    # Nothing else about a version changes over HTTP, and no version goes.
    allowed = "ApprovalDescription, ModelApprovalStatus, ModelPackageArn only"
    with pytest.raises(ClientError, match=f"AccessDenied.*{allowed} .* not CustomerMetadataProperties"):
        sagemaker.update_model_package(ModelPackageArn=model["arn"], CustomerMetadataProperties={"execution": "other"})
    with pytest.raises(ClientError, match="does not take sagemaker DeleteModelPackage"):
        sagemaker.delete_model_package(ModelPackageName=model["arn"])
    kept = sagemaker.describe_model_package(ModelPackageName=model["arn"])["CustomerMetadataProperties"]
    assert kept["execution"] == name


def test_sigterm_stops_serving_and_ends_everything_it_started(endpoint):
    """Last in the module: it ends the shared server."""
    sfn = endpoint.client("stepfunctions")
    sfn.start_execution(
        stateMachineArn=endpoint.outputs["stateMachineArn"],
        name=f"{endpoint.outputs['jobNamePrefix']}--at-shutdown",
        input=json.dumps({"rows": 2_000_000, "hyperparameters": {"num_round": "200"}}),
    )
    time.sleep(1.0)
    descendants = _children(endpoint.process.pid)
    endpoint.process.send_signal(signal.SIGTERM)
    assert endpoint.process.wait(60) == 0
    assert "run.py serve: stopping" in (endpoint.tmp / "serve.err").read_text()
    assert not endpoint.outputs_file.exists()
    assert not list((endpoint.tmp / f"run.py-serve-{os.getuid()}").glob("*.json"))  # its record is gone
    assert not [pid for pid in descendants if Path(f"/proc/{pid}").exists()]


def test_a_port_in_use_is_refused_before_anything_is_deployed(tmp_path):
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "run.py", "serve", "--port", str(port), "--outputs-file", str(tmp_path / "outputs.json")],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "TMPDIR": str(tmp_path)},
        )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"run.py: error: port {port} on 127.0.0.1 is in use: pick another with --port N (0 picks a free one)"
    )
    assert "deploying" not in result.stderr and not (tmp_path / "outputs.json").exists()


def test_commands_that_do_not_serve_do_not_load_the_server():
    script = (
        "import sys; from runner.cli import parser; parser.build_parser(); "  # every command's module
        "print(sorted(name for name in sys.modules if name.split('.')[0] in ('flask', 'werkzeug', 'flask_cors')"
        " or name == 'runner.emulator.server'))"
    )
    loaded = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_DIR, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"
