"""Inference components, model-less endpoints, Application Auto Scaling's rules and the pending
deployment, through boto3 over HTTP."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.emulator.helpers import ROLE_ARN, wait_until
from tests.emulator.test_endpoints import IMAGE, endpoint_status, in_service, make_config

VARIANT_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
COPY_DIMENSION = "sagemaker:inference-component:DesiredCopyCount"
REQUIREMENTS = {"NumberOfCpuCoresRequired": 1, "MinMemoryRequiredInMb": 1024}


@pytest.fixture
def model(sagemaker, unique):
    name = unique("model")
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE_ARN,
                           PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://bucket/model.tar.gz"})
    return name


@pytest.fixture(scope="session")
def autoscaling(emulator):
    return emulator.client("application-autoscaling", retries={"total_max_attempts": 1})


@pytest.fixture(scope="session")
def autoscaling_unchecked(emulator):
    return emulator.client("application-autoscaling", parameter_validation=False, retries={"total_max_attempts": 1})


def component_endpoint(sagemaker, unique) -> str:
    config = unique("ic-config")
    sagemaker.create_endpoint_config(
        EndpointConfigName=config, ExecutionRoleArn=ROLE_ARN,
        ProductionVariants=[{
            "VariantName": "main", "InstanceType": "ml.g5.2xlarge", "InitialInstanceCount": 2,
            "ManagedInstanceScaling": {"Status": "ENABLED", "MinInstanceCount": 1, "MaxInstanceCount": 4},
            "RoutingConfig": {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"},
        }],
    )
    name = unique("ic-endpoint")
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=config)
    assert in_service(sagemaker, name)[-1] == "InService"
    return name


def component_status(sagemaker, name):
    return sagemaker.describe_inference_component(InferenceComponentName=name)["InferenceComponentStatus"]


def settled(sagemaker, name):
    return wait_until(lambda: component_status(sagemaker, name), lambda s: s in ("InService", "Failed"))


def error_of(call) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def test_a_model_less_config_needs_an_execution_role_and_no_model_anywhere(sagemaker, unique, model):
    variant = {"VariantName": "main", "InstanceType": "ml.g5.2xlarge", "InitialInstanceCount": 1}
    code, message = error_of(lambda: sagemaker.create_endpoint_config(
        EndpointConfigName=unique("c"), ProductionVariants=[variant]))
    assert code == "ValidationException" and "ExecutionRoleArn is required" in message
    code, message = error_of(lambda: sagemaker.create_endpoint_config(
        EndpointConfigName=unique("c"), ExecutionRoleArn=ROLE_ARN,
        ProductionVariants=[variant, {**variant, "VariantName": "other", "ModelName": model}]))
    assert "either every variant specifies a ModelName, or none does" in message
    described = sagemaker.describe_endpoint_config(EndpointConfigName=sagemaker.create_endpoint_config(
        EndpointConfigName=(config := unique("c")), ExecutionRoleArn=ROLE_ARN, ProductionVariants=[variant],
    ) and config)
    assert described["ExecutionRoleArn"] == ROLE_ARN and "ModelName" not in described["ProductionVariants"][0]


def test_component_lifecycle_copies_and_specification_updates(sagemaker, unique, model):
    endpoint = component_endpoint(sagemaker, unique)
    summary = sagemaker.describe_endpoint(EndpointName=endpoint)["ProductionVariants"][0]
    assert summary["ManagedInstanceScaling"]["MaxInstanceCount"] == 4 and summary["DeployedImages"] == []
    name = unique("ic")
    sagemaker.create_inference_component(
        InferenceComponentName=name, EndpointName=endpoint, VariantName="main",
        Specification={"ModelName": model, "ComputeResourceRequirements": REQUIREMENTS},
        RuntimeConfig={"CopyCount": 2},
    )
    creating = sagemaker.describe_inference_component(InferenceComponentName=name)
    assert creating["InferenceComponentStatus"] == "Creating"
    assert creating["RuntimeConfig"] == {"DesiredCopyCount": 2, "CurrentCopyCount": 0}
    assert settled(sagemaker, name)[-1] == "InService"
    described = sagemaker.describe_inference_component(InferenceComponentName=name)
    assert described["RuntimeConfig"]["CurrentCopyCount"] == 2 and described["VariantName"] == "main"
    assert described["EndpointArn"].endswith(f"endpoint/{endpoint}")

    sagemaker.update_inference_component_runtime_config(InferenceComponentName=name, DesiredRuntimeConfig={"CopyCount": 0})
    assert component_status(sagemaker, name) == "Updating"
    code, message = error_of(lambda: sagemaker.update_inference_component_runtime_config(
        InferenceComponentName=name, DesiredRuntimeConfig={"CopyCount": 1}))
    assert "Cannot update in-progress inference component" in message
    settled(sagemaker, name)
    assert sagemaker.describe_inference_component(InferenceComponentName=name)["RuntimeConfig"]["CurrentCopyCount"] == 0

    bigger = {**REQUIREMENTS, "MinMemoryRequiredInMb": 2048}
    sagemaker.update_inference_component(InferenceComponentName=name,
                                         Specification={"ModelName": model, "ComputeResourceRequirements": bigger})
    assert sagemaker.describe_inference_component(InferenceComponentName=name)["Specification"][
        "ComputeResourceRequirements"]["MinMemoryRequiredInMb"] == 1024  # until the update completes
    settled(sagemaker, name)
    assert sagemaker.describe_inference_component(InferenceComponentName=name)["Specification"][
        "ComputeResourceRequirements"]["MinMemoryRequiredInMb"] == 2048
    listed = sagemaker.list_inference_components(EndpointNameEquals=endpoint)["InferenceComponents"]
    assert [c["InferenceComponentName"] for c in listed] == [name]

    # The endpoint goes only once nothing sits on it.
    code, message = error_of(lambda: sagemaker.delete_endpoint(EndpointName=endpoint))
    assert code == "ValidationException" and "hosts inference components" in message
    sagemaker.delete_inference_component(InferenceComponentName=name)
    wait_until(lambda: sagemaker.list_inference_components(EndpointNameEquals=endpoint)["InferenceComponents"],
               lambda found: found == [])
    sagemaker.delete_endpoint(EndpointName=endpoint)


def test_components_are_refused_where_sagemaker_refuses_them(sagemaker, unique, model):
    plain = unique("plain")
    sagemaker.create_endpoint(EndpointName=plain, EndpointConfigName=make_config(sagemaker, unique, model))
    spec = {"ModelName": model, "ComputeResourceRequirements": REQUIREMENTS}
    code, message = error_of(lambda: sagemaker.create_inference_component(
        InferenceComponentName=unique("ic"), EndpointName=plain, VariantName="blue", Specification=spec,
        RuntimeConfig={"CopyCount": 1}))
    assert "in status Creating" in message
    in_service(sagemaker, plain)
    code, message = error_of(lambda: sagemaker.create_inference_component(
        InferenceComponentName=unique("ic"), EndpointName=plain, VariantName="blue", Specification=spec,
        RuntimeConfig={"CopyCount": 1}))
    assert "need a variant created without a ModelName" in message
    endpoint = component_endpoint(sagemaker, unique)
    code, message = error_of(lambda: sagemaker.create_inference_component(
        InferenceComponentName=unique("ic"), EndpointName=endpoint, VariantName="main",
        Specification={"ModelName": model}, RuntimeConfig={"CopyCount": 1}))
    assert "ComputeResourceRequirements is required" in message
    code, message = error_of(lambda: sagemaker.create_inference_component(
        InferenceComponentName=unique("ic"), EndpointName=endpoint, VariantName="main",
        Specification={"ModelName": "no-such-model", "ComputeResourceRequirements": REQUIREMENTS},
        RuntimeConfig={"CopyCount": 1}))
    assert "Could not find model" in message


def test_autoscaling_checks_resource_ids_targets_and_metrics(autoscaling, autoscaling_unchecked, sagemaker, unique, model):
    endpoint = component_endpoint(sagemaker, unique)
    component = unique("ic")
    sagemaker.create_inference_component(
        InferenceComponentName=component, EndpointName=endpoint, VariantName="main",
        Specification={"ModelName": model, "ComputeResourceRequirements": REQUIREMENTS}, RuntimeConfig={"CopyCount": 1},
    )
    resource = f"inference-component/{component}"
    target = {"ServiceNamespace": "sagemaker", "ResourceId": resource, "ScalableDimension": COPY_DIMENSION}
    code, message = error_of(lambda: autoscaling.put_scaling_policy(
        PolicyName="copies", PolicyType="TargetTrackingScaling", **target,
        TargetTrackingScalingPolicyConfiguration={"TargetValue": 5, "PredefinedMetricSpecification": {
            "PredefinedMetricType": "SageMakerInferenceComponentInvocationsPerCopy"}}))
    assert code == "ObjectNotFoundException"
    assert message == (f"No scalable target registered for service namespace: sagemaker, resource ID: {resource}, "
                       f"scalable dimension: {COPY_DIMENSION}")
    code, message = error_of(lambda: autoscaling.register_scalable_target(
        ServiceNamespace="sagemaker", ResourceId=f"endpoint/{endpoint}/variant/main", ScalableDimension=COPY_DIMENSION,
        MinCapacity=0, MaxCapacity=3))
    assert code == "ValidationException" and "Unsupported resource ID" in message
    code, message = error_of(lambda: autoscaling.register_scalable_target(
        **{**target, "ResourceId": "inference-component/nothing-here"}, MinCapacity=0, MaxCapacity=3))
    assert "does not exist" in message
    code, message = error_of(lambda: autoscaling.register_scalable_target(**target, MinCapacity=4, MaxCapacity=3))
    assert message == "Minimum capacity cannot be greater than maximum capacity"
    code, message = error_of(lambda: autoscaling.register_scalable_target(**target))
    assert "MinCapacity and MaxCapacity are required" in message
    # Validated against Application Auto Scaling's own service model.
    code, message = error_of(lambda: autoscaling_unchecked.register_scalable_target(
        **{**target, "ScalableDimension": "sagemaker:inference-component:Copies"}, MinCapacity=0, MaxCapacity=3))
    assert code == "ValidationException" and "Member must satisfy enum value set" in message

    autoscaling.register_scalable_target(**target, MinCapacity=0, MaxCapacity=3)
    code, message = error_of(lambda: autoscaling.put_scaling_policy(
        PolicyName="copies", PolicyType="TargetTrackingScaling", **target,
        TargetTrackingScalingPolicyConfiguration={"TargetValue": 5, "PredefinedMetricSpecification": {
            "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}}))
    assert "Unsupported metric type SageMakerVariantInvocationsPerInstance" in message
    autoscaling.put_scaling_policy(
        PolicyName="copies", PolicyType="TargetTrackingScaling", **target,
        TargetTrackingScalingPolicyConfiguration={"TargetValue": 5, "PredefinedMetricSpecification": {
            "PredefinedMetricType": "SageMakerInferenceComponentInvocationsPerCopy"}})
    policies = autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=resource)["ScalingPolicies"]
    assert [p["PolicyName"] for p in policies] == ["copies"] and len(policies[0]["Alarms"]) == 2
    # Deregistering the target takes its policies with it.
    autoscaling.deregister_scalable_target(**target)
    assert autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=resource)["ScalingPolicies"] == []
    code, message = error_of(lambda: autoscaling.deregister_scalable_target(**target))
    assert code == "ObjectNotFoundException" and message.startswith("No scalable target found for service namespace")
    code, message = error_of(lambda: autoscaling.delete_scaling_policy(PolicyName="copies", **target))
    assert code == "ObjectNotFoundException" and message.startswith("No scaling policy found for service namespace")


def test_update_endpoint_refuses_an_instance_type_change_under_a_scalable_target(autoscaling, sagemaker, unique, model):
    name = unique("scaled")
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=make_config(sagemaker, unique, model))
    in_service(sagemaker, name)
    target = {"ServiceNamespace": "sagemaker", "ResourceId": f"endpoint/{name}/variant/blue",
              "ScalableDimension": VARIANT_DIMENSION}
    autoscaling.register_scalable_target(**target, MinCapacity=1, MaxCapacity=3)
    bigger = unique("bigger")
    sagemaker.create_endpoint_config(EndpointConfigName=bigger, ProductionVariants=[
        {"VariantName": "blue", "ModelName": model, "InstanceType": "ml.m5.xlarge", "InitialInstanceCount": 1}])
    code, message = error_of(lambda: sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=bigger))
    assert code == "ValidationException"
    assert message == ('The variant(s) "[\'blue\']" must be deregistered as scalable targets with AWS Application '
                       "Auto Scaling before they can be removed or have their instance type updated.")
    # The same instance type is fine under the target; after deregistering, the new type is too.
    sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=make_config(sagemaker, unique, model, count=2))
    in_service(sagemaker, name)
    autoscaling.deregister_scalable_target(**target)
    sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=bigger)
    assert in_service(sagemaker, name)[-1] == "InService"


def test_pending_deployment_summary_during_a_blue_green_update(sagemaker, control, unique, model):
    name = unique("pending")
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=make_config(sagemaker, unique, model))
    in_service(sagemaker, name)
    assert "PendingDeploymentSummary" not in sagemaker.describe_endpoint(EndpointName=name)
    control.set_timings(endpoint_updating=2.0)
    try:
        new_config = make_config(sagemaker, unique, model, count=3)
        canary = {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
            "Type": "CANARY", "WaitIntervalInSeconds": 0, "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1}}}}
        sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=new_config, DeploymentConfig=canary)
        pending = sagemaker.describe_endpoint(EndpointName=name)["PendingDeploymentSummary"]
        assert pending["EndpointConfigName"] == new_config
        variant = pending["ProductionVariants"][0]
        assert (variant["VariantName"], variant["InstanceType"]) == ("blue", "ml.m5.large")
        assert (variant["DesiredInstanceCount"], variant["CurrentInstanceCount"]) == (3, 0)
        assert variant["VariantStatus"][0]["Status"] == "Creating"
        later = wait_until(lambda: sagemaker.describe_endpoint(EndpointName=name).get("PendingDeploymentSummary"),
                           lambda p: p is not None and p["ProductionVariants"][0]["VariantStatus"][0]["Status"] != "Creating",
                           timeout=10)[-1]
        assert later["ProductionVariants"][0]["VariantStatus"][0]["Status"] == "Baking"
        assert later["ProductionVariants"][0]["CurrentInstanceCount"] == 3
        assert in_service(sagemaker, name)[-1] == "InService"
        assert "PendingDeploymentSummary" not in sagemaker.describe_endpoint(EndpointName=name)
        assert endpoint_status(sagemaker, name) == "InService"
    finally:
        control.set_timings(endpoint_updating=1.0)


def test_an_injected_failure_ends_the_component_failed_with_its_reason(sagemaker, control, unique, model):
    endpoint = component_endpoint(sagemaker, unique)
    name = unique("ic")
    control.fail_inference_component(name, reason="Insufficient memory for 2 copies.")  # armed for a later create
    sagemaker.create_inference_component(
        InferenceComponentName=name, EndpointName=endpoint, VariantName="main",
        Specification={"ModelName": model, "ComputeResourceRequirements": REQUIREMENTS}, RuntimeConfig={"CopyCount": 2})
    assert settled(sagemaker, name)[-1] == "Failed"
    assert sagemaker.describe_inference_component(InferenceComponentName=name)["FailureReason"] == (
        "Insufficient memory for 2 copies.")
    code, message = error_of(lambda: sagemaker.update_inference_component_runtime_config(
        InferenceComponentName=name, DesiredRuntimeConfig={"CopyCount": 1}))
    assert "in status Failed" in message
    sagemaker.delete_inference_component(InferenceComponentName=name)
