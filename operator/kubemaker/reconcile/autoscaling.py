"""Application Auto Scaling planning, shared by every kind that scales (endpoint variants'
instance counts, inference components' copy counts): one call per pass, registering, updating or
deregistering one target's scaling, with the status list of what is registered kept up to date."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..api.autoscaling import ScalableKind, TargetTracking
from ..conditions import Health
from ..runtime.outcomes import Event, Plan
from .model import covers

AUTOSCALING = "application-autoscaling"


def scaling_step(reason: str, message: str, action: str, request: dict, **kwargs: Any) -> Plan:
    """One Application Auto Scaling call; the pass after it goes on at once."""
    return Plan(health=Health.reconciling(reason, message), service=AUTOSCALING, action=action, request=request,
                requeue_after=0, **kwargs)


def deregistration_step(kind: ScalableKind, key: str, policies: Mapping[str, dict], status: dict) -> Plan:
    """Removing one resource's scaling: our policy first (Application Auto Scaling does not always
    take it with the target), then the target."""
    if key in policies:
        return scaling_step(
            "DeregisteringAutoScaling", f"removing the scaling policy of {kind.noun} {key}",
            "delete_scaling_policy", {**kind.target(key), "PolicyName": kind.policy_name(key)},
        )
    return scaling_step(
        "DeregisteringAutoScaling", f"deregistering {kind.noun} {key} from autoscaling",
        "deregister_scalable_target", kind.target(key),
        status={kind.status_field: sorted(set(status.get(kind.status_field) or ()) - {key}) or None},
        events=[Event("Normal", "AutoScalingRemoved", f"{kind.noun} {key} deregistered from Application Auto Scaling")],
    )


def plan_autoscaling(kind: ScalableKind, wanted: Mapping[str, TargetTracking], targets: Mapping[str, dict],
                     policies: Mapping[str, dict], status: dict) -> Plan | None:
    """Registers, updates or deregisters one resource's scaling, or None when all are as the spec
    says. `wanted`: key -> its autoScaling; `targets`, `policies`: what Application Auto Scaling
    holds, by key."""
    ours = set(status.get(kind.status_field) or ()) | set(wanted)
    for dropped in sorted(set(targets) & ours - set(wanted)):
        return deregistration_step(kind, dropped, policies, status)
    for key, scaling in sorted(wanted.items()):
        target_request = kind.register_request(key, scaling)
        target = targets.get(key)
        if target is None or not covers(target, target_request):
            return scaling_step(
                "RegisteringAutoScaling", f"registering {kind.noun} {key} with autoscaling",
                "register_scalable_target", target_request,
                status={kind.status_field: sorted(set(status.get(kind.status_field) or ()) | {key})},
                events=[Event("Normal", "AutoScalingRegistered",
                              f"{kind.noun} {key} scales between {target_request['MinCapacity']} and "
                              f"{target_request['MaxCapacity']} {kind.unit}")],
            )
        policy_request = kind.policy_request(key, scaling)
        policy = policies.get(key)
        if policy is None or not covers(policy, policy_request):
            return scaling_step(
                "PuttingScalingPolicy", f"setting the scaling policy of {kind.noun} {key}",
                "put_scaling_policy", policy_request,
                events=[Event("Normal", "ScalingPolicySet", f"target tracking policy set on {kind.noun} {key}")],
            )
    return None
