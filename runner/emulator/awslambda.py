"""Run Lambda functions' Python handlers in-process, behind moto's Lambda API.

moto without Docker answers Invoke with a canned string and never runs code.
`LocalLambdaRuntime.installed()` replaces that stub so that Invoke of a Python function
unpacks the code moto holds for it (its deployment package, as CreateFunction or
UpdateFunctionCode gave it), imports the handler module from there (like a warm Lambda
container: once per code version, then reused) and calls `handler(event, context)` with the
function's environment (AWS_REGION, AWS_DEFAULT_REGION, its Environment.Variables, ...) and,
given an `AccessControl`, its execution role's credentials (AWS_ACCESS_KEY_ID, ...), so
the handler's AWS calls are checked against that role. Results come back as real
Lambda returns them: the JSON payload, or on an exception the payload
`{"errorType", "errorMessage", "requestId", "stackTrace"}` with the response header
`X-Amz-Function-Error: Unhandled`, which the Step Functions interpreter turns into an error
named after the exception class.

Invocations run one at a time (the environment variables are process-wide while a handler
runs). The function's Timeout is reported by `context.get_remaining_time_in_millis()`; a thread
cannot be killed, so a handler that runs past it finishes, and the invocation then fails as
Lambda's does (errorType Sandbox.Timedout, "Task timed out after N seconds"), its result dropped.

Patched moto internal: moto/awslambda_simple/models.py, `LambdaSimpleBackend.invoke`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import io
import json
import logging
import os
import sys
import tempfile
import threading
import time
import traceback
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from moto.awslambda_simple.models import LambdaSimpleBackend

log = logging.getLogger(__name__)


@dataclasses.dataclass
class LambdaContext:
    """The attributes of the Python runtime's context object that handlers use."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline: float  # time.monotonic() at which the function would time out
    started: float = dataclasses.field(default_factory=time.monotonic)
    closing: threading.Event = dataclasses.field(default_factory=threading.Event)

    def get_remaining_time_in_millis(self) -> int:
        if self.closing.is_set():
            return 0
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@dataclasses.dataclass
class _Function:
    source_dir: Path
    module: ModuleType | None = None
    package: str = ""  # the private package the code was imported as


def _forget(package: str) -> None:
    """Drop a private package and its submodules from `sys.modules`."""
    for name in [name for name in sys.modules if name == package or name.startswith(package + ".")]:
        del sys.modules[name]


class LocalLambdaRuntime:
    """Runs the handlers of the emulator's Python functions from their deployed code."""

    def __init__(self, access=None) -> None:
        self._access = access  # runner.emulator.iam.AccessControl, or None: no role credentials
        self._functions: dict[tuple[str, str], _Function] = {}  # (name, CodeSha256) -> unpacked code
        self._lock = threading.Lock()  # one invocation at a time (process-wide environment)
        self._code_dir: tempfile.TemporaryDirectory | None = None
        self._sessions: dict = {}  # execution role ARN -> the handlers' default boto3 session
        self._closing = threading.Event()

    def close(self) -> None:
        """From now on handlers see no remaining time (the emulator is going away)."""
        self._closing.set()

    @staticmethod
    def handles(fn) -> bool:
        return (fn.run_time or "").startswith("python") and bool(getattr(fn, "code_bytes", b""))

    @contextlib.contextmanager
    def installed(self) -> Iterator[LocalLambdaRuntime]:
        original = LambdaSimpleBackend.__dict__["invoke"]
        runtime = self

        def invoke(backend, function_name, qualifier, body, headers, response_headers):
            fn = backend.get_function(function_name, qualifier)  # raises ResourceNotFound like AWS
            if not runtime.handles(fn):
                return original(backend, function_name, qualifier, body, headers, response_headers)
            payload = runtime.invoke(fn, body, headers or {}, response_headers)
            response_headers["Content-Length"] = str(len(payload))
            return payload

        LambdaSimpleBackend.invoke = invoke
        self._code_dir = tempfile.TemporaryDirectory(prefix="local-lambda-")
        try:
            yield self
        finally:
            LambdaSimpleBackend.invoke = original
            self.close()
            with self._lock:  # let an invocation in flight finish before the emulator goes away
                for function in self._functions.values():
                    if function.module is not None:
                        _forget(function.package)
                        function.module = None
                self._functions.clear()
                self._code_dir.cleanup()

    @contextlib.contextmanager
    def _own_default_session(self, role: str) -> Iterator[None]:
        """The handler's `boto3.client(...)` gets a default session of its own, as in its own
        process: the host's has resolved (and cached) the host's credentials, not the role's.
        One per role, sharing the host's loaded service models. Only the handler's thread sees
        it: clients other threads make meanwhile (run.py, the interpreter) keep the host's."""
        import boto3

        if self._access is None:
            yield
            return
        if role not in self._sessions:  # its own credentials; the models are shared (service_models)
            self._sessions[role] = boto3.session.Session()
        session, handler_thread = self._sessions[role], threading.get_ident()
        host_default = boto3._get_default_session

        def default_session():
            return session if threading.get_ident() == handler_thread else host_default()

        boto3._get_default_session = default_session
        try:
            yield
        finally:
            boto3._get_default_session = host_default

    def _function(self, fn) -> _Function:
        """The function's deployment package, unpacked once per code version (like /var/task)."""
        key = (fn.function_name, fn.code_sha_256)
        if key not in self._functions:
            target = Path(self._code_dir.name) / f"{fn.function_name}-{len(self._functions)}"
            try:
                with zipfile.ZipFile(io.BytesIO(fn.code_bytes)) as package:
                    package.extractall(target)
            except zipfile.BadZipFile as error:
                raise _RuntimeError(
                    "Runtime.InvalidEntrypoint", f"the deployment package is not a zip file: {error}"
                ) from None
            self._functions[key] = _Function(target)
        return self._functions[key]

    # -- one invocation --------------------------------------------------------------------------

    def invoke(self, fn, body: Any, headers: dict, response_headers: dict) -> bytes:
        """Run the handler; the payload bytes, with the headers real Lambda would send."""
        response_headers["X-Amz-Executed-Version"] = getattr(fn, "version", "$LATEST")
        invocation_type = {key.lower(): value for key, value in headers.items()}.get(
            "x-amz-invocation-type", "RequestResponse"
        )
        if invocation_type == "DryRun":
            return b""
        request_id = str(uuid.uuid4())
        response_headers["x-amzn-RequestId"] = request_id
        try:
            event = json.loads(body) if body else {}
        except (TypeError, ValueError) as error:
            response_headers["x-amz-function-error"] = "Unhandled"
            return _error_payload("Runtime.UnmarshalError", f"Unable to unmarshal input: {error}", request_id, [])
        with self._lock, _environment_set(self._environment(fn)), self._own_default_session(fn.role):
            context = LambdaContext(
                function_name=fn.function_name,
                function_version=getattr(fn, "version", "$LATEST"),
                invoked_function_arn=fn.function_arn,
                memory_limit_in_mb=int(fn.memory_size or 128),
                aws_request_id=request_id,
                log_group_name=f"/aws/lambda/{fn.function_name}",
                log_stream_name=f"local/{request_id}",
                deadline=time.monotonic() + float(fn.timeout or 3),
                closing=self._closing,
            )
            try:
                handler = self._handler(self._function(fn), fn.handler)
            except _RuntimeError as error:
                response_headers["x-amz-function-error"] = "Unhandled"
                return _error_payload(error.error_type, str(error), request_id, [])
            try:
                result = handler(event, context)
            except Exception as error:
                if timed_out(context):
                    return _timeout(context, request_id, response_headers)
                log.info("local Lambda %s raised %s: %s", fn.function_name, type(error).__name__, error)
                response_headers["x-amz-function-error"] = "Unhandled"
                return _error_payload(
                    type(error).__name__, str(error), request_id, traceback.format_tb(error.__traceback__)
                )
            if timed_out(context):
                return _timeout(context, request_id, response_headers)
        try:
            payload = json.dumps(result).encode()
        except (TypeError, ValueError) as error:
            response_headers["x-amz-function-error"] = "Unhandled"
            return _error_payload("Runtime.MarshalError", f"Unable to marshal response: {error}", request_id, [])
        return b"" if invocation_type == "Event" else payload

    def _environment(self, fn) -> dict[str, str]:
        region = fn.function_arn.split(":")[3]
        variables = {
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": getattr(fn, "version", "$LATEST"),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size or 128),
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.run_time or 'python'}",
        }
        if self._access is not None:  # the execution role's session, as Lambda hands it over
            variables.update(self._access.principal(fn.role, fn.function_name).environment())
        variables.update({key: str(value) for key, value in (fn.environment_vars or {}).items()})
        return variables

    @staticmethod
    def _handler(function: _Function, handler: str):
        """`module.function` from the source directory; the module is imported once (warm start)."""
        module_name, _, attribute = (handler or "").rpartition(".")
        if not module_name or not attribute:
            raise _RuntimeError("Runtime.MalformedHandlerName", f"Bad handler '{handler}': not enough values to unpack")
        if function.module is None:
            path = function.source_dir / (module_name.replace(".", "/") + ".py")
            if not path.is_file():
                raise _RuntimeError(
                    "Runtime.ImportModuleError",
                    f"Unable to import module '{module_name}': No module named '{module_name}' (looked for {path})",
                )
            # The unpacked code becomes a private package (each runtime, each local stack, gets a
            # fresh copy); `lambda_src.seed_dataset` is imported as `<private>.lambda_src.seed_dataset`.
            root = importlib.util.module_from_spec(
                importlib.util.spec_from_loader(f"_local_lambda_{uuid.uuid4().hex[:8]}", loader=None, is_package=True)
            )
            root.__path__ = [str(function.source_dir)]
            sys.modules[root.__name__] = root  # dataclasses, pickle, ... look modules up there
            sys.path.insert(0, str(function.source_dir))  # top-level sibling imports, as in /var/task
            try:
                module = importlib.import_module(f"{root.__name__}.{module_name}")
            except Exception as error:
                _forget(root.__name__)
                raise _RuntimeError(
                    "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {error}"
                ) from error
            finally:
                sys.path.remove(str(function.source_dir))
            function.package = root.__name__
            function.module = module
        if not callable(getattr(function.module, attribute, None)):
            raise _RuntimeError("Runtime.HandlerNotFound", f"Handler '{attribute}' missing on module '{module_name}'")
        return getattr(function.module, attribute)


class _RuntimeError(Exception):
    """A failure of the runtime itself (import, handler lookup), reported under Lambda's names."""

    def __init__(self, error_type: str, message: str):
        super().__init__(message)
        self.error_type = error_type


@contextlib.contextmanager
def _environment_set(variables: dict[str, str]) -> Iterator[None]:
    """Set these variables while the handler runs, then restore just them."""
    saved = {key: os.environ.get(key) for key in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def timed_out(context: LambdaContext) -> bool:
    return time.monotonic() > context.deadline and not context.closing.is_set()


def _timeout(context: LambdaContext, request_id: str, response_headers: dict) -> bytes:
    """What Lambda answers when a function runs past its Timeout: an unhandled error whatever the
    handler returned (Lambda would have stopped it; here it ran to its end, its result dropped)."""
    log.info("local Lambda %s ran past its timeout", context.function_name)
    response_headers["x-amz-function-error"] = "Unhandled"
    timeout = context.deadline - context.started
    return json.dumps(
        {
            "errorType": "Sandbox.Timedout",
            "errorMessage": f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds",
        }
    ).encode()


def _error_payload(error_type: str, message: str, request_id: str, stack: list[str]) -> bytes:
    return json.dumps(
        {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": stack}
    ).encode()
