"""InferenceComponent: a model placed on the instances of an Endpoint whose variants have no model.

The spec is CreateInferenceComponent's request (plus UpdateInferenceComponent's deploymentConfig),
with `endpointRef` (an Endpoint object) as an alternative to endpointName, `specification.modelRef`
(a Model object) as an alternative to specification.modelName, and `autoScaling` of the copy count.
A copy-count change is UpdateInferenceComponentRuntimeConfig; any other change UpdateInferenceComponent.
"""

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from annotated_types import Interval
from pydantic import ConfigDict, Field

from kubemaker.api import shapes
from kubemaker.api.autoscaling import ScalableKind, TargetTracking, autoscaling_rules
from kubemaker.api.base import narrowed, to_wire
from kubemaker.api.common import (
    KindInfo,
    LocalObjectReference,
    OperatorFields,
    PrinterColumn,
    StatusBase,
    at_most_one,
    cel_rules,
    exactly_one,
    request_fingerprint,
    tags_with_ownership,
)

COPY_DIMENSION = "sagemaker:inference-component:DesiredCopyCount"
INVOCATIONS_PER_COPY = "SageMakerInferenceComponentInvocationsPerCopy"
STATUS_FIELD = "autoScaledComponents"


class ComponentSpecification(shapes.InferenceComponentSpecification):
    """An InferenceComponentSpecification whose model may be a Model object."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            (at_most_one("modelName", "modelRef"), "give modelName or modelRef, not both", ".modelRef"),
        )
    )

    modelRef: LocalObjectReference | None = Field(
        None, description="A Model object in this namespace, instead of modelName: its current revision is used."
    )


class CopyAutoScaling(TargetTracking):
    """Target tracking on the component's copy count, registered with Application Auto Scaling."""

    model_config = ConfigDict(json_schema_extra=autoscaling_rules("targetInvocationsPerCopy"))
    predefined_target_field: ClassVar[str] = "targetInvocationsPerCopy"

    minCapacity: Annotated[int, Interval(ge=0, le=10000)] = Field(
        description="The fewest copies the scaler may set (0 lets it scale the component to zero)."
    )
    maxCapacity: Annotated[int, Interval(ge=1, le=10000)] = Field(description="The most copies the scaler may set.")
    targetInvocationsPerCopy: Annotated[float, Interval(ge=0)] | None = Field(
        None,
        description="Track SageMakerInferenceComponentInvocationsPerCopy (invocations per copy per minute) at "
        "this value.",
    )


_SPECIFICATION = {shapes.InferenceComponentSpecification: ComponentSpecification}


class InferenceComponentSpec(shapes.InferenceComponentSpecFields, OperatorFields):
    """CreateInferenceComponent's request in lowerCamelCase, UpdateInferenceComponent's
    deploymentConfig, plus deletionPolicy, region, endpointRef, specification.modelRef and autoScaling."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            (exactly_one("endpointName", "endpointRef"),
             "give endpointRef (an Endpoint object) or endpointName (an existing SageMaker endpoint)", ".endpointRef"),
            (exactly_one("specification", "specifications"), "give exactly one of specification and specifications",
             ".specification"),
            ("!has(self.autoScaling) || has(self.runtimeConfig)",
             "autoScaling starts from runtimeConfig.copyCount: give runtimeConfig", ".runtimeConfig"),
        )
    )

    endpointRef: LocalObjectReference | None = Field(
        None, description="The Endpoint object in this namespace the component sits on, instead of endpointName."
    )
    specification: narrowed(shapes.InferenceComponentSpecFields, "specification", _SPECIFICATION) = None  # type: ignore[valid-type]  # noqa: E501
    autoScaling: CopyAutoScaling | None = Field(
        None, description="Scale runtimeConfig.copyCount with Application Auto Scaling; the scaler then owns the count."
    )


def component_scaling(component_name: str) -> ScalableKind:
    """How the component appears in Application Auto Scaling (its one key is its own name)."""
    return ScalableKind(
        dimension=COPY_DIMENSION, predefined_metric=INVOCATIONS_PER_COPY, noun="inference component",
        unit="copies", status_field=STATUS_FIELD,
        resource_id=lambda name: f"inference-component/{name}",
        policy_name=lambda name: f"kubemaker-{name}"[:256],
    )


def _specification_request(spec: InferenceComponentSpec, model_name: str | None) -> dict[str, Any]:
    """Specification (or Specifications) on the wire, with a modelRef resolved to `model_name`."""
    request = {key: value for key, value in to_wire(spec).items() if key in ("Specification", "Specifications")}
    if spec.specification and spec.specification.modelRef:
        if model_name is None:
            raise ValueError("a specification.modelRef needs its resolved SageMaker model name")
        request["Specification"]["ModelName"] = model_name
    return request


def build_create_request(spec: InferenceComponentSpec, name: str, endpoint_name: str, model_name: str | None,
                         ownership_tags: Mapping[str, str]) -> dict[str, Any]:
    """CreateInferenceComponent's request."""
    wire = to_wire(spec)
    request: dict[str, Any] = {"InferenceComponentName": name, "EndpointName": endpoint_name}
    if "VariantName" in wire:
        request["VariantName"] = wire["VariantName"]
    request.update(_specification_request(spec, model_name))
    if "RuntimeConfig" in wire:
        request["RuntimeConfig"] = wire["RuntimeConfig"]
    if tags := tags_with_ownership(spec.tags, ownership_tags):
        request["Tags"] = tags
    return request


def build_update_request(spec: InferenceComponentSpec, name: str, model_name: str | None) -> dict[str, Any]:
    """UpdateInferenceComponent's request for a specification change, honouring deploymentConfig.
    The copy count is not in it: that is UpdateInferenceComponentRuntimeConfig's."""
    request: dict[str, Any] = {"InferenceComponentName": name, **_specification_request(spec, model_name)}
    if spec.deploymentConfig:
        request["DeploymentConfig"] = to_wire(spec.deploymentConfig)
    return request


def build_runtime_config_request(name: str, copies: int) -> dict[str, Any]:
    return {"InferenceComponentName": name, "DesiredRuntimeConfig": {"CopyCount": copies}}


def specification_fingerprint(spec: InferenceComponentSpec, model_name: str | None) -> str:
    """What only UpdateInferenceComponent changes, as a digest recorded in status: a change to it is
    a spec change (the description answers containers in another form than the request)."""
    return request_fingerprint(_specification_request(spec, model_name))


class InferenceComponentStatus(StatusBase):
    """The component, where it sits, and its copies."""

    wire_names: ClassVar[dict[str, str]] = {
        "inferenceComponentName": "InferenceComponentName",
        "inferenceComponentArn": "InferenceComponentArn",
        "inferenceComponentStatus": "InferenceComponentStatus",
        "failureReason": "FailureReason",
        "endpointName": "EndpointName",
        "variantName": "VariantName",
    }

    inferenceComponentName: str | None = Field(None, description="The SageMaker inference component name.")
    inferenceComponentArn: str | None = Field(None, description="The SageMaker inference component ARN.")
    inferenceComponentStatus: str | None = Field(
        None, description="InService, Creating, Updating, Failed, Deleting, as SageMaker reports it."
    )
    failureReason: str | None = Field(None, description="Why the component failed.")
    endpointName: str | None = Field(None, description="The SageMaker endpoint it sits on.")
    variantName: str | None = Field(None, description="The endpoint's variant it sits on.")
    modelName: str | None = Field(None, description="The SageMaker model it serves.")
    desiredCopyCount: int | None = Field(None, description="The copies being moved to.")
    currentCopyCount: int | None = Field(None, description="The copies serving now.")
    specificationFingerprint: str | None = Field(
        None, description="A digest of the specification last sent, to tell a spec change from none."
    )
    failedGeneration: int | None = Field(
        None, description="The generation whose component failed; not retried until the spec changes."
    )
    autoScaledComponents: list[str] | None = Field(
        None, description="Registered with Application Auto Scaling (the component's name), deregistered when dropped."
    )


INFERENCE_COMPONENT = KindInfo(
    kind="InferenceComponent",
    plural="inferencecomponents",
    short_names=("smic",),
    spec_model=InferenceComponentSpec,
    status_model=InferenceComponentStatus,
    description="A SageMaker inference component: a model with its compute resources and copy count, placed on "
    "an Endpoint's instances. The spec is CreateInferenceComponent's request in lowerCamelCase.",
    operations=(
        "CreateInferenceComponent",
        "DescribeInferenceComponent",
        "UpdateInferenceComponent",
        "UpdateInferenceComponentRuntimeConfig",
        "DeleteInferenceComponent",
    ),
    name_field="inferenceComponentName",
    name_max_length=63,
    state_field="inferenceComponentStatus",
    printer_columns=(
        PrinterColumn("Status", ".status.inferenceComponentStatus", description="SageMaker's component status"),
        PrinterColumn("Endpoint", ".status.endpointName", description="the SageMaker endpoint it sits on"),
        PrinterColumn("Copies", ".status.currentCopyCount", type="integer", description="copies serving now"),
        PrinterColumn("Desired", ".status.desiredCopyCount", type="integer", description="copies being moved to"),
        PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status', priority=1),
    ),
    # UpdateInferenceComponent moves no component to another endpoint or variant, nor renames it.
    immutable_fields=("region", "inferenceComponentName", "endpointName", "endpointRef", "variantName"),
    immutable_hint="create a new InferenceComponent instead",
)
