"""Pipelines and pipeline executions through boto3."""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.emulator.helpers import ROLE_ARN, wait_until


def definition(*steps):
    return json.dumps(
        {
            "Version": "2020-12-01",
            "Parameters": [{"Name": "InstanceType", "Type": "String", "DefaultValue": "ml.m5.large"}],
            "Steps": list(steps),
        }
    )


def token():
    return uuid.uuid4().hex


SEQUENTIAL = definition(
    {"Name": "Prepare", "Type": "Processing", "Arguments": {}},
    {"Name": "Train", "Type": "Training", "Arguments": {}},
    {"Name": "Register", "Type": "RegisterModel", "Arguments": {}},
)


def execution_status(sagemaker, arn):
    return sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"]


def steps_of(sagemaker, arn):
    listed = sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=arn, SortOrder="Ascending")
    return [(s["StepName"], s["StepStatus"]) for s in listed["PipelineExecutionSteps"]]


def test_pipeline_lifecycle_and_idempotent_creation(sagemaker, unique):
    name, create_token = unique("pipe"), token()
    arn = sagemaker.create_pipeline(
        PipelineName=name, PipelineDefinition=SEQUENTIAL, RoleArn=ROLE_ARN, ClientRequestToken=create_token,
        ParallelismConfiguration={"MaxParallelExecutionSteps": 2}, Tags=[{"Key": "owner", "Value": "me"}],
    )["PipelineArn"]  # fmt: skip
    again = sagemaker.create_pipeline(PipelineName=name, PipelineDefinition=SEQUENTIAL, RoleArn=ROLE_ARN, ClientRequestToken=create_token)
    assert again["PipelineArn"] == arn
    with pytest.raises(ClientError) as taken:
        sagemaker.create_pipeline(PipelineName=name, PipelineDefinition=SEQUENTIAL, RoleArn=ROLE_ARN, ClientRequestToken=token())
    assert "already exists" in taken.value.response["Error"]["Message"]

    described = sagemaker.describe_pipeline(PipelineName=name)
    assert described["PipelineDefinition"] == SEQUENTIAL and described["PipelineStatus"] == "Active"
    assert described["ParallelismConfiguration"] == {"MaxParallelExecutionSteps": 2}
    sagemaker.update_pipeline(PipelineName=name, PipelineDescription="nightly")
    assert sagemaker.describe_pipeline(PipelineName=name)["PipelineDescription"] == "nightly"
    assert [p["PipelineName"] for p in sagemaker.list_pipelines(PipelineNamePrefix=name)["PipelineSummaries"]] == [name]
    assert sagemaker.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "owner", "Value": "me"}]

    sagemaker.delete_pipeline(PipelineName=name, ClientRequestToken=token())
    with pytest.raises(ClientError) as missing:
        sagemaker.describe_pipeline(PipelineName=name)
    assert missing.value.response["Error"]["Code"] == "ResourceNotFound"


def test_definition_from_s3_and_invalid_definitions(emulator, sagemaker, unique):
    s3 = emulator.client("s3")
    bucket = unique("definitions")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="pipeline.json", Body=SEQUENTIAL.encode())
    name = unique("pipe-s3")
    sagemaker.create_pipeline(
        PipelineName=name, RoleArn=ROLE_ARN, ClientRequestToken=token(),
        PipelineDefinitionS3Location={"Bucket": bucket, "ObjectKey": "pipeline.json"},
    )  # fmt: skip
    assert sagemaker.describe_pipeline(PipelineName=name)["PipelineDefinition"] == SEQUENTIAL
    with pytest.raises(ClientError) as invalid:
        sagemaker.create_pipeline(PipelineName=unique("bad"), PipelineDefinition="{not json", RoleArn=ROLE_ARN, ClientRequestToken=token())
    assert invalid.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as deep:
        sagemaker.create_pipeline(PipelineName=unique("deep"), PipelineDefinition="[" * 5000 + "]" * 5000,
                                  RoleArn=ROLE_ARN, ClientRequestToken=token())
    assert "nested too deeply" in deep.value.response["Error"]["Message"]


def test_execution_runs_steps_in_order(sagemaker, unique):
    name = unique("pipe-run")
    sagemaker.create_pipeline(PipelineName=name, PipelineDefinition=SEQUENTIAL, RoleArn=ROLE_ARN, ClientRequestToken=token())
    start_token = token()
    arn = sagemaker.start_pipeline_execution(
        PipelineName=name, ClientRequestToken=start_token, PipelineParameters=[{"Name": "InstanceType", "Value": "ml.c5.xlarge"}]
    )["PipelineExecutionArn"]
    assert sagemaker.start_pipeline_execution(PipelineName=name, ClientRequestToken=start_token)["PipelineExecutionArn"] == arn
    assert steps_of(sagemaker, arn) == [("Prepare", "Starting")]

    seen = wait_until(lambda: steps_of(sagemaker, arn), lambda steps: steps and steps[-1] == ("Register", "Succeeded"))

    assert [("Prepare", "Executing")] in seen
    assert [("Prepare", "Succeeded"), ("Train", "Executing")] in seen
    assert execution_status(sagemaker, arn) == "Succeeded"
    steps = sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"]
    assert [s["StepName"] for s in steps] == ["Register", "Train", "Prepare"]  # newest first by default
    assert steps[1]["Metadata"]["TrainingJob"]["Arn"].startswith("arn:aws:sagemaker:us-east-1:123456789012:training-job/pipelines-")
    assert all(s["StartTime"] < s["EndTime"] for s in steps)
    assert sagemaker.describe_pipeline_definition_for_execution(PipelineExecutionArn=arn)["PipelineDefinition"] == SEQUENTIAL
    executions = sagemaker.list_pipeline_executions(PipelineName=name)["PipelineExecutionSummaries"]
    assert [e["PipelineExecutionArn"] for e in executions] == [arn]


def test_depends_on_runs_independent_steps_in_parallel(sagemaker, unique):
    name = unique("pipe-dag")
    sagemaker.create_pipeline(
        PipelineName=name,
        RoleArn=ROLE_ARN,
        ClientRequestToken=token(),
        PipelineDefinition=definition(
            {"Name": "A", "Type": "Processing", "Arguments": {}},
            {"Name": "B", "Type": "Processing", "Arguments": {}},
            {"Name": "C", "Type": "Training", "DependsOn": ["A", "B"], "Arguments": {}},
        ),
    )
    arn = sagemaker.start_pipeline_execution(PipelineName=name, ClientRequestToken=token())["PipelineExecutionArn"]
    assert sorted(steps_of(sagemaker, arn)) == [("A", "Starting"), ("B", "Starting")]
    wait_until(lambda: execution_status(sagemaker, arn), lambda s: s != "Executing")
    assert sorted(steps_of(sagemaker, arn)) == [("A", "Succeeded"), ("B", "Succeeded"), ("C", "Succeeded")]


def test_injected_step_failure_fails_the_execution(sagemaker, control, unique):
    name = unique("pipe-fail")
    sagemaker.create_pipeline(PipelineName=name, PipelineDefinition=SEQUENTIAL, RoleArn=ROLE_ARN, ClientRequestToken=token())
    running = sagemaker.start_pipeline_execution(PipelineName=name, ClientRequestToken=token())["PipelineExecutionArn"]
    control.fail_pipeline_step(name, "Train", reason="AlgorithmError: loss is NaN")
    later = sagemaker.start_pipeline_execution(PipelineName=name, ClientRequestToken=token())["PipelineExecutionArn"]

    for arn in (running, later):
        wait_until(lambda: execution_status(sagemaker, arn), lambda s: s != "Executing")
        execution = sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)
        assert execution["PipelineExecutionStatus"] == "Failed" and execution["FailureReason"]
        steps = sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=arn, SortOrder="Ascending")["PipelineExecutionSteps"]
        assert [(s["StepName"], s["StepStatus"]) for s in steps] == [("Prepare", "Succeeded"), ("Train", "Failed")]
        assert steps[1]["FailureReason"] == "AlgorithmError: loss is NaN"

    control.clear_pipeline_step_failures(name)
    healthy = sagemaker.start_pipeline_execution(PipelineName=name, ClientRequestToken=token())["PipelineExecutionArn"]
    assert wait_until(lambda: execution_status(sagemaker, healthy), lambda s: s != "Executing")[-1] == "Succeeded"


def test_stop_and_update_execution(sagemaker, unique):
    name = unique("pipe-stop")
    sagemaker.create_pipeline(PipelineName=name, PipelineDefinition=SEQUENTIAL, RoleArn=ROLE_ARN, ClientRequestToken=token())
    arn = sagemaker.start_pipeline_execution(PipelineName=name, ClientRequestToken=token())["PipelineExecutionArn"]
    sagemaker.update_pipeline_execution(PipelineExecutionArn=arn, PipelineExecutionDisplayName="renamed")
    sagemaker.stop_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken=token())

    assert wait_until(lambda: execution_status(sagemaker, arn), lambda s: s == "Stopped")[0] == "Stopping"

    assert sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionDisplayName"] == "renamed"
    assert steps_of(sagemaker, arn) == [("Prepare", "Stopped")]


def test_fail_step_type_fails_with_its_message(sagemaker, unique):
    name = unique("pipe-failstep")
    sagemaker.create_pipeline(
        PipelineName=name,
        RoleArn=ROLE_ARN,
        ClientRequestToken=token(),
        PipelineDefinition=definition({"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": "accuracy too low"}}),
    )
    arn = sagemaker.start_pipeline_execution(PipelineName=name, ClientRequestToken=token())["PipelineExecutionArn"]
    wait_until(lambda: execution_status(sagemaker, arn), lambda s: s != "Executing")
    step = sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"][0]
    assert (step["StepStatus"], step["FailureReason"]) == ("Failed", "accuracy too low")


def test_execution_parameters_are_listed(sagemaker, unique):
    name = unique("params")
    sagemaker.create_pipeline(PipelineName=name, PipelineDefinition=SEQUENTIAL, RoleArn=ROLE_ARN, ClientRequestToken=token())
    parameters = [{"Name": "InstanceType", "Value": "ml.c5.xlarge"}]
    arn = sagemaker.start_pipeline_execution(
        PipelineName=name, PipelineParameters=parameters, ClientRequestToken=token()
    )["PipelineExecutionArn"]
    assert sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)["PipelineParameters"] == parameters
