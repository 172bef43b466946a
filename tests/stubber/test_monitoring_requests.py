"""The MonitoringSchedule controller and its tracker against botocore's Stubber: every request
checked against SageMaker's service model, and every canned answer against its output shape."""

from __future__ import annotations

import asyncio
import datetime

import pytest

from kubemaker.api.registry import parse_spec
from kubemaker.handlers.monitoringschedule import MonitoringScheduleController
from kubemaker.reconcile import monitoringschedule as planner
from kubemaker.runtime.reconciler import run_pass
from kubemaker.runtime.tracker import MonitoringTracker
from tests.stubber.conftest import clean_up, serve
from tests.stubber.test_jobs_requests import ROLE, UID, context, ready, tags_for

NOW = datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC)
LATER = NOW + datetime.timedelta(hours=1)
ACCOUNT = "arn:aws:sagemaker:us-east-1:123456789012"
IMAGE = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
OWNED = {"Tags": [{"Key": "kubemaker.io/uid", "Value": UID}]}


def data_quality(image: str = IMAGE, **endpoint_input) -> dict:
    return {
        "dataQualityAppSpecification": {"imageUri": image},
        "dataQualityJobInput": {"endpointInput": {"localPath": "/opt/ml/processing/input", **endpoint_input}},
        "dataQualityJobOutputConfig": {"monitoringOutputs": [
            {"s3Output": {"s3Uri": "s3://bucket/reports", "localPath": "/opt/ml/processing/output"}}]},
        "jobResources": {"clusterConfig": {"instanceCount": 1, "instanceType": "ml.m5.xlarge", "volumeSizeInGB": 20}},
        "roleArn": ROLE,
    }


def spec(**definition) -> dict:
    return {"endpointRef": {"name": "churn"},
            "monitoringScheduleConfig": {"scheduleConfig": {"scheduleExpression": "cron(0 * ? * * *)"}},
            "dataQuality": definition.pop("dataQuality", data_quality()), **definition}


def endpoint_object(capture: bool = True) -> dict:
    obj = ready({"endpointName": "churn-ep", "endpointArn": f"{ACCOUNT}:endpoint/churn-ep"})
    obj["spec"] = {"dataCaptureConfig": {"initialSamplingPercentage": 100, "destinationS3Uri": "s3://bucket/capture",
                                         "captureOptions": [{"captureMode": "Input"}]}} if capture else {}
    return obj


def definition_name(ctx) -> str:
    parsed = parse_spec("MonitoringSchedule", ctx.spec)
    return planner.desired_definition(parsed, ctx.sagemaker_name, "churn-ep", ctx.owner.tag_map())["JobDefinitionName"]


def schedule_description(name: str, definition: str, state: str = "Scheduled", last: dict | None = None) -> dict:
    described = {
        "MonitoringScheduleArn": f"{ACCOUNT}:monitoring-schedule/{name}", "MonitoringScheduleName": name,
        "MonitoringScheduleStatus": state, "MonitoringType": "DataQuality", "CreationTime": NOW,
        "LastModifiedTime": NOW, "EndpointName": "churn-ep",
        "MonitoringScheduleConfig": {"ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"},
                                     "MonitoringJobDefinitionName": definition, "MonitoringType": "DataQuality"},
    }
    if last:
        described["LastMonitoringExecutionSummary"] = last
    return described


def controller(runtime) -> MonitoringScheduleController:
    return MonitoringScheduleController(MonitoringTracker(runtime))


def test_create_makes_the_definition_then_the_schedule_and_sends_exactly_the_spec(stubbed):
    serve(stubbed, {("Endpoint", "churn"): endpoint_object()})
    ctx = context(stubbed, "MonitoringSchedule", "monitoringschedules", spec())
    name, definition = ctx.sagemaker_name, definition_name(ctx)
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_client_error("describe_data_quality_job_definition", "ResourceNotFound", "Could not find it.",
                               expected_params={"JobDefinitionName": definition})
    sagemaker.add_response("create_data_quality_job_definition", {"JobDefinitionArn": f"{ACCOUNT}:d/{definition}"},
                           expected_params={
                               "JobDefinitionName": definition,
                               "DataQualityAppSpecification": {"ImageUri": IMAGE},
                               "DataQualityJobInput": {"EndpointInput": {"LocalPath": "/opt/ml/processing/input",
                                                                         "EndpointName": "churn-ep"}},
                               "DataQualityJobOutputConfig": {"MonitoringOutputs": [{"S3Output": {
                                   "S3Uri": "s3://bucket/reports", "LocalPath": "/opt/ml/processing/output"}}]},
                               "JobResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge",
                                                                  "VolumeSizeInGB": 20}},
                               "RoleArn": ROLE,
                               "Tags": tags_for("MonitoringSchedule"),
                           })
    sagemaker.add_response("create_monitoring_schedule", {"MonitoringScheduleArn": f"{ACCOUNT}:monitoring-schedule/{name}"},
                           expected_params={
                               "MonitoringScheduleName": name,
                               "MonitoringScheduleConfig": {
                                   "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"},
                                   "MonitoringJobDefinitionName": definition, "MonitoringType": "DataQuality"},
                               "Tags": tags_for("MonitoringSchedule"),
                           })
    sagemaker.add_response("describe_monitoring_schedule", schedule_description(name, definition, "Pending"))
    plan = asyncio.run(run_pass(controller(stubbed), ctx))
    assert stubbed.status_patches[0] == {"pendingJobDefinition": {"name": definition, "monitoringType": "DataQuality"}}
    assert stubbed.status_patches[1]["createPending"]["name"] == name
    assert plan.health.reason == "Pending" and plan.track and plan.follow["MonitoringScheduleName"] == name
    assert plan.status["monitoringScheduleArn"].endswith(name)


def test_a_definition_change_updates_the_schedule_then_deletes_the_old_definition(stubbed):
    serve(stubbed, {("Endpoint", "churn"): endpoint_object()})
    ctx = context(stubbed, "MonitoringSchedule", "monitoringschedules", spec(dataQuality=data_quality(image=f"{IMAGE}:2")))
    name, new = ctx.sagemaker_name, definition_name(ctx)
    old = f"{name[:54]}-00000000"
    ctx.body["status"] = {"monitoringScheduleName": name, "monitoringScheduleArn": f"{ACCOUNT}:monitoring-schedule/{name}",
                          "jobDefinition": {"name": old, "monitoringType": "DataQuality"}}
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_monitoring_schedule", schedule_description(name, old))
    sagemaker.add_client_error("describe_data_quality_job_definition", "ResourceNotFound", "Could not find it.")
    sagemaker.add_response("create_data_quality_job_definition", {"JobDefinitionArn": f"{ACCOUNT}:d/{new}"})
    sagemaker.add_response("describe_monitoring_schedule", schedule_description(name, old))
    sagemaker.add_response("update_monitoring_schedule", {"MonitoringScheduleArn": f"{ACCOUNT}:monitoring-schedule/{name}"},
                           expected_params={"MonitoringScheduleName": name, "MonitoringScheduleConfig": {
                               "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"},
                               "MonitoringJobDefinitionName": new, "MonitoringType": "DataQuality"}})
    plan = asyncio.run(run_pass(controller(stubbed), ctx))
    assert plan.action == "update_monitoring_schedule"
    assert plan.status["pendingJobDefinition"]["name"] == new and plan.status["jobDefinition"]["name"] == old
    ctx.body["status"].update(plan.status)
    sagemaker.add_response("describe_monitoring_schedule", schedule_description(name, new))
    sagemaker.add_response("delete_data_quality_job_definition", {}, expected_params={"JobDefinitionName": old})
    done = asyncio.run(run_pass(controller(stubbed), ctx))
    assert done.action == "delete_data_quality_job_definition" and not done.again
    assert done.status["jobDefinition"] == {"name": new, "monitoringType": "DataQuality"}


def test_violations_are_a_condition_and_a_warning_and_ready_stays(stubbed):
    serve(stubbed, {("Endpoint", "churn"): endpoint_object()})
    ctx = context(stubbed, "MonitoringSchedule", "monitoringschedules", spec())
    name, definition = ctx.sagemaker_name, definition_name(ctx)
    ctx.body["status"] = {"monitoringScheduleName": name, "monitoringScheduleArn": f"{ACCOUNT}:monitoring-schedule/{name}",
                          "jobDefinition": {"name": definition, "monitoringType": "DataQuality"}}
    last = {"MonitoringScheduleName": name, "ScheduledTime": LATER, "CreationTime": LATER, "LastModifiedTime": LATER,
            "MonitoringExecutionStatus": "CompletedWithViolations", "ProcessingJobArn": f"{ACCOUNT}:processing-job/x",
            "FailureReason": "CompletedWithViolations: Job completed successfully with 3 violations."}
    stubbed.aws.stubbers["sagemaker"].add_response("describe_monitoring_schedule",
                                                   schedule_description(name, definition, last=last))
    plan = asyncio.run(run_pass(controller(stubbed), ctx))
    assert plan.health.state == "Ready" and [s.type for s in plan.signals] == ["ViolationsFound"]
    assert [e.reason for e in plan.events] == ["ViolationsFound"]
    assert plan.status["lastMonitoringExecutionSummary"]["monitoringExecutionStatus"] == "CompletedWithViolations"


def test_an_endpoint_without_data_capture_waits_and_sends_nothing(stubbed):
    serve(stubbed, {("Endpoint", "churn"): endpoint_object(capture=False)})
    ctx = context(stubbed, "MonitoringSchedule", "monitoringschedules", spec())
    plan = asyncio.run(run_pass(controller(stubbed), ctx))
    assert plan.health.reason == "DataCaptureNotEnabled" and plan.action is None and plan.look_again == "poll"
    assert [e.type for e in plan.events] == ["Warning"] and stubbed.status_patches == []


def test_another_namespaces_endpoint_by_sagemaker_name_is_refused_and_nothing_is_sent(stubbed):
    ctx = context(stubbed, "MonitoringSchedule", "monitoringschedules",
                  {**spec(dataQuality=data_quality(endpointName="their-ep")), "endpointRef": None})
    del ctx.body["spec"]["endpointRef"]
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_endpoint", {
        "EndpointName": "their-ep", "EndpointArn": f"{ACCOUNT}:endpoint/their-ep", "EndpointConfigName": "c",
        "EndpointStatus": "InService", "CreationTime": NOW, "LastModifiedTime": NOW,
        "DataCaptureConfig": {"EnableCapture": True, "CaptureStatus": "Started", "CurrentSamplingPercentage": 100,
                              "DestinationS3Uri": "s3://theirs", "KmsKeyId": ""}}, expected_params={"EndpointName": "their-ep"})
    sagemaker.add_response("list_tags", {"Tags": [{"Key": "kubemaker.io/namespace", "Value": "other-team"}]})
    with pytest.raises(Exception) as refused:
        asyncio.run(run_pass(controller(stubbed), ctx))
    assert refused.value.reason == "ReferenceNotAllowed"
    assert "their-ep" in refused.value.message and "allowedSageMakerReferences" in refused.value.message
    assert stubbed.status_patches == []


def test_a_role_the_namespace_may_not_pass_is_refused_before_any_call(stubbed):
    serve(stubbed, {("Endpoint", "churn"): endpoint_object()})
    definition = {**data_quality(), "roleArn": "arn:aws:iam::999999999999:role/Admin"}
    ctx = context(stubbed, "MonitoringSchedule", "monitoringschedules", spec(dataQuality=definition))
    with pytest.raises(Exception) as refused:
        asyncio.run(run_pass(controller(stubbed), ctx))
    assert refused.value.reason == "RoleNotAllowed" and "spec.dataQuality.roleArn" in refused.value.message


def test_delete_deletes_the_schedule_then_its_definitions(stubbed):
    ctx = context(stubbed, "MonitoringSchedule", "monitoringschedules", spec())
    name = ctx.sagemaker_name
    definition, stray = f"{name[:54]}-11111111", f"{name[:54]}-22222222"
    ctx.body["status"] = {"monitoringScheduleName": name, "monitoringScheduleArn": f"{ACCOUNT}:monitoring-schedule/{name}",
                          "jobDefinition": {"name": definition, "monitoringType": "DataQuality"}}
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_monitoring_schedule", schedule_description(name, definition))
    sagemaker.add_response("delete_monitoring_schedule", {}, expected_params={"MonitoringScheduleName": name})
    first = asyncio.run(clean_up(controller(stubbed), ctx))
    assert "to be deleted" in first.waiting
    sagemaker.add_client_error("describe_monitoring_schedule", "ResourceNotFound", "Monitoring schedule does not exist.")
    stem = name[:54]
    for kind in ("data_quality", "model_quality", "model_bias", "model_explainability"):
        found = [] if kind != "model_bias" else [
            {"MonitoringJobDefinitionName": stray, "MonitoringJobDefinitionArn": f"{ACCOUNT}:b/{stray}",
             "CreationTime": NOW, "EndpointName": "churn-ep"}]
        sagemaker.add_response(f"list_{kind}_job_definitions", {"JobDefinitionSummaries": found},
                               expected_params={"NameContains": f"{stem}-"})
        if found:
            sagemaker.add_response("list_tags", OWNED)
    sagemaker.add_response("delete_data_quality_job_definition", {}, expected_params={"JobDefinitionName": definition})
    sagemaker.add_response("delete_model_bias_job_definition", {}, expected_params={"JobDefinitionName": stray})
    second = asyncio.run(clean_up(controller(stubbed), ctx))
    assert second.waiting is None and len(second.calls) == 2


def test_the_tracker_lists_schedules_and_executions_once_per_poll_and_wakes_only_what_changed(stubbed):
    tracker = MonitoringTracker(stubbed)
    quiet = context(stubbed, "MonitoringSchedule", "monitoringschedules", spec())
    busy = context(stubbed, "MonitoringSchedule", "monitoringschedules", spec())
    busy.body["metadata"]["name"] = "busy"
    tracker.follow(quiet, schedule_description("quiet", "d"), True)
    last = {"MonitoringScheduleName": "busy", "ScheduledTime": NOW, "CreationTime": NOW, "LastModifiedTime": NOW,
            "MonitoringExecutionStatus": "Completed"}
    tracker.follow(busy, schedule_description("busy", "d", last=last), True)
    (group,) = tracker.groups.values()
    woken: list = []
    stubbed.work_queue.add = woken.append
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    headers = {"ResponseMetadata": {"HTTPHeaders": {"date": "Sun, 01 Nov 2026 02:00:00 GMT"}}}
    # The first poll lists every schedule tracked and sets the executions' watermark.
    listed = [{key: schedule_description(name, "d")[key] for key in (
        "MonitoringScheduleName", "MonitoringScheduleArn", "CreationTime", "LastModifiedTime",
        "MonitoringScheduleStatus")} for name in ("quiet", "busy")]
    sagemaker.add_response("list_monitoring_schedules", {"MonitoringScheduleSummaries": listed, **headers},
                           expected_params={"CreationTimeAfter": NOW - datetime.timedelta(seconds=1), "MaxResults": 100})
    asyncio.run(tracker.poll(group))
    assert woken == []
    sagemaker.add_response("list_monitoring_schedules", {"MonitoringScheduleSummaries": []})
    watermark = datetime.datetime(2026, 11, 1, 1, 59, 50, tzinfo=datetime.UTC)
    sagemaker.add_response("list_monitoring_executions", {"MonitoringExecutionSummaries": [
        {**last, "LastModifiedTime": LATER + datetime.timedelta(hours=1), "ScheduledTime": LATER},
        {**last, "MonitoringScheduleName": "unknown", "LastModifiedTime": LATER + datetime.timedelta(hours=1)},
    ]}, expected_params={"LastModifiedTimeAfter": watermark, "MaxResults": 100})
    asyncio.run(tracker.poll(group))
    assert woken == [("MonitoringSchedule", "team", "busy")]


def test_adoption_tags_the_schedule_and_the_definition_it_runs(stubbed):
    stubbed.config = stubbed.config.model_copy(update={"default_namespace_policy": stubbed.config.policy_for(
        "team").model_copy(update={"allow_adoption": True})})
    serve(stubbed, {("Endpoint", "churn"): endpoint_object()})
    ctx = context(stubbed, "MonitoringSchedule", "monitoringschedules",
                  spec(monitoringScheduleName="legacy", adoptExisting=True))
    legacy = "legacy-definition"
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    schedule_arn, definition_arn = f"{ACCOUNT}:monitoring-schedule/legacy", f"{ACCOUNT}:data-quality-job-definition/{legacy}"
    sagemaker.add_response("describe_monitoring_schedule", schedule_description("legacy", legacy))
    sagemaker.add_response("list_tags", {"Tags": []}, expected_params={"ResourceArn": schedule_arn})
    sagemaker.add_response("describe_data_quality_job_definition", {
        "JobDefinitionArn": definition_arn, "JobDefinitionName": legacy, "CreationTime": NOW,
        "DataQualityAppSpecification": {"ImageUri": IMAGE},
        "DataQualityJobInput": {"EndpointInput": {"EndpointName": "churn-ep", "LocalPath": "/opt/ml/processing/input"}},
        "DataQualityJobOutputConfig": {"MonitoringOutputs": [
            {"S3Output": {"S3Uri": "s3://bucket/reports", "LocalPath": "/opt/ml/processing/output"}}]},
        "JobResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 20}},
        "RoleArn": ROLE}, expected_params={"JobDefinitionName": legacy})
    sagemaker.add_response("list_tags", {"Tags": []}, expected_params={"ResourceArn": definition_arn})
    sagemaker.add_response("list_tags", {"Tags": []}, expected_params={"ResourceArn": schedule_arn})
    owner_tags = [{"Key": k, "Value": v} for k, v in ctx.owner.tag_map().items()]
    sagemaker.add_response("add_tags", {"Tags": owner_tags}, expected_params={"ResourceArn": schedule_arn,
                                                                             "Tags": owner_tags})
    sagemaker.add_response("add_tags", {"Tags": owner_tags}, expected_params={"ResourceArn": definition_arn,
                                                                             "Tags": owner_tags})
    new = definition_name(ctx)
    sagemaker.add_client_error("describe_data_quality_job_definition", "ResourceNotFound", "Could not find it.",
                               expected_params={"JobDefinitionName": new})
    sagemaker.add_response("create_data_quality_job_definition", {"JobDefinitionArn": f"{ACCOUNT}:d/{new}"})
    sagemaker.add_response("describe_monitoring_schedule", schedule_description("legacy", legacy))
    sagemaker.add_response("update_monitoring_schedule", {"MonitoringScheduleArn": schedule_arn})
    plan = asyncio.run(run_pass(controller(stubbed), ctx))
    assert plan.action == "update_monitoring_schedule"
    assert stubbed.status_patches[0]["jobDefinition"] == {"name": legacy, "monitoringType": "DataQuality"}
    assert [e[1] for e in stubbed.events] == ["Adopted"]
