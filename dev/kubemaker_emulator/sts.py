"""STS AssumeRole with credentials that expire, the refusal of calls signed with an expired session
token, and the emulator's clock, which tests may skew away from the host's.

AssumeRole is answered here, not by moto, so that the credentials it issues expire on the emulator's
clock after DurationSeconds (900 to 43200, default 3600, as AWS), or after the shorter lifetime a
test sets through the control API. A request whose X-Amz-Security-Token is one of ours and has
expired is refused before it reaches any service, with the error AWS gives for its protocol.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

MIN_DURATION_SECONDS = 900
MAX_DURATION_SECONDS = 43200
DEFAULT_DURATION_SECONDS = 3600
STS_NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
# Services that speak the AWS JSON protocol, which names the error ExpiredTokenException; the
# query (STS) and REST-XML (S3) ones call it ExpiredToken. Both answer HTTP 400.
JSON_SERVICES = frozenset({"sagemaker", "logs", "application-autoscaling"})
EXPIRED_MESSAGE = "The security token included in the request is expired"
S3_EXPIRED_MESSAGE = "The provided token has expired."


class EmulatorClock:
    """The host's clock plus a skew: every time the emulator reports or compares is read here."""

    def __init__(self) -> None:
        self.skew_seconds = 0.0

    def now(self) -> float:
        return time.time() + self.skew_seconds


@dataclass
class Issued:
    role_arn: str
    expires: float


class CredentialAuthority:
    """The session credentials AssumeRole issued, by session token."""

    def __init__(self, clock: EmulatorClock) -> None:
        self.clock = clock
        self.lifetime_seconds: float | None = None  # a test's override of DurationSeconds
        self._lock = threading.Lock()
        self._issued: dict[str, Issued] = {}

    def reset(self) -> None:
        with self._lock:
            self._issued.clear()
            self.lifetime_seconds = None

    def assume_role(self, params: dict[str, str]) -> tuple[int, str]:
        """(HTTP status, XML body) of an AssumeRole query request."""
        role_arn = params.get("RoleArn", "")
        session_name = params.get("RoleSessionName", "")
        if not role_arn or not session_name:
            missing = "roleArn" if not role_arn else "roleSessionName"
            return 400, _error_xml("ValidationError", f"1 validation error detected: Value null at '{missing}' "
                                   "failed to satisfy constraint: Member must not be null")
        try:
            duration = int(params.get("DurationSeconds", DEFAULT_DURATION_SECONDS))
        except ValueError:
            return 400, _error_xml("ValidationError", "DurationSeconds must be a number")
        if not MIN_DURATION_SECONDS <= duration <= MAX_DURATION_SECONDS:
            bound = (f"greater than or equal to {MIN_DURATION_SECONDS}" if duration < MIN_DURATION_SECONDS
                     else f"less than or equal to {MAX_DURATION_SECONDS}")
            return 400, _error_xml("ValidationError", f"1 validation error detected: Value '{duration}' at "
                                   f"'durationSeconds' failed to satisfy constraint: Member must have value {bound}")
        now = self.clock.now()
        expires = now + (self.lifetime_seconds if self.lifetime_seconds is not None else duration)
        token = "FQoGZXIvYXdzE" + secrets.token_urlsafe(48)
        with self._lock:
            self._issued[token] = Issued(role_arn, expires)
        fields = role_arn.split(":")
        account = fields[4] if len(fields) >= 6 else ""
        # The session lives in the role's partition: STS never crosses one.
        partition = fields[1] if len(fields) >= 6 and fields[1] else "aws"
        role_name = role_arn.rsplit("/", 1)[-1]
        role_id = "AROA" + hashlib.sha256(role_arn.encode()).hexdigest()[:17].upper()
        body = (
            f'<AssumeRoleResponse xmlns="{STS_NAMESPACE}"><AssumeRoleResult>'
            f"<Credentials><AccessKeyId>ASIA{secrets.token_hex(8).upper()}</AccessKeyId>"
            f"<SecretAccessKey>{secrets.token_urlsafe(30)}</SecretAccessKey>"
            f"<SessionToken>{token}</SessionToken>"
            f"<Expiration>{_iso(expires)}</Expiration></Credentials>"
            f"<AssumedRoleUser><AssumedRoleId>{role_id}:{escape(session_name)}</AssumedRoleId>"
            f"<Arn>arn:{escape(partition)}:sts::{account}:assumed-role/{escape(role_name)}/{escape(session_name)}</Arn>"
            f"</AssumedRoleUser><PackedPolicySize>0</PackedPolicySize></AssumeRoleResult>"
            f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></AssumeRoleResponse>"
        )
        return 200, body

    def expired(self, token: str | None) -> bool:
        """True for a session token we issued that has expired; tokens we never issued (the static
        test credentials carry none) are not ours to judge."""
        if not token:
            return False
        with self._lock:
            issued = self._issued.get(token)
        return issued is not None and issued.expires <= self.clock.now()


def expired_token_error(service: str) -> tuple[str, str, str]:
    """(content type, body, error code) of AWS's refusal of an expired token, for `service`'s protocol."""
    if service in JSON_SERVICES:
        body = json.dumps({"__type": "ExpiredTokenException", "message": EXPIRED_MESSAGE})
        return "application/x-amz-json-1.1", body, "ExpiredTokenException"
    if service == "s3":
        body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>ExpiredToken</Code>"
                f"<Message>{S3_EXPIRED_MESSAGE}</Message><RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId></Error>")
        return "application/xml", body, "ExpiredToken"
    return "text/xml", _error_xml("ExpiredToken", EXPIRED_MESSAGE), "ExpiredToken"


def _error_xml(code: str, message: str) -> str:
    return (f'<ErrorResponse xmlns="{STS_NAMESPACE}"><Error><Type>Sender</Type><Code>{code}</Code>'
            f"<Message>{escape(message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>")


def _iso(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_query(body: bytes) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(body.decode(errors="replace")).items()}
