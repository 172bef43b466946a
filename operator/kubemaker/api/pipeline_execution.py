"""PipelineExecution: one execution of a SageMaker pipeline. The spec is StartPipelineExecution's
request, immutable once started except for what UpdatePipelineExecution changes."""

import datetime
from typing import Any, ClassVar

from pydantic import ConfigDict, Field

from kubemaker.api import shapes
from kubemaker.api.base import ApiShape, to_wire
from kubemaker.api.common import (
    KindInfo,
    LocalObjectReference,
    OperatorFields,
    PrinterColumn,
    StatusBase,
    cel_rules,
    exactly_one,
    fields_except,
)

# What UpdatePipelineExecution changes on a started execution.
UPDATABLE_FIELDS = ("pipelineExecutionDisplayName", "pipelineExecutionDescription", "parallelismConfiguration")


class PipelineExecutionSpec(shapes.PipelineExecutionSpecFields, OperatorFields):
    """StartPipelineExecution's request in lowerCamelCase (without clientRequestToken, which the
    operator makes), plus deletionPolicy, region and pipelineRef."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            (
                exactly_one("pipelineName", "pipelineRef"),
                "give exactly one of pipelineName and pipelineRef",
                ".pipelineRef",
            )
        )
    )

    pipelineRef: LocalObjectReference | None = Field(
        None, description="A Pipeline object in this namespace, instead of pipelineName."
    )


def build_start_pipeline_execution_request(
    spec: PipelineExecutionSpec, pipeline_name: str, client_request_token: str
) -> dict[str, Any]:
    """StartPipelineExecution's request. `pipeline_name` is spec.pipelineName or the SageMaker name
    of the Pipeline object spec.pipelineRef names. (StartPipelineExecution takes no tags: the
    execution belongs to its pipeline; the token makes a retried start idempotent.)"""
    request = to_wire(spec)
    request["PipelineName"] = pipeline_name
    request["ClientRequestToken"] = client_request_token
    return request


def build_update_pipeline_execution_request(spec: PipelineExecutionSpec, execution_arn: str) -> dict[str, Any]:
    """UpdatePipelineExecution's request carrying the members the spec may change."""
    updatable = {spec.wire_names[f] for f in UPDATABLE_FIELDS}
    request = {key: value for key, value in to_wire(spec).items() if key in updatable}
    request["PipelineExecutionArn"] = execution_arn
    return request


class PipelineExecutionStepStatus(ApiShape):
    """One step as ListPipelineExecutionSteps reports it."""

    model_config = ConfigDict(extra="ignore")
    wire_names: ClassVar[dict[str, str]] = {
        "stepName": "StepName",
        "stepDisplayName": "StepDisplayName",
        "stepStatus": "StepStatus",
        "startTime": "StartTime",
        "endTime": "EndTime",
        "failureReason": "FailureReason",
        "attemptCount": "AttemptCount",
    }

    stepName: str = Field(description="The step.")
    stepDisplayName: str | None = Field(None, description="Its display name.")
    stepStatus: str | None = Field(None, description="Starting, Executing, Stopping, Stopped, Failed or Succeeded.")
    startTime: datetime.datetime | None = Field(None, description="When the step started.")
    endTime: datetime.datetime | None = Field(None, description="When the step ended.")
    failureReason: str | None = Field(None, description="Why the step failed, if it did.")
    attemptCount: int | None = Field(None, description="How many times the step ran.")


class PipelineExecutionStatus(StatusBase):
    """What DescribePipelineExecution and ListPipelineExecutionSteps report."""

    wire_names: ClassVar[dict[str, str]] = {
        "pipelineArn": "PipelineArn",
        "pipelineExecutionArn": "PipelineExecutionArn",
        "pipelineExecutionStatus": "PipelineExecutionStatus",
        "failureReason": "FailureReason",
        "creationTime": "CreationTime",
        "lastModifiedTime": "LastModifiedTime",
    }

    pipelineName: str | None = Field(None, description="The SageMaker pipeline executed.")
    pipelineArn: str | None = Field(None, description="Its ARN.")
    pipelineExecutionArn: str | None = Field(None, description="The execution's ARN.")
    pipelineExecutionStatus: str | None = Field(
        None, description="Executing, Stopping, Stopped, Failed or Succeeded, as SageMaker reports it."
    )
    failureReason: str | None = Field(None, description="Why the execution failed, if it did.")
    creationTime: datetime.datetime | None = Field(None, description="When the execution started.")
    lastModifiedTime: datetime.datetime | None = Field(None, description="When it last changed.")
    steps: list[PipelineExecutionStepStatus] | None = Field(
        None, description="The steps and their status, in the order they started."
    )
    stepSummary: str | None = Field(
        None,
        description=(
            "Each step and its status on one line (Train=Succeeded, Evaluate=Executing), for kubectl get -o wide."
        ),
    )


PIPELINE_EXECUTION = KindInfo(
    kind="PipelineExecution",
    plural="pipelineexecutions",
    short_names=("smpx",),
    spec_model=PipelineExecutionSpec,
    status_model=PipelineExecutionStatus,
    description=(
        "One execution of a SageMaker pipeline. The spec is StartPipelineExecution's request in lowerCamelCase."
    ),
    operations=(
        "StartPipelineExecution",
        "UpdatePipelineExecution",
        "DescribePipelineExecution",
        "ListPipelineExecutionSteps",
        "StopPipelineExecution",
    ),
    name_field="pipelineExecutionDisplayName",
    name_max_length=82,
    state_field="pipelineExecutionStatus",
    printer_columns=(
        PrinterColumn("Status", ".status.pipelineExecutionStatus", description="SageMaker's execution status"),
        PrinterColumn("Pipeline", ".status.pipelineName"),
        PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status', priority=1),
        PrinterColumn("Steps", ".status.stepSummary", priority=1),
    ),
    immutable_fields=fields_except(PipelineExecutionSpec, "deletionPolicy", *UPDATABLE_FIELDS),
    immutable_hint="create a new PipelineExecution to run again",
)
