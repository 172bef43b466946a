"""AWS error answers, shaped as the AWS JSON protocol returns them."""

from __future__ import annotations


class AwsError(Exception):
    """An error answered to the caller as `{"__type": code, "message": message}`."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def validation_error(message: str) -> AwsError:
    return AwsError("ValidationException", message)


def resource_not_found(message: str) -> AwsError:
    return AwsError("ResourceNotFound", message)


def resource_in_use(message: str) -> AwsError:
    return AwsError("ResourceInUse", message)


def serialization_error(message: str) -> AwsError:
    return AwsError("SerializationException", message)
