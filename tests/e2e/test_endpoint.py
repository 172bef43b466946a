"""Endpoint end to end: least disruptive updates, blue/green rollouts, autoscaling, failures, cleanup."""

from __future__ import annotations

import time

import yaml

from tests.e2e.helpers import apply, condition, events_for, get, wait_for
from tests.e2e.hosting import (
    IMAGE,
    ROLE,
    endpoint,
    endpoint_configs,
    manifest,
    model,
    models,
    ready,
    scalable_targets,
    scaling_policies,
    stalled,
    variant,
)

CANARY = {
    "blueGreenUpdatePolicy": {
        "trafficRoutingConfiguration": {
            "type": "CANARY", "waitIntervalInSeconds": 0, "canarySize": {"type": "CAPACITY_PERCENT", "value": 10},
        },
    },
    "autoRollbackConfiguration": {"alarms": [{"alarmName": "fraud-5xx"}]},
}


def calls(emulator, service: str = "sagemaker") -> dict[str, int]:
    return emulator.control.call_counts()["calls"].get(service, {})


def ready_where(kubectl, namespace: str, name: str, predicate, timeout: float = 60, what: str = "Ready"):
    return wait_for(
        lambda: (obj := ready(kubectl, "endpoint", namespace, name)) and predicate(obj) and obj,
        timeout=timeout, what=what,
    )


def weights(obj: dict) -> dict[str, float]:
    return {v["variantName"]: v["currentWeight"] for v in obj["status"]["productionVariants"]}


def test_weights_shift_without_new_config_then_canary_instance_type_change(operator, emulator, kubectl, namespace):
    apply(kubectl, {"apiVersion": "v1", "kind": "List", "items": [model("blue"), model("green", tag="2.0")]}, namespace)
    variants = [variant("blue", "blue", weight=90), variant("green", "green", weight=10)]
    apply(kubectl, endpoint("fraud", variants, deploymentConfig=CANARY), namespace)
    first = ready_where(kubectl, namespace, "fraud", lambda o: True)
    name, config = first["status"]["endpointName"], first["status"]["endpointConfigName"]
    assert weights(first) == {"blue": 90, "green": 10}
    assert first["status"]["variantSummary"] == "blue=90%(1) green=10%(1)"
    assert first["status"]["invocationUrl"].endswith(f"/endpoints/{name}/invocations")
    assert endpoint_configs(emulator, namespace) == [config]

    # Weights only: UpdateEndpointWeightsAndCapacities, no new config.
    emulator.control.reset_call_counts()
    variants = [variant("blue", "blue", weight=0), variant("green", "green", weight=100)]
    apply(kubectl, endpoint("fraud", variants, deploymentConfig=CANARY), namespace)
    shifted = ready_where(kubectl, namespace, "fraud", lambda o: weights(o) == {"blue": 0, "green": 100})
    assert shifted["status"]["endpointConfigName"] == config
    assert endpoint_configs(emulator, namespace) == [config]
    assert calls(emulator).get("UpdateEndpointWeightsAndCapacities") == 1
    assert "UpdateEndpoint" not in calls(emulator) and "CreateEndpointConfig" not in calls(emulator)

    # An instance type change: a new config, rolled out blue/green canary.
    variants = [variant("blue", "blue", weight=0), variant("green", "green", weight=100, instance_type="ml.m5.xlarge")]
    apply(kubectl, endpoint("fraud", variants, deploymentConfig=CANARY), namespace)
    rolling = wait_for(
        lambda: (o := get(kubectl, "endpoint", namespace, "fraud")).get("status", {}).get("endpointStatus") == "Updating"
        and o["status"].get("pendingEndpointConfigName") and o,
        timeout=30, interval=0.2, what="Updating with a pending config",
    )
    new_config = rolling["status"]["pendingEndpointConfigName"]
    assert rolling["status"]["endpointConfigName"] == config != new_config
    assert condition(rolling, "Reconciling")["status"] == "True"
    done = ready_where(kubectl, namespace, "fraud", lambda o: o["status"]["endpointConfigName"] == new_config)
    assert "pendingEndpointConfigName" not in done["status"]
    assert weights(done) == {"blue": 0, "green": 100}
    wait_for(lambda: endpoint_configs(emulator, namespace) == [new_config], timeout=30, what="old config deleted")
    described = emulator.client("sagemaker").describe_endpoint(EndpointName=name)
    assert described["LastDeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == "CANARY"
    table = kubectl("get", "smep", "fraud", "-n", namespace).stdout
    assert "InService" in table and "blue=0%(1) green=100%(1)" in table


def test_autoscaling_added_changed_removed_and_kept_across_instance_type_change(operator, emulator, kubectl, namespace):
    apply(kubectl, model("scaled"), namespace)
    plain = variant("main", "scaled", count=2)
    apply(kubectl, endpoint("scaled", [plain]), namespace)
    name = ready_where(kubectl, namespace, "scaled", lambda o: True)["status"]["endpointName"]

    scaling = {"minCapacity": 1, "maxCapacity": 4, "targetInvocationsPerInstance": 100, "scaleInCooldown": 300}
    apply(kubectl, endpoint("scaled", [{**plain, "autoScaling": scaling}]), namespace)
    ready_where(kubectl, namespace, "scaled", lambda o: o["status"].get("autoScaledVariants") == ["main"])
    target = scalable_targets(emulator, name)["main"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 4)
    policy = scaling_policies(emulator, name)["main"]["TargetTrackingScalingPolicyConfiguration"]
    assert policy["TargetValue"] == 100 and policy["ScaleInCooldown"] == 300
    assert policy["PredefinedMetricSpecification"]["PredefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"

    # The scaler's count is left alone.
    emulator.control.reset_call_counts()
    emulator.control.set_variant_instance_count(name, "main", 3)
    scaled = ready_where(
        kubectl, namespace, "scaled",
        lambda o: o["status"]["productionVariants"][0].get("currentInstanceCount") == 3, what="the scaler's count",
    )
    time.sleep(1)
    assert "UpdateEndpointWeightsAndCapacities" not in calls(emulator)
    assert scaled["status"]["variantSummary"] == "main=100%(3)"

    scaling = {**scaling, "maxCapacity": 6, "targetInvocationsPerInstance": 200}
    apply(kubectl, endpoint("scaled", [{**plain, "autoScaling": scaling}]), namespace)
    wait_for(lambda: scalable_targets(emulator, name)["main"]["MaxCapacity"] == 6, timeout=30, what="max 6")
    wait_for(
        lambda: scaling_policies(emulator, name)["main"]["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 200,
        timeout=30, what="target 200",
    )

    # SageMaker refuses an instance type change under a scalable target: deregister, update, register.
    emulator.control.reset_call_counts()
    bigger = {**plain, "instanceType": "ml.m5.xlarge", "autoScaling": scaling}
    apply(kubectl, endpoint("scaled", [bigger]), namespace)
    moved = ready_where(
        kubectl, namespace, "scaled", lambda o: o["status"].get("autoScaledVariants") == ["main"]
        and o["metadata"]["generation"] == o["status"]["observedGeneration"] and not o["status"].get("pendingEndpointConfigName"),
        what="moved with autoscaling",
    )
    config = emulator.client("sagemaker").describe_endpoint_config(EndpointConfigName=moved["status"]["endpointConfigName"])
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.m5.xlarge"
    assert config["ProductionVariants"][0]["InitialInstanceCount"] == 3  # the scaler's, not the spec's 2
    assert calls(emulator, "application-autoscaling").get("DeregisterScalableTarget") == 1
    assert scalable_targets(emulator, name)["main"]["MaxCapacity"] == 6
    assert "main" in scaling_policies(emulator, name)

    # Removed: deregistered, and the spec's count applies again.
    apply(kubectl, endpoint("scaled", [{**plain, "instanceType": "ml.m5.xlarge"}]), namespace)
    ready_where(
        kubectl, namespace, "scaled", lambda o: "autoScaledVariants" not in o["status"]
        and o["status"]["productionVariants"][0].get("currentInstanceCount") == 2, what="autoscaling removed",
    )
    assert scalable_targets(emulator, name) == {} and scaling_policies(emulator, name) == {}


def test_failed_update_keeps_the_old_config_and_stalls(operator, emulator, kubectl, namespace):
    apply(kubectl, model("fragile"), namespace)
    apply(kubectl, endpoint("fragile", [variant("main", "fragile")]), namespace)
    first = ready_where(kubectl, namespace, "fragile", lambda o: True)
    name, config = first["status"]["endpointName"], first["status"]["endpointConfigName"]

    emulator.control.fail_next_endpoint_update(name, reason="InsufficientCapacity: no ml.c5.xlarge capacity")
    apply(kubectl, endpoint("fragile", [variant("main", "fragile", instance_type="ml.c5.xlarge")]), namespace)
    obj = wait_for(lambda: stalled(kubectl, "endpoint", namespace, "fragile"), timeout=60, what="Stalled")
    assert condition(obj, "Stalled")["reason"] == "UpdateFailed"
    assert "no ml.c5.xlarge capacity" in condition(obj, "Stalled")["message"]
    assert obj["status"]["endpointConfigName"] == config
    [tried] = obj["status"]["failedEndpointConfigNames"]
    described = emulator.client("sagemaker").describe_endpoint(EndpointName=name)
    assert described["EndpointStatus"] == "InService" and described["EndpointConfigName"] == config
    assert any(e["reason"] == "UpdateFailed" and e["type"] == "Warning" for e in events_for(kubectl, namespace, "fragile"))
    emulator.control.reset_call_counts()
    time.sleep(2)  # no retry until the spec changes
    assert "UpdateEndpoint" not in calls(emulator)

    # Back to the old spec: nothing to roll out, and the tried config goes.
    apply(kubectl, endpoint("fragile", [variant("main", "fragile")]), namespace)
    ready_where(kubectl, namespace, "fragile", lambda o: "failedEndpointConfigNames" not in o["status"])
    assert endpoint_configs(emulator, namespace) == [config] and tried != config


def test_failed_creation_is_recreated_only_after_a_spec_change(operator, emulator, kubectl, namespace):
    name = f"{namespace}-broken"[:63]
    emulator.control.fail_endpoint_creation(name, reason="ModelError: container did not pass ping health check")
    apply(kubectl, model("broken"), namespace)
    apply(kubectl, endpoint("broken", [variant("main", "broken")], endpointName=name), namespace)
    obj = wait_for(lambda: stalled(kubectl, "endpoint", namespace, "broken"), timeout=60, what="Stalled")
    assert condition(obj, "Stalled")["reason"] == "EndpointFailed"
    assert "ping health check" in condition(obj, "Stalled")["message"]
    arn = obj["status"]["endpointArn"]
    time.sleep(1)
    assert emulator.client("sagemaker").describe_endpoint(EndpointName=name)["EndpointStatus"] == "Failed"

    apply(kubectl, endpoint("broken", [variant("main", "broken", weight=2)], endpointName=name), namespace)
    recreated = ready_where(kubectl, namespace, "broken", lambda o: True, what="recreated")
    assert recreated["status"]["endpointArn"] == arn  # same name, new endpoint
    assert "Recreating" in [e["reason"] for e in events_for(kubectl, namespace, "broken")]


def test_serverless_shadow_capture_kms_and_async_are_passed_through(operator, emulator, kubectl, namespace):
    apply(kubectl, model("passthrough"), namespace)
    serverless = {"variantName": "main", "modelRef": {"name": "passthrough"},
                  "serverlessConfig": {"memorySizeInMB": 2048, "maxConcurrency": 5, "provisionedConcurrency": 1}}
    apply(kubectl, endpoint("serverless", [serverless]), namespace)
    shadowed = endpoint(
        "shadowed", [variant("prod", "passthrough")],
        shadowProductionVariants=[variant("shadow", "passthrough", weight=0.5)],
        dataCaptureConfig={"enableCapture": True, "initialSamplingPercentage": 20,
                           "destinationS3Uri": "s3://kubemaker-demo/capture/",
                           "captureOptions": [{"captureMode": "Input"}, {"captureMode": "Output"}]},
        kmsKeyId="arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        asyncInferenceConfig={"outputConfig": {"s3OutputPath": "s3://kubemaker-demo/async/"}},
    )
    apply(kubectl, shadowed, namespace)
    first = ready_where(kubectl, namespace, "serverless", lambda o: True)
    other = ready_where(kubectl, namespace, "shadowed", lambda o: True)
    sagemaker = emulator.client("sagemaker")
    config = sagemaker.describe_endpoint_config(EndpointConfigName=other["status"]["endpointConfigName"])
    assert config["ShadowProductionVariants"][0]["VariantName"] == "shadow"
    assert config["DataCaptureConfig"]["InitialSamplingPercentage"] == 20
    assert config["KmsKeyId"].endswith("1234567890ab")
    assert config["AsyncInferenceConfig"]["OutputConfig"]["S3OutputPath"] == "s3://kubemaker-demo/async/"
    assert [v["variantName"] for v in other["status"]["shadowProductionVariants"]] == ["shadow"]

    # Serverless concurrency is changed in place too.
    emulator.control.reset_call_counts()
    more = {**serverless, "serverlessConfig": {**serverless["serverlessConfig"], "maxConcurrency": 10}}
    apply(kubectl, endpoint("serverless", [more]), namespace)
    done = ready_where(
        kubectl, namespace, "serverless",
        lambda o: o["status"]["productionVariants"][0]["currentServerlessConfig"]["maxConcurrency"] == 10,
    )
    assert done["status"]["endpointConfigName"] == first["status"]["endpointConfigName"]
    assert "CreateEndpointConfig" not in calls(emulator)


def test_existing_endpoint_is_adopted_only_when_allowed(operator, emulator, kubectl, namespace):
    sagemaker = emulator.client("sagemaker")
    name = f"{namespace}-legacy"[:63]
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": f"{IMAGE}:1.0"})
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
        {"VariantName": "main", "ModelName": name, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    legacy = {"variantName": "main", "modelName": name, "instanceType": "ml.m5.large", "initialInstanceCount": 1}
    apply(kubectl, endpoint("legacy", [legacy], endpointName=name, adoptExisting=True), namespace)
    obj = wait_for(lambda: stalled(kubectl, "endpoint", namespace, "legacy"), timeout=30, what="Stalled")
    assert condition(obj, "Stalled")["reason"] == "AdoptionNotAllowed"
    tags = sagemaker.list_tags(ResourceArn=sagemaker.describe_endpoint(EndpointName=name)["EndpointArn"])["Tags"]
    assert not [tag for tag in tags if tag["Key"].startswith("kubemaker.io/")]


def test_trainingjob_model_endpoint_in_one_apply_then_delete_leaves_nothing(operator, emulator, kubectl, namespace):
    job = manifest("TrainingJob", "churn", {
        "algorithmSpecification": {"trainingImage": f"{IMAGE}:latest", "trainingInputMode": "File"},
        "roleArn": ROLE,
        "outputDataConfig": {"s3OutputPath": "s3://kubemaker-demo/output"},
        "resourceConfig": {"instanceType": "ml.m5.large", "instanceCount": 1, "volumeSizeInGB": 5},
        "stoppingCondition": {"maxRuntimeInSeconds": 600},
    })
    from_job = model("churn", primaryContainer={"image": f"{IMAGE}:1.0", "modelDataFrom": {"trainingJobRef": {"name": "churn"}}})
    scaled = variant("main", "churn", autoScaling={"minCapacity": 1, "maxCapacity": 2, "targetInvocationsPerInstance": 50})
    chain = {"apiVersion": "v1", "kind": "List", "items": [job, from_job, endpoint("churn", [scaled])]}
    kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(chain))

    waiting = wait_for(
        lambda: condition(o := get(kubectl, "model", namespace, "churn"), "Reconciling").get("reason") == "WaitingForTrainingJob" and o,
        timeout=30, interval=0.2, what="Model waiting for the TrainingJob",
    )
    assert "TrainingJob churn" in condition(waiting, "Reconciling")["message"]
    done = ready_where(kubectl, namespace, "churn", lambda o: o["status"].get("autoScaledVariants") == ["main"], timeout=90)
    job_status = get(kubectl, "trainingjob", namespace, "churn")["status"]
    model_status = get(kubectl, "model", namespace, "churn")["status"]
    sagemaker = emulator.client("sagemaker")
    described = sagemaker.describe_model(ModelName=model_status["modelName"])
    assert described["PrimaryContainer"]["ModelDataUrl"] == job_status["modelArtifacts"]["s3ModelArtifacts"]
    name = done["status"]["endpointName"]

    kubectl("delete", "-n", namespace, "-f", "-", "--timeout=60s", input=yaml.safe_dump(chain))
    assert sagemaker.list_endpoints(NameContains=namespace)["Endpoints"] == []
    assert endpoint_configs(emulator, namespace) == []
    assert models(emulator, namespace) == []
    assert scalable_targets(emulator, name) == {} and scaling_policies(emulator, name) == {}


def test_retain_keeps_endpoint_and_configs(operator, emulator, kubectl, namespace):
    sagemaker = emulator.client("sagemaker")
    model_name = f"{namespace}-kept"[:63]
    sagemaker.create_model(ModelName=model_name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": f"{IMAGE}:1.0"})
    literal = {"variantName": "main", "modelName": model_name, "instanceType": "ml.m5.large", "initialInstanceCount": 1}
    apply(kubectl, endpoint("kept", [literal], deletionPolicy="Retain"), namespace)
    obj = ready_where(kubectl, namespace, "kept", lambda o: True)
    kubectl("delete", "endpoint", "kept", "-n", namespace, "--timeout=60s")
    name = obj["status"]["endpointName"]
    assert sagemaker.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"
    assert endpoint_configs(emulator, namespace) == [obj["status"]["endpointConfigName"]]
    assert models(emulator, model_name) == [model_name]
