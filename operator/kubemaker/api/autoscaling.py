"""Application Auto Scaling of SageMaker resources, one design for every kind that scales: a target
tracking `autoScaling` block in the spec, registered as a scalable target with its policy, and
removed when dropped. Endpoint variants scale their instance count, inference components their
copy count; `ScalableKind` says which dimension, metric and names a kind's targets use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from annotated_types import Interval
from pydantic import Field

from kubemaker.api import shapes
from kubemaker.api.base import ApiModel, to_wire
from kubemaker.api.common import cel_rules, exactly_one

SERVICE_NAMESPACE = "sagemaker"
Cooldown = Annotated[int, Interval(ge=0, le=86400)]


class CustomMetricSpecification(shapes.AutoScalingCustomizedMetricSpecification):
    """Application Auto Scaling's CustomizedMetricSpecification, plus the value to track."""

    targetValue: Annotated[float, Interval(ge=0)] = Field(description="The metric value to keep the resource at.")


def autoscaling_rules(predefined_target: str) -> dict[str, Any]:
    """The CEL rules of an autoScaling block whose predefined metric's target is `predefined_target`."""
    return cel_rules(
        ("self.minCapacity <= self.maxCapacity", "minCapacity must not exceed maxCapacity", ".minCapacity"),
        (
            exactly_one(predefined_target, "customMetricSpecification"),
            f"give exactly one of {predefined_target} and customMetricSpecification",
            f".{predefined_target}",
        ),
    )


class TargetTracking(ApiModel):
    """What every autoScaling block has; a kind's subclass gives its bounds and predefined metric."""

    minCapacity: int = Field(description="The fewest the scaler may set.")
    maxCapacity: int = Field(description="The most the scaler may set.")
    customMetricSpecification: CustomMetricSpecification | None = Field(
        None, description="Track a CloudWatch metric of your choice instead."
    )
    scaleInCooldown: Cooldown | None = Field(None, description="Seconds after a scale-in before the next one.")
    scaleOutCooldown: Cooldown | None = Field(None, description="Seconds after a scale-out before the next one.")

    # Set by each subclass: the field holding the predefined metric's target value.
    predefined_target_field: ClassVar[str]

    @property
    def predefined_target(self) -> float | None:
        return getattr(self, self.predefined_target_field)


@dataclass(frozen=True)
class ScalableKind:
    """How one kind's resources appear in Application Auto Scaling. `key` names one resource within
    the object (a variant's name; the component's own name)."""

    dimension: str
    predefined_metric: str
    noun: str  # for messages: "variant", "inference component"
    unit: str  # what is counted: "instances", "copies"
    status_field: str  # the status list of keys registered, deregistered when dropped
    resource_id: Callable[[str], str]
    policy_name: Callable[[str], str]

    def target(self, key: str) -> dict[str, Any]:
        """The members that name a scalable target in every Application Auto Scaling request."""
        return {"ServiceNamespace": SERVICE_NAMESPACE, "ResourceId": self.resource_id(key),
                "ScalableDimension": self.dimension}

    def register_request(self, key: str, scaling: TargetTracking) -> dict[str, Any]:
        """RegisterScalableTarget's request."""
        return {**self.target(key), "MinCapacity": scaling.minCapacity, "MaxCapacity": scaling.maxCapacity}

    def policy_request(self, key: str, scaling: TargetTracking) -> dict[str, Any]:
        """PutScalingPolicy's request: target tracking of the kind's predefined metric, or of the custom one."""
        configuration: dict[str, Any]
        if scaling.customMetricSpecification:
            metric = scaling.customMetricSpecification
            configuration = {"TargetValue": metric.targetValue, "CustomizedMetricSpecification": to_wire(metric)}
        else:
            configuration = {"TargetValue": scaling.predefined_target,
                             "PredefinedMetricSpecification": {"PredefinedMetricType": self.predefined_metric}}
        if scaling.scaleInCooldown is not None:
            configuration["ScaleInCooldown"] = scaling.scaleInCooldown
        if scaling.scaleOutCooldown is not None:
            configuration["ScaleOutCooldown"] = scaling.scaleOutCooldown
        return {"PolicyName": self.policy_name(key), **self.target(key), "PolicyType": "TargetTrackingScaling",
                "TargetTrackingScalingPolicyConfiguration": configuration}
