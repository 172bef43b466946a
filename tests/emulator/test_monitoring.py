"""Model Monitor through boto3: job definitions of the four types, schedules and their executions."""

from __future__ import annotations

import contextlib

import pytest
from botocore.exceptions import ClientError

from tests.emulator.helpers import ROLE_ARN, raw_call, wait_until

IMAGE = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"


@contextlib.contextmanager
def timings(control, **phases):
    before = control.timings()
    control.set_timings(**phases)
    try:
        yield
    finally:
        control.set_timings(**{phase: before[phase] for phase in phases})


def endpoint(sagemaker, unique, capture: bool = True) -> str:
    name = unique("monitored")
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE_ARN,
                           PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://bucket/model.tar.gz"})
    config = {"EndpointConfigName": name, "ProductionVariants": [
        {"VariantName": "main", "ModelName": name, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}]}
    if capture:
        config["DataCaptureConfig"] = {"InitialSamplingPercentage": 100, "DestinationS3Uri": "s3://bucket/capture",
                                       "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]}
    sagemaker.create_endpoint_config(**config)
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    return name


def job_input(monitoring_type: str, endpoint_name: str) -> dict:
    job = {"EndpointInput": {"EndpointName": endpoint_name, "LocalPath": "/opt/ml/processing/input/endpoint"}}
    if monitoring_type in ("ModelQuality", "ModelBias"):
        job["GroundTruthS3Input"] = {"S3Uri": "s3://bucket/ground-truth"}
    return job


def app_specification(monitoring_type: str) -> dict:
    if monitoring_type in ("ModelBias", "ModelExplainability"):
        return {"ImageUri": IMAGE, "ConfigUri": "s3://bucket/analysis_config.json"}
    if monitoring_type == "ModelQuality":
        return {"ImageUri": IMAGE, "ProblemType": "BinaryClassification"}
    return {"ImageUri": IMAGE}


def definition_request(monitoring_type: str, name: str, endpoint_name: str) -> dict:
    return {
        "JobDefinitionName": name,
        f"{monitoring_type}AppSpecification": app_specification(monitoring_type),
        f"{monitoring_type}JobInput": job_input(monitoring_type, endpoint_name),
        f"{monitoring_type}JobOutputConfig": {"MonitoringOutputs": [
            {"S3Output": {"S3Uri": "s3://bucket/reports", "LocalPath": "/opt/ml/processing/output"}}]},
        "JobResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 20}},
        "RoleArn": ROLE_ARN,
        "Tags": [{"Key": "team", "Value": "ml"}],
    }


def snake(monitoring_type: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in monitoring_type).lstrip("_")


def schedule_config(monitoring_type: str, definition: str) -> dict:
    return {"ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"},
            "MonitoringJobDefinitionName": definition, "MonitoringType": monitoring_type}


@pytest.mark.parametrize("monitoring_type", ["DataQuality", "ModelQuality", "ModelBias", "ModelExplainability"])
def test_each_type_of_job_definition_is_created_described_listed_and_deleted(sagemaker, unique, monitoring_type):
    ep = endpoint(sagemaker, unique)
    name = unique(f"{snake(monitoring_type).replace('_', '-')}")
    kind = snake(monitoring_type)
    arn = getattr(sagemaker, f"create_{kind}_job_definition")(**definition_request(monitoring_type, name, ep))[
        "JobDefinitionArn"]
    assert arn.endswith(f"-job-definition/{name.lower()}")
    described = getattr(sagemaker, f"describe_{kind}_job_definition")(JobDefinitionName=name)
    assert described[f"{monitoring_type}JobInput"]["EndpointInput"]["EndpointName"] == ep
    assert described["RoleArn"] == ROLE_ARN and "Tags" not in described
    assert {"Key": "team", "Value": "ml"} in sagemaker.list_tags(ResourceArn=arn)["Tags"]
    listed = getattr(sagemaker, f"list_{kind}_job_definitions")(NameContains=name, EndpointName=ep)
    assert [s["MonitoringJobDefinitionName"] for s in listed["JobDefinitionSummaries"]] == [name]
    with pytest.raises(ClientError) as again:
        getattr(sagemaker, f"create_{kind}_job_definition")(**definition_request(monitoring_type, name, ep))
    assert again.value.response["Error"]["Code"] == "ResourceInUse"
    getattr(sagemaker, f"delete_{kind}_job_definition")(JobDefinitionName=name)
    with pytest.raises(ClientError) as gone:
        getattr(sagemaker, f"describe_{kind}_job_definition")(JobDefinitionName=name)
    assert gone.value.response["Error"]["Code"] == "ResourceNotFound"


def test_a_definition_on_an_unknown_endpoint_is_refused(sagemaker, unique):
    with pytest.raises(ClientError) as refused:
        sagemaker.create_data_quality_job_definition(**definition_request("DataQuality", unique("dq"), "no-such"))
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "Could not find endpoint" in refused.value.response["Error"]["Message"]


def test_schedule_goes_pending_then_scheduled_runs_executions_and_reports_violations(sagemaker, control, unique):
    ep = endpoint(sagemaker, unique)
    definition = unique("dq")
    sagemaker.create_data_quality_job_definition(**definition_request("DataQuality", definition, ep))
    name = unique("schedule")
    with timings(control, monitoring_execution_interval=0.5, monitoring_execution_running=0.2):
        sagemaker.create_monitoring_schedule(MonitoringScheduleName=name,
                                             MonitoringScheduleConfig=schedule_config("DataQuality", definition))
        assert sagemaker.describe_monitoring_schedule(MonitoringScheduleName=name)["MonitoringScheduleStatus"] == "Pending"
        control.report_violations(name, count=2)
        seen = wait_until(lambda: sagemaker.describe_monitoring_schedule(MonitoringScheduleName=name),
                          lambda d: (d.get("LastMonitoringExecutionSummary") or {}).get("MonitoringExecutionStatus")
                          == "CompletedWithViolations")
        first = seen[-1]
        assert first["MonitoringScheduleStatus"] == "Scheduled" and first["EndpointName"] == ep
        summary = first["LastMonitoringExecutionSummary"]
        assert summary["FailureReason"] == "CompletedWithViolations: Job completed successfully with 2 violations."
        assert ":processing-job/model-monitoring-" in summary["ProcessingJobArn"]
        # Only the next execution was told to find violations.
        wait_until(lambda: sagemaker.describe_monitoring_schedule(MonitoringScheduleName=name),
                   lambda d: d["LastMonitoringExecutionSummary"]["MonitoringExecutionStatus"] == "Completed")
        sagemaker.stop_monitoring_schedule(MonitoringScheduleName=name)
    stopped = sagemaker.describe_monitoring_schedule(MonitoringScheduleName=name)
    assert stopped["MonitoringScheduleStatus"] == "Stopped"
    executions = sagemaker.list_monitoring_executions(MonitoringScheduleName=name, SortBy="ScheduledTime",
                                                      SortOrder="Ascending", MaxResults=100)["MonitoringExecutionSummaries"]
    assert executions[0]["MonitoringExecutionStatus"] == "CompletedWithViolations"
    assert all(e["MonitoringJobDefinitionName"] == definition for e in executions)
    later = sagemaker.list_monitoring_executions(MonitoringScheduleName=name, LastModifiedTimeAfter=stopped[
        "LastModifiedTime"])["MonitoringExecutionSummaries"]
    assert all(e["LastModifiedTime"] > stopped["LastModifiedTime"] for e in later)
    violations = sagemaker.list_monitoring_executions(MonitoringScheduleName=name, StatusEquals="CompletedWithViolations")
    assert len(violations["MonitoringExecutionSummaries"]) == 1


def test_executions_of_an_endpoint_that_captures_nothing_fail(sagemaker, control, unique):
    ep = endpoint(sagemaker, unique, capture=False)
    definition = unique("dq")
    sagemaker.create_data_quality_job_definition(**definition_request("DataQuality", definition, ep))
    name = unique("schedule")
    with timings(control, monitoring_execution_interval=0.3, monitoring_execution_running=0.1):
        sagemaker.create_monitoring_schedule(MonitoringScheduleName=name,
                                             MonitoringScheduleConfig=schedule_config("DataQuality", definition))
        seen = wait_until(lambda: sagemaker.describe_monitoring_schedule(MonitoringScheduleName=name),
                          lambda d: (d.get("LastMonitoringExecutionSummary") or {}).get("MonitoringExecutionStatus")
                          == "Failed")
    assert seen[-1]["LastMonitoringExecutionSummary"]["FailureReason"] == "Job inputs had no data"
    sagemaker.delete_monitoring_schedule(MonitoringScheduleName=name)


def test_update_moves_the_schedule_to_another_definition_and_a_definition_in_use_cannot_go(sagemaker, unique):
    ep = endpoint(sagemaker, unique)
    old, new = unique("dq-old"), unique("mq-new")
    sagemaker.create_data_quality_job_definition(**definition_request("DataQuality", old, ep))
    sagemaker.create_model_quality_job_definition(**definition_request("ModelQuality", new, ep))
    name = unique("schedule")
    sagemaker.create_monitoring_schedule(MonitoringScheduleName=name,
                                         MonitoringScheduleConfig=schedule_config("DataQuality", old))
    with pytest.raises(ClientError) as in_use:
        sagemaker.delete_data_quality_job_definition(JobDefinitionName=old)
    assert in_use.value.response["Error"]["Code"] == "ResourceInUse"
    assert name in in_use.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as unknown:
        sagemaker.update_monitoring_schedule(MonitoringScheduleName=name,
                                             MonitoringScheduleConfig=schedule_config("DataQuality", new))
    assert unknown.value.response["Error"]["Code"] == "ValidationException"
    sagemaker.update_monitoring_schedule(MonitoringScheduleName=name,
                                         MonitoringScheduleConfig=schedule_config("ModelQuality", new))
    described = sagemaker.describe_monitoring_schedule(MonitoringScheduleName=name)
    assert described["MonitoringScheduleStatus"] == "Pending" and described["MonitoringType"] == "ModelQuality"
    sagemaker.delete_data_quality_job_definition(JobDefinitionName=old)
    listed = sagemaker.list_monitoring_schedules(EndpointName=ep, MonitoringTypeEquals="ModelQuality",
                                                 MonitoringJobDefinitionName=new)["MonitoringScheduleSummaries"]
    assert [s["MonitoringScheduleName"] for s in listed] == [name]
    assert sagemaker.list_monitoring_schedules(EndpointName=ep, MonitoringTypeEquals="DataQuality")[
        "MonitoringScheduleSummaries"] == []
    sagemaker.delete_monitoring_schedule(MonitoringScheduleName=name)
    sagemaker.delete_model_quality_job_definition(JobDefinitionName=new)
    with pytest.raises(ClientError) as gone:
        sagemaker.describe_monitoring_schedule(MonitoringScheduleName=name)
    assert gone.value.response["Error"]["Code"] == "ResourceNotFound"


def test_schedule_names_are_unique_and_lists_page(sagemaker, unique):
    ep = endpoint(sagemaker, unique)
    definition = unique("dq")
    sagemaker.create_data_quality_job_definition(**definition_request("DataQuality", definition, ep))
    stem = unique("paged")
    names = [f"{stem}-{i}" for i in range(3)]
    for name in names:
        sagemaker.create_monitoring_schedule(MonitoringScheduleName=name,
                                             MonitoringScheduleConfig=schedule_config("DataQuality", definition))
    with pytest.raises(ClientError) as taken:
        sagemaker.create_monitoring_schedule(MonitoringScheduleName=names[0],
                                             MonitoringScheduleConfig=schedule_config("DataQuality", definition))
    assert taken.value.response["Error"]["Code"] == "ResourceInUse"
    pages = sagemaker.get_paginator("list_monitoring_schedules").paginate(
        NameContains=stem, SortBy="Name", SortOrder="Ascending", PaginationConfig={"PageSize": 2})
    assert [s["MonitoringScheduleName"] for p in pages for s in p["MonitoringScheduleSummaries"]] == names
    for name in names:
        sagemaker.delete_monitoring_schedule(MonitoringScheduleName=name)


@pytest.mark.parametrize("full", [False, True], ids=["required-members", "every-member"])
@pytest.mark.parametrize("monitoring_type", ["DataQuality", "ModelQuality", "ModelBias", "ModelExplainability"])
def test_describe_answers_fit_their_shape_and_echo_the_request(sagemaker, control, unique, monitoring_type, full):
    """As tests/emulator/test_describe_answers.py checks the other kinds: each answer validated
    against its output shape, and every member of a request generated from the service model echoed."""
    from tests.emulator.test_describe_answers import VALIDATOR, check_answer, check_echo, request_for

    def describe(operation: str, create: str, request: dict, **params) -> dict:
        status, answer = raw_call(control.url, operation, params)
        assert status == 200, answer
        check_answer(operation, answer)
        check_echo(VALIDATOR.operation(create).input_shape, request, VALIDATOR.operation(operation).output_shape,
                   answer, operation)
        return answer

    ep = endpoint(sagemaker, unique)
    definition = request_for(f"Create{monitoring_type}JobDefinition", full, JobDefinitionName=unique("described"))
    definition[f"{monitoring_type}JobInput"].setdefault("EndpointInput", {"LocalPath": "/opt/ml/processing/input"})
    definition[f"{monitoring_type}JobInput"]["EndpointInput"]["EndpointName"] = ep
    getattr(sagemaker, f"create_{snake(monitoring_type)}_job_definition")(**definition)
    describe(f"Describe{monitoring_type}JobDefinition", f"Create{monitoring_type}JobDefinition", definition,
             JobDefinitionName=definition["JobDefinitionName"])

    schedule = request_for("CreateMonitoringSchedule", full, MonitoringScheduleName=unique("described"))
    config = schedule["MonitoringScheduleConfig"]
    config.pop("MonitoringJobDefinition", None)
    config.update(MonitoringJobDefinitionName=definition["JobDefinitionName"], MonitoringType=monitoring_type)
    with timings(control, monitoring_execution_interval=0.3, monitoring_execution_running=0.1):
        sagemaker.create_monitoring_schedule(**schedule)
        name = schedule["MonitoringScheduleName"]
        describe("DescribeMonitoringSchedule", "CreateMonitoringSchedule", schedule, MonitoringScheduleName=name)
        wait_until(lambda: sagemaker.describe_monitoring_schedule(MonitoringScheduleName=name),
                   lambda d: (d.get("LastMonitoringExecutionSummary") or {}).get("MonitoringExecutionStatus")
                   == "Completed")
        answer = describe("DescribeMonitoringSchedule", "CreateMonitoringSchedule", schedule,
                          MonitoringScheduleName=name)
    assert answer["LastMonitoringExecutionSummary"]["MonitoringType"] == monitoring_type
    sagemaker.delete_monitoring_schedule(MonitoringScheduleName=name)
