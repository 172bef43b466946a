"""TrainingJob end to end: the real API server, the emulator and `kubemaker run`, driven with kubectl."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path


from tests.e2e.helpers import apply, condition, event_reasons, events_for, get, wait_for

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"


def training_job(name: str, **spec_overrides) -> dict:
    spec = {
        "algorithmSpecification": {
            "trainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:latest",
            "trainingInputMode": "File",
            "metricDefinitions": [{"name": "validation:rmse", "regex": "rmse=([0-9.]+)"}],
        },
        "roleArn": ROLE,
        "outputDataConfig": {"s3OutputPath": "s3://kubemaker-demo/output"},
        "resourceConfig": {"instanceType": "ml.m5.xlarge", "instanceCount": 1, "volumeSizeInGB": 10},
        "stoppingCondition": {"maxRuntimeInSeconds": 3600, "maxWaitTimeInSeconds": 7200},
        "enableManagedSpotTraining": True,
        "checkpointConfig": {"s3Uri": "s3://kubemaker-demo/checkpoints"},
        "hyperParameters": {"num_round": "10", "eta": "0.2"},
    }
    spec.update(spec_overrides)
    return {
        "apiVersion": "sagemaker.kubemaker.io/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": name},
        "spec": spec,
    }


@contextlib.contextmanager
def slow_training(emulator, seconds: float = 30):
    """Keeps jobs in Training long enough to act on them mid-run."""
    before = emulator.control.timings()
    emulator.control.set_timings(training_training=seconds)
    try:
        yield
    finally:
        emulator.control.set_timings(training_training=before["training_training"])


def sagemaker_jobs(emulator, name_contains: str) -> list[dict]:
    client = emulator.client("sagemaker")
    return client.list_training_jobs(NameContains=name_contains, MaxResults=100)["TrainingJobSummaries"]


def ready(kubectl, namespace: str, name: str) -> dict | None:
    obj = get(kubectl, "trainingjob", namespace, name)
    return obj if condition(obj, "Ready").get("status") == "True" else None


def stalled(kubectl, namespace: str, name: str) -> dict | None:
    obj = get(kubectl, "trainingjob", namespace, name)
    return obj if condition(obj, "Stalled").get("status") == "True" else None


def test_spot_training_with_checkpoints_completes(operator, emulator, kubectl, namespace):
    apply(kubectl, training_job("xgb-spot"), namespace)
    obj = wait_for(lambda: ready(kubectl, namespace, "xgb-spot"), timeout=60, what="Ready")

    status = obj["status"]
    assert status["trainingJobStatus"] == "Completed"
    assert status["secondaryStatus"] == "Completed"
    assert status["billableTimeInSeconds"] < status["trainingTimeInSeconds"]
    assert 0 < status["spotSavingsPercent"] < 100
    assert status["modelArtifacts"]["s3ModelArtifacts"].endswith(f"{status['trainingJobName']}/output/model.tar.gz")
    assert status["logStreams"] and status["logStreams"][0].startswith(status["trainingJobName"] + "/algo-1-")
    assert [t["status"] for t in status["secondaryStatusTransitions"]][-1] == "Completed"
    assert status["observedGeneration"] == obj["metadata"]["generation"]
    assert "createPending" not in status
    assert status["trainingJobName"].startswith(f"{namespace}-xgb-spot-"[:40])

    description = emulator.client("sagemaker").describe_training_job(TrainingJobName=status["trainingJobName"])
    assert description["CheckpointConfig"]["S3Uri"] == "s3://kubemaker-demo/checkpoints"
    assert description["HyperParameters"] == {"num_round": "10", "eta": "0.2"}
    tags = emulator.client("sagemaker").list_tags(ResourceArn=status["trainingJobArn"])["Tags"]
    assert {"Key": "kubemaker.io/uid", "Value": obj["metadata"]["uid"]} in tags

    table = kubectl("get", "smtj", "xgb-spot", "-n", namespace).stdout
    assert "Completed" in table and str(status["spotSavingsPercent"]) in table
    reasons = event_reasons(kubectl, namespace, "xgb-spot")
    assert "Created" in reasons and "TrainingCompleted" in reasons
    assert reasons.count("Created") == 1


def test_failure_reason_is_stalled_with_sagemaker_message(operator, emulator, kubectl, namespace):
    job_name = f"{namespace}-fails"[:63]
    emulator.control.fail_training_job(job_name, reason="AlgorithmError: loss diverged")
    apply(kubectl, training_job("fails", trainingJobName=job_name), namespace)
    obj = wait_for(lambda: stalled(kubectl, namespace, "fails"), timeout=60, what="Stalled")
    assert obj["status"]["trainingJobStatus"] == "Failed"
    assert "loss diverged" in condition(obj, "Stalled")["message"]
    assert condition(obj, "Ready")["status"] == "False"
    warnings = [e for e in events_for(kubectl, namespace, "fails") if e["type"] == "Warning"]
    assert any("loss diverged" in e["message"] for e in warnings)


def test_spot_interruption_and_resume_are_shown(operator, emulator, kubectl, namespace):
    with slow_training(emulator, seconds=4):
        apply(kubectl, training_job("interrupted"), namespace)
        obj = wait_for(
            lambda: (o := get(kubectl, "trainingjob", namespace, "interrupted")).get("status", {}).get("secondaryStatus")
            == "Training" and o,
            timeout=30, what="Training",
        )
        emulator.control.interrupt_spot(obj["status"]["trainingJobName"])
        obj = wait_for(lambda: ready(kubectl, namespace, "interrupted"), timeout=60, what="Ready after resume")
    statuses = [t["status"] for t in obj["status"]["secondaryStatusTransitions"]]
    assert "Interrupted" in statuses
    assert statuses.index("Interrupted") < len(statuses) - 1 - statuses[::-1].index("Training")
    reasons = event_reasons(kubectl, namespace, "interrupted")
    assert "TrainingInterrupted" in reasons


def test_delete_stops_the_running_job(operator, emulator, kubectl, namespace):
    with slow_training(emulator):
        apply(kubectl, training_job("stop-me"), namespace)
        obj = wait_for(
            lambda: (o := get(kubectl, "trainingjob", namespace, "stop-me")).get("status", {}).get("trainingJobStatus")
            == "InProgress" and o,
            timeout=30, what="InProgress",
        )
        job_name = obj["status"]["trainingJobName"]
        kubectl("delete", "trainingjob", "stop-me", "-n", namespace, "--timeout=60s")
        description = emulator.client("sagemaker").describe_training_job(TrainingJobName=job_name)
        assert description["TrainingJobStatus"] == "Stopped"


def test_retain_leaves_the_job_running(operator, emulator, kubectl, namespace):
    with slow_training(emulator):
        apply(kubectl, training_job("keep-me", deletionPolicy="Retain"), namespace)
        obj = wait_for(
            lambda: (o := get(kubectl, "trainingjob", namespace, "keep-me")).get("status", {}).get("trainingJobStatus")
            == "InProgress" and o,
            timeout=30, what="InProgress",
        )
        kubectl("delete", "trainingjob", "keep-me", "-n", namespace, "--timeout=60s")
        description = emulator.client("sagemaker").describe_training_job(TrainingJobName=obj["status"]["trainingJobName"])
        assert description["TrainingJobStatus"] == "InProgress"


def test_operator_killed_after_create_makes_exactly_one_job(operator, emulator, kubectl, namespace):
    emulator.control.reset_call_counts()
    # Slow describes open a window between CreateTrainingJob and the status that records it.
    emulator.control.set_faults(rate=1.0, kinds=["latency"], operations=["DescribeTrainingJob"], latency_ms=4000)
    try:
        apply(kubectl, training_job("crashy"), namespace)
        wait_for(
            lambda: emulator.control.call_counts()["calls"].get("sagemaker", {}).get("CreateTrainingJob"),
            timeout=30, interval=0.05, what="CreateTrainingJob",
        )
        operator.kill()
    finally:
        emulator.control.clear_faults()
    obj = get(kubectl, "trainingjob", namespace, "crashy")
    assert "trainingJobArn" not in obj.get("status", {}), "the kill came too late to test a crash mid-create"
    operator.start()
    obj = wait_for(lambda: ready(kubectl, namespace, "crashy"), timeout=60, what="Ready after restart")
    jobs = sagemaker_jobs(emulator, f"{namespace}-crashy")
    assert [job["TrainingJobName"] for job in jobs] == [obj["status"]["trainingJobName"]]


def test_same_name_in_two_namespaces_gets_two_jobs(operator, emulator, kubectl, namespace):
    other = f"{namespace[:50]}-b"
    kubectl("create", "namespace", other)
    apply(kubectl, training_job("twin"), namespace)
    apply(kubectl, training_job("twin"), other)
    first = wait_for(lambda: ready(kubectl, namespace, "twin"), timeout=60, what="first Ready")
    second = wait_for(lambda: ready(kubectl, other, "twin"), timeout=60, what="second Ready")
    assert first["status"]["trainingJobName"] != second["status"]["trainingJobName"]
    assert first["status"]["trainingJobArn"] != second["status"]["trainingJobArn"]


def test_role_not_allowed_is_stalled_and_creates_nothing(operator, emulator, kubectl, namespace):
    apply(kubectl, training_job("wrong-role", roleArn="arn:aws:iam::123456789012:role/Admin"), namespace)
    obj = wait_for(lambda: stalled(kubectl, namespace, "wrong-role"), timeout=30, what="Stalled")
    assert condition(obj, "Stalled")["reason"] == "RoleNotAllowed"
    assert "arn:aws:iam::123456789012:role/Admin" in condition(obj, "Stalled")["message"]
    assert sagemaker_jobs(emulator, f"{namespace}-wrong-role") == []
    time.sleep(2)  # no retry loop: the status stays as it was
    assert get(kubectl, "trainingjob", namespace, "wrong-role")["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]


def test_sagemaker_refusal_is_stalled_without_retry_loop(operator, emulator, kubectl, namespace):
    emulator.control.reset_call_counts()
    emulator.control.set_faults(rate=1.0, kinds=["validation"], operations=["CreateTrainingJob"])
    try:
        apply(kubectl, training_job("refused"), namespace)
        obj = wait_for(lambda: stalled(kubectl, namespace, "refused"), timeout=30, what="Stalled")
        time.sleep(3)
        creates = emulator.control.call_counts()["calls"]["sagemaker"]["CreateTrainingJob"]
    finally:
        emulator.control.clear_faults()
    assert condition(obj, "Stalled")["reason"] == "ValidationException"
    assert creates == 1


def run_logs(kubeconfig, emulator, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **emulator.aws_environment(), "KUBECONFIG": kubeconfig,
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run(list(args), env=env, capture_output=True, text=True, timeout=120)


def test_logs_follow_a_running_job_until_it_ends(operator, emulator, kubectl, kubeconfig, namespace):
    with slow_training(emulator, seconds=3):
        apply(kubectl, training_job("chatty", resourceConfig={
            "instanceType": "ml.m5.xlarge", "instanceCount": 2, "volumeSizeInGB": 10}), namespace)
        wait_for(lambda: get(kubectl, "trainingjob", namespace, "chatty").get("status", {}).get("trainingJobName"), timeout=30)
        followed = run_logs(kubeconfig, emulator, "kubemaker", "logs", "trainingjob/chatty", "-n", namespace,
                            "-f", "--all-hosts")
    assert followed.returncode == 0, followed.stderr
    lines = followed.stdout.splitlines()
    assert any(line.startswith("[algo-1]") for line in lines) and any(line.startswith("[algo-2]") for line in lines)
    # The logs end when SageMaker says the job ended; the object's status follows at the next poll.
    wait_for(lambda: get(kubectl, "trainingjob", namespace, "chatty").get("status", {}).get("trainingJobStatus") == "Completed",
             timeout=10, what=lambda: get(kubectl, "trainingjob", namespace, "chatty")["status"])

    # The kubectl plugin: kubectl finds kubectl-sagemaker on PATH.
    plugin = run_logs(kubeconfig, emulator, "kubectl", "sagemaker", "logs", "smtj/chatty", "-n", namespace)
    assert plugin.returncode == 0, plugin.stderr
    # Without --all-hosts only the first host's stream is shown.
    assert "Training job completed" in plugin.stdout and "algo-2" not in plugin.stdout


def test_logs_of_a_missing_object_is_a_clear_error(operator, emulator, kubeconfig, namespace):
    result = run_logs(kubeconfig, emulator, "kubemaker", "logs", "trainingjob/nope", "-n", namespace)
    assert result.returncode == 1
    assert "trainingjob/nope" in result.stderr and "Not Found" in result.stderr


def test_namespace_with_an_assumed_role_uses_it(operator, emulator, kubectl):
    from tests.e2e.conftest import TEAM_ACCOUNT_NAMESPACE

    before = emulator.control.call_counts()["calls"].get("sts", {}).get("AssumeRole", 0)
    kubectl("create", "namespace", TEAM_ACCOUNT_NAMESPACE, check=False)
    apply(kubectl, training_job("cross-account", roleArn="arn:aws:iam::111111111111:role/SageMakerTeam"),
          TEAM_ACCOUNT_NAMESPACE)
    wait_for(lambda: ready(kubectl, TEAM_ACCOUNT_NAMESPACE, "cross-account"), timeout=60,
             what=lambda: get(kubectl, "trainingjob", TEAM_ACCOUNT_NAMESPACE, "cross-account"))
    # The emulator keeps one account's state, so the assumed role shows in its STS calls only.
    assert emulator.control.call_counts()["calls"]["sts"]["AssumeRole"] > before
