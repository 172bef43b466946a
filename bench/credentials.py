"""Long run of assumed-role credentials that expire every 20 s, against its own control plane,
emulator and operator: a TrainingJob followed with `kubemaker logs -f`, an autoscaled Endpoint and a
Pipeline from S3 in an assumed-role namespace, for `--minutes` (default 5). A third of the way in the
Pipeline is created (S3 then read with credentials refreshed many times since), two thirds in the
Endpoint's autoscaling changes; the job trains until near the end, so its log stream and status are
read throughout.

Prints a JSON record: AssumeRole calls against the lifetimes that passed, requests refused as
expired, every Stalled condition seen (polled each 2 s), the calls per service, whether each object
ended Ready, and how `kubemaker logs -f` ended. It asserts nothing.

    .venv/bin/python bench/credentials.py [--minutes 5] [--lifetime 20] [--skew -300]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from kubemaker_dev.kubectl import run_kubectl
from world import local_world

NAMESPACE = "team-expiring"
TEAM_ROLE = "arn:aws:iam::111111111111:role/kubemaker-team"
EXECUTION_ROLE = "arn:aws:iam::111111111111:role/SageMakerTeam"
API_VERSION = "sagemaker.kubemaker.io/v1alpha1"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:1.0"
SCALING = {"minCapacity": 1, "maxCapacity": 2, "targetInvocationsPerInstance": 50}


def manifest(kind: str, name: str, spec: dict) -> dict:
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name, "namespace": NAMESPACE}, "spec": spec}


def training_job() -> dict:
    return manifest("TrainingJob", "team-job", {
        "algorithmSpecification": {"trainingImage": IMAGE, "trainingInputMode": "File"},
        "roleArn": EXECUTION_ROLE,
        "outputDataConfig": {"s3OutputPath": "s3://team-output/jobs"},
        "resourceConfig": {"instanceType": "ml.m5.xlarge", "instanceCount": 1, "volumeSizeInGB": 10},
        "stoppingCondition": {"maxRuntimeInSeconds": 3600},
    })


def endpoint(max_capacity: int) -> dict:
    return manifest("Endpoint", "team-endpoint", {"productionVariants": [{
        "variantName": "main", "modelRef": {"name": "team-model"}, "instanceType": "ml.m5.large",
        "initialInstanceCount": 1, "initialVariantWeight": 1, "autoScaling": {**SCALING, "maxCapacity": max_capacity}}]})


def apply(kubeconfig: str, *objects: dict) -> None:
    run_kubectl(kubeconfig, "apply", "-f", "-", input=yaml.safe_dump({"apiVersion": "v1", "kind": "List",
                                                                        "items": list(objects)}))


def objects(kubeconfig: str) -> list[dict]:
    return json.loads(run_kubectl(kubeconfig, "get", "sagemaker", "-n", NAMESPACE, "-o", "json").stdout)["items"]


def condition(obj: dict, kind: str) -> dict:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == kind), {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--lifetime", type=float, default=20, help="seconds the emulator's credentials live")
    parser.add_argument("--skew", type=float, default=0, help="the emulator's clock against the host's, seconds")
    args = parser.parse_args()
    duration = args.minutes * 60
    config = {"namespacePolicies": {NAMESPACE: {"allowedRoleArns": ["arn:aws:iam::111111111111:role/*"],
                                                "assumeRoleArn": TEAM_ROLE}}}
    with local_world("kubemaker-bench-credentials-", poll_interval=1.0, config=config) as world:
        emulator, kubeconfig = world.emulator, world.kubeconfig
        emulator.control.set_clock_skew(args.skew)
        emulator.control.set_credential_lifetime(args.lifetime)
        emulator.control.set_timings(training_starting=1, training_downloading=1, training_training=duration - 20,
                                     training_uploading=1)
        s3 = emulator.client("s3")
        s3.create_bucket(Bucket="team-definitions")
        s3.put_object(Bucket="team-definitions", Key="train.json", Body=json.dumps({
            "Version": "2020-12-01",
            "Steps": [{"Name": "Train", "Type": "Training", "Arguments": {"RoleArn": EXECUTION_ROLE}}]}).encode())
        run_kubectl(kubeconfig, "create", "namespace", NAMESPACE)
        started = time.monotonic()
        apply(kubeconfig, training_job(), endpoint(2), manifest("Model", "team-model", {
            "executionRoleArn": EXECUTION_ROLE,
            "primaryContainer": {"image": IMAGE, "modelDataUrl": "s3://team-output/model.tar.gz"}}))
        while not next((o for o in objects(kubeconfig) if o["kind"] == "TrainingJob"), {}).get("status", {}).get(
                "trainingJobName"):
            time.sleep(0.5)
        logs = subprocess.Popen(
            [str(Path(sys.executable).parent / "kubemaker"), "logs", "trainingjob/team-job", "-n", NAMESPACE, "-f"],
            env={**os.environ, **emulator.aws_environment(), "KUBECONFIG": kubeconfig},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        stalls: dict[str, str] = {}
        steps = [(duration / 3, lambda: apply(kubeconfig, manifest("Pipeline", "team-pipeline", {
            "roleArn": EXECUTION_ROLE,
            "pipelineDefinitionS3Location": {"bucket": "team-definitions", "objectKey": "train.json"}}))),
                 (2 * duration / 3, lambda: apply(kubeconfig, endpoint(3)))]
        final: list[dict] = []
        while time.monotonic() - started < duration + 60:
            if steps and time.monotonic() - started >= steps[0][0]:
                steps.pop(0)[1]()
            final = objects(kubeconfig)
            for obj in final:
                if condition(obj, "Stalled").get("status") == "True":
                    stalls.setdefault(f"{obj['kind']}/{obj['metadata']['name']}", condition(obj, "Stalled")["message"])
            settled = all(condition(o, "Ready").get("status") == "True" for o in final) and logs.poll() is not None
            if not steps and settled and time.monotonic() - started >= duration:
                break
            time.sleep(2)
        elapsed = time.monotonic() - started
        if logs.poll() is None:
            logs.kill()
        out, err = logs.communicate()
        calls = emulator.control.call_counts()["calls"]
        emulator_log = emulator.log_path.read_text()
        assumed = calls.get("sts", {}).get("AssumeRole", 0)
        target = emulator.client("application-autoscaling").describe_scalable_targets(ServiceNamespace="sagemaker")
        record = {
            "seconds": round(elapsed, 1),
            "credential_lifetime_seconds": args.lifetime,
            "emulator_clock_skew_seconds": args.skew,
            "lifetimes_passed": round(elapsed / args.lifetime, 1),
            "assume_role_calls": assumed,
            "seconds_per_assume_role": round(elapsed / assumed, 1) if assumed else None,
            "refused_as_expired": emulator_log.count("ExpiredToken"),
            "stalls": stalls,
            "ready": {f"{o['kind']}/{o['metadata']['name']}": condition(o, "Ready").get("status") for o in final},
            "training_job_status": next((o["status"].get("trainingJobStatus") for o in final if o["kind"] == "TrainingJob"), None),
            "scalable_target_max_capacity": [t["MaxCapacity"] for t in target["ScalableTargets"]],
            "logs_follow": {"exit_code": logs.returncode, "lines": len(out.splitlines()),
                            "saw_completion": "Training job completed" in out, "stderr": err[-500:]},
            "calls_per_service": {service: sum(ops.values()) for service, ops in calls.items()},
        }
        print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
