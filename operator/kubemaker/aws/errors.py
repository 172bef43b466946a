"""What an AWS error means for reconciliation: gone, retry later, or needs the user."""

from __future__ import annotations

import enum

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

TRANSIENT_CODES = {
    "ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded",
    "ServiceUnavailable", "InternalFailure", "InternalServerError", "InternalError", "RequestTimeout",
}
# SageMaker answers a missing object with a ValidationException; only the message tells it apart.
NOT_FOUND_PHRASES = ("not found", "could not find", "does not exist", "cannot find")
TRANSPORT_ERRORS = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError)


class ErrorKind(enum.Enum):
    NOT_FOUND = "NotFound"
    TRANSIENT = "Transient"
    TERMINAL = "Terminal"


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "Unknown")


def error_message(error: BaseException) -> str:
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Message") or str(error)
    return str(error)


def classify(error: BaseException) -> ErrorKind:
    if isinstance(error, TRANSPORT_ERRORS):
        return ErrorKind.TRANSIENT
    if not isinstance(error, ClientError):
        return ErrorKind.TRANSIENT
    code = error_code(error)
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in TRANSIENT_CODES or status >= 500:
        return ErrorKind.TRANSIENT
    if code in ("ResourceNotFound", "ResourceNotFoundException", "ObjectNotFoundException") or (
        code == "ValidationException" and any(p in error_message(error).lower() for p in NOT_FOUND_PHRASES)
    ):
        return ErrorKind.NOT_FOUND
    return ErrorKind.TERMINAL


def is_not_found(error: BaseException) -> bool:
    return classify(error) is ErrorKind.NOT_FOUND


def is_retryable(error: BaseException) -> bool:
    """A fault worth repeating the same call for: throttling, 5xx, a dropped connection. Anything
    else (a refusal, a bug, a bad parameter) would only fail again."""
    if isinstance(error, TRANSPORT_ERRORS):
        return True
    return isinstance(error, ClientError) and classify(error) is ErrorKind.TRANSIENT
