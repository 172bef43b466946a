"""The base of every API model, and the conversions between a spec and SageMaker's wire format.

Spec members are spelled like SageMaker's with the first letter lowered (`RoleArn` -> `roleArn`), and
each generated shape records the PascalCase wire name of every member it has in `wire_names`. The
conversions below walk the model types, never the data: keys inside free-form maps (hyperParameters,
environment, tags values) are passed through untouched, and fields that are not in `wire_names` (the
operator's own: references, deletionPolicy, autoScaling, ...) never reach SageMaker.
"""

from __future__ import annotations

import datetime
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, Union

from pydantic import BaseModel, ConfigDict, Field


class ApiModel(BaseModel):
    """A model of (part of) a custom resource. Unknown members are refused, not dropped."""

    # Validators are built when a kind is first reconciled, not at import: an operator that serves
    # only some kinds never pays for the others.
    model_config = ConfigDict(extra="forbid", defer_build=True)


class ApiShape(ApiModel):
    """A SageMaker (or Application Auto Scaling) shape; members named in lowerCamelCase."""

    # lowerCamelCase member -> PascalCase wire name; generated for every shape.
    wire_names: ClassVar[dict[str, str]] = {}
    # The service model's shape name, for links and error messages.
    shape_name: ClassVar[str] = ""


def to_wire(model: BaseModel) -> dict[str, Any]:
    """The boto3 request form of `model`: PascalCase members, unset and operator-only members left out."""
    wire_names = getattr(type(model), "wire_names", {})
    request: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if value is None or name not in wire_names:
            continue
        request[wire_names[name]] = _value_to_wire(value)
    return request


def _value_to_wire(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return to_wire(value)
    if isinstance(value, list):
        return [_value_to_wire(item) for item in value]
    if isinstance(value, dict):
        # A map's keys are data (hyperparameter names, environment variables): never renamed.
        return {key: _value_to_wire(item) for key, item in value.items()}
    return value


def raised(*members: str) -> dict[str, str]:
    """`wire_names` of members named as SageMaker names them, first letter lowered."""
    return {member: member[:1].upper() + member[1:] for member in members}


def from_wire(model_type: type[BaseModel], data: Mapping[str, Any]) -> dict[str, Any]:
    """`data` in SageMaker's PascalCase (a Describe* response part) as lowerCamelCase members of
    `model_type`, ready for `model_type.model_validate`. Members the model does not know are dropped,
    so a newer SageMaker response never breaks a status update."""
    by_wire_name = {wire: name for name, wire in getattr(model_type, "wire_names", {}).items()}
    members: dict[str, Any] = {}
    for wire_name, value in data.items():
        name = by_wire_name.get(wire_name)
        if name is None or value is None:
            continue
        members[name] = _value_from_wire(model_type.model_fields[name].annotation, value)
    return members


def _value_from_wire(annotation: Any, value: Any) -> Any:
    target = unwrap_optional(annotation)
    origin = typing.get_origin(target)
    if isinstance(value, Mapping) and isinstance(target, type) and issubclass(target, BaseModel):
        return from_wire(target, value)
    if origin is list and isinstance(value, list):
        (item_type,) = typing.get_args(target)
        return [_value_from_wire(item_type, item) for item in value]
    if origin is dict and isinstance(value, Mapping):
        _, value_type = typing.get_args(target)
        return {key: _value_from_wire(value_type, item) for key, item in value.items()}
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC)
    return value


def unwrap_optional(annotation: Any) -> Any:
    """`X` for `X | None` (also through `Annotated`), else the annotation itself."""
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(members) == 1:
            return unwrap_optional(members[0])
    return annotation


def narrowed(model_type: type[BaseModel], name: str, replacements: dict[type, type], **field_changes: Any) -> Any:
    """The annotation of a generated member with shape classes replaced by operator extensions of them
    (e.g. production variants that may reference a Model), keeping its bounds and description."""
    field = model_type.model_fields[name]
    annotation = _substitute(field.annotation, replacements)
    return typing.Annotated[(annotation, *field.metadata, Field(description=field.description, **field_changes))]


def _substitute(annotation: Any, replacements: dict[type, type]) -> Any:
    if isinstance(annotation, type) and annotation in replacements:
        return replacements[annotation]
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin is typing.Annotated:
        return typing.Annotated[(_substitute(arguments[0], replacements), *arguments[1:])]
    if origin in (Union, types.UnionType):
        # A union of members known only at run time: `X | Y` has no form for a tuple of them.
        return Union[tuple(_substitute(argument, replacements) for argument in arguments)]  # noqa: UP007
    # What `list[x]` and `dict[k, v]` make at run time, spelled so mypy does not read them as types.
    if origin is list:
        return types.GenericAlias(list, (_substitute(arguments[0], replacements),))
    if origin is dict:
        return types.GenericAlias(dict, (arguments[0], _substitute(arguments[1], replacements)))
    return annotation
