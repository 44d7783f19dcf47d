"""`run.py serve`: the rehearsal's stack as a local AWS endpoint that any client can drive.

The program is deployed into the emulator exactly as `run.py --local` deploys it
(`local_stack`), and the emulator is then also served over HTTP on 127.0.0.1 by moto's own
server application (`moto.moto_server.werkzeug_app.DomainDispatcherApplication`), in this
process: a request that arrives over HTTP reaches the very backends, patches and access
control the in-process clients use. So the AWS CLI, a boto3 script and `run.py --outputs-file`
start and follow executions that run with real XGBoost, each role under its deployed
policies, and any number of them at once.

Besides AWS's APIs the endpoint answers two paths of its own, under `/_rehearsal/`:
  GET /_rehearsal/stack                     {"stack", "digest", "outputs"}: what it serves
  GET /_rehearsal/iam-report?execution=ARN  the least-privilege report of one execution
moto's control API (`/moto-api/`, whose reset would wipe the stack) is not served.

On Ctrl-C or SIGTERM the server stops taking requests, running executions are stopped, and
the stack shuts down as `--local`'s does: job threads and host processes end, moto is reset.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs

from runner.outputs import ENDPOINT_KEY, endpoint_record, stack_digest

HOST = "127.0.0.1"
CONSOLE_TEXT = "local endpoint {url} (run.py serve): no AWS console"


class EndpointApp:
    """moto's server application, plus the rehearsal's own `/_rehearsal/` paths."""

    def __init__(self, moto_app, stack: str, digest: str, outputs: dict, iam_report) -> None:
        self._moto_app, self._iam_report = moto_app, iam_report
        self._stack = {"stack": stack, "digest": digest, "outputs": outputs}

    def __call__(self, environ: dict, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/_rehearsal/stack":
            return self._json(start_response, "200 OK", self._stack)
        if path == "/_rehearsal/iam-report":
            execution = parse_qs(environ.get("QUERY_STRING", "")).get("execution", [""])[0]
            if not execution.startswith("arn:"):
                return self._json(start_response, "400 Bad Request",
                                  {"message": "give the execution's ARN: ?execution=arn:..."})
            return self._json(start_response, "200 OK", self._iam_report(execution))
        if path.startswith("/moto-api"):
            return self._json(start_response, "404 Not Found",
                              {"message": "the rehearsal's endpoint does not serve moto's control API"})
        return self._moto_app(environ, start_response)

    @staticmethod
    def _json(start_response, status: str, body: Any):
        data = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]


def served_outputs(outputs: dict, url: str) -> dict:
    """The stack outputs as a client of the endpoint needs them (`pulumi stack output --json`'s form)."""
    return {**outputs, "consoleUrl": CONSOLE_TEXT.format(url=url), ENDPOINT_KEY: url}


def write_atomically(path: Path, text: str) -> None:
    """Readers see the whole file or none (a client waiting for the outputs file polls for it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    scratch.write_text(text)
    scratch.replace(path)


def bind(port: int) -> socket.socket:
    """The listening socket on 127.0.0.1:port (0: a free port), taken before the stack deploys, so
    a port in use is refused at once. OSError (EADDRINUSE) when it cannot be had."""
    return socket.create_server((HOST, port))


@contextlib.contextmanager
def http_server(app, listening: socket.socket) -> Iterator[Any]:
    """A threaded HTTP server on the bound socket, in a thread of its own."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server

    server = make_server(HOST, listening.getsockname()[1], app, threaded=True,
                         request_handler=MotoRequestHandler, fd=listening.fileno())
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="run.py-serve-http", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class Stop(KeyboardInterrupt):
    """SIGTERM: stop serving, as Ctrl-C does."""


def serve(settings, port: int, outputs_file: Path | None, out=sys.stdout) -> None:
    """Deploy the stack, serve it until Ctrl-C or SIGTERM, then shut everything down.

    Raises OSError when the port cannot be had (before deploying), DeployError when the program
    cannot be deployed."""
    from importlib import metadata

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from runner.emulator import local_stack

    digest = stack_digest(settings.stack)
    record = endpoint_record(settings.stack)
    wrote: list[Path] = []
    listening = bind(port)
    print(f"run.py serve: deploying stack {settings.stack} into the local emulator ...", file=sys.stderr, flush=True)
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    try:
        with listening, local_stack(settings) as outputs:
            url = f"http://{HOST}:{listening.getsockname()[1]}"
            shown = served_outputs(dict(outputs), url)
            app = EndpointApp(DomainDispatcherApplication(create_backend_app), settings.stack, digest, shown,
                              outputs.iam_report)
            with http_server(app, listening):
                if outputs_file is not None:
                    write_atomically(outputs_file, json.dumps(shown, indent=2) + "\n")
                    wrote.append(outputs_file)
                write_atomically(record, json.dumps({"endpoint": url, "pid": os.getpid(),
                                                     "stack": settings.stack}) + "\n")
                wrote.append(record)
                _print_instructions(out, settings, shown, url, outputs_file, metadata.version("moto"))
                try:
                    threading.Event().wait()  # until Ctrl-C or SIGTERM
                except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (Stop)
                    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the shutdown below runs to its end
                    print("run.py serve: stopping: no new requests; running executions are stopped, "
                          "their jobs and host processes end", file=sys.stderr, flush=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
        for path in wrote:  # a file naming an endpoint that is gone would only mislead
            with contextlib.suppress(OSError):
                path.unlink()


def _raise_stop(signum, frame) -> None:
    raise Stop()


def _print_instructions(out, settings, outputs: dict, url: str, outputs_file: Path | None,
                        moto_version: str) -> None:
    prefix = outputs["jobNamePrefix"]
    lines = [
        f"serving stack {settings.stack} on {url} (moto {moto_version}; every role under its deployed policies)",
        "point a client at it:",
        f"  export AWS_ENDPOINT_URL={url} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing "
        f"AWS_DEFAULT_REGION={outputs['region']}",
        f"  aws stepfunctions start-execution --state-machine-arn {outputs['stateMachineArn']} "
        f"--name {prefix}--by-hand-1 --input '{{\"rows\": 1000}}'",
    ]
    if outputs_file is not None:
        lines += [f"stack outputs (pulumi stack output --json form) in {outputs_file}:",
                  f"  python run.py --outputs-file {outputs_file}          # and follow ARN, list, stop"]
    lines += [f"run.py --local --stack {settings.stack} uses this endpoint while it is up",
              "Ctrl-C (or SIGTERM) stops it"]
    print("\n".join(lines), file=out, flush=True)
