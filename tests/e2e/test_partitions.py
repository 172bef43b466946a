"""The operator in the China and GovCloud (US) partitions: a TrainingJob and an Endpoint (with its
Model) with `spec.region: cn-north-1`, and the same in `us-gov-west-1`. SageMaker's ARNs are in the
region's partition, and so are what the operator builds itself: console links and the invocation
URL; ownership tags are read by those ARNs, and deletion cleans up in that region."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import PARTITIONS_NAMESPACE
from tests.e2e.helpers import apply, get, wait_for
from tests.e2e.hosting import endpoint, model, ready, variant
from tests.e2e.test_trainingjob import training_job

# region -> (partition, console host, DNS suffix of the region's endpoints)
PARTITIONS = {
    "cn-north-1": ("aws-cn", "https://console.amazonaws.cn/", "amazonaws.com.cn"),
    "us-gov-west-1": ("aws-us-gov", "https://console.amazonaws-us-gov.com/", "amazonaws.com"),
}


@pytest.fixture(scope="module")
def namespace(kubectl) -> str:
    kubectl("create", "namespace", PARTITIONS_NAMESPACE, check=False)
    return PARTITIONS_NAMESPACE


@pytest.mark.parametrize("region", sorted(PARTITIONS))
def test_a_training_job_and_an_endpoint_in_another_partition(operator, emulator, kubectl, namespace, region):
    partition, console, dns_suffix = PARTITIONS[region]
    role = f"arn:{partition}:iam::123456789012:role/SageMakerExecution"
    stem = region.split("-")[0]
    job = training_job(f"{stem}-train", roleArn=role, region=region)
    for member in ("enableManagedSpotTraining", "checkpointConfig"):
        job["spec"].pop(member)
    job["spec"]["stoppingCondition"] = {"maxRuntimeInSeconds": 600}
    apply(kubectl, {"apiVersion": "v1", "kind": "List", "items": [
        job,
        model(f"{stem}-model", executionRoleArn=role, region=region),
        endpoint(f"{stem}-endpoint", [variant("main", f"{stem}-model")], region=region),
    ]}, namespace)

    trained = wait_for(lambda: ready(kubectl, "trainingjob", namespace, f"{stem}-train"), timeout=90,
                       what=lambda: get(kubectl, "trainingjob", namespace, f"{stem}-train"))["status"]
    served = wait_for(lambda: ready(kubectl, "endpoint", namespace, f"{stem}-endpoint"), timeout=90,
                      what=lambda: get(kubectl, "endpoint", namespace, f"{stem}-endpoint"))["status"]
    modelled = get(kubectl, "model", namespace, f"{stem}-model")["status"]
    arn_prefix = f"arn:{partition}:sagemaker:{region}:"
    for arn in (trained["trainingJobArn"], modelled["modelArn"], served["endpointArn"]):
        assert arn.startswith(arn_prefix), arn
    for status in (trained, modelled, served):
        assert status["consoleUrl"].startswith(f"{console}sagemaker/home?region={region}#/"), status["consoleUrl"]
    assert served["invocationUrl"] == (
        f"https://runtime.sagemaker.{region}.{dns_suffix}/endpoints/{served['endpointName']}/invocations")

    sagemaker = emulator.client("sagemaker", region=region)
    tags = {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=served["endpointArn"])["Tags"]}
    assert tags.get("kubemaker.io/namespace") == namespace

    kubectl("delete", "endpoint", f"{stem}-endpoint", "-n", namespace, "--wait=false")
    kubectl("delete", "model", f"{stem}-model", "-n", namespace, "--wait=false")

    def gone() -> bool:
        endpoints = sagemaker.list_endpoints(NameContains=served["endpointName"])["Endpoints"]
        models = sagemaker.list_models(NameContains=modelled["modelName"])["Models"]
        return not endpoints and not models

    wait_for(gone, timeout=90, what=f"endpoint and model deleted in {region}")
