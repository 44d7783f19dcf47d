"""`run.py serve`: the rehearsal's stack as a local AWS endpoint, for the clients that hold its key.

The program is deployed into the emulator exactly as `run.py --local` deploys it
(`local_stack`), and the emulator is then also served over HTTP on 127.0.0.1 by moto's own
server application (`moto.moto_server.werkzeug_app.DomainDispatcherApplication`), in this
process: a request that arrives over HTTP reaches the very backends, patches and access
control the in-process clients use. So the AWS CLI, a boto3 script and `run.py --outputs-file`
start and follow executions that run with real XGBoost, each role under its deployed
policies, and any number of them at once.

Only requests signed with the key made for this serve (written, readable by the user only,
into the outputs file, the endpoint's record and a credentials file for the AWS CLI) or with a
stack role's own credentials get in; `endpoint_guard` says what else each request must be.
The HTTP server bounds what a client can hold: MAX_CONNECTIONS connections (at the bound the
one idle longest is closed for a new one), IDLE_SECONDS of silence on a connection (408 in the
middle of a request's headers), MAX_HEADER_BYTES a request's header lines (431),
MAX_BODY_BYTES a request body (413).

Besides AWS's APIs the endpoint answers two paths of its own, under `/_rehearsal/`, signed too:
  GET /_rehearsal/stack?nonce=HEX            {"stack", "digest", "outputs"}, with the proof
                                             (`runner.endpoint.proof`) in X-Rehearsal-Proof
  GET /_rehearsal/iam-report?execution=ARN  the least-privilege report of one execution
moto's control API (`/moto-api/`, whose reset would wipe the stack) is not served.

One serve per checkout and stack: it holds a lock next to its record while it runs, and a
second is refused. On Ctrl-C or SIGTERM the server stops taking requests, running executions
are stopped, and the stack shuts down as `--local`'s does: job threads and host processes end,
moto is reset; its outputs file, record and credentials file are removed.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import http.client
import io
import json
import os
import re
import resource
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from runner.emulator.endpoint_guard import CONTINUE_KEY, DISCARD_KEY, Guard, Refusal, refusal_response
from runner.endpoint import (
    CREDENTIALS_KEY,
    ENDPOINT_KEY,
    PROFILE,
    PROOF_HEADER,
    EndpointKey,
    RecordError,
    proof,
    read_private_json,
    record_name,
    records_dir,
    stack_digest,
    write_private,
)
from runner.errors import UsageError

HOST = "127.0.0.1"
CONSOLE_TEXT = "local endpoint {url} (run.py serve): no AWS console"
IDLE_SECONDS = 20  # a connection silent this long is closed (408 if in the middle of a request's headers)
# A request's header lines in all (431 past it): http.server alone takes 100 lines of 64 KiB each,
# 6.5 MB a connection held by a client that needs no key.
MAX_HEADER_BYTES = 64 << 10
# Connections held at once: each is a thread and a file descriptor; the executions need theirs.
MAX_CONNECTIONS = max(16, min(128, resource.getrlimit(resource.RLIMIT_NOFILE)[0] // 4))


class EndpointApp:
    """The guard, then moto's server application or the rehearsal's own `/_rehearsal/` paths."""

    def __init__(
        self, moto_app, guard: Guard, key: EndpointKey, stack: str, digest: str, outputs: dict, iam_report
    ) -> None:
        self._moto_app, self._guard, self._key, self._iam_report = moto_app, guard, key, iam_report
        self._stack = {"stack": stack, "digest": digest, "outputs": outputs}

    def __call__(self, environ: dict, start_response):
        try:
            self._guard.admit(environ)
        except Refusal as refusal:
            return refusal_response(environ, refusal, start_response)
        path = environ.get("PATH_INFO", "")
        query = parse_qs(environ.get("QUERY_STRING", ""))
        if path == "/_rehearsal/stack":
            body = json.dumps(self._stack).encode()
            nonce = query.get("nonce", [""])[0]
            proven = (
                [(PROOF_HEADER, proof(self._key.secret_access_key, nonce, body))]
                if re.fullmatch(r"[0-9a-f]{16,64}", nonce)
                else []
            )
            return self._json(start_response, "200 OK", body, proven)
        if path == "/_rehearsal/iam-report":
            execution = query.get("execution", [""])[0]
            if not execution.startswith("arn:"):
                return self._json(
                    start_response,
                    "400 Bad Request",
                    json.dumps({"message": "give the execution's ARN: ?execution=arn:..."}).encode(),
                )
            return self._json(start_response, "200 OK", json.dumps(self._iam_report(execution)).encode())
        if path.startswith("/moto-api"):
            return self._json(
                start_response,
                "404 Not Found",
                json.dumps({"message": "the rehearsal's endpoint does not serve moto's control API"}).encode(),
            )

        def without_cors(status, headers, *rest):  # an S3 bucket's CORS rules answer no web page here
            kept = [(name, value) for name, value in headers if not name.lower().startswith("access-control-")]
            return start_response(status, kept, *rest)

        return self._moto_app(environ, without_cors)

    @staticmethod
    def _json(start_response, status: str, data: bytes, extra: list = ()):
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data))), *extra])
        return [data]


def endpoint_app(outputs, stack: str, digest: str, shown: dict, port: int, key: EndpointKey) -> EndpointApp:
    """The application serving a deployed stack (`local_stack`'s outputs) on `port` to `key`'s holders."""
    from moto.moto_server import werkzeug_app

    werkzeug_app.DISABLE_GLOBAL_CORS = True  # moto would otherwise answer every Origin (MOTO_DISABLE_GLOBAL_CORS)
    moto_app = werkzeug_app.DomainDispatcherApplication(werkzeug_app.create_backend_app)

    def backend_of(environ: dict) -> str:
        host = moto_app.infer_service_region_host(environ, environ.get("PATH_INFO", ""))
        return moto_app.get_backend_for_host(host or "s3.us-east-1.amazonaws.com") or "?"

    def session_secret(access_key: str):
        principal = outputs.access.principal_for_key(access_key)
        return (principal.secret_key, principal.session_token) if principal else None

    return EndpointApp(
        moto_app, Guard(port, key, session_secret, backend_of), key, stack, digest, shown, outputs.iam_report
    )


def served_outputs(outputs: dict, url: str) -> dict:
    """The stack outputs as a client of the endpoint needs them (`pulumi stack output --json`'s form)."""
    return {**outputs, "consoleUrl": CONSOLE_TEXT.format(url=url), ENDPOINT_KEY: url}


def bind(port: int) -> socket.socket:
    """The listening socket on 127.0.0.1:port (0: a free port), taken before the stack deploys, so
    a port in use is refused at once. OSError (EADDRINUSE) when it cannot be had."""
    return socket.create_server((HOST, port))


def _server_classes(verbose: bool):
    """The HTTP server and its request handler, with the bounds above (werkzeug's classes,
    imported with the server)."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import ThreadedWSGIServer

    class Handler(MotoRequestHandler):
        timeout = IDLE_SECONDS  # socketserver sets it on the connection: every read and write

        def handle_one_request(self) -> None:
            self.server.mark(self.connection, idle=True)  # until its headers are in
            super().handle_one_request()

        def parse_request(self) -> bool:
            self.send_continue = None
            stream, self.rfile = self.rfile, _HeaderLines(self.rfile)  # the headers are read from it here
            try:
                parsed = super().parse_request()
            except TimeoutError:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.send_error(408)
                return False
            finally:
                self.rfile = stream
            self.server.mark(self.connection, idle=False)
            return parsed

        def handle_expect_100(self) -> bool:
            # http.server and werkzeug answer `Expect: 100-continue` as soon as the headers are in;
            # here the guard sends it once the request is admitted, so a refused client never
            # sends its body.
            self.send_continue = self._send_continue
            return True

        def run_wsgi(self) -> None:
            del self.headers["Expect"]
            super().run_wsgi()
            self.environ = None  # it holds this handler's methods: no cycle keeps the connection

        def _send_continue(self) -> None:
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.flush()

        def _discard_input(self) -> None:
            # werkzeug's drain after the response then reads nothing; the socket's own reader is
            # closed, so closing the connection closes the socket at once.
            unread, self.rfile = self.rfile, io.BytesIO()
            unread.close()

        def make_environ(self) -> dict:
            environ = super().make_environ()
            environ[CONTINUE_KEY], environ[DISCARD_KEY] = self.send_continue, self._discard_input
            return environ

        def log_request(self, code: Any = "-", size: Any = "-") -> None:
            if verbose:
                super().log_request(code, size)

        def log_error(self, format: str, *args: Any) -> None:
            if verbose:
                super().log_error(format, *args)

    class Server(ThreadedWSGIServer):
        """At MAX_CONNECTIONS the connection idle longest (between requests, or still sending its
        headers) is closed for the new one; when none is idle the new one gets a 503."""

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self._held: dict[socket.socket, float | None] = {}  # idle since (monotonic), None: busy
            self._held_lock = threading.Lock()

        def mark(self, connection: socket.socket, idle: bool) -> None:
            with self._held_lock:
                if connection in self._held:
                    self._held[connection] = time.monotonic() if idle else None

        def process_request(self, request, client_address) -> None:
            with self._held_lock:
                idle = [(since, id(held), held) for held, since in self._held.items() if since is not None]
                full = len(self._held) >= MAX_CONNECTIONS
                if full and idle:
                    oldest = min(idle)[2]
                    del self._held[oldest]
                    with contextlib.suppress(OSError):
                        oldest.shutdown(socket.SHUT_RDWR)  # its thread reads the end and finishes
                if not full or idle:
                    self._held[request] = time.monotonic()
            if full and not idle:
                with contextlib.suppress(OSError):
                    request.settimeout(1)
                    request.sendall(
                        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                self.shutdown_request(request)
                return
            super().process_request(request, client_address)

        def close_request(self, request) -> None:
            with self._held_lock:
                self._held.pop(request, None)
            super().close_request(request)

    return Server, Handler


class _HeaderLines:
    """A connection's reader while http.server reads a request's headers: MAX_HEADER_BYTES of
    lines in all, then LineTooLong (which http.server answers with a 431 and a closed connection)."""

    def __init__(self, stream) -> None:
        self._stream, self._left = stream, MAX_HEADER_BYTES

    def readline(self, size: int = -1) -> bytes:
        if self._left <= 0:
            raise http.client.LineTooLong("header lines")  # "got more than 65536 bytes when reading header lines"
        line = self._stream.readline(self._left if size < 0 else min(size, self._left))
        self._left -= len(line)
        return line


@contextlib.contextmanager
def http_server(app, listening: socket.socket, verbose: bool = False) -> Iterator[Any]:
    """A threaded HTTP server on the bound socket, in a thread of its own."""
    server_class, handler = _server_classes(verbose)
    server = server_class(HOST, listening.getsockname()[1], app, handler, fd=listening.fileno())
    thread = threading.Thread(target=server.serve_forever, name="run.py-serve-http", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextlib.contextmanager
def held_record(stack: str) -> Iterator[Path]:
    """The path of this checkout's and stack's record, with the lock that makes this serve its
    only writer. UsageError when another serve holds it, or it cannot be kept privately."""
    try:
        folder = records_dir(create=True)
    except RecordError as error:
        raise UsageError(
            f"cannot keep the endpoint's record where only you can write: {error} (remove it, "
            "or set XDG_RUNTIME_DIR to a folder only you can use)"
        ) from None
    record = folder / f"{record_name(stack)}.json"
    lock = os.open(folder / f"{record_name(stack)}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            other = read_private_json(record) or {}
            where = (
                f" on {other['endpoint']} (pid {other.get('pid')})" if isinstance(other.get("endpoint"), str) else ""
            )
            raise UsageError(
                f"stack {stack} of this checkout is already served by run.py serve{where}: use "
                "that one, or stop it first"
            ) from None
        yield record
    finally:
        os.close(lock)


def _credentials_file(key: EndpointKey) -> str:
    """The key in the AWS CLI's and boto3's shared-credentials form, under PROFILE."""
    return f"[{PROFILE}]\naws_access_key_id = {key.access_key_id}\naws_secret_access_key = {key.secret_access_key}\n"


class Stop(KeyboardInterrupt):
    """SIGTERM: stop serving, as Ctrl-C does."""


def serve(settings, port: int, outputs_file: Path | None, out=sys.stdout, verbose: bool = False) -> None:
    """Deploy the stack, serve it until Ctrl-C or SIGTERM, then shut everything down.

    Raises UsageError when the stack is served already, OSError when the port cannot be had
    (both before deploying), DeployError when the program cannot be deployed."""
    from importlib import metadata

    from runner.emulator import local_stack

    digest = stack_digest(settings.stack)
    key = EndpointKey.new()
    wrote: list[Path] = []
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    try:
        with held_record(settings.stack) as record, bind(port) as listening:
            print(
                f"run.py serve: deploying stack {settings.stack} into the local emulator ...",
                file=sys.stderr,
                flush=True,
            )
            try:
                with local_stack(settings) as outputs:
                    bound = listening.getsockname()[1]
                    url = f"http://{HOST}:{bound}"
                    shown = served_outputs(dict(outputs), url)
                    app = endpoint_app(outputs, settings.stack, digest, shown, bound, key)
                    with http_server(app, listening, verbose):
                        credentials = record.with_suffix(".credentials")
                        for path, text in (
                            (credentials, _credentials_file(key)),
                            (
                                record,
                                json.dumps(
                                    {
                                        "endpoint": url,
                                        "pid": os.getpid(),
                                        "stack": settings.stack,
                                        CREDENTIALS_KEY: key.as_dict(),
                                    }
                                )
                                + "\n",
                            ),
                        ):
                            write_private(path, text)
                            wrote.append(path)
                        if outputs_file is not None:
                            outputs_file.parent.mkdir(parents=True, exist_ok=True)
                            write_private(
                                outputs_file, json.dumps({**shown, CREDENTIALS_KEY: key.as_dict()}, indent=2) + "\n"
                            )
                            wrote.append(outputs_file)
                        _print_instructions(
                            out, settings, shown, url, outputs_file, credentials, metadata.version("moto")
                        )
                        try:
                            threading.Event().wait()  # until Ctrl-C or SIGTERM
                        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (Stop)
                            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the shutdown below runs to its end
                            print(
                                "run.py serve: stopping: no new requests; running executions are stopped, "
                                "their jobs and host processes end",
                                file=sys.stderr,
                                flush=True,
                            )
            finally:
                for path in wrote:  # a file naming an endpoint that is gone would only mislead
                    with contextlib.suppress(OSError):
                        path.unlink()
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_stop(signum, frame) -> None:
    raise Stop()


def _print_instructions(
    out, settings, outputs: dict, url: str, outputs_file: Path | None, credentials: Path, moto_version: str
) -> None:
    prefix = outputs["jobNamePrefix"]
    lines = [
        f"serving stack {settings.stack} on {url} (moto {moto_version}; every role under its deployed policies)",
        f"it admits only requests signed with its key, in {credentials} (readable by you only); point a client at it:",
        f"  export AWS_ENDPOINT_URL={url} AWS_SHARED_CREDENTIALS_FILE={credentials} AWS_PROFILE={PROFILE} "
        f"AWS_DEFAULT_REGION={outputs['region']}",
    ]
    if os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_SESSION_TOKEN"):
        lines.append(
            "  unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN   "
            "# set here, they would be used instead of the profile"
        )
    lines.append(
        f"  aws stepfunctions start-execution --state-machine-arn {outputs['stateMachineArn']} "
        f"--name {prefix}--by-hand-1 --input '{{\"rows\": 1000}}'"
    )
    if outputs_file is not None:
        lines += [
            f"stack outputs (pulumi stack output --json form, plus the key) in {outputs_file}:",
            f"  python run.py --outputs-file {outputs_file}          # and follow ARN, list, stop",
        ]
    lines += [
        f"run.py --local --stack {settings.stack} uses this endpoint while it is up",
        "Ctrl-C (or SIGTERM) stops it",
    ]
    print("\n".join(lines), file=out, flush=True)
