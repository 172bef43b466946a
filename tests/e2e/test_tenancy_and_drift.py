"""Tenancy: a namespace cannot reach another's SageMaker objects by naming them. Drift: SageMaker
objects changed behind the operator's back are reported and repaired where the spec says so.
References: an object whose referenced object is missing or deleted waits, creating nothing, and
converges once it is back."""

from __future__ import annotations

from tests.e2e.helpers import apply, condition, events_for, get, slowed, wait_for
from tests.e2e.hosting import endpoint, model, ready, stalled, variant
from tests.e2e.test_trainingjob import training_job


def test_a_namespace_cannot_take_another_namespaces_job_by_name(operator, emulator, kubectl, namespace):
    other = f"{namespace[:50]}-b"
    kubectl("create", "namespace", other)
    with slowed(emulator, training_training=20):
        apply(kubectl, training_job("victim"), other)
        victim = wait_for(lambda: get(kubectl, "trainingjob", other, "victim").get("status", {}).get("trainingJobArn")
                          and get(kubectl, "trainingjob", other, "victim"), timeout=30, what="victim created")
        job_name = victim["status"]["trainingJobName"]

        apply(kubectl, training_job("thief", trainingJobName=job_name), namespace)
        thief = wait_for(lambda: stalled(kubectl, "trainingjob", namespace, "thief"), timeout=30, what="thief Stalled")
        assert condition(thief, "Stalled")["reason"] == "NameInUse"
        assert f"TrainingJob {other}/victim" in condition(thief, "Stalled")["message"]
        assert "trainingJobArn" not in thief["status"], "another namespace's job must not be reported as ours"

        kubectl("delete", "trainingjob", "thief", "-n", namespace, "--timeout=60s")
        described = emulator.client("sagemaker").describe_training_job(TrainingJobName=job_name)
        assert described["TrainingJobStatus"] == "InProgress", "deleting the thief must not stop the victim's job"


def test_a_model_deleted_behind_the_operators_back_gets_a_new_revision(operator, emulator, kubectl, namespace):
    apply(kubectl, model("drifted"), namespace)
    first = wait_for(lambda: ready(kubectl, "model", namespace, "drifted"), timeout=30, what="Model Ready")
    sagemaker = emulator.client("sagemaker")
    sagemaker.delete_model(ModelName=first["status"]["modelName"])
    wait_for(lambda: "RevisionMissing" in [e["reason"] for e in events_for(kubectl, namespace, "drifted")],
             timeout=60, what="the deletion reported after the resync")
    repaired = wait_for(lambda: ready(kubectl, "model", namespace, "drifted"), timeout=30, what="Ready again")
    sagemaker.describe_model(ModelName=repaired["status"]["modelName"])


def test_an_endpoint_deleted_behind_the_operators_back_is_created_again(operator, emulator, kubectl, namespace):
    apply(kubectl, model("svc"), namespace)
    apply(kubectl, endpoint("svc", [variant("main", "svc")]), namespace)
    first = wait_for(lambda: ready(kubectl, "endpoint.sagemaker.kubemaker.io", namespace, "svc"), timeout=60,
                     what="Endpoint Ready")
    name = first["status"]["endpointName"]
    emulator.client("sagemaker").delete_endpoint(EndpointName=name)
    # The tracker's full listing or the next pass sees it gone; the spec still asks for it.
    wait_for(lambda: _exists(emulator, name), timeout=90, what="the endpoint created again")
    again = wait_for(lambda: ready(kubectl, "endpoint.sagemaker.kubemaker.io", namespace, "svc"), timeout=60,
                     what="Endpoint Ready again")
    assert again["status"]["endpointName"] == name


def _exists(emulator, endpoint_name: str) -> bool:
    endpoints = emulator.client("sagemaker").list_endpoints(NameContains=endpoint_name)["Endpoints"]
    return any(e["EndpointName"] == endpoint_name and e["EndpointStatus"] == "InService" for e in endpoints)


def test_a_model_waits_when_its_training_job_is_deleted(operator, emulator, kubectl, namespace):
    with slowed(emulator, training_training=20):
        apply(kubectl, training_job("source"), namespace)
        apply(kubectl, model("from-job", primaryContainer={
            "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:1.0",
            "modelDataFrom": {"trainingJobRef": {"name": "source"}}}), namespace)
        wait_for(lambda: condition(get(kubectl, "model", namespace, "from-job"), "Ready").get("reason")
                 == "WaitingForTrainingJob", timeout=30, what="waiting for the job")
        kubectl("delete", "trainingjob", "source", "-n", namespace, "--timeout=60s")
        obj = wait_for(lambda: "to be created" in condition(get(kubectl, "model", namespace, "from-job"),
                                                            "Ready").get("message", "")
                       and get(kubectl, "model", namespace, "from-job"), timeout=30, what="waiting for a new job")
    assert condition(obj, "Reconciling")["status"] == "True"
    assert operator.process.poll() is None
    assert not [e for e in events_for(kubectl, namespace, "from-job") if e["reason"] == "Created"]


def test_an_endpoint_waits_while_its_model_is_missing_or_deleted(operator, emulator, kubectl, namespace):
    def waiting_for(state: str):
        obj = get(kubectl, "endpoint.sagemaker.kubemaker.io", namespace, "svc")
        reconciling = condition(obj, "Reconciling")
        return (reconciling.get("status") == "True" and reconciling.get("reason") == "WaitingForModel"
                and f"waiting for Model late {state}" in reconciling.get("message", "") and obj)

    # The Endpoint comes first: its Model does not exist yet.
    apply(kubectl, endpoint("svc", [variant("main", "late")]), namespace)
    wait_for(lambda: waiting_for("to be created"), timeout=30, what="waiting for the Model to exist")
    with slowed(emulator, training_training=30):
        # The Model arrives but waits for its training job; then it is deleted while the Endpoint waits.
        apply(kubectl, training_job("late-source"), namespace)
        apply(kubectl, model("late", primaryContainer={
            "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:1.0",
            "modelDataFrom": {"trainingJobRef": {"name": "late-source"}}}), namespace)
        wait_for(lambda: waiting_for("to create its SageMaker model"), timeout=30, what="waiting for the Model's revision")
        kubectl("delete", "model", "late", "-n", namespace, "--timeout=60s")
        wait_for(lambda: waiting_for("to be created"), timeout=30, what="waiting for the Model again")
    sagemaker = emulator.client("sagemaker")
    assert operator.process.poll() is None
    assert not [e for e in events_for(kubectl, namespace, "svc") if e["reason"] == "Created"]
    assert sagemaker.list_endpoints(NameContains=namespace)["Endpoints"] == []
    assert sagemaker.list_endpoint_configs(NameContains=namespace)["EndpointConfigs"] == []

    # Re-created, the Model is Ready and the Endpoint converges on its revision.
    apply(kubectl, model("late"), namespace)
    revision = wait_for(lambda: ready(kubectl, "model", namespace, "late"), timeout=30, what="Model Ready")["status"]["modelName"]
    obj = wait_for(lambda: ready(kubectl, "endpoint.sagemaker.kubemaker.io", namespace, "svc"), timeout=60,
                   what="Endpoint Ready")
    config = sagemaker.describe_endpoint_config(EndpointConfigName=obj["status"]["endpointConfigName"])
    assert [v["ModelName"] for v in config["ProductionVariants"]] == [revision]
