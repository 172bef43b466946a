"""What production does to an operator: throttling and 5xx, SIGKILL mid-flow, an API server restart,
other writers, objects deleted mid-create. Invariants: every object converges, no SageMaker object is
duplicated or orphaned."""

from __future__ import annotations

import random
import time

import pytest

from tests.e2e.helpers import apply, condition, get, wait_for
from tests.e2e.test_trainingjob import ready, sagemaker_jobs, slow_training, training_job


def in_progress_jobs(emulator, name_contains: str) -> list[dict]:
    return [job for job in sagemaker_jobs(emulator, name_contains) if job["TrainingJobStatus"] in ("InProgress", "Stopping")]


def assert_one_job_per_object(emulator, kubectl, namespace: str, names: list[str]) -> None:
    jobs = [job["TrainingJobName"] for job in sagemaker_jobs(emulator, namespace[:20])]
    for name in names:
        recorded = get(kubectl, "trainingjob", namespace, name)["status"]["trainingJobName"]
        stem = recorded[:-8]  # the derived name without its uid hash: any duplicate would share it
        assert [job for job in jobs if job.startswith(stem)] == [recorded]


def test_throttling_and_5xx_at_30_percent(operator, emulator, kubectl, namespace):
    names = [f"busy-{i}" for i in range(10)]
    emulator.control.set_faults(rate=0.3, kinds=["throttle", "5xx"], seed=7)
    try:
        for name in names:
            apply(kubectl, training_job(name), namespace)
        for name in names[:3]:
            kubectl("delete", "trainingjob", name, "-n", namespace, "--wait=false")
        for name in names[3:]:
            wait_for(lambda: ready(kubectl, namespace, name), timeout=180, what=f"{name} Ready")
        wait_for(lambda: not kubectl("get", "trainingjob", "-n", namespace, "-o", "name").stdout.count("busy-0"),
                 timeout=120, what="deleted objects gone")
        faults = emulator.control.call_counts()["faults"]
    finally:
        emulator.control.clear_faults()
    assert faults.get("throttle", 0) > 0 and faults.get("5xx", 0) > 0
    assert_one_job_per_object(emulator, kubectl, namespace, names[3:])
    assert in_progress_jobs(emulator, namespace) == [], "a deleted object left its job running"
    metrics = operator.metrics()
    assert 'kubemaker_aws_api_throttles_total{operation=' in metrics or "kubemaker_aws_api_throttles_total{" in metrics


def test_sigkill_at_random_points_then_restart(operator, emulator, kubectl, namespace):
    rng = random.Random(11)
    names = [f"kill-{i}" for i in range(5)]
    try:
        for name in names:
            apply(kubectl, training_job(name), namespace)
            time.sleep(rng.uniform(0, 1.5))
            operator.kill()
            operator.start()
        # Kill during deletion too: the finalizer must still stop the job.
        kubectl("delete", "trainingjob", names[0], "-n", namespace, "--wait=false")
        time.sleep(rng.uniform(0, 0.5))
        operator.kill()
    finally:
        operator.start()
    for name in names[1:]:
        wait_for(lambda: ready(kubectl, namespace, name), timeout=120, what=f"{name} Ready")
    assert_one_job_per_object(emulator, kubectl, namespace, names[1:])
    wait_for(lambda: "kill-0" not in kubectl("get", "trainingjob", "-n", namespace, "-o", "name").stdout,
             timeout=60, what="kill-0 deleted")
    assert in_progress_jobs(emulator, f"{namespace}-kill-0") == []


@pytest.mark.restarts_apiserver
def test_api_server_restart_under_the_operator(operator, emulator, kubectl, control_plane, namespace):
    if control_plane is None:
        return  # an existing cluster's API server is not ours to restart
    with slow_training(emulator, seconds=6):
        apply(kubectl, training_job("before-restart"), namespace)
        wait_for(lambda: get(kubectl, "trainingjob", namespace, "before-restart").get("status", {}).get("trainingJobArn"),
                 timeout=30, what="created")
        control_plane.restart_apiserver(down_seconds=2)
        apply(kubectl, training_job("after-restart"), namespace)
        wait_for(lambda: ready(kubectl, namespace, "before-restart"), timeout=120, what="in-flight job Ready")
        wait_for(lambda: ready(kubectl, namespace, "after-restart"), timeout=120, what="new job Ready")
    assert_one_job_per_object(emulator, kubectl, namespace, ["before-restart", "after-restart"])


def test_other_writers_and_deletion_mid_create(operator, emulator, kubectl, namespace):
    with slow_training(emulator, seconds=3):
        apply(kubectl, training_job("shared"), namespace)
        apply(kubectl, training_job("gone-early"), namespace)
        kubectl("delete", "trainingjob", "gone-early", "-n", namespace, "--wait=false")
        for i in range(10):
            kubectl("label", "trainingjob", "shared", "-n", namespace, f"team=t{i}", "--overwrite")
            kubectl("annotate", "trainingjob", "shared", "-n", namespace, f"note=n{i}", "--overwrite")
        obj = wait_for(lambda: ready(kubectl, namespace, "shared"), timeout=60, what="Ready")
    assert obj["metadata"]["labels"]["team"] == "t9" and obj["metadata"]["annotations"]["note"] == "n9"
    assert condition(obj, "Ready")["observedGeneration"] == obj["metadata"]["generation"]
    wait_for(lambda: "gone-early" not in kubectl("get", "trainingjob", "-n", namespace, "-o", "name").stdout,
             timeout=60, what="gone-early deleted")
    assert in_progress_jobs(emulator, f"{namespace}-gone-early") == []
