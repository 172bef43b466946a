"""ProcessingJob: one SageMaker processing job (preprocessing, evaluation). The spec is
CreateProcessingJob's request, immutable once created except deletionPolicy."""

import datetime
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import ConfigDict, Field

from kubemaker.api import shapes
from kubemaker.api.base import ApiShape, narrowed, raised, to_wire
from kubemaker.api.common import (
    KindInfo,
    OperatorFields,
    PrinterColumn,
    StatusBase,
    cel_rules,
    fields_except,
    tags_with_ownership,
)


def keyed_by(member: str) -> dict[str, Any]:
    """A list whose entries are unique by `member`: the API server refuses a duplicate at apply (a CEL
    rule comparing every pair of unbounded names would exceed its cost budget), and server-side apply
    merges entries by that name."""
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": [member]}


class ProcessingOutputConfig(shapes.ProcessingOutputConfig):
    """ProcessingOutputConfig with outputs unique by outputName, as SageMaker requires."""

    outputs: narrowed(shapes.ProcessingOutputConfig, "outputs", {}, json_schema_extra=keyed_by("outputName"))


# What SageMaker refuses in CreateProcessingJob beyond the service model's constraints, refused at apply.
PROCESSING_RULES = (
    ("!has(self.processingInputs) || self.processingInputs.all(i, (has(i.s3Input) ? 1 : 0) + "
     "(has(i.datasetDefinition) ? 1 : 0) == 1)",
     "each processingInputs[] entry takes exactly one of s3Input and datasetDefinition", ".processingInputs"),
    ("!has(self.processingOutputConfig) || self.processingOutputConfig.outputs.all(o, (has(o.s3Output) ? 1 : 0) + "
     "(has(o.featureStoreOutput) ? 1 : 0) == 1)",
     "each processingOutputConfig.outputs[] entry takes exactly one of s3Output and featureStoreOutput",
     ".processingOutputConfig"),
    ("has(self.processingResources.clusterConfig.instanceType) != "
     "has(self.processingResources.clusterConfig.instancePreferences)",
     "processingResources.clusterConfig takes exactly one of instanceType and instancePreferences",
     ".processingResources"),
    ("!has(self.processingResources.clusterConfig.instanceType) || "
     "has(self.processingResources.clusterConfig.instanceCount)",
     "processingResources.clusterConfig.instanceCount is required with instanceType", ".processingResources"),
)


class ProcessingJobSpec(shapes.ProcessingJobSpecFields, OperatorFields):
    """CreateProcessingJob's request in lowerCamelCase, plus deletionPolicy and region."""

    model_config = ConfigDict(json_schema_extra=cel_rules(*PROCESSING_RULES))

    processingInputs: narrowed(shapes.ProcessingJobSpecFields, "processingInputs", {},
                               json_schema_extra=keyed_by("inputName")) = None
    processingOutputConfig: narrowed(shapes.ProcessingJobSpecFields, "processingOutputConfig",
                                     {shapes.ProcessingOutputConfig: ProcessingOutputConfig}) = None


def build_create_processing_job_request(
    spec: ProcessingJobSpec, name: str, ownership_tags: Mapping[str, str]
) -> dict[str, Any]:
    """CreateProcessingJob's request: the spec's SageMaker members, `name`, the user's tags and the
    operator's ownership tags."""
    request = to_wire(spec)
    request["ProcessingJobName"] = name
    if tags := tags_with_ownership(spec.tags, ownership_tags):
        request["Tags"] = tags
    return request


class ProcessingOutputLocation(ApiShape):
    """Where one output of the job goes."""

    outputName: str = Field(description="The output's name, as in spec.processingOutputConfig.outputs.")
    s3Uri: str | None = Field(None, description="The S3 location the output is uploaded to.")
    featureGroupName: str | None = Field(
        None, description="The Feature Store feature group the output is ingested into.")


class ProcessingJobStatus(StatusBase):
    """What DescribeProcessingJob reports, in SageMaker's words."""

    wire_names: ClassVar[dict[str, str]] = raised(
        "processingJobName", "processingJobArn", "processingJobStatus", "failureReason", "exitMessage",
        "processingStartTime", "processingEndTime", "lastModifiedTime")

    processingJobName: str | None = Field(None, description="The SageMaker processing job name.")
    processingJobArn: str | None = Field(None, description="The SageMaker processing job ARN.")
    processingJobStatus: str | None = Field(
        None, description="InProgress, Completed, Failed, Stopping or Stopped, as SageMaker reports it."
    )
    failureReason: str | None = Field(None, description="Why the job failed, if it did.")
    exitMessage: str | None = Field(None, description="The processing container's exit message, if it left one.")
    processingStartTime: datetime.datetime | None = Field(None, description="When processing started.")
    processingEndTime: datetime.datetime | None = Field(None, description="When processing ended.")
    lastModifiedTime: datetime.datetime | None = Field(None, description="When SageMaker last changed the job.")
    processingOutputs: list[ProcessingOutputLocation] | None = Field(
        None, description="Where each output goes (S3 or Feature Store)."
    )


def output_locations(description: Mapping[str, Any]) -> list[ProcessingOutputLocation]:
    """The job's outputs as DescribeProcessingJob echoes them."""
    locations = []
    for output in (description.get("ProcessingOutputConfig") or {}).get("Outputs") or []:
        locations.append(ProcessingOutputLocation(
            outputName=output["OutputName"],
            s3Uri=(output.get("S3Output") or {}).get("S3Uri"),
            featureGroupName=(output.get("FeatureStoreOutput") or {}).get("FeatureGroupName"),
        ))
    return locations


PROCESSING_JOB = KindInfo(
    kind="ProcessingJob",
    plural="processingjobs",
    short_names=("smpj",),
    spec_model=ProcessingJobSpec,
    status_model=ProcessingJobStatus,
    description="A SageMaker processing job. The spec is CreateProcessingJob's request in lowerCamelCase.",
    operations=("CreateProcessingJob", "DescribeProcessingJob", "StopProcessingJob"),
    name_field="processingJobName",
    name_max_length=63,
    state_field="processingJobStatus",
    printer_columns=(
        PrinterColumn("Status", ".status.processingJobStatus", description="SageMaker's processing job status"),
        PrinterColumn("Instance-Type", ".spec.processingResources.clusterConfig.instanceType"),
        PrinterColumn("Count", ".spec.processingResources.clusterConfig.instanceCount", type="integer"),
        PrinterColumn("Output", ".status.processingOutputs[0].s3Uri", priority=1),
        PrinterColumn("Exit-Message", ".status.exitMessage", priority=1),
        PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status', priority=1),
    ),
    immutable_fields=fields_except(ProcessingJobSpec, "deletionPolicy"),
    immutable_hint="create a new ProcessingJob to run again",
)
