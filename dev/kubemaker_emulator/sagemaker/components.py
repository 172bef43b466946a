"""Inference components: models placed on the instances of an endpoint's model-less variants.

A component goes Creating -> InService (or Failed, when a failure is injected), Updating -> InService (UpdateInferenceComponent for its
specification, UpdateInferenceComponentRuntimeConfig for its copy count), Deleting -> gone, each on
the clock. Its copies converge when it comes into service: until then DescribeInferenceComponent
shows the desired copy count beside the current one. It is created only on an InService endpoint,
on a variant with no model, and its endpoint cannot be deleted while it exists (hosting).
"""

from __future__ import annotations

import copy
from typing import Any

from kubemaker_emulator.errors import validation_error
from kubemaker_emulator.sagemaker.base import Region, Resource, operation, page, time_window_filter
from kubemaker_emulator.sagemaker.hosting import endpoint_not_found, model_not_found, resolved_image

IN_PROGRESS = ("Creating", "Updating", "Deleting")


class InferenceComponent(Resource):
    def __init__(self, region: Region, request: dict[str, Any], variant: str, now: float):
        name = request["InferenceComponentName"]
        super().__init__(region, name, region.arn("inference-component", name), request.get("Tags"), now)
        self.endpoint_name = request["EndpointName"]
        self.variant_name = variant
        self.specification = copy.deepcopy(request.get("Specification"))
        self.specifications = copy.deepcopy(request.get("Specifications"))
        self.desired_copies = (request.get("RuntimeConfig") or {}).get("CopyCount")
        self.current_copies = 0 if self.desired_copies is not None else None
        self.last_deployment_config: dict[str, Any] | None = None
        self.pending: dict[str, Any] | None = None  # the specification an update moves to
        self.status = "Creating"
        self.failure_reason: str | None = None
        # An injected failure (control API): the component ends Failed when it would come into service.
        self.pending_failure = region.world.armed.inference_component_failures.pop(name, None)
        self.timer = region.world.timer()
        self.timer.arm(now + region.timings["inference_component_creating"], self._settled)

    def _enter(self, status: str, t: float) -> None:
        self.status = status
        self.last_modified = t

    def _settled(self, t: float) -> None:
        if self.pending_failure is not None:
            self.failure_reason, self.pending_failure = self.pending_failure, None
            self.pending = None
            self._enter("Failed", t)
            return
        if self.pending is not None:
            self.specification = self.pending.get("Specification", self.specification)
            self.specifications = self.pending.get("Specifications", self.specifications)
            self.pending = None
        self.current_copies = self.desired_copies
        self._enter("InService", t)

    def _check_updatable(self) -> None:
        if self.status in IN_PROGRESS:
            raise validation_error(f'Cannot update in-progress inference component "{self.arn}".')
        if self.status != "InService":
            raise validation_error(f'Cannot update inference component "{self.arn}" in status {self.status}.')

    def update(self, params: dict[str, Any], t: float) -> None:
        self._check_updatable()
        if params.get("Specification") or params.get("Specifications"):
            validate_specifications(self.region, params)
            self.pending = {key: copy.deepcopy(params[key]) for key in ("Specification", "Specifications") if key in params}
        if params.get("RuntimeConfig"):
            self.desired_copies = params["RuntimeConfig"]["CopyCount"]
        if params.get("DeploymentConfig"):
            self.last_deployment_config = copy.deepcopy(params["DeploymentConfig"])
        self._enter("Updating", t)
        self.timer.arm(t + self.region.timings["inference_component_updating"], self._settled)

    def fail(self, reason: str) -> None:
        """Fails the component when its creation or update under way would complete."""
        if self.status not in ("Creating", "Updating"):
            raise ValueError(f"inference component {self.name} is {self.status}, not Creating or Updating")
        self.pending_failure = reason

    def set_copy_count(self, count: int, t: float) -> None:
        self._check_updatable()
        self.desired_copies = count
        self._enter("Updating", t)
        self.timer.arm(t + self.region.timings["inference_component_updating"], self._settled)

    def delete(self, t: float) -> None:
        if self.status == "Deleting":
            raise validation_error(f'Cannot delete in-progress inference component "{self.arn}".')
        self._enter("Deleting", t)
        self.timer.arm(t + self.region.timings["inference_component_deleting"], self._deleted)

    def _deleted(self, t: float) -> None:
        self.region.inference_components.pop(self.name, None)
        self.unregister()

    def _specification_summary(self, specification: dict[str, Any]) -> dict[str, Any]:
        summary = {key: copy.deepcopy(value) for key, value in specification.items() if key != "Container"}
        container = specification.get("Container")
        if container:
            summary["Container"] = {key: container[key] for key in ("ArtifactUrl", "Environment") if key in container}
            if container.get("Image"):
                summary["Container"]["DeployedImage"] = resolved_image(container["Image"], self.creation_time)
        return summary

    def describe(self) -> dict[str, Any]:
        endpoint = self.region.endpoints.get(self.endpoint_name)
        answer: dict[str, Any] = {
            "InferenceComponentName": self.name,
            "InferenceComponentArn": self.arn,
            "EndpointName": self.endpoint_name,
            "EndpointArn": endpoint.arn if endpoint else self.region.arn("endpoint", self.endpoint_name),
            "VariantName": self.variant_name,
            "FailureReason": self.failure_reason,
            "CreationTime": self.creation_time,
            "LastModifiedTime": self.last_modified,
            "InferenceComponentStatus": self.status,
            "LastDeploymentConfig": self.last_deployment_config,
        }
        if self.specification is not None:
            answer["Specification"] = self._specification_summary(self.specification)
        if self.specifications is not None:
            answer["Specifications"] = [self._specification_summary(s) for s in self.specifications]
        if self.desired_copies is not None:
            answer["RuntimeConfig"] = {"DesiredCopyCount": self.desired_copies, "CurrentCopyCount": self.current_copies}
        return answer

    def summary(self) -> dict[str, Any]:
        endpoint = self.region.endpoints.get(self.endpoint_name)
        return {
            "CreationTime": self.creation_time,
            "InferenceComponentArn": self.arn,
            "InferenceComponentName": self.name,
            "EndpointArn": endpoint.arn if endpoint else self.region.arn("endpoint", self.endpoint_name),
            "EndpointName": self.endpoint_name,
            "VariantName": self.variant_name,
            "InferenceComponentStatus": self.status,
            "LastModifiedTime": self.last_modified,
        }


def component_not_found(region: Region, name: str) -> Exception:
    return validation_error(f'Could not find inference component "{region.arn("inference-component", name)}".')


def find_component(region: Region, name: str) -> InferenceComponent:
    component = region.inference_components.get(name)
    if component is None:
        raise component_not_found(region, name)
    return component


def validate_specifications(region: Region, params: dict[str, Any]) -> None:
    if ("Specification" in params) == ("Specifications" in params):
        raise validation_error("Specify exactly one of Specification and Specifications.")
    for specification in params.get("Specifications") or [params["Specification"]]:
        base = specification.get("BaseInferenceComponentName")
        if base:
            if base not in region.inference_components:
                raise component_not_found(region, base)
            continue  # an adapter takes its compute resources from its base component
        if not specification.get("ModelName") and not specification.get("Container"):
            raise validation_error("The inference component specification needs a ModelName or a Container.")
        if specification.get("ModelName") and specification["ModelName"] not in region.models:
            raise model_not_found(region, specification["ModelName"])
        if not specification.get("ComputeResourceRequirements"):
            raise validation_error("ComputeResourceRequirements is required in the inference component specification.")
        requirements = specification["ComputeResourceRequirements"]
        if requirements.get("MaxMemoryRequiredInMb", requirements["MinMemoryRequiredInMb"]) < requirements["MinMemoryRequiredInMb"]:
            raise validation_error("MaxMemoryRequiredInMb must not be less than MinMemoryRequiredInMb.")


def _is_adapter(params: dict[str, Any]) -> bool:
    return bool((params.get("Specification") or {}).get("BaseInferenceComponentName"))


@operation("CreateInferenceComponent")
def create_inference_component(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    name = params["InferenceComponentName"]
    if name in region.inference_components:
        raise validation_error(
            f'Cannot create already existing inference component "{region.arn("inference-component", name)}".'
        )
    endpoint = region.endpoints.get(params["EndpointName"])
    if endpoint is None:
        raise endpoint_not_found(region, params["EndpointName"])
    if endpoint.status != "InService":
        raise validation_error(
            f'Cannot create an inference component on endpoint "{endpoint.arn}" in status {endpoint.status}.'
        )
    variants = {state.name: state for state in endpoint.variants}
    variant = params.get("VariantName")
    if variant is None:
        if len(variants) != 1:
            raise validation_error(f'VariantName is required: endpoint "{endpoint.arn}" has {len(variants)} variants.')
        variant = next(iter(variants))
    if variant not in variants:
        raise validation_error(f'The variant "{variant}" is not present in the endpoint "{endpoint.arn}".')
    if variants[variant].variant.get("ModelName"):
        raise validation_error(
            f'Variant "{variant}" of endpoint "{endpoint.arn}" hosts model {variants[variant].variant["ModelName"]}: '
            "inference components need a variant created without a ModelName."
        )
    validate_specifications(region, params)
    if not params.get("RuntimeConfig") and not _is_adapter(params):
        raise validation_error("RuntimeConfig is required for an inference component that is not an adapter.")
    component = InferenceComponent(region, params, variant, region.now())
    region.inference_components[name] = component
    component.register()
    return {"InferenceComponentArn": component.arn}


@operation("DescribeInferenceComponent")
def describe_inference_component(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    return find_component(region, params["InferenceComponentName"]).describe()


@operation("UpdateInferenceComponent")
def update_inference_component(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    component = find_component(region, params["InferenceComponentName"])
    if not any(params.get(key) for key in ("Specification", "Specifications", "RuntimeConfig", "DeploymentConfig")):
        raise validation_error("Specify at least one of Specification, Specifications, RuntimeConfig and DeploymentConfig.")
    component.update(params, region.now())
    return {"InferenceComponentArn": component.arn}


@operation("UpdateInferenceComponentRuntimeConfig")
def update_inference_component_runtime_config(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    component = find_component(region, params["InferenceComponentName"])
    component.set_copy_count(params["DesiredRuntimeConfig"]["CopyCount"], region.now())
    return {"InferenceComponentArn": component.arn}


@operation("DeleteInferenceComponent")
def delete_inference_component(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    find_component(region, params["InferenceComponentName"]).delete(region.now())
    return {}


@operation("ListInferenceComponents")
def list_inference_components(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    in_window = time_window_filter(params, "CreationTime", "LastModifiedTime")
    name_part = (params.get("NameContains") or "").lower()
    matches = (
        c for c in region.inference_components.values()
        if name_part in c.name.lower() and in_window(c)
        and (not params.get("StatusEquals") or c.status == params["StatusEquals"])
        and (not params.get("EndpointNameEquals") or c.endpoint_name == params["EndpointNameEquals"])
        and (not params.get("VariantNameEquals") or c.variant_name == params["VariantNameEquals"])
    )
    components, token = page(
        matches,
        params,
        {"Name": lambda c: c.name, "CreationTime": lambda c: c.creation_time, "Status": lambda c: c.status},
        default_sort="CreationTime",
        default_order="Descending",
    )
    answer: dict[str, Any] = {"InferenceComponents": [c.summary() for c in components]}
    if token:
        answer["NextToken"] = token
    return answer

