"""Pipeline: a SageMaker pipeline whose definition is kept in sync. The spec is CreatePipeline's
request; the definition may be an object, a string, a ConfigMap key or an S3 object."""

import datetime
import json
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import ConfigDict, Field, model_validator

from kubemaker.api import shapes
from kubemaker.api.base import ApiModel, to_wire
from kubemaker.api.common import (
    AdoptionField,
    KindInfo,
    ObjectName,
    OperatorFields,
    PrinterColumn,
    StatusBase,
    at_most_one,
    cel_rules,
    tags_with_ownership,
)


class ConfigMapKeyRef(ApiModel):
    """A key of a ConfigMap in the same namespace."""

    name: ObjectName = Field(description="The ConfigMap.")
    key: str = Field(description="The key holding the pipeline definition (JSON).")


class PipelineDefinitionFrom(ApiModel):
    """Where to read the pipeline definition from."""

    configMapKeyRef: ConfigMapKeyRef = Field(description="A ConfigMap key holding the definition as JSON.")


class PipelineSpec(shapes.PipelineSpecFields, OperatorFields, AdoptionField):
    """CreatePipeline's request in lowerCamelCase (without clientRequestToken, which the operator
    makes), plus deletionPolicy, region, adoptExisting and pipelineDefinitionFrom."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            # CEL cannot see pipelineDefinition (it has no single type); the model checks the rest.
            (
                at_most_one("pipelineDefinitionFrom", "pipelineDefinitionS3Location"),
                "give exactly one of pipelineDefinition, pipelineDefinitionFrom and pipelineDefinitionS3Location",
                ".pipelineDefinitionFrom",
            ),
            (
                "!has(self.adoptExisting) || !self.adoptExisting || has(self.pipelineName)",
                "adoptExisting needs the pipelineName of the SageMaker pipeline to adopt",
                ".pipelineName",
            ),
        )
    )

    # An object is the natural way to write it in YAML; a JSON string (SageMaker's form) works too.
    # Wider than the generated member on purpose: requests send it as text (definition_text).
    pipelineDefinition: dict[str, Any] | str | None = Field(  # type: ignore[assignment]
        None, description="The pipeline definition: a JSON/YAML object, or a JSON string."
    )
    pipelineDefinitionFrom: PipelineDefinitionFrom | None = Field(
        None, description="Read the definition from a ConfigMap key instead."
    )

    @model_validator(mode="after")
    def _one_definition(self) -> "PipelineSpec":
        sources = [self.pipelineDefinition, self.pipelineDefinitionFrom, self.pipelineDefinitionS3Location]
        if sum(source is not None for source in sources) != 1:
            raise ValueError(
                "give exactly one of pipelineDefinition, pipelineDefinitionFrom and pipelineDefinitionS3Location"
            )
        return self


def definition_text(definition: dict[str, Any] | str) -> str:
    """A pipeline definition as the JSON string SageMaker takes."""
    if isinstance(definition, str):
        return definition
    return json.dumps(definition, separators=(",", ":"))


def inline_definition(spec: PipelineSpec) -> str | None:
    """spec.pipelineDefinition as the JSON string SageMaker takes (None when it is elsewhere)."""
    if spec.pipelineDefinition is None:
        return None
    return definition_text(spec.pipelineDefinition)


def _with_definition(request: dict[str, Any], spec: PipelineSpec, definition: str | None) -> dict[str, Any]:
    request.pop("PipelineDefinition", None)
    text = definition if definition is not None else inline_definition(spec)
    if text is not None:
        request["PipelineDefinition"] = text
    return request


def build_create_pipeline_request(
    spec: PipelineSpec,
    name: str,
    client_request_token: str,
    ownership_tags: Mapping[str, str],
    definition: str | None = None,
) -> dict[str, Any]:
    """CreatePipeline's request. `definition` is the text read through pipelineDefinitionFrom; an
    inline pipelineDefinition is serialized here, an S3 location passed on as it is."""
    request = _with_definition(to_wire(spec), spec, definition)
    request["PipelineName"] = name
    request["ClientRequestToken"] = client_request_token
    if tags := tags_with_ownership(spec.tags, ownership_tags):
        request["Tags"] = tags
    return request


def build_update_pipeline_request(spec: PipelineSpec, name: str, definition: str | None = None) -> dict[str, Any]:
    """UpdatePipeline's request carrying every member it takes from the spec (definition, display
    name, description, role, parallelism)."""
    update_members = set(shapes.UpdatePipelineRequest.wire_names.values())
    request = {key: value for key, value in to_wire(spec).items() if key in update_members}
    request["PipelineName"] = name
    return _with_definition(request, spec, definition)


class PipelineStatus(StatusBase):
    """What DescribePipeline reports, and the latest execution."""

    wire_names: ClassVar[dict[str, str]] = {
        "pipelineName": "PipelineName",
        "pipelineArn": "PipelineArn",
        "pipelineStatus": "PipelineStatus",
        "lastModifiedTime": "LastModifiedTime",
    }

    pipelineName: str | None = Field(None, description="The SageMaker pipeline name.")
    pipelineArn: str | None = Field(None, description="The SageMaker pipeline ARN.")
    pipelineStatus: str | None = Field(None, description="Active or Deleting, as SageMaker reports it.")
    lastModifiedTime: datetime.datetime | None = Field(
        None, description="When SageMaker last changed the pipeline (its definition, role, ...), by anyone."
    )
    latestExecution: shapes.PipelineExecutionSummary | None = Field(
        None, description="The most recent execution of the pipeline."
    )


PIPELINE = KindInfo(
    kind="Pipeline",
    plural="pipelines",
    short_names=("smpipe",),
    spec_model=PipelineSpec,
    status_model=PipelineStatus,
    description=(
        "A SageMaker pipeline, its definition kept in sync. The spec is CreatePipeline's request in lowerCamelCase."
    ),
    operations=("CreatePipeline", "UpdatePipeline", "DescribePipeline", "DeletePipeline"),
    name_field="pipelineName",
    name_max_length=256,
    state_field="pipelineStatus",
    printer_columns=(
        PrinterColumn("Status", ".status.pipelineStatus", description="SageMaker's pipeline status"),
        PrinterColumn("Latest-Execution", ".status.latestExecution.pipelineExecutionStatus"),
        PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status', priority=1),
    ),
    # A new name would be a second pipeline, leaving the first one behind.
    immutable_fields=("region", "pipelineName"),
    immutable_hint="create a new Pipeline instead",
)
