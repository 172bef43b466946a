"""The Kubernetes objects of a TrainingJob placed on the cluster, built from its spec: pure, tested
without a cluster.

One indexed Job runs `instanceCount` pods, algo-1..algo-N. Each pod runs, in order:
- `stage` (init, the operator's image): writes /opt/ml/input/config, stages every channel from S3
  into /opt/ml/input/data/<channel> and the checkpoints into their local path, and with more than one
  host waits until every peer's name resolves (the headless Service) and writes their addresses;
- `checkpoints` (a sidecar, with checkpointConfig): keeps the local checkpoints synced to S3;
- `train` (init, the training image, with `train`): SageMaker's container, with the SM_* variables; its
  termination message is /opt/ml/output/failure, so the failure file becomes the failure reason;
- `upload` (the operator's image): runs only once training succeeded, and packs /opt/ml/model as
  model.tar.gz (and /opt/ml/output/data as output.tar.gz) where SageMaker puts them.
Training is an init container so that the upload starts only after it succeeded, as in SageMaker.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .. import API_GROUP
from ..api.training_job import TrainingJobSpec
from ..config import ClusterPlacementConfig, InstanceResources
from ..runtime.outcomes import KubernetesObject
from . import contract

JOB = KubernetesObject("batch/v1", "Job")
SERVICE = KubernetesObject("v1", "Service")
POD = KubernetesObject("v1", "Pod")
CLUSTER_JOB_LABEL = f"{API_GROUP}/cluster-job"
TRAINING_JOB_NAME_ANNOTATION = f"{API_GROUP}/training-job-name"
# The Job controller's annotation on each pod: its completion index.
COMPLETION_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
STAGE, CHECKPOINTS, TRAIN, UPLOAD = "stage", "checkpoints", "train", "upload"
OPT_ML_VOLUME, RUNTIME_VOLUME, CHECKPOINT_VOLUME = "opt-ml", "kubemaker", "checkpoints"
# The helpers' own files (env file, hosts file, archives being packed), apart from what the algorithm sees.
RUNTIME_DIR = "/kubemaker"
ENV_FILE, HOSTS_FILE = "env", "hosts"
# A pod's hostname is <job>-<index>, a DNS label of at most 63 characters.
MAX_JOB_NAME_LENGTH = 57
DEFAULT_MAX_RUNTIME_SECONDS = 86400  # SageMaker's, when stoppingCondition gives none
HELPER_RESOURCES = {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}
HELPER_SECURITY_CONTEXT = {
    "runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001, "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
}


def cluster_job_name(sagemaker_name: str) -> str:
    """The Job's (and Service's) name: the training job's name as a DNS label, short enough for the
    pods' hostnames, starting with a letter as a Service name must."""
    name = re.sub(r"[^a-z0-9-]+", "-", sagemaker_name.lower())
    if not name[:1].isalpha():
        name = f"tj-{name}"
    return name[:MAX_JOB_NAME_LENGTH].strip("-")


def instance_count(spec: TrainingJobSpec) -> int:
    return (spec.resourceConfig.instanceCount if spec.resourceConfig else None) or 1


def max_runtime_seconds(spec: TrainingJobSpec) -> int:
    stopping = spec.stoppingCondition
    return (stopping.maxRuntimeInSeconds if stopping else None) or DEFAULT_MAX_RUNTIME_SECONDS


def needs_service(spec: TrainingJobSpec) -> bool:
    """Peers find each other through a headless Service; a single host has no peers."""
    return instance_count(spec) > 1


def training_document(spec: TrainingJobSpec, name: str, job_name: str, namespace: str, region: str,
                      settings: ClusterPlacementConfig) -> dict[str, Any]:
    """What each pod's helper containers need of the spec (contract.DOCUMENT_VARIABLE)."""
    channels = []
    for channel in spec.inputDataConfig or []:
        source = channel.dataSource.s3DataSource
        assert source is not None  # the CRD refuses other sources with placement: Cluster
        channels.append({
            "name": channel.channelName, "s3Uri": source.s3Uri,
            "distribution": source.s3DataDistributionType or "FullyReplicated",
            "contentType": channel.contentType, "recordWrapperType": channel.recordWrapperType,
        })
    checkpoint = None
    if spec.checkpointConfig is not None:
        checkpoint = {"s3Uri": spec.checkpointConfig.s3Uri,
                      "localPath": spec.checkpointConfig.localPath or contract.DEFAULT_CHECKPOINT_DIR}
    output = spec.outputDataConfig
    return {
        "name": name, "region": region, "instanceCount": instance_count(spec),
        "hyperParameters": dict(spec.hyperParameters or {}), "channels": channels, "checkpoint": checkpoint,
        "output": {"s3OutputPath": output.s3OutputPath, "kmsKeyId": output.kmsKeyId,
                   "compressionType": output.compressionType or "GZIP"},
        "networkInterfaceName": settings.network_interface_name,
        "peers": {"job": job_name, "service": job_name, "namespace": namespace,
                  "clusterDomain": settings.cluster_domain, "timeoutSeconds": settings.peer_timeout_seconds},
        "hostsFile": f"{RUNTIME_DIR}/{HOSTS_FILE}", "envFile": f"{RUNTIME_DIR}/{ENV_FILE}",
    }


def build_service(job_name: str, labels: dict[str, str], annotations: dict[str, str]) -> dict[str, Any]:
    """Headless, listing pods before they are ready: each pod's <job>-<index>.<service> resolves as
    soon as it has an address, which is when its peers look for it."""
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": job_name, "labels": {**labels, CLUSTER_JOB_LABEL: job_name}, "annotations": annotations},
        "spec": {"clusterIP": "None", "publishNotReadyAddresses": True, "selector": {CLUSTER_JOB_LABEL: job_name}},
    }


def pod_resources(resources: InstanceResources) -> dict[str, dict[str, Any]]:
    """Requests as the instance type says; memory and GPUs also limited (no limit on CPU: throttling
    a training process only slows it)."""
    requests: dict[str, Any] = {"cpu": resources.cpu, "memory": resources.memory}
    limits: dict[str, Any] = {"memory": resources.memory}
    if resources.gpu:
        requests["nvidia.com/gpu"] = limits["nvidia.com/gpu"] = resources.gpu
    return {"requests": requests, "limits": limits}


def whole_cpus(quantity: str) -> int:
    """SM_NUM_CPUS from a CPU quantity: "4" -> 4, "3500m" -> 3, never below 1."""
    if quantity.endswith("m"):
        return max(1, int(quantity[:-1]) // 1000)
    return max(1, int(float(quantity)))


def helper_container(name: str, command: str, document: dict, settings: ClusterPlacementConfig,
                     mounts: list[dict]) -> dict[str, Any]:
    return {
        "name": name, "image": settings.image, "imagePullPolicy": settings.image_pull_policy,
        "command": ["kubemaker", "cluster", command],
        "env": [
            {"name": contract.DOCUMENT_VARIABLE, "value": json.dumps(document, separators=(",", ":"))},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            # The root filesystem is read-only: temporary files (archives) go to the pod's own volume.
            {"name": "TMPDIR", "value": RUNTIME_DIR},
            *settings.env,
        ],
        "volumeMounts": mounts, "resources": HELPER_RESOURCES, "securityContext": HELPER_SECURITY_CONTEXT,
    }


def training_environment(spec: TrainingJobSpec, document: dict, resources: InstanceResources) -> list[dict]:
    """The training container's variables: SM_* (the per-host ones from the stage's env file when
    there is more than one host), TRAINING_JOB_NAME, then the spec's environment, which wins."""
    values: dict[str, Any] = contract.static_environment(document, whole_cpus(resources.cpu), resources.gpu)
    if document["instanceCount"] == 1:
        values.update(contract.host_environment(document, 0))
    else:
        for variable in contract.PER_HOST_VARIABLES:
            values[variable] = {"fileKeyRef": {"volumeName": RUNTIME_VOLUME, "path": ENV_FILE, "key": variable}}
    values.update(spec.environment or {})
    return [{"name": name, "valueFrom": value} if isinstance(value, dict) else {"name": name, "value": value}
            for name, value in values.items()]


def training_container(spec: TrainingJobSpec, document: dict, resources: InstanceResources,
                       mounts: list[dict]) -> dict[str, Any]:
    algorithm = spec.algorithmSpecification
    assert algorithm is not None and algorithm.trainingImage  # the CRD requires it with placement: Cluster
    container: dict[str, Any] = {"name": TRAIN, "image": algorithm.trainingImage}
    # As SageMaker runs the image: its entrypoint with `train`, unless the spec names others.
    if algorithm.containerEntrypoint:
        container["command"] = list(algorithm.containerEntrypoint)
        if algorithm.containerArguments:
            container["args"] = list(algorithm.containerArguments)
    else:
        container["args"] = list(algorithm.containerArguments or ["train"])
    training_mounts = list(mounts)
    if document["instanceCount"] > 1:
        # The peers' addresses under their SageMaker names (the kubelet's own /etc/hosts steps aside).
        training_mounts.append({"name": RUNTIME_VOLUME, "mountPath": "/etc/hosts", "subPath": HOSTS_FILE,
                                "readOnly": True})
    return {
        **container, "env": training_environment(spec, document, resources), "resources": pod_resources(resources),
        "volumeMounts": training_mounts,
        # The kubelet reads the failure file as the termination message; with none, the log's end.
        "terminationMessagePath": contract.FAILURE_FILE, "terminationMessagePolicy": "FallbackToLogsOnError",
    }


def build_job(spec: TrainingJobSpec, document: dict, job_name: str, labels: dict[str, str],
              annotations: dict[str, str], settings: ClusterPlacementConfig,
              resources: InstanceResources) -> dict[str, Any]:
    count = document["instanceCount"]
    pod_labels = {**labels, CLUSTER_JOB_LABEL: job_name}
    opt_ml = {"name": OPT_ML_VOLUME, "mountPath": contract.OPT_ML}
    runtime = {"name": RUNTIME_VOLUME, "mountPath": RUNTIME_DIR}
    volume_size = spec.resourceConfig.volumeSizeInGB if spec.resourceConfig else None
    volumes: list[dict[str, Any]] = [
        {"name": OPT_ML_VOLUME, "emptyDir": {"sizeLimit": f"{volume_size}Gi"} if volume_size else {}},
        {"name": RUNTIME_VOLUME, "emptyDir": {}},
    ]
    helper_mounts, training_mounts = [opt_ml, runtime], [opt_ml]
    if document["checkpoint"]:
        checkpoints = {"name": CHECKPOINT_VOLUME, "mountPath": document["checkpoint"]["localPath"]}
        volumes.append({"name": CHECKPOINT_VOLUME, "emptyDir": {}})
        helper_mounts, training_mounts = [*helper_mounts, checkpoints], [*training_mounts, checkpoints]
    init_containers = [helper_container(STAGE, "stage", document, settings, helper_mounts)]
    if document["checkpoint"]:
        init_containers.append({**helper_container(CHECKPOINTS, "checkpoints", document, settings, helper_mounts),
                                "restartPolicy": "Always"})
    init_containers.append(training_container(spec, document, resources, training_mounts))
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "enableServiceLinks": False,
        "initContainers": init_containers,
        "containers": [helper_container(UPLOAD, "upload", document, settings, helper_mounts)],
        "volumes": volumes,
    }
    if count > 1:
        pod["subdomain"] = job_name
    options = spec.placementOptions
    if options is not None:
        if options.serviceAccountName:
            pod["serviceAccountName"] = options.serviceAccountName
        if options.nodeSelector:
            pod["nodeSelector"] = dict(options.nodeSelector)
        if options.tolerations:
            pod["tolerations"] = [toleration.model_dump(exclude_none=True) for toleration in options.tolerations]
        if options.priorityClassName:
            pod["priorityClassName"] = options.priorityClassName
    if settings.host_network:
        pod["hostNetwork"] = True
        pod["dnsPolicy"] = "ClusterFirstWithHostNet"
    if settings.dns_config is not None:
        pod["dnsPolicy"] = "None"
        pod["dnsConfig"] = settings.dns_config
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": job_name, "labels": pod_labels,
                     "annotations": {**annotations, TRAINING_JOB_NAME_ANNOTATION: document["name"]}},
        "spec": {
            "completionMode": "Indexed", "completions": count, "parallelism": count,
            # A failed host fails the job, as in SageMaker; the deadline is maxRuntimeInSeconds.
            "backoffLimit": 0,
            "activeDeadlineSeconds": max_runtime_seconds(spec),
            "template": {"metadata": {"labels": pod_labels}, "spec": pod},
        },
    }
