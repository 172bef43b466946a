"""`kubemaker logs` / `kubectl sagemaker logs`: a training or processing job's CloudWatch logs, found
from the Kubernetes object, printed and optionally followed until the job ends."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

import boto3
import kubernetes

from . import API_GROUP, API_VERSION
from .aws.clients import client_config
from .cluster.logs import iter_pod_log_lines

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
PROCESSING_LOG_GROUP = "/aws/sagemaker/ProcessingJobs"
TERMINAL = ("Completed", "Failed", "Stopped")
FOLLOW_INTERVAL_SECONDS = 2.0
PLURALS = {
    "trainingjob": "trainingjobs", "trainingjobs": "trainingjobs", "smtj": "trainingjobs",
    "hyperparametertuningjob": "hyperparametertuningjobs", "hyperparametertuningjobs": "hyperparametertuningjobs",
    "smhpo": "hyperparametertuningjobs",
    "processingjob": "processingjobs", "processingjobs": "processingjobs", "smpj": "processingjobs",
}


class LogsError(RuntimeError):
    pass


@dataclass
class Target:
    job_name: str
    region: str | None
    log_group: str = LOG_GROUP
    # A TrainingJob placed on the cluster: its Kubernetes Job, and how many hosts it has.
    cluster_job: str | None = None
    host_count: int = 1


def resolve_target(reference: str, namespace: str, custom_objects: Any) -> Target:
    """`trainingjob/NAME`, `hyperparametertuningjob/NAME` (its best training job) or `processingjob/NAME`."""
    kind, _, name = reference.partition("/")
    plural = PLURALS.get(kind.lower().split(".")[0])
    if not plural or not name:
        raise LogsError(f"expected trainingjob/NAME, hyperparametertuningjob/NAME or processingjob/NAME, "
                        f"got {reference!r}")
    try:
        obj = custom_objects.get_namespaced_custom_object(API_GROUP, API_VERSION, namespace, plural, name)
    except kubernetes.client.ApiException as error:
        raise LogsError(f"{reference} in namespace {namespace}: {error.reason}") from None
    status = obj.get("status") or {}
    region = (obj.get("spec") or {}).get("region")
    if plural == "processingjobs":
        if not status.get("processingJobName"):
            raise LogsError(f"{reference} has no SageMaker processing job yet (status: {status.get('conditions')})")
        return Target(status["processingJobName"], region, log_group=PROCESSING_LOG_GROUP)
    if plural == "trainingjobs":
        job = status.get("trainingJobName")
    else:
        job = (status.get("bestTrainingJob") or {}).get("trainingJobName")
    if not job:
        raise LogsError(f"{reference} has no SageMaker training job yet (status: {status.get('conditions')})")
    spec = obj.get("spec") or {}
    if plural == "trainingjobs" and spec.get("placement") == "Cluster":
        if not status.get("clusterJob"):
            raise LogsError(f"{reference} has no pods yet (status: {status.get('conditions')})")
        count = (spec.get("resourceConfig") or {}).get("instanceCount") or 1
        return Target(job, region, cluster_job=status["clusterJob"], host_count=count)
    return Target(job, region)


def stream_names(logs: Any, log_group: str, job_name: str, all_hosts: bool) -> list[str]:
    response = logs.describe_log_streams(logGroupName=log_group, logStreamNamePrefix=f"{job_name}/")
    names = sorted(stream["logStreamName"] for stream in response.get("logStreams", []))
    return names if all_hosts else [name for name in names if "/algo-1-" in name][:1] or names[:1]


def new_events(logs: Any, log_group: str, stream: str, token: str | None) -> tuple[list[dict], str | None]:
    params = {"logGroupName": log_group, "logStreamName": stream, "startFromHead": True}
    if token:
        params["nextToken"] = token
    response = logs.get_log_events(**params)
    return response.get("events", []), response.get("nextForwardToken")


def job_state(sagemaker: Any, log_group: str, job_name: str) -> str:
    if log_group == PROCESSING_LOG_GROUP:
        return sagemaker.describe_processing_job(ProcessingJobName=job_name)["ProcessingJobStatus"]
    return sagemaker.describe_training_job(TrainingJobName=job_name)["TrainingJobStatus"]


def iter_log_lines(logs: Any, sagemaker: Any, job_name: str, follow: bool, all_hosts: bool,
                   log_group: str = LOG_GROUP) -> Iterator[str]:
    tokens: dict[str, str | None] = {}
    while True:
        # A job's final state is read before its last logs, so nothing written before the end is missed.
        done = not follow or job_state(sagemaker, log_group, job_name) in TERMINAL
        streams = stream_names(logs, log_group, job_name, all_hosts)
        for stream in streams:
            while True:
                events, token = new_events(logs, log_group, stream, tokens.get(stream))
                unchanged = token == tokens.get(stream)
                tokens[stream] = token
                for event in events:
                    host = stream.split("/", 1)[1].rsplit("-", 1)[0]
                    yield f"[{host}] {event['message']}" if all_hosts else event["message"]
                if not events or unchanged:
                    break
        if done:
            return
        time.sleep(FOLLOW_INTERVAL_SECONDS)


def print_logs(reference: str, namespace: str | None, follow: bool, all_hosts: bool, out: TextIO = sys.stdout) -> int:
    kubernetes.config.load_kube_config()
    if namespace is None:
        _, context = kubernetes.config.list_kube_config_contexts()
        namespace = context.get("context", {}).get("namespace", "default")
    custom_objects = kubernetes.client.CustomObjectsApi()
    try:
        target = resolve_target(reference, namespace, custom_objects)
    except LogsError as error:
        print(f"kubemaker logs: {error}", file=sys.stderr)
        return 1
    if target.cluster_job:  # on the cluster: the training pods' own logs
        lines = iter_pod_log_lines(kubernetes.client.CoreV1Api(), namespace, target.cluster_job, target.host_count,
                                   follow, all_hosts)
        for line in lines:
            print(line, file=out, flush=True)
        return 0
    session = boto3.Session()
    logs = session.client("logs", region_name=target.region, config=client_config())
    sagemaker = session.client("sagemaker", region_name=target.region, config=client_config())
    for line in iter_log_lines(logs, sagemaker, target.job_name, follow, all_hosts, target.log_group):
        print(line, file=out, flush=True)
    return 0
