"""The KFP component's entrypoint (`python -m kubemaker.kfp`) against the local control plane and the
operator: the example pipeline's three steps in order, a Stalled object failing its step with the
reason, and a cancelled run deleting what its step created."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import yaml

from kubemaker.kfp.example_manifests import ENDPOINT, MODEL, TRAINING_JOB
from tests.e2e.helpers import get, wait_for
from tests.e2e.test_trainingjob import slow_training, training_job


def step(kubeconfig: str, manifest: str, namespace: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "kubemaker.kfp", "--manifest", manifest, "--namespace", namespace,
         "--poll-seconds", "0.3", "--timeout-seconds", "90", *args],
        # A pipeline step has no AWS credentials: only the operator talks to AWS.
        env={**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, "KUBECONFIG": kubeconfig},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def run_step(kubeconfig: str, manifest: str, namespace: str, *args: str) -> subprocess.CompletedProcess:
    process = step(kubeconfig, manifest, namespace, *args)
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_example_pipeline_steps_train_register_and_serve(operator, emulator, kubeconfig, kubectl, namespace, tmp_path):
    outputs = {name: tmp_path / "outputs" / name for name in ("artifact", "job", "model", "endpoint")}

    train = run_step(kubeconfig, TRAINING_JOB, namespace, "--output-model-artifact-uri", str(outputs["artifact"]),
                     "--output-sagemaker-name", str(outputs["job"]))
    assert train.returncode == 0, train.stderr
    artifact = outputs["artifact"].read_text()
    assert artifact.startswith("s3://kubemaker-demo/churn/output/") and artifact.endswith("/output/model.tar.gz")
    assert outputs["job"].read_text() in artifact  # the SageMaker job name

    register = run_step(kubeconfig, MODEL, namespace, "--set", f"spec.primaryContainer.modelDataUrl={artifact}",
                        "--output-sagemaker-name", str(outputs["model"]))
    assert register.returncode == 0, register.stderr
    model = get(kubectl, "model", namespace, "churn")
    assert model["spec"]["primaryContainer"]["modelDataUrl"] == artifact
    assert outputs["model"].read_text() == model["status"]["modelName"]

    serve = run_step(kubeconfig, ENDPOINT, namespace, "--output-endpoint-name", str(outputs["endpoint"]))
    assert serve.returncode == 0, serve.stderr
    endpoint_name = outputs["endpoint"].read_text()
    description = emulator.client("sagemaker").describe_endpoint(EndpointName=endpoint_name)
    assert description["EndpointStatus"] == "InService"

    # A second run: a new training job (generateName), the same Model applied again without a change.
    again = run_step(kubeconfig, TRAINING_JOB, namespace, "--output-sagemaker-name", str(tmp_path / "job2"))
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "job2").read_text() != outputs["job"].read_text()


def test_stalled_object_fails_the_step_with_the_reason(operator, kubeconfig, namespace):
    refused = training_job("admin-role", roleArn="arn:aws:iam::123456789012:role/Admin")
    result = run_step(kubeconfig, yaml.safe_dump(refused), namespace)
    assert result.returncode == 1
    assert "Stalled: RoleNotAllowed" in result.stderr
    assert "arn:aws:iam::123456789012:role/Admin" in result.stderr


def test_invalid_change_to_an_immutable_job_fails_with_the_api_servers_words(operator, kubeconfig, namespace):
    first = run_step(kubeconfig, yaml.safe_dump(training_job("fixed")), namespace)
    assert first.returncode == 0, first.stderr
    changed = training_job("fixed", hyperParameters={"num_round": "99"})
    result = run_step(kubeconfig, yaml.safe_dump(changed), namespace)
    assert result.returncode == 1
    assert "refused TrainingJob fixed" in result.stderr and "immutable" in result.stderr


def test_cancelled_run_deletes_the_job_it_created(operator, emulator, kubeconfig, kubectl, namespace):
    with slow_training(emulator, seconds=60):
        process = step(kubeconfig, yaml.safe_dump(training_job("cancel-me")), namespace)
        obj = wait_for(lambda: (o := kubectl("get", "trainingjob", "cancel-me", "-n", namespace, "-o", "yaml",
                                             check=False)).returncode == 0
                       and (s := yaml.safe_load(o.stdout).get("status", {})).get("trainingJobStatus") == "InProgress"
                       and s, timeout=30, what="InProgress")
        process.send_signal(signal.SIGTERM)
        stdout, _ = process.communicate(timeout=60)
        assert process.returncode == 143
        assert "deleting TrainingJob" in stdout
        wait_for(lambda: kubectl("get", "trainingjob", "cancel-me", "-n", namespace, check=False).returncode != 0,
                 timeout=30, what="the object to be gone")
        description = emulator.client("sagemaker").describe_training_job(TrainingJobName=obj["trainingJobName"])
        assert description["TrainingJobStatus"] in ("Stopping", "Stopped")


def test_cancel_leaves_an_object_the_step_did_not_create(operator, emulator, kubeconfig, kubectl, namespace):
    manifest = yaml.safe_dump(training_job("pre-existing"))
    with slow_training(emulator, seconds=60):
        kubectl("apply", "-n", namespace, "-f", "-", input=manifest)
        process = step(kubeconfig, manifest, namespace)
        assert process.stdout.readline().startswith("applied TrainingJob")
        process.send_signal(signal.SIGTERM)
        stdout, _ = process.communicate(timeout=60)
    assert process.returncode == 143
    assert "not created by this step" in stdout
    assert get(kubectl, "trainingjob", namespace, "pre-existing")["metadata"].get("deletionTimestamp") is None
