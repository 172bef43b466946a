"""An operator of its own, watching only this module's namespaces, against an emulator whose clock
runs 5 minutes behind the operator's and whose assumed-role credentials expire every 20 s: status
keeps up with SageMaker, a refusal about something the request names is Stalled after one call,
and a TrainingJob followed with `kubemaker logs -f`, an autoscaled Endpoint and a Pipeline from S3
in an assumed-role namespace converge with no Stall while AssumeRole runs about once per expiry."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import OPERATOR_CREDENTIALS, TEST_ROLE_PATTERN
from tests.e2e.helpers import apply, condition, get, wait_for
from tests.e2e.hosting import endpoint, model, ready, scalable_targets, stalled, variant
from tests.e2e.test_trainingjob import training_job

SKEW_SECONDS = -300  # the emulator's clock is 5 minutes behind the operator's
CREDENTIAL_LIFETIME_SECONDS = 20
POLL_INTERVAL_SECONDS = 1.0
TEAM_ROLE = "arn:aws:iam::111111111111:role/kubemaker-team"
TEAM_EXECUTION_ROLE = "arn:aws:iam::111111111111:role/SageMakerTeam"
MISSING_MODEL_DATA = "s3://kubemaker-demo/missing/model.tar.gz"


class World:
    def __init__(self, emulator, operator, namespace: str, team_namespace: str):
        self.emulator, self.operator = emulator, operator
        self.namespace, self.team_namespace = namespace, team_namespace


@pytest.fixture(scope="module")
def world(operator_account, crds, installed_wheel, kubectl, tmp_path_factory):
    from kubemaker_dev.operatorprocess import OperatorProcess
    from kubemaker_emulator.process import start_emulator

    workdir = tmp_path_factory.mktemp("skewed-world")
    team_namespace = f"team-expiring-{uuid.uuid4().hex[:6]}"
    namespace = f"skewed-clock-{uuid.uuid4().hex[:6]}"
    for created in (team_namespace, namespace):
        kubectl("create", "namespace", created)
    emulator = start_emulator(profile="fast", log_path=workdir / "emulator.log")
    # Set before anything exists: the operator's clock is ahead of SageMaker's from its first call.
    emulator.control.set_clock_skew(SKEW_SECONDS)
    emulator.control.set_credential_lifetime(CREDENTIAL_LIFETIME_SECONDS)
    config = workdir / "config.yaml"
    config.write_text(yaml.safe_dump({
        "strictStatus": True,
        "leaderElection": {"enabled": False},
        # Only this module's namespaces: every other namespace's leftovers would be reconciled against
        # this emulator too, and their calls counted with ours (a Model elsewhere retrying its create
        # during the fault window was the second "refused CreateModel" some runs saw).
        "namespaces": [namespace, team_namespace],
        # The default 600 s resync: only the change tracker's watermarks bring changes in quickly.
        "defaultNamespacePolicy": {"allowedRoleArns": [TEST_ROLE_PATTERN]},
        "namespacePolicies": {team_namespace: {"allowedRoleArns": ["arn:aws:iam::111111111111:role/*"],
                                               "assumeRoleArn": TEAM_ROLE}},
    }))
    operator = OperatorProcess(
        {**emulator.aws_environment(), **OPERATOR_CREDENTIALS, "KUBECONFIG": str(operator_account.kubeconfig)},
        workdir / "operator.log", config, poll_interval=POLL_INTERVAL_SECONDS,
        entry_point=(str(installed_wheel / "kubemaker"),),
    )
    operator.start()
    yield World(emulator, operator, namespace, team_namespace)
    operator.stop()
    emulator.stop()


def host_time(sagemaker_time: datetime.datetime) -> float:
    """An emulator timestamp on the host's (and the operator's) clock."""
    return sagemaker_time.timestamp() - SKEW_SECONDS


def plain_training_job(name: str, **spec) -> dict:
    job = training_job(name, **spec)
    for member in ("enableManagedSpotTraining", "checkpointConfig"):
        job["spec"].pop(member)
    job["spec"]["stoppingCondition"] = {"maxRuntimeInSeconds": 600}
    return job


def test_status_keeps_up_with_sagemaker_when_the_operator_clock_runs_ahead(world, kubectl, kubeconfig):
    namespace = world.namespace
    world.emulator.control.set_timings(training_starting=2.0, training_downloading=2.0, training_training=2.0,
                                       training_uploading=2.0)
    apply(kubectl, plain_training_job("ahead"), namespace)
    # A watch stamps each status change as it reaches the API server's clients.
    watch = subprocess.Popen(
        ["kubectl", "--kubeconfig", kubeconfig, "get", "trainingjob", "ahead", "-n", namespace, "-w",
         "-o", "jsonpath={.status.secondaryStatus}{'\\n'}"],
        stdout=subprocess.PIPE, text=True,
    )
    seen: dict[str, float] = {}

    def read_watch() -> None:
        for line in watch.stdout:
            seen.setdefault(line.strip(), time.time())

    threading.Thread(target=read_watch, daemon=True).start()
    try:
        wait_for(lambda: "Completed" in seen, timeout=60, what=lambda: seen)
    finally:
        watch.terminate()
        watch.wait()
    name = get(kubectl, "trainingjob", namespace, "ahead")["status"]["trainingJobName"]
    transitions = world.emulator.client("sagemaker").describe_training_job(TrainingJobName=name)[
        "SecondaryStatusTransitions"]
    latencies = {t["Status"]: seen[t["Status"]] - host_time(t["StartTime"]) for t in transitions[1:]}
    assert set(latencies) == {"Downloading", "Training", "Uploading", "Completed"}
    # Each change shows within one poll of the change tracker, plus the pass that reports it.
    assert max(latencies.values()) <= POLL_INTERVAL_SECONDS + 1, latencies


def test_a_refusal_naming_missing_model_data_is_stalled_after_one_call(world, kubectl):
    namespace = world.namespace
    message = f"Could not find model data at {MISSING_MODEL_DATA}."
    world.emulator.control.reset_call_counts()
    world.emulator.control.set_faults(kinds=["validation"], operations=["CreateModel"], message=message)
    try:
        apply(kubectl, model("missing-data", primaryContainer={
            "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:1.0", "modelDataUrl": MISSING_MODEL_DATA}),
            namespace)
        obj = wait_for(lambda: stalled(kubectl, "model", namespace, "missing-data"), timeout=30,
                       what=lambda: get(kubectl, "model", namespace, "missing-data"))
        creates_until_stalled = world.emulator.control.call_counts()["calls"]["sagemaker"]["CreateModel"]
        time.sleep(3)  # nothing retries it
        creates = world.emulator.control.call_counts()["calls"]["sagemaker"]["CreateModel"]
    finally:
        world.emulator.control.clear_faults()
    assert condition(obj, "Stalled")["reason"] == "ValidationException"
    assert message in condition(obj, "Stalled")["message"]
    assert creates_until_stalled == 1 and creates == 1, (creates_until_stalled, creates)


def pipeline_definition() -> dict:
    return {
        "Version": "2020-12-01",
        "Parameters": [{"Name": "InputData", "Type": "String", "DefaultValue": "s3://kubemaker-demo/in/"}],
        "Steps": [{"Name": "Train", "Type": "Training", "Arguments": {"RoleArn": TEAM_EXECUTION_ROLE}}],
    }


def run_for(seconds: float, every: float, look) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        look()
        time.sleep(every)


def test_assumed_role_credentials_expiring_every_20_s_keep_everything_converging(world, kubectl, kubeconfig):
    """About 100 s, five credential lifetimes: every service's client (SageMaker, CloudWatch Logs,
    Application Auto Scaling, S3) keeps working across the refreshes, with no Stall."""
    emulator, namespace = world.emulator, world.team_namespace
    emulator.control.set_timings(training_starting=0.5, training_downloading=0.5, training_training=80.0,
                                 training_uploading=0.5)
    s3 = emulator.client("s3")
    s3.create_bucket(Bucket="team-definitions")
    s3.put_object(Bucket="team-definitions", Key="train.json", Body=json.dumps(pipeline_definition()).encode())
    started = time.monotonic()
    assumed_before = emulator.control.call_counts()["calls"].get("sts", {}).get("AssumeRole", 0)
    scaling = {"minCapacity": 1, "maxCapacity": 2, "targetInvocationsPerInstance": 50}
    team_model = model("team-model", executionRoleArn=TEAM_EXECUTION_ROLE)
    apply(kubectl, {"apiVersion": "v1", "kind": "List", "items": [
        plain_training_job("team-job", roleArn=TEAM_EXECUTION_ROLE), team_model,
        endpoint("team-endpoint", [variant("main", "team-model", autoScaling=scaling)]),
    ]}, namespace)
    wait_for(lambda: get(kubectl, "trainingjob", namespace, "team-job").get("status", {}).get("trainingJobName"),
             timeout=30)
    logs = subprocess.Popen(
        ["kubemaker", "logs", "trainingjob/team-job", "-n", namespace, "-f"],
        env={**os.environ, **emulator.aws_environment(), "KUBECONFIG": kubeconfig,
             "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    stalls: list[tuple[str, str, str]] = []

    def look_for_stalls() -> None:
        for obj in json.loads(kubectl("get", "sagemaker", "-n", namespace, "-o", "json").stdout)["items"]:
            found = condition(obj, "Stalled")
            if found.get("status") == "True":
                stalls.append((obj["kind"], obj["metadata"]["name"], found.get("message", "")))

    try:
        endpoint_name = wait_for(lambda: ready(kubectl, "endpoint", namespace, "team-endpoint"), timeout=60,
                                 what=lambda: get(kubectl, "endpoint", namespace, "team-endpoint"))["status"]["endpointName"]
        run_for(45 - (time.monotonic() - started), 1.0, look_for_stalls)
        # Two lifetimes later: S3 and Application Auto Scaling with credentials refreshed since.
        apply(kubectl, {"apiVersion": "sagemaker.kubemaker.io/v1alpha1", "kind": "Pipeline",
                        "metadata": {"name": "team-pipeline"},
                        "spec": {"roleArn": TEAM_EXECUTION_ROLE, "pipelineDefinitionS3Location": {
                            "bucket": "team-definitions", "objectKey": "train.json"}}}, namespace)
        wait_for(lambda: ready(kubectl, "pipeline", namespace, "team-pipeline"), timeout=30,
                 what=lambda: get(kubectl, "pipeline", namespace, "team-pipeline"))
        run_for(65 - (time.monotonic() - started), 1.0, look_for_stalls)
        apply(kubectl, endpoint("team-endpoint", [variant("main", "team-model",
                                                          autoScaling={**scaling, "maxCapacity": 3})]), namespace)
        wait_for(lambda: scalable_targets(emulator, endpoint_name).get("main", {}).get("MaxCapacity") == 3, timeout=30,
                 what="the new maximum registered")
        wait_for(lambda: (look_for_stalls(), ready(kubectl, "trainingjob", namespace, "team-job"))[1], timeout=60,
                 interval=1.0, what=lambda: get(kubectl, "trainingjob", namespace, "team-job"))
        out, err = logs.communicate(timeout=30)
    finally:
        if logs.poll() is None:
            logs.kill()
    elapsed = time.monotonic() - started
    look_for_stalls()

    assert stalls == []
    assert logs.returncode == 0, err
    assert "Training job completed" in out
    job = get(kubectl, "trainingjob", namespace, "team-job")["status"]
    assert job["trainingJobStatus"] == "Completed" and job.get("logStreams")
    for kind, name in (("endpoint", "team-endpoint"), ("pipeline", "team-pipeline"), ("model", "team-model")):
        assert ready(kubectl, kind, namespace, name), (kind, name)
    assumed = emulator.control.call_counts()["calls"]["sts"]["AssumeRole"] - assumed_before
    # Renewed with about a quarter of the 20 s left: once per 15 s or so, for every client together.
    assert elapsed / CREDENTIAL_LIFETIME_SECONDS - 1 <= assumed <= elapsed / 14 + 2, (assumed, elapsed)
    # Renewed before expiry, never after a refusal.
    assert "ExpiredToken" not in emulator.log_path.read_text()
