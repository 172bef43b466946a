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
from pydantic import BaseModel, ConfigDict, Field


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

    def allows_role(self, role_arn: str) -> bool:
        return any(fnmatch.fnmatchcase(role_arn, pattern) for pattern in self.allowed_role_arns)


class OperatorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    region: str = Field(default="us-east-1", description="Region for objects that do not set spec.region.")
    endpoint_url: str | None = Field(
        default=None, alias="endpointUrl", description="AWS endpoint override (the emulator in tests)."
    )
    namespaces: list[str] = Field(
        default_factory=list, description="Namespaces to watch; empty means all (cluster-wide)."
    )
    poll_interval_seconds: float = Field(default=5.0, gt=0, alias="pollIntervalSeconds")
    resync_interval_seconds: float = Field(
        default=600.0, gt=0, alias="resyncIntervalSeconds",
        description="How often every tracked SageMaker object is listed again, whatever changed.",
    )
    max_concurrent_reconciles: int = Field(
        default=64, gt=0, alias="maxConcurrentReconciles",
        description="Reconciliation passes at once; more objects wait their turn (bounds memory in bursts).",
    )
    log_format: Literal["text", "json"] = Field(default="text", alias="logFormat")
    liveness_port: int | None = Field(default=8080, alias="livenessPort")
    metrics_port: int | None = Field(default=9090, alias="metricsPort")
    peering: str | None = Field(
        default=None, description="kopf peering object name, for more than one replica (standby)."
    )
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
    raw.update({key: value for key, value in (overrides or {}).items() if value is not None})
    return OperatorConfig.model_validate(raw)
