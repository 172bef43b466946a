"""MonitoringSchedule: a SageMaker Model Monitor schedule and the job definition it runs, which the
object owns the way an Endpoint owns its endpoint configs.

The spec is CreateMonitoringSchedule's request (without what the operator fills in: the definition's
name and type) and, in exactly one of dataQuality, modelQuality, modelBias and modelExplainability,
the matching Create<Type>JobDefinition request (without its name and tags). The endpoint monitored
is `endpointRef` (an Endpoint object of this namespace), or an endpoint named in the job input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kubemaker.api import shapes
from kubemaker.api.base import ApiShape, narrowed, to_wire
from kubemaker.api.common import (
    AdoptionField,
    KindInfo,
    LocalObjectReference,
    OperatorFields,
    PrinterColumn,
    StatusBase,
    cel_rules,
    exactly_one,
    tags_with_ownership,
)


class MonitoredEndpointInput(shapes.EndpointInput):
    """EndpointInput, whose endpoint is spec.endpointRef's unless endpointName names one."""

    endpointName: shapes.EndpointName | None = Field(  # type: ignore[assignment]
        None, description="A SageMaker endpoint of this namespace by name, instead of spec.endpointRef."
    )


_ENDPOINT_INPUT = {shapes.EndpointInput: MonitoredEndpointInput}


def _endpoint_only() -> ConfigDict:
    # A fresh rule per job input: one shared object would be written once into the CRD, then referenced.
    return ConfigDict(json_schema_extra=cel_rules((
        "has(self.endpointInput) && !has(self.batchTransformInput)",
        "give endpointInput: a MonitoringSchedule monitors an endpoint (batchTransformInput is not supported)",
        ".endpointInput",
    )))


class DataQualityInput(shapes.DataQualityJobInput):
    model_config = _endpoint_only()
    endpointInput: narrowed(shapes.DataQualityJobInput, "endpointInput", _ENDPOINT_INPUT) = None  # type: ignore[valid-type]  # noqa: E501


class ModelQualityInput(shapes.ModelQualityJobInput):
    model_config = _endpoint_only()
    endpointInput: narrowed(shapes.ModelQualityJobInput, "endpointInput", _ENDPOINT_INPUT) = None  # type: ignore[valid-type]  # noqa: E501


class ModelBiasInput(shapes.ModelBiasJobInput):
    model_config = _endpoint_only()
    endpointInput: narrowed(shapes.ModelBiasJobInput, "endpointInput", _ENDPOINT_INPUT) = None  # type: ignore[valid-type]  # noqa: E501


class ModelExplainabilityInput(shapes.ModelExplainabilityJobInput):
    model_config = _endpoint_only()
    endpointInput: narrowed(shapes.ModelExplainabilityJobInput, "endpointInput", _ENDPOINT_INPUT) = None  # type: ignore[valid-type]  # noqa: E501


class DataQualityDefinition(shapes.DataQualityJobDefinitionFields):
    """CreateDataQualityJobDefinition's request, without its name and tags."""

    dataQualityJobInput: narrowed(shapes.DataQualityJobDefinitionFields, "dataQualityJobInput", {shapes.DataQualityJobInput: DataQualityInput})  # type: ignore[valid-type]  # noqa: E501


class ModelQualityDefinition(shapes.ModelQualityJobDefinitionFields):
    """CreateModelQualityJobDefinition's request, without its name and tags."""

    modelQualityJobInput: narrowed(shapes.ModelQualityJobDefinitionFields, "modelQualityJobInput", {shapes.ModelQualityJobInput: ModelQualityInput})  # type: ignore[valid-type]  # noqa: E501


class ModelBiasDefinition(shapes.ModelBiasJobDefinitionFields):
    """CreateModelBiasJobDefinition's request, without its name and tags."""

    modelBiasJobInput: narrowed(shapes.ModelBiasJobDefinitionFields, "modelBiasJobInput", {shapes.ModelBiasJobInput: ModelBiasInput})  # type: ignore[valid-type]  # noqa: E501


class ModelExplainabilityDefinition(shapes.ModelExplainabilityJobDefinitionFields):
    """CreateModelExplainabilityJobDefinition's request, without its name and tags."""

    modelExplainabilityJobInput: narrowed(shapes.ModelExplainabilityJobDefinitionFields, "modelExplainabilityJobInput", {shapes.ModelExplainabilityJobInput: ModelExplainabilityInput})  # type: ignore[valid-type]  # noqa: E501


@dataclass(frozen=True)
class MonitoringType:
    """One of SageMaker's four kinds of monitoring job definition, and its operations."""

    name: str  # SageMaker's MonitoringType: DataQuality
    definition_model: type[BaseModel]

    @property
    def field(self) -> str:
        """The spec field holding the definition: dataQuality."""
        return self.name[:1].lower() + self.name[1:]

    @property
    def input_member(self) -> str:
        return f"{self.name}JobInput"

    @property
    def input_field(self) -> str:
        """The definition's job input in the spec: dataQualityJobInput."""
        return f"{self.field}JobInput"


MONITORING_TYPES = (
    MonitoringType("DataQuality", DataQualityDefinition),
    MonitoringType("ModelQuality", ModelQualityDefinition),
    MonitoringType("ModelBias", ModelBiasDefinition),
    MonitoringType("ModelExplainability", ModelExplainabilityDefinition),
)
_DEFINITION_FIELDS = tuple(monitoring_type.field for monitoring_type in MONITORING_TYPES)


def _named_endpoint(field: str, monitoring_type: MonitoringType) -> str:
    """CEL: the definition in `field` names its endpoint in its job input."""
    job_input = f"self.{field}.{monitoring_type.input_field}"
    return (f"(has(self.{field}) && has({job_input}.endpointInput) && "
            f"has({job_input}.endpointInput.endpointName))")


class ScheduleOnly(ApiShape):
    """MonitoringScheduleConfig without what the operator fills in (the definition's name and type);
    an inline monitoringJobDefinition is not taken: the definition is spec.dataQuality and the others."""

    shape_name: ClassVar[str] = "MonitoringScheduleConfig"
    wire_names: ClassVar[dict[str, str]] = {"scheduleConfig": "ScheduleConfig"}

    scheduleConfig: shapes.ScheduleConfig = Field(description="When the monitoring job runs.")


class MonitoringScheduleSpec(shapes.MonitoringScheduleSpecFields, OperatorFields, AdoptionField):
    """CreateMonitoringSchedule's request in lowerCamelCase, endpointRef, and the job definition's
    request in exactly one of dataQuality, modelQuality, modelBias and modelExplainability; plus
    deletionPolicy, region and adoptExisting."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            (
                exactly_one(*_DEFINITION_FIELDS),
                "give exactly one of dataQuality, modelQuality, modelBias and modelExplainability",
                ".dataQuality",
            ),
            (
                "(has(self.endpointRef) ? 1 : 0) + ("
                + " || ".join(_named_endpoint(t.field, t) for t in MONITORING_TYPES)
                + " ? 1 : 0) == 1",
                "give the endpoint to monitor as endpointRef or as the job input's endpointInput.endpointName, "
                "not both",
                ".endpointRef",
            ),
            (
                "!has(self.adoptExisting) || !self.adoptExisting || has(self.monitoringScheduleName)",
                "adoptExisting needs the monitoringScheduleName of the SageMaker monitoring schedule to adopt",
                ".monitoringScheduleName",
            ),
        )
    )

    endpointRef: LocalObjectReference | None = Field(
        None, description="The Endpoint object of this namespace to monitor; it must capture data (dataCaptureConfig)."
    )
    monitoringScheduleConfig: ScheduleOnly = Field(  # type: ignore[assignment]
        description="The schedule: scheduleConfig. The operator fills in the job definition's name and type."
    )
    dataQuality: DataQualityDefinition | None = Field(
        None, description="CreateDataQualityJobDefinition's request (without its name and tags)."
    )
    modelQuality: ModelQualityDefinition | None = Field(
        None, description="CreateModelQualityJobDefinition's request (without its name and tags)."
    )
    modelBias: ModelBiasDefinition | None = Field(
        None, description="CreateModelBiasJobDefinition's request (without its name and tags)."
    )
    modelExplainability: ModelExplainabilityDefinition | None = Field(
        None, description="CreateModelExplainabilityJobDefinition's request (without its name and tags)."
    )

    @model_validator(mode="after")
    def _one_definition(self) -> MonitoringScheduleSpec:
        if sum(getattr(self, field) is not None for field in _DEFINITION_FIELDS) != 1:
            raise ValueError("give exactly one of dataQuality, modelQuality, modelBias and modelExplainability")
        named = self.endpoint_input().endpointName is not None
        if named == (self.endpointRef is not None):
            raise ValueError("give the endpoint to monitor as endpointRef or as the job input's "
                             "endpointInput.endpointName, not both")
        return self

    @property
    def monitoring_type(self) -> MonitoringType:
        return next(t for t in MONITORING_TYPES if getattr(self, t.field) is not None)

    @property
    def definition(self) -> BaseModel:
        return getattr(self, self.monitoring_type.field)

    def endpoint_input(self) -> MonitoredEndpointInput:
        endpoint_input = getattr(self.definition, self.monitoring_type.input_field).endpointInput
        if endpoint_input is None:
            raise ValueError(f"spec.{self.monitoring_type.field}: give endpointInput")
        return endpoint_input


def build_create_job_definition_request(spec: MonitoringScheduleSpec, name: str, endpoint_name: str,
                                        ownership_tags: Mapping[str, str]) -> dict[str, Any]:
    """Create<Type>JobDefinition's request for the spec's definition, on `endpoint_name`."""
    request = to_wire(spec.definition)
    request[spec.monitoring_type.input_member]["EndpointInput"]["EndpointName"] = endpoint_name
    request["JobDefinitionName"] = name
    if tags := tags_with_ownership(spec.tags, ownership_tags):
        request["Tags"] = tags
    return request


def schedule_config(spec: MonitoringScheduleSpec, definition_name: str) -> dict[str, Any]:
    """The MonitoringScheduleConfig SageMaker gets: the spec's schedule, running our definition."""
    return {
        **to_wire(spec.monitoringScheduleConfig),
        "MonitoringJobDefinitionName": definition_name,
        "MonitoringType": spec.monitoring_type.name,
    }


def build_create_monitoring_schedule_request(spec: MonitoringScheduleSpec, name: str, definition_name: str,
                                             ownership_tags: Mapping[str, str]) -> dict[str, Any]:
    request: dict[str, Any] = {"MonitoringScheduleName": name,
                               "MonitoringScheduleConfig": schedule_config(spec, definition_name)}
    if tags := tags_with_ownership(spec.tags, ownership_tags):
        request["Tags"] = tags
    return request


def build_update_monitoring_schedule_request(spec: MonitoringScheduleSpec, name: str,
                                             definition_name: str) -> dict[str, Any]:
    return {"MonitoringScheduleName": name, "MonitoringScheduleConfig": schedule_config(spec, definition_name)}


class JobDefinitionRef(BaseModel):
    """A job definition this object made: its name and type (each type has its own operations)."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(description="The job definition's name.")
    monitoringType: str = Field(description="DataQuality, ModelQuality, ModelBias or ModelExplainability.")


class MonitoringScheduleStatus(StatusBase):
    """The schedule as DescribeMonitoringSchedule reports it, its definitions and its last execution."""

    wire_names: ClassVar[dict[str, str]] = {
        "monitoringScheduleName": "MonitoringScheduleName",
        "monitoringScheduleArn": "MonitoringScheduleArn",
        "monitoringScheduleStatus": "MonitoringScheduleStatus",
        "monitoringType": "MonitoringType",
        "failureReason": "FailureReason",
        "endpointName": "EndpointName",
        "lastMonitoringExecutionSummary": "LastMonitoringExecutionSummary",
    }

    monitoringScheduleName: str | None = Field(None, description="The SageMaker monitoring schedule name.")
    monitoringScheduleArn: str | None = Field(None, description="The SageMaker monitoring schedule ARN.")
    monitoringScheduleStatus: str | None = Field(
        None, description="Pending, Scheduled, Stopped or Failed, as SageMaker reports it."
    )
    monitoringType: str | None = Field(None, description="DataQuality, ModelQuality, ModelBias or ModelExplainability.")
    failureReason: str | None = Field(None, description="Why the schedule failed.")
    endpointName: str | None = Field(None, description="The SageMaker endpoint monitored.")
    jobDefinition: JobDefinitionRef | None = Field(None, description="The job definition the schedule runs.")
    pendingJobDefinition: JobDefinitionRef | None = Field(
        None, description="A job definition made for the spec, not yet run by the schedule (deleted if never used)."
    )
    lastMonitoringExecutionSummary: shapes.MonitoringExecutionSummary | None = Field(
        None, description="The last execution: its status, failure reason and processing job."
    )


MONITORING_SCHEDULE = KindInfo(
    kind="MonitoringSchedule",
    plural="monitoringschedules",
    short_names=("smmon",),
    spec_model=MonitoringScheduleSpec,
    status_model=MonitoringScheduleStatus,
    description="A SageMaker Model Monitor schedule and the job definition it runs. The spec is "
    "CreateMonitoringSchedule's request and one Create<Type>JobDefinition request in lowerCamelCase.",
    operations=(
        "CreateMonitoringSchedule",
        "UpdateMonitoringSchedule",
        "DescribeMonitoringSchedule",
        "DeleteMonitoringSchedule",
        "CreateDataQualityJobDefinition",
        "CreateModelQualityJobDefinition",
        "CreateModelBiasJobDefinition",
        "CreateModelExplainabilityJobDefinition",
    ),
    name_field="monitoringScheduleName",
    name_max_length=63,
    state_field="monitoringScheduleStatus",
    printer_columns=(
        PrinterColumn("Status", ".status.monitoringScheduleStatus", description="SageMaker's schedule status"),
        PrinterColumn("Type", ".status.monitoringType"),
        PrinterColumn("Last-Execution", ".status.lastMonitoringExecutionSummary.monitoringExecutionStatus"),
        PrinterColumn("Violations", '.status.conditions[?(@.type=="ViolationsFound")].status'),
        PrinterColumn("Endpoint", ".status.endpointName", priority=1),
        PrinterColumn("Schedule", ".spec.monitoringScheduleConfig.scheduleConfig.scheduleExpression", priority=1),
    ),
    # A new name would be a second schedule, leaving the first one running.
    immutable_fields=("region", "monitoringScheduleName"),
    immutable_hint="create a new MonitoringSchedule instead",
)
