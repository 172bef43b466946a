"""Operator configuration: a YAML file (the Helm chart renders it), overridden by env and flags.

Per-namespace rules live here, not in the objects, so a namespace cannot grant itself an IAM role:
which execution roles it may pass, which AWS role the operator assumes for it, whether it may adopt.
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator


class NamespacePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    allowed_role_arns: list[str] = Field(
        default_factory=lambda: ["*"], alias="allowedRoleArns",
        description="Glob patterns of the execution roles objects in the namespace may pass as roleArn.",
    )
    assume_role_arn: str | None = Field(
        default=None, alias="assumeRoleArn",
        description="AWS role the operator assumes (STS) for this namespace, e.g. a team's own account.",
    )
    allow_adoption: bool = Field(
        default=False, alias="allowAdoption",
        description="Whether objects may adopt existing SageMaker objects with adoptExisting: true.",
    )
    allowed_sagemaker_references: list[str] = Field(
        default_factory=list, alias="allowedSageMakerReferences",
        description="Glob patterns of the ARNs of SageMaker objects that objects in the namespace may use by "
        "name (modelName, pipelineName, ...) although another namespace, or nobody, owns them. Objects "
        "tagged as the namespace's own are always allowed.",
    )

    def allows_role(self, role_arn: str) -> bool:
        return any(fnmatch.fnmatchcase(role_arn, pattern) for pattern in self.allowed_role_arns)

    def allows_reference(self, arn: str) -> bool:
        # SageMaker lowercases names in most ARNs: a pattern written with the name as given must match.
        return any(fnmatch.fnmatchcase(arn.lower(), pattern.lower()) for pattern in self.allowed_sagemaker_references)


class LeaderElectionConfig(BaseModel):
    """Replicas elect a leader through a Lease; only the leader reconciles (see leaderelection.py)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    enabled: bool = Field(
        default=True, description="Off only where a single operator runs for sure: it then leads at once.",
    )
    lease_name: str = Field(default="kubemaker", min_length=1, alias="leaseName")
    lease_namespace: str | None = Field(
        default=None, alias="leaseNamespace",
        description="Default: the pod's namespace; outside a cluster the kubeconfig context's, else default.",
    )
    lease_duration_seconds: int = Field(
        default=15, gt=0, alias="leaseDurationSeconds",
        description="How long standbys wait, after the Lease last changed, before taking it over.",
    )
    renew_deadline_seconds: float = Field(
        default=10, gt=0, alias="renewDeadlineSeconds",
        description="A leader that has not renewed for this long stops reconciling and exits.",
    )
    retry_period_seconds: float = Field(
        default=2, gt=0, alias="retryPeriodSeconds", description="How often the Lease is renewed, or tried.",
    )

    @model_validator(mode="after")
    def leader_stops_before_others_start(self) -> "LeaderElectionConfig":
        # client-go's checks: the leader must give up before the lease can expire for the others, and
        # must get more than one retry (with jitter) within its deadline.
        if self.renew_deadline_seconds >= self.lease_duration_seconds:
            raise ValueError("renewDeadlineSeconds must be less than leaseDurationSeconds")
        if self.retry_period_seconds * 1.2 >= self.renew_deadline_seconds:
            raise ValueError("renewDeadlineSeconds must be more than 1.2 x retryPeriodSeconds")
        return self


class OperatorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    region: str = Field(default="us-east-1", description="Region for objects that do not set spec.region.")
    endpoint_url: str | None = Field(
        default=None, alias="endpointUrl", description="AWS endpoint override (the emulator in tests)."
    )
    namespaces: list[str] = Field(
        default_factory=list, description="Namespaces to watch; empty means all (cluster-wide). Glob patterns "
        "(team-*) also need the right to list and watch namespaces."
    )
    poll_interval_seconds: float = Field(default=5.0, gt=0, alias="pollIntervalSeconds")
    resync_interval_seconds: float = Field(
        default=600.0, gt=0, alias="resyncIntervalSeconds",
        description="How often every tracked SageMaker object is listed again, whatever changed.",
    )
    quota_recheck_interval_seconds: float = Field(
        default=300.0, gt=0, alias="quotaRecheckIntervalSeconds",
        description="How often an object Stalled on an account quota (ResourceLimitExceeded) tries again.",
    )
    max_concurrent_reconciles: int = Field(
        default=64, gt=0, alias="maxConcurrentReconciles",
        description="Reconciliation passes at once; more objects wait their turn (bounds memory in bursts).",
    )
    log_format: Literal["text", "json"] = Field(default="text", alias="logFormat")
    bind_address: str = Field(
        default="0.0.0.0", min_length=1, alias="bindAddress",
        description="Address the liveness and metrics servers listen on: with host networking, the pod's IP.",
    )
    liveness_port: int | None = Field(default=8080, alias="livenessPort")
    metrics_port: int | None = Field(default=9090, alias="metricsPort")
    leader_election: LeaderElectionConfig = Field(default_factory=LeaderElectionConfig, alias="leaderElection")
    strict_status: bool = Field(
        default=False, alias="strictStatus",
        description="Refuse to write status fields the CRD does not declare (the API server would prune "
        "them); a check for development and tests.",
    )
    default_namespace_policy: NamespacePolicy = Field(default_factory=NamespacePolicy, alias="defaultNamespacePolicy")
    namespace_policies: dict[str, NamespacePolicy] = Field(default_factory=dict, alias="namespacePolicies")

    def policy_for(self, namespace: str) -> NamespacePolicy:
        return self.namespace_policies.get(namespace, self.default_namespace_policy)


ENV_OVERRIDES = {
    "KUBEMAKER_REGION": "region",
    "AWS_ENDPOINT_URL": "endpointUrl",
    "KUBEMAKER_POLL_INTERVAL_SECONDS": "pollIntervalSeconds",
    "KUBEMAKER_LOG_FORMAT": "logFormat",
    "KUBEMAKER_BIND_ADDRESS": "bindAddress",
}


def load_config(path: str | os.PathLike | None = None, overrides: dict | None = None) -> OperatorConfig:
    """File first, then environment variables, then explicit overrides (command-line flags)."""
    raw: dict = {}
    path = path or os.environ.get("KUBEMAKER_CONFIG")
    if path:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    for variable, key in ENV_OVERRIDES.items():
        if os.environ.get(variable):
            raw[key] = os.environ[variable]
    for key, value in (overrides or {}).items():
        if isinstance(value, dict):  # a section: flags override its keys, not the whole section
            value = {**(raw.get(key) or {}), **{k: v for k, v in value.items() if v is not None}}
        if value is not None:
            raw[key] = value
    return OperatorConfig.model_validate(raw)
