"""What every kind shares: the operator's own spec fields, references, conditions and status basics."""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from kubemaker.api.base import ApiModel, ApiShape

DeletionPolicy = Literal["Delete", "Retain"]
AwsRegion = Annotated[str, StringConstraints(max_length=32, pattern=r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")]
ObjectName = Annotated[str, StringConstraints(min_length=1, max_length=253)]

SAGEMAKER_API_REFERENCE = "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_{operation}.html"


class LocalObjectReference(ApiModel):
    """An object in the same namespace, by name."""

    name: ObjectName = Field(description="The name of the object, in this object's namespace.")


class OperatorFields(ApiShape):
    """The fields every spec has on top of the SageMaker request shape. Never sent to SageMaker."""

    deletionPolicy: DeletionPolicy = Field(
        "Delete",
        description="Delete: deleting this object stops or deletes the SageMaker object first. "
        "Retain: the SageMaker object is left as it is.",
    )
    region: AwsRegion | None = Field(
        None, description="The AWS region of the SageMaker object; default from the operator's configuration."
    )


class AdoptionField(ApiShape):
    """For kinds whose SageMaker object may exist before the Kubernetes object."""

    adoptExisting: bool | None = Field(
        None,
        description="Take over the SageMaker object of the name given in the spec, if the operator's "
        "configuration allows adoption in this namespace; it is then tagged as this object's.",
    )


class Condition(BaseModel):
    """A condition in the Kubernetes shape; kstatus reads Ready, Reconciling and Stalled."""

    model_config = ConfigDict(extra="ignore")

    type: Annotated[str, StringConstraints(max_length=316)] = Field(description="Ready, Reconciling or Stalled.")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: Annotated[str, StringConstraints(max_length=1024)] | None = Field(
        None, description="A CamelCase reason for the last transition."
    )
    message: Annotated[str, StringConstraints(max_length=32768)] | None = Field(
        None, description="A human-readable message."
    )
    lastTransitionTime: datetime.datetime | None = Field(
        None, description="When the status last changed."
    )
    observedGeneration: int | None = Field(None, description="The generation the condition was set for.")


class CreatePending(BaseModel):
    """A create call in flight: recorded before the call, so that after a restart the operator looks
    for the object by this name instead of creating a duplicate."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(description="The SageMaker name the create call uses.")
    startedAt: datetime.datetime = Field(description="When the create call was made.")


class StatusBase(ApiShape):
    """Status fields every kind has. `wire_names` maps the members a Describe* response fills (see
    `from_wire`). Reading tolerates unknown fields (written by a newer operator)."""

    model_config = ConfigDict(extra="ignore")

    observedGeneration: int | None = Field(None, description="The generation the status reflects.")
    conditions: list[Condition] | None = Field(
        None,
        description="Ready, Reconciling and Stalled, as kstatus reads them.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    createPending: CreatePending | None = Field(None, description="A SageMaker create call in flight.")
    consoleUrl: str | None = Field(None, description="The SageMaker console page of the object.")


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    json_path: str
    type: str = "string"
    description: str = ""
    priority: int = 0


@dataclass(frozen=True)
class KindInfo:
    """Everything the CRD, the reference and the controllers need to know about one kind."""

    kind: str
    plural: str
    short_names: tuple[str, ...]
    spec_model: type[BaseModel]
    status_model: type[BaseModel]
    description: str
    # SageMaker operations behind the kind, for links in the reference.
    operations: tuple[str, ...]
    # The spec field holding the SageMaker name, and the name's maximum length.
    name_field: str
    name_max_length: int
    printer_columns: tuple[PrinterColumn, ...]
    # Top-level spec fields a change of which the API server refuses.
    immutable_fields: tuple[str, ...]
    # Members of spec objects that are immutable while other members of the object are not.
    immutable_members: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Completes "spec.x is immutable: ..." in the API server's refusal.
    immutable_hint: str = ""
    # SageMaker cannot change the object in place: each change makes a new one (a revision), whose
    # name status records, so the SageMaker name comes from the spec or the object only.
    revisioned: bool = False
    # The status field with SageMaker's own word for the object's state (metrics count by it).
    state_field: str | None = None

    @property
    def singular(self) -> str:
        return self.kind.lower()


def fields_except(model: type[BaseModel], *mutable: str) -> tuple[str, ...]:
    """Every field of `model` but the ones named: immutability is the default for jobs, so a member
    SageMaker adds later is immutable without anyone listing it."""
    unknown = set(mutable) - set(model.model_fields)
    if unknown:
        raise ValueError(f"{model.__name__} has no fields {sorted(unknown)}")
    return tuple(name for name in model.model_fields if name not in mutable)


def cel_rules(*rules: tuple[str, str] | tuple[str, str, str]) -> dict[str, Any]:
    """A model's `json_schema_extra` carrying CEL rules (rule, message[, fieldPath]) the CRD enforces;
    fieldPath (".member") makes the API server's refusal point at that member."""
    validations = []
    for rule, message, *field_path in rules:
        validations.append({"rule": rule, "message": message, **({"fieldPath": field_path[0]} if field_path else {})})
    return {"x-kubernetes-validations": validations}


def at_most_one(*fields: str) -> str:
    """CEL: no two of the fields are set."""
    return " + ".join(f"(has(self.{name}) ? 1 : 0)" for name in fields) + " <= 1"


def exactly_one(*fields: str) -> str:
    return " + ".join(f"(has(self.{name}) ? 1 : 0)" for name in fields) + " == 1"


def tags_with_ownership(user_tags: list[Any] | None, ownership_tags: Mapping[str, str]) -> list[dict[str, str]]:
    """The Tags of a create request: the user's, then the operator's ownership tags, which win on a
    key both give (ownership must not be forgeable from the spec)."""
    tags = [{"Key": tag.key, "Value": tag.value} for tag in user_tags or () if tag.key not in ownership_tags]
    tags += [{"Key": key, "Value": value} for key, value in ownership_tags.items()]
    return tags


def request_fingerprint(request: Mapping[str, Any]) -> str:
    """A short, stable digest of a request: equal requests have equal fingerprints, whatever the key order."""
    text = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
