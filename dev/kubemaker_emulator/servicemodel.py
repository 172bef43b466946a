"""Request validation and response shaping against the SageMaker model that botocore ships.

AWS validates every request server side and answers `ValidationException` with messages such as
"1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not
be null". botocore only checks required members, types and minimums on the client, so a client
with parameter validation off, or a value above a maximum, outside an enum, not matching a pattern
or not in the model at all, must be caught here, with AWS's wording. A value of the wrong JSON type
(a string for a timestamp, a blob that is not base64, an integer beyond 32 bits) is AWS's
`SerializationException`, as its deserializer refuses it before any constraint is checked.
"""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache
from typing import Any

import botocore.session
from botocore.model import OperationModel, Shape

from kubemaker_emulator.errors import serialization_error, validation_error
from kubemaker_emulator.javaregex import compile_java

# The Java types behind the model's integer and long shapes.
INTEGER_RANGES = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


@lru_cache(maxsize=4)
def load_service_model(service_name: str):
    return botocore.session.get_session().get_service_model(service_name)


def _member_path(parent: str, member: str) -> str:
    name = member[:1].lower() + member[1:]
    return f"{parent}.{name}" if parent else name


def _shown(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else str(value)


class RequestValidator:
    def __init__(self, service_name: str = "sagemaker") -> None:
        self.model = load_service_model(service_name)

    def operation(self, name: str) -> OperationModel | None:
        if name not in self.model.operation_names:
            return None
        return self.model.operation_model(name)

    def validate(self, operation: OperationModel, params: dict[str, Any]) -> None:
        errors: list[str] = []
        if operation.input_shape is not None:
            self._check(operation.input_shape, params, "", errors)
        if errors:
            count = len(errors)
            noun = "error" if count == 1 else "errors"
            raise validation_error(f"{count} validation {noun} detected: " + "; ".join(errors))

    def _check(self, shape: Shape, value: Any, path: str, errors: list[str]) -> None:
        kind = shape.type_name
        if kind == "structure":
            if not isinstance(value, dict):
                raise serialization_error(f"Expected a structure at '{path or 'request'}'")
            for required in shape.required_members:
                if value.get(required) is None:
                    errors.append(
                        f"Value null at '{_member_path(path, required)}' failed to satisfy constraint: "
                        "Member must not be null"
                    )
            for name, member_value in value.items():
                member = shape.members.get(name)
                if member is None:
                    errors.append(
                        f"Value at '{_member_path(path, name)}' failed to satisfy constraint: "
                        f"Member '{name}' is not a member of {shape.name}"
                    )
                elif member_value is not None:
                    self._check(member, member_value, _member_path(path, name), errors)
        elif kind == "list":
            if not isinstance(value, list):
                raise serialization_error(f"Expected a list at '{path}'")
            self._check_size(shape, value, len(value), path, errors)
            for index, item in enumerate(value, start=1):
                self._check(shape.member, item, f"{path}.{index}.member", errors)
        elif kind == "map":
            if not isinstance(value, dict):
                raise serialization_error(f"Expected a map at '{path}'")
            self._check_size(shape, value, len(value), path, errors)
            for key, item in value.items():
                self._check(shape.key, key, f"{path}.key", errors)
                self._check(shape.value, item, f"{path}.{key}", errors)
        elif kind == "string":
            if not isinstance(value, str):
                raise serialization_error(f"Expected a string at '{path}'")
            self._check_string(shape, value, path, errors)
        elif kind in ("integer", "long"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise serialization_error(f"Expected an integer at '{path}'")
            low, high = INTEGER_RANGES[kind]
            if not low <= value <= high:
                raise serialization_error(f"Numeric value ({value}) at '{path}' out of range of {'int' if kind == 'integer' else 'long'}")
            self._check_range(shape, value, path, errors)
        elif kind in ("float", "double"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise serialization_error(f"Expected a number at '{path}'")
            self._check_range(shape, value, path, errors)
        elif kind == "boolean":
            if not isinstance(value, bool):
                raise serialization_error(f"Expected a boolean at '{path}'")
        elif kind == "timestamp":
            # The JSON protocols carry timestamps as seconds since the epoch, a JSON number.
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise serialization_error(f"Expected a timestamp (seconds since the epoch) at '{path}'")
        elif kind == "blob":
            if not isinstance(value, str):
                raise serialization_error(f"Expected a base64-encoded blob at '{path}'")
            try:
                base64.b64decode(value, validate=True)
            except binascii.Error:
                raise serialization_error(f"Invalid base64 value at '{path}'") from None
        else:
            raise serialization_error(f"Unsupported shape type {kind} at '{path}'")

    @staticmethod
    def _check_size(shape: Shape, value: Any, size: int, path: str, errors: list[str]) -> None:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and size < low:
            errors.append(
                f"Value {_shown(value)} at '{path}' failed to satisfy constraint: "
                f"Member must have length greater than or equal to {low}"
            )
        if high is not None and size > high:
            errors.append(
                f"Value {_shown(value)} at '{path}' failed to satisfy constraint: "
                f"Member must have length less than or equal to {high}"
            )

    def _check_string(self, shape: Shape, value: str, path: str, errors: list[str]) -> None:
        self._check_size(shape, value, len(value), path, errors)
        enum = shape.enum
        if enum and value not in enum:
            errors.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{', '.join(enum)}]"
            )
        pattern = shape.metadata.get("pattern")
        if pattern:
            # Every pattern, at every length, as Java's String.matches reads it.
            if compile_java(pattern).fullmatch(value) is None:
                errors.append(
                    f"Value '{value}' at '{path}' failed to satisfy constraint: "
                    f"Member must satisfy regular expression pattern: {pattern}"
                )

    @staticmethod
    def _check_range(shape: Shape, value: float, path: str, errors: list[str]) -> None:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and value < low:
            errors.append(
                f"Value {value} at '{path}' failed to satisfy constraint: "
                f"Member must have value greater than or equal to {low}"
            )
        if high is not None and value > high:
            errors.append(
                f"Value {value} at '{path}' failed to satisfy constraint: "
                f"Member must have value less than or equal to {high}"
            )


def shape_output(shape: Shape | None, value: Any) -> Any:
    """Keeps only what the output shape declares, as AWS never answers members outside its model."""
    if shape is None:
        return {}
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        shaped = {}
        for name, member_value in value.items():
            member = shape.members.get(name)
            if member is not None and member_value is not None:
                shaped[name] = shape_output(member, member_value)
        return shaped
    if kind == "list" and isinstance(value, list):
        return [shape_output(shape.member, item) for item in value]
    if kind == "map" and isinstance(value, dict):
        return {key: shape_output(shape.value, item) for key, item in value.items()}
    return value
