"""Controllers run against boto3 clients wrapped in botocore's Stubber: every request they send is
validated against SageMaker's real service model, and every canned answer against its output shape."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from kubemaker.config import OperatorConfig
from kubemaker.controller import ObjectContext
from kubemaker.workqueue import WorkQueue


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

    async def patch_status(self, plural: str, namespace: str, name: str, status: dict) -> None:
        self.status_patches.append(status)


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
        "metadata": {"name": "job", "namespace": "team", "uid": "0000-1111", "generation": 1},
        "spec": spec,
        "status": status or {},
    }
    return ObjectContext(runtime, kind, plural, body, logging.getLogger("test"))
