"""Manifests and probes shared by the Model and Endpoint end-to-end tests."""

from __future__ import annotations

from tests.e2e.helpers import condition, get

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost"
API_VERSION = "sagemaker.kubemaker.io/v1alpha1"


def manifest(kind: str, name: str, spec: dict) -> dict:
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name}, "spec": spec}


def model(name: str, tag: str = "1.0", **spec_overrides) -> dict:
    spec = {
        "executionRoleArn": ROLE,
        "primaryContainer": {"image": f"{IMAGE}:{tag}", "modelDataUrl": f"s3://kubemaker-demo/{name}/model.tar.gz"},
    }
    spec.update(spec_overrides)
    return manifest("Model", name, spec)


def variant(name: str, model_ref: str, weight: float = 1, count: int = 1, instance_type: str = "ml.m5.large", **extra) -> dict:
    return {"variantName": name, "modelRef": {"name": model_ref}, "instanceType": instance_type,
            "initialInstanceCount": count, "initialVariantWeight": weight, **extra}


def endpoint(name: str, variants: list[dict], **spec_overrides) -> dict:
    return manifest("Endpoint", name, {"productionVariants": variants, **spec_overrides})


def with_condition(kubectl, resource: str, namespace: str, name: str, condition_type: str, generation: bool = True):
    """The object once `condition_type` is True for its current generation, else None."""
    obj = get(kubectl, resource, namespace, name)
    found = condition(obj, condition_type)
    current = not generation or found.get("observedGeneration") == obj["metadata"]["generation"]
    return obj if found.get("status") == "True" and current else None


def ready(kubectl, resource: str, namespace: str, name: str):
    return with_condition(kubectl, resource, namespace, name, "Ready")


def stalled(kubectl, resource: str, namespace: str, name: str):
    return with_condition(kubectl, resource, namespace, name, "Stalled")


def endpoint_configs(emulator, name_contains: str) -> list[str]:
    listing = emulator.client("sagemaker").list_endpoint_configs(NameContains=name_contains, MaxResults=100)
    return sorted(config["EndpointConfigName"] for config in listing["EndpointConfigs"])


def models(emulator, name_contains: str) -> list[str]:
    listing = emulator.client("sagemaker").list_models(NameContains=name_contains, MaxResults=100)
    return sorted(m["ModelName"] for m in listing["Models"])


def scalable_targets(emulator, endpoint_name: str) -> dict[str, dict]:
    answer = emulator.client("application-autoscaling").describe_scalable_targets(ServiceNamespace="sagemaker")
    prefix = f"endpoint/{endpoint_name}/variant/"
    return {t["ResourceId"].removeprefix(prefix): t for t in answer["ScalableTargets"] if t["ResourceId"].startswith(prefix)}


def scaling_policies(emulator, endpoint_name: str) -> dict[str, dict]:
    answer = emulator.client("application-autoscaling").describe_scaling_policies(ServiceNamespace="sagemaker")
    prefix = f"endpoint/{endpoint_name}/variant/"
    return {p["ResourceId"].removeprefix(prefix): p for p in answer["ScalingPolicies"] if p["ResourceId"].startswith(prefix)}
