"""TrainingJob with `placement: Cluster`: the pure planner. It creates the headless Service (with more
than one host) and the indexed Job once, then reads SageMaker's status fields off the Job and its pods:
what DescribeTrainingJob would say of the same job, so the SageMaker planner's own judgements (health,
transition Events, status fields) apply unchanged.

Secondary status, per host: Starting until its `stage` container starts, Downloading while it
stages, Training while `train` runs, Uploading while `upload` runs, Completed once the pod succeeded.
The job is in a status once every host is (the slowest host decides), and fails with its first host.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from ..cluster import contract
from ..cluster.builders import COMPLETION_INDEX_ANNOTATION, JOB, SERVICE, STAGE, TRAIN, UPLOAD
from ..conditions import Health
from ..runtime.kubeapi import CREATE, owned
from ..runtime.outcomes import KUBERNETES, Event, KubernetesObject, Plan, Stall, create_pending
from .trainingjob import TERMINAL_STATES, health_of, status_from_description, transition_events

PHASES = ("Starting", "Downloading", "Training", "Uploading", "Completed")
# The container whose start puts a host in the phase.
PHASE_CONTAINERS = {"Downloading": STAGE, "Training": TRAIN, "Uploading": UPLOAD}
PHASE_MESSAGES = {
    "Starting": "Scheduling the training pods and starting their containers",
    "Downloading": "Staging the input data from S3 into /opt/ml/input/data",
    "Training": "Training image started; training in progress",
    "Uploading": "Training finished; uploading the model and output to S3",
    "Completed": "Training job completed",
}
# Why a container cannot start, worth showing while the job waits.
WAITING_REASONS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError",
                   "CreateContainerError")


@dataclass(frozen=True)
class ClusterTraining:
    """What the handler resolved for one TrainingJob: names, the owner's uid, the manifests to create."""

    name: str  # the training job's name (SageMaker's: TRAINING_JOB_NAME, the S3 paths)
    job_name: str  # the Kubernetes Job's and Service's
    uid: str
    instance_count: int
    job: dict[str, Any]
    service: dict[str, Any] | None  # None: one host, no peers
    model_artifacts: str
    max_runtime_seconds: int


@dataclass(frozen=True)
class ClusterObservation:
    job: dict | None = None
    service: dict | None = None
    pods: list[dict] = field(default_factory=list)


def timestamp(value: str | None) -> datetime.datetime | None:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def container_statuses(pod: dict) -> dict[str, dict]:
    status = pod.get("status") or {}
    return {c["name"]: c for c in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or [])}


def started_at(container: dict | None) -> datetime.datetime | None:
    state = (container or {}).get("state") or {}
    return timestamp((state.get("running") or state.get("terminated") or {}).get("startedAt"))


@dataclass
class Host:
    """One host's progress: when it entered each phase, and why it failed or waits."""

    entered: dict[str, datetime.datetime]
    failure: tuple[str, datetime.datetime] | None = None
    waiting: str | None = None


def failure_of(name: str, terminated: dict) -> str:
    message = (terminated.get("message") or "").strip()
    code = terminated.get("exitCode")
    if name == TRAIN:
        if not message and terminated.get("reason") == "OOMKilled":
            message = f"the training container ran out of memory (OOMKilled, exit code {code})"
        return contract.failure_reason(message or f"the training container exited with code {code}")
    what = "staging the input data" if name == STAGE else "uploading the model"
    return contract.failure_reason(message or f"{what} failed with exit code {code}", prefix="ClientError")


def host_progress(pod: dict | None, created: datetime.datetime) -> Host:
    host = Host(entered={"Starting": created})
    if pod is None:
        return host
    containers = container_statuses(pod)
    for phase, name in PHASE_CONTAINERS.items():
        started = started_at(containers.get(name))
        if started is not None:
            host.entered[phase] = max(started, *host.entered.values())
    status = pod.get("status") or {}
    stopped = stopped_by(pod)
    if stopped is not None:  # evicted, preempted, its node gone: the containers' exit codes say only "killed"
        host.failure = (f"InternalServerError: pod {pod['metadata']['name']} was stopped: {stopped}",
                        max(host.entered.values()))
        return host
    for name in (STAGE, TRAIN, UPLOAD):
        terminated = ((containers.get(name) or {}).get("state") or {}).get("terminated")
        if terminated and terminated.get("exitCode") not in (0, None):
            host.failure = (failure_of(name, terminated), timestamp(terminated.get("finishedAt")) or created)
            return host
    if status.get("phase") == "Succeeded":
        finished = ((containers.get(UPLOAD) or {}).get("state") or {}).get("terminated") or {}
        host.entered["Completed"] = timestamp(finished.get("finishedAt")) or max(host.entered.values())
    elif status.get("phase") == "Failed":
        reason = f"{status.get('reason') or 'Failed'}: {status.get('message') or 'the pod failed'}"
        host.failure = (f"InternalServerError: pod {pod['metadata']['name']}: {reason}", max(host.entered.values()))
    host.waiting = waiting_reason(pod, containers)
    return host


def stopped_by(pod: dict) -> str | None:
    """Why Kubernetes stopped a failed pod, when something other than its containers did."""
    status = pod.get("status") or {}
    if status.get("phase") != "Failed":
        return None
    for condition in status.get("conditions") or []:
        if condition.get("type") == "DisruptionTarget" and condition.get("status") == "True":
            return f"{condition.get('reason')}: {condition.get('message', '')}".rstrip(": ")
    if status.get("reason"):  # e.g. Evicted, with the kubelet's message
        return f"{status['reason']}: {status.get('message', '')}".rstrip(": ")
    return None


def waiting_reason(pod: dict, containers: dict[str, dict]) -> str | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return condition.get("message") or condition.get("reason")
    for name, container in containers.items():
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in WAITING_REASONS:
            return f"container {name}: {waiting['reason']}: {waiting.get('message', '')}".rstrip(": ")
    return None


def hosts_of(training: ClusterTraining, pods: list[dict], created: datetime.datetime) -> list[Host]:
    """Each host's progress, from the newest pod of its completion index."""
    newest: dict[int, dict] = {}
    for pod in pods:
        index = int(((pod.get("metadata") or {}).get("annotations") or {}).get(COMPLETION_INDEX_ANNOTATION, -1))
        known = newest.get(index)
        if known is None or pod["metadata"]["creationTimestamp"] > known["metadata"]["creationTimestamp"]:
            newest[index] = pod
    return [host_progress(newest.get(index), created) for index in range(training.instance_count)]


def job_condition(job: dict, *types: str) -> dict | None:
    return next((c for c in (job.get("status") or {}).get("conditions") or []
                 if c.get("type") in types and c.get("status") == "True"), None)


def describe(training: ClusterTraining, observed: ClusterObservation) -> dict[str, Any]:
    """The job as DescribeTrainingJob would describe it, from the Job and its pods."""
    job = observed.job or {}
    created = timestamp(job["metadata"]["creationTimestamp"])
    assert created is not None
    hosts = hosts_of(training, observed.pods, created)
    reached: list[tuple[str, datetime.datetime]] = []
    for phase in PHASES:
        times = [host.entered.get(phase) for host in hosts]
        if any(time is None for time in times):
            break
        reached.append((phase, max(time for time in times if time is not None)))
    failures = sorted((host.failure for host in hosts if host.failure), key=lambda failure: failure[1])
    deadline = job_condition(job, "Failed", "FailureTarget")
    state, failure_reason, end = "InProgress", None, None
    if reached[-1][0] == "Completed":
        state, end = "Completed", reached[-1][1]
    elif deadline is not None and deadline.get("reason") == "DeadlineExceeded":
        end = timestamp(deadline.get("lastTransitionTime")) or reached[-1][1]
        state, reached = "Stopped", [*reached, ("MaxRuntimeExceeded", end)]
    elif failures:
        failure_reason, end = failures[0]
    elif deadline is not None:
        failure_reason = f"InternalServerError: {deadline.get('reason')}: {deadline.get('message')}"
        end = timestamp(deadline.get("lastTransitionTime")) or reached[-1][1]
    if failure_reason is not None and end is not None:
        state, reached = "Failed", [*reached, ("Failed", end)]
    transitions = []
    for position, (phase, start) in enumerate(reached):
        message = PHASE_MESSAGES.get(phase) or (
            f"Training job stopped: maxRuntimeInSeconds ({training.max_runtime_seconds} s) exceeded"
            if phase == "MaxRuntimeExceeded" else failure_reason)
        transition: dict[str, Any] = {"Status": phase, "StartTime": start, "StatusMessage": message}
        if position + 1 < len(reached):
            transition["EndTime"] = reached[position + 1][1]
        transitions.append(transition)
    waiting = next((host.waiting for host in hosts if host.waiting), None)
    if state == "InProgress" and waiting:
        transitions[-1]["StatusMessage"] = f"{transitions[-1]['StatusMessage']}: {waiting}"
    description: dict[str, Any] = {
        "TrainingJobName": training.name, "TrainingJobStatus": state, "SecondaryStatus": reached[-1][0],
        "SecondaryStatusTransitions": transitions, "CreationTime": created, "LastModifiedTime": reached[-1][1],
    }
    starts = [host.entered["Downloading"] for host in hosts if "Downloading" in host.entered]
    if starts:
        description["TrainingStartTime"] = min(starts)
    if end is not None:
        description["TrainingEndTime"] = end
        if starts:
            description["TrainingTimeInSeconds"] = round((end - min(starts)).total_seconds())
    if failure_reason:
        description["FailureReason"] = failure_reason
    if state == "Completed":
        description["ModelArtifacts"] = {"S3ModelArtifacts": training.model_artifacts}
    return description


def create_plan(training: ClusterTraining, made: KubernetesObject, manifest: dict, message: str) -> Plan:
    """One create, once: status records the names before the call (the core's create-once protocol), and
    "already exists" is fine for an object with our owner label."""
    return Plan(
        health=Health.reconciling("Creating", message),
        action=CREATE, service=KUBERNETES, request=manifest, creates=made, again=True,
        before=create_pending(training.name, trainingJobName=training.name, clusterJob=training.job_name),
        events=[Event("Normal", "Created", message)],
    )


def not_ours(kind: str, training: ClusterTraining) -> Stall:
    return Stall("NameInUse", f"a {kind} named {training.job_name} already exists in this namespace and does not "
                 "belong to this TrainingJob; choose another spec.trainingJobName", status={"createPending": None})


def plan_cluster(training: ClusterTraining, status: dict, observed: ClusterObservation, region: str) -> Plan:
    for kind, existing in (("Service", observed.service), ("Job", observed.job)):
        if existing is not None and not owned(existing, training.uid):
            raise not_ours(kind, training)
    settled = status.get("trainingJobStatus") in TERMINAL_STATES
    if training.service is not None and observed.service is None and not settled:
        return create_plan(training, SERVICE, training.service, f"created headless Service {training.job_name} "
                           f"for the hosts of training job {training.name}")
    if observed.job is None:
        if status.get("clusterJob") and status.get("trainingJobStatus") and not status.get("createPending"):
            raise Stall("NotFound", f"the Kubernetes Job {training.job_name} of training job {training.name} was "
                        "deleted; create a new TrainingJob to train again")
        return create_plan(training, JOB, training.job,
                           f"created Kubernetes Job {training.job_name} ({training.instance_count} pod(s)) for "
                           f"training job {training.name}")
    description = describe(training, observed)
    new_status = {**status_from_description(description, region, None), "clusterJob": training.job_name}
    return Plan(
        health=health_of(description),
        status=new_status,
        events=transition_events(status, description),
        look_again=None if description["TrainingJobStatus"] in TERMINAL_STATES else "poll",
    )
