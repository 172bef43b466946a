"""The InferenceComponent planner, as a table: given the spec, what SageMaker and Application Auto
Scaling show and the recorded status, the one next call and the health to report. Also the
Endpoint's model-less variants at the API server, and its status of configs and pending deployment."""

from __future__ import annotations

import datetime

import pytest

from kubemaker.api.inference_component import component_scaling, specification_fingerprint
from kubemaker.api.registry import InvalidSpec, parse_spec
from kubemaker.conditions import READY, RECONCILING, STALLED
from kubemaker.reconcile import endpoint as endpoint_planner
from kubemaker.reconcile import inference_component as planner

NAME = "team-summarizer-0a1b2c3d"
ENDPOINT = "team-shared-0a1b2c3d"
NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
REQUIREMENTS = {"numberOfCpuCoresRequired": 1, "minMemoryRequiredInMb": 1024}
SCALING = {"minCapacity": 0, "maxCapacity": 4, "targetInvocationsPerCopy": 50}


def spec(copies: int = 2, memory: int = 1024, **extra) -> dict:
    return {"endpointRef": {"name": "shared"}, "variantName": "main",
            "specification": {"modelRef": {"name": "summarizer"},
                              "computeResourceRequirements": {**REQUIREMENTS, "minMemoryRequiredInMb": memory}},
            "runtimeConfig": {"copyCount": copies}, **extra}


def desired(**kwargs) -> planner.Desired:
    return planner.Desired(parse_spec("InferenceComponent", spec(**kwargs)), NAME, ENDPOINT, "summarizer-r1",
                           {"kubemaker.io/uid": "u"})


def described(state: str = "InService", desired_copies: int = 2, current: int = 2, failure: str | None = None) -> dict:
    answer = {
        "InferenceComponentName": NAME, "InferenceComponentArn": f"arn:aws:sagemaker:us-east-1:123456789012:"
        f"inference-component/{NAME}", "EndpointName": ENDPOINT, "EndpointArn": "arn:aws:sagemaker:us-east-1:"
        f"123456789012:endpoint/{ENDPOINT}", "VariantName": "main", "InferenceComponentStatus": state,
        "Specification": {"ModelName": "summarizer-r1", "ComputeResourceRequirements": {
            "NumberOfCpuCoresRequired": 1, "MinMemoryRequiredInMb": 1024}},
        "RuntimeConfig": {"DesiredCopyCount": desired_copies, "CurrentCopyCount": current},
        "CreationTime": NOW, "LastModifiedTime": NOW,
    }
    if failure:
        answer["FailureReason"] = failure
    return answer


def settled_status(want: planner.Desired, **extra) -> dict:
    return {"inferenceComponentArn": described()["InferenceComponentArn"],
            "specificationFingerprint": specification_fingerprint(want.spec, want.model_name), **extra}


def target(low: int = 0, high: int = 4) -> dict:
    return {"ServiceNamespace": "sagemaker", "ResourceId": f"inference-component/{NAME}",
            "ScalableDimension": "sagemaker:inference-component:DesiredCopyCount", "MinCapacity": low, "MaxCapacity": high}


def plan(want: planner.Desired, observed: planner.Observed, status: dict | None = None, generation: int = 1):
    return planner.plan_component(want, observed, status or {}, generation, "us-east-1")


def test_create_names_endpoint_variant_and_model_with_a_marker_and_the_fingerprint():
    want = desired()
    step = plan(want, planner.Observed())
    assert step.action == "create_inference_component"
    assert step.request == {
        "InferenceComponentName": NAME, "EndpointName": ENDPOINT, "VariantName": "main",
        "Specification": {"ModelName": "summarizer-r1", "ComputeResourceRequirements": {
            "NumberOfCpuCoresRequired": 1, "MinMemoryRequiredInMb": 1024}},
        "RuntimeConfig": {"CopyCount": 2}, "Tags": [{"Key": "kubemaker.io/uid", "Value": "u"}],
    }
    assert step.before["createPending"]["name"] == NAME
    assert step.before["specificationFingerprint"] == specification_fingerprint(want.spec, want.model_name)
    assert step.creates is planner.INFERENCE_COMPONENT and step.record == {"inferenceComponentArn": "InferenceComponentArn"}
    assert not step.track


@pytest.mark.parametrize("state", ["Creating", "Updating", "Deleting"])
def test_work_in_progress_is_waited_for_and_tracked(state):
    step = plan(desired(), planner.Observed(described(state, current=0)), settled_status(desired()))
    assert step.action is None and step.health.state == RECONCILING and step.track
    assert step.status["inferenceComponentStatus"] == state and step.status["currentCopyCount"] == 0
    assert step.look_again == ("poll" if state == "Deleting" else None)


def test_in_service_as_specified_is_ready_with_status():
    step = plan(desired(), planner.Observed(described()), settled_status(desired()))
    assert step.action is None and step.health.state == READY
    assert "with 2 copies" in step.health.message
    assert (step.status["endpointName"], step.status["variantName"], step.status["modelName"]) == (
        ENDPOINT, "main", "summarizer-r1")
    assert (step.status["desiredCopyCount"], step.status["currentCopyCount"]) == (2, 2)
    assert step.status["createPending"] is None


@pytest.mark.parametrize("copies", [0, 5])
def test_a_copy_count_change_is_only_the_runtime_config_call(copies):
    want = desired(copies=copies)
    step = plan(want, planner.Observed(described()), settled_status(want))
    assert step.action == "update_inference_component_runtime_config"
    assert step.request == {"InferenceComponentName": NAME, "DesiredRuntimeConfig": {"CopyCount": copies}}
    assert step.service == "sagemaker"


def test_a_specification_change_is_update_inference_component_without_the_copy_count():
    before = desired()
    want = desired(memory=2048, deploymentConfig={"rollingUpdatePolicy": {
        "maximumBatchSize": {"type": "COPY_COUNT", "value": 1}, "waitIntervalInSeconds": 60}})
    step = plan(want, planner.Observed(described()), settled_status(before))
    assert step.action == "update_inference_component"
    assert "RuntimeConfig" not in step.request
    assert step.request["Specification"]["ComputeResourceRequirements"]["MinMemoryRequiredInMb"] == 2048
    assert step.request["DeploymentConfig"]["RollingUpdatePolicy"]["MaximumBatchSize"] == {"Type": "COPY_COUNT", "Value": 1}
    assert step.status["specificationFingerprint"] == specification_fingerprint(want.spec, want.model_name)


def test_a_new_model_revision_is_a_specification_change():
    want = desired()
    want.model_name = "summarizer-r2"
    step = plan(want, planner.Observed(described()), settled_status(desired()))
    assert step.action == "update_inference_component"
    assert step.request["Specification"]["ModelName"] == "summarizer-r2"


def test_autoscaling_registers_then_sets_the_policy_and_never_sets_the_count():
    want = desired(copies=2, autoScaling=SCALING)
    status = settled_status(want)
    step = plan(want, planner.Observed(described(desired_copies=3, current=3)), status)
    assert (step.service, step.action) == ("application-autoscaling", "register_scalable_target")
    assert step.request == {**target(), "ServiceNamespace": "sagemaker"}
    assert step.status["autoScaledComponents"] == [NAME]
    assert step.status["currentCopyCount"] == 3  # the scaler's, reported
    step = plan(want, planner.Observed(described(desired_copies=3, current=3), targets={NAME: target()}), status)
    assert step.action == "put_scaling_policy"
    assert step.request["TargetTrackingScalingPolicyConfiguration"] == {
        "TargetValue": 50, "PredefinedMetricSpecification": {
            "PredefinedMetricType": "SageMakerInferenceComponentInvocationsPerCopy"}}
    policy = {**step.request, "PolicyARN": "arn:p"}
    step = plan(want, planner.Observed(described(desired_copies=3, current=3), targets={NAME: target()},
                                       policies={NAME: policy}), status)
    assert step.action is None and step.health.state == READY


def test_dropped_autoscaling_removes_policy_then_target_then_the_spec_count_applies():
    want = desired(copies=2)
    status = settled_status(want, autoScaledComponents=[NAME])
    observed = planner.Observed(described(desired_copies=2), targets={NAME: target()}, policies={NAME: {"PolicyName": "p"}})
    step = plan(want, observed, status)
    assert step.action == "delete_scaling_policy" and step.request["PolicyName"] == f"kubemaker-{NAME}"
    step = plan(want, planner.Observed(described(desired_copies=2), targets={NAME: target()}), status)
    assert step.action == "deregister_scalable_target" and step.status["autoScaledComponents"] is None
    assert [e.reason for e in step.events] == ["AutoScalingRemoved"]


def test_failed_is_stalled_for_its_generation_and_recreated_after_a_spec_change():
    want = desired()
    step = plan(want, planner.Observed(described("Failed", failure="not enough memory")), settled_status(want))
    assert step.health.state == STALLED and "not enough memory" in step.health.message
    assert step.status["failedGeneration"] == 1 and step.action is None
    step = plan(want, planner.Observed(described("Failed")), settled_status(want, failedGeneration=1), generation=2)
    assert (step.action, step.request) == ("delete_inference_component", {"InferenceComponentName": NAME})


def test_the_scaling_design_is_the_variants_one_on_the_copy_dimension():
    kind = component_scaling(NAME)
    assert kind.target(NAME) == {"ServiceNamespace": "sagemaker", "ResourceId": f"inference-component/{NAME}",
                                 "ScalableDimension": "sagemaker:inference-component:DesiredCopyCount"}
    assert kind.status_field == "autoScaledComponents"


@pytest.mark.parametrize("bad", [
    {"runtimeConfig": {"copyCount": -1}},
    {"autoScaling": {**SCALING, "minCapacity": -1}},
    {"autoScaling": {**SCALING, "maxCapacity": 0}},
])
def test_the_models_refuse_out_of_range_counts(bad):
    with pytest.raises(InvalidSpec):
        parse_spec("InferenceComponent", {**spec(), **bad})


def test_endpoint_status_lists_config_arns_and_the_pending_deployment():
    start = NOW
    endpoint = {
        "EndpointName": ENDPOINT, "EndpointArn": f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/{ENDPOINT}",
        "EndpointConfigName": "Shared-Old", "EndpointStatus": "Updating", "CreationTime": NOW, "LastModifiedTime": NOW,
        "ProductionVariants": [{"VariantName": "main", "CurrentWeight": 1, "DesiredWeight": 1,
                                "CurrentInstanceCount": 1, "DesiredInstanceCount": 1}],
        "PendingDeploymentSummary": {"EndpointConfigName": "shared-new", "StartTime": start, "ProductionVariants": [
            {"VariantName": "main", "InstanceType": "ml.m5.xlarge", "CurrentInstanceCount": 0, "DesiredInstanceCount": 2,
             "VariantStatus": [{"Status": "Creating", "StartTime": start}]}]},
    }
    status = endpoint_planner.observed_status(endpoint, "us-east-1")
    assert status["endpointConfigArns"] == [
        "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/shared-old",
        "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/shared-new",
    ]
    pending = status["pendingDeployment"]
    assert pending["endpointConfigName"] == "shared-new"
    assert pending["productionVariants"] == [{"variantName": "main", "instanceType": "ml.m5.xlarge",
                                             "currentInstanceCount": 0, "desiredInstanceCount": 2,
                                             "variantStatus": "Creating"}]
    settled = endpoint_planner.observed_status({**endpoint, "EndpointStatus": "InService",
                                                "PendingDeploymentSummary": None}, "us-east-1")
    assert settled["pendingDeployment"] is None and len(settled["endpointConfigArns"]) == 1


MANAGED = {"status": "ENABLED", "minInstanceCount": 1, "maxInstanceCount": 4}


def capacity_endpoint(**variant_extra) -> endpoint_planner.Desired:
    spec = parse_spec("Endpoint", {"executionRoleArn": "arn:aws:iam::123456789012:role/SageMakerExecution",
                                   "productionVariants": [{"variantName": "main", "instanceType": "ml.g5.2xlarge",
                                                           "initialInstanceCount": 2, **variant_extra}]})
    return endpoint_planner.Desired(spec, ENDPOINT, {}, {"kubemaker.io/uid": "u"})


def running(want: endpoint_planner.Desired, count: int) -> dict:
    return {"EndpointName": ENDPOINT, "EndpointArn": f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/{ENDPOINT}",
            "EndpointConfigName": endpoint_planner.desired_config(want, None)["EndpointConfigName"],
            "EndpointStatus": "InService", "CreationTime": NOW, "LastModifiedTime": NOW,
            "ProductionVariants": [{"VariantName": "main", "CurrentWeight": 1, "DesiredWeight": 1,
                                    "CurrentInstanceCount": count, "DesiredInstanceCount": count}]}


def test_a_model_less_config_carries_the_role_capacity_and_no_model():
    request = endpoint_planner.desired_config(capacity_endpoint(managedInstanceScaling=MANAGED,
                                                                routingConfig={"routingStrategy": "RANDOM"}), None)
    assert request["ExecutionRoleArn"] == "arn:aws:iam::123456789012:role/SageMakerExecution"
    (variant,) = request["ProductionVariants"]
    assert "ModelName" not in variant and variant["InitialInstanceCount"] == 2
    assert variant["ManagedInstanceScaling"] == {"Status": "ENABLED", "MinInstanceCount": 1, "MaxInstanceCount": 4}
    assert variant["RoutingConfig"] == {"RoutingStrategy": "RANDOM"}


def test_managed_instance_scaling_owns_the_count_as_the_autoscaler_does():
    managed = capacity_endpoint(managedInstanceScaling=MANAGED)
    config = endpoint_planner.desired_config(managed, None)["EndpointConfigName"]
    status = {"endpointConfigName": config, "pendingEndpointConfigName": None}
    step = endpoint_planner.plan_endpoint(managed, endpoint_planner.Observed(running(managed, 3)), status, 1, "us-east-1")
    assert step.action is None and step.health.state == READY  # SageMaker grew it to 3: left alone
    plain = capacity_endpoint()
    step = endpoint_planner.plan_endpoint(plain, endpoint_planner.Observed(running(plain, 3)), status, 1, "us-east-1")
    assert step.action == "update_endpoint_weights_and_capacities"
    assert step.request["DesiredWeightsAndCapacities"][0]["DesiredInstanceCount"] == 2
    # A new config keeps the count SageMaker set.
    bigger = capacity_endpoint(managedInstanceScaling=MANAGED, instanceType="ml.g5.4xlarge")
    assert endpoint_planner.desired_config(bigger, running(managed, 3))["ProductionVariants"][0]["InitialInstanceCount"] == 3
