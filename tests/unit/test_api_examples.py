"""Every example goes through the kind models to the exact boto3 requests, which botocore's own
validator checks against the service model; the operator's fields never reach SageMaker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import botocore.session
import pytest
import yaml
from botocore.validate import ParamValidator

from kubemaker import API_GROUP
from kubemaker.api import endpoint, model, pipeline, pipeline_execution, training_job, transform_job, tuning_job
from kubemaker.api import processing_job
from kubemaker.api import monitoring_schedule
from kubemaker.api import inference_component
from kubemaker.api import model_package
from kubemaker.api.registry import parse_spec

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
# ClientRequestToken: SageMaker wants 32 to 128 characters (the controller derives it from the uid).
TOKEN = "kubemaker-0123456789abcdef01234567"
OWNERSHIP_TAGS = {"kubemaker.io/namespace": "demo", "kubemaker.io/name": "example", "kubemaker.io/uid": "1234"}
SESSION = botocore.session.get_session()
PACKAGE_VERSION = "arn:aws:sagemaker:us-east-1:123456789012:model-package/mpg-1/1"
SERVICES = {name: SESSION.get_service_model(name) for name in ("sagemaker", "application-autoscaling")}


def example_objects() -> list[tuple[str, dict[str, Any]]]:
    objects = []
    for path in sorted(EXAMPLES_DIR.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document["apiVersion"].startswith(f"{API_GROUP}/"):
                objects.append((f"{path.name}:{document['kind']}/{document['metadata']['name']}", document))
    return objects


EXAMPLES = example_objects()


def assert_valid(operation: str, request: dict[str, Any], service: str = "sagemaker") -> None:
    input_shape = SERVICES[service].operation_model(operation).input_shape
    report = ParamValidator().validate(request, input_shape)
    assert not report.has_errors(), f"{operation}:\n{report.generate_report()}\n{json.dumps(request, indent=1, default=str)}"


def requests_for(kind: str, spec) -> list[tuple[str, str, dict[str, Any]]]:
    """(service, operation, request) for every call the controller makes from this spec, with
    references resolved to made-up SageMaker names."""
    if kind == "TrainingJob":
        return [
            ("sagemaker", "CreateTrainingJob", training_job.build_create_training_job_request(spec, "tj-1", OWNERSHIP_TAGS)),
            ("sagemaker", "UpdateTrainingJob", training_job.build_update_training_job_request(spec, "tj-1")),
        ]
    if kind == "HyperParameterTuningJob":
        parents = {name: f"{name}-sm" for name in tuning_job.referenced_tuning_jobs(spec)}
        request = tuning_job.build_create_hyper_parameter_tuning_job_request(spec, "hpo-1", parents, OWNERSHIP_TAGS)
        return [("sagemaker", "CreateHyperParameterTuningJob", request)]
    if kind == "Model":
        urls = {name: f"s3://kubemaker-demo/{name}/model.tar.gz" for name in model.referenced_training_jobs(spec)}
        version = PACKAGE_VERSION if spec.modelPackageRef or spec.modelPackageGroupRef else None
        return [("sagemaker", "CreateModel",
                 model.build_create_model_request(spec, "model-1", urls, OWNERSHIP_TAGS, version))]
    if kind == "ModelPackageGroup":
        return [("sagemaker", "CreateModelPackageGroup",
                 model_package.build_create_model_package_group_request(spec, "mpg-1", OWNERSHIP_TAGS))]
    if kind == "ModelPackage":
        urls = {name: f"s3://kubemaker-demo/{name}/model.tar.gz" for name in model_package.referenced_training_jobs(spec)}
        outputs = {model_package.metrics_location(ref): "s3://kubemaker-demo/job/output"
                   for ref in model_package.metrics_references(spec)}
        request = model_package.build_create_model_package_request(spec, "mpg-1", urls, outputs)
        token = model_package.client_token("0a1b2c3d-0000-4000-8000-000000000000", "f")
        return [("sagemaker", "CreateModelPackage", {**request, "ClientToken": token}),
                ("sagemaker", "UpdateModelPackage", {"ModelPackageArn": PACKAGE_VERSION, **{
                    member: value for member, value in (("ModelApprovalStatus", spec.modelApprovalStatus),
                                                        ("ApprovalDescription", spec.approvalDescription)) if value}})]
    if kind == "Endpoint":
        models = {name: f"{name}-rev1" for name in endpoint.referenced_models(spec)}
        calls = [
            (
                "sagemaker",
                "CreateEndpointConfig",
                endpoint.build_create_endpoint_config_request(spec, "ep-config-1", models, OWNERSHIP_TAGS),
            ),
            ("sagemaker", "CreateEndpoint", endpoint.build_create_endpoint_request(spec, "ep-1", "ep-config-1", OWNERSHIP_TAGS)),
            ("sagemaker", "UpdateEndpoint", endpoint.build_update_endpoint_request(spec, "ep-1", "ep-config-2")),
            (
                "sagemaker",
                "UpdateEndpointWeightsAndCapacities",
                endpoint.build_update_weights_and_capacities_request(spec, "ep-1", {"current": 3}),
            ),
        ]
        for variant in endpoint.all_variants(spec):
            if variant.autoScaling:
                calls.append(
                    (
                        "application-autoscaling",
                        "RegisterScalableTarget",
                        endpoint.build_register_scalable_target_request("ep-1", variant),
                    )
                )
                calls.append(
                    ("application-autoscaling", "PutScalingPolicy", endpoint.build_put_scaling_policy_request("ep-1", variant))
                )
        return calls
    if kind == "InferenceComponent":
        model_name = f"{spec.specification.modelRef.name}-rev1" if spec.specification.modelRef else None
        scaling = inference_component.component_scaling("ic-1")
        calls = [
            ("sagemaker", "CreateInferenceComponent",
             inference_component.build_create_request(spec, "ic-1", "ep-1", model_name, OWNERSHIP_TAGS)),
            ("sagemaker", "UpdateInferenceComponent", inference_component.build_update_request(spec, "ic-1", model_name)),
            ("sagemaker", "UpdateInferenceComponentRuntimeConfig",
             inference_component.build_runtime_config_request("ic-1", 0)),
        ]
        if spec.autoScaling:
            calls += [
                ("application-autoscaling", "RegisterScalableTarget", scaling.register_request("ic-1", spec.autoScaling)),
                ("application-autoscaling", "PutScalingPolicy", scaling.policy_request("ic-1", spec.autoScaling)),
            ]
        return calls
    if kind == "TransformJob":
        model_name = spec.modelName or f"{spec.modelRef.name}-rev1"
        request = transform_job.build_create_transform_job_request(spec, "bt-1", model_name, OWNERSHIP_TAGS)
        return [("sagemaker", "CreateTransformJob", request)]
    if kind == "ProcessingJob":
        return [("sagemaker", "CreateProcessingJob",
                 processing_job.build_create_processing_job_request(spec, "pj-1", OWNERSHIP_TAGS))]
    if kind == "MonitoringSchedule":
        definition = monitoring_schedule.build_create_job_definition_request(spec, "mon-1-def", "ep-1", OWNERSHIP_TAGS)
        operation = f"Create{spec.monitoring_type.name}JobDefinition"
        return [
            ("sagemaker", operation, definition),
            ("sagemaker", "CreateMonitoringSchedule",
             monitoring_schedule.build_create_monitoring_schedule_request(spec, "mon-1", "mon-1-def", OWNERSHIP_TAGS)),
            ("sagemaker", "UpdateMonitoringSchedule",
             monitoring_schedule.build_update_monitoring_schedule_request(spec, "mon-1", "mon-1-def2")),
        ]
    if kind == "Pipeline":
        definition = None if spec.pipelineDefinitionFrom is None else '{"Version": "2020-12-01", "Steps": []}'
        return [
            (
                "sagemaker",
                "CreatePipeline",
                pipeline.build_create_pipeline_request(spec, "pipe-1", TOKEN, OWNERSHIP_TAGS, definition),
            ),
            ("sagemaker", "UpdatePipeline", pipeline.build_update_pipeline_request(spec, "pipe-1", definition)),
        ]
    if kind == "PipelineExecution":
        arn = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/pipe-1/execution/abc123"
        return [
            (
                "sagemaker",
                "StartPipelineExecution",
                pipeline_execution.build_start_pipeline_execution_request(spec, "pipe-1", TOKEN),
            ),
            (
                "sagemaker",
                "UpdatePipelineExecution",
                pipeline_execution.build_update_pipeline_execution_request(spec, arn),
            ),
        ]
    raise AssertionError(f"no requests for {kind}")


def test_every_kind_has_an_example():
    kinds = {document["kind"] for _, document in EXAMPLES}
    assert kinds == {
        "TrainingJob", "HyperParameterTuningJob", "Model", "Endpoint", "TransformJob", "Pipeline", "PipelineExecution",
        "ProcessingJob", "MonitoringSchedule", "InferenceComponent", "ModelPackageGroup", "ModelPackage",
    }  # fmt: skip


def test_example_names_are_unique():
    names = [(document["kind"], document["metadata"]["name"]) for _, document in EXAMPLES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(("label", "document"), EXAMPLES, ids=[label for label, _ in EXAMPLES])
def test_example_builds_valid_requests(label, document):
    spec = parse_spec(document["kind"], document["spec"])
    for service, operation, request in requests_for(document["kind"], spec):
        assert_valid(operation, request, service)


OPERATOR_ONLY_KEYS = {
    "deletionPolicy", "DeletionPolicy", "region", "Region", "adoptExisting", "AdoptExisting", "modelRef", "ModelRef",
    "modelDataFrom", "ModelDataFrom", "autoScaling", "AutoScaling", "pipelineRef", "PipelineRef", "ref", "Ref",
    "pipelineDefinitionFrom", "PipelineDefinitionFrom", "endpointRef", "EndpointRef",
    "modelPackageRef", "ModelPackageRef", "modelPackageGroupRef", "ModelPackageGroupRef", "s3UriFrom", "S3UriFrom",
}  # fmt: skip


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {key for item in value.values() for key in _keys(item)}
    if isinstance(value, list):
        return {key for item in value for key in _keys(item)}
    return set()


@pytest.mark.parametrize(("label", "document"), EXAMPLES, ids=[label for label, _ in EXAMPLES])
def test_operator_fields_never_reach_sagemaker(label, document):
    spec = parse_spec(document["kind"], {**document["spec"], "region": "eu-west-1", "deletionPolicy": "Retain"})
    for _, operation, request in requests_for(document["kind"], spec):
        assert not _keys(request) & OPERATOR_ONLY_KEYS, operation


def test_free_form_maps_are_passed_through_untouched():
    spec = training_job.TrainingJobSpec.model_validate(
        {
            "roleArn": "arn:aws:iam::123456789012:role/SageMakerExecution",
            "outputDataConfig": {"s3OutputPath": "s3://kubemaker-demo/out/"},
            "hyperParameters": {"maxDepth": "5", "Eta": "0.1", "num_round": "10", "s3Uri": "keep"},
            "environment": {"roleArn": "x", "LOG_LEVEL": "debug"},
            "tags": [{"key": "costCenter", "value": "RoleArn"}],
        }
    )
    request = training_job.build_create_training_job_request(spec, "tj-1", {})
    assert request["HyperParameters"] == {"maxDepth": "5", "Eta": "0.1", "num_round": "10", "s3Uri": "keep"}
    assert request["Environment"] == {"roleArn": "x", "LOG_LEVEL": "debug"}
    assert request["Tags"] == [{"Key": "costCenter", "Value": "RoleArn"}]


def test_pipeline_definition_object_is_sent_as_written():
    definition = {"Version": "2020-12-01", "Steps": [{"Name": "a", "Type": "Fail", "Arguments": {"errorMessage": "x"}}]}
    spec = pipeline.PipelineSpec.model_validate(
        {"roleArn": "arn:aws:iam::123456789012:role/SageMakerExecution", "pipelineDefinition": definition}
    )
    request = pipeline.build_create_pipeline_request(spec, "p", TOKEN, {})
    assert json.loads(request["PipelineDefinition"]) == definition
    as_string = pipeline.PipelineSpec.model_validate(
        {"roleArn": "arn:aws:iam::123456789012:role/SageMakerExecution", "pipelineDefinition": json.dumps(definition)}
    )
    assert json.loads(pipeline.build_create_pipeline_request(as_string, "p", TOKEN, {})["PipelineDefinition"]) == definition


def test_ownership_tags_win_over_user_tags_of_the_same_key():
    spec = model.ModelSpec.model_validate(
        {
            "executionRoleArn": "arn:aws:iam::123456789012:role/SageMakerExecution",
            "primaryContainer": {"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:latest"},
            "tags": [{"key": "kubemaker.io/uid", "value": "forged"}, {"key": "team", "value": "a"}],
        }
    )
    request = model.build_create_model_request(spec, "m", {}, {"kubemaker.io/uid": "real"})
    assert request["Tags"] == [{"Key": "team", "Value": "a"}, {"Key": "kubemaker.io/uid", "Value": "real"}]


def test_unresolved_reference_is_reported():
    spec = model.ModelSpec.model_validate(
        {
            "executionRoleArn": "arn:aws:iam::123456789012:role/SageMakerExecution",
            "containers": [{"image": "i", "modelDataFrom": {"trainingJobRef": {"name": "train"}}}],
        }
    )
    assert model.referenced_training_jobs(spec) == {"train"}
    with pytest.raises(model.UnresolvedReference, match="TrainingJob train"):
        model.build_create_model_request(spec, "m", {}, {})
    request = model.build_create_model_request(spec, "m", {"train": "s3://kubemaker-demo/m.tar.gz"}, {})
    assert request["Containers"] == [{"Image": "i", "ModelDataUrl": "s3://kubemaker-demo/m.tar.gz"}]


def test_autoscaled_variant_keeps_the_scalers_count_in_a_new_config():
    spec = parse_spec("Endpoint", dict(_example("Endpoint", "fraud-scoring")["spec"]))
    request = endpoint.build_create_endpoint_config_request(
        spec, "c", {"fraud-v1": "fraud-v1-r2", "fraud-v2": "fraud-v2-r1"}, {}, instance_counts={"current": 5}
    )
    counts = {variant["VariantName"]: variant["InitialInstanceCount"] for variant in request["ProductionVariants"]}
    models = {variant["VariantName"]: variant["ModelName"] for variant in request["ProductionVariants"]}
    assert counts == {"current": 5, "candidate": 1}
    assert models == {"current": "fraud-v1-r2", "candidate": "fraud-v2-r1"}


def test_endpoint_requests_split_members_by_operation():
    spec = parse_spec("Endpoint", dict(_example("Endpoint", "fraud-scoring")["spec"]))
    config = endpoint.build_create_endpoint_config_request(spec, "c", {"fraud-v1": "a", "fraud-v2": "b"}, {})
    created = endpoint.build_create_endpoint_request(spec, "e", "c", {})
    assert "DeploymentConfig" not in config and "DataCaptureConfig" in config
    assert "DeploymentConfig" in created and "ProductionVariants" not in created


def _example(kind: str, name: str) -> dict[str, Any]:
    return next(doc for _, doc in EXAMPLES if doc["kind"] == kind and doc["metadata"]["name"] == name)


def test_endpoint_config_digest_ignores_what_changes_in_place():
    from kubemaker.reconcile.endpoint import config_digest

    document = _example("Endpoint", "fraud-scoring")
    models = {"fraud-v1": "a", "fraud-v2": "b"}

    def fingerprint(**changes):
        spec = parse_spec("Endpoint", {**document["spec"], **changes})
        return config_digest("fraud-scoring", endpoint.build_create_endpoint_config_request(
            spec, "any-name", models, OWNERSHIP_TAGS))

    variants = document["spec"]["productionVariants"]
    reweighted = [{**variants[0], "initialVariantWeight": 50, "initialInstanceCount": 4}, variants[1]]
    resized = [{**variants[0], "instanceType": "ml.c5.xlarge"}, variants[1]]
    assert fingerprint(productionVariants=reweighted) == fingerprint()
    assert fingerprint(productionVariants=resized) != fingerprint()


def test_model_fingerprint_ignores_the_name_only():
    spec = parse_spec("Model", _example("Model", "fraud-v1")["spec"])
    first = model.build_create_model_request(spec, "fraud-v1-a", {}, OWNERSHIP_TAGS)
    renamed = model.build_create_model_request(spec, "fraud-v1-b", {}, OWNERSHIP_TAGS)
    changed = model.build_create_model_request(
        spec.model_copy(update={"enableNetworkIsolation": True}), "fraud-v1-a", {}, OWNERSHIP_TAGS
    )
    assert model.model_fingerprint(first) == model.model_fingerprint(renamed) != model.model_fingerprint(changed)
