"""The ProcessingJob controller's SageMaker calls, checked against the service model by botocore's
Stubber (requests and canned answers alike): create, follow, the batched tracker, stop on delete,
the role allow-list."""

from __future__ import annotations

import asyncio
import datetime

import pytest

from kubemaker import FINALIZER
from kubemaker.handlers.processing import ProcessingJobController
from kubemaker.names import derived_name
from kubemaker.runtime.outcomes import Stall
from kubemaker.runtime.reconciler import run_pass
from kubemaker.runtime.tracker import Tracker
from tests.stubber.conftest import clean_up, finalize, make_context

LIST_SHAPE = ProcessingJobController.api.list_shape
NOW = datetime.datetime(2026, 11, 1, 12, 0, tzinfo=datetime.timezone.utc)
UID = "0000-1111"
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sklearn-processing:1.2"

SPEC = {
    "processingInputs": [{"inputName": "raw", "s3Input": {
        "s3Uri": "s3://bucket/raw/", "localPath": "/opt/ml/processing/input", "s3DataType": "S3Prefix",
        "s3InputMode": "File", "s3DataDistributionType": "ShardedByS3Key"}}],
    "processingOutputConfig": {"outputs": [{"outputName": "train", "s3Output": {
        "s3Uri": "s3://bucket/prepared/train/", "localPath": "/opt/ml/processing/train", "s3UploadMode": "EndOfJob"}}]},
    "processingResources": {"clusterConfig": {"instanceCount": 2, "instanceType": "ml.m5.xlarge", "volumeSizeInGB": 30}},
    "stoppingCondition": {"maxRuntimeInSeconds": 3600},
    "appSpecification": {"imageUri": IMAGE, "containerEntrypoint": ["python3", "/opt/ml/code/prepare.py"],
                         "containerArguments": ["--split", "0.8"]},
    "environment": {"STAGE": "prepare"},
    "networkConfig": {"enableNetworkIsolation": True, "vpcConfig": {
        "securityGroupIds": ["sg-0123456789abcdef0"], "subnets": ["subnet-0123456789abcdef0"]}},
    "roleArn": ROLE,
    "tags": [{"key": "team", "value": "data"}],
}
CREATE_REQUEST = {
    "ProcessingInputs": [{"InputName": "raw", "S3Input": {
        "S3Uri": "s3://bucket/raw/", "LocalPath": "/opt/ml/processing/input", "S3DataType": "S3Prefix",
        "S3InputMode": "File", "S3DataDistributionType": "ShardedByS3Key"}}],
    "ProcessingOutputConfig": {"Outputs": [{"OutputName": "train", "S3Output": {
        "S3Uri": "s3://bucket/prepared/train/", "LocalPath": "/opt/ml/processing/train", "S3UploadMode": "EndOfJob"}}]},
    "ProcessingResources": {"ClusterConfig": {"InstanceCount": 2, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30}},
    "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    "AppSpecification": {"ImageUri": IMAGE, "ContainerEntrypoint": ["python3", "/opt/ml/code/prepare.py"],
                         "ContainerArguments": ["--split", "0.8"]},
    "Environment": {"STAGE": "prepare"},
    "NetworkConfig": {"EnableNetworkIsolation": True, "VpcConfig": {
        "SecurityGroupIds": ["sg-0123456789abcdef0"], "Subnets": ["subnet-0123456789abcdef0"]}},
    "RoleArn": ROLE,
}
OWNERSHIP_TAGS = [
    {"Key": "team", "Value": "data"},
    {"Key": "kubemaker.io/kind", "Value": "ProcessingJob"},
    {"Key": "kubemaker.io/namespace", "Value": "team"},
    {"Key": "kubemaker.io/name", "Value": "job"},
    {"Key": "kubemaker.io/uid", "Value": UID},
]


def description(name: str, state: str = "InProgress", **extra) -> dict:
    return {
        **{key: value for key, value in CREATE_REQUEST.items()},
        "ProcessingJobName": name,
        "ProcessingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:processing-job/{name}",
        "ProcessingJobStatus": state,
        "CreationTime": NOW,
        "LastModifiedTime": NOW,
        "ProcessingStartTime": NOW,
        **extra,
    }


def controller(runtime) -> ProcessingJobController:
    return ProcessingJobController(Tracker(runtime, "ProcessingJob", LIST_SHAPE))


def context(runtime, spec: dict = SPEC, status: dict | None = None):
    return make_context(runtime, "ProcessingJob", "processingjobs", spec, status)


def test_create_sends_the_spec_with_ownership_tags_and_follows_the_job(stubbed):
    ctx = context(stubbed)
    name = derived_name("team", "job", UID)
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("create_processing_job", {"ProcessingJobArn": description(name)["ProcessingJobArn"]},
                           expected_params={**CREATE_REQUEST, "ProcessingJobName": name, "Tags": OWNERSHIP_TAGS})
    sagemaker.add_response("describe_processing_job", description(name), expected_params={"ProcessingJobName": name})

    plan = asyncio.run(run_pass(controller(stubbed), ctx))
    assert stubbed.status_patches == [], "no status write before the create: the job's name makes it once"
    assert plan.status["processingJobName"] == name
    assert plan.track and plan.follow["ProcessingJobName"] == name
    assert plan.status["processingJobArn"].endswith(name) and plan.status["processingJobStatus"] == "InProgress"
    assert plan.status["processingOutputs"] == [{"outputName": "train", "s3Uri": "s3://bucket/prepared/train/"}]
    assert "ProcessingInProgress" in [event.reason for event in plan.events]


def test_a_completed_job_is_ready_and_no_longer_tracked(stubbed):
    name = "prepared"
    ctx = context(stubbed, {**SPEC, "processingJobName": name},
                  {"processingJobName": name, "processingJobArn": description(name)["ProcessingJobArn"],
                   "processingJobStatus": "InProgress"})
    stubbed.aws.stubbers["sagemaker"].add_response(
        "describe_processing_job", description(name, "Completed", ProcessingEndTime=NOW), {"ProcessingJobName": name})
    plan = asyncio.run(run_pass(controller(stubbed), ctx))
    assert plan.health.reason == "Completed" and not plan.track


def test_a_job_of_that_name_owned_by_someone_else_is_refused(stubbed):
    name = "taken"
    ctx = context(stubbed, {**SPEC, "processingJobName": name})
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_processing_job", description(name), {"ProcessingJobName": name})
    sagemaker.add_response("list_tags", {"Tags": [{"Key": "kubemaker.io/uid", "Value": "someone-else"}]},
                           {"ResourceArn": description(name)["ProcessingJobArn"]})
    with pytest.raises(Stall) as refused:
        asyncio.run(controller(stubbed).reconcile(ctx))
    assert refused.value.reason == "NameInUse"


def test_a_role_outside_the_allow_list_is_stalled_and_nothing_is_sent(stubbed):
    ctx = context(stubbed, {**SPEC, "roleArn": "arn:aws:iam::123456789012:role/Admin"})
    with pytest.raises(Stall, match="may not use execution role") as refused:
        asyncio.run(controller(stubbed).reconcile(ctx))
    assert refused.value.reason == "RoleNotAllowed" and "spec.roleArn" in refused.value.message
    stubbed.aws.stubbers["sagemaker"].assert_no_pending_responses()


def test_delete_stops_the_running_job_and_waits_for_it(stubbed):
    name = "running"
    ctx = context(stubbed, SPEC, {"processingJobName": name, "processingJobArn": description(name)["ProcessingJobArn"]})
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_processing_job", description(name), {"ProcessingJobName": name})
    sagemaker.add_response("list_tags", {"Tags": [{"Key": "kubemaker.io/uid", "Value": UID}]})
    sagemaker.add_response("stop_processing_job", {}, expected_params={"ProcessingJobName": name})
    cleanup = asyncio.run(clean_up(controller(stubbed), ctx))
    assert "to stop" in cleanup.waiting and [e.reason for e in cleanup.events] == ["Stopping"]


@pytest.mark.parametrize("state", ["Completed", "Failed", "Stopped"])
def test_delete_of_an_ended_job_calls_no_stop(stubbed, state):
    name = "ended"
    ctx = context(stubbed, SPEC, {"processingJobName": name, "processingJobArn": description(name)["ProcessingJobArn"]})
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_processing_job", description(name, state), {"ProcessingJobName": name})
    sagemaker.add_response("list_tags", {"Tags": [{"Key": "kubemaker.io/uid", "Value": UID}]})
    cleanup = asyncio.run(clean_up(controller(stubbed), ctx))
    assert cleanup.calls == [] and not cleanup.waiting


def test_delete_with_retain_calls_nothing(stubbed):
    ctx = context(stubbed, {**SPEC, "deletionPolicy": "Retain"}, {"processingJobName": "x", "processingJobArn": "arn"})
    assert asyncio.run(finalize(stubbed, controller(stubbed), ctx)) is None
    assert stubbed.object_patches == [[{"op": "test", "path": "/metadata/finalizers/0", "value": FINALIZER},
                                       {"op": "remove", "path": "/metadata/finalizers/0"}]]


def test_tracker_lists_processing_jobs_modified_since_its_watermark_and_wakes_only_the_changed(stubbed):
    tracker = Tracker(stubbed, "ProcessingJob", LIST_SHAPE)
    for job in ("quiet", "changed"):
        ctx = make_context(stubbed, "ProcessingJob", "processingjobs", {**SPEC, "processingJobName": job})
        ctx.body["metadata"]["name"] = job
        tracker.follow(ctx, description(job), True)
    group = next(iter(tracker.groups.values()))
    group.watermark = NOW - datetime.timedelta(seconds=10)
    summary = {"ProcessingJobName": "changed", "ProcessingJobArn": description("changed")["ProcessingJobArn"],
               "CreationTime": NOW, "LastModifiedTime": NOW + datetime.timedelta(seconds=5),
               "ProcessingJobStatus": "Completed"}
    stubbed.aws.stubbers["sagemaker"].add_response(
        "list_processing_jobs",
        {"ProcessingJobSummaries": [summary], "ResponseMetadata": {"HTTPHeaders": {"date": "Sun, 01 Nov 2026 12:01:00 GMT"}}},
        expected_params={"LastModifiedTimeAfter": group.watermark, "MaxResults": 100})
    asyncio.run(tracker.poll(group))
    assert stubbed.work_queue._queued == {("ProcessingJob", "team", "changed")}
