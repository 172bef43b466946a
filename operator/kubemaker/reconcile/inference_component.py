"""InferenceComponent planner: one call per pass, the least disruptive that moves toward the spec.

- none yet: CreateInferenceComponent (the Endpoint and Model it names are ready: the handler waits);
- a specification or deploymentConfig change: UpdateInferenceComponent;
- a copy-count change: UpdateInferenceComponentRuntimeConfig, no other call; with autoScaling the
  scaler owns the count and the operator never sets it;
- autoScaling: the same planning as an Endpoint variant's (reconcile.autoscaling), on the
  dimension sagemaker:inference-component:DesiredCopyCount;
- Failed: Stalled for that generation; a spec change deletes it and creates it again (SageMaker
  updates no failed component).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..api.inference_component import (
    InferenceComponentSpec,
    build_create_request,
    build_runtime_config_request,
    build_update_request,
    component_scaling,
    specification_fingerprint,
)
from ..conditions import Health
from ..runtime.outcomes import Event, Plan, SageMakerObject, create_pending
from .autoscaling import plan_autoscaling
from .common import console_url

IN_PROGRESS = ("Creating", "Updating", "Deleting")
INFERENCE_COMPONENT = SageMakerObject("inference component", "describe_inference_component",
                                      "InferenceComponentName", "InferenceComponentArn")


@dataclass
class Desired:
    spec: InferenceComponentSpec
    name: str
    endpoint_name: str
    model_name: str | None  # the SageMaker model of specification.modelRef, if any
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class Observed:
    component: dict | None = None  # DescribeInferenceComponent
    targets: dict[str, dict] = field(default_factory=dict)  # the component's scalable target, by its name
    policies: dict[str, dict] = field(default_factory=dict)


def observed_status(component: dict | None, region: str) -> dict[str, Any]:
    if component is None:
        return {"inferenceComponentStatus": None, "currentCopyCount": None, "desiredCopyCount": None}
    runtime = component.get("RuntimeConfig") or {}
    specification = component.get("Specification") or {}
    return {
        "inferenceComponentName": component["InferenceComponentName"],
        "inferenceComponentArn": component["InferenceComponentArn"],
        "inferenceComponentStatus": component["InferenceComponentStatus"],
        "failureReason": component.get("FailureReason"),
        "endpointName": component["EndpointName"],
        "variantName": component.get("VariantName"),
        "modelName": specification.get("ModelName"),
        "desiredCopyCount": runtime.get("DesiredCopyCount"),
        "currentCopyCount": runtime.get("CurrentCopyCount"),
        "consoleUrl": console_url(region, f"inference-components/{component['InferenceComponentName']}"),
        "createPending": None,
    }


def plan_component(desired: Desired, observed: Observed, status: dict, generation: int, region: str) -> Plan:
    plan = next_step(desired, observed, status, generation, region)
    plan.follow = observed.component or {"InferenceComponentName": desired.name}
    plan.track = observed.component is not None
    if plan.action == "create_inference_component":
        plan.creates = INFERENCE_COMPONENT
        plan.record = {"inferenceComponentArn": "InferenceComponentArn"}
    return plan


def next_step(desired: Desired, observed: Observed, status: dict, generation: int, region: str) -> Plan:
    component = observed.component
    name = desired.name
    current = {**status, **observed_status(component, region), "inferenceComponentName": name}
    fingerprint = specification_fingerprint(desired.spec, desired.model_name)

    def step(health: Health, updates: dict | None = None, **kwargs: Any) -> Plan:
        return Plan(health=health, status={**current, **kwargs.get("before", {}), **(updates or {})}, **kwargs)

    if component is None:
        request = build_create_request(desired.spec, name, desired.endpoint_name, desired.model_name, desired.tags)
        return step(
            Health.reconciling("Creating", f"creating inference component {name} on endpoint {desired.endpoint_name}"),
            {"failedGeneration": None, "inferenceComponentArn": None},
            action="create_inference_component", request=request, requeue_after=0,
            # The fingerprint goes with the marker: a pass that finds the component after a crash
            # knows it was made from this specification.
            before=create_pending(name, inferenceComponentName=name, specificationFingerprint=fingerprint),
            events=[Event("Normal", "Creating", f"creating SageMaker inference component {name} on endpoint "
                                                f"{desired.endpoint_name}")],
        )

    state = component["InferenceComponentStatus"]
    reason = component.get("FailureReason") or ""
    if state in IN_PROGRESS:
        # A deleted component leaves the listing, so the tracker will not say when it is gone.
        return step(Health.reconciling(state, f"inference component {state}"),
                    look_again="poll" if state == "Deleting" else None)
    if state == "Failed":
        if status.get("failedGeneration") not in (None, generation):
            return step(
                Health.reconciling("Recreating", f"deleting failed inference component {name} to create it again"),
                {"failedGeneration": None},
                action="delete_inference_component", request={"InferenceComponentName": name},
                events=[Event("Normal", "Recreating",
                              f"deleting failed inference component {name} to create it from the new spec")],
            )
        return step(
            Health.stalled("InferenceComponentFailed",
                           f"inference component failed: {reason}; change the spec to delete and re-create it"),
            {"failedGeneration": generation},
            events=[Event("Warning", "InferenceComponentFailed", reason or "inference component failed")],
        )

    if status.get("specificationFingerprint") != fingerprint:
        return step(
            Health.reconciling("Updating", f"updating inference component {name} with UpdateInferenceComponent"),
            {"specificationFingerprint": fingerprint},
            action="update_inference_component",
            request=build_update_request(desired.spec, name, desired.model_name), requeue_after=0,
            events=[Event("Normal", "Updating", "UpdateInferenceComponent: the specification changed")],
        )
    wanted_copies = (desired.spec.runtimeConfig.copyCount if desired.spec.runtimeConfig else None)
    observed_copies = (component.get("RuntimeConfig") or {}).get("DesiredCopyCount")
    if desired.spec.autoScaling is None and wanted_copies is not None and wanted_copies != observed_copies:
        return step(
            Health.reconciling("UpdatingCopies", f"setting the copy count of {name} to {wanted_copies}"),
            action="update_inference_component_runtime_config",
            request=build_runtime_config_request(name, wanted_copies), requeue_after=0,
            events=[Event("Normal", "UpdatingCopies",
                          f"UpdateInferenceComponentRuntimeConfig: {observed_copies} -> {wanted_copies} copies")],
        )
    wanted_scaling = {name: desired.spec.autoScaling} if desired.spec.autoScaling else {}
    scaling = plan_autoscaling(component_scaling(name), wanted_scaling, observed.targets, observed.policies, status)
    if scaling is not None:
        scaling.status = {**current, **scaling.status}
        return scaling
    copies = (component.get("RuntimeConfig") or {}).get("CurrentCopyCount")
    return step(Health.ready("InService", f"inference component in service on endpoint {component['EndpointName']}"
                             + (f" with {copies} copies" if copies is not None else "")),
                {"failedGeneration": None})
