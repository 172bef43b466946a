"""Models, endpoint configs, endpoints and Application Auto Scaling through boto3."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.emulator.helpers import ROLE_ARN, wait_until

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:1.7-1"


@pytest.fixture
def model(sagemaker, unique):
    name = unique("model")
    sagemaker.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://bucket/output/job/output/model.tar.gz"},
        Tags=[{"Key": "owner", "Value": "test"}],
    )
    return name


def make_config(sagemaker, unique, model, count=1, **extra):
    name = unique("config")
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "blue", "ModelName": model, "InstanceType": "ml.m5.large", "InitialInstanceCount": count},
        ],
        **extra,
    )
    return name


def endpoint_status(sagemaker, name):
    return sagemaker.describe_endpoint(EndpointName=name)["EndpointStatus"]


def in_service(sagemaker, name):
    return wait_until(lambda: endpoint_status(sagemaker, name), lambda s: s in ("InService", "Failed"))


def test_model_and_config_are_created_at_once_with_aws_defaults(sagemaker, unique, model):
    described = sagemaker.describe_model(ModelName=model)
    assert described["PrimaryContainer"]["Mode"] == "SingleModel"
    assert described["EnableNetworkIsolation"] is False
    config = make_config(
        sagemaker,
        unique,
        model,
        DataCaptureConfig={
            "InitialSamplingPercentage": 50,
            "DestinationS3Uri": "s3://bucket/capture",
            "CaptureOptions": [{"CaptureMode": "Input"}],
        },
        KmsKeyId="alias/key",
    )
    described = sagemaker.describe_endpoint_config(EndpointConfigName=config)
    assert described["ProductionVariants"][0]["InitialVariantWeight"] == 1.0
    assert described["KmsKeyId"] == "alias/key" and described["DataCaptureConfig"]["InitialSamplingPercentage"] == 50
    listed = sagemaker.list_endpoint_configs(NameContains=config)["EndpointConfigs"]
    assert [c["EndpointConfigName"] for c in listed] == [config]
    with pytest.raises(ClientError) as missing_model:
        make_config(sagemaker, unique, "no-such-model")
    assert missing_model.value.response["Error"]["Message"].startswith('Could not find model "arn:aws:sagemaker:')


def test_create_update_weights_and_delete(sagemaker, unique, model):
    name = unique("endpoint")
    first = make_config(sagemaker, unique, model)
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=first)
    creating = sagemaker.describe_endpoint(EndpointName=name)
    assert creating["EndpointStatus"] == "Creating" and "ProductionVariants" not in creating
    assert in_service(sagemaker, name)[-1] == "InService"
    variant = sagemaker.describe_endpoint(EndpointName=name)["ProductionVariants"][0]
    assert (variant["CurrentInstanceCount"], variant["DesiredInstanceCount"], variant["CurrentWeight"]) == (1, 1, 1.0)
    assert variant["DeployedImages"][0]["SpecifiedImage"] == IMAGE

    second = make_config(sagemaker, unique, model, count=2)
    sagemaker.update_endpoint(
        EndpointName=name,
        EndpointConfigName=second,
        DeploymentConfig={
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
            }
        },
    )
    updating = sagemaker.describe_endpoint(EndpointName=name)
    assert updating["EndpointStatus"] == "Updating" and updating["EndpointConfigName"] == first
    assert updating["PendingDeploymentSummary"]["EndpointConfigName"] == second
    with pytest.raises(ClientError) as busy:
        sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=first)
    assert busy.value.response["Error"]["Message"] == f'Cannot update in-progress endpoint "{updating["EndpointArn"]}".'
    assert in_service(sagemaker, name)[-1] == "InService"
    updated = sagemaker.describe_endpoint(EndpointName=name)
    assert updated["EndpointConfigName"] == second
    assert updated["ProductionVariants"][0]["CurrentInstanceCount"] == 2
    assert updated["LastDeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == "ALL_AT_ONCE"

    sagemaker.update_endpoint_weights_and_capacities(
        EndpointName=name, DesiredWeightsAndCapacities=[{"VariantName": "blue", "DesiredWeight": 0.5, "DesiredInstanceCount": 3}]
    )
    moving = sagemaker.describe_endpoint(EndpointName=name)["ProductionVariants"][0]
    assert (moving["CurrentInstanceCount"], moving["DesiredInstanceCount"]) == (2, 3)
    assert (moving["CurrentWeight"], moving["DesiredWeight"]) == (1.0, 0.5)
    assert in_service(sagemaker, name)[-1] == "InService"
    settled = sagemaker.describe_endpoint(EndpointName=name)["ProductionVariants"][0]
    assert (settled["CurrentInstanceCount"], settled["CurrentWeight"]) == (3, 0.5)

    sagemaker.delete_endpoint(EndpointName=name)
    assert endpoint_status(sagemaker, name) == "Deleting"

    def gone():
        try:
            return endpoint_status(sagemaker, name)
        except ClientError as error:
            return error.response["Error"]["Message"]

    assert wait_until(gone, lambda s: s != "Deleting")[-1] == f'Could not find endpoint "{updated["EndpointArn"]}".'


def test_failed_update_rolls_back_to_the_old_config(sagemaker, control, unique, model):
    name = unique("rollback")
    first = make_config(sagemaker, unique, model)
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=first)
    in_service(sagemaker, name)
    control.fail_next_endpoint_update(name, reason="Alarm latency-high went off; rolled back")
    second = make_config(sagemaker, unique, model, count=4)
    sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=second)

    seen = wait_until(lambda: endpoint_status(sagemaker, name), lambda s: s == "InService")

    assert seen == ["Updating", "RollingBack", "InService"]
    endpoint = sagemaker.describe_endpoint(EndpointName=name)
    assert endpoint["EndpointConfigName"] == first
    assert endpoint["FailureReason"] == "Alarm latency-high went off; rolled back"
    assert endpoint["ProductionVariants"][0]["CurrentInstanceCount"] == 1
    # The next update is not affected.
    sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=second)
    in_service(sagemaker, name)
    endpoint = sagemaker.describe_endpoint(EndpointName=name)
    assert endpoint["EndpointConfigName"] == second and "FailureReason" not in endpoint


def test_failed_creation_and_validation(sagemaker, control, unique, model):
    name = unique("broken")
    control.fail_endpoint_creation(name, reason="Image not found")
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=make_config(sagemaker, unique, model))
    assert in_service(sagemaker, name)[-1] == "Failed"
    assert sagemaker.describe_endpoint(EndpointName=name)["FailureReason"] == "Image not found"

    with pytest.raises(ClientError) as no_config:
        sagemaker.create_endpoint(EndpointName=unique("endpoint"), EndpointConfigName="no-such-config")
    assert no_config.value.response["Error"]["Code"] == "ValidationException"
    assert no_config.value.response["Error"]["Message"] == (
        'Could not find endpoint configuration "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/no-such-config".'
    )
    with pytest.raises(ClientError) as no_model:
        sagemaker.create_endpoint_config(EndpointConfigName=unique("config"), ProductionVariants=[
            {"VariantName": "blue", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    assert no_model.value.response["Error"]["Message"] == (
        "ExecutionRoleArn is required when ModelName is not specified in ProductionVariants.")


def test_serverless_variant_converges_its_concurrency(sagemaker, unique, model):
    name, config = unique("serverless"), unique("config")
    sagemaker.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {"VariantName": "main", "ModelName": model, "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5}}
        ],
    )
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=config)
    in_service(sagemaker, name)
    sagemaker.update_endpoint_weights_and_capacities(
        EndpointName=name, DesiredWeightsAndCapacities=[{"VariantName": "main", "ServerlessUpdateConfig": {"MaxConcurrency": 10}}]
    )
    variant = sagemaker.describe_endpoint(EndpointName=name)["ProductionVariants"][0]
    assert (variant["CurrentServerlessConfig"]["MaxConcurrency"], variant["DesiredServerlessConfig"]["MaxConcurrency"]) == (5, 10)
    in_service(sagemaker, name)
    assert sagemaker.describe_endpoint(EndpointName=name)["ProductionVariants"][0]["CurrentServerlessConfig"]["MaxConcurrency"] == 10


def test_autoscaling_target_policy_and_scaler_activity(emulator, sagemaker, control, unique, model):
    autoscaling = emulator.client("application-autoscaling")
    name = unique("scaled")
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=make_config(sagemaker, unique, model))
    in_service(sagemaker, name)
    resource_id = f"endpoint/{name}/variant/blue"
    autoscaling.register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=resource_id,
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        MinCapacity=1,
        MaxCapacity=4,
    )
    autoscaling.put_scaling_policy(
        PolicyName="invocations",
        ServiceNamespace="sagemaker",
        ResourceId=resource_id,
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 100.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
            "ScaleInCooldown": 300,
            "ScaleOutCooldown": 60,
        },
    )
    targets = autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource_id])
    assert targets["ScalableTargets"][0]["MaxCapacity"] == 4
    policies = autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=resource_id)
    assert [p["PolicyName"] for p in policies["ScalingPolicies"]] == ["invocations"]

    control.set_variant_instance_count(name, "blue", 3)
    assert endpoint_status(sagemaker, name) == "Updating"
    in_service(sagemaker, name)
    assert sagemaker.describe_endpoint(EndpointName=name)["ProductionVariants"][0]["CurrentInstanceCount"] == 3

    autoscaling.delete_scaling_policy(
        PolicyName="invocations", ServiceNamespace="sagemaker", ResourceId=resource_id,
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
    )  # fmt: skip
    autoscaling.deregister_scalable_target(
        ServiceNamespace="sagemaker", ResourceId=resource_id, ScalableDimension="sagemaker:variant:DesiredInstanceCount"
    )
    assert autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource_id])["ScalableTargets"] == []


def test_deleting_a_model_in_use_is_allowed(sagemaker, unique, model):
    name = unique("orphan")
    config = make_config(sagemaker, unique, model)
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=config)
    sagemaker.delete_model(ModelName=model)
    sagemaker.delete_endpoint_config(EndpointConfigName=config)
    assert in_service(sagemaker, name)[-1] == "InService"
    with pytest.raises(ClientError) as missing:
        sagemaker.describe_model(ModelName=model)
    assert missing.value.response["Error"]["Message"] == f'Could not find model "arn:aws:sagemaker:us-east-1:123456789012:model/{model}".'
