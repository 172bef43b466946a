"""Endpoint planner: endpoint configs, the endpoint and its variants' autoscaling, one step at a time.

Each pass observes SageMaker and Application Auto Scaling and returns at most one mutating call,
always the least disruptive one that moves toward the spec:
- weights, instance counts, serverless concurrency: UpdateEndpointWeightsAndCapacities, no new config;
- anything else: a new endpoint config, named from a digest of what it sets (so an interrupted
  pass finds it again), and UpdateEndpoint honouring deploymentConfig;
- autoscaling: the scaler owns an autoscaled variant's instance count; targets SageMaker would
  refuse to update under (instance type change, variant removal) are deregistered first and
  registered again after.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..api.autoscaling import TargetTracking
from ..api.base import from_wire
from ..api.endpoint import (
    EndpointSpec,
    EndpointStatus,
    PendingDeploymentStatus,
    VariantStatus,
    all_variants,
    build_create_endpoint_config_request,
    build_create_endpoint_request,
    build_update_endpoint_request,
    build_update_weights_and_capacities_request,
    count_is_scalers,
    invocation_url,
    variant_scaling,
    variant_summary,
)
from ..api.registry import dump_status
from ..conditions import Health
from ..runtime.outcomes import Event, Plan, SageMakerObject, create_pending
from .autoscaling import deregistration_step, plan_autoscaling
from .common import console_url
from .model import covers

IN_PROGRESS = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")
# An update we started that ends InService with a FailureReason failed (and was rolled back).
UPDATING = ("Updating", "RollingBack")
CONFIG_HASH_LENGTH = 8
MAX_NAME_LENGTH = 63
# Members of a production variant that UpdateEndpointWeightsAndCapacities changes in place.
IN_PLACE_MEMBERS = ("InitialVariantWeight", "InitialInstanceCount")
IN_PLACE_SERVERLESS = ("MaxConcurrency", "ProvisionedConcurrency")


ENDPOINT = SageMakerObject("endpoint", "describe_endpoint", "EndpointName", "EndpointArn")
ENDPOINT_CONFIG = SageMakerObject("endpoint config", "describe_endpoint_config", "EndpointConfigName",
                                  "EndpointConfigArn")


@dataclass
class Observed:
    endpoint: dict | None = None  # DescribeEndpoint
    config_in_use: dict | None = None  # DescribeEndpointConfig of the endpoint's config, when it is not the desired one
    pending_config: dict | None = None  # DescribeEndpointConfig of status.pendingEndpointConfigName
    targets: dict[str, dict] = field(default_factory=dict)  # variant -> registered scalable target
    policies: dict[str, dict] = field(default_factory=dict)  # variant -> our scaling policy


@dataclass
class Desired:
    spec: EndpointSpec
    endpoint_name: str
    model_names: Mapping[str, str]  # Model object -> its current SageMaker model
    tags: Mapping[str, str]  # ownership tags


def scaler_counts(spec: EndpointSpec, endpoint: dict | None) -> dict[str, int]:
    """The instance counts the scaler set on autoscaled variants: a new config keeps them."""
    autoscaled = {variant.variantName for variant in spec.productionVariants if count_is_scalers(variant)}
    counts = {}
    for summary in (endpoint or {}).get("ProductionVariants") or []:
        count = summary.get("DesiredInstanceCount", summary.get("CurrentInstanceCount"))
        if summary["VariantName"] in autoscaled and count:
            counts[summary["VariantName"]] = count
    return counts


def config_digest(endpoint_name: str, request: dict[str, Any]) -> str:
    """A digest of what a config sets that only a new config can change: not the name, the tags,
    nor the production variants' weights, counts and serverless concurrency. The endpoint's name
    is part of it, so endpoints whose names share a long prefix still get distinct config names."""
    content = {key: value for key, value in request.items() if key not in ("EndpointConfigName", "Tags")}
    content["EndpointName"] = endpoint_name
    content = copy.deepcopy(content)
    for variant in content.get("ProductionVariants", []):
        for member in IN_PLACE_MEMBERS:
            variant.pop(member, None)
        for member in IN_PLACE_SERVERLESS:
            variant.get("ServerlessConfig", {}).pop(member, None)
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


# CreateEndpointConfig's members that say what a config does (not its name and tags).
CONFIG_CONTENT_MEMBERS = tuple(
    EndpointSpec.wire_names[member] for member in EndpointSpec.operation_members["CreateEndpointConfig"]
    if member != "tags"
)


def config_matches(described: dict | None, request: dict[str, Any]) -> bool:
    """Whether an existing config (DescribeEndpointConfig) already does what `request` asks, leaving
    aside what changes in place (weights, counts, serverless concurrency): an adopted endpoint's
    config that matches is kept, with no new config and no UpdateEndpoint."""
    if described is None:
        return False
    wanted = copy.deepcopy(request)
    for variant in wanted.get("ProductionVariants", []):
        for member in IN_PLACE_MEMBERS:
            variant.pop(member, None)
        for member in IN_PLACE_SERVERLESS:
            variant.get("ServerlessConfig", {}).pop(member, None)
    for member in CONFIG_CONTENT_MEMBERS:
        if member in wanted:
            if not covers(described.get(member), wanted[member]):
                return False
        elif described.get(member):
            return False  # the live config sets something the spec does not
    return True


def literal_model_names(config_request: dict[str, Any], resolved: Mapping[str, str]) -> list[str]:
    """The SageMaker models a config request uses by a name the spec gives (modelName, an instance
    pool's modelNameOverride), not through a Model object of this namespace."""
    names = []
    for variant in config_request.get("ProductionVariants", []) + config_request.get("ShadowProductionVariants", []):
        names.append(variant.get("ModelName"))
        names += [pool.get("ModelNameOverride") for pool in variant.get("InstancePools") or []]
    ours = set(resolved.values())
    return sorted({name for name in names if name and name not in ours})


def desired_config(desired: Desired, endpoint: dict | None) -> dict[str, Any]:
    """CreateEndpointConfig's request for the spec, named `<endpoint>-<digest>`."""
    request = build_create_endpoint_config_request(
        desired.spec, "", desired.model_names, desired.tags, scaler_counts(desired.spec, endpoint)
    )
    suffix = config_digest(desired.endpoint_name, request)[:CONFIG_HASH_LENGTH]
    stem = desired.endpoint_name[: MAX_NAME_LENGTH - CONFIG_HASH_LENGTH - 1].rstrip("-")
    request["EndpointConfigName"] = f"{stem}-{suffix}"
    return request


# Status -------------------------------------------------------------------------------------------


def variant_statuses(summaries: list[dict] | None) -> list[VariantStatus]:
    variants = []
    for summary in summaries or []:
        variant = VariantStatus.model_validate(from_wire(VariantStatus, summary))
        latest = (summary.get("VariantStatus") or [{}])[-1]
        variant.variantStatus = latest.get("Status")
        variants.append(variant)
    return variants


def config_arn(endpoint_arn: str, config_name: str) -> str:
    """An endpoint config's ARN, in the endpoint's partition, region and account (SageMaker
    lower-cases names in ARNs): DescribeEndpoint names the configs, not their ARNs."""
    return f"{endpoint_arn.rsplit(':endpoint/', 1)[0]}:endpoint-config/{config_name.lower()}"


def pending_deployment(summary: dict | None) -> dict[str, Any] | None:
    """PendingDeploymentSummary in status form, with each variant's latest state."""
    if not summary:
        return None
    pending = PendingDeploymentStatus.model_validate(from_wire(PendingDeploymentStatus, summary))
    for variants, key in ((pending.productionVariants, "ProductionVariants"),
                          (pending.shadowProductionVariants, "ShadowProductionVariants")):
        for variant, wire in zip(variants or [], summary.get(key) or [], strict=True):
            variant.variantStatus = ((wire.get("VariantStatus") or [{}])[-1]).get("Status")
    return dump_status(pending)


def observed_status(endpoint: dict | None, region: str) -> dict[str, Any]:
    """What DescribeEndpoint says, in status form."""
    if endpoint is None:
        return {"endpointStatus": None, "productionVariants": None, "shadowProductionVariants": None,
                "variantSummary": None, "pendingDeployment": None, "endpointConfigArns": None}
    status = EndpointStatus.model_validate(from_wire(EndpointStatus, {
        key: value for key, value in endpoint.items() if key not in ("ProductionVariants", "ShadowProductionVariants")
    }))
    status.productionVariants = variant_statuses(endpoint.get("ProductionVariants")) or None
    status.shadowProductionVariants = variant_statuses(endpoint.get("ShadowProductionVariants")) or None
    status.variantSummary = variant_summary(status.productionVariants or []) or None
    status.invocationUrl = invocation_url(region, endpoint["EndpointName"])
    status.consoleUrl = console_url(region, f"endpoints/{endpoint['EndpointName']}")
    pending = endpoint.get("PendingDeploymentSummary")
    used = [endpoint["EndpointConfigName"]]
    if pending and pending.get("EndpointConfigName") not in used:
        used.append(pending["EndpointConfigName"])
    # The config in use is recorded by the planner once an update settles, not copied blindly.
    return {
        "failureReason": None, "productionVariants": None, "shadowProductionVariants": None,
        **{key: value for key, value in dump_status(status).items() if key != "endpointConfigName"},
        "pendingDeployment": pending_deployment(pending),
        "endpointConfigArns": [config_arn(endpoint["EndpointArn"], name) for name in used],
    }


# Autoscaling --------------------------------------------------------------------------------------


def autoscaled_variants(spec: EndpointSpec) -> dict[str, TargetTracking]:
    return {variant.variantName: variant.autoScaling for variant in all_variants(spec) if variant.autoScaling}


def variants_blocking_update(desired_request: dict, config_in_use: dict | None, registered: set[str]) -> list[str]:
    """Registered variants SageMaker will not update while they are scalable targets: removed ones,
    and those whose instance type (or serverless-ness) changes."""
    if not registered:
        return []
    before = {v["VariantName"]: v for v in (config_in_use or {}).get("ProductionVariants", [])}
    after = {v["VariantName"]: v for v in desired_request.get("ProductionVariants", [])}
    blocking = []
    for name in sorted(registered):
        old, new = before.get(name), after.get(name)
        if (new is None or old is None or old.get("InstanceType") != new.get("InstanceType")
                or "ServerlessConfig" in new):
            blocking.append(name)
    return blocking


def plan_variant_autoscaling(desired: Desired, observed: Observed, status: dict) -> Plan | None:
    """Registers, updates or deregisters one variant's scaling, or None when all are as the spec says."""
    return plan_autoscaling(variant_scaling(desired.endpoint_name), autoscaled_variants(desired.spec),
                            observed.targets, observed.policies, status)


# Weights and capacities ---------------------------------------------------------------------------


def in_place_differences(spec: EndpointSpec, endpoint: dict) -> list[str]:
    """Production variants whose weight, count (unless autoscaled) or serverless concurrency differ
    from what SageMaker is moving to."""
    observed = {summary["VariantName"]: summary for summary in endpoint.get("ProductionVariants") or []}
    differing = []
    for variant in spec.productionVariants:
        summary = observed.get(variant.variantName)
        if summary is None:
            continue  # not deployed yet: the config update brings it
        weight = variant.initialVariantWeight if variant.initialVariantWeight is not None else 1.0
        if float(summary.get("DesiredWeight", weight)) != float(weight):
            differing.append(variant.variantName)
        elif not count_is_scalers(variant) and variant.initialInstanceCount is not None and (
            summary.get("DesiredInstanceCount") != variant.initialInstanceCount
        ):
            differing.append(variant.variantName)
        elif variant.serverlessConfig:
            serverless = summary.get("DesiredServerlessConfig") or summary.get("CurrentServerlessConfig") or {}
            wanted = variant.serverlessConfig
            if serverless.get("MaxConcurrency") != wanted.maxConcurrency or (
                serverless.get("ProvisionedConcurrency") != wanted.provisionedConcurrency
            ):
                differing.append(variant.variantName)
    return differing


# The planner --------------------------------------------------------------------------------------


def plan_endpoint(desired: Desired, observed: Observed, status: dict, generation: int, region: str,
                  config: dict[str, Any] | None = None) -> Plan:
    """The next step toward the spec, with the status to report, and what the tracker follows.
    `config`: desired_config's answer, when the caller has it already."""
    config = config or desired_config(desired, observed.endpoint)
    plan = next_step(desired, observed, status, generation, region, config)
    plan.follow = observed.endpoint or {"EndpointName": desired.endpoint_name}
    if plan.action == "delete_endpoint_config":
        plan.wake = [("Model", ref) for ref in sorted(desired.model_names)]  # old revisions may now be unused
    elif plan.action in ("create_endpoint_config", "create_endpoint"):
        plan.creates = ENDPOINT_CONFIG if plan.action == "create_endpoint_config" else ENDPOINT
    if plan.action == "create_endpoint":
        plan.record = {"endpointArn": "EndpointArn"}
    return plan


def next_step(desired: Desired, observed: Observed, status: dict, generation: int, region: str,
              config: dict[str, Any]) -> Plan:
    endpoint = observed.endpoint
    config_name = config["EndpointConfigName"]
    name = desired.endpoint_name
    current = {**status, **observed_status(endpoint, region), "endpointName": name}
    if endpoint is not None:
        current["createPending"] = None

    def step(health: Health, updates: dict | None = None, **kwargs: Any) -> Plan:
        status_after = {**current, **kwargs.get("before", {}), **(updates or {})}
        return Plan(health=health, status=status_after, track=endpoint is not None, **kwargs)

    pending = status.get("pendingEndpointConfigName")
    failed = list(status.get("failedEndpointConfigNames") or [])

    if endpoint is None:
        return plan_create(desired, config, observed, status, step)

    state = endpoint["EndpointStatus"]
    reason = endpoint.get("FailureReason") or ""
    if state in IN_PROGRESS:
        message = f"endpoint {state}"
        if pending and pending != endpoint.get("EndpointConfigName"):
            message += f", moving to endpoint config {pending}"
        # A deleted endpoint leaves ListEndpoints, so the tracker will not say when it is gone.
        return step(Health.reconciling(state, message), look_again="poll" if state == "Deleting" else None)
    if state == "Failed":
        if status.get("failedGeneration") not in (None, generation):
            # The spec changed since the failure was reported: SageMaker cannot update a Failed
            # endpoint, so it is deleted and created again.
            return step(
                Health.reconciling("Recreating", f"deleting failed endpoint {name} to create it again"),
                {"failedGeneration": None, "endpointArn": None},
                action="delete_endpoint", request={"EndpointName": name},
                events=[Event("Normal", "Recreating",
                              f"deleting failed endpoint {name} to create it from the new spec")],
            )
        return step(
            Health.stalled("EndpointFailed", f"endpoint failed: {reason}; change the spec to delete and re-create it"),
            {"failedGeneration": generation},
            events=[Event("Warning", "EndpointFailed", reason or "endpoint failed")],
        )
    if state != "InService":
        return step(
            Health.stalled(state, f"endpoint is {state}: {reason}"), {"failedGeneration": generation},
            events=[Event("Warning", state, reason or state)],
        )

    in_use = endpoint["EndpointConfigName"]
    if in_use != config_name and config_matches(observed.config_in_use, config):
        config_name = in_use  # e.g. an adopted endpoint's own config, adopted with it
    # An update settled: the endpoint runs the pending config; the one it replaced goes.
    if pending == in_use:
        replaced = status.get("endpointConfigName")
        current.update(endpointConfigName=in_use, pendingEndpointConfigName=None)
        if replaced and replaced != in_use:
            return step(
                Health.reconciling("DeletingOldConfig", f"deleting endpoint config {replaced}, replaced by {in_use}"),
                action="delete_endpoint_config", request={"EndpointConfigName": replaced}, requeue_after=0,
                events=[Event("Normal", "Updated", f"endpoint now serves endpoint config {in_use}")],
            )
    elif status.get("endpointConfigName") is None:
        current["endpointConfigName"] = in_use  # created before its status was written, or adopted
    else:
        current["endpointConfigName"] = status["endpointConfigName"]

    if pending and pending != in_use:
        updated = status.get("endpointStatus") in UPDATING and reason
        if updated:
            # Our update ended with the endpoint back on its old config.
            current.update(pendingEndpointConfigName=None, failedEndpointConfigNames=failed + [pending])
            message = (f"update to endpoint config {pending} failed and was rolled back: {reason}; "
                       f"the endpoint keeps serving {in_use}")
            if pending == config_name:
                return step(Health.stalled("UpdateFailed", message + "; change the spec to try again"),
                            {"failedGeneration": generation}, events=[Event("Warning", "UpdateFailed", message)])
            return step(Health.reconciling("UpdateFailed", message), requeue_after=0,
                        events=[Event("Warning", "UpdateFailed", message)])
        if pending != config_name:
            # Made for a spec that changed before the update started: not needed any more.
            return step(
                Health.reconciling("DeletingOldConfig", f"deleting endpoint config {pending}, superseded before use"),
                {"pendingEndpointConfigName": None},
                action="delete_endpoint_config", request={"EndpointConfigName": pending}, requeue_after=0,
            )

    if in_use != config_name:
        if status.get("failedGeneration") == generation:
            return step(Health.stalled("UpdateFailed", f"the update of generation {generation} failed; "
                                                       "change the spec to try again"))
        ours = set(status.get("autoScaledVariants") or ()) | set(autoscaled_variants(desired.spec))
        for variant in variants_blocking_update(config, observed.config_in_use, set(observed.targets) & ours):
            return deregistration_step(variant_scaling(name), variant, observed.policies, status)
        if pending != config_name or observed.pending_config is None:
            return step(
                Health.reconciling("CreatingEndpointConfig", f"creating endpoint config {config_name}"),
                {"failedEndpointConfigNames": [n for n in failed if n != config_name] or None},
                action="create_endpoint_config", request=config, requeue_after=0,
                before={"pendingEndpointConfigName": config_name},
                events=[Event("Normal", "CreatingEndpointConfig",
                              f"creating endpoint config {config_name} for the new spec")],
            )
        return step(
            Health.reconciling("Updating", f"updating endpoint to endpoint config {config_name}"),
            {"failedGeneration": None, "pendingEndpointConfigName": config_name},
            action="update_endpoint", request=build_update_endpoint_request(desired.spec, name, config_name),
            requeue_after=0,
            events=[Event("Normal", "Updating",
                          f"UpdateEndpoint from {in_use} to {config_name}" + deployment_note(desired.spec))],
        )

    # The endpoint runs the desired config.
    if failed and status.get("failedGeneration") != generation:
        doomed = failed[0]
        return step(
            Health.reconciling("DeletingOldConfig", f"deleting endpoint config {doomed} of a failed update"),
            {"failedEndpointConfigNames": failed[1:] or None},
            action="delete_endpoint_config", request={"EndpointConfigName": doomed}, requeue_after=0,
        )
    scaling = plan_variant_autoscaling(desired, observed, status)
    if scaling is not None:
        scaling.status = {**current, **scaling.status}
        scaling.track = True
        return scaling
    differing = in_place_differences(desired.spec, endpoint)
    if differing:
        if status.get("endpointStatus") in UPDATING and reason:
            message = f"updating weights and capacities of {', '.join(differing)} failed: {reason}"
            return step(Health.stalled("UpdateFailed", message + "; change the spec to try again"),
                        {"failedGeneration": generation}, events=[Event("Warning", "UpdateFailed", message)])
        counts = scaler_counts(desired.spec, endpoint)
        return step(
            Health.reconciling("UpdatingWeights", f"updating weights and capacities of {', '.join(differing)}"),
            {"failedGeneration": None},
            action="update_endpoint_weights_and_capacities",
            request=build_update_weights_and_capacities_request(desired.spec, name, counts),
            requeue_after=0,
            events=[Event("Normal", "UpdatingWeights", "UpdateEndpointWeightsAndCapacities: " + ", ".join(differing))],
        )
    return step(Health.ready("InService", f"endpoint in service with endpoint config {in_use}"),
                {"failedGeneration": None})


def deployment_note(spec: EndpointSpec) -> str:
    deployment = spec.deploymentConfig
    if deployment is None:
        return ""
    if deployment.blueGreenUpdatePolicy:
        routing = deployment.blueGreenUpdatePolicy.trafficRoutingConfiguration
        return f" (blue/green {routing.type})"
    return " (rolling)" if deployment.rollingUpdatePolicy else ""


def plan_create(desired: Desired, config: dict, observed: Observed, status: dict, step) -> Plan:
    """No endpoint: clear out configs of an earlier life, create the config, then the endpoint."""
    config_name = config["EndpointConfigName"]
    pending = status.get("pendingEndpointConfigName")
    failed = status.get("failedEndpointConfigNames") or []
    leftovers = [n for n in [status.get("endpointConfigName"), pending, *failed] if n and n != config_name]
    if leftovers:
        doomed = leftovers[0]
        return step(
            Health.reconciling("DeletingOldConfig", f"deleting endpoint config {doomed}, not used by the new endpoint"),
            {
                "endpointConfigName": (None if status.get("endpointConfigName") == doomed
                                       else status.get("endpointConfigName")),
                "pendingEndpointConfigName": None if pending == doomed else pending,
                "failedEndpointConfigNames": [n for n in failed if n != doomed] or None,
            },
            action="delete_endpoint_config", request={"EndpointConfigName": doomed}, requeue_after=0,
        )
    if pending != config_name or observed.pending_config is None:
        return step(
            Health.reconciling("CreatingEndpointConfig", f"creating endpoint config {config_name}"),
            {"endpointConfigName": None, "failedEndpointConfigNames": None},
            action="create_endpoint_config", request=config, requeue_after=0,
            before={"pendingEndpointConfigName": config_name},
        )
    name = desired.endpoint_name
    return step(
        Health.reconciling("Creating", f"creating endpoint {name}"),
        action="create_endpoint",
        request=build_create_endpoint_request(desired.spec, name, config_name, desired.tags),
        before=create_pending(name, endpointName=name),
        events=[Event("Normal", "Creating", f"creating SageMaker endpoint {name} with endpoint config {config_name}")],
        requeue_after=0,
    )
