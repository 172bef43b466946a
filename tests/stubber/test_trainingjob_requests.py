"""TrainingJob's SageMaker calls, checked against the service model by botocore's Stubber."""

from __future__ import annotations

import asyncio
import datetime

import pytest

from kubemaker import FINALIZER
from kubemaker.handlers.trainingjob import TrainingJobController
from kubemaker.names import derived_name
from kubemaker.runtime.outcomes import Stall
from kubemaker.runtime.reconciler import run_pass
from kubemaker.runtime.tracker import Tracker
from tests.stubber.conftest import clean_up, finalize, make_context

NOW = datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc)
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
SPEC = {
    "algorithmSpecification": {"trainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgb:1",
                               "trainingInputMode": "File"},
    "roleArn": ROLE,
    "outputDataConfig": {"s3OutputPath": "s3://bucket/out"},
    "resourceConfig": {"instanceType": "ml.m5.xlarge", "instanceCount": 1, "volumeSizeInGB": 10},
    "stoppingCondition": {"maxRuntimeInSeconds": 3600, "maxWaitTimeInSeconds": 3600},
    "enableManagedSpotTraining": True,
    "hyperParameters": {"Eta": "0.1"},
    "deletionPolicy": "Delete",
}


def description(name: str, state: str = "InProgress", secondary: str = "Starting") -> dict:
    return {
        "TrainingJobName": name,
        "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
        "AlgorithmSpecification": {"TrainingImage": SPEC["algorithmSpecification"]["trainingImage"],
                                   "TrainingInputMode": "File"},
        "ModelArtifacts": {"S3ModelArtifacts": f"s3://bucket/out/{name}/output/model.tar.gz"},
        "TrainingJobStatus": state,
        "SecondaryStatus": secondary,
        "RoleArn": ROLE,
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "CreationTime": NOW,
        "LastModifiedTime": NOW,
    }


LIST_SHAPE = TrainingJobController.api.list_shape


def controller(runtime) -> TrainingJobController:
    return TrainingJobController(Tracker(runtime, "TrainingJob", LIST_SHAPE))


def test_create_sends_the_request_with_ownership_tags(stubbed):
    ctx = make_context(stubbed, "TrainingJob", "trainingjobs", dict(SPEC))
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    name = derived_name("team", "job", "0000-1111")
    # No describe first: a derived name no status has recorded cannot exist yet.
    sagemaker.add_response(
        "create_training_job", {"TrainingJobArn": description(name)["TrainingJobArn"]},
        expected_params={
            "TrainingJobName": name,
            "AlgorithmSpecification": {"TrainingImage": SPEC["algorithmSpecification"]["trainingImage"],
                                       "TrainingInputMode": "File"},
            "RoleArn": ROLE,
            "OutputDataConfig": {"S3OutputPath": "s3://bucket/out"},
            "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 3600},
            "EnableManagedSpotTraining": True,
            "HyperParameters": {"Eta": "0.1"},
            "Tags": [
                {"Key": "kubemaker.io/kind", "Value": "TrainingJob"},
                {"Key": "kubemaker.io/namespace", "Value": "team"},
                {"Key": "kubemaker.io/name", "Value": "job"},
                {"Key": "kubemaker.io/uid", "Value": "0000-1111"},
            ],
        },
    )
    # The same pass describes what it made (no ownership check: this pass made it).
    sagemaker.add_response("describe_training_job", description(name), expected_params={"TrainingJobName": name})

    jobs = controller(stubbed)
    plan = asyncio.run(run_pass(jobs, ctx))

    assert stubbed.object_patches[0][-1] == {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}, \
        "finalizer added before anything exists in SageMaker"
    assert stubbed.status_patches == [], "no status write before the create: the job's name makes it once"
    assert plan.status["trainingJobName"] == name and plan.status["trainingJobArn"].endswith(name) and plan.track
    assert plan.follow["TrainingJobName"] == name
    assert ("Normal", "Created", f"created SageMaker training job {name}") in [
        (e.type, e.reason, e.message) for e in plan.events]
    jobs.tracker.follow(ctx, plan.follow, plan.track)  # as the core does once status is written
    assert name in next(iter(jobs.tracker.groups.values())).objects


def test_a_create_answered_resource_in_use_checks_the_job_is_ours(stubbed):
    """A repeated create (an earlier pass's answer was lost) finds the name taken: the job is
    described and its tags read; ours, it is followed like one this pass made, with no second create."""
    name = "given-name"
    ctx = make_context(stubbed, "TrainingJob", "trainingjobs", {**SPEC, "trainingJobName": name})
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    arn = description(name)["TrainingJobArn"]
    sagemaker.add_client_error("describe_training_job", "ValidationException", "Requested resource not found.",
                               expected_params={"TrainingJobName": name})
    sagemaker.add_client_error("create_training_job", "ResourceInUse", f"Training job {name} already exists")
    sagemaker.add_response("describe_training_job", description(name), expected_params={"TrainingJobName": name})
    sagemaker.add_response("list_tags", {"Tags": [{"Key": "kubemaker.io/uid", "Value": "0000-1111"}]},
                           expected_params={"ResourceArn": arn})
    sagemaker.add_response("describe_training_job", description(name), expected_params={"TrainingJobName": name})

    plan = asyncio.run(run_pass(controller(stubbed), ctx))

    assert plan.status["trainingJobArn"] == arn and plan.status["createPending"] is None


def test_a_job_created_by_a_pass_that_crashed_before_its_status_write_is_found_not_made_again(stubbed):
    """Status never recorded the derived name: the create is sent, SageMaker answers that the name
    is in use, and the tags show the job is this object's."""
    ctx = make_context(stubbed, "TrainingJob", "trainingjobs", SPEC)
    name = derived_name("team", "job", "0000-1111")
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_client_error("create_training_job", "ResourceInUse", f"Training job {name} already exists")
    sagemaker.add_response("describe_training_job", description(name, secondary="Training"),
                           expected_params={"TrainingJobName": name})
    sagemaker.add_response("list_tags", {"Tags": [{"Key": "kubemaker.io/uid", "Value": "0000-1111"}]})
    sagemaker.add_response("describe_training_job", description(name, secondary="Training"))
    stubbed.aws.stubbers["logs"].add_response(
        "describe_log_streams", {"logStreams": [{"logStreamName": f"{name}/algo-1-1700000000"}]})

    plan = asyncio.run(run_pass(controller(stubbed), ctx))

    assert plan.status["trainingJobName"] == name and plan.status["secondaryStatus"] == "Training"


def test_deleting_an_object_whose_status_never_recorded_its_job_stops_the_job(stubbed):
    ctx = make_context(stubbed, "TrainingJob", "trainingjobs", SPEC)
    name = derived_name("team", "job", "0000-1111")
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_training_job", description(name), expected_params={"TrainingJobName": name})
    sagemaker.add_response("list_tags", {"Tags": [{"Key": "kubemaker.io/uid", "Value": "0000-1111"}]})
    sagemaker.add_response("stop_training_job", {}, expected_params={"TrainingJobName": name})

    cleanup = asyncio.run(clean_up(controller(stubbed), ctx))

    assert cleanup.waiting and [call.action for call in cleanup.calls] == ["stop_training_job"]


def test_a_create_answered_resource_in_use_by_someone_elses_job_stalls(stubbed):
    name = "given-name"
    ctx = make_context(stubbed, "TrainingJob", "trainingjobs", {**SPEC, "trainingJobName": name})
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_client_error("describe_training_job", "ValidationException", "Requested resource not found.")
    sagemaker.add_client_error("create_training_job", "ResourceInUse", f"Training job {name} already exists")
    sagemaker.add_response("describe_training_job", description(name))
    sagemaker.add_response("list_tags", {"Tags": [{"Key": "kubemaker.io/uid", "Value": "other"}]})
    with pytest.raises(Stall, match="belongs to") as refused:
        asyncio.run(run_pass(controller(stubbed), ctx))
    assert refused.value.status == {"createPending": None}


def test_a_job_found_after_a_crash_is_recorded_not_recreated(stubbed):
    name = "given-name"
    ctx = make_context(stubbed, "TrainingJob", "trainingjobs", {**SPEC, "trainingJobName": name},
                       {"createPending": {"name": name, "startedAt": "2026-11-01T00:00:00Z"}})
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_training_job", description(name, secondary="Training"))
    sagemaker.add_response("list_tags", {"Tags": [{"Key": "kubemaker.io/uid", "Value": "0000-1111"}]},
                           expected_params={"ResourceArn": description(name)["TrainingJobArn"]})
    stubbed.aws.stubbers["logs"].add_response(
        "describe_log_streams", {"logStreams": [{"logStreamName": f"{name}/algo-1-1"}]},
        expected_params={"logGroupName": "/aws/sagemaker/TrainingJobs", "logStreamNamePrefix": f"{name}/"})

    plan = asyncio.run(controller(stubbed).reconcile(ctx))

    assert plan.status["createPending"] is None
    assert plan.status["logStreams"] == [f"{name}/algo-1-1"]


def test_someone_elses_job_is_never_taken(stubbed):
    name = "taken"
    ctx = make_context(stubbed, "TrainingJob", "trainingjobs", {**SPEC, "trainingJobName": name})
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_training_job", description(name))
    sagemaker.add_response("list_tags", {"Tags": [{"Key": "kubemaker.io/uid", "Value": "other"},
                                                  {"Key": "kubemaker.io/namespace", "Value": "b"}]})
    with pytest.raises(Stall, match="belongs to"):
        asyncio.run(controller(stubbed).reconcile(ctx))


def test_a_refused_role_calls_nothing(stubbed):
    ctx = make_context(stubbed, "TrainingJob", "trainingjobs",
                       {**SPEC, "roleArn": "arn:aws:iam::123456789012:role/Admin"})
    with pytest.raises(Stall, match="may not use execution role"):
        asyncio.run(run_pass(controller(stubbed), ctx))
    assert stubbed.status_patches == []


GROUP_ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package-group/team-a-models"


@pytest.mark.parametrize("group_namespace, allowed", [("team", True), ("team-a", False)])
def test_registering_into_a_model_package_group_needs_the_group_to_be_the_namespaces(stubbed, group_namespace, allowed):
    spec = {**SPEC, "modelPackageConfig": {"modelPackageGroupArn": GROUP_ARN}}
    ctx = make_context(stubbed, "TrainingJob", "trainingjobs", spec)
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_model_package_group", {
        "ModelPackageGroupName": "team-a-models", "ModelPackageGroupArn": GROUP_ARN, "CreationTime": NOW,
        "CreatedBy": {}, "ModelPackageGroupStatus": "Completed"}, {"ModelPackageGroupName": GROUP_ARN})
    sagemaker.add_response("list_tags", {"Tags": [{"Key": "kubemaker.io/namespace", "Value": group_namespace},
                                                  {"Key": "kubemaker.io/uid", "Value": "x"}]}, {"ResourceArn": GROUP_ARN})
    if allowed:
        name = derived_name("team", "job", "0000-1111")
        sagemaker.add_response("create_training_job", {"TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}"})
        sagemaker.add_response("describe_training_job", description(name))
        asyncio.run(run_pass(controller(stubbed), ctx))
        return
    with pytest.raises(Stall, match="model package group") as refused:
        asyncio.run(run_pass(controller(stubbed), ctx))
    assert refused.value.reason == "ReferenceNotAllowed"
    assert stubbed.status_patches == [], "no create pending: nothing was sent"


def test_delete_stops_a_running_job(stubbed):
    name = "running"
    ctx = make_context(stubbed, "TrainingJob", "trainingjobs", {**SPEC, "trainingJobName": name},
                       {"trainingJobName": name, "trainingJobArn": description(name)["TrainingJobArn"]})
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_training_job", description(name))
    sagemaker.add_response("list_tags", {"Tags": [{"Key": "kubemaker.io/uid", "Value": "0000-1111"}]})
    sagemaker.add_response("stop_training_job", {}, expected_params={"TrainingJobName": name})
    cleanup = asyncio.run(clean_up(controller(stubbed), ctx))
    assert "to stop" in cleanup.waiting
    assert [e.reason for e in cleanup.events] == ["Stopping"]


def test_delete_with_retain_calls_nothing(stubbed):
    ctx = make_context(stubbed, "TrainingJob", "trainingjobs", {**SPEC, "deletionPolicy": "Retain"},
                       {"trainingJobName": "x", "trainingJobArn": "arn"})
    # The core's deletion path: no SageMaker call (the stubber refuses any), the finalizer goes.
    assert asyncio.run(finalize(stubbed, controller(stubbed), ctx)) is None
    assert stubbed.object_patches == [[{"op": "test", "path": "/metadata/finalizers/0", "value": FINALIZER},
                                       {"op": "remove", "path": "/metadata/finalizers/0"}]]


def test_profiler_change_on_a_running_job_calls_update(stubbed):
    name = "profiled"
    spec = {**SPEC, "trainingJobName": name, "profilerConfig": {"s3OutputPath": "s3://bucket/profiler"}}
    ctx = make_context(stubbed, "TrainingJob", "trainingjobs", spec,
                       {"trainingJobName": name, "trainingJobArn": description(name)["TrainingJobArn"],
                        "appliedUpdates": {}})
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_training_job", description(name))
    sagemaker.add_response("update_training_job", {"TrainingJobArn": description(name)["TrainingJobArn"]},
                           expected_params={"TrainingJobName": name,
                                            "ProfilerConfig": {"S3OutputPath": "s3://bucket/profiler"}})
    plan = asyncio.run(run_pass(controller(stubbed), ctx))
    assert plan.action == "update_training_job" and plan.status["appliedUpdates"]["profilerConfig"]


def test_tracker_watermark_follows_sagemakers_clock_so_a_quiet_poll_lists_nothing_again(stubbed):
    tracker = Tracker(stubbed, "TrainingJob", LIST_SHAPE)
    started = datetime.datetime(2026, 11, 1, 12, 0, tzinfo=datetime.timezone.utc)
    ctx = make_context(stubbed, "TrainingJob", "trainingjobs", {**SPEC, "trainingJobName": "burst-1"})
    tracker.follow(ctx, {**description("burst-1"), "CreationTime": started, "LastModifiedTime": started}, True)
    group = next(iter(tracker.groups.values()))
    group.watermark = started - datetime.timedelta(minutes=1)
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    summary = {"TrainingJobName": "burst-1", "TrainingJobArn": description("burst-1")["TrainingJobArn"],
               "CreationTime": started, "LastModifiedTime": started, "TrainingJobStatus": "InProgress"}
    sagemaker.add_response(
        "list_training_jobs",
        {"TrainingJobSummaries": [summary],
         "ResponseMetadata": {"HTTPHeaders": {"date": "Sun, 01 Nov 2026 12:05:00 GMT"}}},
        expected_params={"LastModifiedTimeAfter": group.watermark, "MaxResults": 100})
    asyncio.run(tracker.poll(group))

    # Not the newest change less the overlap (11:59:50), which would list burst-1 at every poll.
    assert group.watermark == datetime.datetime(2026, 11, 1, 12, 4, 50, tzinfo=datetime.timezone.utc)


def test_tracker_first_watermark_is_sagemakers_time_not_ours(stubbed):
    """Before its first listing a group has no watermark: it lists every tracked object by creation
    time, and takes the watermark from that answer's Date header. Our clock, five minutes ahead of
    SageMaker's here, is never read."""
    tracker = Tracker(stubbed, "TrainingJob", LIST_SHAPE)
    created = datetime.datetime(2026, 11, 1, 11, 58, tzinfo=datetime.timezone.utc)
    ctx = make_context(stubbed, "TrainingJob", "trainingjobs", {**SPEC, "trainingJobName": "first"})
    tracker.follow(ctx, {**description("first"), "CreationTime": created, "LastModifiedTime": created}, True)
    group = next(iter(tracker.groups.values()))
    assert group.watermark is None
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    changed = {"TrainingJobName": "first", "TrainingJobArn": description("first")["TrainingJobArn"],
               "CreationTime": created, "LastModifiedTime": created + datetime.timedelta(minutes=1),
               "TrainingJobStatus": "InProgress"}
    sagemaker.add_response(
        "list_training_jobs",
        {"TrainingJobSummaries": [changed], "ResponseMetadata": {"HTTPHeaders": {"date": "Sun, 01 Nov 2026 12:00:00 GMT"}}},
        expected_params={"CreationTimeAfter": created - datetime.timedelta(seconds=1), "MaxResults": 100})
    asyncio.run(tracker.poll(group))

    assert group.watermark == datetime.datetime(2026, 11, 1, 11, 59, 50, tzinfo=datetime.timezone.utc)
    assert len(stubbed.work_queue) == 1  # the change since creation woke the object
