"""TrainingJob: one SageMaker training job. The spec is CreateTrainingJob's request, immutable once
created except for what UpdateTrainingJob changes in place."""

import datetime
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import ConfigDict, Field

from kubemaker.api import shapes
from kubemaker.api.base import ApiModel, narrowed, to_wire
from kubemaker.api.common import (
    KindInfo,
    OperatorFields,
    PrinterColumn,
    StatusBase,
    cel_rules,
    fields_except,
    tags_with_ownership,
)

# SageMaker's default MaxRuntimeInSeconds when a spot job gives none: one day.
DEFAULT_MAX_RUNTIME_SECONDS = 86400

SPOT_NEEDS_MAX_WAIT = (
    "!has(self.enableManagedSpotTraining) || !self.enableManagedSpotTraining || "
    "(has(self.stoppingCondition) && has(self.stoppingCondition.maxWaitTimeInSeconds) && "
    "self.stoppingCondition.maxWaitTimeInSeconds >= (has(self.stoppingCondition.maxRuntimeInSeconds) ? "
    f"self.stoppingCondition.maxRuntimeInSeconds : {DEFAULT_MAX_RUNTIME_SECONDS}))",
    "stoppingCondition.maxWaitTimeInSeconds is required with enableManagedSpotTraining and must be at least "
    f"stoppingCondition.maxRuntimeInSeconds (default {DEFAULT_MAX_RUNTIME_SECONDS})",
    ".stoppingCondition",
)


class TrainingJobSpec(shapes.TrainingJobSpecFields, OperatorFields):
    """CreateTrainingJob's request in lowerCamelCase, plus deletionPolicy and region."""

    model_config = ConfigDict(json_schema_extra=cel_rules(SPOT_NEEDS_MAX_WAIT))


# What UpdateTrainingJob changes on a created job; every other member is immutable.
UPDATABLE_FIELDS = ("profilerConfig", "profilerRuleConfigurations", "remoteDebugConfig")
UPDATABLE_RESOURCE_CONFIG_MEMBERS = ("keepAlivePeriodInSeconds",)


class AppliedTrainingJobUpdates(ApiModel):
    """The updatable members as last sent with UpdateTrainingJob, to tell when the spec changed them."""

    model_config = ConfigDict(extra="ignore")

    profilerConfig: narrowed(TrainingJobSpec, "profilerConfig", {}) = None
    profilerRuleConfigurations: narrowed(TrainingJobSpec, "profilerRuleConfigurations", {}) = None
    remoteDebugConfig: narrowed(TrainingJobSpec, "remoteDebugConfig", {}) = None
    keepAlivePeriodInSeconds: int | None = Field(None, description="resourceConfig.keepAlivePeriodInSeconds.")


class TrainingJobStatus(StatusBase):
    """What DescribeTrainingJob reports, in SageMaker's words."""

    wire_names: ClassVar[dict[str, str]] = {
        "trainingJobName": "TrainingJobName",
        "trainingJobArn": "TrainingJobArn",
        "trainingJobStatus": "TrainingJobStatus",
        "secondaryStatus": "SecondaryStatus",
        "secondaryStatusTransitions": "SecondaryStatusTransitions",
        "failureReason": "FailureReason",
        "modelArtifacts": "ModelArtifacts",
        "billableTimeInSeconds": "BillableTimeInSeconds",
        "trainingTimeInSeconds": "TrainingTimeInSeconds",
        "trainingStartTime": "TrainingStartTime",
        "trainingEndTime": "TrainingEndTime",
        "finalMetricDataList": "FinalMetricDataList",
        "debugRuleEvaluationStatuses": "DebugRuleEvaluationStatuses",
        "profilerRuleEvaluationStatuses": "ProfilerRuleEvaluationStatuses",
    }

    trainingJobName: str | None = Field(None, description="The SageMaker training job name.")
    trainingJobArn: str | None = Field(None, description="The SageMaker training job ARN.")
    trainingJobStatus: str | None = Field(
        None, description="InProgress, Completed, Failed, Stopping or Stopped, as SageMaker reports it."
    )
    secondaryStatus: str | None = Field(None, description="SageMaker's detailed status, e.g. Downloading, Training.")
    secondaryStatusTransitions: list[shapes.SecondaryStatusTransition] | None = Field(
        None, description="The most recent secondary status transitions."
    )
    failureReason: str | None = Field(None, description="Why the job failed, if it did.")
    modelArtifacts: shapes.ModelArtifacts | None = Field(None, description="Where the model artifacts are.")
    billableTimeInSeconds: int | None = Field(None, description="The billable training time.")
    trainingTimeInSeconds: int | None = Field(None, description="The training time.")
    spotSavingsPercent: int | None = Field(
        None, description="Managed spot savings: 100 * (1 - billable / training time)."
    )
    trainingStartTime: datetime.datetime | None = Field(None, description="When training started.")
    trainingEndTime: datetime.datetime | None = Field(None, description="When training ended.")
    finalMetricDataList: list[shapes.MetricData] | None = Field(None, description="The final metric values.")
    logStreams: list[str] | None = Field(
        None, description="CloudWatch log streams in /aws/sagemaker/TrainingJobs."
    )
    debugRuleEvaluationStatuses: list[shapes.DebugRuleEvaluationStatus] | None = Field(
        None, description="Debugger rule evaluations."
    )
    profilerRuleEvaluationStatuses: list[shapes.ProfilerRuleEvaluationStatus] | None = Field(
        None, description="Profiler rule evaluations."
    )
    appliedUpdates: AppliedTrainingJobUpdates | None = Field(
        None, description="The members last applied with UpdateTrainingJob."
    )


# Status keeps the last transitions only: the history of a long job would grow the object unbounded.
MAX_REPORTED_TRANSITIONS = 10


def spot_savings_percent(billable_seconds: int | None, training_seconds: int | None) -> int | None:
    if not billable_seconds or not training_seconds:
        return None
    return max(0, round(100 * (1 - billable_seconds / training_seconds)))


def build_create_training_job_request(
    spec: TrainingJobSpec, name: str, ownership_tags: Mapping[str, str]
) -> dict[str, Any]:
    """CreateTrainingJob's request: the spec's SageMaker members, `name`, the user's tags and the
    operator's ownership tags."""
    request = to_wire(spec)
    request["TrainingJobName"] = name
    if tags := tags_with_ownership(spec.tags, ownership_tags):
        request["Tags"] = tags
    return request


def build_update_training_job_request(spec: TrainingJobSpec, name: str) -> dict[str, Any]:
    """UpdateTrainingJob's request carrying every member the spec may change on a created job."""
    members: dict[str, Any] = {"trainingJobName": name}
    for field in UPDATABLE_FIELDS:
        value = getattr(spec, field)
        if value is not None:
            members[field] = _dump(value)
    if spec.resourceConfig and spec.resourceConfig.keepAlivePeriodInSeconds is not None:
        members["resourceConfig"] = {"keepAlivePeriodInSeconds": spec.resourceConfig.keepAlivePeriodInSeconds}
    return to_wire(shapes.UpdateTrainingJobRequest.model_validate(members))


def _dump(value: Any) -> Any:
    if isinstance(value, list):
        return [_dump(item) for item in value]
    return value.model_dump(exclude_none=True)


TRAINING_JOB = KindInfo(
    kind="TrainingJob",
    plural="trainingjobs",
    short_names=("smtj",),
    spec_model=TrainingJobSpec,
    status_model=TrainingJobStatus,
    description="A SageMaker training job. The spec is CreateTrainingJob's request in lowerCamelCase.",
    operations=("CreateTrainingJob", "DescribeTrainingJob", "UpdateTrainingJob", "StopTrainingJob"),
    name_field="trainingJobName",
    name_max_length=63,
    state_field="trainingJobStatus",
    printer_columns=(
        PrinterColumn("Status", ".status.trainingJobStatus", description="SageMaker's training job status"),
        PrinterColumn("Secondary", ".status.secondaryStatus", description="SageMaker's secondary status"),
        PrinterColumn("Instance-Type", ".spec.resourceConfig.instanceType"),
        PrinterColumn("Count", ".spec.resourceConfig.instanceCount", type="integer"),
        PrinterColumn("Spot-Savings", ".status.spotSavingsPercent", type="integer", description="percent"),
        PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status', priority=1),
    ),
    immutable_fields=fields_except(TrainingJobSpec, "deletionPolicy", "resourceConfig", *UPDATABLE_FIELDS),
    immutable_members={
        "resourceConfig": fields_except(shapes.ResourceConfig, *UPDATABLE_RESOURCE_CONFIG_MEMBERS),
    },
    immutable_hint="create a new TrainingJob to run again",
)
