"""TransformJob: one SageMaker batch transform job. The spec is CreateTransformJob's request,
immutable once created; the model may be a Model object."""

import datetime
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import ConfigDict, Field

from kubemaker.api import shapes
from kubemaker.api.base import raised, to_wire
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


class TransformJobSpec(shapes.TransformJobSpecFields, OperatorFields):
    """CreateTransformJob's request in lowerCamelCase, plus deletionPolicy, region and modelRef."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            (exactly_one("modelName", "modelRef"), "give exactly one of modelName and modelRef", ".modelRef")
        )
    )

    modelRef: LocalObjectReference | None = Field(
        None, description="A Model object in this namespace, instead of modelName: its current revision is used."
    )


def build_create_transform_job_request(
    spec: TransformJobSpec, name: str, model_name: str, ownership_tags: Mapping[str, str]
) -> dict[str, Any]:
    """CreateTransformJob's request. `model_name` is the SageMaker model: spec.modelName, or the
    current revision of the Model object spec.modelRef names."""
    request = to_wire(spec)
    request["TransformJobName"] = name
    request["ModelName"] = model_name
    if tags := tags_with_ownership(spec.tags, ownership_tags):
        request["Tags"] = tags
    return request


class TransformJobStatus(StatusBase):
    """What DescribeTransformJob reports, in SageMaker's words."""

    wire_names: ClassVar[dict[str, str]] = raised(
        "transformJobName", "transformJobArn", "transformJobStatus", "failureReason", "modelName", "transformOutput",
        "transformStartTime", "transformEndTime")

    transformJobName: str | None = Field(None, description="The SageMaker transform job name.")
    transformJobArn: str | None = Field(None, description="The SageMaker transform job ARN.")
    transformJobStatus: str | None = Field(
        None, description="InProgress, Completed, Failed, Stopping or Stopped, as SageMaker reports it."
    )
    failureReason: str | None = Field(None, description="Why the job failed, if it did.")
    modelName: str | None = Field(None, description="The SageMaker model the job runs.")
    transformOutput: shapes.TransformOutput | None = Field(None, description="Where the results are written.")
    transformStartTime: datetime.datetime | None = Field(None, description="When the transform started.")
    transformEndTime: datetime.datetime | None = Field(None, description="When the transform ended.")


TRANSFORM_JOB = KindInfo(
    kind="TransformJob",
    plural="transformjobs",
    short_names=("smbt",),
    spec_model=TransformJobSpec,
    status_model=TransformJobStatus,
    description="A SageMaker batch transform job. The spec is CreateTransformJob's request in lowerCamelCase.",
    operations=("CreateTransformJob", "DescribeTransformJob", "StopTransformJob"),
    name_field="transformJobName",
    name_max_length=63,
    state_field="transformJobStatus",
    printer_columns=(
        PrinterColumn("Status", ".status.transformJobStatus", description="SageMaker's transform job status"),
        PrinterColumn("Instance-Type", ".spec.transformResources.instanceType"),
        PrinterColumn("Count", ".spec.transformResources.instanceCount", type="integer"),
        PrinterColumn("Output", ".status.transformOutput.s3OutputPath", priority=1),
        PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status', priority=1),
    ),
    immutable_fields=fields_except(TransformJobSpec, "deletionPolicy"),
    immutable_hint="create a new TransformJob to run again",
)
