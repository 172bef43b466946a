"""Controllers run against boto3 clients wrapped in botocore's Stubber: every request they send is
validated against SageMaker's real service model, and every canned answer against its output shape."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from kubemaker import FINALIZER
from kubemaker.config import OperatorConfig
from kubemaker.runtime.context import ObjectContext
from kubemaker.runtime.outcomes import Cleanup
from kubemaker.runtime.reconciler import ObjectState, Reconciler, delete
from kubemaker.runtime.workqueue import WorkQueue


@dataclass
class StubbedAws:
    clients: dict[str, Any] = field(default_factory=dict)
    stubbers: dict[str, Stubber] = field(default_factory=dict)

    def client(self, service: str, namespace: str, region: str | None) -> Any:
        return self.clients[service]

    def role_for(self, namespace: str) -> str | None:
        return None


@dataclass
class StubbedRuntime:
    config: OperatorConfig
    aws: StubbedAws
    work_queue: WorkQueue = field(default_factory=WorkQueue)
    status_patches: list[dict] = field(default_factory=list)
    object_patches: list[list[dict]] = field(default_factory=list)
    config_maps: dict[tuple[str, str], dict] = field(default_factory=dict)  # by (namespace, name)
    # The objects the watch has shown, as the reconciler's: (kind, namespace, name) -> body with status.
    objects: Callable[[tuple[str, str, str]], dict | None] = lambda key: None
    namespace_objects: Callable[[str, str], list[dict]] = lambda kind, namespace: []

    async def patch_status(self, plural: str, namespace: str, name: str, status: dict) -> None:
        self.status_patches.append(status)

    async def patch_object(self, plural: str, namespace: str, name: str, json_patch: list[dict]) -> None:
        self.object_patches.append(json_patch)

    async def read_config_map(self, namespace: str, name: str) -> dict | None:
        return self.config_maps.get((namespace, name))


def serve(runtime, objects: dict[tuple[str, str], dict]) -> None:
    """Objects of namespace `team` the watch has shown, by (kind, name), to runtime.objects and
    runtime.namespace_objects."""
    runtime.objects = lambda key: objects.get((key[0], key[2])) if key[1] == "team" else None
    runtime.namespace_objects = lambda kind, namespace: [
        {**body, "metadata": {**body.get("metadata", {}), "name": name, "namespace": namespace}}
        for (found, name), body in objects.items() if found == kind and namespace == "team"]


@pytest.fixture
def stubbed(monkeypatch):
    aws = StubbedAws()
    for service in ("sagemaker", "logs", "application-autoscaling"):
        client = boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        aws.clients[service] = client
        aws.stubbers[service] = Stubber(client)
        aws.stubbers[service].activate()
    runtime = StubbedRuntime(OperatorConfig.model_validate(
        {"defaultNamespacePolicy": {"allowedRoleArns": ["arn:aws:iam::123456789012:role/SageMaker*"]}}), aws)
    events: list[tuple[str, str, str]] = []
    monkeypatch.setattr(ObjectContext, "event", lambda self, e: events.append((e.type, e.reason, e.message)))
    runtime.events = events
    yield runtime
    for stubber in aws.stubbers.values():
        stubber.assert_no_pending_responses()


def make_context(runtime, kind: str, plural: str, spec: dict, status: dict | None = None) -> ObjectContext:
    body = {
        "apiVersion": "sagemaker.kubemaker.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": "job", "namespace": "team", "uid": "0000-1111", "generation": 1, "resourceVersion": "1"},
        "spec": spec,
        "status": status or {},
    }
    return ObjectContext(runtime, kind, plural, body, logging.getLogger("test"))


async def clean_up(controller, ctx: ObjectContext) -> Cleanup:
    """The deletion path of the core without its retention check: the kind's cleanup plan, then its
    calls (a target already gone counts as done)."""
    cleanup = await controller.cleanup(ctx)
    for step in cleanup.calls:
        await delete(ctx, step)
    return cleanup


async def finalize(runtime, controller, ctx: ObjectContext) -> float | None:
    """The core's whole deletion path (retention policy, cleanup, tracker, finalizer removal), as a
    Reconciler with the stubbed runtime runs it for an object being deleted that carries our finalizer."""
    ctx.body["metadata"].setdefault("deletionTimestamp", "2026-11-01T00:00:00Z")
    ctx.body["metadata"]["finalizers"] = [FINALIZER]
    served = runtime.objects, runtime.namespace_objects
    reconciler = Reconciler(runtime)  # takes over runtime.objects: give the test's back
    runtime.objects, runtime.namespace_objects = served
    state = ObjectState(controller, ctx.body, ctx.status)
    reconciler.objects[ctx.key] = state
    return await reconciler._finalize(ctx.key, state, ctx)
