"""CustomResourceDefinitions from the kind models: structural OpenAPI v3 schemas, printer columns,
categories, and the CEL rules that make the API server refuse what SageMaker would refuse later.

The models are the only schema source: member types, bounds, enums and patterns come from the pydantic
annotations (generated from the service model), rules from the models' `json_schema_extra` and from
each kind's immutability description.
"""

from __future__ import annotations

import datetime
import json
import types
import typing
from typing import Any, Literal, Union

import annotated_types
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic.types import StringConstraints

from kubemaker import API_GROUP, API_VERSION
from kubemaker.api.common import KindInfo
from kubemaker.api.registry import KINDS
from kubemaker.aws.ownership import OWNERSHIP_TAG_KEYS

CATEGORY = "sagemaker"

# CEL reserved words that must be escaped as __word__ when used as a field name.
_CEL_RESERVED = {
    "true", "false", "null", "in", "as", "break", "const", "continue", "else", "for", "function", "if",
    "import", "let", "loop", "package", "namespace", "return", "var", "void", "while",
}  # fmt: skip


def cel_field(name: str) -> str:
    return f"__{name}__" if name in _CEL_RESERVED else name


def openapi_schema(annotation: Any, metadata: list[Any] | tuple[Any, ...] = ()) -> dict[str, Any]:
    """The structural schema of a pydantic annotation, with constraints from its metadata."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        inner, *inner_metadata = typing.get_args(annotation)
        return openapi_schema(inner, [*inner_metadata, *metadata])
    if origin in (Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(members) != 1:
            # A structural schema has no unions: such a value (a pipeline definition given as an
            # object or a string) is stored as it is and validated by the models.
            return {"x-kubernetes-preserve-unknown-fields": True}
        return openapi_schema(members[0], metadata)

    if origin is Literal:
        schema: dict[str, Any] = {"type": "string", "enum": list(typing.get_args(annotation))}
    elif origin is list:
        (item,) = typing.get_args(annotation)
        schema = {"type": "array", "items": openapi_schema(item)}
    elif origin is dict:
        key, value = typing.get_args(annotation)
        schema = _map_schema(key, value)
    elif annotation is Any:
        schema = {"x-kubernetes-preserve-unknown-fields": True}
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        schema = object_schema(annotation)
    elif annotation is bool:
        schema = {"type": "boolean"}
    elif annotation is int:
        schema = {"type": "integer", "format": "int64"}
    elif annotation is float:
        schema = {"type": "number", "format": "double"}
    elif annotation is str:
        schema = {"type": "string"}
    elif annotation is datetime.datetime:
        schema = {"type": "string", "format": "date-time"}
    elif annotation is bytes:
        schema = {"type": "string", "format": "byte"}
    else:
        raise TypeError(f"no schema for {annotation!r}")
    _apply_constraints(schema, metadata)
    return schema


def _map_schema(key: Any, value: Any) -> dict[str, Any]:
    if value is Any:
        return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    schema = {"type": "object", "additionalProperties": openapi_schema(value)}
    # A structural schema cannot constrain keys; CEL can (environment variable names, tag keys).
    key_schema = openapi_schema(key)
    checks = []
    if "pattern" in key_schema:
        checks.append(f"k.matches({_cel_string(key_schema['pattern'])})")
    if "maxLength" in key_schema:
        checks.append(f"size(k) <= {key_schema['maxLength']}")
    if checks:
        limits = ", ".join(
            part
            for part in (
                f"match {key_schema['pattern']}" if "pattern" in key_schema else "",
                f"be at most {key_schema['maxLength']} characters" if "maxLength" in key_schema else "",
            )
            if part
        )
        schema["x-kubernetes-validations"] = [
            {"rule": f"self.all(k, {' && '.join(checks)})", "message": f"keys must {limits.replace(', ', ' and ')}"}
        ]
    return schema


def _cel_string(text: str) -> str:
    return json.dumps(text)


def _apply_constraints(schema: dict[str, Any], metadata: list[Any] | tuple[Any, ...]) -> None:
    kind = schema.get("type")
    length_keys = {"string": ("minLength", "maxLength"), "array": ("minItems", "maxItems"),
                   "object": ("minProperties", "maxProperties")}.get(kind, ("", ""))  # fmt: skip
    for item in metadata:
        if isinstance(item, FieldInfo):
            _apply_constraints(schema, item.metadata)
        elif isinstance(item, StringConstraints):
            _set(schema, "minLength", item.min_length or None)
            _set(schema, "maxLength", item.max_length)
            _set(schema, "pattern", item.pattern)
        elif isinstance(item, annotated_types.Len):
            _set(schema, length_keys[0], item.min_length or None)
            _set(schema, length_keys[1], item.max_length)
        elif isinstance(item, annotated_types.MinLen):
            _set(schema, length_keys[0], item.min_length or None)
        elif isinstance(item, annotated_types.MaxLen):
            _set(schema, length_keys[1], item.max_length)
        elif isinstance(item, annotated_types.Interval):
            _set(schema, "minimum", item.ge)
            _set(schema, "maximum", item.le)
        elif isinstance(item, annotated_types.Ge):
            _set(schema, "minimum", item.ge)
        elif isinstance(item, annotated_types.Le):
            _set(schema, "maximum", item.le)
        elif getattr(item, "pattern", None):
            _set(schema, "pattern", item.pattern)


def _set(schema: dict[str, Any], key: str, value: Any) -> None:
    if key and value is not None:
        schema[key] = value


def object_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": {}}
    required = []
    for name, field in model.model_fields.items():
        property_schema = openapi_schema(field.annotation, field.metadata)
        if field.description:
            property_schema = {"description": field.description, **property_schema}
        if field.is_required():
            required.append(name)
        elif field.default is not None and isinstance(field.default, (str, int, float, bool)):
            property_schema["default"] = field.default
        if isinstance(field.json_schema_extra, dict):
            _merge_extra(property_schema, field.json_schema_extra)
        schema["properties"][name] = property_schema
    if required:
        schema["required"] = required
    extra = model.model_config.get("json_schema_extra")
    if isinstance(extra, dict):
        _merge_extra(schema, extra)
    return schema


def _merge_extra(schema: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if key == "x-kubernetes-validations":
            schema[key] = [*schema.get(key, []), *value]
        else:
            schema[key] = value


def _immutability_rules(kind: KindInfo, spec_schema: dict[str, Any]) -> None:
    """One rule per field, so the refusal names the field; `has()` on both sides so that adding or
    removing an optional field counts as a change."""

    def rule(field: str, path: str) -> dict[str, str]:
        name = cel_field(field)
        hint = f": {kind.immutable_hint}" if kind.immutable_hint else ""
        return {
            "rule": f"has(self.{name}) == has(oldSelf.{name}) && (!has(self.{name}) || self.{name} == oldSelf.{name})",
            "message": f"{path}.{field} is immutable{hint}",
            "fieldPath": f".{field}",
            "reason": "FieldValueForbidden",
        }

    rules = [rule(field, "spec") for field in kind.immutable_fields]
    for parent, members in kind.immutable_members.items():
        parent_schema = spec_schema["properties"][parent]
        # Runs when the object exists before and after; the spec-level rule covers its presence.
        parent_schema.setdefault("x-kubernetes-validations", []).extend(
            rule(member, f"spec.{parent}") for member in members
        )
        rules.append(
            {
                "rule": f"has(self.{cel_field(parent)}) == has(oldSelf.{cel_field(parent)})",
                "message": f"spec.{parent} cannot be added or removed after creation",
                "fieldPath": f".{parent}",
                "reason": "FieldValueForbidden",
            }
        )
    spec_schema.setdefault("x-kubernetes-validations", []).extend(rules)


def _room_for_ownership_tags(spec_schema: dict[str, Any]) -> None:
    """SageMaker counts the ownership tags the operator adds against its limit on a create request's
    Tags: with the whole limit offered, the API server took a spec SageMaker then refused."""
    tags = spec_schema["properties"].get("tags")
    if tags and "maxItems" in tags:
        tags["maxItems"] -= len(OWNERSHIP_TAG_KEYS)
        tags["description"] += (f" At most {tags['maxItems']}: the operator adds its {len(OWNERSHIP_TAG_KEYS)} "
                                "ownership tags.")


def crd(kind: KindInfo) -> dict[str, Any]:
    spec_schema = object_schema(kind.spec_model)
    _immutability_rules(kind, spec_schema)
    _room_for_ownership_tags(spec_schema)
    status_schema = object_schema(kind.status_model)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{kind.plural}.{API_GROUP}",
            "labels": {"app.kubernetes.io/part-of": "kubemaker"},
        },
        "spec": {
            "group": API_GROUP,
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.singular,
                "shortNames": list(kind.short_names),
                "categories": [CATEGORY],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": API_VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {
                            "name": column.name,
                            "type": column.type,
                            "jsonPath": column.json_path,
                            **({"description": column.description} if column.description else {}),
                            **({"priority": column.priority} if column.priority else {}),
                        }
                        for column in kind.printer_columns
                    ]
                    + [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": kind.description,
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema,
                                "status": status_schema,
                            },
                        }
                    },
                }
            ],
        },
    }


def crd_file_name(kind: KindInfo) -> str:
    return f"{API_GROUP}_{kind.plural}.yaml"


def render_crds() -> dict[str, str]:
    """File name -> YAML of every CRD, deterministic for the drift check."""
    header = "# GENERATED by `python -m kubemaker_dev.codegen.generate` from operator/kubemaker/api: do not edit.\n"
    return {
        crd_file_name(kind): header + yaml.safe_dump(crd(kind), sort_keys=False, width=120, allow_unicode=True)
        for kind in KINDS
    }
