"""`kubemaker logs` of a TrainingJob placed on the cluster: its training containers' logs, read from
the Kubernetes API with the user's own rights (pods and pods/log), as CloudWatch's are for a job in
SageMaker: algo-1's by default, every host's with --all-hosts (prefixed with the host), followed
until the training containers end."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

from . import contract
from .builders import CLUSTER_JOB_LABEL, COMPLETION_INDEX_ANNOTATION, TRAIN

WAIT_SECONDS = 2.0


def job_pods(core: Any, namespace: str, job_name: str) -> dict[int, Any]:
    """The newest pod of each host, by completion index."""
    pods: dict[int, Any] = {}
    for pod in core.list_namespaced_pod(namespace, label_selector=f"{CLUSTER_JOB_LABEL}={job_name}").items:
        index = int((pod.metadata.annotations or {}).get(COMPLETION_INDEX_ANNOTATION, "0"))
        if index not in pods or pod.metadata.creation_timestamp > pods[index].metadata.creation_timestamp:
            pods[index] = pod
    return pods


def training_started(pod: Any) -> bool:
    statuses = (pod.status.init_container_statuses or []) if pod.status else []
    state = next((status.state for status in statuses if status.name == TRAIN), None)
    return bool(state and (state.running or state.terminated)) or (pod.status and pod.status.phase == "Failed")


def host_lines(core: Any, namespace: str, pod_name: str, follow: bool) -> Iterator[str]:
    while follow:  # a container's log can be read once it started
        pod = core.read_namespaced_pod(pod_name, namespace)
        if training_started(pod):
            break
        time.sleep(WAIT_SECONDS)
    response = core.read_namespaced_pod_log(pod_name, namespace, container=TRAIN, follow=follow,
                                            _preload_content=False)
    pending = b""
    for chunk in response.stream():
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.decode(errors="replace")
    if pending:
        yield pending.decode(errors="replace")


def iter_pod_log_lines(core: Any, namespace: str, job_name: str, count: int, follow: bool,
                       all_hosts: bool) -> Iterator[str]:
    hosts = range(count) if all_hosts else range(1)
    pods = job_pods(core, namespace, job_name)
    while follow and not all(index in pods for index in hosts):
        time.sleep(WAIT_SECONDS)
        pods = job_pods(core, namespace, job_name)
    if not all_hosts:
        if 0 in pods:
            yield from host_lines(core, namespace, pods[0].metadata.name, follow)
        return
    # Every host at once, interleaved as the lines come.
    lines: queue.Queue[str | None] = queue.Queue()

    def read(index: int) -> None:
        try:
            for line in host_lines(core, namespace, pods[index].metadata.name, follow):
                lines.put(f"[{contract.host_name(index)}] {line}")
        finally:
            lines.put(None)

    readers = [threading.Thread(target=read, args=(index,), daemon=True) for index in hosts if index in pods]
    for reader in readers:
        reader.start()
    finished = 0
    while finished < len(readers):
        line = lines.get()
        if line is None:
            finished += 1
        else:
            yield line
