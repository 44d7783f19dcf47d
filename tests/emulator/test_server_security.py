"""`run.py serve`'s trust boundaries (issue 25), attacked with real HTTP requests.

The endpoint here is the serve's own application (`server.endpoint_app`) on the shared dev
stack, served by the serve's HTTP server on a free port in this process: what the attacks try
to reach (the Lambda runtime, IAM's state, the process's modules) can be inspected directly.
The endpoint's record and the fake servers live in each test's own folder.
"""

import base64
import contextlib
import http.client
import http.server
import io
import json
import os
import select
import socket
import sys
import threading
import time
import zipfile

import boto3
import botocore.exceptions
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from runner import cli
from runner import endpoint as records
from runner.cli import stack
from runner.emulator import endpoint_guard, server
from runner.endpoint import EndpointKey, local_endpoint_url
from runner.errors import UsageError
from runner.outputs import StackOutputs

ONE_TRY = Config(retries={"total_max_attempts": 1}, connect_timeout=30, read_timeout=60)


class Served:
    def __init__(self, outputs, listening):
        self.outputs, self.key = outputs, EndpointKey.new()
        self.port = listening.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        shown = server.served_outputs(dict(outputs), self.url)
        self.app = server.endpoint_app(outputs, "dev", records.stack_digest("dev"), shown, self.port, self.key)

    def client(self, service: str, key: str | None = None, secret: str | None = None, token: str | None = None):
        return boto3.session.Session().client(
            service,
            region_name=self.outputs["region"],
            endpoint_url=self.url,
            config=ONE_TRY,
            aws_access_key_id=key or self.key.access_key_id,
            aws_secret_access_key=secret or self.key.secret_access_key,
            aws_session_token=token,
        )

    def raw(self, method: str, path: str, headers: dict, body: bytes = b"") -> tuple[int, dict, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    def signed_headers(
        self, method: str, path: str, service: str, headers: dict, body: bytes = b"", host: str | None = None
    ) -> dict:
        request = AWSRequest(
            method=method, url=f"http://{host or f'127.0.0.1:{self.port}'}{path}", headers=headers, data=body
        )
        SigV4Auth(
            Credentials(self.key.access_key_id, self.key.secret_access_key), service, self.outputs["region"]
        ).add_auth(request)
        return dict(request.headers.items()) | {"Host": host or f"127.0.0.1:{self.port}"}


@pytest.fixture
def served(shared_stack):
    listening = server.bind(0)
    with listening:
        endpoint = Served(shared_stack, listening)
        with server.http_server(endpoint.app, listening) as http:
            endpoint.http = http
            yield endpoint


def _error(call) -> dict:
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        call()
    return refused.value.response["Error"] | {"status": refused.value.response["ResponseMetadata"]["HTTPStatusCode"]}


# --- who gets in -----------------------------------------------------------------------------------


def test_only_requests_signed_with_the_serves_key_get_in(served):
    machine = served.outputs["stateMachineArn"]
    status, _, body = served.raw(
        "POST",
        "/",
        {"X-Amz-Target": "AWSStepFunctions.ListStateMachines", "Content-Type": "application/x-amz-json-1.0"},
        b"{}",
    )
    assert status == 403 and json.loads(body)["__type"] == "MissingAuthenticationToken"
    wrong_key = _error(lambda: served.client("stepfunctions", "AKIAAAAAAAAAAAAAAAAA", "x").list_state_machines())
    assert (wrong_key["Code"], wrong_key["status"]) == ("InvalidClientTokenId", 403)
    wrong_secret = _error(lambda: served.client("stepfunctions", secret="not-the-secret").list_state_machines())
    assert (wrong_secret["Code"], wrong_secret["status"]) == ("SignatureDoesNotMatch", 403)
    assert (
        _error(lambda: served.client("s3", "AKIAAAAAAAAAAAAAAAAA", "x").list_buckets())["Code"] == "InvalidAccessKeyId"
    )
    # The old dummy keys are no key at all now.
    assert _error(lambda: served.client("s3", "testing", "testing").list_buckets())["Code"] == "InvalidAccessKeyId"
    assert served.client("stepfunctions").describe_state_machine(stateMachineArn=machine)["stateMachineArn"] == machine


def test_a_role_s_own_credentials_are_checked_against_its_policies(served, shared_stack):
    role_arn = next(
        role["Arn"] for role in boto3.client("iam").list_roles()["Roles"] if "sagemaker" in role["RoleName"]
    )
    principal = shared_stack.access.principal(role_arn, "over-http")
    s3 = served.client("s3", principal.access_key, principal.secret_key, principal.session_token)
    bucket = served.outputs["bucketName"]
    assert s3.list_objects_v2(Bucket=bucket, Prefix="runs/")["ResponseMetadata"]["HTTPStatusCode"] == 200
    refused = _error(lambda: s3.list_objects_v2(Bucket=bucket, Prefix="elsewhere/"))
    assert refused["Code"] == "AccessDenied" and "is not authorized to perform: s3:ListBucket" in refused["Message"]
    stolen = served.client("s3", principal.access_key, principal.secret_key, "another-session-token")
    assert _error(lambda: stolen.list_objects_v2(Bucket=bucket, Prefix="runs/"))["Code"] == "InvalidAccessKeyId"


def test_an_execution_started_over_http_runs_each_role_under_its_policies(served):
    """The state machine's role without its SageMaker statement (edited in this process: over HTTP
    no client may change a policy): the training step is refused, and the report says so."""
    iam = boto3.client("iam")
    sfn = served.client("stepfunctions")
    role_name = sfn.describe_state_machine(stateMachineArn=served.outputs["stateMachineArn"])["roleArn"].rsplit("/", 1)[
        -1
    ]
    policies = {
        name: iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
        for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    }
    try:
        for name, document in policies.items():
            statements = [
                statement
                for statement in document["Statement"]
                if "sagemaker:CreateTrainingJob" not in json.dumps(statement["Action"])
            ]
            iam.put_role_policy(
                RoleName=role_name, PolicyName=name, PolicyDocument=json.dumps({**document, "Statement": statements})
            )
        arn = sfn.start_execution(
            stateMachineArn=served.outputs["stateMachineArn"],
            name=f"{served.outputs['jobNamePrefix']}--refused-http",
            input=json.dumps({"rows": 300}),
        )["executionArn"]
        deadline = time.monotonic() + 120
        while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        for name, document in policies.items():
            iam.put_role_policy(RoleName=role_name, PolicyName=name, PolicyDocument=json.dumps(document))
    assert described["status"] == "FAILED"
    status, _, body = records.signed_get(f"{served.url}/_rehearsal/iam-report?execution={arn}", served.key, 30)
    refused = [call["action"] for role in json.loads(body).values() for call in role["calls"] if not call["allowed"]]
    assert status == 200 and refused == ["sagemaker:CreateTrainingJob", "sagemaker:StopTrainingJob"]


# --- addressed how -----------------------------------------------------------------------------------


def test_a_request_addressed_to_another_host_is_refused_even_when_signed(served):
    """DNS rebinding: a page on rebind.example whose name now resolves to 127.0.0.1 sends its own Host."""
    body = b"{}"
    headers = {"X-Amz-Target": "AWSStepFunctions.ListStateMachines", "Content-Type": "application/x-amz-json-1.0"}
    status, _, answer = served.raw(
        "POST",
        "/",
        served.signed_headers("POST", "/", "states", headers, body, host=f"rebind.example:{served.port}"),
        body,
    )
    assert status == 403 and "answers requests addressed to 127.0.0.1:" in json.loads(answer)["message"]
    status, _, _ = served.raw("POST", "/", served.signed_headers("POST", "/", "states", headers, body), body)
    assert status == 200


def test_the_header_that_names_the_action_must_be_signed(served):
    """A request signed without X-Amz-Target, the target added after: refused, not served as that call."""
    body = b"{}"
    signed = served.signed_headers("POST", "/", "states", {"Content-Type": "application/x-amz-json-1.0"}, body)
    status, _, answer = served.raw("POST", "/", signed | {"X-Amz-Target": "AWSStepFunctions.ListStateMachines"}, body)
    assert status == 403 and json.loads(answer)["__type"] == "SignatureDoesNotMatch"


def test_no_response_carries_cors_headers_and_a_preflight_fails(served):
    origin = {"Origin": "http://page.example"}
    status, headers, _ = served.raw(
        "OPTIONS",
        f"/{served.outputs['bucketName']}/x",
        {
            **origin,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization,x-amz-target,content-type",
        },
    )
    assert status == 403 and not [name for name in headers if name.startswith("access-control-")]
    # Not even a bucket's own CORS rules answer a page (a key holder could set them).
    s3 = served.client("s3")
    bucket = served.outputs["bucketName"]
    s3.put_bucket_cors(
        Bucket=bucket,
        CORSConfiguration={
            "CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "PUT", "POST"], "AllowedHeaders": ["*"]}]
        },
    )
    try:
        path = f"/{bucket}?list-type=2"
        status, headers, _ = served.raw(
            "GET",
            path,
            served.signed_headers(
                "GET", path, "s3", {**origin, "X-Amz-Content-SHA256": records.hashlib.sha256(b"").hexdigest()}
            ),
        )
        assert status == 200 and not [name for name in headers if name.startswith("access-control-")]
    finally:
        s3.delete_bucket_cors(Bucket=bucket)


# --- which calls -------------------------------------------------------------------------------------


def _function_zip(marker) -> bytes:
    code = (
        f"import os, pathlib\npathlib.Path({str(marker)!r}).write_text(str(os.getpid()))\n"
        "def handler(event, context):\n    return os.getpid()\n"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("attack.py", code)
    return buffer.getvalue()


def test_no_client_gets_its_code_into_the_serve_process(served, tmp_path):
    marker = tmp_path / "imported"
    lam = served.client("lambda")
    role = next(role["Arn"] for role in boto3.client("iam").list_roles()["Roles"])
    created = _error(
        lambda: lam.create_function(
            FunctionName="attack",
            Runtime="python3.11",
            Role=role,
            Handler="attack.handler",
            Code={"ZipFile": _function_zip(marker)},
        )
    )
    assert (created["Code"], created["status"]) == ("AccessDeniedException", 403)
    assert "does not take lambda POST /2015-03-31/functions" in created["Message"]
    assert _error(lambda: lam.invoke(FunctionName="attack"))["Code"] in (
        "ResourceNotFoundException",
        "ResourceNotFound",
    )
    # The stack's own function keeps its code and its handler.
    seeding = next(function["FunctionName"] for function in lam.list_functions()["Functions"])
    for call in (
        lambda: lam.update_function_code(FunctionName=seeding, ZipFile=_function_zip(marker)),
        lambda: lam.update_function_configuration(FunctionName=seeding, Handler="attack.handler"),
        lambda: lam.publish_layer_version(LayerName="attack", Content={"ZipFile": _function_zip(marker)}),
    ):
        assert _error(call)["status"] == 403
    # Nor does any client change what the stack's roles may do, or what its state machine runs.
    iam, sfn = served.client("iam"), served.client("stepfunctions")
    role_name = role.rsplit("/", 1)[-1]
    for call in (
        lambda: iam.create_role(RoleName="attack", AssumeRolePolicyDocument="{}"),
        lambda: iam.put_role_policy(RoleName=role_name, PolicyName="attack", PolicyDocument="{}"),
        lambda: iam.attach_role_policy(RoleName=role_name, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess"),
        lambda: sfn.create_state_machine(name="attack", definition="{}", roleArn=role),
        lambda: sfn.update_state_machine(stateMachineArn=served.outputs["stateMachineArn"], definition="{}"),
        lambda: served.client("sagemaker").create_model(ModelName="attack", ExecutionRoleArn=role),
    ):
        assert _error(call)["status"] == 403
    # moto takes an `Action` parameter before the X-Amz-Target and the method and path: so does the guard.
    for method, path, service, headers, body in (
        ("GET", "/2015-03-31/functions?Action=CreateFunction", "lambda", {}, b""),
        (
            "POST",
            "/?Action=CreateStateMachine",
            "states",
            {"X-Amz-Target": "AWSStepFunctions.ListStateMachines", "Content-Type": "application/x-amz-json-1.0"},
            b"{}",
        ),
        (
            "POST",
            "/",
            "iam",
            {"Content-Type": "application/x-www-form-urlencoded"},
            b"Action=CreateRole&Action=ListRoles&RoleName=attack&AssumeRolePolicyDocument=%7B%7D",
        ),
    ):
        status, _, answer = served.raw(method, path, served.signed_headers(method, path, service, headers, body), body)
        assert status == 403 and b"does not take" in answer, answer
    assert not marker.exists()
    assert not [name for name in sys.modules if "attack" in name]
    assert "attack" not in boto3.client("iam").list_role_policies(RoleName=role_name)["PolicyNames"]


def test_a_path_under_rehearsal_does_not_skip_the_allowed_calls(served, tmp_path):
    """moto's Lambda takes an `Action` parameter whatever the path: `/_rehearsal/functions?Action=
    CreateFunction` created a function, which Invoke then imported into the serve process."""
    marker = tmp_path / "imported"
    role = next(role["Arn"] for role in boto3.client("iam").list_roles()["Roles"])
    body = json.dumps(
        {
            "FunctionName": "attack",
            "Runtime": "python3.11",
            "Role": role,
            "Handler": "attack.handler",
            "Code": {"ZipFile": base64.b64encode(_function_zip(marker)).decode()},
        }
    ).encode()
    for path in ("/_rehearsal/functions?Action=CreateFunction", "/_rehearsal/stack/../functions?Action=CreateFunction"):
        headers = served.signed_headers("POST", path, "lambda", {"Content-Type": "application/json"}, body)
        status, _, answer = served.raw("POST", path, headers, body)
        assert status == 403 and b"does not take lambda CreateFunction" in answer, answer
    functions = served.client("lambda").list_functions()["Functions"]
    assert "attack" not in [function["FunctionName"] for function in functions]
    assert not marker.exists() and not [name for name in sys.modules if "attack" in name]
    # The endpoint's own paths still answer.
    path = "/_rehearsal/stack?nonce=" + "ab" * 16
    status, headers, _ = served.raw("GET", path, served.signed_headers("GET", path, "rehearsal", {}))
    assert status == 200 and "x-rehearsal-proof" in headers


# --- how much ----------------------------------------------------------------------------------------


def test_idle_connections_are_closed_for_new_ones_and_a_normal_request_gets_through(shared_stack, monkeypatch):
    """At the bound, a new connection closes the one idle longest (a slowloris's among them)."""
    monkeypatch.setattr(server, "MAX_CONNECTIONS", 8)
    monkeypatch.setattr(server, "IDLE_SECONDS", 600)  # nothing closes by time during the test
    with server.bind(0) as listening:
        endpoint = Served(shared_stack, listening)
        with server.http_server(endpoint.app, listening):
            idle = [socket.create_connection(("127.0.0.1", endpoint.port)) for _ in range(8)]
            idle[0].sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # headers that never end
            try:
                arn = endpoint.outputs["stateMachineArn"]
                described = endpoint.client("stepfunctions").describe_state_machine(stateMachineArn=arn)
                assert described["stateMachineArn"] == arn
                closed, _, _ = select.select(idle, [], [], 30)
                assert closed and all(held.recv(1) == b"" for held in closed)
            finally:
                for held in idle:
                    held.close()


def test_when_every_connection_is_busy_a_new_one_gets_a_503_and_the_server_goes_on(shared_stack, monkeypatch):
    monkeypatch.setattr(server, "MAX_CONNECTIONS", 2)
    with server.bind(0) as listening:
        endpoint = Served(shared_stack, listening)
        path = f"/{endpoint.outputs['bucketName']}/slow"
        with server.http_server(endpoint.app, listening) as http:
            busy = []
            for _ in range(2):  # admitted uploads whose bodies are slow to come
                held = socket.create_connection(("127.0.0.1", endpoint.port))
                headers = endpoint.signed_headers(
                    "PUT", path, "s3", {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD", "Content-Length": "10"}
                )
                held.sendall(
                    (
                        f"PUT {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
                    ).encode()
                    + b"12345"
                )
                busy.append(held)
            try:
                deadline = time.monotonic() + 30
                while list(http._held.values()) != [None, None]:  # both past their headers
                    assert time.monotonic() < deadline
                    time.sleep(0.01)
                with socket.create_connection(("127.0.0.1", endpoint.port)) as third:
                    third.settimeout(30)
                    assert third.recv(4096).startswith(b"HTTP/1.1 503")
                for held in busy:
                    held.sendall(b"67890")
                    held.settimeout(30)
                    assert held.recv(4096).startswith(b"HTTP/1.1 200")
            finally:
                for held in busy:
                    held.close()


def test_headers_that_never_end_get_a_408(shared_stack, monkeypatch):
    monkeypatch.setattr(server, "IDLE_SECONDS", 0.5)
    with server.bind(0) as listening:
        endpoint = Served(shared_stack, listening)
        with server.http_server(endpoint.app, listening):
            with socket.create_connection(("127.0.0.1", endpoint.port)) as slow:
                slow.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                slow.settimeout(30)
                assert slow.recv(64).split(b"\r\n")[0] == b"HTTP/1.1 408 Request Timeout"


def test_header_lines_are_bounded_in_all(served):
    """http.server takes 100 header lines of 64 KiB each: 32 clients that never ended theirs held
    185 MB of the serve's memory, 280 MB once parsed, without any key. A request's header lines
    are MAX_HEADER_BYTES in all; past that it gets a 431 and its connection is closed."""
    with socket.create_connection(("127.0.0.1", served.port)) as client:
        client.settimeout(30)
        line = b"X-Padding: " + b"a" * 40_000 + b"\r\n"
        with contextlib.suppress(ConnectionError):  # the server may close before it has it all
            client.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + line * 20)
        answer = client.recv(4096)
        assert answer.startswith(b"HTTP/1.1 431 "), answer
        assert b"Connection: close" in answer
    # A client's usual headers still pass.
    functions = served.client("lambda").list_functions()["Functions"]
    assert functions


def test_a_large_body_is_refused_before_it_is_read(served):
    """A 300 MB body announced and not sent: the answer comes without it (nothing was read); a
    client that asks first (Expect: 100-continue, as botocore does) is told before it sends."""
    path = f"/{served.outputs['bucketName']}/big"
    for headers, status in (
        ({}, b"403 Forbidden"),
        (
            served.signed_headers(
                "PUT", path, "s3", {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD", "Expect": "100-continue"}
            ),
            b"413 Request Entity Too Large",
        ),
    ):
        with socket.create_connection(("127.0.0.1", served.port)) as client:
            lines = [f"PUT {path} HTTP/1.1", f"Host: 127.0.0.1:{served.port}", f"Content-Length: {300 << 20}"] + [
                f"{name}: {value}" for name, value in headers.items() if name.lower() not in ("host", "content-length")
            ]
            client.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            client.settimeout(30)
            answer = client.recv(4096)
        assert answer.split(b"\r\n")[0] == b"HTTP/1.1 " + status, answer[:300]
    # A refused client that trickles its body on is not read on: the connection is closed.
    with socket.create_connection(("127.0.0.1", served.port)) as client:
        client.sendall(
            f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\nContent-Length: 1000000\r\n\r\n".encode()
            + b"x" * 100
        )
        client.settimeout(30)
        received = b""
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            while chunk := client.recv(4096):
                received += chunk
                client.sendall(b"x")  # still sending
        assert received.startswith(b"HTTP/1.1 403")
    # The bound is above the 8 MiB parts run.py's upload and the AWS CLI send.
    assert endpoint_guard.MAX_BODY_BYTES >= 8 << 20


def test_a_refused_connection_is_closed_with_its_answer(served):
    """A client refused while it sends a large body: the server stops reading and closes the
    connection (the client's next send fails), instead of holding it open, unread."""
    with socket.create_connection(("127.0.0.1", served.port)) as client:
        client.sendall(
            f"PUT /b/k HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\nContent-Length: {300 << 20}\r\n\r\n".encode()
        )
        client.settimeout(30)
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            for _ in range(300):
                client.sendall(b"x" * (1 << 20))


def test_requests_are_logged_only_when_verbose(shared_stack, caplog):
    caplog.set_level("INFO", logger="werkzeug")
    for verbose in (False, True):
        caplog.clear()
        with server.bind(0) as listening:
            endpoint = Served(shared_stack, listening)
            with server.http_server(endpoint.app, listening, verbose=verbose):
                endpoint.client("stepfunctions").list_state_machines()
        logged = [record.getMessage() for record in caplog.records if record.name == "werkzeug"]
        assert bool([line for line in logged if "POST / HTTP/1.1" in line]) is verbose, logged


# --- the record and the proof ------------------------------------------------------------------------


@pytest.fixture
def record_folder(tmp_path, monkeypatch):
    """Records in this test's folder, looked for as `run.py --local` looks (RUN_PY_NO_ENDPOINT unset)."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.delenv("RUN_PY_NO_ENDPOINT", raising=False)
    monkeypatch.setattr(records.tempfile, "tempdir", None)
    return records.records_dir(create=True)


class FakeServer:
    """Answers every request 200 with what a real endpoint for the dev stack would say, and keeps
    every request it got."""

    def __init__(self, outputs: dict):
        got = self.requests = []
        answer = json.dumps({"stack": "dev", "digest": records.stack_digest("dev"), "outputs": outputs}).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                got.append((self.command, self.path, self.rfile.read(length) if length else b""))
                self.send_response(200)
                self.send_header("Content-Length", str(len(answer)))
                self.send_header(records.PROOF_HEADER, "0" * 64)
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_PUT = do_POST = do_HEAD = _any

            def log_message(self, *args):
                pass

        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self):
        self.http.shutdown()
        self.http.server_close()


def _plant(folder, url: str, key: EndpointKey, mode: int = 0o600):
    record = folder / f"{records.record_name('dev')}.json"
    records.write_private(
        record, json.dumps({"endpoint": url, "pid": 1, "stack": "dev", "localEndpointCredentials": key.as_dict()})
    )
    os.chmod(record, mode)
    return record


def _expected_outputs() -> dict:
    from components.settings import load_stack_settings
    from runner.emulator import preflight

    return preflight.expected_outputs(load_stack_settings("dev"))


def test_run_py_local_sends_a_fake_endpoint_only_the_challenge(record_folder, tmp_path, capsys, no_deployment):
    """A valid record (a real serve's, that ended) whose port another user's server now holds:
    it answers everything, but cannot prove it holds the key; run.py deploys its own emulator."""
    fake = FakeServer({**_expected_outputs(), "localEndpoint": "unused"})
    data = tmp_path / "secret.csv"
    data.write_text("label,x\n" + "".join(f"{i % 2},{i}\n" for i in range(100)))
    try:
        _plant(record_folder, fake.url, EndpointKey.new())
        assert cli.main(["--local", "--data", str(data), "--runs-dir", str(tmp_path / "runs")]) == 1
    finally:
        fake.close()
    err = capsys.readouterr().err
    assert "using the local endpoint" not in err and len(no_deployment) == 1
    assert f"the server on {fake.url} cannot prove it is the run.py serve that wrote it" in err
    assert [(method, path.split("?")[0], body) for method, path, body in fake.requests] == [
        ("GET", "/_rehearsal/stack", b"")
    ]
    assert b"label,x" not in b"".join(body for _, _, body in fake.requests)


@pytest.mark.parametrize("planted", ["open to others", "another user's", "a symlink"])
def test_a_planted_record_is_not_trusted(record_folder, tmp_path, capsys, planted, monkeypatch):
    fake = FakeServer(_expected_outputs())
    key = EndpointKey.new()
    try:
        record = _plant(record_folder, fake.url, key, mode=0o644 if planted == "open to others" else 0o600)
        if planted == "another user's":
            if os.geteuid() == 0:
                os.chown(record, 65534, -1)
            else:  # the same check, seen from another uid
                real = os.getuid()
                monkeypatch.setattr(records.os, "getuid", lambda: real + 1)
                monkeypatch.setattr(records, "records_dir", lambda create=False: record_folder)
        if planted == "a symlink":
            target = tmp_path / "elsewhere.json"
            record.rename(target)
            record.symlink_to(target)
        assert records.served_stack("dev") is None
    finally:
        fake.close()
    assert fake.requests == []
    assert capsys.readouterr().err.startswith(f"run.py: note: ignoring the endpoint record {record}")


def test_a_records_folder_open_to_others_is_not_used(record_folder, capsys):
    os.chmod(record_folder, 0o777)
    _plant(record_folder, "http://127.0.0.1:9", EndpointKey.new())
    assert records.served_stack("dev") is None
    with pytest.raises(UsageError, match="open to other users"):
        with server.held_record("dev"):
            pass


def test_a_real_endpoint_is_used_only_with_its_own_key(served, record_folder):
    _plant(record_folder, served.url, served.key)
    assert records.served_stack("dev")["localEndpoint"] == served.url
    _plant(record_folder, served.url, EndpointKey(served.key.access_key_id, "a guess"))
    assert records.served_stack("dev") is None


def test_a_second_serve_of_the_same_stack_is_refused_while_the_first_holds_the_record(record_folder):
    with server.held_record("dev") as record:
        records.write_private(record, json.dumps({"endpoint": "http://127.0.0.1:5000", "pid": 42}))
        with pytest.raises(UsageError, match=r"already served by run.py serve on http://127.0.0.1:5000 \(pid 42\)"):
            with server.held_record("dev"):
                pass
        assert json.loads(record.read_text())["pid"] == 42
    with server.held_record("dev"):  # the first one ended: the lock went with it
        pass


# --- URLs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1@evil.example",
        "http://localhost.evil.example:5000",
        "http://127.0.0.1:80@evil.example",
        "http://evil.example:5000",
        "ftp://127.0.0.1:5000",
        "http://127.0.0.1",
        "http://127.0.0.1:5000/path",
        "http://user:pw@127.0.0.1:5000",
        "http://10.0.0.1:5000",
        "http://127.0.0.1:99999",
        "http://127.0.0.1:5000 ",
        "http://[::2]:5000",
    ],
)
def test_an_endpoint_url_that_is_not_a_loopback_host_and_port_is_refused_in_one_line(url):
    values = {
        "bucketName": "b",
        "stateMachineArn": "arn:aws:states:us-west-2:1:stateMachine:m",
        "stateMachineName": "m",
        "region": "us-west-2",
        "jobNamePrefix": "p",
        "consoleUrl": "c",
        "runDefaults": {"rows": 1, "hyperparameters": {}},
        "localEndpoint": url,
        "localEndpointCredentials": EndpointKey.new().as_dict(),
    }
    with pytest.raises(UsageError) as refused:
        StackOutputs.from_dict(values, "outputs.json")
    assert "\n" not in str(refused.value) and "is not a local endpoint" in str(refused.value)


@pytest.mark.parametrize(
    "url, parsed",
    [
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("http://localhost:5000/", "http://localhost:5000"),
        ("https://127.9.8.7:443", "https://127.9.8.7:443"),
        ("http://[::1]:5000", "http://[::1]:5000"),
    ],
)
def test_a_loopback_endpoint_url_is_taken(url, parsed):
    assert local_endpoint_url(url) == parsed


def test_run_py_refuses_an_outputs_file_naming_an_endpoint_that_others_can_change(tmp_path, capsys):
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"localEndpoint": "http://127.0.0.1:5000"}))
    os.chmod(outputs, 0o666)
    assert cli.main(["list", "--outputs-file", str(outputs)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"run.py: error: {outputs} names a local endpoint and its key but is open to other users (mode 0666): "
        "anyone who can change it chooses where run.py sends your data; use the file run.py serve wrote "
        "(yours, mode 0600)"
    ]


def test_run_py_refuses_an_outputs_file_whose_endpoint_is_elsewhere(tmp_path, capsys):
    outputs = tmp_path / "outputs.json"
    outputs.write_text(
        json.dumps(
            {
                "bucketName": "b",
                "stateMachineArn": "arn:aws:states:us-west-2:1:stateMachine:m",
                "stateMachineName": "m",
                "region": "us-west-2",
                "jobNamePrefix": "p",
                "consoleUrl": "c",
                "runDefaults": {"rows": 1, "hyperparameters": {}},
                "localEndpoint": "http://127.0.0.1@evil.example",
                "localEndpointCredentials": EndpointKey.new().as_dict(),
            }
        )
    )
    os.chmod(outputs, 0o600)
    assert cli.main(["list", "--outputs-file", str(outputs)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"run.py: error: {outputs}: localEndpoint 'http://127.0.0.1@evil.example' is not a local endpoint: "
        "it has a user part (user@host) (run.py serve writes http://127.0.0.1:PORT)"
    ]


def test_run_py_reaches_a_local_endpoint_directly_whatever_proxy_the_environment_names(served, monkeypatch):
    proxied = []  # a "proxy" that would get the request, signed with the key: it takes and drops it

    def take(listening):
        with contextlib.suppress(OSError):
            while True:
                connection, _ = listening.accept()
                proxied.append(connection.recv(4096))
                connection.close()

    with socket.create_server(("127.0.0.1", 0)) as listening:
        threading.Thread(target=take, args=(listening,), daemon=True).start()
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{listening.getsockname()[1]}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        clients = stack.Clients(served.outputs["region"], served.url, served.key)
        arn = served.outputs["stateMachineArn"]
        assert clients.sfn.describe_state_machine(stateMachineArn=arn)["stateMachineArn"] == arn
    assert proxied == []
