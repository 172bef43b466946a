"""Observing and removing Application Auto Scaling targets, for every kind that scales (the
planning is reconcile.autoscaling's): one DescribeScalableTargets for all of an object's
resources, then our policy on each registered one."""

from __future__ import annotations

from collections.abc import Iterable

from ..api.autoscaling import SERVICE_NAMESPACE, ScalableKind
from ..aws.clients import call
from ..reconcile.autoscaling import AUTOSCALING
from ..runtime.context import ObjectContext
from ..runtime.outcomes import Call


async def observe_scaling(ctx: ObjectContext, kind: ScalableKind, keys: Iterable[str]) -> tuple[dict, dict]:
    """The registered scalable targets of the resources `keys` name, and our policy on each, by key."""
    autoscaling = ctx.client(AUTOSCALING)
    by_resource = {kind.resource_id(key): key for key in keys}
    answer = await call(
        autoscaling, "describe_scalable_targets", ServiceNamespace=SERVICE_NAMESPACE,
        ResourceIds=sorted(by_resource), ScalableDimension=kind.dimension,
    )
    targets = {by_resource[t["ResourceId"]]: t for t in answer.get("ScalableTargets", [])
               if t["ResourceId"] in by_resource}
    policies = {}
    for key in targets:
        found = await call(autoscaling, "describe_scaling_policies", ServiceNamespace=SERVICE_NAMESPACE,
                           ResourceId=kind.resource_id(key), ScalableDimension=kind.dimension,
                           PolicyNames=[kind.policy_name(key)])
        if found.get("ScalingPolicies"):
            policies[key] = found["ScalingPolicies"][0]
    return targets, policies


def scaling_removal(kind: ScalableKind, keys: Iterable[str]) -> list[Call]:
    """Our policies and scalable targets of `keys`, before the resource goes (one already gone is done)."""
    calls = []
    for key in sorted(set(keys)):
        calls += [Call("delete_scaling_policy", {**kind.target(key), "PolicyName": kind.policy_name(key)}, AUTOSCALING),
                  Call("deregister_scalable_target", kind.target(key), AUTOSCALING)]
    return calls
