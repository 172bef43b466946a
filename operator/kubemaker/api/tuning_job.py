"""HyperParameterTuningJob: one SageMaker tuning job (its training jobs are SageMaker's, read-only).
The spec is CreateHyperParameterTuningJob's request, immutable once created; warm start parents may
be HyperParameterTuningJob objects."""

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import ConfigDict, Field

from kubemaker.api import shapes
from kubemaker.api.base import narrowed, to_wire
from kubemaker.api.common import (
    KindInfo,
    LocalObjectReference,
    OperatorFields,
    PrinterColumn,
    StatusBase,
    cel_rules,
    exactly_one,
    fields_except,
    tags_with_ownership,
)
from kubemaker.api.model import UnresolvedReference
from kubemaker.api.training_job import SPOT_NEEDS_MAX_WAIT


class ParentTuningJob(shapes.ParentHyperParameterTuningJob):
    """A warm start parent: a SageMaker tuning job by name, or a HyperParameterTuningJob object."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            (
                exactly_one("hyperParameterTuningJobName", "ref"),
                "give exactly one of hyperParameterTuningJobName and ref",
                ".ref",
            )
        )
    )

    ref: LocalObjectReference | None = Field(
        None, description="A HyperParameterTuningJob object in this namespace, instead of hyperParameterTuningJobName."
    )


class TuningWarmStartConfig(shapes.HyperParameterTuningJobWarmStartConfig):
    """HyperParameterTuningJobWarmStartConfig whose parents may be objects."""

    parentHyperParameterTuningJobs: narrowed(
        shapes.HyperParameterTuningJobWarmStartConfig,
        "parentHyperParameterTuningJobs",
        {shapes.ParentHyperParameterTuningJob: ParentTuningJob},
    )


class TuningTrainingJobDefinition(shapes.HyperParameterTrainingJobDefinition):
    """HyperParameterTrainingJobDefinition, with the spot rule of TrainingJob."""

    model_config = ConfigDict(json_schema_extra=cel_rules(SPOT_NEEDS_MAX_WAIT))


_DEFINITIONS = {shapes.HyperParameterTrainingJobDefinition: TuningTrainingJobDefinition}


class HyperParameterTuningJobSpec(shapes.HyperParameterTuningJobSpecFields, OperatorFields):
    """CreateHyperParameterTuningJob's request in lowerCamelCase, plus deletionPolicy, region and warm
    start parents by reference."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            (
                exactly_one("trainingJobDefinition", "trainingJobDefinitions"),
                "give exactly one of trainingJobDefinition and trainingJobDefinitions",
                ".trainingJobDefinition",
            )
        )
    )

    trainingJobDefinition: narrowed(shapes.HyperParameterTuningJobSpecFields, "trainingJobDefinition", _DEFINITIONS) = None  # noqa: E501
    trainingJobDefinitions: narrowed(shapes.HyperParameterTuningJobSpecFields, "trainingJobDefinitions", _DEFINITIONS) = None  # noqa: E501
    warmStartConfig: narrowed(
        shapes.HyperParameterTuningJobSpecFields,
        "warmStartConfig",
        {shapes.HyperParameterTuningJobWarmStartConfig: TuningWarmStartConfig},
    ) = None


def referenced_tuning_jobs(spec: HyperParameterTuningJobSpec) -> set[str]:
    """Names of the HyperParameterTuningJob objects used as warm start parents."""
    if not spec.warmStartConfig:
        return set()
    return {parent.ref.name for parent in spec.warmStartConfig.parentHyperParameterTuningJobs if parent.ref}


def build_create_hyper_parameter_tuning_job_request(
    spec: HyperParameterTuningJobSpec,
    name: str,
    parent_tuning_job_names: Mapping[str, str],
    ownership_tags: Mapping[str, str],
) -> dict[str, Any]:
    """CreateHyperParameterTuningJob's request. `parent_tuning_job_names` maps each referenced
    HyperParameterTuningJob object (see `referenced_tuning_jobs`) to its SageMaker tuning job name."""
    request = to_wire(spec)
    if spec.warmStartConfig:
        wire_parents = request["WarmStartConfig"]["ParentHyperParameterTuningJobs"]
        for wire_parent, parent in zip(wire_parents, spec.warmStartConfig.parentHyperParameterTuningJobs, strict=True):
            if parent.ref:
                if parent.ref.name not in parent_tuning_job_names:
                    raise UnresolvedReference(f"HyperParameterTuningJob {parent.ref.name} has no tuning job yet")
                wire_parent["HyperParameterTuningJobName"] = parent_tuning_job_names[parent.ref.name]
    request["HyperParameterTuningJobName"] = name
    if tags := tags_with_ownership(spec.tags, ownership_tags):
        request["Tags"] = tags
    return request


class HyperParameterTuningJobStatus(StatusBase):
    """What DescribeHyperParameterTuningJob reports, in SageMaker's words."""

    wire_names: ClassVar[dict[str, str]] = {
        "hyperParameterTuningJobName": "HyperParameterTuningJobName",
        "hyperParameterTuningJobArn": "HyperParameterTuningJobArn",
        "hyperParameterTuningJobStatus": "HyperParameterTuningJobStatus",
        "failureReason": "FailureReason",
        "trainingJobStatusCounters": "TrainingJobStatusCounters",
        "objectiveStatusCounters": "ObjectiveStatusCounters",
        "bestTrainingJob": "BestTrainingJob",
    }

    hyperParameterTuningJobName: str | None = Field(None, description="The SageMaker tuning job name.")
    hyperParameterTuningJobArn: str | None = Field(None, description="The SageMaker tuning job ARN.")
    hyperParameterTuningJobStatus: str | None = Field(
        None, description="InProgress, Completed, Failed, Stopping or Stopped, as SageMaker reports it."
    )
    failureReason: str | None = Field(None, description="Why the tuning job failed, if it did.")
    trainingJobStatusCounters: shapes.TrainingJobStatusCounters | None = Field(
        None, description="Training jobs launched by the tuning job, by state."
    )
    objectiveStatusCounters: shapes.ObjectiveStatusCounters | None = Field(
        None, description="Training jobs by the state of their objective metric."
    )
    bestTrainingJob: shapes.HyperParameterTrainingJobSummary | None = Field(
        None, description="The training job with the best objective value so far, and that value."
    )


HYPER_PARAMETER_TUNING_JOB = KindInfo(
    kind="HyperParameterTuningJob",
    plural="hyperparametertuningjobs",
    short_names=("smhpo",),
    spec_model=HyperParameterTuningJobSpec,
    status_model=HyperParameterTuningJobStatus,
    description=(
        "A SageMaker hyperparameter tuning job. The spec is CreateHyperParameterTuningJob's request in lowerCamelCase."
    ),
    operations=(
        "CreateHyperParameterTuningJob",
        "DescribeHyperParameterTuningJob",
        "StopHyperParameterTuningJob",
    ),
    name_field="hyperParameterTuningJobName",
    name_max_length=32,
    state_field="hyperParameterTuningJobStatus",
    printer_columns=(
        PrinterColumn("Status", ".status.hyperParameterTuningJobStatus", description="SageMaker's tuning job status"),
        PrinterColumn("Completed", ".status.trainingJobStatusCounters.completed", type="integer"),
        PrinterColumn("In-Progress", ".status.trainingJobStatusCounters.inProgress", type="integer"),
        PrinterColumn("Best-Job", ".status.bestTrainingJob.trainingJobName"),
        PrinterColumn(
            "Objective", ".status.bestTrainingJob.finalHyperParameterTuningJobObjectiveMetric.value", type="number"
        ),
        PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status', priority=1),
    ),
    immutable_fields=fields_except(HyperParameterTuningJobSpec, "deletionPolicy"),
    immutable_hint="create a new HyperParameterTuningJob to run again",
)
