"""Model end to end: revisions, endpoints rolling to them, and model data from a TrainingJob."""

from __future__ import annotations

from tests.e2e.helpers import apply, condition, events_for, get, wait_for
from tests.e2e.hosting import IMAGE, ROLE, endpoint, manifest, model, models, ready, stalled, variant


def test_image_change_makes_a_revision_the_endpoint_rolls_to(operator, emulator, kubectl, namespace):
    apply(kubectl, model("churn"), namespace)
    apply(kubectl, endpoint("churn", [variant("main", "churn")]), namespace)
    first = wait_for(lambda: ready(kubectl, "model", namespace, "churn"), timeout=30, what="Model Ready")
    old_revision = first["status"]["modelName"]
    before = wait_for(lambda: ready(kubectl, "endpoint", namespace, "churn"), timeout=60, what="Endpoint Ready")

    apply(kubectl, model("churn", tag="2.0"), namespace)
    second = wait_for(lambda: ready(kubectl, "model", namespace, "churn"), timeout=30, what="new revision")
    new_revision = second["status"]["modelName"]
    assert new_revision == f"{old_revision}-r2" and len(new_revision) <= 63

    def rolled():
        obj = ready(kubectl, "endpoint", namespace, "churn")
        return obj if obj and obj["status"]["endpointConfigName"] != before["status"]["endpointConfigName"] else None

    after = wait_for(rolled, timeout=60, what="endpoint on the new revision")
    config = emulator.client("sagemaker").describe_endpoint_config(EndpointConfigName=after["status"]["endpointConfigName"])
    assert config["ProductionVariants"][0]["ModelName"] == new_revision
    # The old revision goes once the endpoint's old config is gone.
    wait_for(lambda: models(emulator, old_revision) == [new_revision], timeout=30, what="old revision deleted")
    final = wait_for(
        lambda: (o := get(kubectl, "model", namespace, "churn"))
        and [r["modelName"] for r in o["status"]["revisions"]] == [new_revision] and o,
        timeout=30, what="revisions in status",
    )
    assert final["status"]["revisions"][0]["generation"] == 2
    reasons = [e["reason"] for e in events_for(kubectl, namespace, "churn")]
    assert "RevisionDeleted" in reasons


def test_inference_pipeline_with_vpc_and_network_isolation(operator, emulator, kubectl, namespace):
    spec = {
        "executionRoleArn": ROLE,
        "containers": [
            {"image": f"{IMAGE}:pre", "modelDataUrl": "s3://kubemaker-demo/pre/model.tar.gz"},
            {"image": f"{IMAGE}:main", "modelDataUrl": "s3://kubemaker-demo/main/model.tar.gz",
             "environment": {"SAGEMAKER_PROGRAM": "inference.py"}},
        ],
        "inferenceExecutionConfig": {"mode": "Direct"},
        "vpcConfig": {"securityGroupIds": ["sg-0123456789abcdef0"], "subnets": ["subnet-0123456789abcdef0"]},
        "enableNetworkIsolation": True,
    }
    apply(kubectl, manifest("Model", "pipeline", spec), namespace)
    obj = wait_for(lambda: ready(kubectl, "model", namespace, "pipeline"), timeout=30, what="Ready")
    described = emulator.client("sagemaker").describe_model(ModelName=obj["status"]["modelName"])
    assert [c["Image"] for c in described["Containers"]] == [f"{IMAGE}:pre", f"{IMAGE}:main"]
    assert described["InferenceExecutionConfig"] == {"Mode": "Direct"}
    assert described["VpcConfig"]["Subnets"] == ["subnet-0123456789abcdef0"]
    assert described["EnableNetworkIsolation"] is True


def test_failed_training_job_stalls_the_model(operator, emulator, kubectl, namespace):
    job_name = f"{namespace}-diverges"[:63]
    emulator.control.fail_training_job(job_name, reason="AlgorithmError: loss diverged")
    job = manifest("TrainingJob", "diverges", {
        "trainingJobName": job_name,
        "algorithmSpecification": {"trainingImage": f"{IMAGE}:latest", "trainingInputMode": "File"},
        "roleArn": ROLE,
        "outputDataConfig": {"s3OutputPath": "s3://kubemaker-demo/output"},
        "resourceConfig": {"instanceType": "ml.m5.large", "instanceCount": 1, "volumeSizeInGB": 5},
        "stoppingCondition": {"maxRuntimeInSeconds": 600},
    })
    dependent = model("from-job", primaryContainer={"image": f"{IMAGE}:1.0",
                                                    "modelDataFrom": {"trainingJobRef": {"name": "diverges"}}})
    apply(kubectl, {"apiVersion": "v1", "kind": "List", "items": [job, dependent]}, namespace)
    obj = wait_for(lambda: stalled(kubectl, "model", namespace, "from-job"), timeout=60, what="Model Stalled")
    assert condition(obj, "Stalled")["reason"] == "TrainingJobFailed"
    assert "diverges" in condition(obj, "Stalled")["message"]
    assert models(emulator, f"{namespace}-from-job") == []


def test_a_revision_kept_for_an_endpoint_goes_with_the_endpoint(operator, emulator, kubectl, namespace):
    apply(kubectl, model("kept"), namespace)
    apply(kubectl, endpoint("kept", [variant("main", "kept")]), namespace)
    first = wait_for(lambda: ready(kubectl, "endpoint", namespace, "kept"), timeout=60, what="Endpoint Ready")
    old_revision = get(kubectl, "model", namespace, "kept")["status"]["modelName"]

    # The roll to the new revision fails: the endpoint keeps serving the old one, so it stays.
    emulator.control.fail_next_endpoint_update(first["status"]["endpointName"], reason="ModelError: ping failed")
    apply(kubectl, model("kept", tag="2.0"), namespace)
    wait_for(lambda: stalled(kubectl, "endpoint", namespace, "kept"), timeout=60, what="Endpoint Stalled")
    obj = wait_for(lambda: ready(kubectl, "model", namespace, "kept"), timeout=30, what="Model Ready")
    assert [r["modelName"] for r in obj["status"]["revisions"]] == [old_revision, f"{old_revision}-r2"]
    assert old_revision in condition(obj, "Ready")["message"]

    kubectl("delete", "endpoint", "kept", "-n", namespace, "--timeout=60s")
    wait_for(lambda: models(emulator, old_revision) == [f"{old_revision}-r2"], timeout=30, what="old revision deleted")
