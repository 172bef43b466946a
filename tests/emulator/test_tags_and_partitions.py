"""Tags as AWS keeps them (aws: keys reserved, ListTags paged with tokens it checks) and ARNs in the
partition of their region."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.emulator.helpers import ROLE_ARN, training_request, wait_until

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:1.7-1"


def create_model(client, name: str, tags=None) -> str:
    return client.create_model(
        ModelName=name, ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": IMAGE}, Tags=tags or []
    )["ModelArn"]


def refusal(call) -> dict:
    with pytest.raises(ClientError) as refused:
        call()
    return refused.value.response["Error"]


@pytest.mark.parametrize("key", ["aws:cloudformation:stack-name", "AWS:team", "Aws:x"])
def test_aws_prefixed_keys_are_reserved(sagemaker, unique, key):
    arn = create_model(sagemaker, unique("model"))
    error = refusal(lambda: sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": key, "Value": "v"}]))
    assert error["Code"] == "ValidationException" and key in error["Message"]
    error = refusal(lambda: sagemaker.delete_tags(ResourceArn=arn, TagKeys=[key]))
    assert error["Code"] == "ValidationException"
    error = refusal(lambda: create_model(sagemaker, unique("model"), tags=[{"Key": key, "Value": "v"}]))
    assert error["Code"] == "ValidationException"
    # A value may start with aws:; only keys are reserved.
    sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": "source", "Value": "aws:marketplace"}])


def test_list_tags_pages_with_tokens_it_checks(sagemaker, control, unique):
    arn = create_model(sagemaker, unique("model"), tags=[{"Key": f"user-{i:02d}", "Value": str(i)} for i in range(50)])
    # What AWS adds itself does not count against the 50 a user may set.
    system = [{"Key": f"aws:service:tag-{i:02d}", "Value": str(i)} for i in range(30)]
    assert control.add_system_tags(arn, system) == 30
    with pytest.raises(ClientError):
        sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": "one-too-many", "Value": "x"}])

    first = sagemaker.list_tags(ResourceArn=arn)
    assert len(first["Tags"]) == 50 and first["NextToken"]
    second = sagemaker.list_tags(ResourceArn=arn, NextToken=first["NextToken"], MaxResults=50)
    assert len(second["Tags"]) == 30 and "NextToken" not in second
    assert first["Tags"] + second["Tags"] == [{"Key": f"user-{i:02d}", "Value": str(i)} for i in range(50)] + system
    paged = [tag for page in sagemaker.get_paginator("list_tags").paginate(ResourceArn=arn) for tag in page["Tags"]]
    assert len(paged) == 80
    # Listed first, the system tags push the user's last 30 onto the second page.
    control.add_system_tags(arn, system, first=True)
    first = sagemaker.list_tags(ResourceArn=arn)
    assert first["Tags"][:30] == system and first["Tags"][30:] == [{"Key": f"user-{i:02d}", "Value": str(i)} for i in range(20)]

    other = create_model(sagemaker, unique("model"))
    for token in ("not-a-token", "50", first["NextToken"][:-4]):
        error = refusal(lambda: sagemaker.list_tags(ResourceArn=arn, NextToken=token))
        assert (error["Code"], error["Message"]) == ("ValidationException", "Invalid pagination token")
    # A token names the listing it belongs to.
    error = refusal(lambda: sagemaker.list_tags(ResourceArn=other, NextToken=first["NextToken"]))
    assert error["Message"] == "Invalid pagination token"


def test_system_tags_control_takes_only_aws_keys(control, sagemaker, unique):
    from kubemaker_emulator.control import ControlApiError

    arn = create_model(sagemaker, unique("model"))
    with pytest.raises(ControlApiError) as refused:
        control.add_system_tags(arn, [{"Key": "team", "Value": "x"}])
    assert refused.value.status == 400
    with pytest.raises(ControlApiError) as missing:
        control.add_system_tags(arn.replace("model/", "model/missing-"), [{"Key": "aws:x", "Value": "y"}])
    assert missing.value.status == 404


def test_pipeline_parameter_tokens_are_checked(sagemaker, unique):
    name = unique("params")
    definition = '{"Version": "2020-12-01", "Steps": [{"Name": "A", "Type": "Training", "Arguments": {}}]}'
    sagemaker.create_pipeline(
        PipelineName=name, RoleArn=ROLE_ARN, PipelineDefinition=definition, ClientRequestToken=(name * 4)[:64]
    )
    arn = sagemaker.start_pipeline_execution(
        PipelineName=name,
        ClientRequestToken=(name * 4)[:64],
        PipelineParameters=[{"Name": f"P{i}", "Value": str(i)} for i in range(3)],
    )["PipelineExecutionArn"]
    first = sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn, MaxResults=2)
    rest = sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn, NextToken=first["NextToken"])
    assert [p["Name"] for p in first["PipelineParameters"] + rest["PipelineParameters"]] == ["P0", "P1", "P2"]
    error = refusal(lambda: sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn, NextToken="2"))
    assert error["Message"] == "Invalid pagination token"


@pytest.mark.parametrize(
    ("region", "partition"), [("us-east-1", "aws"), ("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")]
)
def test_arns_are_in_the_partition_of_their_region(emulator, unique, region, partition):
    client = emulator.client("sagemaker", region=region)
    role = f"arn:{partition}:iam::123456789012:role/SageMakerRole"
    model = unique("model")
    arn = client.create_model(ModelName=model, ExecutionRoleArn=role, PrimaryContainer={"Image": IMAGE})["ModelArn"]
    assert arn == f"arn:{partition}:sagemaker:{region}:123456789012:model/{model}"
    client.add_tags(ResourceArn=arn, Tags=[{"Key": "team", "Value": "ml"}])
    assert client.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml"}]
    error = refusal(lambda: client.describe_model(ModelName=unique("missing")))
    assert f'"arn:{partition}:sagemaker:{region}:123456789012:model/' in error["Message"]

    job = unique("job")
    job_arn = client.create_training_job(**training_request(job, RoleArn=role))["TrainingJobArn"]
    assert job_arn.startswith(f"arn:{partition}:sagemaker:{region}:")
    wait_until(
        lambda: client.describe_training_job(TrainingJobName=job)["TrainingJobStatus"],
        lambda s: s == "Completed",
        timeout=30,
    )
    logs = emulator.client("logs", region=region)
    assert logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=f"{job}/")[
        "logStreams"
    ]

    # A pipeline definition read from S3 comes from that partition's S3.
    s3 = emulator.client("s3", region=region)
    bucket = unique("definitions")
    s3.create_bucket(
        Bucket=bucket,
        **({} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}),
    )
    s3.put_object(Bucket=bucket, Key="p.json", Body=b'{"Version": "2020-12-01", "Steps": []}')
    pipeline = unique("pipeline")
    pipeline_arn = client.create_pipeline(
        PipelineName=pipeline,
        RoleArn=role,
        ClientRequestToken=(pipeline * 4)[:64],
        PipelineDefinitionS3Location={"Bucket": bucket, "ObjectKey": "p.json"},
    )["PipelineArn"]
    assert pipeline_arn.startswith(f"arn:{partition}:sagemaker:{region}:")

    sts = emulator.client("sts", region=region)
    assumed = sts.assume_role(RoleArn=role, RoleSessionName="kubemaker")["AssumedRoleUser"]["Arn"]
    assert assumed == f"arn:{partition}:sts::123456789012:assumed-role/SageMakerRole/kubemaker"
