"""What an AWS error means for reconciliation: gone, retry later, over a quota, or needs the user."""

from __future__ import annotations

import enum

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

# A request signed with credentials that expired on the way (or by a skewed clock): the credentials
# refresh themselves, so the same call succeeds once re-signed.
EXPIRED_TOKEN_CODES = {"ExpiredTokenException", "ExpiredToken", "RequestExpired"}
THROTTLE_CODES = {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
TRANSIENT_CODES = THROTTLE_CODES | {
    "ServiceUnavailable", "InternalFailure", "InternalServerError", "InternalError", "RequestTimeout",
} | EXPIRED_TOKEN_CODES
# An account quota: only raising it outside Kubernetes (or freeing capacity) lets the call through.
QUOTA_CODES = {"ResourceLimitExceeded"}
NOT_FOUND_CODES = {"ResourceNotFound", "ResourceNotFoundException", "ObjectNotFoundException"}
# SageMaker answers a missing object with a ValidationException; only the message tells it apart.
NOT_FOUND_PHRASES = ("not found", "could not find", "does not exist", "cannot find")
# Calls that address one object by its name: their "not found" is about that object, so it is gone.
# Any other call's "not found" is about something the request names (model data in S3, an image, a
# config): a refusal for the user, not a vanished object.
ADDRESSING_PREFIXES = ("Describe", "Delete", "Deregister", "Stop")
TRANSPORT_ERRORS = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError)


class ErrorKind(enum.Enum):
    NOT_FOUND = "NotFound"
    TRANSIENT = "Transient"
    QUOTA = "Quota"
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
    if code in QUOTA_CODES:
        return ErrorKind.QUOTA
    if _addresses_one_object(error) and (code in NOT_FOUND_CODES or (
        code == "ValidationException" and any(p in error_message(error).lower() for p in NOT_FOUND_PHRASES)
    )):
        return ErrorKind.NOT_FOUND
    return ErrorKind.TERMINAL


def _addresses_one_object(error: ClientError) -> bool:
    return (error.operation_name or "").startswith(ADDRESSING_PREFIXES)


def is_not_found(error: BaseException) -> bool:
    return classify(error) is ErrorKind.NOT_FOUND


def is_gone(error: BaseException) -> bool:
    """Not found, also in Application Auto Scaling's words ("No scalable target found for service
    namespace ...")."""
    return is_not_found(error) or " found for service namespace" in error_message(error)


# SageMaker's words for a create whose name is taken: ResourceInUse for jobs, a ValidationException
# ("Cannot create already existing model ...") for models and endpoint configs.
ALREADY_EXISTS_PHRASE = "already existing"


def already_exists(error: BaseException) -> bool:
    return isinstance(error, ClientError) and (
        error_code(error) == "ResourceInUse" or ALREADY_EXISTS_PHRASE in error_message(error).lower())


def is_retryable(error: BaseException) -> bool:
    """A fault worth repeating the same call for: throttling, 5xx, a dropped connection, an expired
    token. Anything else (a refusal, a quota, a bug, a bad parameter) would only fail again now."""
    if isinstance(error, TRANSPORT_ERRORS):
        return True
    return isinstance(error, ClientError) and classify(error) is ErrorKind.TRANSIENT
