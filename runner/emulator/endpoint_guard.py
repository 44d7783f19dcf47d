"""What `run.py serve` admits: who (SigV4 with its key or a stack role's), addressed how (Host),
which calls (what the pipeline and run.py make), and how large a body.

Every request over HTTP passes `Guard.admit` before moto's application sees it:
1. its `Host` is the server's own (127.0.0.1:PORT or localhost:PORT): a web page that rebinds
   its name to 127.0.0.1 sends its own name;
2. it is signed (SigV4 in the Authorization header) with the serve's key or with a stack role's
   session credentials (`iam.AccessControl`, whose calls are then checked against the role's
   policies as before), and the signature verifies against that secret: botocore's signer
   recomputes it from the request as received, the way moto's own
   `moto.iam.access_control.IAMRequestBase._calculate_signature` does (moto's check itself is
   tied to its IAM users and compares with `!=`);
3. its body is at most MAX_BODY_BYTES, read only once the key is known;
4. the call is one the pipeline and run.py make (`ALLOWED`): no client creates or updates a
   function, a role, a policy or a state machine, so none gets its code imported here; the one
   update admitted is a model package's (its approval status, run.py approve/reject).
A refusal has AWS's error shape (XML, or JSON for JSON-protocol calls) and closes the connection.
No response carries CORS headers (moto's global CORS is off, S3 bucket CORS answers are
stripped), so a preflight from a web page fails.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, quote
from xml.sax.saxutils import escape

from runner.endpoint import EndpointKey

# run.py's largest request is an 8 MiB part of a multipart upload (boto3's upload_file, and the
# AWS CLI's `aws s3 cp`, split anything over 8 MiB); a whole object up to 64 MiB still fits one
# PutObject. Bigger single requests are refused: upload them in parts.
MAX_BODY_BYTES = 64 << 20
MAX_CLOCK_SKEW = timedelta(minutes=15)  # what AWS allows between X-Amz-Date and its clock
_READ_CHUNK = 1 << 20

# Per moto backend, the calls admitted: action names by prefix, or None for every call. The
# pipeline's own calls (the state machine's, the functions', the jobs') are made inside this
# process and never pass here; these are run.py's and a person's: start, follow, stop, list,
# read, and S3's data plane; and the registry's approval (run.py approve/reject: UpdateModelPackage).
ALLOWED: dict[str, tuple[str, ...] | None] = {
    "s3": None,
    "stepfunctions": ("Describe", "Get", "List", "Start", "Stop"),
    "sagemaker": ("Describe", "List", "Get", "Search", "Stop", "DeleteModel", "UpdateModelPackage"),
    "iam": ("Get", "List"),
    "sts": ("GetCallerIdentity",),
    "logs": ("Describe", "Get", "Filter", "List"),
    "events": ("Describe", "List"),
    "awslambda": ("Get", "List", "Invoke"),
}
EXACT = {"DeleteModel", "UpdateModelPackage"}  # admitted by name only (not DeleteModelPackage, ...)
# The fields an admitted update may carry: run.py approve/reject change a version's approval and
# nothing else (not its inference specification, metadata or source).
FIELDS = {"UpdateModelPackage": {"ModelPackageArn", "ModelApprovalStatus", "ApprovalDescription"}}
# The endpoint's own answers (server.EndpointApp), which reach no backend: the only paths the
# allowed calls are not checked on. Any other path goes to moto, whose Lambda, for one, takes an
# `Action` parameter whatever the path (`/_rehearsal/functions?Action=CreateFunction`).
OWN_PATHS = ("/_rehearsal/stack", "/_rehearsal/iam-report")
# The environ keys of the server's callables: the one that answers `Expect: 100-continue` (None
# when not expected), and the one that drops what a refused client still sends (the server
# would otherwise read on, for as long as the client trickles it).
CONTINUE_KEY, DISCARD_KEY = "run.py.send_continue", "run.py.discard_input"


def _same(given: str, expected: str) -> bool:
    """A constant-time comparison that takes any text a client sends."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8", "replace"))


class Refusal(Exception):
    def __init__(self, status: str, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _header(environ: dict, name: str) -> str | None:
    """A request header as werkzeug put it in the WSGI environ (repeats joined with ',')."""
    key = name.upper().replace("-", "_")
    return environ.get(key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}")


def _parse_authorization(value: str) -> dict[str, str]:
    """`AWS4-HMAC-SHA256 Credential=AK/date/region/service/aws4_request, SignedHeaders=a;b, Signature=hex`."""
    algorithm, _, rest = value.partition(" ")
    if algorithm != "AWS4-HMAC-SHA256" or value.count("Credential=") != 1:
        raise ValueError
    fields = dict(part.strip().partition("=")[::2] for part in rest.split(","))
    scope = fields["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not fields["SignedHeaders"] or not fields["Signature"]:
        raise ValueError
    return {
        "key": scope[0],
        "date": scope[1],
        "region": scope[2],
        "service": scope[3],
        "signed_headers": fields["SignedHeaders"],
        "signature": fields["Signature"],
    }


class Guard:
    """The checks of one server: its port, its key, the roles' sessions (`session_secret`)."""

    def __init__(
        self,
        port: int,
        key: EndpointKey,
        session_secret: Callable[[str], tuple[str, str] | None],
        backend_of: Callable[[dict], str],
    ):
        self.hosts = {f"127.0.0.1:{port}", f"localhost:{port}"} | ({"127.0.0.1", "localhost"} if port == 80 else set())
        self._key, self._session_secret, self._backend_of = key, session_secret, backend_of

    def admit(self, environ: dict) -> None:
        """Check the request, read its body (bounded) into the environ; Refusal when refused."""
        host = (_header(environ, "Host") or "").lower()
        if host not in self.hosts:
            raise Refusal(
                "403 Forbidden",
                "AccessDenied",
                f"this endpoint answers requests addressed to {' or '.join(sorted(self.hosts))} only",
            )
        s3 = self._service(environ) == "s3"
        authorization = _header(environ, "Authorization")
        if not authorization:
            if "X-Amz-Signature=" in environ.get("QUERY_STRING", ""):
                raise Refusal(
                    "403 Forbidden",
                    "AccessDenied",
                    "presigned URLs are not accepted here: "
                    "sign requests in the Authorization header (as the AWS CLI and boto3 do)",
                )
            raise Refusal(
                "403 Forbidden",
                "AccessDenied" if s3 else "MissingAuthenticationToken",
                "Access Denied: requests must be signed with the key run.py serve wrote "
                "(in its outputs file and credentials file)"
                if s3
                else "Request is missing Authentication Token: sign it with the key run.py serve wrote",
            )
        try:
            signed = _parse_authorization(authorization)
        except (ValueError, KeyError):
            raise Refusal(
                "403 Forbidden",
                "IncompleteSignature",
                "the Authorization header is not a SigV4 signature (AWS4-HMAC-SHA256 Credential=...)",
            ) from None
        secret = self._secret(environ, signed["key"], s3)
        self._check_date(environ, s3)
        body = self._read_body(environ)
        self._check_signature(environ, signed, secret, body, s3)
        self._check_call(environ, body)

    # -- the steps ----------------------------------------------------------------------------

    @staticmethod
    def _service(environ: dict) -> str:
        try:
            return _parse_authorization(_header(environ, "Authorization") or "")["service"]
        except (ValueError, KeyError):
            return (
                "s3"
                if not (_header(environ, "X-Amz-Target") or "json" in (_header(environ, "Content-Type") or ""))
                else ""
            )

    def _secret(self, environ: dict, access_key: str, s3: bool) -> str:
        token = _header(environ, "X-Amz-Security-Token")
        if _same(access_key, self._key.access_key_id) and token is None:
            return self._key.secret_access_key
        session = self._session_secret(access_key)
        if session is not None and token is not None and _same(token, session[1]):
            return session[0]
        raise Refusal(
            "403 Forbidden",
            "InvalidAccessKeyId" if s3 else "InvalidClientTokenId",
            "The AWS Access Key Id you provided does not exist in our records."
            if s3
            else "The security token included in the request is invalid.",
        )

    @staticmethod
    def _check_date(environ: dict, s3: bool) -> None:
        try:
            when = datetime.strptime(_header(environ, "X-Amz-Date") or "", "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise Refusal("403 Forbidden", "IncompleteSignature", "the request has no X-Amz-Date header") from None
        if abs(datetime.now(UTC) - when) > MAX_CLOCK_SKEW:
            raise Refusal(
                "403 Forbidden",
                "RequestTimeTooSkewed" if s3 else "RequestExpired",
                "The difference between the request time and the current time is too large.",
            )

    @staticmethod
    def _read_body(environ: dict) -> bytes:
        length = environ.get("CONTENT_LENGTH") or ""
        chunked = environ.get("wsgi.input_terminated", False)
        if length and not re.fullmatch("[0-9]{1,20}", length):
            raise Refusal("400 Bad Request", "InvalidArgument", "Content-Length is not a number")
        if length and int(length) > MAX_BODY_BYTES:
            raise _too_large()
        stream, wanted = environ["wsgi.input"], int(length) if length else (MAX_BODY_BYTES + 1 if chunked else 0)
        parts, got = [], 0
        try:
            if wanted and environ.get(CONTINUE_KEY):
                environ[CONTINUE_KEY]()
            while got < wanted:
                part = stream.read(min(_READ_CHUNK, wanted - got))
                if not part:
                    break
                parts.append(part)
                got += len(part)
        except TimeoutError:
            raise Refusal(
                "408 Request Timeout",
                "RequestTimeout",
                "Your socket connection to the server was not read from or written to within the timeout period.",
            ) from None
        if got > MAX_BODY_BYTES:
            raise _too_large()
        if length and got < wanted:
            raise Refusal(
                "400 Bad Request",
                "IncompleteBody",
                "You did not provide the number of bytes specified by the Content-Length HTTP header",
            )
        body = b"".join(parts)
        environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
        environ.pop("wsgi.input_terminated", None)
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        return body

    @staticmethod
    def _check_signature(environ: dict, signed: dict, secret: str, body: bytes, s3: bool) -> None:
        from botocore.auth import S3SigV4Auth, SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        names = signed["signed_headers"].split(";")
        headers = {name: _header(environ, name) for name in names}
        content_sha = _header(environ, "X-Amz-Content-SHA256")
        mismatch = Refusal(
            "403 Forbidden",
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
        )
        if "host" not in names or any(value is None for value in headers.values()):
            raise mismatch
        # The header that names the action is signed when sent (botocore signs every header it
        # sends but a few transport ones): unsigned, a captured request could be replayed as another call.
        if _header(environ, "X-Amz-Target") is not None and "x-amz-target" not in names:
            raise mismatch
        if content_sha and len(content_sha) == 64 and not _same(content_sha.lower(), hashlib.sha256(body).hexdigest()):
            raise Refusal(
                "400 Bad Request",
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            )
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or "/"
        if "://" in raw.split("?", 1)[0]:  # an absolute request target: keep its path and query
            raw = "/" + raw.split("://", 1)[1].partition("/")[2]
        request = AWSRequest(
            method=environ["REQUEST_METHOD"], url=f"http://{headers['host']}{raw}", headers=headers, data=body
        )
        request.context["timestamp"] = _header(environ, "X-Amz-Date")
        signer = (S3SigV4Auth if signed["service"] == "s3" else SigV4Auth)(
            Credentials(signed["key"], secret), signed["service"], signed["region"]
        )
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        if not _same(signed["signature"], expected):
            raise mismatch

    def _check_call(self, environ: dict, body: bytes) -> None:
        if environ.get("PATH_INFO", "") in OWN_PATHS:
            return
        try:
            backend = self._backend_of(environ)
        except Exception:  # moto's dispatcher could not place it
            backend = "?"
        allowed = ALLOWED.get(backend, ())
        if allowed is None:
            return
        actions = _actions(backend, environ, body)
        if actions and all(
            any(action == prefix if prefix in EXACT else action.startswith(prefix) for prefix in allowed)
            for action in actions
        ):
            _check_fields(actions, body)
            return
        call = (
            ", ".join(sorted(actions)) or f"{environ.get('REQUEST_METHOD')} {quote(environ.get('PATH_INFO', ''))[:120]}"
        )
        raise Refusal(
            "403 Forbidden",
            "AccessDeniedException" if _json_protocol(environ) else "AccessDenied",
            f"run.py serve does not take {backend.removeprefix('aws')} {call[:200]} over HTTP: "
            "it serves the calls that start, follow, stop and read runs (the stack's resources "
            "are deployed by run.py serve itself)",
        )


def _check_fields(actions: set[str], body: bytes) -> None:
    """A call FIELDS bounds carries those fields only (its JSON body's keys)."""
    for action in actions & set(FIELDS):
        try:
            document = json.loads(body) if body else {}
        except ValueError:
            document = None
        extra = (
            sorted(document.keys() - FIELDS[action])
            if isinstance(document, dict)
            else ["a body that is no JSON object"]
        )
        if extra:
            raise Refusal(
                "403 Forbidden",
                "AccessDeniedException",
                f"run.py serve takes {action} over HTTP with {', '.join(sorted(FIELDS[action]))} only "
                f"(run.py approve/reject), not {', '.join(map(str, extra))[:200]}",
            )


def _actions(backend: str, environ: dict, body: bytes) -> set[str]:
    """Every action name moto could take the request for: `Action` from the query string, the
    form or JSON body (moto's `BaseResponse._get_action` looks there first), the X-Amz-Target's;
    for Lambda's REST paths without them, the call its method and path make. Empty: unknown."""
    content_type = (_header(environ, "Content-Type") or "").lower()
    if content_type.startswith("multipart/"):
        return {"multipart form"}  # none of the admitted calls is one; moto would read its fields
    found = set(parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).get("Action", []))
    text = body.decode("latin-1")
    found.update(parse_qs(text, keep_blank_values=True).get("Action", []))
    try:
        document = json.loads(body) if body else None
    except ValueError:
        document = None
    if isinstance(document, dict) and "Action" in document:
        found.add(str(document["Action"]))
    target = _header(environ, "X-Amz-Target")
    if target:
        found.add(target.rsplit(".", 1)[-1])
    if not found and backend == "awslambda":
        method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
        if method == "POST" and path.startswith("/2015-03-31/functions/") and path.endswith("/invocations"):
            found.add("Invoke")
        elif method in ("GET", "HEAD"):
            found.add("Get")
    return found


def _json_protocol(environ: dict) -> bool:
    return (
        bool(_header(environ, "X-Amz-Target"))
        or "json" in (_header(environ, "Content-Type") or "")
        or environ.get("PATH_INFO", "").startswith("/2015-03-31/")
    )


def _too_large() -> Refusal:
    return Refusal(
        "413 Request Entity Too Large",
        "EntityTooLarge",
        f"Your proposed upload exceeds the maximum allowed size: {MAX_BODY_BYTES >> 20} MiB a request "
        "on run.py serve (upload larger objects in parts: aws s3 cp and boto3's upload_file do)",
    )


def refusal_response(environ: dict, refusal: Refusal, start_response):
    """AWS's error shape for the request's protocol; the connection is closed after it, unread."""
    if environ.get(DISCARD_KEY):
        environ[DISCARD_KEY]()
    request_id = str(uuid.uuid4())
    if _json_protocol(environ):
        body = json.dumps({"__type": refusal.code, "message": refusal.message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", refusal.code)]
    else:
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse><Error><Type>Sender</Type>'
            f"<Code>{escape(refusal.code)}</Code><Message>{escape(refusal.message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers = [("Content-Type", "application/xml")]
    start_response(
        refusal.status,
        headers + [("x-amzn-RequestId", request_id), ("Content-Length", str(len(body))), ("Connection", "close")],
    )
    return [body]
