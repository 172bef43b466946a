"""The InferenceComponent controller, and the Endpoint's side of it, against botocore's Stubber:
every request checked against SageMaker's and Application Auto Scaling's service models."""

from __future__ import annotations

import asyncio
import datetime

import pytest

from kubemaker.api.inference_component import InferenceComponentSpec, component_scaling, specification_fingerprint
from kubemaker.handlers import ENDPOINT_LIST, INFERENCE_COMPONENT_LIST
from kubemaker.handlers.endpoint import EndpointController
from kubemaker.handlers.inference_component import InferenceComponentController
from kubemaker.runtime.outcomes import Stall
from kubemaker.runtime.reconciler import run_pass
from kubemaker.runtime.tracker import Tracker
from tests.stubber.conftest import clean_up, make_context, serve

NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
ARN = "arn:aws:sagemaker:us-east-1:123456789012"
NOT_FOUND = ("ValidationException", "Could not find inference component.")
OWNER_TAGS = [
    {"Key": "kubemaker.io/kind", "Value": "InferenceComponent"},
    {"Key": "kubemaker.io/namespace", "Value": "team"},
    {"Key": "kubemaker.io/name", "Value": "job"},
    {"Key": "kubemaker.io/uid", "Value": "0000-1111"},
]
ENDPOINT_NAME = "team-shared-12345678"
SPEC = {
    "endpointRef": {"name": "shared"}, "variantName": "main",
    "specification": {"modelRef": {"name": "summarizer"},
                      "computeResourceRequirements": {"numberOfCpuCoresRequired": 1, "minMemoryRequiredInMb": 1024}},
    "runtimeConfig": {"copyCount": 2},
}
READY_ENDPOINT = {"status": {"endpointName": ENDPOINT_NAME, "endpointStatus": "InService"}}
READY_MODEL = {"status": {"modelName": "summarizer-r1"}}


def controller(runtime) -> InferenceComponentController:
    return InferenceComponentController(Tracker(runtime, "InferenceComponent", INFERENCE_COMPONENT_LIST))


def described(name: str, state: str = "InService", copies: int = 2) -> dict:
    return {
        "InferenceComponentName": name, "InferenceComponentArn": f"{ARN}:inference-component/{name}",
        "EndpointName": ENDPOINT_NAME, "EndpointArn": f"{ARN}:endpoint/{ENDPOINT_NAME}", "VariantName": "main",
        "InferenceComponentStatus": state, "CreationTime": NOW, "LastModifiedTime": NOW,
        "Specification": {"ModelName": "summarizer-r1", "ComputeResourceRequirements": {
            "NumberOfCpuCoresRequired": 1, "MinMemoryRequiredInMb": 1024}},
        "RuntimeConfig": {"DesiredCopyCount": copies, "CurrentCopyCount": copies},
    }


def expect_no_scaling(stubbed, name: str) -> None:
    kind = component_scaling(name)
    stubbed.aws.stubbers["application-autoscaling"].add_response(
        "describe_scalable_targets", {"ScalableTargets": []},
        {"ServiceNamespace": "sagemaker", "ResourceIds": [kind.resource_id(name)], "ScalableDimension": kind.dimension})


def test_create_on_the_referenced_endpoint_and_model_then_ready(stubbed):
    serve(stubbed, {("Endpoint", "shared"): READY_ENDPOINT, ("Model", "summarizer"): READY_MODEL})
    ctx = make_context(stubbed, "InferenceComponent", "inferencecomponents", dict(SPEC))
    name = ctx.sagemaker_name
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_client_error("describe_inference_component", *NOT_FOUND, expected_params={"InferenceComponentName": name})
    sagemaker.add_response("create_inference_component", {"InferenceComponentArn": f"{ARN}:inference-component/{name}"},
                           expected_params={
        "InferenceComponentName": name, "EndpointName": ENDPOINT_NAME, "VariantName": "main",
        "Specification": {"ModelName": "summarizer-r1", "ComputeResourceRequirements": {
            "NumberOfCpuCoresRequired": 1, "MinMemoryRequiredInMb": 1024}},
        "RuntimeConfig": {"CopyCount": 2}, "Tags": OWNER_TAGS,
    })
    plan = asyncio.run(run_pass(controller(stubbed), ctx))
    assert stubbed.status_patches[0]["createPending"]["name"] == name, "marker written before the create call"
    assert plan.health.reason == "Creating" and plan.status["inferenceComponentArn"].endswith(name)

    # Next pass: in service, nothing scaled.
    ctx.body["status"] = {**ctx.status, **plan.status}
    sagemaker.add_response("describe_inference_component", described(name), {"InferenceComponentName": name})
    expect_no_scaling(stubbed, name)
    plan = asyncio.run(run_pass(controller(stubbed), ctx))
    assert plan.health.state == "Ready" and plan.status["currentCopyCount"] == 2


def test_copy_count_change_is_the_runtime_config_call(stubbed):
    serve(stubbed, {("Endpoint", "shared"): READY_ENDPOINT, ("Model", "summarizer"): READY_MODEL})
    ctx = make_context(stubbed, "InferenceComponent", "inferencecomponents", dict(SPEC))
    name = ctx.sagemaker_name
    fingerprint = specification_fingerprint(InferenceComponentSpec.model_validate(SPEC), "summarizer-r1")
    ctx.body["status"] = {"inferenceComponentArn": f"{ARN}:inference-component/{name}",
                          "specificationFingerprint": fingerprint}
    ctx.body["spec"] = {**SPEC, "runtimeConfig": {"copyCount": 0}}
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_inference_component", described(name), {"InferenceComponentName": name})
    expect_no_scaling(stubbed, name)
    sagemaker.add_response("update_inference_component_runtime_config",
                           {"InferenceComponentArn": f"{ARN}:inference-component/{name}"},
                           {"InferenceComponentName": name, "DesiredRuntimeConfig": {"CopyCount": 0}})
    plan = asyncio.run(run_pass(controller(stubbed), ctx))
    assert plan.health.reason == "UpdatingCopies"


def test_autoscaling_of_copies_registers_on_the_component_dimension(stubbed):
    serve(stubbed, {("Endpoint", "shared"): READY_ENDPOINT, ("Model", "summarizer"): READY_MODEL})
    spec = {**SPEC, "autoScaling": {"minCapacity": 0, "maxCapacity": 4, "targetInvocationsPerCopy": 50,
                                    "scaleInCooldown": 300}}
    ctx = make_context(stubbed, "InferenceComponent", "inferencecomponents", spec)
    name = ctx.sagemaker_name
    ctx.body["status"] = {"inferenceComponentArn": f"{ARN}:inference-component/{name}",
                          "specificationFingerprint": specification_fingerprint(
                              InferenceComponentSpec.model_validate(spec), "summarizer-r1")}
    stubbed.aws.stubbers["sagemaker"].add_response("describe_inference_component", described(name, copies=3),
                                                   {"InferenceComponentName": name})
    expect_no_scaling(stubbed, name)
    target = {"ServiceNamespace": "sagemaker", "ResourceId": f"inference-component/{name}",
              "ScalableDimension": "sagemaker:inference-component:DesiredCopyCount"}
    stubbed.aws.stubbers["application-autoscaling"].add_response(
        "register_scalable_target", {}, {**target, "MinCapacity": 0, "MaxCapacity": 4})
    plan = asyncio.run(run_pass(controller(stubbed), ctx))
    assert plan.status["autoScaledComponents"] == [name]

    ctx.body["status"] = {**ctx.status, **plan.status}
    stubbed.aws.stubbers["sagemaker"].add_response("describe_inference_component", described(name, copies=3),
                                                   {"InferenceComponentName": name})
    autoscaling = stubbed.aws.stubbers["application-autoscaling"]
    autoscaling.add_response("describe_scalable_targets", {"ScalableTargets": [
        {**target, "MinCapacity": 0, "MaxCapacity": 4, "RoleARN": "arn:aws:iam::123456789012:role/x", "CreationTime": NOW}]},
        {"ServiceNamespace": "sagemaker", "ResourceIds": [target["ResourceId"]], "ScalableDimension": target["ScalableDimension"]})
    autoscaling.add_response("describe_scaling_policies", {"ScalingPolicies": []}, {
        "ServiceNamespace": "sagemaker", "ResourceId": target["ResourceId"],
        "ScalableDimension": target["ScalableDimension"], "PolicyNames": [f"kubemaker-{name}"]})
    autoscaling.add_response("put_scaling_policy", {"PolicyARN": "arn:aws:autoscaling:p", "Alarms": []}, {
        **target, "PolicyName": f"kubemaker-{name}", "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": 50, "ScaleInCooldown": 300,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerInferenceComponentInvocationsPerCopy"}}})
    plan = asyncio.run(run_pass(controller(stubbed), ctx))
    assert plan.health.reason == "PuttingScalingPolicy"


def test_cleanup_removes_scaling_and_deletes_then_wakes_the_endpoint(stubbed):
    spec = {**SPEC, "autoScaling": {"minCapacity": 0, "maxCapacity": 4, "targetInvocationsPerCopy": 50}}
    ctx = make_context(stubbed, "InferenceComponent", "inferencecomponents", spec)
    name = ctx.sagemaker_name
    ctx.body["status"] = {"inferenceComponentArn": f"{ARN}:inference-component/{name}", "autoScaledComponents": [name]}
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_inference_component", described(name), {"InferenceComponentName": name})
    target = {"ServiceNamespace": "sagemaker", "ResourceId": f"inference-component/{name}",
              "ScalableDimension": "sagemaker:inference-component:DesiredCopyCount"}
    autoscaling = stubbed.aws.stubbers["application-autoscaling"]
    autoscaling.add_response("delete_scaling_policy", {}, {**target, "PolicyName": f"kubemaker-{name}"})
    autoscaling.add_response("deregister_scalable_target", {}, target)
    sagemaker.add_response("delete_inference_component", {}, {"InferenceComponentName": name})
    cleanup = asyncio.run(clean_up(controller(stubbed), ctx))
    assert cleanup.waiting and "to be deleted" in cleanup.waiting

    # Deleting: no call again; then gone: done, and the Endpoint is looked at.
    sagemaker.add_response("describe_inference_component", described(name, "Deleting"), {"InferenceComponentName": name})
    assert asyncio.run(clean_up(controller(stubbed), ctx)).calls == []
    sagemaker.add_client_error("describe_inference_component", *NOT_FOUND, expected_params={"InferenceComponentName": name})
    done = asyncio.run(clean_up(controller(stubbed), ctx))
    assert done.waiting is None and done.wake == [("Endpoint", "shared")]


def test_an_endpoint_waits_for_the_components_on_it_before_any_call(stubbed):
    serve(stubbed, {("InferenceComponent", "summarizer"): {"spec": {"endpointRef": {"name": "job"}}},
                    ("InferenceComponent", "elsewhere"): {"spec": {"endpointRef": {"name": "other"}}}})
    ctx = make_context(stubbed, "Endpoint", "endpoints", {"productionVariants": [
        {"variantName": "main", "instanceType": "ml.g5.2xlarge", "initialInstanceCount": 1}],
        "executionRoleArn": "arn:aws:iam::123456789012:role/SageMakerExecution"})
    cleanup = asyncio.run(clean_up(EndpointController(Tracker(stubbed, "Endpoint", ENDPOINT_LIST)), ctx))
    assert cleanup.waiting == "waiting for InferenceComponent summarizer on this endpoint to be deleted first"
    assert cleanup.calls == []  # the stubbers, with nothing queued, would refuse any call


def test_a_base_component_of_another_namespace_is_refused_before_any_create(stubbed):
    serve(stubbed, {("Endpoint", "shared"): READY_ENDPOINT})
    spec = {**SPEC, "specification": {"baseInferenceComponentName": "their-base"}}
    ctx = make_context(stubbed, "InferenceComponent", "inferencecomponents", spec)
    name = ctx.sagemaker_name
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_client_error("describe_inference_component", *NOT_FOUND, expected_params={"InferenceComponentName": name})
    sagemaker.add_response("describe_inference_component", described("their-base"),
                           {"InferenceComponentName": "their-base"})
    sagemaker.add_response("list_tags", {"Tags": [{"Key": "kubemaker.io/namespace", "Value": "other-team"}]},
                           {"ResourceArn": f"{ARN}:inference-component/their-base"})
    with pytest.raises(Stall) as refused:
        asyncio.run(controller(stubbed).reconcile(ctx))
    assert refused.value.reason == "ReferenceNotAllowed"
    assert "baseInferenceComponentName of the specification" in refused.value.message
    assert "allowedSageMakerReferences" in refused.value.message
