"""ProcessingJob end to end: the real API server, the emulator and `kubemaker run`, driven with kubectl
as a user would; SageMaker's calls counted by the emulator."""

from __future__ import annotations

import json
import time

import pytest
import yaml

from tests.e2e.helpers import apply, condition, event_reasons, events_for, get, slowed, wait_for
from tests.e2e.test_trainingjob import run_logs

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sklearn-processing:1.2-1"
PROCESSING_CALLS = ("CreateProcessingJob", "DescribeProcessingJob", "StopProcessingJob")


def processing_job(name: str, **spec_overrides) -> dict:
    spec = {
        "roleArn": ROLE,
        "appSpecification": {"imageUri": IMAGE, "containerEntrypoint": ["python3", "/opt/ml/processing/code/prep.py"]},
        "processingInputs": [{"inputName": "raw", "s3Input": {
            "s3Uri": "s3://kubemaker-demo/raw/", "localPath": "/opt/ml/processing/input", "s3DataType": "S3Prefix",
            "s3InputMode": "File"}}],
        "processingOutputConfig": {"outputs": [{"outputName": "train", "s3Output": {
            "s3Uri": f"s3://kubemaker-demo/prepared/{name}/", "localPath": "/opt/ml/processing/train",
            "s3UploadMode": "EndOfJob"}}]},
        "processingResources": {"clusterConfig": {"instanceType": "ml.m5.xlarge", "instanceCount": 1,
                                                  "volumeSizeInGB": 30}},
        "stoppingCondition": {"maxRuntimeInSeconds": 3600},
        "environment": {"STAGE": "prepare"},
        "networkConfig": {"enableNetworkIsolation": True},
    }
    spec.update(spec_overrides)
    return {"apiVersion": "sagemaker.kubemaker.io/v1alpha1", "kind": "ProcessingJob", "metadata": {"name": name},
            "spec": spec}


def with_condition(kubectl, namespace: str, name: str, condition_type: str) -> dict | None:
    obj = get(kubectl, "processingjob", namespace, name)
    return obj if condition(obj, condition_type).get("status") == "True" else None


def in_progress(kubectl, namespace: str, name: str) -> dict | None:
    obj = get(kubectl, "processingjob", namespace, name)
    return obj if (obj.get("status") or {}).get("processingJobStatus") == "InProgress" else None


def processing_calls(emulator) -> dict[str, int]:
    calls = emulator.control.call_counts()["calls"].get("sagemaker", {})
    return {operation: calls.get(operation, 0) for operation in PROCESSING_CALLS}


def sagemaker_jobs(emulator, name_contains: str) -> list[dict]:
    return emulator.client("sagemaker").list_processing_jobs(NameContains=name_contains)["ProcessingJobSummaries"]


def test_apply_completes_then_change_is_refused_and_delete_keeps_the_ended_job(operator, emulator, kubectl,
                                                                               namespace):
    emulator.control.reset_call_counts()
    apply(kubectl, processing_job("prepare"), namespace)
    obj = wait_for(lambda: with_condition(kubectl, namespace, "prepare", "Ready"), timeout=60, what="Ready")

    status = obj["status"]
    name = status["processingJobName"]
    assert name.startswith(f"{namespace}-prepare-"[:40]) and "createPending" not in status
    assert status["processingJobStatus"] == "Completed"
    assert status["processingOutputs"] == [{"outputName": "train", "s3Uri": "s3://kubemaker-demo/prepared/prepare/"}]
    assert status["processingStartTime"] <= status["processingEndTime"]
    assert status["consoleUrl"].endswith(f"#/processing-jobs/{name}")
    assert status["observedGeneration"] == obj["metadata"]["generation"]
    # Created once, described right after the create and once more when the tracker's listing
    # showed it Completed: no describe per poll.
    assert processing_calls(emulator) == {"CreateProcessingJob": 1, "DescribeProcessingJob": 2, "StopProcessingJob": 0}
    # Then nothing per poll: the batched listing alone.
    emulator.control.reset_call_counts()
    time.sleep(3)
    quiet = emulator.control.call_counts()["calls"].get("sagemaker", {})
    # Other kinds' trackers may list too (the suite's operator watches every namespace).
    assert {operation for operation in quiet if "ProcessingJob" in operation} <= {"ListProcessingJobs"}, quiet

    sagemaker = emulator.client("sagemaker")
    described = sagemaker.describe_processing_job(ProcessingJobName=name)
    assert described["Environment"] == {"STAGE": "prepare"}
    assert described["NetworkConfig"] == {"EnableNetworkIsolation": True}
    assert described["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}
    tags = sagemaker.list_tags(ResourceArn=status["processingJobArn"])["Tags"]
    assert {"Key": "kubemaker.io/uid", "Value": obj["metadata"]["uid"]} in tags
    table = kubectl("get", "smpj", "prepare", "-n", namespace, "-o", "wide").stdout
    assert "Completed" in table and "ml.m5.xlarge" in table and "s3://kubemaker-demo/prepared/prepare/" in table
    assert "prepare" in kubectl("get", "sagemaker", "-n", namespace).stdout
    reasons = event_reasons(kubectl, namespace, "prepare")
    assert reasons.count("Created") == 1 and "ProcessingCompleted" in reasons

    # Immutable but for deletionPolicy.
    refused = kubectl("patch", "processingjob", "prepare", "-n", namespace, "--type=merge", "-p",
                      json.dumps({"spec": {"environment": {"STAGE": "again"}}}), check=False)
    assert refused.returncode != 0 and "spec.environment is immutable" in refused.stderr
    assert "create a new ProcessingJob to run again" in refused.stderr
    kubectl("patch", "processingjob", "prepare", "-n", namespace, "--type=merge", "-p",
            json.dumps({"spec": {"deletionPolicy": "Retain"}}))
    kubectl("patch", "processingjob", "prepare", "-n", namespace, "--type=merge", "-p",
            json.dumps({"spec": {"deletionPolicy": "Delete"}}))
    obj = wait_for(lambda: (o := get(kubectl, "processingjob", namespace, "prepare"))["status"][
        "observedGeneration"] == o["metadata"]["generation"] and o, timeout=30, what="the new generation observed")
    assert condition(obj, "Ready")["status"] == "True"

    # Deleting an ended job stops nothing: one describe and the ownership check, then the finalizer
    # goes; SageMaker keeps the record of the job.
    emulator.control.reset_call_counts()
    kubectl("delete", "processingjob", "prepare", "-n", namespace, "--timeout=60s")
    calls = emulator.control.call_counts()["calls"]["sagemaker"]
    assert (calls.get("DescribeProcessingJob"), calls.get("ListTags"), calls.get("StopProcessingJob")) == (1, 1, None)
    assert sagemaker.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"] == "Completed"


def test_failure_is_stalled_with_the_reason_and_the_exit_message(operator, emulator, kubectl, namespace):
    job_name = f"{namespace}-fails"[:63]
    emulator.control.fail_processing_job(job_name, reason="AlgorithmError: See job logs for more information",
                                         exit_message="KeyError: 'churned' column missing")
    apply(kubectl, processing_job("fails", processingJobName=job_name), namespace)
    obj = wait_for(lambda: with_condition(kubectl, namespace, "fails", "Stalled"), timeout=60, what="Stalled")
    assert obj["status"]["processingJobStatus"] == "Failed"
    assert obj["status"]["exitMessage"] == "KeyError: 'churned' column missing"
    message = condition(obj, "Stalled")["message"]
    assert "See job logs" in message and "KeyError: 'churned' column missing" in message
    assert condition(obj, "Ready")["status"] == "False"
    warnings = [e for e in events_for(kubectl, namespace, "fails") if e["type"] == "Warning"]
    assert any(e["reason"] == "ProcessingFailed" and "churned" in e["message"] for e in warnings)


def test_delete_stops_the_running_job_and_waits_until_it_stopped(operator, emulator, kubectl, namespace):
    with slowed(emulator, processing_running=60):
        apply(kubectl, processing_job("stop-me"), namespace)
        obj = wait_for(lambda: in_progress(kubectl, namespace, "stop-me"), timeout=30, what="InProgress")
        emulator.control.reset_call_counts()
        kubectl("delete", "processingjob", "stop-me", "-n", namespace, "--timeout=60s")
    name = obj["status"]["processingJobName"]
    assert emulator.client("sagemaker").describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"] == "Stopped"
    assert processing_calls(emulator)["StopProcessingJob"] == 1


def test_retain_leaves_the_running_job_running(operator, emulator, kubectl, namespace):
    with slowed(emulator, processing_running=60):
        apply(kubectl, processing_job("keep-me", deletionPolicy="Retain"), namespace)
        obj = wait_for(lambda: in_progress(kubectl, namespace, "keep-me"), timeout=30, what="InProgress")
        kubectl("delete", "processingjob", "keep-me", "-n", namespace, "--timeout=60s")
        name = obj["status"]["processingJobName"]
        sagemaker = emulator.client("sagemaker")
        assert sagemaker.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"] == "InProgress"
        sagemaker.stop_processing_job(ProcessingJobName=name)  # the test's own clean-up


def test_a_role_the_namespace_may_not_pass_is_stalled_and_nothing_is_sent(operator, emulator, kubectl, namespace):
    emulator.control.reset_call_counts()
    apply(kubectl, processing_job("wrong-role", roleArn="arn:aws:iam::123456789012:role/Admin"), namespace)
    obj = wait_for(lambda: with_condition(kubectl, namespace, "wrong-role", "Stalled"), timeout=30, what="Stalled")
    stalled = condition(obj, "Stalled")
    assert stalled["reason"] == "RoleNotAllowed"
    assert "arn:aws:iam::123456789012:role/Admin" in stalled["message"] and "allowedRoleArns" in stalled["message"]
    assert processing_calls(emulator)["CreateProcessingJob"] == 0
    assert sagemaker_jobs(emulator, f"{namespace}-wrong-role") == []


def test_another_namespaces_job_name_is_refused_and_its_job_untouched(operator, emulator, kubectl, namespace):
    """A tenant naming the SageMaker job of another namespace's ProcessingJob: Stalled, naming the
    owner; the job is neither adopted nor stopped when the intruder is deleted."""
    owner_namespace = f"{namespace[:50]}-own"
    kubectl("create", "namespace", owner_namespace)
    with slowed(emulator, processing_running=60):
        apply(kubectl, processing_job("theirs"), owner_namespace)
        theirs = wait_for(lambda: in_progress(kubectl, owner_namespace, "theirs"), timeout=30, what="InProgress")
        name = theirs["status"]["processingJobName"]
        emulator.control.reset_call_counts()
        apply(kubectl, processing_job("intruder", processingJobName=name), namespace)
        obj = wait_for(lambda: with_condition(kubectl, namespace, "intruder", "Stalled"), timeout=30, what="Stalled")
        assert condition(obj, "Stalled")["reason"] == "NameInUse"
        assert owner_namespace in condition(obj, "Stalled")["message"]
        kubectl("delete", "processingjob", "intruder", "-n", namespace, "--timeout=60s")
        assert processing_calls(emulator)["CreateProcessingJob"] == 0
        assert processing_calls(emulator)["StopProcessingJob"] == 0
        sagemaker = emulator.client("sagemaker")
        assert sagemaker.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"] == "InProgress"
        kubectl("delete", "processingjob", "theirs", "-n", owner_namespace, "--timeout=60s")


@pytest.mark.parametrize("spec, message", [
    ({"processingInputs": [{"inputName": "raw", "s3Input": {"s3Uri": "s3://b/a/", "localPath": "/opt/ml/processing/a",
                                                             "s3DataType": "S3Prefix"}},
                           {"inputName": "raw", "s3Input": {"s3Uri": "s3://b/b/", "localPath": "/opt/ml/processing/b",
                                                             "s3DataType": "S3Prefix"}}]},
     'spec.processingInputs[1]: Duplicate value: {"inputName":"raw"}'),
    ({"processingOutputConfig": {"outputs": [
        {"outputName": "out", "s3Output": {"s3Uri": "s3://b/a/", "localPath": "/opt/ml/processing/a",
                                           "s3UploadMode": "EndOfJob"}},
        {"outputName": "out", "featureStoreOutput": {"featureGroupName": "customers"}}]}},
     'spec.processingOutputConfig.outputs[1]: Duplicate value: {"outputName":"out"}'),
    ({"processingInputs": [{"inputName": "raw"}]},
     "each processingInputs[] entry takes exactly one of s3Input and datasetDefinition"),
    ({"processingResources": {"clusterConfig": {"instanceType": "ml.m5.xlarge", "volumeSizeInGB": 30}}},
     "processingResources.clusterConfig.instanceCount is required with instanceType"),
], ids=["duplicate-input", "duplicate-output", "input-without-source", "instance-type-without-count"])
def test_what_sagemaker_would_refuse_is_refused_at_apply(operator, emulator, kubectl, namespace, spec, message):
    manifest = processing_job("bad", **spec)
    refused = kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(manifest), check=False)
    assert refused.returncode != 0 and message in refused.stderr


def test_logs_follow_a_running_job_until_it_ends(operator, emulator, kubectl, kubeconfig, namespace):
    with slowed(emulator, processing_running=3):
        apply(kubectl, processing_job("chatty", processingResources={"clusterConfig": {
            "instanceType": "ml.m5.xlarge", "instanceCount": 2, "volumeSizeInGB": 30}}), namespace)
        wait_for(lambda: get(kubectl, "processingjob", namespace, "chatty").get("status", {}).get(
            "processingJobName"), timeout=30, what="the job's name in status")
        followed = run_logs(kubeconfig, emulator, "kubemaker", "logs", "processingjob/chatty", "-n", namespace,
                            "-f", "--all-hosts")
    assert followed.returncode == 0, followed.stderr
    lines = followed.stdout.splitlines()
    assert "[algo-1] Starting processing container" in lines and "[algo-2] Starting processing container" in lines
    assert "[algo-1] Processing job completed" in lines
    plugin = run_logs(kubeconfig, emulator, "kubectl", "sagemaker", "logs", "smpj/chatty", "-n", namespace)
    assert plugin.returncode == 0, plugin.stderr
    assert "Uploading output train from /opt/ml/processing/train to s3://kubemaker-demo/prepared/chatty/" in plugin.stdout
    assert "algo-2" not in plugin.stdout


def test_steady_calls_do_not_grow_with_running_jobs(operator, emulator, kubectl, namespace):
    """Twenty running jobs cost the same ListProcessingJobs calls per poll as one, and no describe."""
    with slowed(emulator, processing_running=120):
        for i in range(20):
            apply(kubectl, processing_job(f"steady-{i:02d}"), namespace)
        wait_for(lambda: all(in_progress(kubectl, namespace, f"steady-{i:02d}") for i in range(20)), timeout=60,
                 what="all 20 InProgress")
        time.sleep(2)
        emulator.control.reset_call_counts()
        time.sleep(5)
        calls = emulator.control.call_counts()["calls"].get("sagemaker", {})
        for i in range(20):
            kubectl("delete", "processingjob", f"steady-{i:02d}", "-n", namespace, "--wait=false")
    assert calls.get("DescribeProcessingJob", 0) == 0
    # Poll interval 0.5 s: about ten listings in 5 s for one region and role, whatever the number of jobs.
    assert calls.get("ListProcessingJobs", 0) <= 15


def test_the_kfp_sagemaker_object_step_runs_a_processing_job(operator, emulator, kubeconfig, kubectl, namespace,
                                                            tmp_path):
    """The Kubeflow step (no AWS credentials) applies the ProcessingJob, waits for Ready and outputs
    the SageMaker job's name."""
    from tests.e2e.test_kfp_component import run_step

    output = tmp_path / "outputs" / "sagemaker_name"
    result = run_step(kubeconfig, yaml.safe_dump(processing_job("kfp-prepare")), namespace,
                      "--output-sagemaker-name", str(output))
    assert result.returncode == 0, result.stderr
    obj = get(kubectl, "processingjob", namespace, "kfp-prepare")
    assert output.read_text() == obj["status"]["processingJobName"]
    assert emulator.client("sagemaker").describe_processing_job(
        ProcessingJobName=output.read_text())["ProcessingJobStatus"] == "Completed"


def test_the_example_converges_under_faults_and_a_crash_with_one_job(operator, emulator, kubectl, namespace):
    """examples/processingjob.yaml as bench/soak.py runs it: 30% of SageMaker calls throttled or
    failing with 5xx, the operator killed and restarted mid-way; it ends Ready with one SageMaker job."""
    from tests.conftest import REPO_ROOT

    emulator.control.set_faults(rate=0.3, kinds=["throttle", "5xx"], seed=7)
    try:
        with slowed(emulator, processing_running=4):
            kubectl("apply", "-n", namespace, "-f", str(REPO_ROOT / "examples" / "processingjob.yaml"))
            wait_for(lambda: get(kubectl, "processingjob", namespace, "prepare-churn").get("status", {}).get(
                "processingJobName"), timeout=60, what="the job's name in status")
            operator.kill()
            operator.start()
            obj = wait_for(lambda: with_condition(kubectl, namespace, "prepare-churn", "Ready"), timeout=120,
                           what=lambda: get(kubectl, "processingjob", namespace, "prepare-churn").get("status"))
    finally:
        emulator.control.clear_faults()
    jobs = sagemaker_jobs(emulator, f"{namespace}-prepare-churn"[:40])
    assert [job["ProcessingJobName"] for job in jobs] == [obj["status"]["processingJobName"]]
    assert emulator.control.call_counts()["faults"]


def test_what_only_sagemaker_judges_is_stalled_with_its_message_and_an_event(operator, emulator, kubectl, namespace):
    emulator.control.reset_call_counts()
    apply(kubectl, processing_job("elsewhere", processingInputs=[{"inputName": "raw", "s3Input": {
        "s3Uri": "s3://kubemaker-demo/raw/", "localPath": "/data/raw", "s3DataType": "S3Prefix"}}]), namespace)
    obj = wait_for(lambda: with_condition(kubectl, namespace, "elsewhere", "Stalled"), timeout=30, what="Stalled")
    stalled = condition(obj, "Stalled")
    assert stalled["reason"] == "ValidationException"
    assert "ProcessingInputs[0].S3Input.LocalPath /data/raw must begin with /opt/ml/processing/" in stalled["message"]
    warnings = [e for e in events_for(kubectl, namespace, "elsewhere") if e["type"] == "Warning"]
    assert any("/opt/ml/processing/" in e["message"] for e in warnings)
    time.sleep(2)  # Stalled for this generation: no retry
    assert processing_calls(emulator)["CreateProcessingJob"] == 1
    assert "createPending" not in get(kubectl, "processingjob", namespace, "elsewhere")["status"]
