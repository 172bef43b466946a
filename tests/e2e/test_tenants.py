"""Tenant A and tenant B share a cluster and an account; B tries every way the issue names to reach
A's SageMaker objects and roles: by name (models, pipelines, tuning jobs), by adoption, by squatting
a name, by passing A's roles on create and update and inside pipeline definitions (inline,
ConfigMap, S3) and execution parameters. (Model package groups and versions by name or ARN:
tests/e2e/test_model_registry.py.)

Cross-namespace effects are counted from the emulator: while B's attempts are reconciled, SageMaker
receives no mutating call at all, A's objects keep their tags and state, and no SageMaker object
carries B's ownership tags but the two pipelines B made before the attempts. Refusals: each of B's
objects shows the documented Stalled reason (docs/troubleshooting.md)."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import TENANT_A, TENANT_B, TENANT_ROLES
from tests.e2e.helpers import apply, condition, get, wait_for
from tests.e2e.hosting import IMAGE, manifest, model, ready, stalled, variant
from tests.e2e.test_pipeline import definition
from tests.e2e.test_trainingjob import training_job
from tests.e2e.test_transform import transform_job
from tests.e2e.test_tuning import tuning_job

ROLE_A, ROLE_B = TENANT_ROLES[TENANT_A], TENANT_ROLES[TENANT_B]
DEFINITIONS_BUCKET = "tenant-b-definitions"
# Calls that change something in SageMaker or Application Auto Scaling.
MUTATING = ("Create", "Update", "Delete", "Start", "Stop", "Add", "Put", "Register", "Deregister", "Retry", "Send")
ENDPOINT = "endpoint.sagemaker.kubemaker.io"


def role_definition(role, default_role: str = ROLE_B) -> dict:
    """A pipeline definition whose training step passes `role`, with a Role parameter for executions."""
    document = definition()
    document["Parameters"].append({"Name": "Role", "Type": "String", "DefaultValue": default_role})
    document["Steps"].append({"Name": "Train", "Type": "Training", "Arguments": {"RoleArn": role}})
    return document


def pipeline(name: str, role: str = ROLE_B, **spec) -> dict:
    return manifest("Pipeline", name, {"roleArn": role, **spec})


def literal_variant(model_name: str, **extra) -> dict:
    return {"variantName": "main", "modelName": model_name, "instanceType": "ml.m5.large", "initialInstanceCount": 1,
            "initialVariantWeight": 1.0, **extra}


def ensure_namespace(kubectl, name: str) -> None:
    apply(kubectl, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


@pytest.fixture(scope="module")
def tenant_a(operator, emulator, kubectl) -> dict:
    """A's objects, Ready: a Model, an Endpoint on it, a Pipeline and a tuning job."""
    ensure_namespace(kubectl, TENANT_A)
    apply(kubectl, model("scorer", executionRoleArn=ROLE_A), TENANT_A)
    apply(kubectl, manifest("Endpoint", "web", {"productionVariants": [variant("main", "scorer")]}), TENANT_A)
    apply(kubectl, pipeline("etl", ROLE_A, pipelineDefinition=role_definition({"Get": "Parameters.Role"}, ROLE_A)),
          TENANT_A)
    search = tuning_job("search", 1, 1)
    search["spec"]["trainingJobDefinition"]["roleArn"] = ROLE_A
    apply(kubectl, search, TENANT_A)

    scorer = wait_for(lambda: ready(kubectl, "model", TENANT_A, "scorer"), timeout=60, what="A's Model Ready")
    web = wait_for(lambda: ready(kubectl, ENDPOINT, TENANT_A, "web"), timeout=90, what="A's Endpoint Ready")
    etl = wait_for(lambda: ready(kubectl, "pipeline", TENANT_A, "etl"), timeout=60, what="A's Pipeline Ready")
    tuning = wait_for(lambda: get(kubectl, "hyperparametertuningjob", TENANT_A, "search").get("status", {}).get(
        "hyperParameterTuningJobArn") and get(kubectl, "hyperparametertuningjob", TENANT_A, "search"),
        timeout=60, what="A's tuning job created")
    return {
        "model": scorer["status"]["modelName"], "model_arn": scorer["status"]["modelArn"],
        "endpoint": web["status"]["endpointName"], "endpoint_arn": web["status"]["endpointArn"],
        "endpoint_config": web["status"]["endpointConfigName"],
        "pipeline": etl["status"]["pipelineName"], "pipeline_arn": etl["status"]["pipelineArn"],
        "tuning_job": tuning["status"]["hyperParameterTuningJobName"],
        "tuning_job_arn": tuning["status"]["hyperParameterTuningJobArn"],
    }


def snapshot(emulator, a: dict) -> dict:
    """What B could have changed on A's things: their tags, and the state SageMaker describes."""
    sagemaker = emulator.client("sagemaker")
    config_arn = sagemaker.describe_endpoint_config(EndpointConfigName=a["endpoint_config"])["EndpointConfigArn"]
    arns = [a["model_arn"], a["endpoint_arn"], config_arn, a["pipeline_arn"], a["tuning_job_arn"]]
    endpoint = sagemaker.describe_endpoint(EndpointName=a["endpoint"])
    pipeline_described = sagemaker.describe_pipeline(PipelineName=a["pipeline"])
    return {
        "tags": {arn: sorted((t["Key"], t["Value"]) for t in sagemaker.list_tags(ResourceArn=arn)["Tags"]) for arn in arns},
        "endpoint": (endpoint["EndpointStatus"], endpoint["EndpointConfigName"], endpoint["LastModifiedTime"]),
        "pipeline": (pipeline_described["RoleArn"], pipeline_described["PipelineDefinition"],
                     pipeline_described["LastModifiedTime"]),
        "model": sagemaker.describe_model(ModelName=a["model"])["ModelArn"],
        "executions": sagemaker.list_pipeline_executions(PipelineName=a["pipeline"])["PipelineExecutionSummaries"],
    }


def b_attempts(a: dict) -> dict[tuple[str, str], tuple[dict, str, str]]:
    """(resource, name) -> (B's manifest, the Stalled reason it must show, a phrase of its message)."""
    a_role_job = training_job("role-a", roleArn=ROLE_A)
    a_role_tuning = tuning_job("role-a", 1, 1)
    a_role_tuning["spec"]["trainingJobDefinition"]["roleArn"] = ROLE_A
    warm = tuning_job("warm-from-a", 1, 1, warmStartConfig={
        "warmStartType": "IdenticalDataAndAlgorithm",
        "parentHyperParameterTuningJobs": [{"hyperParameterTuningJobName": a["tuning_job"]}]})
    warm["spec"]["trainingJobDefinition"]["roleArn"] = ROLE_B
    waiting_variant = variant("main", "not-created-yet")
    return {
        # SageMaker objects of A's, by name.
        ("transformjob", "use-a-model"): (transform_job("use-a-model", modelName=a["model"]),
                                          "ReferenceNotAllowed", f"belongs to Model {TENANT_A}/scorer"),
        ("transformjob", "use-outside-model"): (transform_job("use-outside-model", modelName="tenant-b-outside"),
                                                "ReferenceNotAllowed", "no Kubemaker owner"),
        (ENDPOINT, "use-a-model"): (manifest("Endpoint", "use-a-model", {"productionVariants": [literal_variant(a["model"])]}),
                                    "ReferenceNotAllowed", "allowedSageMakerReferences"),
        ("pipelineexecution", "run-a-pipeline"): (
            manifest("PipelineExecution", "run-a-pipeline", {
                "pipelineName": a["pipeline"], "pipelineParameters": [{"name": "Role", "value": ROLE_B}]}),
            "ReferenceNotAllowed", f"belongs to Pipeline {TENANT_A}/etl"),
        ("hyperparametertuningjob", "warm-from-a"): (warm, "ReferenceNotAllowed", f"tuning job {a['tuning_job']}"),
        # Adoption of A's objects, and a squatted name while its Model is still waiting.
        (ENDPOINT, "adopt-a"): (manifest("Endpoint", "adopt-a", {
            "endpointName": a["endpoint"], "adoptExisting": True, "productionVariants": [waiting_variant]}),
            "OwnedByAnotherObject", f"namespace {TENANT_A}, name web"),
        ("model", "adopt-a"): (model("adopt-a", executionRoleArn=ROLE_B, modelName=a["model"], adoptExisting=True),
                               "OwnedByAnotherObject", f"namespace {TENANT_A}, name scorer"),
        ("pipeline", "adopt-a"): (pipeline("adopt-a", pipelineName=a["pipeline"], adoptExisting=True,
                                           pipelineDefinition=definition()),
                                  "OwnedByAnotherObject", f"namespace {TENANT_A}, name etl"),
        (ENDPOINT, "squat-a"): (manifest("Endpoint", "squat-a", {
            "endpointName": a["endpoint"], "productionVariants": [waiting_variant]}),
            "NameInUse", f"Endpoint {TENANT_A}/web"),
        # A's role, on every kind that passes one, and in pipeline definitions from every source.
        ("trainingjob", "role-a"): (a_role_job, "RoleNotAllowed", ROLE_A),
        ("hyperparametertuningjob", "role-a"): (a_role_tuning, "RoleNotAllowed", ROLE_A),
        ("model", "role-a"): (model("role-a", executionRoleArn=ROLE_A), "RoleNotAllowed", "spec.executionRoleArn"),
        (ENDPOINT, "role-a"): (manifest("Endpoint", "role-a", {"executionRoleArn": ROLE_A,
                                                               "productionVariants": [waiting_variant]}),
                               "RoleNotAllowed", ROLE_A),
        ("pipeline", "role-a"): (pipeline("role-a", ROLE_A, pipelineDefinition=definition()), "RoleNotAllowed", "spec.roleArn"),
        ("pipeline", "step-role-inline"): (pipeline("step-role-inline", pipelineDefinition=role_definition(ROLE_A)),
                                           "RoleNotAllowed", "spec.pipelineDefinition"),
        ("pipeline", "step-role-configmap"): (
            pipeline("step-role-configmap",
                     pipelineDefinitionFrom={"configMapKeyRef": {"name": "definitions", "key": "a-role.json"}}),
            "RoleNotAllowed", "ConfigMap definitions key a-role.json"),
        ("pipeline", "step-role-s3"): (
            pipeline("step-role-s3", pipelineDefinitionS3Location={"bucket": DEFINITIONS_BUCKET, "objectKey": "a-role.json"}),
            "RoleNotAllowed", f"s3://{DEFINITIONS_BUCKET}/a-role.json"),
        ("pipelineexecution", "own-with-a-role"): (
            manifest("PipelineExecution", "own-with-a-role", {
                "pipelineRef": {"name": "own-params"}, "pipelineParameters": [{"name": "Role", "value": ROLE_A}]}),
            "RoleNotAllowed", "spec.pipelineParameters Role"),
    }


def mutating_calls(emulator) -> dict[str, int]:
    calls = emulator.control.call_counts()["calls"]
    return {f"{service}:{operation}": count for service, operations in calls.items()
            for operation, count in operations.items() if operation.startswith(MUTATING)}


def b_owned_objects(emulator) -> set[str]:
    """Every SageMaker object whose ownership tags name tenant B."""
    sagemaker = emulator.client("sagemaker")
    listings = [
        ("list_models", "Models", "ModelArn"), ("list_endpoints", "Endpoints", "EndpointArn"),
        ("list_endpoint_configs", "EndpointConfigs", "EndpointConfigArn"),
        ("list_pipelines", "PipelineSummaries", "PipelineArn"), ("list_training_jobs", "TrainingJobSummaries", "TrainingJobArn"),
        ("list_transform_jobs", "TransformJobSummaries", "TransformJobArn"),
        ("list_hyper_parameter_tuning_jobs", "HyperParameterTuningJobSummaries", "HyperParameterTuningJobArn"),
    ]
    owned = set()
    for operation, member, arn_member in listings:
        for page in sagemaker.get_paginator(operation).paginate():
            for summary in page[member]:
                tags = sagemaker.list_tags(ResourceArn=summary[arn_member])["Tags"]
                if {"Key": "kubemaker.io/namespace", "Value": TENANT_B} in tags:
                    owned.add(summary[arn_member])
    return owned


@pytest.fixture(scope="module")
def attack(tenant_a, operator, emulator, kubectl) -> dict:
    """B's own Pipelines made first (Ready, with B's role); then every attempt at once, one of them
    a role change on B's own Pipeline, counted from a zeroed call counter until all are Stalled."""
    ensure_namespace(kubectl, TENANT_B)
    sagemaker = emulator.client("sagemaker")
    sagemaker.create_model(ModelName="tenant-b-outside", ExecutionRoleArn=ROLE_B,
                           PrimaryContainer={"Image": f"{IMAGE}:1.0", "ModelDataUrl": "s3://kubemaker-demo/outside.tar.gz"})
    s3 = emulator.client("s3")
    s3.create_bucket(Bucket=DEFINITIONS_BUCKET)
    s3.put_object(Bucket=DEFINITIONS_BUCKET, Key="a-role.json", Body=json.dumps(role_definition(ROLE_A)).encode())
    apply(kubectl, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "definitions"},
                    "data": {"a-role.json": json.dumps(role_definition(ROLE_A))}}, TENANT_B)
    apply(kubectl, pipeline("own", pipelineDefinition=definition()), TENANT_B)
    apply(kubectl, pipeline("own-params", pipelineDefinition=role_definition({"Get": "Parameters.Role"})), TENANT_B)
    for name in ("own", "own-params"):
        wait_for(lambda: ready(kubectl, "pipeline", TENANT_B, name), timeout=60, what=f"B's Pipeline {name} Ready")
    b_pipelines = {get(kubectl, "pipeline", TENANT_B, name)["status"]["pipelineArn"] for name in ("own", "own-params")}

    before = snapshot(emulator, tenant_a)
    attempts = b_attempts(tenant_a)
    emulator.control.reset_call_counts()
    kubectl("apply", "-n", TENANT_B, "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "List", "items": [obj for obj, _, _ in attempts.values()]}))
    kubectl("patch", "pipeline", "own", "-n", TENANT_B, "--type=merge", "-p", json.dumps({"spec": {"roleArn": ROLE_A}}))
    attempts[("pipeline", "own")] = (None, "RoleNotAllowed", "spec.roleArn")
    shown = {key: wait_for(lambda: stalled(kubectl, key[0], TENANT_B, key[1]), timeout=90,
                           what=lambda: get(kubectl, key[0], TENANT_B, key[1]).get("status"))
             for key in attempts}
    lookups = emulator.control.call_counts()["calls"].get("sagemaker", {}).get("ListTags", 0)
    return {"before": before, "after": snapshot(emulator, tenant_a), "mutating": mutating_calls(emulator), "lookups": lookups,
            "attempts": attempts, "shown": shown, "b_owned": b_owned_objects(emulator), "b_pipelines": b_pipelines}


def test_b_caused_no_call_object_or_tag_change_on_as_things(attack, kubectl):
    # The counter saw the window: B's objects looked up whose A's things are (ListTags), and changed nothing.
    assert attack["lookups"] > 0
    assert attack["mutating"] == {}, f"mutating SageMaker calls while B's attempts were reconciled: {attack['mutating']}"
    assert attack["after"] == attack["before"], "A's SageMaker objects changed"
    assert attack["b_owned"] == attack["b_pipelines"], "SageMaker holds objects B's attempts made"
    for resource, name in ((ENDPOINT, "web"), ("model", "scorer"), ("pipeline", "etl")):
        assert ready(kubectl, resource, TENANT_A, name), f"A's {resource} {name} is no longer Ready"


def test_each_of_bs_attempts_shows_the_documented_reason(attack):
    wrong = {}
    for key, (_, reason, phrase) in attack["attempts"].items():
        stalled_condition = condition(attack["shown"][key], "Stalled")
        if stalled_condition["reason"] != reason or phrase not in stalled_condition["message"]:
            wrong[key] = (reason, phrase, stalled_condition["reason"], stalled_condition["message"])
    assert not wrong, json.dumps({f"{r}/{n}": v for (r, n), v in wrong.items()}, indent=2)
    # Refusals never reach status as ours: nothing of A's is recorded by B's objects.
    assert "endpointArn" not in attack["shown"][(ENDPOINT, "adopt-a")]["status"]
    assert "pipelineExecutionArn" not in attack["shown"][("pipelineexecution", "run-a-pipeline")]["status"]


def test_an_allowed_shared_model_is_used_and_a_matching_endpoint_adopted_with_its_config(attack, operator, emulator, kubectl):
    """B's policy allows tenant-b-shared-* models by name. An endpoint made outside Kubemaker on one,
    whose config already says what B's Endpoint says, is adopted with that config: no new config,
    no UpdateEndpoint; the config is deleted with the Endpoint, not before."""
    sagemaker = emulator.client("sagemaker")
    shared, config_name, endpoint_name = "tenant-b-shared-scorer", "tenant-b-legacy-config", "tenant-b-legacy"
    sagemaker.create_model(ModelName=shared, ExecutionRoleArn=ROLE_B, PrimaryContainer={"Image": f"{IMAGE}:1.0"})
    sagemaker.create_endpoint_config(EndpointConfigName=config_name, ProductionVariants=[
        {"VariantName": "main", "ModelName": shared, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1,
         "InitialVariantWeight": 1.0}])
    sagemaker.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=config_name)
    wait_for(lambda: sagemaker.describe_endpoint(EndpointName=endpoint_name)["EndpointStatus"] == "InService",
             timeout=60, what="the outside endpoint InService")

    emulator.control.reset_call_counts()
    apply(kubectl, manifest("Endpoint", "legacy", {"endpointName": endpoint_name, "adoptExisting": True,
                                                   "productionVariants": [literal_variant(shared)]}), TENANT_B)
    obj = wait_for(lambda: ready(kubectl, ENDPOINT, TENANT_B, "legacy"), timeout=60,
                   what=lambda: get(kubectl, ENDPOINT, TENANT_B, "legacy").get("status"))
    calls = emulator.control.call_counts()["calls"].get("sagemaker", {})
    assert obj["status"]["endpointConfigName"] == config_name
    assert not {op: n for op, n in calls.items() if op in ("CreateEndpointConfig", "UpdateEndpoint", "DeleteEndpointConfig")}
    config_arn = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)["EndpointConfigArn"]
    assert {"Key": "kubemaker.io/uid", "Value": obj["metadata"]["uid"]} in sagemaker.list_tags(ResourceArn=config_arn)["Tags"]

    apply(kubectl, transform_job("use-shared", modelName=shared), TENANT_B)
    wait_for(lambda: get(kubectl, "transformjob", TENANT_B, "use-shared").get("status", {}).get("transformJobArn"),
             timeout=60, what="a transform job on the allowed shared model")

    kubectl("delete", ENDPOINT, "legacy", "-n", TENANT_B, "--timeout=90s")
    assert not [e for e in sagemaker.list_endpoints(NameContains=endpoint_name)["Endpoints"]
                if e["EndpointName"] == endpoint_name]
    assert config_name not in [c["EndpointConfigName"] for c in
                               sagemaker.list_endpoint_configs(NameContains=config_name)["EndpointConfigs"]]
