"""docs/api-reference.md, generated from the kind models and their CRDs."""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, Union

from pydantic import BaseModel

from kubemaker import API_GROUP, API_VERSION
from kubemaker.api.base import ApiShape, unwrap_optional
from kubemaker.api.common import SAGEMAKER_API_REFERENCE, KindInfo
from kubemaker.api.registry import KINDS
from kubemaker_dev.codegen.crdgen import crd

MAX_LISTED_ENUM_VALUES = 8


def type_name(annotation: Any) -> str:
    target = unwrap_optional(annotation)
    origin = typing.get_origin(target)
    if origin is Literal:
        values = typing.get_args(target)
        if len(values) > MAX_LISTED_ENUM_VALUES:
            return f"enum ({len(values)} values)"
        return "enum: " + ", ".join(f"`{value}`" for value in values)
    if origin is list:
        return f"list of {type_name(typing.get_args(target)[0])}"
    if origin is dict:
        key, value = typing.get_args(target)
        return "object (free-form)" if value is Any else f"map of {type_name(key)} to {type_name(value)}"
    if origin in (Union, types.UnionType):
        return " or ".join(type_name(argument) for argument in typing.get_args(target))
    if isinstance(target, type) and issubclass(target, BaseModel):
        return f"object ({getattr(target, 'shape_name', '') or target.__name__})"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(
        target, getattr(target, "__name__", str(target))
    )


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def _fields_table(model: type[BaseModel], names: list[str]) -> list[str]:
    lines = ["| field | type | required | description |", "|---|---|---|---|"]
    for name in names:
        field = model.model_fields[name]
        default = f" Default `{field.default}`." if isinstance(field.default, str) else ""
        lines.append(
            f"| `{name}` | {_cell(type_name(field.annotation))} | {'yes' if field.is_required() else ''} "
            f"| {_cell(field.description)}{default} |"
        )
    return lines


def operator_extensions(model: type[BaseModel], path: str = "spec") -> list[tuple[str, type[BaseModel], str]]:
    """(path, owning model, field) of every operator-only field reachable from `model`: fields that a
    SageMaker shape does not have and that never reach SageMaker."""
    found = []
    wire_names = getattr(model, "wire_names", None)
    for name, field in model.model_fields.items():
        if not issubclass(model, ApiShape) or name not in (wire_names or {}):
            found.append((f"{path}.{name}", model, name))
            continue
        target = unwrap_optional(field.annotation)
        if typing.get_origin(target) is list:
            target, suffix = unwrap_optional(typing.get_args(target)[0]), "[]"
        else:
            suffix = ""
        if isinstance(target, type) and issubclass(target, BaseModel):
            found += operator_extensions(target, f"{path}.{name}{suffix}")
    return found


def _rules(schema: dict[str, Any], path: str) -> list[tuple[str, str]]:
    rules = [(path, rule["message"]) for rule in schema.get("x-kubernetes-validations", ())]
    for name, child in schema.get("properties", {}).items():
        rules += _rules(child, f"{path}.{name}")
    if "items" in schema:
        rules += _rules(schema["items"], f"{path}[]")
    return rules


def kind_section(kind: KindInfo) -> list[str]:
    spec_model = kind.spec_model
    wire_fields = [name for name in spec_model.model_fields if name in getattr(spec_model, "wire_names", {})]
    links = ", ".join(f"[{operation}]({SAGEMAKER_API_REFERENCE.format(operation=operation)})" for operation in kind.operations)
    lines = [
        f"## {kind.kind}",
        "",
        kind.description,
        "",
        f"`apiVersion: {API_GROUP}/{API_VERSION}`, `kind: {kind.kind}`; plural `{kind.plural}`, short names "
        + ", ".join(f"`{name}`" for name in kind.short_names)
        + f". SageMaker API: {links}.",
        "",
        f"The SageMaker name `spec.{kind.name_field}` is optional (at most {kind.name_max_length} characters); "
        "without it the operator derives one from the namespace, name and uid.",
        "",
        "### Operator fields",
        "",
        "These are the operator's own and are never sent to SageMaker.",
        "",
        "| field | type | description |",
        "|---|---|---|",
    ]
    for path, model, name in operator_extensions(spec_model):
        field = model.model_fields[name]
        lines.append(f"| `{path}` | {_cell(type_name(field.annotation))} | {_cell(field.description)} |")
    nested = {
        unwrap_optional(model.model_fields[name].annotation)
        for _, model, name in operator_extensions(spec_model)
    }
    for model in sorted((m for m in nested if isinstance(m, type) and issubclass(m, BaseModel)), key=lambda m: m.__name__):
        lines += ["", f"`{model.__name__}`:", "", *_fields_table(model, list(model.model_fields))]
    lines += [
        "",
        "### SageMaker fields",
        "",
        f"Members of the request of {' and '.join(f'`{operation}`' for operation in kind.operations[:2] if operation.startswith(('Create', 'Start')))}"
        ", first letter lowered; nested members follow the SageMaker API reference the same way "
        "(`kubectl explain` shows them).",
        "",
        *_fields_table(spec_model, wire_fields),
        "",
        "### Changes after creation",
        "",
    ]
    mutable = [name for name in spec_model.model_fields if name not in kind.immutable_fields]
    if len(mutable) < len(kind.immutable_fields):
        lines.append("The spec is immutable except " + ", ".join(f"`{name}`" for name in mutable) + ".")
        for parent, members in kind.immutable_members.items():
            model = unwrap_optional(spec_model.model_fields[parent].annotation)
            changeable = ", ".join(f"`{name}`" for name in model.model_fields if name not in members)
            lines.append(f"Of `{parent}`, only {changeable} may change.")
    else:
        immutable = ", ".join(f"`{name}`" for name in kind.immutable_fields)
        lines.append(f"Immutable: {immutable}. Every other field may change.")
    lines += ["", "### Validation", "", "Besides types, enums, bounds and patterns, the API server checks:", ""]
    schema = crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    for path, message in _rules(schema, "spec"):
        if "is immutable" in message or "cannot be added or removed" in message:
            continue
        lines.append(f"- `{path}`: {message}")
    status_model = kind.status_model
    lines += ["", "### Status", "", *_fields_table(status_model, list(status_model.model_fields))]
    lines += ["", "### Printer columns", "", "| column | from |", "|---|---|"]
    for column in crd(kind)["spec"]["versions"][0]["additionalPrinterColumns"]:
        lines.append(f"| {column['name']} | `{_cell(column['jsonPath'])}` |")
    return lines


def render_reference() -> str:
    lines = [
        "# API reference",
        "",
        "<!-- GENERATED by `python -m kubemaker_dev.codegen.generate`: do not edit. See docs/api.md for how specs map to SageMaker. -->",
        "",
        f"Group `{API_GROUP}`, version `{API_VERSION}`; every kind is namespaced and in the category `sagemaker`.",
        "",
        *(f"- [{kind.kind}](#{kind.kind.lower()})" for kind in KINDS),
        "",
    ]
    for kind in KINDS:
        lines += kind_section(kind) + [""]
    return "\n".join(lines)
