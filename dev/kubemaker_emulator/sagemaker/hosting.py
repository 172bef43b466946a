"""Models, endpoint configs and endpoints.

Models and endpoint configs exist as soon as they are created. Endpoints go Creating -> InService,
Updating -> InService on the new config (or, with an injected failure, RollingBack -> InService on
the old config with a FailureReason, as SageMaker's automatic rollback does), and Deleting -> gone.
An endpoint keeps a copy of the config it runs, so deleting a config or a model in use is allowed,
as on AWS. During a config update DescribeEndpoint answers a PendingDeploymentSummary: the new
fleet's variants Creating (no instances yet), then ActivatingTraffic as traffic moves to them, then
Baking until the update completes.

Variants with no model host inference components (kubemaker_emulator.sagemaker.components): their
config needs an ExecutionRoleArn, and every variant of it is such a variant.
"""

from __future__ import annotations

import copy
import hashlib
import math
import re
from typing import Any

from kubemaker_emulator.errors import validation_error
from kubemaker_emulator.sagemaker.base import Region, Resource, operation, page, time_window_filter
from kubemaker_emulator.sagemaker.defaults import default_value
from kubemaker_emulator.sagemaker.registry import require_deployable

IN_PROGRESS_ENDPOINT_STATUSES = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")
DEFAULT_WEIGHT = default_value("ProductionVariant", "InitialVariantWeight")
# Application Auto Scaling's ResourceId of a variant (its state: kubemaker_emulator.autoscaling).
VARIANT_RESOURCE = re.compile(r"endpoint/(?P<endpoint>[^/]+)/variant/(?P<variant>[^/]+)")


# Models ---------------------------------------------------------------------------------------------


class Model(Resource):
    def __init__(self, region: Region, request: dict[str, Any], now: float):
        name = request["ModelName"]
        super().__init__(region, name, region.arn("model", name), request.get("Tags"), now)
        self.described = copy.deepcopy(request)
        self.described.pop("Tags", None)

    @property
    def containers(self) -> list[dict[str, Any]]:
        if "PrimaryContainer" in self.described:
            return [self.described["PrimaryContainer"]]
        return self.described.get("Containers", [])

    def describe(self) -> dict[str, Any]:
        return {**self.described, "ModelArn": self.arn, "CreationTime": self.creation_time}


def model_not_found(region: Region, name: str) -> Exception:
    return validation_error(f'Could not find model "{region.arn("model", name)}".')


@operation("CreateModel")
def create_model(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    name = params["ModelName"]
    if name in region.models:
        raise validation_error(f'Cannot create already existing model "{region.arn("model", name)}".')
    if not params.get("PrimaryContainer") and not params.get("Containers"):
        raise validation_error("Either PrimaryContainer or Containers must be specified.")
    for container in [params["PrimaryContainer"]] if params.get("PrimaryContainer") else params["Containers"]:
        require_deployable(region, container)
    model = Model(region, params, region.now())
    region.models[name] = model
    model.register()
    return {"ModelArn": model.arn}


@operation("DescribeModel")
def describe_model(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    model = region.models.get(params["ModelName"])
    if model is None:
        raise model_not_found(region, params["ModelName"])
    return model.describe()


@operation("DeleteModel")
def delete_model(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    model = region.models.pop(params["ModelName"], None)
    if model is None:
        raise model_not_found(region, params["ModelName"])
    model.unregister()
    return {}


@operation("ListModels")
def list_models(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    in_window = time_window_filter(params, "CreationTime", None)
    name_part = (params.get("NameContains") or "").lower()
    matches = (m for m in region.models.values() if name_part in m.name.lower() and in_window(m))
    models, token = page(
        matches,
        params,
        {"Name": lambda m: m.name, "CreationTime": lambda m: m.creation_time},
        default_sort="CreationTime",
        default_order="Descending",
    )
    answer: dict[str, Any] = {
        "Models": [{"ModelName": m.name, "ModelArn": m.arn, "CreationTime": m.creation_time} for m in models]
    }
    if token:
        answer["NextToken"] = token
    return answer


# Endpoint configs -------------------------------------------------------------------------------------


class EndpointConfig(Resource):
    def __init__(self, region: Region, request: dict[str, Any], now: float):
        name = request["EndpointConfigName"]
        super().__init__(region, name, region.arn("endpoint-config", name), request.get("Tags"), now)
        self.described = copy.deepcopy(request)
        self.described.pop("Tags", None)

    def describe(self) -> dict[str, Any]:
        return {**self.described, "EndpointConfigArn": self.arn, "CreationTime": self.creation_time}


def endpoint_config_not_found(region: Region, name: str) -> Exception:
    return validation_error(f'Could not find endpoint configuration "{region.arn("endpoint-config", name)}".')


def validate_variants(region: Region, variants: list[dict[str, Any]], execution_role: str | None = None) -> None:
    names = [variant["VariantName"] for variant in variants]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise validation_error(f"Variant names must be unique; found duplicates {duplicates}.")
    without_model = [variant["VariantName"] for variant in variants if "ModelName" not in variant]
    if without_model:
        # Variants with no model host inference components, which SageMaker runs under the
        # config's execution role; such an endpoint hosts nothing else.
        if not execution_role:
            raise validation_error("ExecutionRoleArn is required when ModelName is not specified in ProductionVariants.")
        if len(without_model) != len(variants):
            raise validation_error(
                f"Variants {without_model} specify no ModelName: either every variant specifies a ModelName, "
                "or none does (an endpoint for inference components)."
            )
    for variant in variants:
        if "ModelName" in variant and variant["ModelName"] not in region.models:
            raise model_not_found(region, variant["ModelName"])
        if "ModelName" not in variant and "ServerlessConfig" in variant:
            raise validation_error(f"Variant {variant['VariantName']} hosts inference components and cannot be serverless.")
        serverless = "ServerlessConfig" in variant
        instances = "InstanceType" in variant or "InitialInstanceCount" in variant
        if serverless == instances:
            raise validation_error(
                f"Variant {variant['VariantName']} must specify either ServerlessConfig or both "
                "InstanceType and InitialInstanceCount."
            )
        if instances and ("InstanceType" not in variant or "InitialInstanceCount" not in variant):
            raise validation_error(
                f"Variant {variant['VariantName']} must specify both InstanceType and InitialInstanceCount."
            )


@operation("CreateEndpointConfig")
def create_endpoint_config(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    name = params["EndpointConfigName"]
    if name in region.endpoint_configs:
        raise validation_error(
            f'Cannot create already existing endpoint configuration "{region.arn("endpoint-config", name)}".'
        )
    validate_variants(region, params["ProductionVariants"] + params.get("ShadowProductionVariants", []),
                      params.get("ExecutionRoleArn"))
    config = EndpointConfig(region, params, region.now())
    region.endpoint_configs[name] = config
    config.register()
    return {"EndpointConfigArn": config.arn}


@operation("DescribeEndpointConfig")
def describe_endpoint_config(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    config = region.endpoint_configs.get(params["EndpointConfigName"])
    if config is None:
        raise endpoint_config_not_found(region, params["EndpointConfigName"])
    return config.describe()


@operation("DeleteEndpointConfig")
def delete_endpoint_config(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    config = region.endpoint_configs.pop(params["EndpointConfigName"], None)
    if config is None:
        raise endpoint_config_not_found(region, params["EndpointConfigName"])
    config.unregister()
    return {}


@operation("ListEndpointConfigs")
def list_endpoint_configs(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    in_window = time_window_filter(params, "CreationTime", None)
    name_part = (params.get("NameContains") or "").lower()
    matches = (c for c in region.endpoint_configs.values() if name_part in c.name.lower() and in_window(c))
    configs, token = page(
        matches,
        params,
        {"Name": lambda c: c.name, "CreationTime": lambda c: c.creation_time},
        default_sort="CreationTime",
        default_order="Descending",
    )
    answer: dict[str, Any] = {
        "EndpointConfigs": [
            {"EndpointConfigName": c.name, "EndpointConfigArn": c.arn, "CreationTime": c.creation_time} for c in configs
        ]
    }
    if token:
        answer["NextToken"] = token
    return answer


# Endpoints ------------------------------------------------------------------------------------------


def registered_variants(region: Region, endpoint_name: str) -> set[str]:
    """Variants of the endpoint that are scalable targets now (any SageMaker variant dimension)."""
    variants = set()
    for namespace, resource, _dimension in region.scalable_targets:
        match = VARIANT_RESOURCE.fullmatch(resource)
        if namespace == "sagemaker" and match and match["endpoint"] == endpoint_name:
            variants.add(match["variant"])
    return variants


class VariantState:
    """What a production variant runs now (current) and what it is moving to (desired)."""

    def __init__(self, variant: dict[str, Any]):
        self.variant = variant
        self.desired_weight = float(variant.get("InitialVariantWeight", DEFAULT_WEIGHT))
        self.desired_count = variant.get("InitialInstanceCount")
        self.desired_serverless = copy.deepcopy(variant.get("ServerlessConfig"))
        self.current_weight: float | None = None
        self.current_count: int | None = None
        self.current_serverless: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return self.variant["VariantName"]

    def converge(self) -> None:
        self.current_weight = self.desired_weight
        self.current_count = self.desired_count
        self.current_serverless = copy.deepcopy(self.desired_serverless)

    def summary(self, region: Region, images_resolved_at: float, status: dict[str, Any] | None) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "VariantName": self.name,
            "DeployedImages": deployed_images(region, self.variant.get("ModelName"), images_resolved_at),
            "CurrentWeight": self.current_weight if self.current_weight is not None else self.desired_weight,
            "DesiredWeight": self.desired_weight,
        }
        if self.desired_serverless is not None:
            summary["CurrentServerlessConfig"] = self.current_serverless or self.desired_serverless
            summary["DesiredServerlessConfig"] = self.desired_serverless
        else:
            summary["CurrentInstanceCount"] = self.current_count if self.current_count is not None else 0
            summary["DesiredInstanceCount"] = self.desired_count
        for member in ("ManagedInstanceScaling", "RoutingConfig"):
            if member in self.variant:
                summary[member] = self.variant[member]
        if status is not None:
            summary["VariantStatus"] = [status]
        return summary


def deployed_images(region: Region, model_name: str | None, resolved_at: float) -> list[dict[str, Any]]:
    model = region.models.get(model_name) if model_name else None
    if model is None:
        return []
    return [resolved_image(c["Image"], resolved_at) for c in model.containers if c.get("Image")]


def resolved_image(image: str, resolved_at: float) -> dict[str, Any]:
    """A DeployedImage: the image as specified, and resolved to a digest."""
    digest = hashlib.sha256(image.encode()).hexdigest()
    return {"SpecifiedImage": image, "ResolvedImage": f"{image.split(':')[0]}@sha256:{digest}", "ResolutionTime": resolved_at}


def deployment_steps(deployment: dict[str, Any] | None, instance_count: int) -> int:
    """How many traffic shifts an update makes; each takes one `endpoint_updating` period."""
    if not deployment:
        return 1
    blue_green = deployment.get("BlueGreenUpdatePolicy")
    if blue_green:
        routing = blue_green.get("TrafficRoutingConfiguration", {})
        kind = routing.get("Type", "ALL_AT_ONCE")
        if kind == "CANARY":
            return 2
        if kind == "LINEAR":
            step = routing.get("LinearStepSize", {})
            if step.get("Type") == "INSTANCE_COUNT":
                return min(5, max(1, math.ceil(instance_count / max(1, step.get("Value", 1)))))
            return min(5, max(1, math.ceil(100 / max(1, step.get("Value", 100)))))
        return 1
    rolling = deployment.get("RollingUpdatePolicy")
    if rolling:
        batch = rolling.get("MaximumBatchSize", {})
        if batch.get("Type") == "INSTANCE_COUNT":
            return min(5, max(1, math.ceil(instance_count / max(1, batch.get("Value", 1)))))
        return min(5, max(1, math.ceil(100 / max(1, batch.get("Value", 100)))))
    return 1


class Endpoint(Resource):
    def __init__(self, region: Region, request: dict[str, Any], config: EndpointConfig, now: float):
        name = request["EndpointName"]
        super().__init__(region, name, region.arn("endpoint", name), request.get("Tags"), now)
        self.status = "Creating"
        self.failure_reason: str | None = None
        self.config = config.describe()
        self.variants = self._variant_states(self.config, previous=None, retain=None)
        self.shadow_variants = [VariantState(v) for v in self.config.get("ShadowProductionVariants", [])]
        self.last_deployment_config = request.get("DeploymentConfig")
        self.images_resolved_at = now
        # The update under way: the new config and how its variants will look, or desired weights.
        self.pending: dict[str, Any] | None = None
        self.pending_failure = region.world.armed.endpoint_creation_failures.pop(name, None)
        self.update_failure: str | None = None
        self.phase_started = now
        self.timer = region.world.timer()
        self.timer.arm(now + region.timings["endpoint_creating"], self._created)

    @staticmethod
    def _variant_states(
        config: dict[str, Any], previous: list[VariantState] | None, retain: dict[str, Any] | None
    ) -> list[VariantState]:
        states = [VariantState(variant) for variant in config["ProductionVariants"]]
        if previous and retain and retain.get("RetainAllVariantProperties"):
            excluded = {item["VariantPropertyType"] for item in retain.get("ExcludeRetainedVariantProperties", [])}
            old = {state.name: state for state in previous}
            for state in states:
                if state.name not in old:
                    continue
                if "DesiredWeight" not in excluded:
                    state.desired_weight = old[state.name].desired_weight
                if "DesiredInstanceCount" not in excluded and state.desired_serverless is None:
                    state.desired_count = old[state.name].desired_count
        return states

    @property
    def instance_count(self) -> int:
        return sum(state.desired_count or 0 for state in self.variants)

    def _enter(self, status: str, t: float) -> None:
        self.status = status
        self.phase_started = t
        self.last_modified = t

    def _created(self, t: float) -> None:
        if self.pending_failure is not None:
            self.failure_reason = self.pending_failure
            self.pending_failure = None
            self._enter("Failed", t)
            return
        for state in self.variants + self.shadow_variants:
            state.converge()
        self.images_resolved_at = t
        self._enter("InService", t)

    def _check_updatable(self) -> None:
        if self.status in IN_PROGRESS_ENDPOINT_STATUSES:
            raise validation_error(f'Cannot update in-progress endpoint "{self.arn}".')
        if self.status != "InService":
            raise validation_error(f'Cannot update endpoint "{self.arn}" in status {self.status}.')

    def start_config_update(self, config: EndpointConfig, request: dict[str, Any], t: float) -> None:
        self._check_updatable()
        self._check_scalable_targets(config.described)
        deployment = request.get("DeploymentConfig")
        if deployment is None and request.get("RetainDeploymentConfig"):
            deployment = self.last_deployment_config
        new_config = config.describe()
        steps = deployment_steps(deployment, self.instance_count)
        self.pending = {
            "config": new_config,
            "variants": self._variant_states(new_config, self.variants, request),
            "shadow_variants": [VariantState(v) for v in new_config.get("ShadowProductionVariants", [])],
            "deployment": deployment,
            "start": t,
            "steps": steps,
        }
        self.last_deployment_config = deployment
        self._start_update(t, self.region.timings["endpoint_updating"] * steps)

    def _check_scalable_targets(self, new_config: dict[str, Any]) -> None:
        """SageMaker will not remove a variant, or change its instance type, while it is a registered
        scalable target of Application Auto Scaling."""
        after = {variant["VariantName"]: variant for variant in new_config["ProductionVariants"]}
        blocked = [
            state.name for state in self.variants
            if state.name in registered_variants(self.region, self.name)
            and (state.name not in after or after[state.name].get("InstanceType") != state.variant.get("InstanceType"))
        ]
        if blocked:
            raise validation_error(
                f'The variant(s) "{blocked}" must be deregistered as scalable targets with AWS Application Auto '
                "Scaling before they can be removed or have their instance type updated."
            )

    def start_weights_update(self, desired: list[dict[str, Any]], t: float) -> None:
        self._check_updatable()
        by_name = {state.name: state for state in self.variants}
        missing = [item["VariantName"] for item in desired if item["VariantName"] not in by_name]
        if missing:
            raise validation_error(f'The variant(s) "{missing}" is/are not present in the endpoint "{self.arn}".')
        for item in desired:
            state = by_name[item["VariantName"]]
            if "DesiredWeight" in item:
                state.desired_weight = float(item["DesiredWeight"])
            if "DesiredInstanceCount" in item:
                if state.desired_serverless is not None:
                    raise validation_error(f"Variant {state.name} is serverless and has no instance count.")
                state.desired_count = item["DesiredInstanceCount"]
            if "ServerlessUpdateConfig" in item:
                if state.desired_serverless is None:
                    raise validation_error(f"Variant {state.name} is not serverless.")
                state.desired_serverless = {**state.desired_serverless, **item["ServerlessUpdateConfig"]}
        self.pending = None
        self._start_update(t, self.region.timings["endpoint_weights_updating"])

    def _start_update(self, t: float, duration: float) -> None:
        self.failure_reason = None
        self.update_failure = self.region.world.armed.endpoint_update_failures.pop(self.name, None)
        self._enter("Updating", t)
        self.timer.arm(t + duration, self._updated)

    def _updated(self, t: float) -> None:
        if self.update_failure is not None:
            self._enter("RollingBack", t)
            self.timer.arm(t + self.region.timings["endpoint_updating"] / 2, self._rolled_back)
            return
        if self.pending is not None:
            self.config = self.pending["config"]
            self.variants = self.pending["variants"]
            self.shadow_variants = self.pending["shadow_variants"]
            self.images_resolved_at = t
            self.pending = None
        for state in self.variants + self.shadow_variants:
            state.converge()
        self._enter("InService", t)

    def _rolled_back(self, t: float) -> None:
        self.failure_reason = self.update_failure
        self.update_failure = None
        self.pending = None
        for state in self.variants + self.shadow_variants:
            # Weights and counts asked for in a failed update are abandoned with it.
            state.desired_weight = state.current_weight if state.current_weight is not None else state.desired_weight
            state.desired_count = state.current_count
            state.desired_serverless = copy.deepcopy(state.current_serverless)
        self._enter("InService", t)

    def delete(self, t: float) -> None:
        if self.status == "Deleting":
            raise validation_error(f'Cannot delete in-progress endpoint "{self.arn}".')
        hosted = sorted(c.name for c in self.region.inference_components.values() if c.endpoint_name == self.name)
        if hosted:
            raise validation_error(
                f'Endpoint "{self.arn}" hosts inference components {hosted}; delete them before deleting the endpoint.'
            )
        self._enter("Deleting", t)
        self.timer.arm(t + self.region.timings["endpoint_deleting"], self._deleted)

    def _deleted(self, t: float) -> None:
        self.region.endpoints.pop(self.name, None)
        self.unregister()

    def fail_creation(self, reason: str, t: float) -> None:
        if self.status != "Creating":
            raise ValueError(f"endpoint {self.name} is {self.status}, not Creating")
        self.pending_failure = reason

    def fail_next_update(self, reason: str, t: float) -> None:
        """Fails the update under way, or arms the next one."""
        if self.status == "Updating":
            self.update_failure = reason
        else:
            self.region.world.armed.endpoint_update_failures[self.name] = reason

    def set_instance_count(self, variant_name: str, count: int, t: float) -> None:
        """What Application Auto Scaling does: an UpdateEndpointWeightsAndCapacities on one variant."""
        self.start_weights_update([{"VariantName": variant_name, "DesiredInstanceCount": count}], t)

    def describe(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "EndpointName": self.name,
            "EndpointArn": self.arn,
            "EndpointConfigName": self.config["EndpointConfigName"],
            "EndpointStatus": self.status,
            "CreationTime": self.creation_time,
            "LastModifiedTime": self.last_modified,
            "FailureReason": self.failure_reason,
            "LastDeploymentConfig": self.last_deployment_config,
        }
        # Until it first comes into service SageMaker shows no variants.
        if self.variants[0].current_weight is not None:
            variant_status = {"Status": "Updating", "StartTime": self.phase_started} if self.status == "Updating" else None
            answer["ProductionVariants"] = [
                state.summary(self.region, self.images_resolved_at, variant_status if self.pending is None else None)
                for state in self.variants
            ]
            if self.shadow_variants:
                answer["ShadowProductionVariants"] = [
                    state.summary(self.region, self.images_resolved_at, None) for state in self.shadow_variants
                ]
        # What the endpoint answers of the config it runs, as its config states it.
        for member in ("AsyncInferenceConfig", "ExplainerConfig", "MetricsConfig", "CrossRegionTrafficConfig"):
            if member in self.config:
                answer[member] = self.config[member]
        capture = self.config.get("DataCaptureConfig")
        if capture is not None:
            enabled = capture.get("EnableCapture", default_value("DataCaptureConfig", "EnableCapture"))
            answer["DataCaptureConfig"] = {
                "EnableCapture": enabled,
                "CaptureStatus": "Started" if enabled else "Stopped",
                "CurrentSamplingPercentage": capture.get("InitialSamplingPercentage"),
                "DestinationS3Uri": capture.get("DestinationS3Uri"),
                "KmsKeyId": capture.get("KmsKeyId"),
            }
        if self.pending is not None and self.status == "Updating":
            answer["PendingDeploymentSummary"] = self._pending_deployment()
        return answer

    def _pending_deployment(self) -> dict[str, Any]:
        """The new fleet as SageMaker shows it while an update runs: Creating for the first step,
        then ActivatingTraffic while traffic shifts, Baking in the last step."""
        assert self.pending is not None
        start, steps = self.pending["start"], self.pending["steps"]
        step_seconds = self.region.timings["endpoint_updating"] or 1.0
        step = min(steps - 1, int((self.region.now() - start) / step_seconds))
        phase = "Creating" if step == 0 else "Baking" if step == steps - 1 else "ActivatingTraffic"
        status = {"Status": phase, "StartTime": start + step * step_seconds}
        summary: dict[str, Any] = {
            "EndpointConfigName": self.pending["config"]["EndpointConfigName"],
            "StartTime": start,
            "ProductionVariants": [self._pending_summary(state, status) for state in self.pending["variants"]],
        }
        if self.pending["shadow_variants"]:
            summary["ShadowProductionVariants"] = [
                self._pending_summary(state, status) for state in self.pending["shadow_variants"]
            ]
        return summary

    def _pending_summary(self, state: VariantState, status: dict[str, Any]) -> dict[str, Any]:
        summary = state.summary(self.region, self.pending["start"] if self.pending else self.last_modified, status)
        if state.desired_serverless is None:
            # No instance of the new fleet serves until it is created.
            summary["CurrentInstanceCount"] = 0 if status["Status"] == "Creating" else state.desired_count
        summary["CurrentWeight"] = 0.0 if status["Status"] == "Creating" else state.desired_weight
        for member in ("InstanceType", "AcceleratorType"):
            if member in state.variant:
                summary[member] = state.variant[member]
        return summary

    def summary(self) -> dict[str, Any]:
        return {
            "EndpointName": self.name,
            "EndpointArn": self.arn,
            "CreationTime": self.creation_time,
            "LastModifiedTime": self.last_modified,
            "EndpointStatus": self.status,
        }


def endpoint_not_found(region: Region, name: str) -> Exception:
    return validation_error(f'Could not find endpoint "{region.arn("endpoint", name)}".')


def find_endpoint(region: Region, name: str) -> Endpoint:
    endpoint = region.endpoints.get(name)
    if endpoint is None:
        raise endpoint_not_found(region, name)
    return endpoint


def find_endpoint_config(region: Region, name: str) -> EndpointConfig:
    config = region.endpoint_configs.get(name)
    if config is None:
        raise endpoint_config_not_found(region, name)
    return config


@operation("CreateEndpoint")
def create_endpoint(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    name = params["EndpointName"]
    if name in region.endpoints:
        raise validation_error(f'Cannot create already existing endpoint "{region.arn("endpoint", name)}".')
    config = find_endpoint_config(region, params["EndpointConfigName"])
    endpoint = Endpoint(region, params, config, region.now())
    region.endpoints[name] = endpoint
    endpoint.register()
    return {"EndpointArn": endpoint.arn}


@operation("DescribeEndpoint")
def describe_endpoint(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    return find_endpoint(region, params["EndpointName"]).describe()


@operation("UpdateEndpoint")
def update_endpoint(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    endpoint = find_endpoint(region, params["EndpointName"])
    config = find_endpoint_config(region, params["EndpointConfigName"])
    endpoint.start_config_update(config, params, region.now())
    return {"EndpointArn": endpoint.arn}


@operation("UpdateEndpointWeightsAndCapacities")
def update_endpoint_weights_and_capacities(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    endpoint = find_endpoint(region, params["EndpointName"])
    endpoint.start_weights_update(params["DesiredWeightsAndCapacities"], region.now())
    return {"EndpointArn": endpoint.arn}


@operation("DeleteEndpoint")
def delete_endpoint(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    find_endpoint(region, params["EndpointName"]).delete(region.now())
    return {}


@operation("ListEndpoints")
def list_endpoints(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    in_window = time_window_filter(params, "CreationTime", "LastModifiedTime")
    name_part = (params.get("NameContains") or "").lower()
    status = params.get("StatusEquals")
    matches = (
        e
        for e in region.endpoints.values()
        if (not status or e.status == status) and name_part in e.name.lower() and in_window(e)
    )
    endpoints, token = page(
        matches,
        params,
        {"Name": lambda e: e.name, "CreationTime": lambda e: e.creation_time, "Status": lambda e: e.status},
        default_sort="CreationTime",
        default_order="Descending",
    )
    answer: dict[str, Any] = {"Endpoints": [e.summary() for e in endpoints]}
    if token:
        answer["NextToken"] = token
    return answer
