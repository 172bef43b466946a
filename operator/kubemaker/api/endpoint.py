"""Endpoint: a SageMaker endpoint, its endpoint configs and its variants' Application Auto Scaling.

The spec is CreateEndpointConfig's members (without endpointConfigName, which the operator manages)
and CreateEndpoint's; variants may reference a Model object and carry autoScaling. Variants with no
model host InferenceComponent objects: instance capacity (instanceType, initialInstanceCount,
managedInstanceScaling, routingConfig) under the config's executionRoleArn.
"""

import datetime
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from annotated_types import Interval
from pydantic import ConfigDict, Field
from pydantic.json_schema import JsonDict

from kubemaker.api import shapes
from kubemaker.api.autoscaling import ScalableKind, TargetTracking, autoscaling_rules
from kubemaker.api.base import ApiShape, narrowed, to_wire
from kubemaker.api.common import (
    AdoptionField,
    KindInfo,
    LocalObjectReference,
    OperatorFields,
    PrinterColumn,
    StatusBase,
    at_most_one,
    cel_rules,
    tags_with_ownership,
)
from kubemaker.api.model import UnresolvedReference
from kubemaker.aws.partitions import dns_suffix

# Application Auto Scaling's names for a SageMaker variant's instance count.
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
INVOCATIONS_METRIC = "SageMakerVariantInvocationsPerInstance"

Capacity = Annotated[int, Interval(ge=1, le=10000)]


class VariantAutoScaling(TargetTracking):
    """Target tracking on the variant's instance count, registered with Application Auto Scaling."""

    model_config = ConfigDict(json_schema_extra=autoscaling_rules("targetInvocationsPerInstance"))
    predefined_target_field: ClassVar[str] = "targetInvocationsPerInstance"

    minCapacity: Capacity = Field(description="The fewest instances the scaler may set.")
    maxCapacity: Capacity = Field(description="The most instances the scaler may set.")
    targetInvocationsPerInstance: Annotated[float, Interval(ge=0)] | None = Field(
        None,
        description="Track SageMakerVariantInvocationsPerInstance (invocations per instance per minute) at this value.",
    )


class EndpointVariant(shapes.ProductionVariant):
    """A ProductionVariant whose model may be a Model object, with optional autoScaling."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            (at_most_one("modelName", "modelRef"), "give modelName or modelRef, not both", ".modelRef"),
            (
                "!has(self.serverlessConfig) || (!has(self.instanceType) && !has(self.initialInstanceCount))",
                "a serverless variant has no instanceType or initialInstanceCount",
                ".serverlessConfig",
            ),
            (
                "!has(self.autoScaling) || !has(self.serverlessConfig)",
                "autoScaling scales instance counts: a serverless variant has none",
                ".autoScaling",
            ),
            (
                "has(self.modelName) || has(self.modelRef) || has(self.serverlessConfig) || "
                "(has(self.instanceType) && has(self.initialInstanceCount))",
                "a variant with no model hosts inference components: give it instanceType and initialInstanceCount",
                ".instanceType",
            ),
        )
    )

    modelRef: LocalObjectReference | None = Field(
        None, description="A Model object in this namespace, instead of modelName: its current revision is used."
    )
    autoScaling: VariantAutoScaling | None = Field(
        None, description="Scale initialInstanceCount with Application Auto Scaling; the scaler then owns the count."
    )


_VARIANTS = {shapes.ProductionVariant: EndpointVariant}
# CEL: the production variants with no model (which host inference components).
_MODELLESS = "self.productionVariants.filter(v, !has(v.modelName) && !has(v.modelRef) && !has(v.serverlessConfig))"
_VARIANT_LIST: JsonDict = {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["variantName"]}


class EndpointSpec(shapes.EndpointSpecFields, OperatorFields, AdoptionField):
    """CreateEndpointConfig's and CreateEndpoint's members in lowerCamelCase (without
    endpointConfigName), plus deletionPolicy, region, adoptExisting, modelRef and autoScaling."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            (
                "!has(self.shadowProductionVariants) || self.shadowProductionVariants.all(s, "
                "!self.productionVariants.exists(p, p.variantName == s.variantName))",
                "variant names must be unique across productionVariants and shadowProductionVariants",
                ".shadowProductionVariants",
            ),
            (
                "!has(self.adoptExisting) || !self.adoptExisting || has(self.endpointName)",
                "adoptExisting needs the endpointName of the SageMaker endpoint to adopt",
                ".endpointName",
            ),
            (
                f"{_MODELLESS}.size() == 0 || has(self.executionRoleArn)",
                "variants with no model host inference components, which SageMaker runs under the "
                "config's executionRoleArn: give executionRoleArn",
                ".executionRoleArn",
            ),
            (
                f"{_MODELLESS}.size() == 0 || {_MODELLESS}.size() == self.productionVariants.size()",
                "an endpoint for inference components has no model in any variant: give every variant a "
                "model, or none",
                ".productionVariants",
            ),
        )
    )

    # Keyed by variantName: the API server refuses duplicate names, and server-side apply merges
    # variants by name.
    productionVariants: narrowed(shapes.EndpointSpecFields, "productionVariants", _VARIANTS, json_schema_extra=_VARIANT_LIST)  # noqa: E501
    shadowProductionVariants: narrowed(shapes.EndpointSpecFields, "shadowProductionVariants", _VARIANTS, json_schema_extra=_VARIANT_LIST) = None  # noqa: E501


def count_is_scalers(variant: EndpointVariant) -> bool:
    """Whether a scaler owns the variant's instance count: Application Auto Scaling (autoScaling),
    or SageMaker's managed instance scaling, which grows a variant as inference component copies
    need room. The operator then never sends it a count."""
    managed = variant.managedInstanceScaling
    return bool(variant.autoScaling) or bool(managed and managed.status == "ENABLED")


def all_variants(spec: EndpointSpec) -> list[EndpointVariant]:
    return [*spec.productionVariants, *(spec.shadowProductionVariants or ())]


def referenced_models(spec: EndpointSpec) -> set[str]:
    """Names of the Model objects the variants reference."""
    return {variant.modelRef.name for variant in all_variants(spec) if variant.modelRef}


def _operation_request(spec: EndpointSpec, operation: str) -> dict[str, Any]:
    """The spec's members that belong to `operation` (CreateEndpointConfig or CreateEndpoint)."""
    wire_names = {spec.wire_names[name] for name in spec.operation_members[operation]}
    return {key: value for key, value in to_wire(spec).items() if key in wire_names}


def build_create_endpoint_config_request(
    spec: EndpointSpec,
    config_name: str,
    resolved_model_names: Mapping[str, str],
    ownership_tags: Mapping[str, str],
    instance_counts: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """CreateEndpointConfig's request. `resolved_model_names` maps each referenced Model object's name
    (see `referenced_models`) to its current SageMaker model name; `instance_counts` (variant name ->
    count) overrides initialInstanceCount for variants whose count a scaler owns, so a new config
    keeps the scaler's count."""
    request = _operation_request(spec, "CreateEndpointConfig")
    for key, variants in (
        ("ProductionVariants", spec.productionVariants),
        ("ShadowProductionVariants", spec.shadowProductionVariants or []),
    ):
        for wire_variant, variant in zip(request.get(key, ()), variants, strict=True):
            if variant.modelRef:
                if variant.modelRef.name not in resolved_model_names:
                    raise UnresolvedReference(f"Model {variant.modelRef.name} has no SageMaker model yet")
                wire_variant["ModelName"] = resolved_model_names[variant.modelRef.name]
            if instance_counts and variant.variantName in instance_counts and count_is_scalers(variant):
                wire_variant["InitialInstanceCount"] = instance_counts[variant.variantName]
    request["EndpointConfigName"] = config_name
    if tags := tags_with_ownership(spec.tags, ownership_tags):
        request["Tags"] = tags
    return request


def build_create_endpoint_request(
    spec: EndpointSpec, endpoint_name: str, config_name: str, ownership_tags: Mapping[str, str]
) -> dict[str, Any]:
    """CreateEndpoint's request (deploymentConfig and the tags come from the spec)."""
    request = _operation_request(spec, "CreateEndpoint")
    request["EndpointName"] = endpoint_name
    request["EndpointConfigName"] = config_name
    if tags := tags_with_ownership(spec.tags, ownership_tags):
        request["Tags"] = tags
    return request


def build_update_endpoint_request(spec: EndpointSpec, endpoint_name: str, config_name: str) -> dict[str, Any]:
    """UpdateEndpoint's request moving the endpoint to a new config, honouring deploymentConfig."""
    request: dict[str, Any] = {"EndpointName": endpoint_name, "EndpointConfigName": config_name}
    if spec.deploymentConfig:
        request["DeploymentConfig"] = to_wire(spec.deploymentConfig)
    return request


def build_update_weights_and_capacities_request(
    spec: EndpointSpec, endpoint_name: str, instance_counts: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """UpdateEndpointWeightsAndCapacities' request setting every production variant to the spec.
    Autoscaled variants keep the count the scaler set (`instance_counts`), or are left without one."""
    desired = []
    for variant in spec.productionVariants:
        entry: dict[str, Any] = {"VariantName": variant.variantName}
        if variant.initialVariantWeight is not None:
            entry["DesiredWeight"] = variant.initialVariantWeight
        if count_is_scalers(variant):
            if instance_counts and variant.variantName in instance_counts:
                entry["DesiredInstanceCount"] = instance_counts[variant.variantName]
        elif variant.initialInstanceCount is not None:
            entry["DesiredInstanceCount"] = variant.initialInstanceCount
        if variant.serverlessConfig:
            serverless = {}
            if variant.serverlessConfig.maxConcurrency is not None:
                serverless["MaxConcurrency"] = variant.serverlessConfig.maxConcurrency
            if variant.serverlessConfig.provisionedConcurrency is not None:
                serverless["ProvisionedConcurrency"] = variant.serverlessConfig.provisionedConcurrency
            if serverless:
                entry["ServerlessUpdateConfig"] = serverless
        desired.append(entry)
    return {"EndpointName": endpoint_name, "DesiredWeightsAndCapacities": desired}


def scalable_resource_id(endpoint_name: str, variant_name: str) -> str:
    return f"endpoint/{endpoint_name}/variant/{variant_name}"


def scaling_policy_name(endpoint_name: str, variant_name: str) -> str:
    return f"kubemaker-{endpoint_name}-{variant_name}"[:256]


def variant_scaling(endpoint_name: str) -> ScalableKind:
    """How the endpoint's variants appear in Application Auto Scaling (keys are variant names)."""
    return ScalableKind(
        dimension=SCALABLE_DIMENSION, predefined_metric=INVOCATIONS_METRIC, noun="variant", unit="instances",
        status_field="autoScaledVariants",
        resource_id=lambda variant: scalable_resource_id(endpoint_name, variant),
        policy_name=lambda variant: scaling_policy_name(endpoint_name, variant),
    )


def build_register_scalable_target_request(endpoint_name: str, variant: EndpointVariant) -> dict[str, Any]:
    """Application Auto Scaling RegisterScalableTarget's request for an autoscaled variant."""
    if not variant.autoScaling:
        raise ValueError(f"variant {variant.variantName} has no autoScaling")
    return variant_scaling(endpoint_name).register_request(variant.variantName, variant.autoScaling)


def build_put_scaling_policy_request(endpoint_name: str, variant: EndpointVariant) -> dict[str, Any]:
    """Application Auto Scaling PutScalingPolicy's request: target tracking of the variant's
    invocations per instance, or of the custom metric."""
    if not variant.autoScaling:
        raise ValueError(f"variant {variant.variantName} has no autoScaling")
    return variant_scaling(endpoint_name).policy_request(variant.variantName, variant.autoScaling)


class ServerlessConfigStatus(ApiShape):
    """A serverless variant's current configuration."""

    model_config = ConfigDict(extra="ignore")
    wire_names: ClassVar[dict[str, str]] = {
        "memorySizeInMB": "MemorySizeInMB",
        "maxConcurrency": "MaxConcurrency",
        "provisionedConcurrency": "ProvisionedConcurrency",
    }

    memorySizeInMB: int | None = Field(None, description="Memory per concurrent invocation.")
    maxConcurrency: int | None = Field(None, description="Maximum concurrent invocations.")
    provisionedConcurrency: int | None = Field(None, description="Provisioned concurrency.")


class VariantStatus(ApiShape):
    """One variant as DescribeEndpoint reports it."""

    model_config = ConfigDict(extra="ignore")
    wire_names: ClassVar[dict[str, str]] = {
        "variantName": "VariantName",
        "currentWeight": "CurrentWeight",
        "desiredWeight": "DesiredWeight",
        "currentInstanceCount": "CurrentInstanceCount",
        "desiredInstanceCount": "DesiredInstanceCount",
        "currentServerlessConfig": "CurrentServerlessConfig",
    }

    variantName: str = Field(description="The variant.")
    currentWeight: float | None = Field(None, description="The weight traffic is routed with now.")
    desiredWeight: float | None = Field(None, description="The weight being moved to.")
    currentInstanceCount: int | None = Field(None, description="Instances serving now.")
    desiredInstanceCount: int | None = Field(None, description="Instances being moved to.")
    currentServerlessConfig: ServerlessConfigStatus | None = Field(None, description="For a serverless variant.")
    variantStatus: str | None = Field(
        None, description="The variant's latest status, e.g. Creating, Updating, ActivatingTraffic."
    )


class PendingVariantStatus(VariantStatus):
    """A variant of the deployment an update is launching, as PendingDeploymentSummary reports it."""

    wire_names: ClassVar[dict[str, str]] = {**VariantStatus.wire_names, "instanceType": "InstanceType"}

    instanceType: str | None = Field(None, description="The instance type being launched.")


class PendingDeploymentStatus(ApiShape):
    """SageMaker's PendingDeploymentSummary: the deployment an update in progress launches."""

    model_config = ConfigDict(extra="ignore")
    wire_names: ClassVar[dict[str, str]] = {
        "endpointConfigName": "EndpointConfigName",
        "startTime": "StartTime",
        "productionVariants": "ProductionVariants",
        "shadowProductionVariants": "ShadowProductionVariants",
    }

    endpointConfigName: str | None = Field(None, description="The endpoint config being deployed.")
    startTime: datetime.datetime | None = Field(None, description="When the deployment started.")
    productionVariants: list[PendingVariantStatus] | None = Field(
        None, description="The variants being launched: instance type, instance counts and state.",
        json_schema_extra=_VARIANT_LIST,
    )
    shadowProductionVariants: list[PendingVariantStatus] | None = Field(
        None, description="The same for shadow variants.", json_schema_extra=_VARIANT_LIST
    )


class EndpointStatus(StatusBase):
    """The endpoint, the config in use, and its variants."""

    wire_names: ClassVar[dict[str, str]] = {
        "endpointName": "EndpointName",
        "endpointArn": "EndpointArn",
        "endpointStatus": "EndpointStatus",
        "failureReason": "FailureReason",
        "endpointConfigName": "EndpointConfigName",
        "productionVariants": "ProductionVariants",
        "shadowProductionVariants": "ShadowProductionVariants",
    }

    endpointName: str | None = Field(None, description="The SageMaker endpoint name.")
    endpointArn: str | None = Field(None, description="The SageMaker endpoint ARN.")
    endpointStatus: str | None = Field(
        None, description="InService, Creating, Updating, RollingBack, Failed, ..., as SageMaker reports it."
    )
    failureReason: str | None = Field(None, description="Why the endpoint or its last update failed.")
    endpointConfigName: str | None = Field(None, description="The endpoint config in use.")
    endpointConfigArns: list[str] | None = Field(
        None, description="The ARNs of the endpoint configs the endpoint uses: the one in service and, during "
        "an update, the one being deployed."
    )
    pendingDeployment: PendingDeploymentStatus | None = Field(
        None, description="During an update, the deployment being launched (SageMaker's PendingDeploymentSummary)."
    )
    pendingEndpointConfigName: str | None = Field(
        None, description="The endpoint config an update in progress moves to."
    )
    failedEndpointConfigNames: list[str] | None = Field(
        None, description="Configs of failed or rolled-back updates, deleted later."
    )
    failedGeneration: int | None = Field(
        None, description="The generation whose update failed; not retried until the spec changes."
    )
    productionVariants: list[VariantStatus] | None = Field(
        None,
        description="Current and desired weight and instance count per variant.",
        json_schema_extra=_VARIANT_LIST,
    )
    shadowProductionVariants: list[VariantStatus] | None = Field(
        None, description="The same for shadow variants.", json_schema_extra=_VARIANT_LIST
    )
    variantSummary: str | None = Field(None, description="The variants at a glance: name=weight%(instances).")
    autoScaledVariants: list[str] | None = Field(
        None, description="Variants registered with Application Auto Scaling, deregistered when dropped."
    )
    invocationUrl: str | None = Field(None, description="The URL to invoke the endpoint at.")


def invocation_url(region: str, endpoint_name: str) -> str:
    return f"https://runtime.sagemaker.{region}.{dns_suffix(region)}/endpoints/{endpoint_name}/invocations"


def variant_summary(variants: list[VariantStatus]) -> str:
    """E.g. `blue=90%(2) green=10%(1)`: weights as shares of the total, current instance counts."""
    total = sum(variant.currentWeight or 0 for variant in variants)
    parts = []
    for variant in variants:
        share = f"{round(100 * (variant.currentWeight or 0) / total)}%" if total else "-"
        count = f"({variant.currentInstanceCount})" if variant.currentInstanceCount is not None else ""
        parts.append(f"{variant.variantName}={share}{count}")
    return " ".join(parts)


ENDPOINT = KindInfo(
    kind="Endpoint",
    plural="endpoints",
    short_names=("smep",),
    spec_model=EndpointSpec,
    status_model=EndpointStatus,
    description="A SageMaker endpoint with its endpoint configs and autoscaling. The spec is "
    "CreateEndpointConfig's and CreateEndpoint's requests in lowerCamelCase.",
    operations=(
        "CreateEndpointConfig",
        "CreateEndpoint",
        "UpdateEndpoint",
        "UpdateEndpointWeightsAndCapacities",
        "DescribeEndpoint",
        "DeleteEndpoint",
    ),
    name_field="endpointName",
    name_max_length=63,
    state_field="endpointStatus",
    printer_columns=(
        PrinterColumn("Status", ".status.endpointStatus", description="SageMaker's endpoint status"),
        PrinterColumn("Variants", ".status.variantSummary", description="weight share and instance count per variant"),
        PrinterColumn("Instance-Type", ".spec.productionVariants[0].instanceType"),
        PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status', priority=1),
    ),
    # A new name would be a second endpoint, leaving the first one behind.
    immutable_fields=("region", "endpointName"),
    immutable_hint="create a new Endpoint instead",
)
