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
    def leader_stops_before_others_start(self) -> LeaderElectionConfig:
        # client-go's checks: the leader must give up before the lease can expire for the others, and
        # must get more than one retry (with jitter) within its deadline.
        if self.renew_deadline_seconds >= self.lease_duration_seconds:
            raise ValueError("renewDeadlineSeconds must be less than leaseDurationSeconds")
        if self.retry_period_seconds * 1.2 >= self.renew_deadline_seconds:
            raise ValueError("renewDeadlineSeconds must be more than 1.2 x retryPeriodSeconds")
        return self


class InstanceResources(BaseModel):
    """What one instance of an ml.* type is on the cluster: a pod's CPU, memory and GPUs."""

    model_config = ConfigDict(extra="forbid")

    cpu: str = Field(description="Kubernetes CPU quantity the pod requests, e.g. 4 or 3500m.")
    memory: str = Field(description="Kubernetes memory quantity the pod requests and is limited to, e.g. 16Gi.")
    gpu: int = Field(default=0, ge=0, description="nvidia.com/gpu the pod requests.")


def _instance(cpu: int, memory_gib: int, gpu: int = 0) -> InstanceResources:
    return InstanceResources(cpu=str(cpu), memory=f"{memory_gib}Gi", gpu=gpu)


# SageMaker's own figures for the common training instance types (vCPUs, GiB, GPUs). A cluster whose
# nodes are smaller, or shared, maps them to less in clusterPlacement.instanceTypes.
DEFAULT_INSTANCE_TYPES: dict[str, InstanceResources] = {
    "ml.t3.medium": _instance(2, 4), "ml.t3.large": _instance(2, 8), "ml.t3.xlarge": _instance(4, 16),
    "ml.t3.2xlarge": _instance(8, 32),
    "ml.m5.large": _instance(2, 8), "ml.m5.xlarge": _instance(4, 16), "ml.m5.2xlarge": _instance(8, 32),
    "ml.m5.4xlarge": _instance(16, 64), "ml.m5.12xlarge": _instance(48, 192), "ml.m5.24xlarge": _instance(96, 384),
    "ml.m4.xlarge": _instance(4, 16), "ml.m4.2xlarge": _instance(8, 32), "ml.m4.4xlarge": _instance(16, 64),
    "ml.m6i.large": _instance(2, 8), "ml.m6i.xlarge": _instance(4, 16), "ml.m6i.2xlarge": _instance(8, 32),
    "ml.m6i.4xlarge": _instance(16, 64), "ml.m6i.8xlarge": _instance(32, 128),
    "ml.c5.xlarge": _instance(4, 8), "ml.c5.2xlarge": _instance(8, 16), "ml.c5.4xlarge": _instance(16, 32),
    "ml.c5.9xlarge": _instance(36, 72), "ml.c5.18xlarge": _instance(72, 144),
    "ml.r5.large": _instance(2, 16), "ml.r5.xlarge": _instance(4, 32), "ml.r5.2xlarge": _instance(8, 64),
    "ml.r5.4xlarge": _instance(16, 128),
    "ml.g4dn.xlarge": _instance(4, 16, 1), "ml.g4dn.2xlarge": _instance(8, 32, 1),
    "ml.g4dn.4xlarge": _instance(16, 64, 1), "ml.g4dn.12xlarge": _instance(48, 192, 4),
    "ml.g5.xlarge": _instance(4, 16, 1), "ml.g5.2xlarge": _instance(8, 32, 1), "ml.g5.4xlarge": _instance(16, 64, 1),
    "ml.g5.12xlarge": _instance(48, 192, 4), "ml.g5.48xlarge": _instance(192, 768, 8),
    "ml.g6.xlarge": _instance(4, 16, 1), "ml.g6.12xlarge": _instance(48, 192, 4),
    "ml.p3.2xlarge": _instance(8, 61, 1), "ml.p3.8xlarge": _instance(32, 244, 4),
    "ml.p3.16xlarge": _instance(64, 488, 8), "ml.p4d.24xlarge": _instance(96, 1152, 8),
    "ml.p5.48xlarge": _instance(192, 2048, 8),
}


CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


class ClusterPlacementConfig(BaseModel):
    """TrainingJobs with `placement: Cluster`: what their pods run and may use (docs/training.md)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    enabled: bool = Field(
        default=False, description="Off: a TrainingJob with placement: Cluster is Stalled, and the operator "
        "needs no rights on Jobs, Services or pods (the chart grants them only when this is on).",
    )
    image: str | None = Field(
        default=None, description="The operator's own image: it stages the channels and uploads the model "
        "in each training pod. The chart sets it to the image it runs.",
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        default="IfNotPresent", alias="imagePullPolicy")
    instance_types: dict[str, InstanceResources] = Field(
        default_factory=dict, alias="instanceTypes",
        description="ml.* type -> pod resources; merged over the defaults (DEFAULT_INSTANCE_TYPES).",
    )
    host_network: bool = Field(
        default=False, alias="hostNetwork",
        description="Training pods in their nodes' network namespace, where pods have no network of their own.",
    )
    dns_config: dict | None = Field(
        default=None, alias="dnsConfig",
        description="A pod dnsConfig for the training pods (with dnsPolicy None), where the cluster's DNS is "
        "not the pods' default; multi-instance jobs resolve their peers through it.",
    )
    cluster_domain: str = Field(default="cluster.local", min_length=1, alias="clusterDomain")
    network_interface_name: str = Field(
        default="eth0", min_length=1, alias="networkInterfaceName",
        description="resourceconfig.json's network_interface_name: the pods' interface on the pod network.",
    )
    env: list[dict] = Field(
        default_factory=list,
        description="Environment of the staging and upload containers (Kubernetes EnvVar entries): an S3 "
        "endpoint, a region, or credentials from a Secret of the job's namespace where no IRSA or Pod "
        "Identity is available. Never the operator's own credentials.",
    )
    peer_timeout_seconds: int = Field(
        default=600, gt=0, alias="peerTimeoutSeconds",
        description="How long a multi-instance job's pods wait for each other's names to resolve.",
    )

    @model_validator(mode="after")
    def no_credentials_in_the_configuration(self) -> ClusterPlacementConfig:
        # Credentials written here would be the same for every namespace's pods, in a ConfigMap: only
        # references to a Secret of the job's namespace are taken.
        for variable in self.env:
            if variable.get("name") in CREDENTIAL_VARIABLES and "value" in variable:
                raise ValueError(f"clusterPlacement.env: {variable['name']} must come from a Secret (valueFrom."
                                 "secretKeyRef), not a value in the operator's configuration")
        return self

    def resources_for(self, instance_type: str) -> InstanceResources | None:
        return self.instance_types.get(instance_type) or DEFAULT_INSTANCE_TYPES.get(instance_type)


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
    cluster_placement: ClusterPlacementConfig = Field(default_factory=ClusterPlacementConfig, alias="clusterPlacement")
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
