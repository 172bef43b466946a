"""Application Auto Scaling for SageMaker: scalable targets and scaling policies.

Requests are validated against Application Auto Scaling's own botocore service model (by the app,
before a handler runs), then against the rules the service applies to SageMaker resources:
- a ResourceId in the format of its ScalableDimension (`endpoint/<endpoint>/variant/<variant>` for
  a variant's instance count or provisioned concurrency, `inference-component/<name>` for an
  inference component's copy count), naming a resource that exists;
- a new target gives both MinCapacity and MaxCapacity, the minimum no greater than the maximum;
- a policy only on a registered target, with a predefined metric that fits the resource;
- deregistering a target deletes its policies with it.
Errors are AWS's codes and messages (ValidationException, ObjectNotFoundException). The state
lives on the SageMaker region (`Region.scalable_targets`, `Region.scaling_policies`), so UpdateEndpoint
can refuse what SageMaker refuses under a registered target (kubemaker_emulator.sagemaker.hosting).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from kubemaker_emulator.errors import AwsError, validation_error
from kubemaker_emulator.sagemaker.base import ACCOUNT_ID, Region, offset_page, short_hex
from kubemaker_emulator.sagemaker.hosting import VARIANT_RESOURCE

Handler = Callable[[Region, dict[str, Any]], dict[str, Any]]
AUTOSCALING_OPERATIONS: dict[str, Handler] = {}

COMPONENT_RESOURCE = re.compile(r"inference-component/(?P<component>[^/]+)")
# SageMaker's dimensions, the ResourceId format each takes, and the predefined metrics that fit it.
DIMENSIONS: dict[str, tuple[re.Pattern[str], tuple[str, ...]]] = {
    "sagemaker:variant:DesiredInstanceCount": (
        VARIANT_RESOURCE,
        ("SageMakerVariantInvocationsPerInstance", "SageMakerVariantConcurrentRequestsPerModelHighResolution"),
    ),
    "sagemaker:variant:DesiredProvisionedConcurrency": (
        VARIANT_RESOURCE, ("SageMakerVariantProvisionedConcurrencyUtilization",),
    ),
    "sagemaker:inference-component:DesiredCopyCount": (
        COMPONENT_RESOURCE,
        ("SageMakerInferenceComponentInvocationsPerCopy",
         "SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution"),
    ),
}
SERVICE_LINKED_ROLE = (f"arn:aws:iam::{ACCOUNT_ID}:role/aws-service-role/sagemaker.application-autoscaling"
                       ".amazonaws.com/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint")
DEFAULT_MAX_RESULTS = 50


def operation(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        AUTOSCALING_OPERATIONS[name] = handler
        return handler

    return register


def object_not_found(message: str) -> AwsError:
    return AwsError("ObjectNotFoundException", message)


def _target_words(params: dict[str, Any]) -> str:
    return (f"service namespace: {params['ServiceNamespace']}, resource ID: {params['ResourceId']}, "
            f"scalable dimension: {params['ScalableDimension']}")


def _key(params: dict[str, Any]) -> tuple[str, str, str]:
    return params["ServiceNamespace"], params["ResourceId"], params["ScalableDimension"]


def _check_resource(region: Region, params: dict[str, Any]) -> None:
    """The ResourceId has its dimension's format and names a SageMaker resource that exists."""
    dimension = params["ScalableDimension"]
    if params["ServiceNamespace"] != "sagemaker" or dimension not in DIMENSIONS:
        raise validation_error("Unsupported service namespace, resource type or scalable dimension")
    pattern, _ = DIMENSIONS[dimension]
    match = pattern.fullmatch(params["ResourceId"])
    if match is None:
        raise validation_error(f"Unsupported resource ID {params['ResourceId']} for scalable dimension {dimension}")
    if pattern is VARIANT_RESOURCE:
        endpoint = region.endpoints.get(match["endpoint"])
        if endpoint is None or match["variant"] not in {state.name for state in endpoint.variants}:
            raise validation_error(f"The endpoint variant {params['ResourceId']} does not exist.")
    elif match["component"] not in region.inference_components:
        raise validation_error(f"The inference component {match['component']} does not exist.")


@operation("RegisterScalableTarget")
def register_scalable_target(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    _check_resource(region, params)
    key = _key(params)
    target = copy.deepcopy(region.scalable_targets.get(key))
    if target is None:
        if params.get("MinCapacity") is None or params.get("MaxCapacity") is None:
            raise validation_error("MinCapacity and MaxCapacity are required to register a new scalable target")
        target = {
            "ServiceNamespace": key[0], "ResourceId": key[1], "ScalableDimension": key[2],
            "RoleARN": params.get("RoleARN") or SERVICE_LINKED_ROLE, "CreationTime": region.now(),
            "ScalableTargetARN": (f"arn:{region.partition}:application-autoscaling:{region.name}:{ACCOUNT_ID}:"
                                  f"scalable-target/{short_hex(*key, length=28)}"),
            "SuspendedState": {"DynamicScalingInSuspended": False, "DynamicScalingOutSuspended": False,
                               "ScheduledScalingSuspended": False},
        }
    for member in ("MinCapacity", "MaxCapacity", "RoleARN"):
        if params.get(member) is not None:
            target[member] = params[member]
    if params.get("SuspendedState"):
        target["SuspendedState"] = {**target["SuspendedState"], **params["SuspendedState"]}
    if target["MinCapacity"] > target["MaxCapacity"]:
        raise validation_error("Minimum capacity cannot be greater than maximum capacity")
    region.scalable_targets[key] = target
    return {"ScalableTargetARN": target["ScalableTargetARN"]}


@operation("DeregisterScalableTarget")
def deregister_scalable_target(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    key = _key(params)
    if region.scalable_targets.pop(key, None) is None:
        raise object_not_found(f"No scalable target found for {_target_words(params)}")
    for policy_key in [k for k in region.scaling_policies if k[:3] == key]:
        del region.scaling_policies[policy_key]
    return {}


@operation("DescribeScalableTargets")
def describe_scalable_targets(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    wanted = set(params.get("ResourceIds") or ())
    dimension = params.get("ScalableDimension")
    matches = [
        target for (namespace, resource, dim), target in sorted(region.scalable_targets.items())
        if namespace == params["ServiceNamespace"] and (not wanted or resource in wanted)
        and (not dimension or dim == dimension)
    ]
    chosen, token = offset_page(matches, params, "scalable-targets", DEFAULT_MAX_RESULTS)
    answer: dict[str, Any] = {"ScalableTargets": copy.deepcopy(chosen)}
    if token:
        answer["NextToken"] = token
    return answer


def _check_policy(params: dict[str, Any]) -> None:
    policy_type = params.get("PolicyType") or "StepScaling"
    member = {"TargetTrackingScaling": "TargetTrackingScalingPolicyConfiguration",
              "StepScaling": "StepScalingPolicyConfiguration",
              "PredictiveScaling": "PredictiveScalingPolicyConfiguration"}[policy_type]
    if not params.get(member):
        raise validation_error(f"{member} is required for a policy of type {policy_type}")
    predefined = ((params.get("TargetTrackingScalingPolicyConfiguration") or {})
                  .get("PredefinedMetricSpecification") or {}).get("PredefinedMetricType")
    _, metrics = DIMENSIONS[params["ScalableDimension"]]
    if predefined and predefined not in metrics:
        raise validation_error(f"Unsupported metric type {predefined} for scalable dimension "
                               f"{params['ScalableDimension']}")


@operation("PutScalingPolicy")
def put_scaling_policy(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    _check_resource(region, params)
    key = _key(params)
    if key not in region.scalable_targets:
        raise object_not_found(f"No scalable target registered for {_target_words(params)}")
    _check_policy(params)
    name = params["PolicyName"]
    policy_key = (*key, name)
    existing = region.scaling_policies.get(policy_key)
    arn = (existing or {}).get("PolicyARN") or (
        f"arn:{region.partition}:autoscaling:{region.name}:{ACCOUNT_ID}:scalingPolicy:"
        f"{short_hex(*policy_key, region.now(), length=32)}:resource/{key[0]}/{key[1]}:policyName/{name}"
    )
    policy = {
        "PolicyARN": arn, "PolicyName": name, "ServiceNamespace": key[0], "ResourceId": key[1],
        "ScalableDimension": key[2], "PolicyType": params.get("PolicyType") or "StepScaling",
        "CreationTime": (existing or {}).get("CreationTime", region.now()),
    }
    for member in ("TargetTrackingScalingPolicyConfiguration", "StepScalingPolicyConfiguration",
                   "PredictiveScalingPolicyConfiguration"):
        if params.get(member):
            policy[member] = copy.deepcopy(params[member])
    alarms = []
    if policy["PolicyType"] == "TargetTrackingScaling":
        # Target tracking makes a high and a low alarm of its own.
        stem = f"TargetTracking-{key[1]}"
        alarms = [{"AlarmName": f"{stem}-{side}-{short_hex(arn, side, length=8)}",
                   "AlarmARN": f"arn:{region.partition}:cloudwatch:{region.name}:{ACCOUNT_ID}:alarm:"
                               f"{stem}-{side}-{short_hex(arn, side, length=8)}"}
                  for side in ("AlarmHigh", "AlarmLow")]
        policy["Alarms"] = alarms
    region.scaling_policies[policy_key] = policy
    return {"PolicyARN": arn, "Alarms": alarms}


@operation("DeleteScalingPolicy")
def delete_scaling_policy(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    policy_key = (*_key(params), params["PolicyName"])
    if region.scaling_policies.pop(policy_key, None) is None:
        raise object_not_found(f"No scaling policy found for {_target_words(params)}, "
                               f"policy name: {params['PolicyName']}")
    return {}


@operation("DescribeScalingPolicies")
def describe_scaling_policies(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    names = set(params.get("PolicyNames") or ())
    matches = [
        policy for (namespace, resource, dimension, name), policy in sorted(region.scaling_policies.items())
        if namespace == params["ServiceNamespace"]
        and (not params.get("ResourceId") or resource == params["ResourceId"])
        and (not params.get("ScalableDimension") or dimension == params["ScalableDimension"])
        and (not names or name in names)
    ]
    chosen, token = offset_page(matches, params, "scaling-policies", DEFAULT_MAX_RESULTS)
    answer: dict[str, Any] = {"ScalingPolicies": copy.deepcopy(chosen)}
    if token:
        answer["NextToken"] = token
    return answer


@operation("DescribeScalingActivities")
def describe_scaling_activities(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    # The emulator's scaler acts only through the control API; it records no activities.
    return {"ScalingActivities": []}
