"""The client side of the local endpoint (`run.py serve`): its URL, its key, its record, its proof.

`run.py serve` makes a fresh key pair for itself and admits only requests signed with it
(SigV4, as the AWS CLI and boto3 sign with any credentials) or with a stack role's own
credentials. The key is written, readable by the user only, into the outputs file and into
the endpoint's record, which `run.py --local` reads to find an endpoint that is up for its
stack. A record is trusted only where only the user can write (`$XDG_RUNTIME_DIR`, else a
0700 folder of the user's in the temporary directory), only if the user owns it and nobody
else can read or write it; and the server at its URL is used only once it has proved it holds
the record's secret (an HMAC over a fresh nonce, `proof`), so a server started by someone else
on a port the real one left is never sent anything but that signed challenge.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import ipaddress
import json
import os
import re
import secrets
import stat
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from components import PROJECT_DIR

ENDPOINT_KEY = "localEndpoint"  # the output `run.py serve` adds: the endpoint's URL
CREDENTIALS_KEY = "localEndpointCredentials"  # and its key: {"accessKeyId", "secretAccessKey"}
PROFILE = "run-py-serve"  # the profile of the credentials file serve writes for the AWS CLI
PROOF_HEADER = "X-Rehearsal-Proof"
# The SigV4 scope run.py signs the endpoint's own /_rehearsal/ requests with.
SIGNING_SERVICE, SIGNING_REGION = "rehearsal", "us-east-1"


class RecordError(Exception):
    """The endpoint's record cannot be kept where only this user can write."""


@dataclasses.dataclass(frozen=True)
class EndpointKey:
    access_key_id: str
    secret_access_key: str

    @classmethod
    def new(cls) -> EndpointKey:
        """A key pair shaped like AWS's (AKIA + 16, 40): clients and tools take it as any key."""
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
        return cls("AKIA" + "".join(secrets.choice(alphabet) for _ in range(16)), secrets.token_urlsafe(30))

    @classmethod
    def from_dict(cls, values: object) -> EndpointKey | None:
        if isinstance(values, dict) and all(
            isinstance(values.get(name), str) and values[name] for name in ("accessKeyId", "secretAccessKey")
        ):
            return cls(values["accessKeyId"], values["secretAccessKey"])
        return None

    def as_dict(self) -> dict:
        return {"accessKeyId": self.access_key_id, "secretAccessKey": self.secret_access_key}

    def boto3_arguments(self) -> dict:
        return {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "aws_session_token": None,
        }


def proof(secret: str, nonce: str, body: bytes) -> str:
    """What the endpoint answers a challenge with: only a holder of the secret can compute it."""
    return hmac.new(secret.encode(), nonce.encode() + b"\n" + body, hashlib.sha256).hexdigest()


# --- URLs ------------------------------------------------------------------------------------


def local_endpoint_url(text: object) -> str:
    """`text` as a local endpoint's URL (`http://127.0.0.1:5000`), parsed: http or https, a
    loopback host (127.0.0.0/8, ::1, localhost), a port, no user part, path, query or fragment.
    ValueError says what is wrong."""
    if not isinstance(text, str) or not re.fullmatch(r"[\x21-\x7e]+", text):
        raise ValueError("it is not a URL")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise ValueError("its scheme is not http or https")
    if "@" in parts.netloc or "\\" in parts.netloc:
        raise ValueError("it has a user part (user@host)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("it has a path, query or fragment")
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or ""
    if host != "localhost":
        try:
            if not ipaddress.ip_address(host).is_loopback:
                raise ValueError
        except ValueError:
            raise ValueError(f"its host {host!r} is not a loopback address (127.0.0.0/8, ::1) or localhost") from None
    if not port:
        raise ValueError("it names no port (http://127.0.0.1:PORT)")
    shown = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{shown}:{port}"


# --- the record --------------------------------------------------------------------------------


def private_problem(info: os.stat_result, folder: bool = False) -> str | None:
    """Why a file or folder is not one only this user can change or read, or None."""
    kind = stat.S_ISDIR if folder else stat.S_ISREG
    if not kind(info.st_mode):
        return "not a folder" if folder else "not a regular file"
    if info.st_uid != os.getuid():
        return f"owned by uid {info.st_uid}, not you ({os.getuid()})"
    if info.st_mode & 0o077:
        return f"open to other users (mode {stat.S_IMODE(info.st_mode):04o})"
    return None


def _runtime_dir() -> Path | None:
    """$XDG_RUNTIME_DIR when it is a folder only this user can use."""
    value = os.environ.get("XDG_RUNTIME_DIR")
    if not value or not os.path.isabs(value):
        return None
    try:
        return Path(value) if private_problem(os.lstat(value), folder=True) is None else None
    except OSError:
        return None


def records_dir(create: bool = False) -> Path:
    """The folder of the endpoint records: `$XDG_RUNTIME_DIR/run.py-serve`, else
    `<temporary directory>/run.py-serve-<uid>`; made 0700 when `create`. RecordError when it
    is not a folder only this user can use (someone else made it first, a symlink, ...)."""
    runtime = _runtime_dir()
    folder = runtime / "run.py-serve" if runtime else Path(tempfile.gettempdir()) / f"run.py-serve-{os.getuid()}"
    if create:
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            pass
        except OSError as error:
            raise RecordError(f"cannot make {folder}: {error.strerror}") from None
    try:
        problem = private_problem(os.lstat(folder), folder=True)
    except FileNotFoundError:
        raise RecordError(f"{folder} does not exist") from None
    except OSError as error:
        raise RecordError(f"cannot read {folder}: {error.strerror}") from None
    if problem:
        raise RecordError(f"{folder} is {problem}")
    return folder


def record_name(stack: str, project_dir: Path = PROJECT_DIR) -> str:
    """One record per checkout and stack (a digest: the stack name never makes a path)."""
    return hashlib.sha256(f"{project_dir}\0{stack}".encode()).hexdigest()[:24]


def read_private_json(path: Path) -> dict | None:
    """A JSON object from a file only this user owns and can read; None (with a one-line note
    on stderr when the file exists but is not trusted) otherwise. Never follows a symlink nor
    blocks on a FIFO."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as error:
        _note(f"ignoring the endpoint record {path}: cannot open it ({error.strerror})")
        return None
    with os.fdopen(handle, "rb") as file:
        problem = private_problem(os.fstat(file.fileno()), folder=False)
        if problem:
            _note(f"ignoring the endpoint record {path}: it is {problem}")
            return None
        try:
            values = json.loads(file.read(1 << 16))
        except (OSError, ValueError):
            return None
    return values if isinstance(values, dict) else None


def write_private(path: Path, text: str) -> None:
    """Write `text` readable and writable by this user only; readers see all of it or nothing."""
    scratch = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    handle = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(handle, "w") as file:
            file.write(text)
        os.replace(scratch, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(scratch)
        raise


def _note(text: str) -> None:
    print(f"run.py: note: {text}", file=sys.stderr, flush=True)


# --- talking to the endpoint -------------------------------------------------------------------


def signed_get(url: str, key: EndpointKey, timeout: float) -> tuple[int, dict, bytes]:
    """GET `url` signed with the endpoint's key (SigV4), through no proxy and no redirect:
    (status, headers, at most 64 MiB of body). OSError when it cannot be had."""
    import urllib.error
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials(key.access_key_id, key.secret_access_key), SIGNING_SERVICE, SIGNING_REGION).add_auth(request)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=dict(request.headers)), timeout=timeout) as response:
            return response.status, dict(response.headers), response.read(64 << 20)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read(1 << 16)


def stack_digest(stack: str, project_dir: Path = PROJECT_DIR) -> str:
    """What the deployed stack is made of: its config files and the program's sources. A served
    stack is reused only while this is unchanged (never another stack, never a stale program)."""
    digest = hashlib.sha256(stack.encode())
    files = [project_dir / "Pulumi.yaml", project_dir / f"Pulumi.{stack}.yaml", project_dir / "__main__.py"]
    for folder in ("components", "lambda_src"):
        files += sorted((project_dir / folder).rglob("*.py"))
    for path in files:
        digest.update(str(path.relative_to(project_dir)).encode())
        digest.update(path.read_bytes() if path.is_file() else b"\0missing")
    return digest.hexdigest()


def served_stack(stack: str) -> dict | None:
    """The outputs (with the key) of the endpoint that is up for this very stack, or None
    (always None with RUN_PY_NO_ENDPOINT set: the test suite's --local runs deploy their own).

    The record must be trusted (`read_private_json`), and the server at its URL must prove it
    holds the record's key and say it serves this stack with the digest of the files as they are
    now (`stack_digest`)."""
    if os.environ.get("RUN_PY_NO_ENDPOINT"):
        return None
    try:
        path = records_dir() / f"{record_name(stack)}.json"
    except RecordError:
        return None
    record = read_private_json(path)
    if record is None:
        return None
    key = EndpointKey.from_dict(record.get(CREDENTIALS_KEY))
    try:
        url = local_endpoint_url(record.get("endpoint"))
    except ValueError as error:
        _note(f"ignoring the endpoint record {path}: its endpoint {error}")
        return None
    if key is None:
        return None
    nonce = secrets.token_hex(16)
    try:
        status, headers, body = signed_get(f"{url}/_rehearsal/stack?nonce={nonce}", key, timeout=5)
    except (OSError, ValueError):
        return None  # nobody listens there: the server ended without removing its record
    answered = {name.lower(): value for name, value in headers.items()}.get(PROOF_HEADER.lower(), "")
    if status != 200 or not hmac.compare_digest(answered, proof(key.secret_access_key, nonce, body)):
        _note(
            f"ignoring the endpoint record {path}: the server on {url} cannot prove it is the "
            "run.py serve that wrote it"
        )
        return None
    try:
        served = json.loads(body)
    except ValueError:
        return None
    if (
        not isinstance(served, dict)
        or served.get("stack") != stack
        or served.get("digest") != stack_digest(stack)
        or not isinstance(served.get("outputs"), dict)
    ):
        return None
    return {**served["outputs"], ENDPOINT_KEY: url, CREDENTIALS_KEY: key.as_dict()}
